"""Single parts of an ``uns`` entry, for the audit of scanpy's results: read one by one.

The audit's sources read only ``params``, ``provenance`` and ``modularity`` of each ``uns``
entry. A result made without ``record()`` is checked against what scanpy left elsewhere in
its entry: ``rank_genes_groups``' group names (the field names of its ``names`` record array,
from the metadata alone), a dendrogram's ``categories_ordered``, PAGA's ``groups`` and the
shape of its ``connectivities``. These functions read just that part, from an AnnData in
memory, a file, or a MuData's part.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from provenance._base.errors import UnreadableFileError

from .files import AnnDataSource, FileSource
from .nodes import _is_array

if TYPE_CHECKING:
    from .mudata import PartView

    Source = AnnDataSource | FileSource | PartView

__all__ = ["uns_names", "uns_part", "uns_part_meta"]

Meta = tuple[tuple[int, ...] | None, tuple[str, ...]]


def _inner(src: Source, key: str) -> tuple[AnnDataSource | FileSource, str]:
    """The AnnData-level source and its own key (a MuData part's key without its prefix)."""
    if isinstance(src, AnnDataSource | FileSource):
        return src, key
    return src.inner, src.local(key)


def _node(src: FileSource, key: str, name: str) -> Any:
    """The element, or ``None`` when absent or its metadata cannot be parsed: these parts only
    serve a weaker check, which an unreadable part must not turn into an unreadable file."""
    root = src.root
    try:
        return root["uns"][key][name] if "uns" in root else None
    except Exception:  # absent, or e.g. a zarr v3 struct this zarr cannot parse
        return None


def uns_names(src: Source) -> list[str]:
    """Every key of ``uns`` (of a MuData's part: prefixed as it names them); from a file,
    the names alone (entries without ``params`` or a history are not in ``src.uns``)."""
    inner, prefix = (
        (src, "") if isinstance(src, AnnDataSource | FileSource) else (src.inner, src.prefix)
    )
    if isinstance(inner, AnnDataSource):
        names = [str(k) for k in inner.adata.uns]
    else:
        try:
            names = [str(k) for k in inner.root["uns"]] if "uns" in inner.root else []
        except Exception:  # a damaged uns group: the entries read already are all there is
            names = list(inner.uns)
    return [prefix + n for n in names]


def uns_part(src: Source, key: str, name: str) -> Any:
    """``uns[key][name]``, or ``None`` when absent; from a file, that element alone."""
    inner, local = _inner(src, key)
    if isinstance(inner, AnnDataSource):
        entry = inner.adata.uns.get(local)
        return entry.get(name) if isinstance(entry, Mapping) else None
    node = _node(inner, local, name)
    if node is None:
        return None
    try:
        return inner._read(node, f"uns[{local!r}][{name!r}]")
    except UnreadableFileError:
        return None


def uns_part_meta(src: Source, key: str, name: str) -> Meta:
    """The shape of ``uns[key][name]`` and its field names (of a record array); from a file,
    from the metadata alone (no values are read). ``(None, ())`` when absent."""
    inner, local = _inner(src, key)
    if isinstance(inner, AnnDataSource):
        return _meta(uns_part(inner, local, name))
    node = _node(inner, local, name)
    if node is None:
        return None, ()
    if not _is_array(node):  # a sparse matrix: a group with its shape as an attribute
        shape = node.attrs.get("shape")
        return (tuple(int(n) for n in shape) if shape is not None else None), ()
    try:
        names = node.dtype.names or ()
    except Exception:  # e.g. a zarr v3 struct this zarr cannot parse: no names to compare
        names = ()
    return tuple(int(n) for n in node.shape), tuple(str(n) for n in names)


def _meta(value: Any) -> Meta:
    shape = getattr(value, "shape", None)
    names = getattr(getattr(value, "dtype", None), "names", None) or ()
    return (tuple(int(n) for n in shape) if shape is not None else None), tuple(map(str, names))
