"""``sc.tl.tsne``, ``draw_graph`` and ``diffmap`` recorded as embeddings, on pbmc68k_reduced.

The graph embeddings (draw_graph, diffmap) name the neighbors record of the graph they read,
tsne the representation; each record keeps the digest of what it wrote. A call that finds no
``obsm['X_pca']`` makes one from ``X`` through scanpy's internal ``pca`` (not the patched
``sc.pp.pca``): the record of that call says it read ``X`` and wrote ``obsm['X_pca']``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest
import scanpy as sc
from conftest import LEIDENALG

import provenance
from provenance._schema.models import EmbeddingRecord
from provenance._util.fingerprint import array_digest

if TYPE_CHECKING:
    from anndata import AnnData

SCANPY = tuple(int(p) for p in sc.__version__.split(".")[:2])


def _one_thread():
    # scikit-learn's t-SNE oversubscribes a busy 2-core machine (70 s instead of 4 s).
    from threadpoolctl import threadpool_limits

    return threadpool_limits(1)


@pytest.fixture(scope="module")
def embedded(_pbmc_master: AnnData) -> AnnData:
    """neighbors → tsne → draw_graph (fr) → diffmap → leiden, recorded, on 300 cells."""
    adata = _pbmc_master[:300].copy()
    with provenance.record(adata, strict=True), _one_thread():
        sc.pp.neighbors(adata, n_neighbors=10)
        sc.tl.tsne(adata, n_pcs=20)
        sc.tl.draw_graph(adata, layout="fr")
        sc.tl.diffmap(adata, n_comps=10)
        sc.tl.leiden(adata, key_added="leiden", random_state=0, **LEIDENALG)
    return adata


@pytest.mark.parametrize(
    ("key", "function", "obsm_key"),
    [
        ("draw_graph", "scanpy.tl.draw_graph", "X_draw_graph_fr"),
        ("diffmap", "scanpy.tl.diffmap", "X_diffmap"),
    ],
)
def test_a_graph_embedding_names_its_neighbors_record(embedded, key, function, obsm_key):
    rec = provenance.latest_step(embedded, key)
    nb = provenance.latest_step(embedded, "neighbors")
    assert isinstance(rec, EmbeddingRecord)
    assert (rec.kind, rec.function, rec.version) == (key, function, 1)
    assert rec.neighbors is not None and rec.neighbors.digest == nb.digest
    assert rec.graph is not None and rec.graph.obsp_key == "connectivities"
    assert rec.graph.digest == nb.graphs["connectivities"].digest
    assert list(rec.reads) == ["obsp['connectivities']"]
    assert rec.reads["obsp['connectivities']"] == nb.writes["obsp['connectivities']"]
    assert list(rec.writes) == [f"obsm[{obsm_key!r}]"]
    assert rec.embedding is not None and rec.embedding.name == obsm_key
    assert rec.embedding.digest == array_digest(embedded.obsm[obsm_key])
    assert rec.graph_edit is None  # neither changes the graph it reads


def test_tsne_names_the_representation_it_read(embedded):
    rec = provenance.latest_step(embedded, "tsne")
    assert (rec.kind, rec.function, rec.graph, rec.neighbors) == (
        "tsne",
        "scanpy.tl.tsne",
        None,
        None,
    )
    assert list(rec.reads) == ["obsm['X_pca']"]
    assert list(rec.writes) == ["obsm['X_tsne']"]
    assert rec.arguments["n_pcs"] == 20
    assert rec.embedding.digest == array_digest(embedded.obsm["X_tsne"])


def test_the_steps_run_in_order_and_the_audit_has_nothing_to_say(embedded):
    kinds = [r.kind for r in provenance.steps(embedded) if r.key != "louvain"]
    assert kinds == ["neighbors", "tsne", "draw_graph", "diffmap", "clustering"]
    findings = [f for f in provenance.audit(embedded).findings if f.key != "louvain"]
    assert findings == []


def test_an_edited_embedding_is_output_changed(embedded):
    adata = embedded.copy()
    adata.obsm["X_diffmap"] = adata.obsm["X_diffmap"] * 2
    adata.obsm["X_tsne"] = adata.obsm["X_tsne"][::-1].copy()
    codes = {(f.code, f.key) for f in provenance.audit(adata).findings}
    assert {("output_changed", "diffmap"), ("output_changed", "tsne")} <= codes
    assert ("output_changed", "draw_graph") not in codes
    (tsne,) = [f for f in provenance.audit(adata).findings if f.key == "tsne"]
    assert tsne.details["rerun"] == "sc.tl.tsne(adata, n_pcs=20)"  # the call that makes it


def test_without_a_pca_the_call_reads_x_and_writes_the_pca_it_made(pbmc):
    # scanpy's neighbors and tsne fall back to a PCA of X. scanpy >= 1.10 runs it through
    # sc.pp.pca, imported at call time: the patched function, recorded inside the call.
    # scanpy 1.9 runs an import of its own on the array X and stores the result: the record
    # of the call that did it says it read X and wrote obsm['X_pca'].
    pbmc = pbmc[:200].copy()
    del pbmc.obsm["X_pca"], pbmc.varm["PCs"]
    pbmc.uns.pop("pca")
    tsne_data = pbmc.copy()
    warns = (
        pytest.warns(UserWarning, match="Falling back")
        if SCANPY >= (1, 10)  # 1.9 logs it, and wraps X in an AnnData the old way
        else pytest.warns(FutureWarning, match="The dtype argument is deprecated")
    )
    with provenance.record(strict=True), warns, _one_thread():
        sc.pp.neighbors(pbmc, n_neighbors=10, n_pcs=20)
        sc.tl.tsne(tsne_data, n_pcs=20)
    for adata, key in ((pbmc, "neighbors"), (tsne_data, "tsne")):
        rec = provenance.latest_step(adata, key)
        assert list(rec.reads) == ["X"], key
        assert rec.writes["obsm['X_pca']"].digest == array_digest(adata.obsm["X_pca"])
        if SCANPY < (1, 10):  # scanpy's own pca of X: written, not recorded on its own
            assert [r.key for r in provenance.steps(adata)] == [key]
            continue
        pca = provenance.latest_step(adata, "pca")
        assert pca.function == "scanpy.pp.pca" and "X" in pca.reads
        assert pca.writes["obsm['X_pca']"] == rec.writes["obsm['X_pca']"]
        # The pca ran inside the call: it started after it and finished before it.
        assert rec.started_at <= pca.started_at and pca.finished_at <= rec.finished_at


def test_key_added_ext_and_copy(pbmc):
    with provenance.record(pbmc, strict=True) as block:
        sc.pp.neighbors(pbmc, n_neighbors=10)
        sc.tl.draw_graph(pbmc, layout="fr", key_added_ext="mine", random_state=1)
        out = sc.tl.diffmap(pbmc, n_comps=5, copy=True)
    assert "X_diffmap" not in pbmc.obsm and "diffmap" not in pbmc.uns
    rec = provenance.latest_step(pbmc, "draw_graph")
    assert rec.embedding.name == "X_draw_graph_mine" and rec.arguments["random_state"] == 1
    copied = provenance.latest_step(out, "diffmap")
    assert copied is block.records[-1] or copied == block.records[-1]
    assert copied.embedding.n_dims == 5
    assert copied.neighbors is not None and copied.neighbors.key == "neighbors"


def test_a_rerun_with_other_arguments_is_a_new_version(embedded):
    adata = embedded.copy()
    with provenance.record(adata, strict=True):
        sc.tl.diffmap(adata, n_comps=8)
        sc.tl.diffmap(adata, n_comps=8)  # the same again: no new version
    history = provenance.step_history(adata, "diffmap")
    assert [r.version for r in history] == [1, 2]
    assert history[1].previous == history[0].digest
    assert history[1].embedding.n_dims == 8
