"""``scanpy.tl.leiden``: the Leiden algorithm, with leidenalg or igraph."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._schema.models import LeidenParams
from provenance._util.jsonsafe import jsonable

from .decode import decode_argument, vertex_partitions
from .scanpy_clustering import ScanpyClustering

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["ScanpyLeiden"]


class ScanpyLeiden(ScanpyClustering):
    """``scanpy.tl.leiden(adata, resolution, ..., n_iterations, **clustering_args)``."""

    module = "scanpy.tools"
    attr = "leiden"
    function = "scanpy.tl.leiden"
    method = "leiden"
    params_model = LeidenParams
    default_key = "leiden"
    # scanpy <= 1.9 wrote every call's params to uns["leiden"] whatever key_added was.
    fixed_key = "leiden"
    fixed_key_package = "scanpy"
    fixed_key_before = (1, 10)
    partition_classes = vertex_partitions("leidenalg")
    default_flavor = "leidenalg"
    own_args = ("n_iterations",)
    adopt_args = ("n_iterations",)

    def backends(self, flavor: str | None) -> tuple[str, ...]:
        return ("igraph",) if flavor == "igraph" else ("leidenalg", "igraph")

    def partition_packages(self, flavor: str | None) -> tuple[str, ...]:
        # flavor="igraph" draws from a numpy RandomState seeded with random_state (scanpy sets
        # it as igraph's RNG); leidenalg seeds its own generator, louvain too, and Louvain's
        # flavor="igraph" draws from Python's `random`: numpy decides only this flavor.
        numpy = ("numpy",) if flavor == "igraph" else ()
        return (*super().partition_packages(flavor), *numpy)

    def own_params(self, named: Mapping[str, Any], var_kw: Mapping[str, Any]) -> dict[str, Any]:
        return {
            "n_iterations": named.get("n_iterations", -1),
            "clustering_args": jsonable(dict(var_kw)),
        }

    def own_kwargs(self, params: Any, *, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
        extra = decode_argument(
            params.clustering_args,
            what=f"{what}.clustering_args",
            classes=self.partition_classes,
        )
        return {"n_iterations": params.n_iterations}, extra

    def recognizes(self, key: str, params: Mapping[str, Any]) -> bool:
        # Only leiden keeps n_iterations; without it, the key's name is the evidence.
        # partition_improvement is muon's (mu.tl.leiden writes it, scanpy never does).
        if "partition_improvement" in params:
            return False
        return "n_iterations" in params or key.startswith(self.default_key)

    def adopted_own(self, own: Mapping[str, Any]) -> dict[str, Any]:
        n_iter = own.get("n_iterations")
        return {"n_iterations": None if n_iter is None else int(n_iter)}
