"""From counts to clusters: every step recorded in order, linked by digest, exported."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
from _counts import planted_counts
from conftest import FAST

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

FUNCTIONS = [
    "scanpy.pp.filter_cells",
    "scanpy.pp.filter_genes",
    "scanpy.pp.normalize_total",
    "scanpy.pp.log1p",
    "scanpy.pp.highly_variable_genes",
    "scanpy.pp.pca",
    "scanpy.pp.neighbors",
    "scanpy.tl.umap",
    "scanpy.tl.leiden",
    "scanpy.tl.rank_genes_groups",
]


def run_pipeline(adata: AnnData) -> None:
    """The pipeline of the tests, from counts (kept in ``layers['counts']``) to markers."""
    import scanpy as sc

    sc.pp.filter_cells(adata, min_genes=1)
    sc.pp.filter_genes(adata, min_cells=1)
    adata.layers["counts"] = adata.X.copy()
    sc.pp.normalize_total(adata, target_sum=1e4)
    sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=120)
    sc.pp.pca(adata, n_comps=15)
    sc.pp.neighbors(adata, n_neighbors=10)
    sc.tl.umap(adata)
    sc.tl.leiden(adata, key_added="L", **FAST)
    sc.tl.rank_genes_groups(adata, "L", method="t-test")


@pytest.fixture(scope="module")
def _recorded() -> AnnData:
    import provenance

    adata = planted_counts()
    with provenance.record(adata):
        run_pipeline(adata)
    return adata


@pytest.fixture
def recorded(_recorded: AnnData) -> AnnData:
    return _recorded.copy()


def test_every_step_is_recorded_in_the_order_it_ran(recorded: AnnData) -> None:
    import provenance

    steps = provenance.steps(recorded)
    assert [r.function for r in steps] == FUNCTIONS
    # The planted groups are what the pipeline found: the data are what the records say.
    from sklearn.metrics import adjusted_rand_score

    assert adjusted_rand_score(recorded.obs["truth"], recorded.obs["L"]) > 0.9


def test_consecutive_records_link_by_digest(recorded: AnnData) -> None:
    import provenance

    last_write: dict[str, str] = {}
    linked = 0
    for rec in provenance.steps(recorded):
        for slot, d in rec.reads.items():
            if slot in last_write:
                assert d.digest == last_write[slot], (rec.function, slot)
                linked += 1
        last_write.update({slot: d.digest for slot, d in rec.writes.items()})
    # X through normalize_total -> log1p -> hvg -> pca, X_pca -> neighbors, the graph ->
    # umap -> leiden, the labels -> rank_genes_groups.
    assert linked >= 8
    by_function = {r.function: r for r in provenance.steps(recorded)}
    filtered = by_function["scanpy.pp.filter_cells"]
    assert filtered.before is not None and filtered.before.n_obs == 360
    assert filtered.n_obs == 355 and "X" in filtered.writes
    assert set(by_function["scanpy.pp.pca"].reads) == {"X", "var['highly_variable']"}
    assert set(by_function["scanpy.pp.neighbors"].reads) == {"obsm['X_pca']"}
    # Nothing besides the recorded calls changed the data: the pipeline audits clean.
    report = provenance.audit(recorded)
    assert report.ok and not report.findings


def test_the_pipeline_survives_a_file_and_exports_as_a_chain(
    recorded: AnnData, tmp_path: Path
) -> None:
    import anndata as ad

    import provenance

    path = tmp_path / "pipeline.h5ad"
    recorded.write_h5ad(path)
    back = ad.read_h5ad(path)
    assert [r.digest for r in provenance.steps(back)] == [
        r.digest for r in provenance.steps(recorded)
    ]
    report = provenance.audit(back)
    assert report.ok and not report.findings
    doc = provenance.to_prov(back)
    text = doc.get_provn()
    # pca used what log1p made; neighbors used what pca made.
    assert "used(provenance:pca/v1, provenance:log1p/v1/X" in text
    assert "used(provenance:neighbors/v1, provenance:pca/v1/obsm%5B%27X_pca%27%5D" in text


def test_the_pipeline_replays_identically_from_the_counts(recorded: AnnData) -> None:
    import provenance

    result = provenance.replay(recorded, "L", pipeline=True)
    assert result.identical
    assert result.ari == 1.0 and result.nmi == 1.0
    # The filters' input, the object before them, is in no object or file: they are not run,
    # and the replay starts from the counts kept in layers['counts'] after them.
    status = {s.function: s.status for s in result.steps}
    assert status["scanpy.pp.filter_cells"] == status["scanpy.pp.filter_genes"] == "not_run"
    assert not result.complete
    replayed = [s.function for s in result.steps if s.status != "not_run"]
    assert all(s.status == "identical" for s in result.steps if s.status != "not_run")
    assert replayed[:4] == [
        "scanpy.pp.normalize_total",
        "scanpy.pp.log1p",
        "scanpy.pp.highly_variable_genes",
        "scanpy.pp.pca",
    ]
    assert replayed[-1] == "scanpy.tl.leiden"
    compared = [c for s in result.steps for c in s.compared]
    assert len(compared) >= 6 and all(c.equal for c in compared)
    assert "layers['counts']" in (result.start or "")


def test_a_subset_reclustered_names_its_parent(recorded: AnnData) -> None:
    import scanpy as sc

    import provenance

    parent_rec = provenance.latest(recorded, "L")
    assert parent_rec is not None
    keep = recorded.obs["L"].isin(recorded.obs["L"].cat.categories[:2]).to_numpy()
    sub = recorded[keep].copy()
    with provenance.record(sub):
        sc.pp.neighbors(sub, n_neighbors=10)
        sc.tl.leiden(sub, key_added="L", **FAST)
    history = provenance.history(sub, "L")
    # Nothing of the parent's history is dropped; the subset's record continues it, naming
    # the parent object (its cells) and the record it continues.
    assert [r.digest for r in history[:-1]] == [r.digest for r in provenance.history(recorded, "L")]
    child = history[-1]
    assert child.parent is not None
    assert child.parent.n_obs == recorded.n_obs
    assert child.parent.record is not None and child.parent.record.digest == parent_rec.digest
    assert child.result.n_obs == int(keep.sum())
    report = provenance.audit(sub)
    assert not [f for f in report.findings if f.severity == "error" and f.key == "L"]
