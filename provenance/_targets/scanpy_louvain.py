"""``scanpy.tl.louvain``: the Louvain algorithm, with vtraag's louvain or igraph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._schema.models import LouvainParams
from provenance._util.jsonsafe import jsonable

from .decode import decode_argument, vertex_partitions
from .scanpy_clustering import ScanpyClustering

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ScanpyLouvain"]


class ScanpyLouvain(ScanpyClustering):
    """``scanpy.tl.louvain(adata, resolution, ..., partition_kwargs)``."""

    module = "scanpy.tools"
    attr = "louvain"
    function = "scanpy.tl.louvain"
    method = "louvain"
    params_model = LouvainParams
    default_key = "louvain"
    # scanpy <= 1.9 wrote every call's params to uns["louvain"] whatever key_added was.
    fixed_key = "louvain"
    fixed_key_package = "scanpy"
    fixed_key_before = (1, 10)
    partition_classes = vertex_partitions("louvain")
    default_flavor = "vtraag"
    own_args = ("partition_kwargs",)

    def backends(self, flavor: str | None) -> tuple[str, ...]:
        return ("louvain", "igraph") if flavor == "vtraag" else ("igraph",)

    def draws_python_random(self, flavor: str | None) -> bool:
        # scanpy calls igraph's community_multilevel without seeding igraph's RNG, which is
        # Python's `random` module by default.
        return flavor == "igraph"

    def own_params(self, named: Mapping[str, Any], var_kw: Mapping[str, Any]) -> dict[str, Any]:
        # scanpy's louvain passes **kwargs on with partition_kwargs: stored together.
        return {
            "partition_kwargs": jsonable({**dict(named.get("partition_kwargs") or {}), **var_kw})
        }

    def own_kwargs(self, params: Any, *, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
        kwargs = decode_argument(
            params.partition_kwargs,
            what=f"{what}.partition_kwargs",
            classes=self.partition_classes,
        )
        return {"partition_kwargs": kwargs}, {}

    def recognizes(self, key: str, params: Mapping[str, Any]) -> bool:
        # partition_improvement is muon's (mu.tl.louvain writes it, scanpy never does).
        return (
            "n_iterations" not in params
            and "partition_improvement" not in params
            and key.startswith(self.default_key)
        )
