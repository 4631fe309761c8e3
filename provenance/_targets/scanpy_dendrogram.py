"""``scanpy.tl.dendrogram``: a hierarchy of one or more ``obs`` clusterings' categories.

It groups by ``groupby`` (one column, or several joined), in ``uns["dendrogram_<groupby>"]``
(several: joined by ``_``) or ``key_added``. Without ``var_names`` it averages the
representation scanpy chooses as for neighbors (``obsm['X_pca']``, ``use_rep``, ``X``); with
them, the genes of ``raw`` or ``X``. ``inplace=False`` only returns the result: such a call
writes nothing and is not recorded.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from provenance._schema.models import ResultRecord

from .scanpy_neighbors import chosen_representation, representation_source
from .slots import column_slots, matrix_slot
from .steps import StepTarget, clustering_use

if TYPE_CHECKING:
    from collections.abc import Mapping

    from anndata import AnnData

__all__ = ["ScanpyDendrogram"]


class ScanpyDendrogram(StepTarget):
    """``scanpy.tl.dendrogram(adata, groupby, *, n_pcs, use_rep, var_names, ..., inplace)``."""

    module = "scanpy.tools"
    attr = "dendrogram"
    # sc.pl.dotplot(..., dendrogram=True), rank_genes_groups_dotplot, heatmap compute a missing
    # or outdated dendrogram through this module, not through scanpy.tools.
    also_in = ("scanpy.tools._dendrogram",)
    function = "scanpy.tl.dendrogram"
    kind = "dendrogram"
    default_key = "dendrogram"
    record_model = ResultRecord
    defaults: ClassVar[Mapping[str, Any]] = {
        "groupby": None,  # required: always written out
        "n_pcs": None,
        "use_rep": None,
        "var_names": None,
        "use_raw": None,
        "cor_method": "pearson",
        "linkage_method": "complete",
        "optimal_ordering": False,
        "key_added": None,
        "inplace": True,
    }

    def writes_result(self, named: Mapping[str, Any]) -> bool:
        return bool(named.get("inplace", True))

    def written_key(self, named: Mapping[str, Any]) -> str:
        key = named.get("key_added")
        if key is not None:
            return str(key)
        return f"{self.default_key}_{'_'.join(_groupby(named))}"

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        if named.get("var_names") is None:
            name = chosen_representation(
                adata, use_rep=named.get("use_rep"), n_pcs=named.get("n_pcs")
            )
            matrix = matrix_slot(obsm=name or "X")
        else:
            use_raw = named.get("use_raw")
            matrix = matrix_slot(use_raw=adata.raw is not None if use_raw is None else use_raw)
        return [*column_slots(_groupby(named)), matrix]

    def describe(
        self, out: AnnData, named: Mapping[str, Any], *, key: str, names_digest: str
    ) -> dict[str, Any]:
        if named.get("var_names") is None:
            name = chosen_representation(
                out, use_rep=named.get("use_rep"), n_pcs=named.get("n_pcs")
            )
            source = representation_source(name)
        else:
            use_raw = named.get("use_raw")
            if use_raw is None:
                use_raw = out.raw is not None
            source = "raw" if use_raw else "X"
        return {
            "uses": [clustering_use(out, c, names_digest=names_digest) for c in _groupby(named)],
            "parents": [],
            "graph": None,
            "source": source,
        }


def _groupby(named: Mapping[str, Any]) -> list[str]:
    groupby = named.get("groupby")
    return [groupby] if isinstance(groupby, str) else [str(g) for g in groupby or ()]
