"""The slots of an object a call reads and writes, by name, and their digests.

A slot is one matrix or column of an AnnData: ``X``, ``raw.X``, ``layers['counts']``,
``obsm['X_pca']``, ``obsp['connectivities']``, ``varm['PCs']``, ``obs['leiden']``,
``var['highly_variable']``. Its name is how a record's ``reads``/``writes`` and a finding
name it. :func:`snapshot` digests every slot in one pass over each buffer (xxh3, no copy of a
dense array or a CSR matrix; a CSC matrix is hashed as its CSR form, converted); the recorder
takes one before and one after a call, and :func:`changed` tells what the call wrote.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

from provenance._schema.models import SlotDigest
from provenance._util.fingerprint import HASH_ALGORITHM, array_digest

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from anndata import AnnData

__all__ = [
    "MAPPINGS",
    "changed",
    "get_slot",
    "identities",
    "is_column",
    "slot_digest",
    "slot_name",
    "slot_names",
    "snapshot",
]

MAPPINGS = ("layers", "obsm", "obsp", "varm", "obs", "var")
"""The named collections of an object whose members are slots."""

_NAME = re.compile(r"^(layers|obsm|obsp|varm|obs|var)\[(.+)\]$")


def slot_name(where: str, key: str | None = None) -> str:
    """``"X"``, ``"raw.X"``, or ``"<where>['<key>']"`` (``slot_name("obsm", "X_pca")``)."""
    return where if key is None else f"{where}[{key!r}]"


def _parse(name: str) -> tuple[str, str | None]:
    if name in ("X", "raw.X"):
        return name, None
    m = _NAME.match(name)
    if m is None:
        msg = f"{name!r} is not a slot name (X, raw.X, layers['k'], obsm['k'], obs['c'], ...)"
        raise ValueError(msg)
    key = m.group(2)
    return m.group(1), key[1:-1] if key[:1] in "'\"" else key


def get_slot(adata: AnnData, name: str) -> Any:
    """The slot called ``name`` in ``adata`` (``None`` when it is not there)."""
    where, key = _parse(name)
    if where == "X":
        return adata.X
    if where == "raw.X":
        raw = getattr(adata, "raw", None)
        return None if raw is None else raw.X
    holder = getattr(adata, where, None)
    if holder is None or key not in holder:
        return None
    return holder[key]


def slot_digest(value: Any) -> SlotDigest | None:
    """The digest of one slot's value: a dense or sparse matrix, or a pandas column.

    ``None`` for what cannot be hashed in memory without reading or computing it (a backed
    or dask matrix, a data frame in ``obsm``).
    """
    import numpy as np
    from scipy import sparse

    if value is None:
        return None
    if hasattr(value, "cat") and hasattr(value, "to_numpy"):  # a categorical column
        return _column(value)
    if hasattr(value, "to_numpy") and hasattr(value, "dtype") and getattr(value, "ndim", 0) == 1:
        return _column(value)
    if sparse.issparse(value):
        return SlotDigest(
            shape=[int(n) for n in value.shape],
            dtype=str(value.dtype),
            sparse=True,
            hash_algorithm=HASH_ALGORITHM,
            digest=array_digest(value),
        )
    if isinstance(value, np.ndarray) and value.dtype.kind in "biufc":
        return SlotDigest(
            shape=[int(n) for n in value.shape],
            dtype=str(value.dtype),
            hash_algorithm=HASH_ALGORITHM,
            digest=array_digest(value),
        )
    return None


def _column(series: Any) -> SlotDigest | None:
    """A pandas column: its values in order.

    Text and categorical columns are hashed as the text of their values, so that what scanpy
    does to a column it was handed (strings made categorical by ``highly_variable_genes``'
    ``batch_key``, categories reordered) is no change of it.
    """
    import numpy as np

    from provenance._util.fingerprint import text_digest

    n = len(series)
    if str(series.dtype) == "category":
        names = np.asarray([str(c) for c in series.cat.categories] + ["nan"], dtype=object)
        values = names[series.cat.codes.to_numpy()]  # code -1 (missing) -> the last: "nan"
        digest = text_digest(f"text;{n};" + "\0".join(values.tolist()))
        return SlotDigest(shape=[n], dtype="category", hash_algorithm=HASH_ALGORITHM, digest=digest)
    values = series.to_numpy()
    if values.dtype.kind in "biuf":
        return SlotDigest(
            shape=[n],
            dtype=str(values.dtype),
            hash_algorithm=HASH_ALGORITHM,
            digest=array_digest(np.ascontiguousarray(values)),
        )
    digest = text_digest(f"text;{n};" + "\0".join(map(str, values)))
    return SlotDigest(
        shape=[n], dtype=str(series.dtype), hash_algorithm=HASH_ALGORITHM, digest=digest
    )


def _names(adata: AnnData) -> Iterable[str]:
    yield "X"
    if getattr(adata, "raw", None) is not None:
        yield "raw.X"
    for where in MAPPINGS:
        holder = getattr(adata, where, None)
        if holder is None:
            continue
        keys = holder.columns if where in ("obs", "var") else holder.keys()
        for key in keys:
            yield slot_name(where, str(key))


def slot_names(adata: AnnData) -> list[str]:
    """Every slot of ``adata``, by name, in a stable order."""
    return list(_names(adata))


def is_column(name: str) -> bool:
    """Whether the slot is an ``obs``/``var`` column (cheap to hash: one value per cell or
    gene), not a matrix."""
    return name.startswith(("obs[", "var["))


def identities(adata: AnnData) -> dict[str, tuple[Any, ...]]:
    """For every matrix slot held in memory: the object and the addresses of its buffers.

    Two equal identities are the same object over the same buffers, as a call left it or
    changed it in place; a slot replaced or re-made (a filter, ``subset=True``, a new
    ``obsm`` key) has another. Columns and what is not a numpy or scipy matrix are left
    out (always hashed).
    """
    out: dict[str, tuple[Any, ...]] = {}
    for name in _names(adata):
        if is_column(name):
            continue
        try:
            ident = _identity(get_slot(adata, name))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if ident is not None:
            out[name] = ident
    return out


def _identity(value: Any) -> tuple[Any, ...] | None:
    import numpy as np
    from scipy import sparse

    if isinstance(value, np.ndarray):
        return (id(value), _address(value), value.shape, value.strides, value.dtype.str)
    if sparse.issparse(value) and value.format in ("csr", "csc"):
        parts = (value.data, value.indices, value.indptr)
        return (id(value), value.format, value.shape, *(_address(p) for p in parts))
    return None


def _address(a: Any) -> int:
    return int(a.__array_interface__["data"][0])


def snapshot(adata: AnnData, names: Iterable[str] | None = None) -> dict[str, SlotDigest]:
    """Digests of the slots ``names`` of ``adata`` (every slot when ``None``), by name.

    A slot that is not there, or cannot be hashed in memory, is left out.
    """
    out: dict[str, SlotDigest] = {}
    for name in _names(adata) if names is None else names:
        try:
            d = slot_digest(get_slot(adata, name))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if d is not None:
            out[name] = d
    return out


def changed(
    before: Mapping[str, SlotDigest], after: Mapping[str, SlotDigest]
) -> dict[str, SlotDigest]:
    """The slots of ``after`` that are new or differ from ``before``: what a call wrote."""
    return {
        name: d
        for name, d in after.items()
        if name not in before or before[name].digest != d.digest or before[name].shape != d.shape
    }
