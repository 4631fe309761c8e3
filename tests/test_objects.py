"""Across objects: a record made on a subset names its parent, ``sc.pp.subsample`` and
``anndata.concat`` are recorded, and the audit and lineage say where records came from.

Small synthetic counts (planted groups), the pipeline run once per module.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anndata as ad
import numpy as np
import pytest
import scanpy as sc
from conftest import LEIDENALG
from scipy import sparse

import provenance
from provenance._util.fingerprint import obs_names_digest

if TYPE_CHECKING:
    from anndata import AnnData

LEIDEN: dict[str, Any] = {"random_state": 0, **LEIDENALG}


def _counts(n: int, *, offset: int = 0, seed: int = 0) -> AnnData:
    """``n`` cells of 60 genes in 3 planted groups (Poisson counts)."""
    rng = np.random.default_rng(seed)
    means = np.random.default_rng(42).gamma(2.0, 2.0, (3, 60))
    groups = rng.integers(0, 3, n)
    adata = ad.AnnData(sparse.csr_matrix(rng.poisson(means[groups]).astype(np.float32)))
    adata.obs_names = [f"c{i + offset}" for i in range(n)]
    adata.var_names = [f"g{i}" for i in range(60)]
    return adata


def _pipeline(adata: AnnData) -> AnnData:
    sc.pp.normalize_total(adata)
    sc.pp.log1p(adata)
    sc.pp.pca(adata, n_comps=10)
    sc.pp.neighbors(adata, n_neighbors=10)
    sc.tl.leiden(adata, key_added="leiden", **LEIDEN)
    return adata


@pytest.fixture(scope="module")
def parent() -> AnnData:
    adata = _counts(240)
    with provenance.record(adata):
        _pipeline(adata)
        sc.tl.rank_genes_groups(adata, groupby="leiden", method="t-test")
    return adata


def _by_key(adata: AnnData) -> dict[str, list[Any]]:
    out: dict[str, list[Any]] = {}
    for r in provenance.steps(adata):
        out.setdefault(r.key, []).append(r)
    return out


def test_a_subset_reclustered_names_its_parent(parent: AnnData) -> None:
    leiden_then = provenance.latest(parent, "leiden")
    sub = parent[parent.obs["leiden"].isin(parent.obs["leiden"].cat.categories[:2])].copy()
    with provenance.record():
        sc.pp.neighbors(sub, n_neighbors=10)
        sc.tl.leiden(sub, key_added="leiden", **LEIDEN)
        sc.tl.leiden(sub, key_added="leiden", resolution=0.5, **LEIDEN)
        sc.tl.rank_genes_groups(sub, groupby="leiden", method="t-test")
        sc.tl.leiden(sub, key_added="sub_only", **LEIDEN)
    history = provenance.history(sub, "leiden")
    # Nothing dropped: the parent's version, then the subset's (linked to it), then one more.
    assert [r.version for r in history] == [1, 2, 3]
    assert history[0] == leiden_then
    first, second = history[1], history[2]
    assert first.previous == leiden_then.digest
    assert first.parent is not None
    assert first.parent.n_obs == parent.n_obs == 240
    assert first.parent.obs_names_digest == obs_names_digest(parent.obs_names)
    assert first.parent.record is not None
    assert (first.parent.record.key, first.parent.record.version) == ("leiden", 1)
    assert first.parent.record.digest == leiden_then.digest
    assert second.parent is None  # the subset's own history continues
    by_key = _by_key(sub)
    assert by_key["neighbors"][-1].parent.n_obs == 240
    assert by_key["rank_genes_groups"][-1].parent.record.version == 1
    # A new key on a subset that already has records of its own: no parent.
    assert by_key["sub_only"][-1].parent is None
    report = provenance.audit(sub)
    assert report.ok, [f.message for f in report.errors]
    warned = {f.key: f for f in report.findings if f.code == "subset_or_reordered"}
    assert set(warned) == {"normalize_total", "log1p", "pca"}
    assert "neighbors v2 names it as parent" in warned["pca"].message
    assert "neighbors v2" in " ".join(warned["pca"].details["parent_of"])
    shown = " ".join(str(provenance.audit(sub, "leiden")).split())  # its history, unwrapped
    assert f"first on a subset: {sub.n_obs} of the parent's 240 cells, leiden v1" in shown
    lin = provenance.lineage(sub)
    assert ("leiden@v1", "leiden") in lin.edges
    assert ("neighbors@v1", "neighbors") in lin.edges
    assert lin["leiden@v1"].kind == "parent"


def test_the_first_record_on_a_subset_under_a_new_key_names_the_latest_record(
    parent: AnnData,
) -> None:
    sub = parent[:100].copy()
    with provenance.record(sub):
        sc.tl.leiden(sub, key_added="fresh", **LEIDEN)
    rec = provenance.latest(sub, "fresh")
    assert rec.parent is not None and rec.parent.n_obs == 240
    assert rec.parent.record is not None
    assert rec.parent.record.key == "rank_genes_groups"  # the parent's most recent record


def test_a_copy_continues_its_history_without_a_parent(parent: AnnData) -> None:
    copy = parent.copy()
    with provenance.record(copy):
        sc.tl.leiden(copy, key_added="leiden", resolution=0.5, **LEIDEN)
    rec = provenance.latest(copy, "leiden")
    assert rec.version == 2 and rec.parent is None


def test_subsample_is_recorded_with_the_object_before(parent: AnnData) -> None:
    adata = parent.copy()
    with provenance.record(adata):
        sc.pp.subsample(adata, n_obs=120, random_state=0)
        drawn = sc.pp.subsample(adata, fraction=0.5, copy=True)
        sc.pp.neighbors(adata, n_neighbors=10)
    first = provenance.step_history(adata, "subsample")[-1]
    assert first.kind == "transform" and first.function == "scanpy.pp.subsample"
    assert first.before is not None and first.before.n_obs == 240
    assert first.n_obs == 120 and first.parent is None
    assert first.arguments["n_obs"] == 120
    again = provenance.step_history(drawn, "subsample")
    assert [r.version for r in again] == [1, 2] and again[-1].n_obs == 60
    nb = provenance.step_history(adata, "neighbors")[-1]
    assert nb.parent is not None and nb.parent.n_obs == 240
    report = provenance.audit(adata)
    pca = next(f for f in report.findings if f.key == "pca")
    assert "subsample v1 made this object from it" in pca.message


@pytest.fixture(scope="module")
def parts() -> dict[str, AnnData]:
    out = {}
    for name, (n, offset, seed) in {"a": (150, 0, 1), "b": (120, 1000, 2)}.items():
        part = _counts(n, offset=offset, seed=seed)
        with provenance.record(part):
            _pipeline(part)
        out[name] = part
    return out


def test_concat_is_recorded_with_its_parts(parts: dict[str, AnnData]) -> None:
    a, b = parts["a"], parts["b"]
    with provenance.record(a):  # a block watching one part records the join
        joined = ad.concat({"a": a, "b": b}, label="batch")
        sc.pp.pca(joined, n_comps=10)  # the result is watched too
        sc.pp.neighbors(joined, n_neighbors=10)
        sc.tl.leiden(joined, key_added="leiden", **LEIDEN)
    (rec,) = provenance.step_history(joined, "concat")
    assert rec.kind == "concat" and rec.function == "anndata.concat"
    assert rec.arguments["label"] == "batch"
    assert rec.n_obs == 270 and rec.obs_names_digest == obs_names_digest(joined.obs_names)
    assert [p.label for p in rec.parts] == ["a", "b"]
    assert [p.n_obs for p in rec.parts] == [150, 120]
    assert rec.parts[0].obs_names_digest == obs_names_digest(a.obs_names)
    assert [(r.key, r.version) for r in rec.parts[1].records] == [
        (k, 1) for k in ("normalize_total", "log1p", "pca", "neighbors", "leiden")
    ]
    assert rec.parts[1].records[-1].digest == provenance.latest(b, "leiden").digest
    assert "X" in rec.writes and rec.reads == {}
    pca = provenance.step_history(joined, "pca")[-1]
    assert pca.parent is not None and pca.parent.record is not None
    assert (pca.parent.record.key, pca.parent.n_obs) == ("concat", 270)
    assert provenance.latest(joined, "leiden").parent is None
    report = provenance.audit(joined)
    assert not report.findings, [f.message for f in report.findings]
    lin = provenance.lineage(joined)
    assert {("concat['a']", "concat"), ("concat['b']", "concat"), ("concat", "pca")} <= set(
        lin.edges
    )
    assert lin["concat['b']"].kind == "part" and "120 cells" in lin["concat['b']"].why


def test_concat_with_a_part_uns_names_the_concat_as_parent(parts: dict[str, AnnData]) -> None:
    with provenance.record():
        joined = sc.concat([parts["a"], parts["b"]], uns_merge="first")  # scanpy's name
        sc.pp.neighbors(joined, n_neighbors=10)
    rec = provenance.step_history(joined, "concat")[-1]
    assert [p.label for p in rec.parts] == ["0", "1"]
    nb = provenance.step_history(joined, "neighbors")
    assert [r.version for r in nb] == [1, 2]  # part a's version kept, then the joined one
    assert nb[-1].parent is not None and nb[-1].parent.record is not None
    assert nb[-1].parent.record.key == "concat"


def test_concat_of_unwatched_objects_is_refused_in_strict_mode(
    parts: dict[str, AnnData],
) -> None:
    other = _counts(30, offset=5000)
    with provenance.record(other), pytest.raises(provenance.ProvenanceError, match="another"):
        ad.concat([parts["a"], parts["b"]])
