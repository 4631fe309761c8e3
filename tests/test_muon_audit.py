"""The read side of MuData: audit, show, verify, history, latest, diff on a MuData and ``.h5mu``.

Real runs on the two-modality MuData of ``tests/_muon_data.py``: ``sc.tl.leiden`` on the ``rna``
modality inside ``provenance.record()``, and ``mu.tl.leiden`` on the whole object. A modality's
keys are named ``"<mod>:<key>"``, as muon names a modality's columns.
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING, Any

import numpy as np
import pytest
from conftest import FAST

if importlib.util.find_spec("muon") is None:
    pytest.skip("muon is not installed (the muon nox sessions run these)", allow_module_level=True)

from _muon_data import build_mudata, import_muon, quiet_mudata

import provenance

if TYPE_CHECKING:
    from pathlib import Path

    from mudata import MuData


@pytest.fixture(scope="module")
def master_mudata() -> MuData:
    return build_mudata()


@pytest.fixture
def mdata(master_mudata: MuData) -> MuData:
    """A fresh MuData whose ``rna`` modality holds a recorded Leiden run under ``"leiden"``."""
    import scanpy as sc

    with quiet_mudata():
        m = master_mudata.copy()
    rna = m.mod["rna"]
    with provenance.record(rna):
        sc.tl.leiden(rna, key_added="leiden", random_state=0, **FAST)
    return m


def _write(m: MuData, path: Path) -> Path:
    with quiet_mudata():
        m.write(str(path))
    return path


def _muon_leiden(m: MuData, **kwargs: Any) -> None:
    mu = import_muon()
    with quiet_mudata():
        mu.tl.leiden(m, **kwargs)


def _by_key(report: provenance.AuditReport) -> dict[str, provenance.AuditEntry]:
    return {e.key: e for e in report.entries}


def test_audit_covers_the_modalities(mdata: MuData) -> None:
    report = provenance.audit(mdata)
    entries = _by_key(report)
    assert report.ok
    assert "rna:leiden" in entries, report
    e = entries["rna:leiden"]
    assert e.status == "ok" and e.checked and e.latest is not None
    assert e.latest.key == "leiden"  # the record names the modality's own key
    # mudata < 0.4 pulls "rna:<col>" copies into mdata.obs: audited once, in the modality.
    assert [k for k in entries if k.endswith("leiden")] == ["rna:leiden"]
    assert "no clustering" not in str(report)
    assert [e.key for e in provenance.audit(mdata, "rna:leiden").entries] == ["rna:leiden"]


def test_history_latest_diff_by_modality_key(mdata: MuData) -> None:
    import scanpy as sc

    rna = mdata.mod["rna"]
    with provenance.record(rna):
        sc.tl.leiden(rna, key_added="leiden", random_state=1, **FAST)
    records = provenance.history(mdata, "rna:leiden")
    assert [r.params.random_state for r in records] == [0, 1]
    assert provenance.latest(mdata, "rna:leiden").version == 2
    d = provenance.diff(mdata, ("rna:leiden", 1), "rna:leiden")
    assert [(r.field, r.a, r.b) for r in d.differences if r.section == "params"] == [
        ("random_state", 0, 1)
    ]
    with pytest.raises(provenance.UnknownKeyError, match="rna:nope"):
        provenance.history(mdata, "rna:nope")
    with pytest.raises(provenance.UnknownKeyError, match="modality 'rna'"):
        provenance.audit(mdata, "rna:nope")


def test_changed_labels_and_graph_in_a_modality_are_named(mdata: MuData) -> None:
    rna = mdata.mod["rna"]
    labels = rna.obs["leiden"].astype(str).to_numpy()
    labels[:40] = labels[40]
    rna.obs["leiden"] = labels
    rna.obs["leiden"] = rna.obs["leiden"].astype("category")
    g = rna.obsp["connectivities"].copy()
    g.data = g.data * 0.5
    rna.obsp["connectivities"] = g
    report = provenance.audit(mdata)
    assert not report.ok
    codes = {(f.key, f.code) for f in report.findings}
    assert ("rna:leiden", "labels_changed") in codes
    assert ("rna:leiden", "graph_changed") in codes


def test_h5mu_verify_and_show(mdata: MuData, tmp_path: Path) -> None:
    import h5py

    from provenance._cli import main

    path = _write(mdata, tmp_path / "m.h5mu")
    report = provenance.audit(path)
    assert report.ok and _by_key(report)["rna:leiden"].checked
    assert main(["verify", str(path)]) == 0
    # Damage the modality's labels in the file: every cell of the first 50 to category 0.
    with h5py.File(path, "r+") as f:
        codes = f["mod/rna/obs/leiden/codes"]
        values = codes[()]
        values[:50] = (values[:50] + 1) % (values.max() + 1)
        codes[...] = values
    assert main(["verify", str(path)]) == 1
    report = provenance.audit(path)
    assert [(f.key, f.code) for f in report.errors] == [("rna:leiden", "labels_changed")]
    # show reads uns alone: it works without the modality's X.
    with h5py.File(path, "r+") as f:
        del f["mod/rna/X"]
    assert main(["show", str(path)]) == 0
    assert main(["verify", str(path)]) == 1  # the labels, not an unreadable file (2)
    shown = provenance.audit(path, check_data=False)
    assert _by_key(shown)["rna:leiden"].latest is not None


def test_h5mu_cli_output_names_the_modality_key(
    mdata: MuData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import h5py

    from provenance._cli import main

    path = _write(mdata, tmp_path / "m.h5mu")
    with h5py.File(path, "r+") as f:
        del f["mod/rna/obsp/connectivities"]
    assert main(["verify", "--json", str(path)]) == 1
    out = capsys.readouterr().out
    assert '"rna:leiden"' in out and "graph_missing" in out
    assert main(["diff", str(path), "rna:leiden", "rna:leiden@1"]) == 0
    assert main(["show", "--key", "rna:leiden", str(path)]) == 0
    assert "rna:leiden" in capsys.readouterr().out


def test_mudata_zarr_store(mdata: MuData, tmp_path: Path) -> None:
    path = tmp_path / "m.zarr"
    with quiet_mudata(), np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", message="This setting will be removed")
            warnings.filterwarnings("ignore", category=UserWarning)
            mdata.write_zarr(str(path))
    report = provenance.audit(path)
    assert report.ok and _by_key(report)["rna:leiden"].checked


def test_scanpy_fixed_key_in_a_modality_is_prefixed() -> None:
    m = build_mudata(shipped_louvain=True)
    entries = _by_key(provenance.audit(m))
    assert "rna:louvain" in entries
    assert "no_record" in {f.code for f in entries["rna:louvain"].findings}


def _muon_target_registered() -> bool:
    from provenance._targets.registry import targets

    return any(t.function == "muon.tl.leiden" for t in targets())


def test_unrecorded_muon_run_is_not_blamed_on_scanpy(mdata: MuData) -> None:
    _muon_leiden(mdata, key_added="wnn", random_state=1)
    assert set(mdata.uns["leiden"]["params"]) >= {"partition_improvement"}
    entries = _by_key(provenance.audit(mdata))
    legacy = [f for f in entries["leiden"].findings if f.code == "legacy_params"]
    assert legacy, entries["leiden"]
    assert "scanpy" not in legacy[0].message
    if _muon_target_registered():
        assert "muon.tl.leiden wrote" in legacy[0].message
    assert entries["rna:leiden"].status == "ok"  # the modality's record is not disturbed


needs_muon_target = pytest.mark.skipif(
    not _muon_target_registered(), reason="the muon targets (record side) are not registered"
)


@needs_muon_target
def test_recorded_muon_run_checks_each_modality_graph(
    master_mudata: MuData, tmp_path: Path
) -> None:
    import h5py

    from provenance._cli import main

    with quiet_mudata():
        m = master_mudata.copy()
    mu = import_muon()
    with provenance.record(m), quiet_mudata():
        mu.tl.leiden(m, key_added="wnn", random_state=1)
    report = provenance.audit(m)
    entry = _by_key(report)["wnn"]
    assert report.ok and entry.status == "ok" and entry.checked, report
    assert [layer.modality for layer in entry.latest.layers] == ["rna", "rest"]
    # muon's fixed key, uns["leiden"], is put back as it was (absent): nothing to flag.
    assert "leiden" not in m.uns and not report.findings, report.findings
    path = _write(m, tmp_path / "wnn.h5mu")
    assert main(["verify", "--key", "wnn", str(path)]) == 0
    # Same sparsity, other weights: muon clusters the unweighted graph, but the record's
    # fingerprint is of the graph as stored, so a changed layer is told and named.
    g = m.mod["rna"].obsp["connectivities"].copy()
    g.data = g.data * 0.5
    m.mod["rna"].obsp["connectivities"] = g
    found = [f for f in provenance.audit(m, "wnn").findings if f.code == "graph_changed"]
    assert [f.details["modality"] for f in found] == ["rna"]
    assert "mdata['rna'].obsp['connectivities']" in found[0].message
    with h5py.File(path, "r+") as f:
        del f["mod/rest/obsp/connectivities"]
    report = provenance.audit(path, "wnn")
    missing = [f for f in report.findings if f.code == "graph_missing"]
    assert [f.details["modality"] for f in missing] == ["rest"]
    assert main(["verify", str(path)]) == 1


@needs_muon_target
def test_modality_call_inside_record_of_the_mudata(master_mudata: MuData) -> None:
    import scanpy as sc

    with quiet_mudata():
        m = master_mudata.copy()
    with provenance.record(m):
        sc.tl.leiden(m.mod["rest"], key_added="leiden_rest", random_state=0, **FAST)
    entries = _by_key(provenance.audit(m))
    assert entries["rest:leiden_rest"].status == "ok"
    assert entries["rest:leiden_rest"].checked
    assert provenance.latest(m, "rest:leiden_rest").version == 1


def test_replay_of_a_modality_key_and_of_h5mu_files(mdata: MuData, tmp_path: Path) -> None:
    # replay names a modality's clustering as the audit does; the CLI replays .h5mu files
    # (a recorded muon run at the root, and a modality's scanpy run).
    from provenance._cli import main

    with provenance.record(mdata):
        _muon_leiden(mdata, key_added="wnn", resolution=0.8, random_state=1)
    result = provenance.replay(mdata, "rna:leiden")
    assert result.identical and result.key == "rna:leiden"
    with pytest.raises(provenance.UnknownKeyError):
        provenance.replay(mdata, "rna:nope")
    path = _write(mdata, tmp_path / "m.h5mu")
    for key in ("rna:leiden", "wnn"):
        with quiet_mudata():
            assert main(["replay", str(path), key]) == 0, key


def test_modality_messages_name_the_modality_slots(mdata: MuData, tmp_path: Path) -> None:
    import scanpy as sc

    rna, rest = mdata.mod["rna"], mdata.mod["rest"]
    with provenance.record(rna):
        sc.pp.neighbors(rna, n_neighbors=10)
        sc.tl.leiden(rna, key_added="leiden", random_state=0, **FAST)
        sc.tl.paga(rna, groups="leiden")
        sc.pp.neighbors(rna, n_neighbors=5)  # the graph of leiden and paga, re-made
    with provenance.record(rest):
        sc.tl.leiden(rest, key_added="leiden", random_state=0, **FAST)
    report = provenance.audit(mdata)
    text = " ".join(f.message for f in report.findings)
    (changed,) = [f for f in report.findings if f.code == "graph_changed"]
    assert changed.message.startswith("mdata['rna'].obsp['connectivities'] changed since")
    assert "re-made by sc.pp.neighbors(mdata['rna'], n_neighbors=5)" in changed.message
    assert "(mdata['rna'].uns['neighbors'] version 2)" in changed.message
    assert "provenance.record(mdata['rna'])" in changed.message
    (stale,) = [f for f in report.findings if f.code == "stale_result"]
    assert stale.message.startswith("mdata['rna'].uns['paga']: its graph mdata['rna'].obsp")
    assert "re-run sc.tl.paga(mdata['rna'], groups='leiden')" in stale.message
    # "rna:neighbors" is how the report names the key; no slot of the object is so named.
    for wrong in ("uns['rna:", "obsp['rna:", "mod['rna']."):
        assert wrong not in text, wrong
    d = provenance.diff(mdata, "rna:leiden", "rest:leiden")
    assert (d.a, d.b) == ("rna:leiden@v2", "rest:leiden@v1")
    from provenance._cli import main

    path = _write(mdata, tmp_path / "m.h5mu")
    out = tmp_path / "m.provn"
    assert main(["export", "--format", "prov-n", str(path), "--out", str(out)]) == 0
    provn = out.read_text()
    assert 'ap:modality="rna", ap:obsp_key="connectivities"' in provn
    assert "mdata['rna'].obsp['connectivities']" in provn
    assert 'obsp_key="rna:' not in provn and "rna:obsm[" not in provn


def test_scanpy_leiden_on_the_joint_graph_replays_from_the_file(
    master_mudata: MuData, tmp_path: Path
) -> None:
    import scanpy as sc

    mu = import_muon()
    with quiet_mudata():
        m = master_mudata.copy()
        mu.pp.neighbors(m, key_added="wnn")
    with provenance.record(m):
        sc.tl.leiden(m, neighbors_key="wnn", key_added="joint", random_state=0, **FAST)
    path = _write(m, tmp_path / "wnn.h5mu")
    report = provenance.audit(path, deep=True, jobs=1)
    # One graph (mdata.obsp['wnn_connectivities']), not muon's multiplex: replayed, agrees.
    assert report.ok and not report.findings, report.findings


def test_a_modality_neighbors_step_and_its_parent(master_mudata: MuData) -> None:
    """A modality's recorded neighbors graph edited, then its record deleted: the findings
    name the modality's keys as muon names them and say where they are."""
    import scanpy as sc
    from _audit_data import forget

    with quiet_mudata():
        m = master_mudata.copy()
    rna = m.mod["rna"]
    with provenance.record(rna):
        sc.pp.neighbors(rna, n_neighbors=10)
        sc.tl.leiden(rna, key_added="leiden", random_state=0, **FAST)
    assert provenance.audit(m).ok
    rna.obsp["distances"].data *= 2
    report = provenance.audit(m)
    assert [(f.code, f.key) for f in report.findings] == [("graph_changed", "rna:neighbors")]
    f = report.findings[0]
    assert "mdata['rna'].obsp['distances'] changed after sc.pp.neighbors" in f.message
    assert "mdata['rna'].uns['neighbors'] version 1" in f.message
    forget(rna, "neighbors")
    report = provenance.audit(m)
    assert [(f.code, f.key) for f in report.findings] == [("parent_missing", "rna:leiden")]
    msg = report.findings[0].message
    assert "mdata['rna'].uns['leiden']" in msg and "mdata['rna'].uns['neighbors']" in msg
    assert "rna:" not in msg.replace("mdata['rna']", "")


def test_restrict_to_in_a_modality(mdata):
    """A modality's sub-clustering: linked to its parent, stale when the parent is re-clustered,
    its advice naming the modality."""
    import scanpy as sc

    rna = mdata.mod["rna"]
    with provenance.record(rna):
        sc.tl.leiden(rna, restrict_to=("leiden", ["0", "1"]), key_added="sub", **FAST)
    assert provenance.lineage(mdata).parents("rna:sub") == ["rna:neighbors", "rna:leiden"]
    assert not _by_key(provenance.audit(mdata))["rna:sub"].findings
    with provenance.record(rna):
        sc.tl.leiden(rna, key_added="leiden", resolution=0.6, random_state=1, **FAST)
    (f,) = _by_key(provenance.audit(mdata))["rna:sub"].findings
    assert (f.code, f.details["cause"], f.details["clustering_key"]) == (
        "stale_result",
        "reclustered",
        "rna:leiden",
    )
    assert f.details["rerun"].startswith("sc.tl.leiden(mdata['rna'], ")
