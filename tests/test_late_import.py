"""A module imported after recording began is patched on import: ``provenance.start()`` (or
``%load_ext provenance``, or a ``record()`` block), then ``import muon`` in a later cell, then
``mu.tl.leiden`` is recorded. Each case runs in a fresh interpreter, so that ``sys.modules``
holds only what the case imported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

TESTS = Path(__file__).parent
ROOT = TESTS.parent


def _run(code: str) -> dict:
    """Run ``code`` in a fresh interpreter; the JSON it printed last."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), str(TESTS)])}
    proc = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(proc.stdout.strip().splitlines()[-1])


def test_the_wait_for_a_package_ends_with_the_last_block():
    out = _run(
        """
        import json, sys
        import provenance
        from provenance._base import imports
        from provenance._record.patching import patches

        seen = {}
        with provenance.record():  # a block alone waits too, and stops waiting on exit
            seen["in_block"] = sorted(t.function for t in patches.waiting())
        # The accessor's wait for anndata (registered at import, for adata.provenance) is
        # not the recorder's: left out here.
        ours = lambda: sorted(h for h in imports._hooks if h != "anndata")
        seen["after_block"] = [len(patches.waiting()), ours()]
        provenance.start()
        seen["muon_imported"] = "muon" in sys.modules
        seen["waiting"] = sorted(t.function for t in patches.waiting())
        seen["hooked"] = ours()
        with provenance.record():  # a nested block: the wait goes on after it
            pass
        seen["after_inner"] = len(patches.waiting())
        provenance.stop()
        seen["after_stop"] = [len(patches.waiting()), ours()]
        seen["finder"] = (imports._FINDER in sys.meta_path) != ("anndata" in imports._hooks)
        print(json.dumps(seen))
        """
    )
    assert out["muon_imported"] is False
    assert out["in_block"] == out["waiting"]
    assert out["after_block"] == [0, []]
    assert {"muon.tl.leiden", "muon.tl.louvain", "muon.pp.neighbors"} <= set(out["waiting"])
    assert "muon" in out["hooked"]
    assert out["after_inner"] == len(out["waiting"])
    assert out["after_stop"] == [0, []]
    assert out["finder"] is False


needs_muon = pytest.mark.skipif(
    importlib.util.find_spec("muon") is None,
    reason="muon is not installed: it is in the muon-3.11/muon-3.12 and louvain sessions only",
)

_LATE_MUON = """
    import json, sys, warnings
    import provenance
    warnings.simplefilter("error", provenance.ProvenanceWarning)  # nothing unrecorded
    {open}
    assert "muon" not in sys.modules
    from _muon_data import build_mudata, import_muon, quiet_mudata

    mu = import_muon()  # the later cell
    mdata = build_mudata()
    with quiet_mudata():
        mu.pp.neighbors(mdata, key_added="wnn")
        mu.tl.leiden(mdata, key_added="mx", resolution=1.0, random_state=1)
    {close}
    import scanpy as sc
    with quiet_mudata():
        sc.tl.leiden(mdata, neighbors_key="wnn", key_added="after", flavor="igraph",
                     n_iterations=2)  # after the last block: not recorded, not patched
    rec = provenance.latest(mdata, "mx")
    wnn = provenance.latest_step(mdata, "wnn")
    print(json.dumps({{
        "keys": sorted(r.key for r in records),
        "mx": [rec.function, len(rec.layers)],
        "wnn": [wnn.function, wnn.kind, sorted(wnn.graphs)],
        "after": provenance.latest(mdata, "after") is None,
        "unpatched": not hasattr(mu.tl.leiden, "__provenance_wrapper__")
        and not hasattr(mu.pp.neighbors, "__provenance_wrapper__"),
    }}))
"""


@needs_muon
def test_muon_imported_after_start_is_recorded():
    # One case, in a fresh interpreter (importing muon takes ~15 s): start() as
    # `%load_ext provenance` does, then `import muon` in a later cell.
    out = _run(
        _LATE_MUON.format(open="provenance.start(strict=True)", close="records = provenance.stop()")
    )
    assert {"mx", "wnn"} <= set(out["keys"])
    assert out["mx"] == ["muon.tl.leiden", 2]
    assert out["wnn"] == ["muon.pp.neighbors", "neighbors", ["connectivities", "distances"]]
    assert out["after"] is True
    assert out["unpatched"] is True
