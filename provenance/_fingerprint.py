"""Fingerprints of graphs and labels, hashed from raw buffers in one pass.

Graph digest (``xxh3_128``): the matrix in canonical CSR form (a CSR matrix with sorted
indices, native little-endian buffers; anything else is converted first, which copies, and
the record says so). The hash is fed, in order, with the UTF-8 header
``"csr;{n_rows}x{n_cols};{indptr.dtype.str};{indices.dtype.str};{data.dtype.str};"`` and
then the raw bytes of ``indptr``, ``indices`` and ``data``.

Label digests (``xxh3_128``): ``obs_names_digest`` hashes ``"obs_names;{n};"`` and the names
joined by NUL bytes in UTF-8. ``labels_digest`` hashes ``"labels;{n};"``, the
``obs_names_digest``, the canonical JSON list of category names, ``";"`` and the codes as
little-endian int32 (-1 for missing). ``partition_digest`` hashes ``"partition;{n};"`` and the
codes renumbered by order of first appearance (int32), so renaming or reordering the
categories leaves it unchanged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ._errors import ProvenanceError
from ._jsonsafe import canonical_json

if TYPE_CHECKING:
    import numpy as np
    import pandas as pd

__all__ = ["HASH_ALGORITHM", "GraphFingerprint", "graph_fingerprint", "label_digests"]

HASH_ALGORITHM = "xxh3_128"


def _hasher() -> Any:
    import xxhash

    return xxhash.xxh3_128()


def _digest(h: Any) -> str:
    return f"{HASH_ALGORITHM}:{h.hexdigest()}"


@dataclass(frozen=True)
class GraphFingerprint:
    """Digest and shape facts of a graph."""

    digest: str
    n_nodes: int
    n_edges: int
    dtype: str
    canonicalized: bool


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


def graph_fingerprint(matrix: Any, *, name: str = "graph") -> GraphFingerprint:
    """Fingerprint a graph (sparse or dense adjacency matrix) in its canonical CSR form.

    Parameters
    ----------
    matrix
        The adjacency matrix; a scipy CSR matrix/array with sorted indices is hashed in place.
    name
        How to name the matrix in error messages.
    """
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
    if not matrix.has_sorted_indices:
        matrix = matrix.copy()
        matrix.sort_indices()
        canonicalized = True
    indptr, c1 = _le(matrix.indptr)
    indices, c2 = _le(matrix.indices)
    data, c3 = _le(matrix.data)
    h = _hasher()
    n_rows, n_cols = matrix.shape
    h.update(
        f"csr;{n_rows}x{n_cols};{indptr.dtype.str};{indices.dtype.str};{data.dtype.str};".encode()
    )
    for buf in (indptr, indices, data):
        h.update(memoryview(buf).cast("B"))
    return GraphFingerprint(
        digest=_digest(h),
        n_nodes=int(n_rows),
        n_edges=int(matrix.nnz),
        dtype=str(data.dtype),
        canonicalized=canonicalized or c1 or c2 or c3,
    )


def obs_names_digest(obs_names: pd.Index) -> str:
    """Digest of ``obs_names`` in order."""
    h = _hasher()
    h.update(f"obs_names;{len(obs_names)};".encode())
    h.update("\0".join(map(str, obs_names)).encode("utf-8", "surrogatepass"))
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
    h.update(memoryview(codes).cast("B"))

    # Renumber by first appearance: the same partition under any label names.
    seen = pd.unique(codes)
    remap = np.full(len(categories) + 1, -1, dtype="<i4")
    seen = seen[seen >= 0]
    remap[seen] = np.arange(len(seen), dtype="<i4")
    canonical = remap[codes]  # code -1 picks the last slot, which stays -1
    p = _hasher()
    p.update(f"partition;{n};".encode())
    p.update(memoryview(canonical).cast("B"))

    sizes = np.bincount(codes[codes >= 0], minlength=len(categories))
    return {
        "categories": categories,
        "cluster_sizes": [int(s) for s in sizes],
        "labels_digest": _digest(h),
        "partition_digest": _digest(p),
        "obs_names_digest": names,
    }
