"""Which graph a clustering call uses, following scanpy's own choice."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from ._errors import ProvenanceError
from ._fingerprint import HASH_ALGORITHM, graph_fingerprint
from ._jsonsafe import jsonable
from ._models import GraphInfo

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["graph_info", "locate_graph"]


def locate_graph(
    adata: AnnData, *, adjacency: Any, obsp: str | None, neighbors_key: str | None
) -> tuple[Any, str | None, str | None]:
    """Return ``(matrix, obsp_key, neighbors_key)`` as scanpy chooses the graph.

    ``adjacency`` wins; then ``obsp``; then ``uns[neighbors_key]["connectivities_key"]``;
    without ``neighbors_key``, ``obsp["connectivities"]``.
    """
    if adjacency is not None:
        # A matrix taken from obsp (``adjacency=adata.obsp[k]``) can still be checked later.
        for k, m in adata.obsp.items():
            if m is adjacency:
                return adjacency, k, None
        return adjacency, None, None
    if obsp is not None:
        return _obsp(adata, obsp), obsp, None
    nk = neighbors_key
    if nk is None or nk == "neighbors":
        return _obsp(adata, "connectivities"), "connectivities", nk
    entry = adata.uns.get(nk)
    if not isinstance(entry, Mapping) or "connectivities_key" not in entry:
        msg = f"uns[{nk!r}] has no 'connectivities_key'; run sc.pp.neighbors(key_added={nk!r})."
        raise ProvenanceError(msg)
    key = str(entry["connectivities_key"])
    return _obsp(adata, key), key, nk


def _obsp(adata: AnnData, key: str) -> Any:
    if key not in adata.obsp:
        msg = f"obsp[{key!r}] is missing; run sc.pp.neighbors first."
        raise ProvenanceError(msg)
    return adata.obsp[key]


def graph_info(
    adata: AnnData, *, adjacency: Any, obsp: str | None, neighbors_key: str | None
) -> GraphInfo:
    """Locate and fingerprint the graph a call used."""
    matrix, obsp_key, nk = locate_graph(
        adata, adjacency=adjacency, obsp=obsp, neighbors_key=neighbors_key
    )
    fp = graph_fingerprint(matrix, name=f"obsp[{obsp_key!r}]" if obsp_key else "adjacency")
    params = None
    if obsp_key is not None and adjacency is None and obsp is None:
        entry = adata.uns.get(nk or "neighbors")
        if isinstance(entry, Mapping) and isinstance(entry.get("params"), Mapping):
            params = jsonable(entry["params"])
    return GraphInfo(
        source="adjacency" if adjacency is not None else "obsp",
        obsp_key=obsp_key,
        neighbors_key=nk,
        neighbors_params=params,
        n_nodes=fp.n_nodes,
        n_edges=fp.n_edges,
        dtype=fp.dtype,
        hash_algorithm=HASH_ALGORITHM,
        digest=fp.digest,
        canonicalized=fp.canonicalized,
    )
