"""Which graph a clustering call uses, following scanpy's own choice."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError
from provenance._schema.models import GraphInfo
from provenance._util.fingerprint import (
    GRAPH_ALGORITHMS,
    GRAPH_HASH_ALGORITHM,
    GRAPH_HASH_V1,
    canonical_csr,
    graph_digest,
    graph_fingerprint,
)
from provenance._util.jsonsafe import jsonable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData

    from provenance._schema.models import GraphEdit
    from provenance._util.fingerprint import GraphFingerprint

__all__ = [
    "CurrentGraph",
    "GraphCheck",
    "apply_edits",
    "graph_info",
    "locate_graph",
    "same_graph",
    "undo_edits",
]


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
        hash_algorithm=GRAPH_HASH_ALGORITHM,
        digest=fp.digest,
        canonicalized=fp.canonicalized,
    )


# --- checking a graph against a record ------------------------------------------------------


@dataclass(frozen=True)
class GraphCheck:
    """How the graph in the object compares with the one a record names."""

    matches: bool
    """The graph is the recorded one (the dtype of its index arrays aside)."""
    fingerprint: GraphFingerprint
    """The graph as it is now, under the record's algorithm."""
    cause: str | None = None
    """What changed, when it can be told: ``"nodes"`` (another number of cells), ``"edges"``,
    ``"weights"`` (same edges, other weights), ``"dtype"`` (the weights' dtype alone: cast
    back, the graph is the recorded one), ``"dtype_rounded"`` (same edges, weights cast to a
    narrower dtype), ``"dtype_and_weights"``, or ``"changed"`` (the digest alone cannot say)."""
    detail: str = ""
    """The cause in words, for messages."""
    facts: dict[str, Any] = field(default_factory=dict)
    """Then/now numbers behind ``detail`` (for a finding's details)."""


class CurrentGraph:
    """A graph as it is now, fingerprinted lazily, once per algorithm a record names."""

    def __init__(self, matrix: Any, *, name: str) -> None:
        self.name = name
        self._csr, self._canonicalized = canonical_csr(matrix, name=name)
        self._fps: dict[str, GraphFingerprint] = {}

    @property
    def csr(self) -> Any:
        """The graph in canonical CSR form (the stored matrix itself when it already was)."""
        return self._csr

    def fingerprint(self, algorithm: str = GRAPH_HASH_ALGORITHM) -> GraphFingerprint:
        """The fingerprint under ``algorithm`` (computed once)."""
        if algorithm not in self._fps:
            self._fps[algorithm] = graph_fingerprint(self._csr, name=self.name, algorithm=algorithm)
        return self._fps[algorithm]

    def check(self, info: GraphInfo) -> GraphCheck:
        """Compare with the graph ``info`` describes; say what changed when it can be told.

        Only a mismatch costs more than one fingerprint: then the weights are cast back to
        the recorded dtype (and, for ``xxh3_128`` records, the index arrays to int32/int64)
        to tell a change of dtype from a change of the graph.
        """
        algo = info.hash_algorithm
        if algo not in GRAPH_ALGORITHMS:
            msg = f"unknown graph hash algorithm {algo!r}; known: {', '.join(GRAPH_ALGORITHMS)}"
            raise ProvenanceError(msg)
        fp = self.fingerprint(algo)
        if fp.digest == info.digest or self._v1_index_dtype_only(info):
            return GraphCheck(True, fp)
        return self._explain(info, fp)

    def _v1_index_dtype_only(self, info: GraphInfo) -> bool:
        """``xxh3_128`` hashed the index dtype: try the ones scipy uses (int32, int64)."""
        if info.hash_algorithm != GRAPH_HASH_V1 or self._csr.shape[0] != info.n_nodes:
            return False
        if self._csr.nnz != info.n_edges:
            return False
        return any(
            graph_digest(self._csr, algorithm=GRAPH_HASH_V1, index_dtype=dt) == info.digest
            for dt in ("<i4", "<i8")
            if _fits(self._csr, dt)
        )

    def _explain(self, info: GraphInfo, fp: GraphFingerprint) -> GraphCheck:
        import numpy as np

        facts: dict[str, Any] = {
            "n_nodes_then": info.n_nodes,
            "n_nodes_now": fp.n_nodes,
            "n_edges_then": info.n_edges,
            "n_edges_now": fp.n_edges,
            "dtype_then": info.dtype,
            "dtype_now": fp.dtype,
            "digest_then": info.digest,
        }
        then_dt, now_dt = info.dtype, fp.dtype
        dtype_changed = then_dt != now_dt
        dtype_text = f"the dtype of its edge weights changed ({then_dt} → {now_dt})"
        if fp.n_nodes != info.n_nodes:
            detail = (
                f"it has {fp.n_nodes} nodes, the graph clustered had {info.n_nodes}: it was "
                "built on other cells (a subset or a concatenated object)"
            )
            return GraphCheck(False, fp, "nodes", detail, facts)
        cast = _cast_back(self._csr, then_dt) if dtype_changed else None
        if cast is not None and fp.n_edges == info.n_edges:
            index_dtypes = (None,) if info.hash_algorithm != GRAPH_HASH_V1 else (None, "<i4", "<i8")
            if any(
                graph_digest(cast, algorithm=info.hash_algorithm, index_dtype=dt) == info.digest
                for dt in index_dtypes
                if dt is None or _fits(cast, dt)
            ):
                detail = (
                    f"only {dtype_text}: cast back to {then_dt}, it is exactly the graph clustered"
                )
                return GraphCheck(False, fp, "dtype", detail, facts)
        if info.hash_algorithm == GRAPH_HASH_ALGORITHM:
            same_edges = fp.structure == info.digest.partition(":")[2][:32]
            if same_edges and not dtype_changed:
                detail = f"the same {fp.n_edges} edges, but their weights changed"
                return GraphCheck(False, fp, "weights", detail, facts)
            if same_edges:
                rounded = not np.can_cast(np.dtype(then_dt), np.dtype(now_dt), "safe")
                if rounded:
                    detail = (
                        f"the same {fp.n_edges} edges, but {dtype_text}, which rounds them, so "
                        "they cannot be compared with the recorded ones"
                    )
                    return GraphCheck(False, fp, "dtype_rounded", detail, facts)
                detail = f"the same {fp.n_edges} edges, but {dtype_text} and their values changed"
                return GraphCheck(False, fp, "dtype_and_weights", detail, facts)
            detail = f"its edges changed ({info.n_edges} edges then, {fp.n_edges} now)"
            if dtype_changed:
                detail += f" and so did the dtype of their weights ({then_dt} → {now_dt})"
            return GraphCheck(False, fp, "edges", detail + "; e.g. sc.pp.neighbors re-run", facts)
        detail = f"{info.n_edges} edges then, {fp.n_edges} now"
        detail += f"; {dtype_text}" if dtype_changed else "; e.g. sc.pp.neighbors re-run"
        return GraphCheck(False, fp, "changed", detail, facts)


def same_graph(then: GraphInfo | None, now: GraphInfo, matrix: Any) -> bool:
    """Whether ``now`` (just fingerprinted from ``matrix``) is the graph ``then`` describes.

    Digests of one algorithm are compared as they are; a record of another algorithm (written
    before ``xxh3_128_v2``) is checked by fingerprinting ``matrix`` its way, so an identical
    re-run after an upgrade is still recognised as the same graph.
    """
    if then is None:
        return False
    if then.hash_algorithm == now.hash_algorithm:
        return then.digest == now.digest
    if then.hash_algorithm not in GRAPH_ALGORITHMS:
        return False
    return CurrentGraph(matrix, name="graph").check(then).matches


def undo_edits(matrix: Any, edits: Sequence[GraphEdit]) -> Any | None:
    """The graph as it was before recorded in-place ``edits`` (oldest first) changed it into
    ``matrix``: a new CSR matrix (index arrays shared), or ``None`` when an edit did not keep
    its changes or does not fit the matrix. Check its digest against the one expected."""
    return apply_edits(matrix, [(e, True) for e in reversed(edits)])


def apply_edits(matrix: Any, moves: Sequence[tuple[GraphEdit, bool]]) -> Any | None:
    """``matrix`` with each edit of ``moves`` undone (``True``: its ``weights_before`` put
    back) or redone (``False``: its ``weights_after``), in order; a new CSR matrix (index
    arrays shared), or ``None`` when an edit kept no changes or does not fit the matrix."""
    import numpy as np
    from scipy import sparse

    csr, _ = canonical_csr(matrix)
    data = csr.data.copy()
    indptr, indices = csr.indptr, csr.indices
    for edit, undo in moves:
        weights = edit.weights_before if undo else edit.weights_after
        if not edit.kept or not edit.same_edges or len(weights) != len(edit.rows):
            return None
        for r, c, w in zip(edit.rows, edit.cols, weights, strict=True):
            if r >= len(indptr) - 1:
                return None
            lo, hi = int(indptr[r]), int(indptr[r + 1])
            pos = lo + int(np.searchsorted(indices[lo:hi], c))
            if pos >= hi or indices[pos] != c:
                return None
            data[pos] = w
    out = sparse.csr_matrix(csr.shape, dtype=data.dtype)
    out.data, out.indices, out.indptr = data, indices, indptr
    out.has_sorted_indices = True
    return out


def _fits(csr: Any, dtype: str) -> bool:
    import numpy as np

    info = np.iinfo(np.dtype(dtype))
    return all(
        a.size == 0 or (int(a.min()) >= info.min and int(a.max()) <= info.max)
        for a in (csr.indptr, csr.indices)
    )


def _cast_back(csr: Any, dtype: str) -> Any:
    """``csr`` with its weights cast to ``dtype`` (the index arrays shared), or ``None``."""
    import numpy as np
    from scipy import sparse

    try:
        dt = np.dtype(dtype)
    except TypeError:
        return None  # a dtype this numpy does not know
    out = sparse.csr_matrix(csr.shape, dtype=dt)
    out.data, out.indices, out.indptr = csr.data.astype(dt), csr.indices, csr.indptr
    out.has_sorted_indices = True
    return out
