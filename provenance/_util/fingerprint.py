"""Fingerprints of graphs and labels, hashed from raw buffers in one pass.

Graph digest, algorithm ``xxh3_128_v2`` (:data:`GRAPH_HASH_ALGORITHM`): the matrix in
canonical CSR form (a CSR matrix with sorted indices; anything else is converted first, which
copies, and the record says so). Two ``xxh3_128`` hashes are computed and the digest is
``"xxh3_128_v2:" + structure.hexdigest() + weights.hexdigest()`` (64 hex digits):

* ``structure`` is fed the UTF-8 header ``"csr2;{n_rows}x{n_cols};{w_indptr};{w_indices};"``
  and then ``indptr`` and ``indices`` as little-endian integers of width ``w`` (``i4`` when
  every value of that array fits in int32, else ``i8``). The width is a function of the
  values, not of the stored dtype: int32, int64 and anndata's minimal-dtype indices (uint16)
  of one graph hash alike. int32 arrays, as scanpy writes them, are hashed in place; int64
  arrays are converted in chunks that stay in cache (no copy of the array); other index
  dtypes (uint16, big-endian), which scipy's own checks reject, are first copied to int32 by
  scipy's constructor (``canonicalized``).
* ``weights`` is fed ``"data;{data.dtype.str};"`` and the raw little-endian bytes of
  ``data``: float32 and float64 weights are different graphs.

The two halves let a check tell "same edges, other weights" from "other edges".

The first algorithm, ``xxh3_128`` (:data:`GRAPH_HASH_V1`, records written before v2), fed one
hash the header ``"csr;{n_rows}x{n_cols};{indptr.dtype.str};{indices.dtype.str};
{data.dtype.str};"`` and the raw bytes of ``indptr``, ``indices`` and ``data``; it is still
computed for those records (:func:`graph_digest` with ``algorithm="xxh3_128"``), and its
comparison retries the index dtypes scipy uses (int32, int64) so that a change of index dtype
alone is not a changed graph there either.

Label digests (``xxh3_128``, :data:`HASH_ALGORITHM`; unchanged, codes are always hashed as
int32 whatever the dtype pandas stores them in): ``obs_names_digest`` hashes
``"obs_names;{n};"`` and the names joined by NUL bytes in UTF-8. ``labels_digest`` hashes
``"labels;{n};"``, the ``obs_names_digest``, the canonical JSON list of category names, ``";"``
and the codes as little-endian int32 (-1 for missing). ``partition_digest`` hashes
``"partition;{n};"`` and the codes renumbered by order of first appearance (int32), so
renaming or reordering the categories leaves it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError

from .jsonsafe import canonical_json

if TYPE_CHECKING:
    from collections.abc import Iterator

    import numpy as np
    import pandas as pd

__all__ = [
    "GRAPH_ALGORITHMS",
    "GRAPH_HASH_ALGORITHM",
    "GRAPH_HASH_V1",
    "HASH_ALGORITHM",
    "GraphFingerprint",
    "canonical_csr",
    "graph_digest",
    "graph_fingerprint",
    "label_digests",
]

HASH_ALGORITHM = "xxh3_128"
"""Algorithm of the label digests (``result.hash_algorithm``)."""
GRAPH_HASH_ALGORITHM = "xxh3_128_v2"
"""Algorithm of the graph digests written now (``graph.hash_algorithm``)."""
GRAPH_HASH_V1 = "xxh3_128"
"""The first graph algorithm: index dtypes in the header (records written before v2)."""
GRAPH_ALGORITHMS = (GRAPH_HASH_ALGORITHM, GRAPH_HASH_V1)
"""Graph algorithms this version computes."""

_CHUNK = 1 << 18  # elements per converted chunk: 1-2 MiB, stays in cache
_DENSE_BLOCK = 1 << 24  # bytes of a non-contiguous dense array converted at a time: 16 MiB
_I4 = 2**31


def _hasher() -> Any:
    import xxhash

    return xxhash.xxh3_128()


def _digest(h: Any, algorithm: str = HASH_ALGORITHM) -> str:
    return f"{algorithm}:{h.hexdigest()}"


@dataclass(frozen=True)
class GraphFingerprint:
    """Digest and shape facts of a graph."""

    digest: str
    n_nodes: int
    n_edges: int
    dtype: str
    canonicalized: bool
    algorithm: str = GRAPH_HASH_ALGORITHM

    @property
    def structure(self) -> str | None:
        """The hex digest of the edges alone (``None`` for ``xxh3_128``, which has none)."""
        algo, _, hexd = self.digest.partition(":")
        return hexd[:32] if algo == GRAPH_HASH_ALGORITHM else None


def _le(a: np.ndarray) -> tuple[np.ndarray, bool]:
    """Native little-endian, C-contiguous view of ``a``; copies only when it must."""
    import numpy as np

    copied = False
    if a.dtype.byteorder == ">" or (a.dtype.byteorder == "=" and not np.little_endian):
        a = a.astype(a.dtype.newbyteorder("<"))
        copied = True
    if not a.flags.c_contiguous:
        a = np.ascontiguousarray(a)
        copied = True
    return a, copied


def _bytes(a: np.ndarray) -> memoryview:
    """The bytes of the C-contiguous array ``a``, without a copy.

    ``a.data`` is ``memoryview(a)``; numpy's stubs declare the buffer protocol only for
    Python >= 3.12, so on 3.11 a type checker rejects ``memoryview(a)`` but not ``a.data``.
    """
    return a.data.cast("B")


def canonical_csr(matrix: Any, *, name: str = "graph") -> tuple[Any, bool]:
    """``(csr, canonicalized)``: ``matrix`` as CSR with sorted indices, copied only if needed."""
    import numpy as np
    from scipy import sparse

    canonicalized = False
    if not sparse.issparse(matrix):
        if not isinstance(matrix, np.ndarray) or matrix.ndim != 2:
            msg = (
                f"{name}: cannot fingerprint a {type(matrix).__qualname__}; provenance needs the "
                "graph in memory as a scipy sparse matrix or numpy array (load backed or dask "
                "data with .to_memory() first)."
            )
            raise ProvenanceError(msg)
        matrix = sparse.csr_matrix(matrix)
        canonicalized = True
    elif matrix.format != "csr":
        matrix = matrix.tocsr()
        canonicalized = True
    native = (np.dtype(np.int32), np.dtype(np.int64))
    if matrix.indices.dtype != matrix.indptr.dtype or matrix.indices.dtype not in native:
        # scipy's routines (the sorted check included) take native int32/int64 indices only;
        # others (anndata's minimal uint16, big-endian) are copied by the constructor.
        matrix = sparse.csr_matrix((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape)
        canonicalized = True
    if not matrix.has_sorted_indices:
        matrix = matrix.copy()
        matrix.sort_indices()
        canonicalized = True
    return matrix, canonicalized


class _WiderThanInt32(Exception):
    """An index array holds values beyond int32: it is hashed as int64 instead."""


def _index_buffers(a: np.ndarray, width: str) -> Iterator[memoryview]:
    """The values of ``a`` as little-endian ``width`` integers: in place when they already are.

    Other dtypes are converted in chunks that stay in cache; a value that does not fit in
    int32 raises :class:`_WiderThanInt32` (checked per chunk, so the array is read once).
    """
    import numpy as np

    if a.dtype.kind not in "iu":
        msg = f"sparse index arrays must be integers, not {a.dtype}"
        raise ProvenanceError(msg)
    target = np.dtype("<" + width)
    if a.dtype == target and a.flags.c_contiguous:
        yield _bytes(a)  # the common case (scanpy's int32): no copy
        return
    # int8/16/32 and uint8/16 always fit in int32; int64, uint32 and uint64 are checked.
    fits = a.dtype.itemsize <= (4 if a.dtype.kind == "i" else 2)
    check = width == "i4" and not fits
    if width == "i8" and a.dtype.kind == "u" and a.dtype.itemsize == 8 and a.size:
        hi = int(a.max())
        if hi >= 2**63:
            msg = f"sparse index values up to {hi} do not fit in int64"
            raise ProvenanceError(msg)
    a = a.reshape(-1)
    buf = np.empty(min(_CHUNK, a.size), dtype=target)
    for start in range(0, a.size, _CHUNK):
        part = a[start : start + _CHUNK]
        if check and part.size and (part.min() < -_I4 or part.max() >= _I4):
            raise _WiderThanInt32
        out = buf[: part.size]
        np.copyto(out, part, casting="unsafe")  # the values fit (checked above)
        yield _bytes(out)


def _digest_v2(csr: Any) -> str:
    data, _ = _le(csr.data)
    n_rows, n_cols = csr.shape
    # Each index array is hashed as int32 unless its values need int64; the widths are in
    # the header, so a retry with int64 (rare: > 2**31 entries, or malformed) starts over.
    widths = ["i4", "i4"]
    while True:
        s = _hasher()
        s.update(f"csr2;{n_rows}x{n_cols};{widths[0]};{widths[1]};".encode())
        try:
            for i, arr in enumerate((csr.indptr, csr.indices)):
                try:
                    for buf in _index_buffers(arr, widths[i]):
                        s.update(buf)
                except _WiderThanInt32:
                    widths[i] = "i8"
                    raise
        except _WiderThanInt32:
            continue
        break
    v = _hasher()
    v.update(f"data;{data.dtype.str};".encode())
    v.update(_bytes(data))
    return f"{GRAPH_HASH_ALGORITHM}:{s.hexdigest()}{v.hexdigest()}"


def _digest_v1(csr: Any, *, index_dtype: str | None = None) -> str:
    """The first algorithm; ``index_dtype`` hashes both index arrays cast to that dtype."""
    import numpy as np

    arrays = []
    for a in (csr.indptr, csr.indices):
        if index_dtype is not None and a.dtype != np.dtype(index_dtype):
            a = a.astype(index_dtype)
        arrays.append(_le(a)[0])
    indptr, indices = arrays
    data, _ = _le(csr.data)
    n_rows, n_cols = csr.shape
    h = _hasher()
    h.update(
        f"csr;{n_rows}x{n_cols};{indptr.dtype.str};{indices.dtype.str};{data.dtype.str};".encode()
    )
    for buf in (indptr, indices, data):
        h.update(_bytes(buf))
    return _digest(h, GRAPH_HASH_V1)


def graph_digest(
    csr: Any, *, algorithm: str = GRAPH_HASH_ALGORITHM, index_dtype: str | None = None
) -> str:
    """Digest of a canonical CSR matrix (see :func:`canonical_csr`) under ``algorithm``.

    ``index_dtype`` (``xxh3_128`` only, which hashes the index dtype) hashes the index arrays
    cast to that dtype, as if they were stored so.
    """
    if algorithm == GRAPH_HASH_ALGORITHM:
        return _digest_v2(csr)
    if algorithm == GRAPH_HASH_V1:
        return _digest_v1(csr, index_dtype=index_dtype)
    msg = f"unknown graph hash algorithm {algorithm!r}; known: {', '.join(GRAPH_ALGORITHMS)}"
    raise ProvenanceError(msg)


def graph_fingerprint(
    matrix: Any, *, name: str = "graph", algorithm: str = GRAPH_HASH_ALGORITHM
) -> GraphFingerprint:
    """Fingerprint a graph (sparse or dense adjacency matrix) in its canonical CSR form.

    Parameters
    ----------
    matrix
        The adjacency matrix; a scipy CSR matrix/array with sorted indices is hashed in place.
    name
        How to name the matrix in error messages.
    algorithm
        :data:`GRAPH_HASH_ALGORITHM` (what records are written with), or an older algorithm a
        record names (see :data:`GRAPH_ALGORITHMS`).
    """
    import sys

    csr, canonicalized = canonical_csr(matrix, name=name)
    data = csr.data
    # Big-endian or strided weights are copied to hash them (int64 index arrays are converted
    # in chunks instead, which copies no array).
    big = data.dtype.byteorder == ">" or (data.dtype.byteorder == "=" and sys.byteorder == "big")
    return GraphFingerprint(
        digest=graph_digest(csr, algorithm=algorithm),
        n_nodes=int(csr.shape[0]),
        n_edges=int(csr.nnz),
        dtype=str(data.dtype.newbyteorder("<")),
        canonicalized=canonicalized or big or not data.flags.c_contiguous,
        algorithm=algorithm,
    )


def text_digest(text: str) -> str:
    """Digest of a string (UTF-8)."""
    h = _hasher()
    h.update(text.encode("utf-8", "surrogatepass"))
    return _digest(h)


def obs_names_digest(obs_names: pd.Index) -> str:
    """Digest of ``obs_names`` in order."""
    h = _hasher()
    h.update(f"obs_names;{len(obs_names)};".encode())
    # The same bytes either way; names that are all str (pandas' cached inference) join as a
    # list ~7x faster than str() over the Index (5 ms vs 37 ms at 100k cells).
    names = obs_names.tolist()
    if getattr(obs_names, "inferred_type", None) != "string":
        names = list(map(str, names))
    try:
        text = "\0".join(names)
    except TypeError:  # a missing value among string names (pd.NA): str() it as before
        text = "\0".join(map(str, names))
    h.update(text.encode("utf-8", "surrogatepass"))
    return _digest(h)


def label_digests(
    labels: pd.Series, obs_names: pd.Index, *, names_digest: str | None = None
) -> dict[str, Any]:
    """Digests and summary of a categorical label column.

    Returns a dict with ``categories``, ``cluster_sizes``, ``labels_digest``,
    ``partition_digest`` and ``obs_names_digest``. Pass ``names_digest`` (the
    :func:`obs_names_digest` of ``obs_names``) to skip recomputing it for every key.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(labels.dtype, pd.CategoricalDtype):
        labels = labels.astype("category")
    cat = labels.array
    codes = np.asarray(cat.codes, dtype="<i4")
    categories = [str(c) for c in cat.categories]
    n = len(codes)
    names = names_digest if names_digest is not None else obs_names_digest(obs_names)

    h = _hasher()
    h.update(f"labels;{n};{names};".encode())
    h.update(canonical_json(categories).encode())
    h.update(b";")
    h.update(_bytes(codes))

    # Renumber by first appearance: the same partition under any label names.
    seen = pd.unique(codes)
    remap = np.full(len(categories) + 1, -1, dtype="<i4")
    seen = seen[seen >= 0]
    remap[seen] = np.arange(len(seen), dtype="<i4")
    canonical = remap[codes]  # code -1 picks the last slot, which stays -1
    p = _hasher()
    p.update(f"partition;{n};".encode())
    p.update(_bytes(canonical))

    sizes = np.bincount(codes[codes >= 0], minlength=len(categories))
    return {
        "categories": categories,
        "cluster_sizes": [int(s) for s in sizes],
        "labels_digest": _digest(h),
        "partition_digest": _digest(p),
        "obs_names_digest": names,
    }


def label_names_digest(labels: pd.Series, *, names_digest: str) -> str:
    """Digest of each cell's label name: invariant to category order and unused categories.

    Two columns share it exactly when every cell (of the same ``obs_names``, whose
    :func:`obs_names_digest` is ``names_digest``) has the same label name, so a result
    computed from labels can tell a re-clustering or a rename from a reorder.
    """
    import numpy as np
    import pandas as pd

    if not isinstance(labels.dtype, pd.CategoricalDtype):
        labels = labels.astype("category")
    cat = labels.array
    codes = np.asarray(cat.codes, dtype="<i4")
    names = [str(c) for c in cat.categories]
    used = sorted({names[c] for c in pd.unique(codes) if c >= 0})
    # Old code -> position of its name among the used names, sorted; -1 (missing) stays -1.
    position = {n: i for i, n in enumerate(used)}
    remap = np.array([position.get(n, -1) for n in names] + [-1], dtype="<i4")
    h = _hasher()
    h.update(f"label_names;{len(codes)};{names_digest};".encode())
    h.update(canonical_json(used).encode())
    h.update(b";")
    h.update(_bytes(np.ascontiguousarray(remap[codes])))
    return _digest(h)


def array_digest(a: Any) -> str:
    """Digest of a dense or sparse matrix's values, shape and dtype, in one pass.

    A C-contiguous array or a CSR matrix is hashed in place; another dense array (Fortran
    order, strided, big-endian) as its C-ordered little-endian bytes, converted ~16 MiB of rows
    at a time; another sparse format as its CSR buffers (converted first).
    """
    import numpy as np
    from scipy import sparse

    h = _hasher()
    if sparse.issparse(a):
        csr = a.tocsr()
        h.update(f"csr;{csr.shape};".encode())
        for part in (csr.indptr, csr.indices, csr.data):
            arr, _ = _le(np.asarray(part))
            h.update(f"{arr.dtype.str};".encode())
            h.update(_bytes(arr))
        return _digest(h)
    arr = np.asarray(a)
    swap = arr.dtype.byteorder == ">" or (arr.dtype.byteorder == "=" and not np.little_endian)
    le = arr.dtype.newbyteorder("<") if swap else arr.dtype
    h.update(f"dense;{arr.shape};{le.str};".encode())
    if arr.flags.c_contiguous and not swap:
        h.update(_bytes(arr))
        return _digest(h)
    rows = max(1, _DENSE_BLOCK // max(1, arr.itemsize * int(np.prod(arr.shape[1:]))))
    for start in range(0, max(1, len(arr)), rows):  # 0-d arrays are C-contiguous
        h.update(_bytes(np.ascontiguousarray(arr[start : start + rows], dtype=le)))
    return _digest(h)
