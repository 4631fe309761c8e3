"""Across scanpy/anndata versions: the scanpy <= 1.9 fixed keys, and files from other versions.

Runs in every session of the matrix. On scanpy >= 1.10 the fixed-key assertions hold because
scanpy no longer writes there; on scanpy 1.9.8 they hold because the recorder puts the fixed
key back. The files under ``tests/data/<env>/`` were written by ``tests/make_fixtures.py`` in
other sessions of the matrix.
"""

from __future__ import annotations

import copy
import json
from importlib.metadata import version
from pathlib import Path

import numpy as np
import pytest
import scanpy as sc
from conftest import ANNDATA, FAST
from make_fixtures import ADOPTABLE, KEYS

import provenance
from provenance._cli import main

DATA = Path(__file__).parent / "data"
FIXTURES = sorted(p for p in DATA.glob("*/recorded*") if p.suffix in (".h5ad", ".zarr"))
ZARR = int(version("zarr").split(".")[0])
LEIDEN_SWEEP = (0.8, 1.2)
LOUVAIN_SWEEP = ("louvain_a", "louvain_b")


def _same(a, b) -> bool:
    """Deep equality of uns entries (dicts, numpy arrays, scalars)."""
    if isinstance(a, dict) or isinstance(b, dict):
        return (
            isinstance(a, dict)
            and isinstance(b, dict)
            and a.keys() == b.keys()
            and all(_same(a[k], b[k]) for k in a)
        )
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b))
    return type(a) is type(b) and a == b


def _sweep(adata, **kw):
    with provenance.record(adata) as block:
        for r in LEIDEN_SWEEP:
            out = sc.tl.leiden(adata, resolution=r, key_added=f"leiden_{r}", **FAST, **kw)
            adata = out if out is not None else adata
        for key in LOUVAIN_SWEEP:
            out = sc.tl.louvain(adata, key_added=key, flavor="igraph", **kw)
            adata = out if out is not None else adata
    return adata, block


# --- the seed scenario: scanpy <= 1.9 wrote params to uns["leiden"]/uns["louvain"] ------------


@pytest.mark.parametrize("had_leiden", [True, False])
def test_sweep_leaves_the_fixed_keys_exactly_as_they_were(pbmc, had_leiden):
    if had_leiden:
        pbmc.uns["leiden"] = {"params": {"resolution": 9.0, "random_state": 7}, "note": "mine"}
    before = {k: copy.deepcopy(pbmc.uns[k]) for k in ("leiden", "louvain") if k in pbmc.uns}
    assert "louvain" in before  # pbmc68k_reduced ships a clustering made by scanpy long ago
    adata, block = _sweep(pbmc)
    assert adata is pbmc
    for k in ("leiden", "louvain"):
        assert (k in pbmc.uns) == (k in before), k
        if k in before:
            assert _same(dict(pbmc.uns[k]), before[k]), k
    # Each key holds its own params, as scanpy >= 1.10 writes them, and its own record.
    for r in LEIDEN_SWEEP:
        key = f"leiden_{r}"
        assert pbmc.uns[key]["params"] == {"resolution": r, "random_state": 0, "n_iterations": 2}
        (rec,) = provenance.history(pbmc, key)
        assert (rec.key, rec.params.resolution, rec.params.key_added) == (key, r, key)
        assert rec.result.labels_digest == provenance.latest(pbmc, key).result.labels_digest
    for key in LOUVAIN_SWEEP:
        assert pbmc.uns[key]["params"] == {"resolution": None, "random_state": 0}
        (rec,) = provenance.history(pbmc, key)
        assert (rec.key, rec.method) == (key, "louvain")
    assert [r.key for r in block.records] == [f"leiden_{r}" for r in LEIDEN_SWEEP] + list(
        LOUVAIN_SWEEP
    )
    report = provenance.audit(pbmc)
    assert report.ok
    for key in [f"leiden_{r}" for r in LEIDEN_SWEEP] + list(LOUVAIN_SWEEP):
        assert report[key].status == "ok", (key, report[key].findings)


def test_copy_true_leaves_the_fixed_keys_of_both_objects(pbmc):
    before = copy.deepcopy(pbmc.uns["louvain"])
    out, _ = _sweep(pbmc, copy=True)
    assert out is not pbmc
    assert "leiden" not in pbmc.uns and "leiden" not in out.uns
    assert _same(dict(pbmc.uns["louvain"]), before) and _same(dict(out.uns["louvain"]), before)
    assert not any(f"leiden_{r}" in pbmc.uns for r in LEIDEN_SWEEP)
    for r in LEIDEN_SWEEP:
        assert out.uns[f"leiden_{r}"]["params"]["resolution"] == r
        assert provenance.latest(out, f"leiden_{r}") is not None


def test_default_key_is_the_fixed_key(pbmc):
    # key_added="leiden" *is* the fixed key: scanpy's params stay where every version puts them.
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, **FAST)
    assert pbmc.uns["leiden"]["params"]["n_iterations"] == 2
    assert provenance.latest(pbmc, "leiden").params.key_added == "leiden"


def test_legacy_fixed_key_is_adopted(pbmc):
    # What scanpy <= 1.9 leaves for a clustering at its default key: uns["leiden"] belongs to
    # obs["leiden"]. (Every scanpy writes it there.)
    sc.tl.leiden(pbmc, resolution=0.7, **FAST)
    adopted = {r.key: r for r in provenance.adopt(pbmc)}
    assert set(adopted) == {"leiden", "louvain"}
    rec = adopted["leiden"]
    assert (rec.origin, rec.params.resolution, rec.params.n_iterations) == ("adopted", 0.7, 2)
    assert rec.result.n_clusters == len(pbmc.obs["leiden"].cat.categories)
    assert provenance.audit(pbmc).ok


# --- files written by other versions ---------------------------------------------------------


def test_fixtures_cover_both_ends_of_the_matrix():
    envs = {p.parent.name for p in FIXTURES}
    assert {"legacy", "stable-3.12"} <= envs
    made_by = {
        json.loads((DATA / e / "manifest.json").read_text())["packages"]["scanpy"][:4] for e in envs
    }
    assert {"1.9.", "1.12"} <= made_by
    suffixes = {p.name for p in FIXTURES}
    assert {"recorded.h5ad", "recorded.zarr", "recorded.zarr2.zarr", "recorded.zarr3.zarr"} <= (
        suffixes
    )


def _zarr3_unreadable(path: Path) -> bool:
    return path.name.endswith(".zarr3.zarr") and ZARR < 3


def _read(path: Path):
    import anndata as ad

    return ad.read_h5ad(path) if path.suffix == ".h5ad" else ad.read_zarr(path)


def _anndata_cannot_read(path: Path) -> bool:
    """anndata < 0.12 has no reader for anndata 0.13's nullable-string-array obs index."""
    manifest = json.loads((path.parent / "manifest.json").read_text())
    written = tuple(int(x) for x in manifest["packages"]["pandas"].split(".")[:1])
    return ANNDATA < (0, 12) and written >= (3,)


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_audits_and_verifies(path, capsys):
    if _zarr3_unreadable(path):
        # zarr 2 cannot open a v3 store; the error says so instead of "not an AnnData file".
        with pytest.raises(provenance.UnreadableFileError, match="zarr format 3"):
            provenance.audit(path)
        assert main(["verify", str(path)]) == 2
        return
    report = provenance.audit(path)
    assert report.ok, report.findings
    for key in KEYS:
        assert report[key].status == "ok", (key, report[key].findings)
    for key in ADOPTABLE:
        assert "no_record" in [f.code for f in report[key].findings]
    assert main(["verify", str(path)]) == 0
    assert main(["verify", "--json", str(path)]) == 0
    out = capsys.readouterr().out
    assert json.loads(out[out.index("{") :])["passed"] is True
    d = provenance.diff(path, "leiden_0.8", "leiden_1.2")
    params = {r.field: (r.a, r.b) for r in d.rows if r.section == "params"}
    assert params == {"key_added": ("leiden_0.8", "leiden_1.2"), "resolution": (0.8, 1.2)}
    assert main(["diff", str(path), "leiden_0.8", "leiden_1.2"]) == 0


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fixture_read_into_memory(path, tmp_path):
    if _zarr3_unreadable(path) or _anndata_cannot_read(path):
        # Not ours to fix: this anndata/zarr cannot load the file (a zarr v3 store, or an
        # anndata 0.13 + pandas 3 string index). The audit by path above reads the latter.
        with pytest.raises(Exception, match=r"nullable-string-array|nothing found|not found"):
            _read(path)
        return
    adata = _read(path)
    for key in KEYS:
        recs = provenance.history(adata, key)
        assert [r.version for r in recs] == [1]
        assert all(r.digest == r.expected_digest() for r in recs)
    assert provenance.audit(adata).ok
    assert all(provenance.audit(adata)[k].status == "ok" for k in KEYS)
    # The records written elsewhere continue here: a new version chains onto the old one.
    with provenance.record(adata):
        sc.tl.leiden(adata, resolution=1.5, key_added="leiden_1.2", **FAST)
    old, new = provenance.history(adata, "leiden_1.2")
    assert new.previous == old.digest and new.params.resolution == 1.5
    # anndata 0.12 reads anndata 0.13's nullable-string indexes but will not write it back
    # without an opt-in; plain strings are the same names.
    adata.obs_names = [str(n) for n in adata.obs_names]
    adata.var_names = [str(n) for n in adata.var_names]
    adata.write_h5ad(tmp_path / "again.h5ad")
    assert provenance.audit(tmp_path / "again.h5ad").ok
    # The fixed-key leiden that no record covers is adopted.
    adopted = {r.key for r in provenance.adopt(adata)}
    assert adopted == set(ADOPTABLE)
