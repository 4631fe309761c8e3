"""``sc.tl.umap`` recorded (schema 1.5): what it read, what it wrote, the graph it changed.

scanpy 1.11 hands the connectivities to umap-learn uncopied, which zeroes the weakest weights
in place; scanpy 1.12 copies. The verdicts of the audit are rows of the verdict table
(``thing = "umap"``); here: the record itself, the diff it keeps and its cap, and the one
function the graph checks call (``explain_graph_change``). One module-scoped umap run (numba
compiles on the first call).
"""

from __future__ import annotations

from importlib.metadata import version
from typing import TYPE_CHECKING

import numpy as np
import pytest
import scanpy as sc
from conftest import LEIDENALG
from scipy import sparse

import provenance
from provenance._audit.graph_steps import explain_graph_change
from provenance._schema.models import MAX_GRAPH_EDIT, EmbeddingRecord
from provenance._storage.files import AnnDataSource
from provenance._storage.graph import CurrentGraph, graph_info, undo_edits
from provenance._targets import scanpy_umap
from provenance._targets.scanpy_umap import GraphBefore, graph_edit
from provenance._util.fingerprint import array_digest, graph_digest

if TYPE_CHECKING:
    from anndata import AnnData

SCANPY = tuple(int(p) for p in version("scanpy").split(".")[:2])
EDITS_IN_PLACE = (1, 10) <= SCANPY < (1, 12)
"""scanpy 1.10-1.11 pass ``connectivities.tocoo()`` uncopied (umap-learn zeroes weights in it);
1.12 copies. (1.9 passes it uncopied too; whether the graph changes then depends on the
umap-learn and scipy installed, so the tests follow what the record says there.)"""


@pytest.fixture(scope="module")
def after(_pbmc_master: AnnData) -> AnnData:
    """neighbors → leiden → umap, recorded: the PAGA tutorial's order."""
    adata = _pbmc_master.copy()
    with provenance.record(adata):
        sc.pp.neighbors(adata)
        sc.tl.leiden(adata, key_added="leiden", random_state=0, **LEIDENALG)
        sc.tl.umap(adata)
    return adata


def test_the_record_says_what_umap_read_wrote_and_changed(after):
    rec = provenance.latest_step(after, "umap")
    assert isinstance(rec, EmbeddingRecord) and rec.kind == "umap"
    assert rec.function == "scanpy.tl.umap" and rec.schema_version == provenance.SCHEMA_VERSION
    nb = provenance.latest_step(after, "neighbors")
    # What it read: the neighbors record's graph, named as its parent.
    assert rec.neighbors is not None and rec.neighbors.digest == nb.digest
    assert rec.graph is not None and rec.graph.digest == nb.graphs["connectivities"].digest
    assert rec.graph_steps == []
    # What it wrote: obsm['X_umap'], by digest.
    assert rec.embedding is not None and rec.embedding.name == "X_umap"
    assert rec.embedding.digest == array_digest(after.obsm["X_umap"])
    assert rec.embedding.n_dims == 2
    assert "umap-learn" in rec.software.packages
    now = graph_digest(after.obsp["connectivities"].tocsr())
    edit = rec.graph_edit
    if SCANPY >= (1, 12):
        assert edit is None and now == rec.graph.digest
    if EDITS_IN_PLACE:
        assert edit is not None
    if edit is None:
        return
    # The change, exactly: the entries whose weight changed, and their old weights.
    assert edit.digest_before == rec.graph.digest and edit.digest_after == now
    assert edit.same_edges and edit.kept and edit.n_changed == len(edit.rows) > 0
    conn = after.obsp["connectivities"]
    assert all(conn[r, c] == 0 for r, c in zip(edit.rows, edit.cols, strict=True))
    assert all(w > 0 for w in edit.weights_before)
    rebuilt = undo_edits(conn, [edit])
    assert graph_digest(rebuilt) == edit.digest_before


def test_explain_graph_change_is_the_one_decision(after):
    """The function every graph check calls: (src, obsp_key, digest_then, graph now)."""
    src = AnnDataSource(after)
    rec = provenance.latest(after, "leiden")
    current = CurrentGraph(after.obsp["connectivities"], name="connectivities")
    steps = explain_graph_change(src, "connectivities", rec.graph.digest, current)
    umap = provenance.latest_step(after, "umap")
    if umap.graph_edit is None:
        assert steps is None  # nothing changed: nothing to explain
        return
    assert steps is not None and steps.proven
    assert [(k, r.version) for k, r in steps.steps] == [("umap", 1)]
    details = steps.details()
    assert details["step"] == "umap" and details["step_function"] == "scanpy.tl.umap"
    assert details["n_changed"] == umap.graph_edit.n_changed
    assert details["scanpy"] == version("scanpy")
    # By digest alone it is followed too, but not proven.
    by_digest = explain_graph_change(
        src, "connectivities", rec.graph.digest, current.fingerprint().digest
    )
    assert by_digest is not None and not by_digest.proven
    # A digest no recorded step starts from, or another graph now: not explained.
    assert explain_graph_change(src, "connectivities", "xxh3_128_v2:" + "0" * 64, current) is None
    other = after.obsp["connectivities"].copy()
    other.data[:3] = 0.25
    assert explain_graph_change(src, "connectivities", rec.graph.digest, other) is None
    assert explain_graph_change(src, "distances", rec.graph.digest, current) is None
    # The other way round: a record of the graph umap left, and the graph now back to the one
    # before (the neighbors re-made): named as that step, undone, proven.
    before = steps.rebuild(after.obsp["connectivities"])
    back = explain_graph_change(src, "connectivities", umap.graph_edit.digest_after, before)
    assert back is not None and back.undone == (True,) and back.proven
    assert back.details()["steps"][0]["undone"] is True


def test_the_diff_is_capped_and_says_so(after, monkeypatch):
    info = graph_info(after, adjacency=None, obsp="connectivities", neighbors_key=None)
    conn = after.obsp["connectivities"].tocsr(copy=True)
    assert graph_edit(GraphBefore(info, conn.data.copy()), conn) is None
    assert MAX_GRAPH_EDIT == 10_000
    monkeypatch.setattr(scanpy_umap, "MAX_GRAPH_EDIT", 5)  # a small graph over the cap
    many = sparse.random(50, 50, density=0.2, format="csr", random_state=0, dtype=np.float32)
    many.sort_indices()
    info = info.model_copy(update={"digest": graph_digest(many), "obsp_key": "g"})
    before = GraphBefore(info, many.data.copy())
    changed = many.copy()
    changed.data[:6] += 1
    edit = graph_edit(before, changed)
    assert edit is not None and edit.n_changed == 6 and not edit.kept and edit.rows == []
    assert undo_edits(changed, [edit]) is None
    # Under it: kept, and undoing it gives the graph before.
    few = many.copy()
    few.data[[3, 7]] = 0
    edit = graph_edit(before, few)
    assert edit is not None and edit.kept and edit.n_changed == 2
    assert edit.weights_after == [0.0, 0.0]
    assert graph_digest(undo_edits(few, [edit])) == info.digest
    # Other entries: no diff, said so.
    fewer = many.copy()
    fewer.data[0] = 0
    fewer.eliminate_zeros()
    edit = graph_edit(before, fewer)
    assert edit is not None and not edit.same_edges and edit.n_changed is None and not edit.kept


def test_key_added_and_copy(pbmc):
    adata = pbmc
    with provenance.record(adata):
        sc.pp.neighbors(adata)
        kwargs = {"key_added": "umap_b"} if SCANPY >= (1, 10) else {}
        out = sc.tl.umap(adata, min_dist=0.3, copy=True, **kwargs)
    key = kwargs.get("key_added", "umap")
    assert key not in adata.uns  # copy=True: the object passed in is not modified
    rec = provenance.latest_step(out, key)
    assert isinstance(rec, EmbeddingRecord) and rec.arguments["min_dist"] == 0.3
    name = kwargs.get("key_added", "X_umap")
    assert rec.embedding is not None and rec.embedding.name == name
    assert rec.embedding.digest == array_digest(out.obsm[name])
    assert provenance.audit(out).ok
