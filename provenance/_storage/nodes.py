"""Reading the few nodes of an ``.h5ad`` file or ``.zarr`` store the audit needs, cheaply.

Opening (h5py, or zarr 2/3 through a light root that lists directories), listing ``uns``
members without opening them, and a plain reader of dicts, strings and small arrays that needs
no anndata. :mod:`.files` builds the audit's sources on these.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import UnreadableFileError

from .remote_h5 import prefetch

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

# The parts of an uns entry the audit looks at; anything else (colors, big arrays) is skipped.
# scanpy >= 1.12 writes "modularity" beside "params"; the audit compares it with the record.
_UNS_FIELDS = ("params", "provenance", "modularity")


class _NotPlain(Exception):
    """An element whose encoding the plain reader leaves to anndata."""


_MAX_PLAIN_DEPTH = 64


def _is_h5(node: Any) -> bool:
    return type(node).__module__.split(".")[0] == "h5py"


def _read_plain(node: Any, depth: int = 0) -> Any:
    """Read dicts, strings, scalars and plain arrays as anndata would, without anndata.

    ``uns`` entries the audit reads (``params``, ``provenance``, the index) use only these
    encodings, so ``provenance show`` need not import anndata (about a second) at all.
    Anything else raises ``_NotPlain`` and is read by anndata's ``read_elem``.
    """
    import numpy as np

    if depth > _MAX_PLAIN_DEPTH:
        raise _NotPlain
    if depth == 0:  # at a URL: the element's large datasets in few requests (else a no-op)
        prefetch(node)
    kind = node.attrs.get("encoding-type")
    if not _is_array(node):
        if kind != "dict":
            raise _NotPlain
        # h5py lists a group's members in one order every time; a zarr store's listing need
        # not be (the same file would give JSON in another order on each run): sorted.
        keys = node if _is_h5(node) else sorted(node)
        return {str(k): _read_plain(node[k], depth + 1) for k in keys}
    is_h5 = _is_h5(node)
    if kind == "null":
        return None
    if kind in ("string", "string-array"):
        value = node.asstr()[()] if is_h5 else node[...]
        if kind == "string":
            return str(value.item() if isinstance(value, np.ndarray) else value)
        if value.dtype.kind != "O" and getattr(value.dtype, "name", "") != "StringDType128":
            value = value.astype(object)  # fixed-width zarr v2 strings -> str, as anndata does
        return value
    if kind in ("numeric-scalar", "array"):
        value = node[()] if is_h5 else node[...]
        if value.dtype.kind not in "biuf":
            raise _NotPlain
        return value[()] if kind == "numeric-scalar" else value
    raise _NotPlain


def _names_node(node: Any) -> Any:
    """The array of an ``obs``/``var`` index: anndata 0.13 + pandas 3 store it as a
    nullable-string-array group, which anndata < 0.13 cannot read, but whose values are a
    plain string array (the names hold no missing values)."""
    if not _is_array(node) and node.attrs.get("encoding-type") == "nullable-string-array":
        return node["values"]
    return node


def _fast_strings(node: Any) -> Any:
    """An HDF5 string array read as numpy's StringDType: twice as fast as object strings.

    Returns ``None`` when that path does not apply (zarr, older h5py/numpy, other encodings);
    the caller then reads the element with ``read_elem``.
    """
    import numpy as np

    if (
        type(node).__module__.split(".")[0] != "h5py"
        or node.attrs.get("encoding-type") != "string-array"
        or node.ndim != 1
        or not hasattr(getattr(np, "dtypes", None), "StringDType")  # numpy < 1.25: no np.dtypes
    ):
        return None
    prefetch(node)  # at a URL: the strings' bytes in few requests
    try:
        return node.astype(np.dtypes.StringDType())[()]
    except (TypeError, ValueError, OSError):  # h5py < 3.14 cannot convert to StringDType
        return None


def _uns_members(group: Any, directory: Path | None) -> Iterator[tuple[str, tuple[str, ...]]]:
    """Each child of ``uns``: its name, and which of ``params``/``provenance`` it holds.

    A file may hold thousands of ``uns`` entries the audit has no use for, so they are told
    apart without opening them: by HDF5's object info and link table, or by the directories
    of a local zarr store. Other groups are opened one by one.
    """
    if type(group).__module__.split(".")[0] == "h5py":
        yield from _h5_uns_members(group)
    elif directory is not None:
        yield from _dir_uns_members(directory)
    else:
        for key in group:
            node = group[key]
            fields = () if _is_array(node) else tuple(f for f in _UNS_FIELDS if f in node)
            yield str(key), fields


def _h5_uns_members(group: Any) -> Iterator[tuple[str, tuple[str, ...]]]:
    import h5py

    gid = group.id
    wanted = [(f, f.encode()) for f in _UNS_FIELDS]
    for raw in gid:
        try:
            is_group = h5py.h5o.get_info(gid, raw).type == h5py.h5o.TYPE_GROUP
        except Exception:  # a dangling link: nothing to read
            is_group = False
        fields: tuple[str, ...] = ()
        if is_group:
            fields = tuple(f for f, b in wanted if gid.links.exists(raw + b"/" + b))
        yield raw.decode("utf-8", "surrogateescape"), fields


def _dir_uns_members(path: Path) -> Iterator[tuple[str, tuple[str, ...]]]:
    import os

    # os.path on strings: pathlib's objects cost more than the stat calls here.
    entries = sorted((e.name, e.path) for e in os.scandir(path) if e.is_dir() and e.name[0] != ".")
    for name, where in entries:
        fields = tuple(
            f
            for f in _UNS_FIELDS
            if os.path.isdir(sub := os.path.join(where, f))
            and any(os.path.isfile(os.path.join(sub, m)) for m in _ZARR_META)
        )
        yield name, fields


def _is_zarr_node(path: Path) -> bool:
    return path.is_dir() and any((path / m).is_file() for m in _ZARR_META)


_ZARR_META = ("zarr.json", ".zgroup", ".zarray")


class _ZarrRoot:
    """The root of a local zarr store, its elements opened one by one when first used.

    anndata consolidates the metadata of every element into the root, and zarr parses all of
    it when the root is opened: seconds for a store with thousands of ``uns`` entries, and an
    error for the whole store when one element has a data type this zarr cannot parse
    (anndata 0.13 writes ``rank_genes_groups``' structured arrays as zarr v3 ``struct``, which
    zarr 3.1 does not know). Opened element by element, only the metadata of the elements
    the audit reads is parsed.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._nodes: dict[str, Any] = {}

    @functools.cached_property
    def attrs(self) -> dict[str, Any]:
        return _zarr_root_attrs(self.path)

    def __contains__(self, name: str) -> bool:
        return _is_zarr_node(self.path / name)

    def __getitem__(self, name: str) -> Any:
        if name not in self._nodes:
            if name not in self:
                raise KeyError(name)
            self._nodes[name] = _zarr_open(self.path / name)
        return self._nodes[name]


def _zarr_open(path: Path) -> Any:
    import zarr

    if (path / ".zarray").is_file():
        return zarr.open_array(str(path), mode="r")
    if (path / ".zgroup").is_file():
        return zarr.open_group(str(path), mode="r")
    meta = json.loads((path / "zarr.json").read_bytes())
    if meta.get("node_type") == "array":
        return zarr.open_array(str(path), mode="r")
    return zarr.open_group(str(path), mode="r", use_consolidated=False)


def _zarr_root_attrs(path: Path) -> dict[str, Any]:
    """The root's attributes, without parsing the consolidated metadata stored next to them."""
    if (path / ".zgroup").is_file():
        attrs = path / ".zattrs"
        return json.loads(attrs.read_bytes()) if attrs.is_file() else {}
    meta = path / "zarr.json"
    with meta.open("rb") as f:
        head = f.read(1 << 16).decode("utf-8", "ignore")
    # zarr writes "attributes" before "consolidated_metadata": decode that value alone.
    i, j = head.find('"attributes"'), head.find('"consolidated_metadata"')
    if i != -1 and (j == -1 or i < j):
        start = head.index(":", i) + 1
        start += len(head[start:]) - len(head[start:].lstrip())
        with contextlib.suppress(ValueError):
            value, _ = json.JSONDecoder().raw_decode(head, start)
            if isinstance(value, dict):
                return value
    return dict(json.loads(meta.read_bytes()).get("attributes") or {})


def _is_array(node: Any) -> bool:
    return hasattr(node, "shape") and hasattr(node, "dtype")


def _child(group: Any, name: str, path: Path | str) -> Any:
    try:
        return group[name]
    except (KeyError, FileNotFoundError) as e:
        if _is_h5(group) and name in list(group):  # listed, yet HDF5 cannot open it
            msg = (
                f"{path}: a damaged HDF5 file: its {name!r} element is listed but cannot be "
                f"read ({e}); copy it again from its source, or check the disk."
            )
            raise UnreadableFileError(msg) from e
        msg = f"{path}: has no {name!r} element; it is not an AnnData file."
        raise UnreadableFileError(msg) from None
    except Exception as e:  # e.g. metadata this zarr cannot parse
        msg = f"{path}: cannot open {name!r} with {_versions()} ({type(e).__name__}: {e})."
        raise UnreadableFileError(msg) from e


def _versions() -> str:
    """The installed readers, for messages about what they cannot read."""
    from importlib.metadata import PackageNotFoundError, version

    out = []
    for name in ("zarr", "anndata"):
        try:
            out.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            out.append(f"{name} not installed")
    return ", ".join(out)


def _open_zarr(path: Path) -> _ZarrRoot:
    """A local zarr store (format 2 or 3), checked to be one this zarr can read."""
    import zarr

    is_v3 = (path / "zarr.json").is_file() and not (path / ".zgroup").exists()
    if is_v3 and int(zarr.__version__.split(".")[0]) < 3:
        msg = (
            f"{path}: a zarr format 3 store, which the installed zarr {zarr.__version__} cannot "
            "read; install zarr >= 3 (anndata >= 0.11)."
        )
        raise UnreadableFileError(msg)
    if not is_v3 and not (path / ".zgroup").is_file():
        if path.suffix.lower() in (".h5ad", ".h5mu"):
            msg = f"{path}: a directory, not an HDF5 ({path.suffix.lower()}) file nor a zarr store."
        else:
            msg = f"{path}: not a zarr store (no zarr.json or .zgroup in the directory)."
        raise UnreadableFileError(msg)
    root = _ZarrRoot(path)
    try:
        root.attrs  # noqa: B018 - read now: a damaged root is an unreadable store
    except (OSError, ValueError) as e:
        msg = f"{path}: the zarr store's root metadata cannot be read ({e})."
        raise UnreadableFileError(msg) from e
    return root


_NOT_REGULAR = (
    (stat.S_ISFIFO, "a FIFO (named pipe)"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
    (stat.S_ISSOCK, "a socket"),
)


def _check_regular(path: Path, kind: str) -> None:
    """Refuse what is not a regular file before opening it: opening a FIFO blocks until
    something writes to it, a device never ends."""
    try:
        mode = path.stat().st_mode  # follows a symlink: what it points to
    except OSError:
        return  # opening it says why
    if stat.S_ISREG(mode):
        return
    what = next((name for test, name in _NOT_REGULAR if test(mode)), "not a regular file")
    msg = f"{path}: {what}, not an HDF5 ({kind}) file: not opened (reading it could block)."
    raise UnreadableFileError(msg)


def _from_h5py(e: BaseException) -> bool:
    """Whether ``e`` was raised inside h5py (its innermost frame is h5py's)."""
    tb = e.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    return tb is not None and "h5py" in tb.tb_frame.f_code.co_filename


@contextlib.contextmanager
def _open_root(
    path: Path | str, *, storage_options: Mapping[str, Any] | None = None
) -> Iterator[Any]:
    """The root of a local file or store (``Path``), or of one at a URL (``str``)."""
    from .url import is_url

    if is_url(path):
        from .remote import open_remote_root

        with open_remote_root(str(path), storage_options) as root:
            yield root
        return
    path = Path(path)
    try:
        if not path.exists():
            msg = f"{path}: no such file or directory."
            raise UnreadableFileError(msg)
        store = _open_zarr(path) if path.is_dir() else None
    except PermissionError as e:  # a directory on the way, or the store, this user may not read
        msg = f"{path}: permission denied: this user cannot read it (check the permissions)."
        raise UnreadableFileError(msg) from e
    if store is not None:
        yield store
        return
    import h5py

    kind = path.suffix.lower() if path.suffix.lower() in (".h5ad", ".h5mu") else ".h5ad"
    _check_regular(path, kind)
    try:
        f = h5py.File(path, "r")
    except OSError as e:
        # Not a format problem: say so, not "not an HDF5 file" (older h5py: a bare OSError).
        if isinstance(e, PermissionError) or not os.access(path, os.R_OK):
            msg = f"{path}: permission denied: this user cannot read the file (check its mode)."
            raise UnreadableFileError(msg) from PermissionError(*e.args)
        empty = " an empty file (0 bytes):" if path.stat().st_size == 0 else ""
        msg = f"{path}:{empty} not an HDF5 ({kind}) file ({str(e)[:200]})."
        raise UnreadableFileError(msg) from e
    with f:
        try:
            yield f
        except (KeyError, OSError, RuntimeError, ValueError) as e:
            if not _from_h5py(e) or isinstance(e, PermissionError):
                raise
            # HDF5's own words ("bad object header version number", "bad global heap
            # collection signature"): a damaged or half-written file, not a bug to report.
            msg = (
                f"{path}: a damaged HDF5 ({kind}) file: HDF5 cannot read part of it ({e}); "
                "copy it again from its source, or check the disk."
            )
            raise UnreadableFileError(msg) from e
