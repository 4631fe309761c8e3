"""``scanpy.pp.neighbors``: the representation it searched, the graphs it wrote.

scanpy chooses the representation itself (``scanpy.tools._utils._choose_representation``,
the same in 1.9-1.12 but for the PCA key): ``use_rep`` when it is an ``obsm`` key (its first
``n_pcs`` columns), ``X`` for ``use_rep="X"`` or ``n_pcs=0``; without ``use_rep``, ``X`` when
there are at most ``settings.N_PCS`` (50) variables, else the PCA (``obsm["X_pca"]``;
scanpy >= 1.12 takes ``obsm["pca"]`` first), which scanpy computes when it is missing. It is
read after the call, so a PCA scanpy made is the one recorded. scanpy >= 1.12's
``distances=`` (a precomputed matrix) reads no representation: ``None``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from provenance._base.errors import ProvenanceError
from provenance._schema.models import NeighborsRecord, Representation
from provenance._storage.graph import graph_info
from provenance._util.fingerprint import HASH_ALGORITHM, array_digest

from .base import _version
from .slots import matrix_slot
from .steps import StepTarget

if TYPE_CHECKING:
    from anndata import AnnData

    from provenance._schema.models import GraphInfo

__all__ = ["ScanpyNeighbors", "chosen_representation", "representation_source"]

# The graphs a neighbors call writes: role -> the uns[key] entry naming its obsp key.
_GRAPHS = (("connectivities", "connectivities_key"), ("distances", "distances_key"))


class ScanpyNeighbors(StepTarget):
    """``scanpy.pp.neighbors(adata, n_neighbors, n_pcs, *, use_rep, ..., key_added, copy)``."""

    module = "scanpy.preprocessing"
    attr = "neighbors"
    function = "scanpy.pp.neighbors"
    kind = "neighbors"
    default_key = "neighbors"
    record_model = NeighborsRecord
    defaults: ClassVar[Mapping[str, Any]] = {
        "n_neighbors": 15,
        "n_pcs": None,
        "use_rep": None,
        "knn": True,
        "method": "umap",
        "transformer": None,
        "metric": "euclidean",
        "metric_kwds": {},
        "random_state": 0,
        "key_added": None,
    }

    def reads(self, adata: AnnData, named: Mapping[str, Any]) -> list[str]:
        name = chosen_representation(adata, use_rep=named.get("use_rep"), n_pcs=named.get("n_pcs"))
        # Without X_pca, scanpy computes one from X (and writes it): X is what it read.
        return [matrix_slot(obsm=name or "X")]

    def describe(
        self, out: AnnData, named: Mapping[str, Any], *, key: str, names_digest: str
    ) -> dict[str, Any]:
        return {"representation": _representation(out, named), "graphs": written_graphs(out, key)}


def written_graphs(out: Any, key: str) -> dict[str, GraphInfo]:
    """The graphs a neighbors call wrote, by role, as ``uns[key]`` names their ``obsp`` keys."""
    entry = out.uns.get(key)
    if not isinstance(entry, Mapping):
        msg = f"uns[{key!r}] is missing after the call."
        raise ProvenanceError(msg)
    graphs: dict[str, GraphInfo] = {}
    for role, field in _GRAPHS:
        obsp_key = entry.get(field)
        if obsp_key is None:
            continue
        info = graph_info(out, adjacency=None, obsp=str(obsp_key), neighbors_key=None)
        graphs[role] = info.model_copy(update={"neighbors_key": key})
    return graphs


def chosen_representation(adata: AnnData, *, use_rep: str | None, n_pcs: int | None) -> str | None:
    """The matrix scanpy's ``_choose_representation`` took: ``"X"`` or an ``obsm`` key.

    Read after the call (a PCA scanpy computed is in ``obsm`` by then); ``None`` when none
    of them is there.
    """
    import scanpy as sc

    if use_rep is None and n_pcs == 0:
        use_rep = "X"
    if use_rep is None:
        if adata.n_vars <= sc.settings.N_PCS:
            return "X"
        return next((k for k in _pca_keys() if k in adata.obsm), None)
    if use_rep in adata.obsm:
        return use_rep
    return "X" if use_rep == "X" else None


def representation_source(name: str | None) -> str | None:
    """A representation's name as a record's ``source``: ``"X"`` or ``"obsm['X_pca']"``."""
    if name is None or name == "X":
        return name
    return f"obsm[{name!r}]"


def _pca_keys() -> tuple[str, ...]:
    return ("pca", "X_pca") if _version("scanpy") >= (1, 12) else ("X_pca",)


def _representation(adata: AnnData, named: Mapping[str, Any]) -> Representation | None:
    if named.get("distances") is not None:
        return None  # scanpy >= 1.12: precomputed distances, no representation searched
    n_pcs = named.get("n_pcs")
    name = chosen_representation(adata, use_rep=named.get("use_rep"), n_pcs=n_pcs)
    if name is None:
        return None
    import numpy as np
    from scipy import sparse

    matrix = adata.X if name == "X" else adata.obsm[name]
    if hasattr(matrix, "to_numpy") and not sparse.issparse(matrix):  # an obsm DataFrame
        matrix = matrix.to_numpy()
    if not (isinstance(matrix, np.ndarray) or sparse.issparse(matrix)) or matrix.ndim != 2:
        return None  # backed or lazy (dask): never read in full for a digest
    shape = matrix.shape
    n_dims = int(shape[1])
    if name != "X" and n_pcs is not None:
        n_dims = min(n_dims, int(n_pcs))
    return Representation(
        name=name,
        n_obs=int(shape[0]),
        n_dims=n_dims,
        dtype=str(matrix.dtype),
        hash_algorithm=HASH_ALGORITHM,
        digest=array_digest(matrix),
    )
