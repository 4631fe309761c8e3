"""A URL that names a collection (an object-store prefix, an HTTP directory listing): the
``.h5ad``/``.h5mu`` files and ``.zarr`` stores below it, as URLs to audit one by one.

An object store (``s3://``, ``gs://``) is listed level by level; a ``.zarr`` directory, or one
holding zarr's root metadata, is one store and not entered. Over HTTP the listing is the
server's HTML index (``python -m http.server``, nginx ``autoindex``, Apache): its links below
the URL, directories (links ending with ``/``) followed. Names starting with ``.`` are
skipped, as for a local directory. Each request must answer within the ``timeout`` storage
option.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._base.errors import UnreadableFileError

from .remote_io import Deadline, call, remote_fs, split_options

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["is_remote_collection", "list_remote"]

SUFFIXES = (".h5ad", ".h5mu")
_ZARR_META = ("zarr.json", ".zgroup", ".zmetadata")
_MAX_DEPTH = 32  # a listing that links to itself under new names ends here


def is_remote_collection(url: str) -> bool:
    """Whether a URL names a collection: it ends with ``/`` and is not a ``.zarr`` store, or
    it is a bucket alone.

    Examples
    --------
    >>> [is_remote_collection(u) for u in ("s3://b/run/", "s3://b", "s3://b/x.zarr/", "s3://b/x.h5ad")]
    [True, True, False, False]
    """
    if "://" not in url:
        return False
    rest = url.split("://", 1)[1]
    if url.endswith("/"):
        return not rest.rstrip("/").rsplit("/", 1)[-1].lower().endswith(".zarr")
    return "/" not in rest and not url.lower().startswith(("http:", "https:"))


def list_remote(url: str, storage_options: Mapping[str, Any] | None = None) -> list[str]:
    """The URLs of the ``.h5ad``/``.h5mu`` files and ``.zarr`` stores below ``url``, sorted.

    Raises :class:`~provenance.RemoteReadError` when the listing cannot be read (not found,
    access denied, timed out, ...), naming the URL.

    Examples
    --------
    >>> list_remote("s3://lab/run1/", {"anon": True})  # doctest: +SKIP
    ['s3://lab/run1/a.h5ad', 's3://lab/run1/day2/b.zarr']
    """
    _, timeout, _ = split_options(storage_options)
    fs, path = remote_fs(url, storage_options)
    protocols = fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,)
    found: list[str] = []
    if "http" in protocols or "https" in protocols:
        _http(fs, url.rstrip("/") + "/", timeout, found, depth=0)
    else:
        _store(fs, path.rstrip("/"), timeout, found, depth=0)
    return sorted(dict.fromkeys(found))


def _entries(fs: Any, where: str, url: str, timeout: float | None) -> list[dict[str, Any]]:
    listed = call(fs, "ls", where, detail=True, url=url, deadline=Deadline(timeout))
    return [e for e in listed if isinstance(e, dict)]


def _store(fs: Any, path: str, timeout: float | None, found: list[str], *, depth: int) -> None:
    url = fs.unstrip_protocol(path)
    for entry in _entries(fs, path, url, timeout):
        name = str(entry["name"]).rstrip("/")
        base = name.rsplit("/", 1)[-1]
        if base.startswith(".") or name == path:
            continue
        if entry.get("type") == "directory":
            if base.lower().endswith(".zarr") or _holds_zarr(fs, name, timeout):
                found.append(fs.unstrip_protocol(name))
            elif depth < _MAX_DEPTH:
                _store(fs, name, timeout, found, depth=depth + 1)
        elif base.lower().endswith(SUFFIXES):
            found.append(fs.unstrip_protocol(name))


def _holds_zarr(fs: Any, path: str, timeout: float | None) -> bool:
    names = {
        str(e["name"]).rstrip("/").rsplit("/", 1)[-1] for e in _entries(fs, path, path, timeout)
    }
    return bool(names & set(_ZARR_META))


def _http(fs: Any, url: str, timeout: float | None, found: list[str], *, depth: int) -> None:
    try:
        entries = _entries(fs, url, url, timeout)
    except UnreadableFileError:
        if depth == 0:
            raise
        return  # a sub-directory link that lists nothing: nothing to audit there
    for entry in entries:
        link = str(entry["name"])
        if not link.startswith(url) or link == url or "?" in link or "#" in link:
            continue  # a parent, a sibling, another site, a sort order
        base = link.rstrip("/").rsplit("/", 1)[-1]
        if base.startswith("."):
            continue
        if base.lower().endswith(".zarr"):
            found.append(link.rstrip("/"))
        elif link.endswith("/"):
            if depth < _MAX_DEPTH:
                _http(fs, link, timeout, found, depth=depth + 1)
        elif base.lower().endswith(SUFFIXES):
            found.append(link)
