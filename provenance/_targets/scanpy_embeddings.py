"""``scanpy.tl.tsne``, ``draw_graph`` and ``diffmap``: embeddings, recorded as ``sc.tl.umap`` is.

Each writes an :class:`~provenance.EmbeddingRecord` of its own kind. ``draw_graph`` and
``diffmap`` read a neighbors graph (``neighbors_key``; ``draw_graph`` also ``adjacency=`` or
``obsp=``): the record keeps it as it was before the call and names the neighbors record that
wrote it (and the recorded steps that changed it in place since: :func:`graph_origin`), so a
re-run of the neighbors makes them stale. ``tsne`` reads a representation, chosen as
``sc.pp.neighbors`` chooses it (``use_rep``, ``n_pcs``; without ``obsm['X_pca']`` scanpy
computes one from ``X``, unrecorded by ``sc.pp.pca``'s target, so the record says it read
``X`` and wrote ``obsm['X_pca']``): ``graph`` is ``None``.

Where they write: ``tsne`` to ``obsm['X_tsne']``/``uns['tsne']`` (``key_added`` for both on
scanpy >= 1.10); ``draw_graph`` to ``obsm['X_draw_graph_<layout>']`` (``key_added_ext``
replaces the layout; ``"fa"`` falls back to ``"fr"`` without fa2, which ``uns['draw_graph']``
then says) and always ``uns['draw_graph']``; ``diffmap`` to ``obsm['X_diffmap']`` and
``uns['diffmap_evals']`` (an array: its history gets ``uns['diffmap']`` of its own).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from provenance._base.errors import ProvenanceError
from provenance._schema.models import EmbeddingRecord
from provenance._storage.graph import graph_info
from provenance._storage.slots import slot_name

from .scanpy_neighbors import chosen_representation
from .scanpy_umap import _embedding
from .slots import graph_slot, matrix_slot
from .steps import StepTarget, graph_origin

if TYPE_CHECKING:
    from anndata import AnnData

    from provenance._schema.models import GraphInfo

__all__ = ["ScanpyDiffmap", "ScanpyDrawGraph", "ScanpyTsne"]


class _GraphEmbedding(StepTarget):
    """An embedding of a neighbors graph that leaves the graph as it was."""

    module = "scanpy.tools"
    record_model = EmbeddingRecord

    def _graph_args(self, named: Mapping[str, Any]) -> dict[str, Any]:
        nk = named.get("neighbors_key")
        return {"adjacency": None, "obsp": None, "neighbors_key": None if nk is None else str(nk)}

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        return graph_slot(adata, **self._graph_args(named))

    def before(self, adata: AnnData, named: Mapping[str, Any]) -> GraphInfo | None:
        try:
            return graph_info(adata, **self._graph_args(named))
        except ProvenanceError:
            return None  # scanpy raises for a missing graph; nothing to record then

    def _obsm_key(self, out: AnnData, named: Mapping[str, Any]) -> str:
        raise NotImplementedError

    def describe_call(
        self,
        out: AnnData,
        named: Mapping[str, Any],
        *,
        key: str,
        names_digest: str,
        before: Any,
    ) -> dict[str, Any]:
        neighbors, steps = graph_origin(out, before)
        return {
            "graph": before,
            "neighbors": neighbors,
            "graph_steps": steps,
            "embedding": _embedding(out, self._obsm_key(out, named)),
        }


class ScanpyDrawGraph(_GraphEmbedding):
    """``scanpy.tl.draw_graph(adata, layout, *, init_pos, root, random_state, n_jobs,
    adjacency, key_added_ext, neighbors_key, obsp, copy, **kwds)``."""

    attr = "draw_graph"
    function = "scanpy.tl.draw_graph"
    kind = "draw_graph"
    default_key = "draw_graph"
    packages = ("igraph", "fa2-modified")
    defaults: ClassVar[Mapping[str, Any]] = {
        "layout": "fa",
        "init_pos": None,
        "root": None,
        "random_state": 0,
        "n_jobs": None,
        "adjacency": None,
        "key_added_ext": None,
        "neighbors_key": None,
        "obsp": None,
        "copy": False,
    }

    def written_key(self, named: Mapping[str, Any]) -> str:
        return self.default_key  # scanpy writes uns["draw_graph"] whatever key_added_ext is

    def _graph_args(self, named: Mapping[str, Any]) -> dict[str, Any]:
        obsp = named.get("obsp")
        return super()._graph_args(named) | {
            "adjacency": named.get("adjacency"),
            "obsp": None if obsp is None else str(obsp),
        }

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        init = named.get("init_pos")
        # init_pos names an obsm matrix (its coordinates start the layout), or PAGA's (uns).
        start = [slot_name("obsm", init)] if isinstance(init, str) and init in adata.obsm else []
        return super().reads(adata, named) + start

    def _obsm_key(self, out: AnnData, named: Mapping[str, Any]) -> str:
        ext = named.get("key_added_ext")
        if ext is None:
            # The layout drawn: "fa" without fa2 falls back to "fr", as uns["draw_graph"] says.
            params = out.uns.get("draw_graph", {}).get("params", {})
            ext = params.get("layout", named.get("layout")) if isinstance(params, Mapping) else None
        return f"X_draw_graph_{ext}"


class ScanpyDiffmap(_GraphEmbedding):
    """``scanpy.tl.diffmap(adata, n_comps, *, neighbors_key, random_state, copy)``."""

    attr = "diffmap"
    function = "scanpy.tl.diffmap"
    kind = "diffmap"
    default_key = "diffmap"
    writes_uns = False  # uns["diffmap_evals"] is an array: the history gets uns["diffmap"]
    defaults: ClassVar[Mapping[str, Any]] = {
        "n_comps": 15,
        "neighbors_key": None,
        "random_state": 0,
        "copy": False,
    }

    def written_key(self, named: Mapping[str, Any]) -> str:
        return self.default_key

    def _obsm_key(self, out: AnnData, named: Mapping[str, Any]) -> str:
        return "X_diffmap"


class ScanpyTsne(StepTarget):
    """``scanpy.tl.tsne(adata, n_pcs, *, use_rep, perplexity, ..., key_added, copy)``."""

    module = "scanpy.tools"
    attr = "tsne"
    function = "scanpy.tl.tsne"
    kind = "tsne"
    default_key = "tsne"
    record_model = EmbeddingRecord
    defaults: ClassVar[Mapping[str, Any]] = {
        "n_pcs": None,
        "use_rep": None,
        "perplexity": 30,
        "early_exaggeration": 12,
        "learning_rate": 1000,
        "random_state": 0,
        "use_fast_tsne": False,
        "n_jobs": None,
        "copy": False,
    }

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        name = chosen_representation(adata, use_rep=named.get("use_rep"), n_pcs=named.get("n_pcs"))
        return [matrix_slot(obsm=name or "X")]  # no PCA yet: scanpy makes one from X

    def describe(
        self, out: AnnData, named: Mapping[str, Any], *, key: str, names_digest: str
    ) -> dict[str, Any]:
        obsm_key = "X_tsne" if named.get("key_added") is None else str(named["key_added"])
        return {"graph": None, "embedding": _embedding(out, obsm_key)}
