"""``scanpy.tl.umap``: the embedding of a neighbors graph, and what the call did to that graph.

It reads the connectivities of ``neighbors_key`` and writes ``obsm['X_umap']`` and
``uns['umap']`` (both ``key_added`` when given, scanpy >= 1.10). scanpy 1.11 hands the
connectivities to umap-learn as ``connectivities.tocoo()``, which shares the weights array,
and umap-learn zeroes the weights below ``max / n_epochs`` in it: the graph in ``obsp`` changes
under the call (12 of 15,900 weights on pbmc68k_reduced; scanpy 1.12 copies the graph first).
The record keeps the graph's digest before the call, and when it changed, the digest after
and the changed weights (:class:`GraphEdit`), so an audit can name this call as the cause,
and rebuild the graph a clustering made before it read.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar

from provenance._base.errors import ProvenanceError
from provenance._schema.models import (
    MAX_GRAPH_EDIT,
    EmbeddingRecord,
    GraphEdit,
    Representation,
)
from provenance._storage.graph import graph_info, locate_graph
from provenance._util.fingerprint import HASH_ALGORITHM, array_digest, canonical_csr

from .slots import graph_slot
from .steps import StepTarget, graph_origin

if TYPE_CHECKING:
    from collections.abc import Mapping

    import numpy as np
    from anndata import AnnData

    from provenance._schema.models import GraphInfo

__all__ = ["GraphBefore", "ScanpyUmap", "graph_edit"]


@dataclass(frozen=True)
class GraphBefore:
    """The graph a call is about to read: its record and a copy of its weights."""

    info: GraphInfo
    weights: np.ndarray


class ScanpyUmap(StepTarget):
    """``scanpy.tl.umap(adata, *, min_dist, ..., key_added, neighbors_key, copy)``."""

    module = "scanpy.tools"
    attr = "umap"
    function = "scanpy.tl.umap"
    kind = "umap"
    default_key = "umap"
    record_model = EmbeddingRecord
    packages = ("umap-learn", "numba")
    # neighbors_key is left out: its default is "neighbors" from scanpy 1.10, None before.
    defaults: ClassVar[Mapping[str, Any]] = {
        "min_dist": 0.5,
        "spread": 1.0,
        "n_components": 2,
        "maxiter": None,
        "alpha": 1.0,
        "gamma": 1.0,
        "negative_sample_rate": 5,
        "init_pos": "spectral",
        "random_state": 0,
        "a": None,
        "b": None,
        "method": "umap",
        "key_added": None,
        "copy": False,
    }

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        return graph_slot(adata, neighbors_key=named.get("neighbors_key"))

    def before(self, adata: AnnData, named: Mapping[str, Any]) -> GraphBefore | None:
        nk = named.get("neighbors_key")
        try:
            matrix, obsp_key, _ = locate_graph(
                adata, adjacency=None, obsp=None, neighbors_key=None if nk is None else str(nk)
            )
        except ProvenanceError:
            return None  # scanpy raises for a missing graph; nothing to record then
        info = graph_info(
            adata, adjacency=None, obsp=None, neighbors_key=None if nk is None else str(nk)
        )
        csr, _ = canonical_csr(matrix, name=f"obsp[{obsp_key!r}]")
        # The weights alone (the call may change them in place): O(nnz), far less than UMAP.
        return GraphBefore(info, csr.data.copy())

    def describe_call(
        self,
        out: AnnData,
        named: Mapping[str, Any],
        *,
        key: str,
        names_digest: str,
        before: Any,
    ) -> dict[str, Any]:
        obsm_key = str(named.get("key_added") or "X_umap")
        graph = before.info if isinstance(before, GraphBefore) else None
        neighbors, steps = graph_origin(out, graph)
        edit = None
        if isinstance(before, GraphBefore) and graph is not None and graph.obsp_key is not None:
            if graph.obsp_key not in out.obsp:
                msg = f"obsp[{graph.obsp_key!r}], the graph the call read, is gone after it."
                raise ProvenanceError(msg)
            edit = graph_edit(before, out.obsp[graph.obsp_key])
        return {
            "graph": graph,
            "neighbors": neighbors,
            "graph_steps": steps,
            "embedding": _embedding(out, obsm_key),
            "graph_edit": edit,
        }


def graph_edit(before: GraphBefore, matrix_now: Any) -> GraphEdit | None:
    """How ``matrix_now`` differs from the graph ``before`` kept (``None``: not at all).

    With the same stored entries, the changed weights are listed (up to
    :data:`MAX_GRAPH_EDIT`) with their values before.
    """
    import numpy as np

    from provenance._util.fingerprint import graph_fingerprint

    info = before.info
    assert info.obsp_key is not None
    csr, _ = canonical_csr(matrix_now, name=f"obsp[{info.obsp_key!r}]")
    fp = graph_fingerprint(csr, algorithm=info.hash_algorithm)
    if fp.digest == info.digest:
        return None
    same_edges = (
        fp.structure is not None
        and fp.structure == info.digest.partition(":")[2][:32]
        and csr.data.shape == before.weights.shape
    )
    fields: dict[str, Any] = {"n_changed": None, "kept": False}
    if same_edges:
        old = before.weights
        changed = np.flatnonzero((old != csr.data) & ~(np.isnan(old) & np.isnan(csr.data)))
        fields["n_changed"] = int(changed.size)
        if changed.size <= MAX_GRAPH_EDIT and csr.data.dtype == old.dtype:
            rows = np.searchsorted(csr.indptr, changed, side="right") - 1
            fields |= {
                "kept": True,
                "rows": [int(r) for r in rows],
                "cols": [int(c) for c in csr.indices[changed]],
                "weights_before": [float(w) for w in old[changed]],
                "weights_after": [float(w) for w in csr.data[changed]],
            }
    return GraphEdit(
        obsp_key=info.obsp_key,
        hash_algorithm=info.hash_algorithm,
        digest_before=info.digest,
        digest_after=fp.digest,
        same_edges=same_edges,
        **fields,
    )


def _embedding(adata: AnnData, obsm_key: str) -> Representation | None:
    """``obsm[obsm_key]`` as written, with its digest (``None`` when it is not there)."""
    import numpy as np

    matrix = adata.obsm.get(obsm_key)
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        return None
    return Representation(
        name=obsm_key,
        n_obs=int(matrix.shape[0]),
        n_dims=int(matrix.shape[1]),
        dtype=str(matrix.dtype),
        hash_algorithm=HASH_ALGORITHM,
        digest=array_digest(matrix),
    )
