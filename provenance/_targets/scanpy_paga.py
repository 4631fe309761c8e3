"""``scanpy.tl.paga``: the abstracted graph of one ``obs`` clustering over a neighbors graph.

It writes ``uns["paga"]`` (no ``key_added``), with the clustering it used in
``uns["paga"]["groups"]`` (scanpy picks one when ``groups`` is not given). It reads the
connectivities of ``neighbors_key`` (``graph``) and names their neighbors record as a parent
when the graph is the one that record wrote, or that record's graph as recorded steps changed
it in place since (``graph_steps``: scanpy 1.11's ``sc.tl.umap``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from provenance._base.errors import ProvenanceError
from provenance._schema.models import ResultRecord
from provenance._storage.graph import graph_info

from .slots import column_slots, graph_slot
from .steps import StepTarget, clustering_use, graph_origin

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["ScanpyPaga"]


class ScanpyPaga(StepTarget):
    """``scanpy.tl.paga(adata, groups, *, use_rna_velocity, model, neighbors_key, copy)``."""

    module = "scanpy.tools"
    attr = "paga"
    function = "scanpy.tl.paga"
    kind = "paga"
    default_key = "paga"
    record_model = ResultRecord
    defaults: ClassVar[Mapping[str, Any]] = {
        "groups": None,
        "use_rna_velocity": False,
        "model": "v1.2",
        "neighbors_key": None,
    }

    def written_key(self, named: Mapping[str, Any]) -> str:
        return self.default_key

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        nk = named.get("neighbors_key")
        return [*column_slots(named.get("groups")), *graph_slot(adata, neighbors_key=nk)]

    def describe(
        self, out: AnnData, named: Mapping[str, Any], *, key: str, names_digest: str
    ) -> dict[str, Any]:
        entry = out.uns.get(key)
        groups = entry.get("groups") if isinstance(entry, Mapping) else None
        if groups is None:
            groups = named.get("groups")
        if groups is None:
            msg = f"uns[{key!r}] names no 'groups' after the call; cannot say which labels it used."
            raise ProvenanceError(msg)
        graph = graph_info(out, adjacency=None, obsp=None, neighbors_key=named.get("neighbors_key"))
        parent, graph_steps = graph_origin(out, graph)
        return {
            "uses": [clustering_use(out, str(groups), names_digest=names_digest)],
            "parents": [] if parent is None else [parent],
            "graph": graph,
            "graph_steps": graph_steps,
            "source": None,
        }
