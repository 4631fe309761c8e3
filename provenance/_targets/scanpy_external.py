"""``scanpy.external.pp``: the batch integrations a clustering is built on, where installed.

- ``harmony_integrate`` (harmonypy) and ``scanorama_integrate`` (scanorama) read a
  representation (``obsm[basis]``, ``X_pca``) and the batch column(s), and write a corrected one
  (``obsm['X_pca_harmony']``, ``obsm['X_scanorama']``): transforms (:class:`TransformRecord`,
  history under ``uns['harmony_integrate']`` / ``uns['scanorama_integrate']``), so the
  ``sc.pp.neighbors(use_rep=...)`` after them reads what their record wrote.
- ``bbknn`` (bbknn) writes a neighbors graph, as ``sc.pp.neighbors`` does (``uns[key_added]``,
  ``obsp``): a :class:`NeighborsRecord` whose ``function`` is ``scanpy.external.pp.bbknn``, so
  a clustering of that graph has its neighbors parent.

scanpy defines these wrappers whether or not the package is installed (each imports it when
called): a target whose package is missing patches nothing. Only scanpy's wrappers are
patched; calling the packages directly (``bbknn.bbknn(adata)``) is not recorded.
"""

from __future__ import annotations

from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, ClassVar

from provenance._storage.slots import slot_name

from .scanpy_neighbors import ScanpyNeighbors
from .scanpy_pp import TransformTarget
from .slots import column_slots

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType

    from anndata import AnnData

__all__ = ["ScanpyBbknn", "ScanpyHarmonyIntegrate", "ScanpyScanoramaIntegrate"]


def _installed(package: str) -> bool:
    try:
        return find_spec(package) is not None
    except (ImportError, ValueError):
        return False


class _Integration(TransformTarget):
    """A ``sc.external.pp`` integration of ``obsm[basis]`` by the batch column(s) ``key``."""

    module = "scanpy.external.pp"
    package: ClassVar[str]
    """The distribution (and module) the wrapper calls: without it nothing is patched."""

    def patch_module(self) -> ModuleType | None:
        return super().patch_module() if _installed(self.package) else None

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        basis = named.get("basis")
        return [slot_name("obsm", str(basis)), *column_slots(named.get("key"))]


class ScanpyHarmonyIntegrate(_Integration):
    """``scanpy.external.pp.harmony_integrate(adata, key, *, basis, adjusted_basis, **kwargs)``."""

    attr = "harmony_integrate"
    function = "scanpy.external.pp.harmony_integrate"
    default_key = "harmony_integrate"
    package = "harmonypy"
    packages = ("harmonypy",)
    defaults: ClassVar[Mapping[str, Any]] = {
        "basis": "X_pca",
        "adjusted_basis": "X_pca_harmony",
    }


class ScanpyScanoramaIntegrate(_Integration):
    """``scanpy.external.pp.scanorama_integrate(adata, key, *, basis, adjusted_basis, knn,
    sigma, approx, alpha, batch_size, **kwargs)``."""

    attr = "scanorama_integrate"
    function = "scanpy.external.pp.scanorama_integrate"
    default_key = "scanorama_integrate"
    package = "scanorama"
    packages = ("scanorama",)
    defaults: ClassVar[Mapping[str, Any]] = {
        "basis": "X_pca",
        "adjusted_basis": "X_scanorama",
        "knn": 20,
        "sigma": 15,
        "approx": True,
        "alpha": 0.1,
        "batch_size": 5000,
    }


class ScanpyBbknn(ScanpyNeighbors):
    """``scanpy.external.pp.bbknn(adata, *, batch_key, use_rep, ..., n_pcs, ..., copy,
    **kwargs)``; ``key_added`` (a ``**kwargs`` of scanpy's wrapper) as for ``sc.pp.neighbors``."""

    module = "scanpy.external.pp"
    attr = "bbknn"
    function = "scanpy.external.pp.bbknn"
    packages = ("bbknn", "annoy", "pynndescent")
    defaults: ClassVar[Mapping[str, Any]] = {
        "batch_key": "batch",
        "use_rep": "X_pca",
        "neighbors_within_batch": 3,
        "n_pcs": 50,
        "trim": None,
        "key_added": None,
    }

    def patch_module(self) -> ModuleType | None:
        return super().patch_module() if _installed("bbknn") else None

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        use_rep = str(named.get("use_rep") or "X_pca")
        return [slot_name("obsm", use_rep), *column_slots(named.get("batch_key"))]

    def describe(
        self, out: AnnData, named: Mapping[str, Any], *, key: str, names_digest: str
    ) -> dict[str, Any]:
        fields = super().describe(out, named, key=key, names_digest=names_digest)
        # bbknn takes obsm[use_rep][:, :n_pcs] whatever the number of variables (no choice).
        fields["representation"] = _bbknn_representation(out, named)
        return fields


def _bbknn_representation(adata: AnnData, named: Mapping[str, Any]) -> Any:
    import numpy as np

    from provenance._schema.models import Representation
    from provenance._util.fingerprint import HASH_ALGORITHM, array_digest

    name = str(named.get("use_rep") or "X_pca")
    matrix = adata.obsm.get(name)
    if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
        return None
    n_pcs = named.get("n_pcs")
    n_dims = int(matrix.shape[1]) if n_pcs is None else min(int(matrix.shape[1]), int(n_pcs))
    return Representation(
        name=name,
        n_obs=int(matrix.shape[0]),
        n_dims=n_dims,
        dtype=str(matrix.dtype),
        hash_algorithm=HASH_ALGORITHM,
        digest=array_digest(matrix),
    )
