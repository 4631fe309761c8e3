"""The cases of the verdict table (``provenance/_audit/verdicts.py``): one function per case.

Each case starts from the routine workflow, recorded and signed on pbmc68k_reduced
(:func:`routine_workflow`), makes one change as a user, a tool or an editor of files would, and
returns the object (or the path) to audit. ``tests/test_verdicts.py`` runs every row of the
table on its case and compares the audit's findings with the row's, exactly.
"""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import scanpy as sc
from conftest import LEIDENALG, write_zarr

import provenance
from provenance._storage.codec import encode_history, history_texts
from provenance._storage.index import INDEX_KEY, read_index, update_index
from provenance._util.jsonsafe import canonical_json, digest

if TYPE_CHECKING:
    from collections.abc import Callable
    from pathlib import Path

    from anndata import AnnData

CASES: dict[str, Callable[[Pipeline], Any]] = {}


def case(name: str) -> Callable[[Callable[[Pipeline], Any]], Callable[[Pipeline], Any]]:
    """Register a case under ``name`` (the ``case`` of the table's rows)."""

    def add(f: Callable[[Pipeline], Any]) -> Callable[[Pipeline], Any]:
        CASES[name] = f
        return f

    return add


LEIDEN: dict[str, Any] = {"random_state": 0, **LEIDENALG}
"""How the routine workflow clusters: the leidenalg flavor, seeded (every scanpy has it)."""


def routine_workflow(adata: AnnData, *, sign_with: Path | None) -> AnnData:
    """neighbors → umap → leiden → rank_genes_groups → dendrogram → paga, recorded (and
    signed). On scanpy 1.11 ``sc.tl.umap`` zeroes some graph weights in place: leiden then
    clusters that graph, and its record links to the neighbors record through the umap one.

    pbmc68k_reduced's own unrecorded ``louvain`` clustering is dropped first, so that every
    finding of a row comes from its change.
    """
    del adata.obs["louvain"]
    adata.uns.pop("louvain", None)
    adata.uns.pop("louvain_colors", None)
    with provenance.record(adata, sign_with=sign_with):
        sc.pp.neighbors(adata)
        sc.tl.umap(adata)
        sc.tl.leiden(adata, key_added="leiden", **LEIDEN)
        sc.tl.rank_genes_groups(adata, groupby="leiden", method="wilcoxon")
        sc.tl.dendrogram(adata, groupby="leiden")
        sc.tl.paga(adata, groups="leiden")
    return adata


@dataclass
class Pipeline:
    """What a case gets: the recorded workflow, a directory of its own, the lab's keys."""

    base: AnnData
    tmp: Path
    lab_key: Path
    other_key: Path

    def adata(self) -> AnnData:
        """A fresh copy of the recorded workflow."""
        return self.base.copy()

    def record(self, adata: AnnData) -> provenance.Recording:
        """A recording block as the workflow's (signed with the lab's key)."""
        return provenance.record(adata, sign_with=self.lab_key)

    @property
    def ledger(self) -> Path:
        """The case's ledger of seals (rows audited with ``ledger``)."""
        return self.tmp / "ledger.jsonl"

    def seal(self, adata: AnnData) -> None:
        """Write ``adata`` and seal it into :attr:`ledger` with the lab's key."""
        path = self.tmp / "sealed.h5ad"
        adata.write_h5ad(path)
        provenance.seal(path, key=self.lab_key, ledger=self.ledger)


def rewrite_latest(adata: AnnData, key: str, change: Callable[[dict[str, Any]], None]) -> None:
    """Change the stored JSON of ``key``'s latest record in place (its digest not recomputed)."""
    texts = history_texts(adata.uns[key]["provenance"], key=key)
    obj = json.loads(texts[-1])
    change(obj)
    texts[-1] = canonical_json(obj)
    adata.uns[key]["provenance"] = encode_history(texts)


def _reseal(change: Callable[[dict[str, Any]], None]) -> Callable[[dict[str, Any]], None]:
    """``change``, then the digest recomputed (the signature kept as it was)."""

    def reseal(obj: dict[str, Any]) -> None:
        change(obj)
        signature = obj.pop("signature", None)
        del obj["digest"]
        obj["digest"] = digest(obj)  # the canonical JSON without digest and signature
        obj["signature"] = signature

    return reseal


def forge_latest(
    adata: AnnData,
    key: str,
    change: Callable[[dict[str, Any]], None],
    *,
    repoint: bool = True,
) -> None:
    """What a careful forger does: change the latest record, then recompute its digest, the
    index entry and scanpy's params, so that everything a plain audit compares agrees; with
    ``repoint``, also the results that name the record by digest (markers, dendrogram, PAGA:
    else ``parent_missing``), each re-sealed the same way."""
    old = provenance.latest(adata, key)
    rewrite_latest(adata, key, _reseal(change))
    rec = provenance.latest(adata, key)
    assert old is not None and rec is not None and rec.digest == rec.expected_digest()
    update_index(adata.uns, rec)
    adata.uns[key]["params"]["resolution"] = rec.params.resolution
    if repoint:
        for step in ("rank_genes_groups", f"dendrogram_{key}", "paga"):
            if step in adata.uns:
                _repoint(adata, step, old.digest, rec.digest)


def _repoint(adata: AnnData, step: str, then: str, now: str) -> None:
    """Point the latest record of ``step`` at the record of digest ``now`` instead of ``then``."""

    def change(obj: dict[str, Any]) -> None:
        for use in obj["uses"]:
            if use["record"] is not None and use["record"]["digest"] == then:
                use["record"]["digest"] = now

    rewrite_latest(adata, step, _reseal(change))
    rec = provenance.step_history(adata, step)[-1]
    assert rec.digest == rec.expected_digest()
    update_index(adata.uns, rec)


def _resolution(value: float) -> Callable[[dict[str, Any]], None]:
    def change(obj: dict[str, Any]) -> None:
        obj["params"]["resolution"] = value

    return change


# --- a whole workflow ---------------------------------------------------------------------


@case("routine")
def routine(p: Pipeline) -> AnnData:
    return p.adata()


@case("copy_zarr")
def copy_zarr(p: Pipeline) -> AnnData:
    import anndata as ad

    path = p.tmp / "copy.zarr"
    write_zarr(p.adata().copy(), path)
    return ad.read_zarr(path)


# --- labels ---------------------------------------------------------------------------------


@case("reorder_categories")
def reorder_categories(p: Pipeline) -> AnnData:
    adata = p.adata()
    col = adata.obs["leiden"]
    cats = list(col.cat.categories)
    adata.obs["leiden"] = col.cat.reorder_categories(cats[::-1]).cat.add_categories(["unused"])
    return adata


@case("reassign_cells")
def reassign_cells(p: Pipeline) -> AnnData:
    adata = p.adata()
    col = adata.obs["leiden"].copy()
    first, second = col.cat.categories[:2]
    col.iloc[np.flatnonzero(col == first)[:10]] = second
    adata.obs["leiden"] = col
    return adata


@case("nan_labels")
def nan_labels(p: Pipeline) -> AnnData:
    adata = p.adata()
    col = adata.obs["leiden"].copy()
    col.iloc[:5] = np.nan
    adata.obs["leiden"] = col
    return adata


@case("delete_labels")
def delete_labels(p: Pipeline) -> AnnData:
    adata = p.adata()
    del adata.obs["leiden"]
    return adata


@case("rerun_leiden_same")
def rerun_leiden_same(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.tl.leiden(adata, key_added="leiden", **LEIDEN)
    return adata


@case("rerun_leiden_other")
def rerun_leiden_other(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.tl.leiden(adata, key_added="leiden", resolution=0.5, **LEIDEN)
    return adata


@case("rerun_leiden_unrecorded")
def rerun_leiden_unrecorded(p: Pipeline) -> AnnData:
    adata = p.adata()
    sc.tl.leiden(adata, key_added="leiden", resolution=0.5, **LEIDEN)
    return adata


@case("rename_categories")
def rename_categories(p: Pipeline) -> AnnData:
    adata = p.adata()
    # anndata renames the markers' record arrays too, by setting dtype.names: a dtype the
    # copy shares with the workflow's arrays. Fresh dtypes keep the other cases' workflow whole.
    rgg = adata.uns["rank_genes_groups"]
    for name, value in rgg.items():
        if getattr(getattr(value, "dtype", None), "names", None):
            rgg[name] = value.astype(np.dtype(value.dtype.descr))
    # As scanpy's pbmc3k tutorial names its clusters.
    adata.rename_categories("leiden", [f"C{c}" for c in adata.obs["leiden"].cat.categories])
    return adata


@case("tutorial_to_file")
def tutorial_to_file(p: Pipeline) -> AnnData:
    """The whole routine: the workflow, clusters renamed to cell types, a subset of them kept,
    saved (the row audits the file)."""
    adata = rename_categories(p)
    keep = adata.obs["leiden"].isin(list(adata.obs["leiden"].cat.categories[:3]))
    return adata[keep.to_numpy()].copy()


@case("swap_names")
def swap_names(p: Pipeline) -> AnnData:
    adata = p.adata()
    adata.obs["leiden"] = adata.obs["leiden"].cat.rename_categories({"0": "1", "1": "0"})
    return adata


@case("subset_recluster")
def subset_recluster(p: Pipeline) -> AnnData:
    """A subset re-clustered under the same key, the results of the whole object kept."""
    adata = p.adata()
    sub = adata[adata.obs["leiden"].isin(["0", "1", "2"]).to_numpy()].copy()
    with p.record(sub):
        sc.pp.neighbors(sub)
        sc.tl.leiden(sub, key_added="leiden", **LEIDEN)
    return sub


@case("rerun_as_advised")
def rerun_as_advised(p: Pipeline) -> AnnData:
    """Re-cluster at another resolution, then run each stale result's advice as printed."""
    adata = rerun_leiden_other(p)
    advice = [f.details["rerun"] for f in provenance.audit(adata).findings]
    assert len(advice) == 3 and "method='wilcoxon'" in advice[0], advice
    with p.record(adata):
        for call in advice:
            eval(call, {"sc": sc, "adata": adata})  # the advice, run as printed
    return adata


@case("unrecorded_clustering")
def unrecorded_clustering(p: Pipeline) -> AnnData:
    adata = p.adata()
    sc.tl.leiden(adata, key_added="plain", resolution=0.5, **LEIDEN)
    return adata


# --- the cells ------------------------------------------------------------------------------


@case("reorder_cells")
def reorder_cells(p: Pipeline) -> AnnData:
    adata = p.adata()
    return adata[np.random.default_rng(0).permutation(adata.n_obs)].copy()


@case("subsample_cells")
def subsample_cells(p: Pipeline) -> AnnData:
    return sc.pp.subsample(p.adata(), n_obs=339, random_state=0, copy=True)


@case("transpose")
def transpose(p: Pipeline) -> AnnData:
    return p.adata().T


# --- the graph and its step -----------------------------------------------------------------


@case("edit_graph")
def edit_graph(p: Pipeline) -> AnnData:
    adata = p.adata()
    conn = adata.obsp["connectivities"].tocsr(copy=True)
    conn.data[:500] = 0.5
    adata.obsp["connectivities"] = conn
    adata.obsp["distances"] = adata.obsp["distances"] * 2
    return adata


@case("delete_graph")
def delete_graph(p: Pipeline) -> AnnData:
    adata = p.adata()
    del adata.obsp["connectivities"]
    return adata


@case("rerun_neighbors_other")
def rerun_neighbors_other(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.pp.neighbors(adata, n_neighbors=10)
    return adata


@case("rerun_neighbors_same")
def rerun_neighbors_same(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.pp.neighbors(adata)
    return adata


@case("delete_neighbors_record")
def delete_neighbors_record(p: Pipeline) -> AnnData:
    adata = p.adata()
    del adata.uns["neighbors"]["provenance"]
    index = read_index(adata.uns)
    del index["neighbors"]
    adata.uns[INDEX_KEY] = canonical_json({"schema_version": "1.0", "keys": index})
    return adata


# --- sc.tl.umap: its output, and the graph it may change in place ----------------------------

_AFTER: list[AnnData] = []


def _umap_after_clustering(p: Pipeline) -> AnnData:
    """The PAGA tutorial's order, recorded: neighbors → leiden → paga → umap (built once).

    On scanpy 1.11 the umap call changes the graph leiden and PAGA read; its record says how.
    """
    if not _AFTER:
        adata = p.adata()
        for key in ("leiden", "rank_genes_groups", "dendrogram_leiden", "paga", "umap"):
            adata.uns.pop(key, None)
        del adata.obs["leiden"], adata.obsm["X_umap"], adata.uns[INDEX_KEY]
        with p.record(adata):
            sc.pp.neighbors(adata)
            sc.tl.leiden(adata, key_added="leiden", **LEIDEN)
            sc.tl.paga(adata, groups="leiden")
            sc.tl.umap(adata)
        _AFTER.append(adata)
    return _AFTER[0].copy()


@case("umap_after_clustering")
def umap_after_clustering(p: Pipeline) -> AnnData:
    return _umap_after_clustering(p)


@case("umap_lineage")
def umap_lineage(p: Pipeline) -> AnnData:
    adata = p.adata()
    leiden = provenance.latest(adata, "leiden")
    umap = provenance.latest_step(adata, "umap")
    assert leiden is not None and umap is not None and leiden.neighbors is not None
    assert leiden.neighbors.key == "neighbors"
    edges = provenance.lineage(adata).edges
    assert ("neighbors", "umap") in edges
    if umap.graph_edit is not None:  # scanpy 1.11: leiden clustered the graph umap left
        assert [r.key for r in leiden.graph_steps] == ["umap"]
        assert ("umap", "leiden") in edges and ("neighbors", "leiden") not in edges
    else:  # scanpy >= 1.12 copies: leiden clustered the neighbors record's graph
        assert leiden.graph_steps == [] and ("neighbors", "leiden") in edges
    return adata


@case("edit_umap")
def edit_umap(p: Pipeline) -> AnnData:
    adata = p.adata()
    adata.obsm["X_umap"] = adata.obsm["X_umap"] * 2
    return adata


@case("delete_umap_output")
def delete_umap_output(p: Pipeline) -> AnnData:
    adata = p.adata()
    del adata.obsm["X_umap"]
    return adata


@case("rerun_umap_other")
def rerun_umap_other(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.tl.umap(adata, min_dist=0.3)
    assert len(provenance.step_history(adata, "umap")) == 2
    return adata


@case("rerun_umap_unrecorded")
def rerun_umap_unrecorded(p: Pipeline) -> AnnData:
    adata = p.adata()
    sc.tl.umap(adata, min_dist=0.3)
    return adata


@case("delete_umap_record_after_clustering")
def delete_umap_record_after_clustering(p: Pipeline) -> AnnData:
    adata = _umap_after_clustering(p)
    del adata.uns["umap"]["provenance"]
    index = read_index(adata.uns)
    del index["umap"]
    adata.uns[INDEX_KEY] = canonical_json({"schema_version": "1.0", "keys": index})
    return adata


@case("edit_graph_after_umap")
def edit_graph_after_umap(p: Pipeline) -> AnnData:
    adata = _umap_after_clustering(p)
    conn = adata.obsp["connectivities"].tocsr(copy=True)
    conn.data[:5] = 0.5
    adata.obsp["connectivities"] = conn
    return adata


# --- the representation ---------------------------------------------------------------------


@case("rerun_pca")
def rerun_pca(p: Pipeline) -> AnnData:
    adata = p.adata()
    sc.pp.pca(adata, n_comps=20)
    return adata


# --- results --------------------------------------------------------------------------------


@case("repoint_step_params")
def repoint_step_params(p: Pipeline) -> AnnData:
    """scanpy's copies of the steps' arguments pointed elsewhere (what its plots read)."""
    adata = p.adata()
    adata.uns["rank_genes_groups"]["params"]["groupby"] = "bulk_labels"
    adata.uns["paga"]["groups"] = "bulk_labels"
    adata.uns["dendrogram_leiden"]["groupby"] = ["bulk_labels"]
    adata.uns["neighbors"]["params"]["n_neighbors"] = 50
    return adata


@case("rerun_markers_other")
def rerun_markers_other(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.tl.rank_genes_groups(adata, groupby="leiden", method="t-test")
    return adata


@case("delete_markers")
def delete_markers(p: Pipeline) -> AnnData:
    adata = p.adata()
    del adata.uns["rank_genes_groups"]
    return adata


@case("edit_markers")
def edit_markers(p: Pipeline) -> AnnData:
    adata = p.adata()
    scores = adata.uns["rank_genes_groups"]["scores"].copy()
    scores[scores.dtype.names[0]] *= -1
    adata.uns["rank_genes_groups"]["scores"] = scores
    return adata


def _filtered(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.tl.filter_rank_genes_groups(adata)
    return adata


@case("edit_filtered_markers")
def edit_filtered_markers(p: Pipeline) -> AnnData:
    adata = _filtered(p)
    names = adata.uns["rank_genes_groups_filtered"]["names"].copy()
    names[names.dtype.names[0]] = "CD3E"
    adata.uns["rank_genes_groups_filtered"]["names"] = names
    return adata


@case("rerun_markers_under_filter")
def rerun_markers_under_filter(p: Pipeline) -> AnnData:
    adata = _filtered(p)
    with p.record(adata):
        sc.tl.rank_genes_groups(adata, groupby="leiden", method="t-test")
    return adata


@case("rerun_filter_other")
def rerun_filter_other(p: Pipeline) -> AnnData:
    adata = _filtered(p)
    with p.record(adata):
        sc.tl.filter_rank_genes_groups(adata, min_fold_change=2)
    return adata


@case("plot_dendrogram_then_recluster")
def plot_dendrogram_then_recluster(p: Pipeline) -> AnnData:
    """A plot computes the dendrogram (scanpy reaches sc.tl.dendrogram through its own
    module), then the labels are re-clustered: the plot's dendrogram is stale like the rest."""
    import matplotlib as mpl

    mpl.use("Agg")
    import matplotlib.pyplot as plt
    from _audit_data import forget

    adata = p.adata()
    forget(adata, "dendrogram_leiden", entry=True)  # as if none had been computed
    with p.record(adata):
        sc.pl.dotplot(adata, ["CD3E", "CD79A"], groupby="leiden", dendrogram=True, show=False)
        plt.close("all")
        assert "provenance" in adata.uns["dendrogram_leiden"]  # recorded, as sc.tl.dendrogram
        sc.tl.leiden(adata, key_added="leiden", resolution=0.5, **LEIDEN)
    return adata


@case("rerun_dendrogram_other")
def rerun_dendrogram_other(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.tl.dendrogram(adata, groupby="leiden", linkage_method="average")
    return adata


@case("delete_dendrogram")
def delete_dendrogram(p: Pipeline) -> AnnData:
    adata = p.adata()
    del adata.uns["dendrogram_leiden"]
    return adata


@case("edit_dendrogram")
def edit_dendrogram(p: Pipeline) -> AnnData:
    adata = p.adata()
    order = list(adata.uns["dendrogram_leiden"]["categories_ordered"])
    adata.uns["dendrogram_leiden"]["categories_ordered"] = order[::-1]
    return adata


@case("rerun_paga_other")
def rerun_paga_other(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.tl.paga(adata, groups="leiden", model="v1.0")
    return adata


@case("delete_paga")
def delete_paga(p: Pipeline) -> AnnData:
    adata = p.adata()
    del adata.uns["paga"]
    return adata


@case("edit_paga")
def edit_paga(p: Pipeline) -> AnnData:
    adata = p.adata()
    adata.uns["paga"]["connectivities"] = adata.uns["paga"]["connectivities"] * 2
    return adata


@case("unrecorded_markers_stale")
def unrecorded_markers_stale(p: Pipeline) -> AnnData:
    adata = p.adata()
    sc.tl.rank_genes_groups(adata, groupby="leiden", method="t-test", key_added="plain")
    with p.record(adata):
        sc.tl.leiden(adata, key_added="leiden", resolution=0.2, **LEIDEN)
    assert adata.obs["leiden"].nunique() < len(adata.uns["plain"]["names"][0])
    return adata


# --- restrict_to ----------------------------------------------------------------------------


def restricted(p: Pipeline) -> AnnData:
    """The workflow, then ``leiden``'s clusters 0 and 1 sub-clustered into ``sub``, recorded."""
    adata = p.adata()
    with p.record(adata):
        sc.tl.leiden(adata, restrict_to=("leiden", ["0", "1"]), key_added="sub", **LEIDEN)
    return adata


@case("restrict_made")
def restrict_made(p: Pipeline) -> AnnData:
    return restricted(p)


@case("restrict_parent_reclustered")
def restrict_parent_reclustered(p: Pipeline) -> AnnData:
    adata = restricted(p)
    with p.record(adata):
        sc.tl.leiden(adata, key_added="leiden", resolution=0.5, **LEIDEN)
    return adata


@case("restrict_parent_reassigned")
def restrict_parent_reassigned(p: Pipeline) -> AnnData:
    adata = restricted(p)
    col = adata.obs["leiden"].copy()
    col.iloc[np.flatnonzero(col == "0")[:10]] = "2"  # cells out of the restricted clusters
    adata.obs["leiden"] = col
    return adata


@case("restrict_parent_renamed")
def restrict_parent_renamed(p: Pipeline) -> AnnData:
    adata = restricted(p)
    adata.obs["leiden"] = adata.obs["leiden"].cat.rename_categories(lambda c: f"C{c}")
    return adata


@case("restrict_parent_reordered")
def restrict_parent_reordered(p: Pipeline) -> AnnData:
    adata = restricted(p)
    col = adata.obs["leiden"]
    adata.obs["leiden"] = col.cat.reorder_categories(list(col.cat.categories)[::-1])
    return adata


@case("restrict_subset")
def restrict_subset(p: Pipeline) -> AnnData:
    adata = restricted(p)
    return adata[adata.obs["leiden"].isin(["0", "2", "3"]).to_numpy()].copy()


@case("restrict_parent_deleted")
def restrict_parent_deleted(p: Pipeline) -> AnnData:
    adata = restricted(p)
    del adata.obs["leiden"]
    return adata


# --- the record -----------------------------------------------------------------------------


@case("edit_record")
def edit_record(p: Pipeline) -> AnnData:
    adata = p.adata()
    rewrite_latest(adata, "leiden", _resolution(0.3))
    return adata


def _rolled_back(p: Pipeline) -> AnnData:
    """v2 recorded at another resolution, then the history, the labels and scanpy's entry
    put back as they were at v1 (the index left saying v2)."""
    adata = p.adata()
    labels, entry = adata.obs["leiden"].copy(), copy.deepcopy(adata.uns["leiden"])
    with p.record(adata):
        sc.tl.leiden(adata, key_added="leiden", resolution=0.5, **LEIDEN)
    texts = history_texts(adata.uns["leiden"]["provenance"], key="leiden")
    entry["provenance"] = encode_history(texts[:1])
    adata.obs["leiden"], adata.uns["leiden"] = labels, entry  # scanpy's params (modularity)
    return adata


@case("rollback_history")
def rollback_history(p: Pipeline) -> AnnData:
    return _rolled_back(p)


@case("rollback_history_and_index")
def rollback_history_and_index(p: Pipeline) -> AnnData:
    adata = _rolled_back(p)
    rec = provenance.latest(adata, "leiden")
    assert rec is not None and rec.version == 1
    update_index(adata.uns, rec)
    return adata


@case("delete_history")
def delete_history(p: Pipeline) -> AnnData:
    adata = p.adata()
    del adata.uns["leiden"]["provenance"]
    return adata


@case("copy_history")
def copy_history(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.tl.leiden(adata, key_added="leiden_copy", resolution=0.5, **LEIDEN)
    adata.uns["leiden_copy"]["provenance"] = adata.uns["leiden"]["provenance"]
    return adata


@case("newer_schema")
def newer_schema(p: Pipeline) -> AnnData:
    adata = p.adata()
    adata.uns["leiden"]["provenance"]["schema_version"] = "9.0"
    return adata


@case("edit_scanpy_params")
def edit_scanpy_params(p: Pipeline) -> AnnData:
    adata = p.adata()
    adata.uns["leiden"]["params"]["resolution"] = 0.3
    return adata


@case("forge_record")
def forge_record(p: Pipeline) -> AnnData:
    adata = p.adata()
    forge_latest(adata, "leiden", _resolution(0.3))
    return adata


@case("adjacency_clustering")
def adjacency_clustering(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.tl.leiden(
            adata, adjacency=adata.obsp["connectivities"].copy(), key_added="adj", **LEIDEN
        )
    return adata


@case("legacy_fixed_key")
def legacy_fixed_key(p: Pipeline) -> AnnData:
    adata = p.adata()
    # What scanpy <= 1.9 left after sc.tl.louvain(adata, key_added="leiden"): its params at the
    # fixed key, whatever key_added was.
    adata.uns["louvain"] = {"params": {"resolution": 1.0, "random_state": 0}}
    return adata


@case("unseeded")
def unseeded(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.tl.leiden(adata, key_added="unseeded", random_state=None, **LEIDENALG)
    return adata


# --- the index ------------------------------------------------------------------------------


@case("garbage_index")
def garbage_index(p: Pipeline) -> AnnData:
    adata = p.adata()
    adata.uns[INDEX_KEY] = "not json"
    return adata


# --- signatures -----------------------------------------------------------------------------


@case("signed")
def signed(p: Pipeline) -> AnnData:
    return p.adata()


@case("unsign")
def unsign(p: Pipeline) -> AnnData:
    adata = p.adata()

    def strip(obj: dict[str, Any]) -> None:
        obj["signature"] = None

    rewrite_latest(adata, "leiden", strip)
    return adata


@case("forge_signed")
def forge_signed(p: Pipeline) -> AnnData:
    adata = p.adata()
    forge_latest(adata, "leiden", _resolution(0.3))
    return adata


@case("resign_other_key")
def resign_other_key(p: Pipeline) -> AnnData:
    from provenance._record.history_call import sign
    from provenance._storage.codec import decode_record, encode_record
    from provenance._util.signing import load_signer

    adata = p.adata()
    texts = history_texts(adata.uns["leiden"]["provenance"], key="leiden")
    rec = decode_record(texts[-1], key="leiden", index=len(texts) - 1)
    resigned = sign(rec.model_copy(update={"signature": None}), load_signer(p.other_key))
    adata.uns["leiden"]["provenance"] = encode_history([*texts[:-1], encode_record(resigned)])
    return adata


def _strip(obj: dict[str, Any]) -> None:
    obj["signature"] = None  # outside the digest: the chain holds without it


@case("append_unsigned")
def append_unsigned(p: Pipeline) -> AnnData:
    adata = p.adata()
    with provenance.record(adata):  # no key: every version it adds is unsigned
        sc.tl.leiden(adata, key_added="leiden", resolution=0.5, **LEIDEN)
        sc.tl.rank_genes_groups(adata, groupby="leiden", method="wilcoxon")
        sc.tl.dendrogram(adata, groupby="leiden")
        sc.tl.paga(adata, groups="leiden")
    return adata


@case("unsign_neighbors")
def unsign_neighbors(p: Pipeline) -> AnnData:
    adata = p.adata()
    rewrite_latest(adata, "neighbors", _strip)
    return adata


@case("unsigned_step")
def unsigned_step(p: Pipeline) -> AnnData:
    adata = p.adata()
    with provenance.record(adata):  # a new step key, recorded without the key
        sc.tl.rank_genes_groups(adata, groupby="leiden", method="t-test", key_added="markers_t")
    return adata


@case("forge_unseeded_unsigned")
def forge_unseeded_unsigned(p: Pipeline) -> AnnData:
    """The issue's forger: params edited, ``random_state=None`` so that a re-run proves
    nothing, digests recomputed, and every signature he could not remake removed."""
    adata = p.adata()

    def change(obj: dict[str, Any]) -> None:
        obj["params"]["resolution"] = 0.3
        obj["params"]["random_state"] = None

    forge_latest(adata, "leiden", change)
    adata.uns["leiden"]["params"]["random_state"] = None
    for key in ("leiden", "rank_genes_groups", "dendrogram_leiden", "paga"):
        rewrite_latest(adata, key, _strip)
    return adata


# --- a step's own outputs, its parents, other software (verdict-steps) ----------------------


@case("edit_distances")
def edit_distances(p: Pipeline) -> AnnData:
    adata = p.adata()
    adata.obsp["distances"] = adata.obsp["distances"] * 2  # nothing clustered reads them
    return adata


@case("delete_distances")
def delete_distances(p: Pipeline) -> AnnData:
    adata = p.adata()
    del adata.obsp["distances"]
    return adata


def _forget(adata: AnnData, key: str, *, entry: bool = False) -> None:
    """``key``'s history (``entry``: the whole ``uns[key]``) and its index entry deleted."""
    if entry:
        del adata.uns[key]
    else:
        del adata.uns[key]["provenance"]
    index = read_index(adata.uns)
    del index[key]
    adata.uns[INDEX_KEY] = canonical_json({"schema_version": "1.0", "keys": index})


@case("delete_neighbors_entry")
def delete_neighbors_entry(p: Pipeline) -> AnnData:
    adata = p.adata()
    _forget(adata, "neighbors", entry=True)
    return adata


@case("replace_neighbors_history")
def replace_neighbors_history(p: Pipeline) -> AnnData:
    adata = p.adata()
    _forget(adata, "neighbors", entry=True)
    with p.record(adata):
        sc.pp.neighbors(adata)  # the same graph, in a history that starts anew
    return adata


@case("delete_leiden_record")
def delete_leiden_record(p: Pipeline) -> AnnData:
    adata = p.adata()
    _forget(adata, "leiden")
    return adata


@case("rerun_neighbors_unrecorded")
def rerun_neighbors_unrecorded(p: Pipeline) -> AnnData:
    adata = p.adata()
    sc.pp.neighbors(adata)  # scanpy replaces uns["neighbors"], history and all
    return adata


def _other_stack(p: Pipeline, packages: dict[str, str]) -> AnnData:
    """A clustering whose labels are real scanpy output for ``random_state=1`` and whose record
    says ``random_state=0`` under ``packages``: what a file made under another igraph looks
    like when the installed one gives other labels for the recorded call."""
    adata = p.adata()
    with p.record(adata):
        sc.tl.leiden(adata, key_added="other_stack", random_state=1, **LEIDENALG)

    def change(obj: dict[str, Any]) -> None:
        obj["params"]["random_state"] = 0
        obj["software"]["packages"].update(packages)

    forge_latest(adata, "other_stack", change)
    adata.uns["other_stack"]["params"]["random_state"] = 0
    return adata


@case("other_igraph_scanpy")
def other_igraph_scanpy(p: Pipeline) -> AnnData:
    return _other_stack(p, {"igraph": "0.11.8", "scanpy": "1.10.4"})


@case("other_pandas")
def other_pandas(p: Pipeline) -> AnnData:
    return _other_stack(p, {"pandas": "1.5.3"})


@case("legacy_file")
def legacy_file(p: Pipeline) -> Path:
    """A file recorded under scanpy 1.9.8 / numpy 1.26 (``tests/data/legacy``)."""
    from pathlib import Path

    return Path(__file__).parent / "data" / "legacy" / "recorded.h5ad"


@case("forge_record_only")
def forge_record_only(p: Pipeline) -> AnnData:
    """The forgery of ``forge_record`` without re-pointing the results that name the record."""
    adata = p.adata()
    forge_latest(adata, "leiden", _resolution(0.3), repoint=False)
    return adata


# --- across objects: subsets, copies, subsample, concatenation ------------------------------


def _subset(p: Pipeline) -> AnnData:
    """Three clusters kept, ``adata[mask].copy()``."""
    adata = p.adata()
    return adata[adata.obs["leiden"].isin(adata.obs["leiden"].cat.categories[:3])].copy()


def _reclustered(p: Pipeline, sub: AnnData) -> AnnData:
    """Re-clustered and its markers re-made under the same keys: the records made on the
    subset name the 700-cell parent."""
    with p.record(sub):
        sc.pp.neighbors(sub)
        sc.tl.leiden(sub, key_added="leiden", **LEIDEN)
        sc.tl.rank_genes_groups(sub, groupby="leiden", method="wilcoxon")
    return sub


def _whole_workflow(p: Pipeline, adata: AnnData) -> AnnData:
    """The routine workflow re-made on ``adata`` (the same keys)."""
    with p.record(adata):
        sc.pp.neighbors(adata)
        sc.tl.umap(adata)
        sc.tl.leiden(adata, key_added="leiden", **LEIDEN)
        sc.tl.rank_genes_groups(adata, groupby="leiden", method="wilcoxon")
        sc.tl.dendrogram(adata, groupby="leiden")
        sc.tl.paga(adata, groups="leiden")
    return adata


@case("subset_recluster_markers")
def subset_recluster_markers(p: Pipeline) -> AnnData:
    return _reclustered(p, _subset(p))


@case("subset_workflow")
def subset_workflow(p: Pipeline) -> AnnData:
    return _whole_workflow(p, _subset(p))


@case("subsample_workflow")
def subsample_workflow(p: Pipeline) -> AnnData:
    adata = p.adata()
    with p.record(adata):
        sc.pp.subsample(adata, n_obs=300, random_state=0)
    return _whole_workflow(p, adata)


@case("copy_recluster")
def copy_recluster(p: Pipeline) -> AnnData:
    """``adata.copy()`` re-clustered and its results re-made: the same cells, no parent."""
    adata = p.adata().copy()
    with p.record(adata):
        sc.tl.leiden(adata, key_added="leiden", resolution=0.5, **LEIDEN)
        sc.tl.rank_genes_groups(adata, groupby="leiden", method="wilcoxon")
        sc.tl.dendrogram(adata, groupby="leiden")
        sc.tl.paga(adata, groups="leiden")
    return adata


def _delete_version(adata: AnnData, key: str, version: int) -> None:
    texts = history_texts(adata.uns[key]["provenance"], key=key)
    del texts[version - 1]
    adata.uns[key]["provenance"] = encode_history(texts)


@case("subset_parent_deleted")
def subset_parent_deleted(p: Pipeline) -> AnnData:
    """The subset's ``leiden`` history without its first version, the parent's record."""
    sub = _whole_workflow(p, _subset(p))
    _delete_version(sub, "leiden", 1)
    return sub


@case("subset_parent_edited")
def subset_parent_edited(p: Pipeline) -> AnnData:
    """The parent's record in the subset's ``leiden`` history edited (resolution)."""
    sub = _whole_workflow(p, _subset(p))
    texts = history_texts(sub.uns["leiden"]["provenance"], key="leiden")
    obj = json.loads(texts[0])
    obj["params"]["resolution"] = 0.3
    texts[0] = canonical_json(obj)
    sub.uns["leiden"]["provenance"] = encode_history(texts)
    return sub


def _concatenated(p: Pipeline, **kwargs: Any) -> AnnData:
    """Two halves of the cells, each clustered inside ``record()`` as objects of their own,
    joined by ``anndata.concat`` and clustered again with their markers."""
    import anndata as ad

    base = p.adata()
    parts = {}
    for name, cells in (("a", slice(0, 350)), ("b", slice(350, None))):
        # raw: log-normalised (X is scaled: the markers' fold changes need the former)
        part = ad.AnnData(base.raw.X[cells], obs=base.obs[cells][[]], var=base.raw.var[[]])
        part.obsm["X_pca"] = base.obsm["X_pca"][cells]
        with p.record(part):
            sc.pp.neighbors(part)
            sc.tl.leiden(part, key_added="leiden", **LEIDEN)
        parts[name] = part
    with provenance.record():
        joined = ad.concat(parts, label="batch", **kwargs)
    with p.record(joined):
        sc.pp.neighbors(joined)
        sc.tl.leiden(joined, key_added="leiden", **LEIDEN)
        sc.tl.rank_genes_groups(joined, groupby="leiden", method="wilcoxon")
    return joined


@case("concat_cluster")
def concat_cluster(p: Pipeline) -> AnnData:
    return _concatenated(p)


@case("concat_outer_cluster")
def concat_outer_cluster(p: Pipeline) -> AnnData:
    return _concatenated(p, join="outer", index_unique="-")


@case("concat_edited")
def concat_edited(p: Pipeline) -> AnnData:
    """A part's size edited in the concat record, its digest left."""
    joined = _concatenated(p)

    def change(obj: dict[str, Any]) -> None:
        obj["parts"][0]["n_obs"] = 300

    rewrite_latest(joined, "concat", change)
    return joined


@case("concat_forged")
def concat_forged(p: Pipeline) -> AnnData:
    """A part dropped from the concat record, its digest and the index recomputed."""
    joined = _concatenated(p)

    def change(obj: dict[str, Any]) -> None:
        del obj["parts"][1]

    rewrite_latest(joined, "concat", _reseal(change))
    update_index(joined.uns, provenance.step_history(joined, "concat")[-1])
    return joined


@case("concat_deleted")
def concat_deleted(p: Pipeline) -> AnnData:
    joined = _concatenated(p)
    _forget(joined, "concat", entry=True)
    return joined


@case("subset_unrecorded_markers")
def subset_unrecorded_markers(p: Pipeline) -> AnnData:
    """Markers made without ``record()`` on the whole object, then three clusters kept:
    ``adata[mask].copy()`` drops the categories of the cells left out."""
    adata = p.adata()
    sc.tl.rank_genes_groups(adata, groupby="leiden", method="t-test", key_added="markers")
    return _subset(p.__class__(adata, p.tmp, p.lab_key, p.other_key))


# --- the whole pipeline, from counts (transforms: sc.pp.*) ------------------------------------

_COUNTS: list[AnnData] = []


def counts_pipeline(p: Pipeline) -> AnnData:
    """A fresh copy of the whole pipeline on synthetic counts (``tests/_counts.py``: filters,
    ``layers['counts']`` and ``raw`` set by hand, normalize_total → log1p → hvg → scale → pca →
    neighbors → umap → leiden → markers → dendrogram → PAGA), recorded once per session."""
    from _counts import counts, run

    if not _COUNTS:
        adata = counts()
        with p.record(adata):
            run(adata)
        _COUNTS.append(adata)
    return _COUNTS[0].copy()


@case("counts_routine")
def counts_routine(p: Pipeline) -> AnnData:
    return counts_pipeline(p)


@case("counts_zarr")
def counts_zarr(p: Pipeline) -> AnnData:
    import anndata as ad

    path = p.tmp / "counts.zarr"
    write_zarr(counts_pipeline(p), path)
    return ad.read_zarr(path)


@case("rerun_pca_other")
def rerun_pca_other(p: Pipeline) -> AnnData:
    adata = counts_pipeline(p)
    with p.record(adata):
        sc.pp.pca(adata, n_comps=10)
    return adata


@case("rerun_pca_same")
def rerun_pca_same(p: Pipeline) -> AnnData:
    from _counts import DOWNSTREAM, run

    adata = counts_pipeline(p)
    with p.record(adata):
        run(adata, ["pca", *DOWNSTREAM])  # a notebook re-executed from the PCA on
    return adata


@case("rerun_pca_and_after")
def rerun_pca_and_after(p: Pipeline) -> AnnData:
    from _counts import DOWNSTREAM, run

    adata = counts_pipeline(p)
    with p.record(adata):
        sc.pp.pca(adata, n_comps=10)
        run(adata, DOWNSTREAM)
    return adata


@case("edit_x_between")
def edit_x_between(p: Pipeline) -> AnnData:
    from _counts import STEPS, counts, run

    names = list(STEPS)
    adata = counts()
    with p.record(adata):
        run(adata, names[: names.index("hvg")])
        adata.X = adata.X * 2  # by hand, between log1p and highly_variable_genes
        run(adata, names[names.index("hvg") :])
    return adata


@case("edit_x_after")
def edit_x_after(p: Pipeline) -> AnnData:
    adata = counts_pipeline(p)
    adata.X[:5] = 0
    return adata


@case("edit_pca_output")
def edit_pca_output(p: Pipeline) -> AnnData:
    adata = counts_pipeline(p)
    adata.obsm["X_pca"][:, 0] *= -1  # a sign flip, as some alignments do
    return adata


@case("delete_transform_record")
def delete_transform_record(p: Pipeline) -> AnnData:
    adata = counts_pipeline(p)
    _forget(adata, "log1p")
    return adata


@case("delete_transform_history_indexed")
def delete_transform_history_indexed(p: Pipeline) -> AnnData:
    """``del uns['log1p']['provenance']`` by hand: scanpy's ``uns['log1p']`` and the index
    entry stay."""
    adata = counts_pipeline(p)
    del adata.uns["log1p"]["provenance"]
    return adata


@case("delete_transform_entry_indexed")
def delete_transform_entry_indexed(p: Pipeline) -> AnnData:
    """``del uns['hvg']`` by hand; pca read the ``var['highly_variable']`` hvg wrote."""
    adata = counts_pipeline(p)
    del adata.uns["hvg"]
    return adata


@case("edit_x_before_pca")
def edit_x_before_pca(p: Pipeline) -> AnnData:
    """``X`` doubled by hand between hvg and pca, then the pipeline on: one change."""
    from _counts import counts

    adata = counts()
    with p.record(adata):
        sc.pp.normalize_total(adata)
        sc.pp.log1p(adata)
    adata.X = adata.X * 2
    with p.record(adata):
        sc.pp.pca(adata, n_comps=10)
    return adata


@case("x_set_from_counts_layer")
def x_set_from_counts_layer(p: Pipeline) -> AnnData:
    """``X = layers['counts'].copy()`` between two steps, ``layers['counts']`` as a record
    wrote it (``normalize_total(layer='counts')``): the chain links it."""
    from _counts import counts

    adata = counts()
    adata.layers["counts"] = adata.X.copy()
    with p.record(adata):
        sc.pp.normalize_total(adata)
        sc.pp.normalize_total(adata, layer="counts", target_sum=1e4)
        adata.X = adata.layers["counts"].copy()
        sc.pp.log1p(adata)
    return adata


# --- sc.tl.tsne, draw_graph, diffmap: embeddings, recorded as umap is -------------------------

_EMBEDDED: list[AnnData] = []
# The embedding kinds: the obsm matrix each writes in _embedded, and a re-run with other
# arguments.
_EMBEDDINGS: dict[str, tuple[str, Callable[[AnnData], Any]]] = {
    "tsne": ("X_tsne", lambda a: sc.tl.tsne(a, n_pcs=10, perplexity=10, random_state=1)),
    "draw_graph": ("X_draw_graph_fr", lambda a: sc.tl.draw_graph(a, layout="fr", random_state=1)),
    "diffmap": ("X_diffmap", lambda a: sc.tl.diffmap(a, n_comps=8)),
}


def _embedded(p: Pipeline) -> AnnData:
    """The workflow, then tsne, draw_graph (layout "fr": no fa2 needed) and diffmap, recorded
    (built once)."""
    from threadpoolctl import threadpool_limits

    if not _EMBEDDED:
        adata = p.adata()
        # scikit-learn's t-SNE oversubscribes a busy machine's cores (70 s instead of 5 s).
        with p.record(adata), threadpool_limits(1):
            sc.tl.tsne(adata, n_pcs=10, perplexity=10)
            sc.tl.draw_graph(adata, layout="fr")
            sc.tl.diffmap(adata, n_comps=10)
        _EMBEDDED.append(adata)
    return _EMBEDDED[0].copy()


def _embedding_cases(kind: str) -> None:
    obsm_key, rerun = _EMBEDDINGS[kind]

    @case(f"edit_{kind}")
    def edit(p: Pipeline) -> AnnData:
        adata = _embedded(p)
        adata.obsm[obsm_key] = adata.obsm[obsm_key] * 2
        return adata

    @case(f"delete_{kind}_output")
    def delete(p: Pipeline) -> AnnData:
        adata = _embedded(p)
        del adata.obsm[obsm_key]
        return adata

    @case(f"rerun_{kind}_other")
    def rerun_other(p: Pipeline) -> AnnData:
        from threadpoolctl import threadpool_limits

        adata = _embedded(p)
        with p.record(adata), threadpool_limits(1):
            rerun(adata)
        assert len(provenance.step_history(adata, kind)) == 2
        return adata


for _kind in _EMBEDDINGS:
    _embedding_cases(_kind)


# --- ledger: seals against rollback and deletion ---------------------------------------------


def _fine(p: Pipeline, adata: AnnData) -> None:
    """``leiden_fine`` recorded twice (v1 at resolution 2, v2 at 0.5): no result depends on it."""
    with p.record(adata):
        sc.tl.leiden(adata, key_added="leiden_fine", resolution=2.0, **LEIDEN)
        sc.tl.leiden(adata, key_added="leiden_fine", resolution=0.5, **LEIDEN)


@case("sealed")
def sealed(p: Pipeline) -> AnnData:
    adata = p.adata()
    p.seal(adata)
    return adata


@case("sealed_then_new_run")
def sealed_then_new_run(p: Pipeline) -> AnnData:
    adata = p.adata()
    p.seal(adata)
    _fine(p, adata)
    return adata


@case("unsealed")
def unsealed(p: Pipeline) -> AnnData:
    p.ledger.write_bytes(b"")  # a ledger, with no seal yet
    return p.adata()


@case("rollback_sealed")
def rollback_sealed(p: Pipeline) -> AnnData:
    """What the issue's attacker does: drop the signed v2, keep the signed v1, and put the
    index, scanpy's params and the labels back to v1's, after v2 was sealed."""
    adata = p.adata()
    with p.record(adata):
        sc.tl.leiden(adata, key_added="leiden_fine", resolution=2.0, **LEIDEN)
    labels, entry = adata.obs["leiden_fine"].copy(), copy.deepcopy(adata.uns["leiden_fine"])
    with p.record(adata):
        sc.tl.leiden(adata, key_added="leiden_fine", resolution=0.5, **LEIDEN)
    p.seal(adata)
    texts = history_texts(adata.uns["leiden_fine"]["provenance"], key="leiden_fine")
    entry["provenance"] = encode_history(texts[:1])
    adata.obs["leiden_fine"], adata.uns["leiden_fine"] = labels, entry
    rec = provenance.latest(adata, "leiden_fine")
    assert rec is not None and rec.version == 1
    update_index(adata.uns, rec)
    return adata


@case("delete_sealed_key")
def delete_sealed_key(p: Pipeline) -> AnnData:
    adata = p.adata()
    _fine(p, adata)
    p.seal(adata)
    del adata.obs["leiden_fine"], adata.uns["leiden_fine"]
    index = read_index(adata.uns)
    del index["leiden_fine"]
    adata.uns[INDEX_KEY] = canonical_json({"schema_version": "1.0", "keys": index})
    return adata
