"""What is and is not the graph a clustering ran on (issue 16 item 4, issue 12 items 7 and 8).

The index dtype of a CSR matrix (int32, int64, anndata's minimal uint16) is storage, not the
graph; the dtype of its weights is part of it, and a check that fails says what changed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pytest
import scanpy as sc
from conftest import ANNDATA, FAST, write_zarr

import provenance
from provenance import ReplayError
from provenance._cli import main
from provenance._replay.replay import read_for_replay
from provenance._util.fingerprint import GRAPH_HASH_ALGORITHM, GRAPH_HASH_V1, graph_fingerprint

if TYPE_CHECKING:
    from anndata import AnnData

FIXTURES = sorted(Path(__file__).parent.glob("data/*/recorded.h5ad"))


@pytest.fixture
def clustered(pbmc: AnnData) -> AnnData:
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="lei", random_state=0, **FAST)
    return pbmc


def _wide_indices(adata: AnnData, dtype: str = "int64") -> None:
    g = adata.obsp["connectivities"]
    g.indices, g.indptr = g.indices.astype(dtype), g.indptr.astype(dtype)
    assert g.indices.dtype == np.dtype(dtype)  # scipy kept them as set


def _graph_findings(report: provenance.AuditReport, key: str) -> list:
    return [f for e in report.entries if e.key == key for f in e.findings if "graph" in f.code]


def _write_min_dtype(adata: AnnData, path: Path) -> None:
    """Write as anndata's ``write_csr_csc_indices_with_min_possible_dtype`` setting makes it."""
    import anndata as ad

    settings = getattr(ad, "settings", None)
    if not hasattr(settings, "write_csr_csc_indices_with_min_possible_dtype"):
        pytest.skip("this anndata has no write_csr_csc_indices_with_min_possible_dtype setting")
    opts = {"write_csr_csc_indices_with_min_possible_dtype": True}
    if hasattr(settings, "allow_write_nullable_strings"):
        opts["allow_write_nullable_strings"] = True  # obs_names read from anndata 0.13 files
    with settings.override(**opts):
        if path.suffix == ".zarr":
            write_zarr(adata, path)
        else:
            adata.write_h5ad(path)


def _read(path: Path) -> AnnData:
    import anndata as ad

    return ad.read_zarr(path) if path.suffix == ".zarr" else ad.read_h5ad(path)


def _read_fixture(path: Path) -> AnnData:
    manifest = json.loads((path.parent / "manifest.json").read_text())
    if ANNDATA < (0, 12) and int(manifest["packages"]["pandas"].split(".")[0]) >= 3:
        pytest.skip("anndata < 0.12 cannot read the nullable-string obs index of pandas 3")
    return _read(path)


# --- issue 16 item 4: the index dtype is not the graph ---------------------------------------


def test_digest_ignores_the_index_dtype_and_keeps_the_weights_dtype(pbmc):
    g = pbmc.obsp["connectivities"]
    base = graph_fingerprint(g)
    assert base.digest.startswith(GRAPH_HASH_ALGORITHM + ":")
    for dt in ("int64", "uint16", ">i4", ">i8"):
        other = g.copy()
        other.indices, other.indptr = g.indices.astype(dt), g.indptr.astype(dt)
        fp = graph_fingerprint(other)
        assert fp.digest == base.digest, dt
        # int64 is hashed in chunks (no copy); scipy needs a native int32/int64 copy of others
        assert fp.canonicalized == (dt != "int64"), dt
    assert graph_fingerprint(g.astype(np.float32)).digest != base.digest
    moved = g.copy()
    moved.indices = moved.indices.copy()
    moved.indices[0] += 1  # one edge moved: a different graph
    assert graph_fingerprint(moved).digest != base.digest


def test_int64_indices_verify_and_replay(clustered):
    _wide_indices(clustered)
    report = provenance.audit(clustered)
    assert report.ok and _graph_findings(report, "lei") == []
    result = provenance.replay(clustered, "lei")
    assert result.identical and result.graph_matches and not result.forced


@pytest.mark.parametrize("suffix", [".h5ad", ".zarr"])
def test_min_dtype_indices_in_a_file_verify_and_replay(clustered, tmp_path, suffix, capsys):
    path = tmp_path / f"min{suffix}"
    _write_min_dtype(clustered, path)
    assert _read(path).obsp["connectivities"].indices.dtype == np.uint16  # what anndata wrote
    assert main(["verify", str(path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["passed"]
    result = provenance.replay(read_for_replay(path, "lei"), "lei")
    assert result.identical and result.graph_matches
    assert main(["replay", str(path), "lei"]) == 0


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.parent.name)
def test_records_of_the_first_algorithm_keep_verifying(path):
    adata = _read_fixture(path)
    rec = provenance.latest(adata, "leiden_0.8")
    assert rec.graph.hash_algorithm == GRAPH_HASH_V1  # written before v2
    assert provenance.audit(adata).ok
    _wide_indices(adata)
    report = provenance.audit(adata)
    assert report.ok and _graph_findings(report, "leiden_0.8") == []
    assert provenance.replay(adata, "leiden_0.8").graph_matches
    # An old record still sees a real change, and names a dtype change.
    changed = adata.copy()
    changed.obsp["connectivities"].data *= 2
    (f,) = _graph_findings(provenance.audit(changed), "leiden_0.8")
    assert f.code == "graph_changed"
    assert rec.graph.dtype == "float32"  # sc.pp.neighbors' weights
    changed.obsp["connectivities"] = adata.obsp["connectivities"].astype(np.float64)
    (f,) = _graph_findings(provenance.audit(changed), "leiden_0.8")
    assert f.details["cause"] == "dtype" and "float32 → float64" in f.message


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.parent.name)
def test_records_of_the_first_algorithm_verify_in_a_min_dtype_file(path, tmp_path):
    adata = _read_fixture(path)
    out = tmp_path / "min.h5ad"
    _write_min_dtype(adata, out)
    assert _read(out).obsp["connectivities"].indices.dtype == np.uint8  # 200 cells
    assert provenance.audit(out).ok


# --- issue 12 item 7: say what changed -------------------------------------------------------


def test_weights_cast_up_is_named_as_a_dtype_change(pbmc, tmp_path):
    pbmc.obsp["connectivities"] = pbmc.obsp["connectivities"].astype(np.float32)
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="lei", random_state=0, **FAST)
    pbmc.obsp["connectivities"] = pbmc.obsp["connectivities"].astype(np.float64)
    path = tmp_path / "f64.h5ad"
    pbmc.write_h5ad(path)
    for src in (pbmc, path):
        (f,) = _graph_findings(provenance.audit(src), "lei")
        assert f.code == "graph_changed"
        assert f.details["cause"] == "dtype"
        assert "float32 → float64" in f.message and "cast back" in f.message
        assert "sc.pp.neighbors re-run" not in f.message
    with pytest.raises(ReplayError, match="float32 → float64"):
        provenance.replay(pbmc, "lei")


@pytest.mark.parametrize("fmt", ["memory", "zarr"])
def test_weights_cast_down_is_named_as_a_dtype_change(clustered, tmp_path, fmt):
    assert clustered.obsp["connectivities"].dtype == np.float64  # as pbmc68k_reduced ships
    clustered.obsp["connectivities"] = clustered.obsp["connectivities"].astype(np.float32)
    src = clustered
    if fmt == "zarr":
        src = tmp_path / "f32.zarr"
        write_zarr(clustered, src)
    (f,) = _graph_findings(provenance.audit(src), "lei")
    assert f.details["cause"] == "dtype_rounded"
    assert "float64 → float32" in f.message and "same 9992 edges" in f.message


def test_same_edges_other_weights_and_other_edges(clustered):
    c = clustered.copy()
    c.obsp["connectivities"].data *= 0.5
    (f,) = _graph_findings(provenance.audit(c), "lei")
    assert f.details["cause"] == "weights" and "same 9992 edges" in f.message
    sc.pp.neighbors(clustered, n_neighbors=5)
    (f,) = _graph_findings(provenance.audit(clustered), "lei")
    assert f.details["cause"] == "edges"
    assert f.details["n_edges_then"] == 9992 and "sc.pp.neighbors re-run" in f.message


# --- issue 12 item 8: a subset is not a changed graph ----------------------------------------


def test_replay_on_a_subset_says_it_was_subset(clustered, tmp_path, capsys):
    sub = clustered[:300].copy()
    with pytest.raises(ReplayError, match=r"subset .*\(700 → 300 cells\)"):
        provenance.replay(sub, "lei")
    path = tmp_path / "sub.h5ad"
    sub.write_h5ad(path)
    assert main(["replay", str(path), "lei"]) == 2
    assert "700 → 300 cells" in capsys.readouterr().err
    forced = provenance.replay(sub, "lei", force=True)
    assert forced.forced and forced.graph_matches is False


@pytest.mark.parametrize("path", FIXTURES, ids=lambda p: p.parent.name)
def test_same_graph_across_algorithms(path):
    from provenance._storage.graph import graph_info, same_graph

    adata = _read_fixture(path)
    old = provenance.latest(adata, "leiden_0.8").graph
    now = graph_info(adata, adjacency=None, obsp=None, neighbors_key=None)
    assert (old.hash_algorithm, now.hash_algorithm) == (GRAPH_HASH_V1, GRAPH_HASH_ALGORITHM)
    assert old.digest != now.digest
    _wide_indices(adata)
    assert same_graph(old, now, adata.obsp["connectivities"])
    assert not same_graph(old, now, adata.obsp["connectivities"] * 2)
