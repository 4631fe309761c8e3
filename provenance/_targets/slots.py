"""The slots a recorded call reads, by name: helpers for :meth:`RecordedFunction.reads`.

Names as in ``_storage/slots.py``: ``obsp['connectivities']``, ``obs['leiden']``, ``X``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError
from provenance._storage.slots import slot_name

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["column_slots", "graph_slot", "matrix_slot"]


def graph_slot(adata: AnnData, **graph_args: Any) -> list[str]:
    """The ``obsp`` slot of the graph a call reads (``[]``: an ``adjacency`` argument, or none).

    ``graph_args`` are those of ``_storage.graph.locate_graph``.
    """
    from provenance._storage.graph import locate_graph

    args = {"adjacency": None, "obsp": None, "neighbors_key": None} | graph_args
    try:
        _, obsp_key, _ = locate_graph(adata, **args)
    except ProvenanceError:
        return []
    return [] if obsp_key is None else [slot_name("obsp", str(obsp_key))]


def column_slots(*columns: Any) -> list[str]:
    """``obs['<c>']`` for each column named (``None`` and empty names left out)."""

    out: list[str] = []
    for c in columns:
        if isinstance(c, list | tuple):
            out += column_slots(*c)
        elif c is not None and c != "":
            out.append(slot_name("obs", str(c)))
    return out


def matrix_slot(*, layer: Any = None, use_raw: Any = False, obsm: Any = None) -> str:
    """The expression matrix a call reads: ``layers[layer]``, ``raw.X``, ``obsm[...]`` or ``X``."""

    if layer is not None:
        return slot_name("layers", str(layer))
    if obsm is not None:
        return "X" if obsm == "X" else slot_name("obsm", str(obsm))
    return "raw.X" if use_raw else "X"
