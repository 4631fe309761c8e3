"""``scanpy.tl.rank_genes_groups`` and ``scanpy.tl.filter_rank_genes_groups``: marker genes.

Both group cells by one ``obs`` clustering (``groupby``). The expression they read is named,
never read or hashed (``source``): scanpy keeps what ran in ``uns[key]["params"]``
(``use_raw`` resolved, ``layer``) in every supported version. The filter reads the markers of
``uns[key]`` (its parent record) and writes a copy of that entry under ``key_added``: the
recorder gives the copy its own history, never the markers'.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from provenance._base.errors import ProvenanceError
from provenance._schema.models import ResultRecord

from .slots import column_slots, matrix_slot
from .steps import StepTarget, clustering_use, step_ref

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["ScanpyFilterRankGenesGroups", "ScanpyRankGenesGroups"]


class ScanpyRankGenesGroups(StepTarget):
    """``scanpy.tl.rank_genes_groups(adata, groupby, *, ..., key_added, copy, layer, **kwds)``."""

    module = "scanpy.tools"
    attr = "rank_genes_groups"
    function = "scanpy.tl.rank_genes_groups"
    kind = "rank_genes_groups"
    default_key = "rank_genes_groups"
    record_model = ResultRecord
    defaults: ClassVar[Mapping[str, Any]] = {
        "groupby": None,  # required: always written out
        "mask_var": None,
        "use_raw": None,
        "groups": "all",
        "reference": "rest",
        "n_genes": None,
        "rankby_abs": False,
        "pts": False,
        "key_added": None,
        "method": None,
        "corr_method": "benjamini-hochberg",
        "tie_correct": False,
        "layer": None,
    }

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        use_raw = named.get("use_raw")
        layer = named.get("layer")
        if use_raw is None:
            use_raw = adata.raw is not None and layer is None
        matrix = matrix_slot(layer=layer, use_raw=use_raw)
        return [*column_slots(named.get("groupby")), matrix]

    def describe(
        self, out: AnnData, named: Mapping[str, Any], *, key: str, names_digest: str
    ) -> dict[str, Any]:
        params = _params(out, key)
        groupby = str(named.get("groupby", params.get("groupby")))
        return {
            "uses": [clustering_use(out, groupby, names_digest=names_digest)],
            "parents": [],
            "graph": None,
            "source": _source(params.get("use_raw"), params.get("layer")),
        }


class ScanpyFilterRankGenesGroups(StepTarget):
    """``scanpy.tl.filter_rank_genes_groups(adata, *, key, groupby, use_raw, key_added, ...)``."""

    module = "scanpy.tools"
    attr = "filter_rank_genes_groups"
    function = "scanpy.tl.filter_rank_genes_groups"
    kind = "filter_rank_genes_groups"
    default_key = "rank_genes_groups_filtered"
    record_model = ResultRecord
    defaults: ClassVar[Mapping[str, Any]] = {
        "key": None,
        "groupby": None,
        "use_raw": None,
        "key_added": "rank_genes_groups_filtered",
        "min_in_group_fraction": 0.25,
        "min_fold_change": 1,
        "max_out_group_fraction": 0.5,
        "compare_abs": False,
    }

    def describe(
        self, out: AnnData, named: Mapping[str, Any], *, key: str, names_digest: str
    ) -> dict[str, Any]:
        markers = named.get("key") or "rank_genes_groups"
        params = _params(out, markers)
        groupby = named.get("groupby") or params.get("groupby")
        use_raw = named.get("use_raw")
        if use_raw is None:
            use_raw = params.get("use_raw")
        parent = step_ref(out, markers, "rank_genes_groups")
        return {
            "uses": [clustering_use(out, str(groupby), names_digest=names_digest)],
            "parents": [] if parent is None else [parent],
            "graph": None,
            "source": _source(use_raw, None),
        }


def _params(adata: AnnData, key: str) -> Mapping[str, Any]:
    entry = adata.uns.get(key)
    params = entry.get("params") if isinstance(entry, Mapping) else None
    if not isinstance(params, Mapping):
        msg = f"uns[{key!r}] holds no 'params' after the call; cannot say what was ranked."
        raise ProvenanceError(msg)
    return params


def _source(use_raw: Any, layer: Any) -> str:
    """``"layers['x']"``, ``"raw"`` or ``"X"``: the expression scanpy ranked."""
    if layer is not None:
        return f"layers[{str(layer)!r}]"
    return "raw" if bool(use_raw) else "X"
