"""Reading an ``.h5ad``/``.h5mu`` file or ``.zarr`` store at a URL, through fsspec.

``https://``, ``s3://`` and ``gs://`` (any protocol fsspec knows) are opened so that only
what a local read reads is fetched, and so that every read gives up with a reason:

- an HDF5 file is handed to h5py as a file object (:class:`~.remote_io.RangeReader`) whose
  reads become range requests: datasets about to be read are fetched exactly, scattered
  metadata reads by 64 kB blocks kept in an LRU, runs of reads ahead in growing windows
  (measured in ``benchmarks/bench_remote.py`` and ``bench_remote_bytes.py``);
- a zarr store is opened from its consolidated metadata (root ``zarr.json`` in format 3,
  ``.zmetadata`` in format 2, which anndata writes), one request; then only the chunks of
  the elements read are fetched. Over HTTP nothing can be listed, so a store without
  consolidated metadata is refused there with what to do;
- every request of one file must finish within the ``timeout`` storage option (seconds from
  the opening, default 60; ``0``/``None``: no limit), and a failure is a
  :class:`~provenance.RemoteReadError` whose ``reason`` says what happened (not found,
  access denied, credentials, no byte ranges, timed out, unreachable). A server that serves
  no byte ranges is refused unless ``allow_download`` is true: then the file is downloaded
  whole to a temporary file and read there;
- a URL ending with ``/`` (an object-store prefix, an HTTP directory listing) is a
  collection: :func:`list_remote` lists the files and stores below it.

Storage options (endpoint, credentials, ``anon``) are the caller's ``storage_options``
merged over fsspec's own configuration (``FSSPEC_<PROTOCOL>_<OPTION>`` environment
variables, fsspec's config files); s3fs/botocore read ``AWS_*`` variables
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...) themselves.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Any, Literal

from provenance._base.errors import RemoteReadError, UnreadableFileError

from .remote_h5 import _READERS, RangeReader
from .remote_io import (
    Deadline,
    Failure,
    call,
    classify,
    no_ranges,
    remote_fs,
    split_options,
    timed_out,
)
from .remote_list import is_remote_collection, list_remote
from .url import is_url

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine, Iterator, Mapping

__all__ = [
    "is_remote_collection",
    "is_url",
    "list_remote",
    "open_remote_root",
    "remote_fs",
]


@contextlib.contextmanager
def open_remote_root(url: str, storage_options: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """The root of the file or store at ``url``: an h5py file or a zarr group.

    The requests made while the root is open may wait on the server for the ``timeout``
    storage option (seconds, default :data:`~.remote_io.DEFAULT_TIMEOUT`) in all. Raises
    :class:`~provenance.RemoteReadError` (a :class:`~provenance.UnreadableFileError`) when
    nothing is there, access is refused, the server serves no byte ranges, the time is up or
    the server cannot be reached, and :class:`~provenance.UnreadableFileError` when it is not
    HDF5 or zarr; each names the URL, the reason and what to do. A read that fails inside the
    block (where h5py, zarr or the audit would turn it into something else) is raised when
    the block ends.
    """
    _, timeout, allow_download = split_options(storage_options)
    fs, path = remote_fs(url, storage_options)
    stripped = path.rstrip("/")
    deadline, failure = Deadline(timeout), Failure()
    zarr_meta = _zarr_metadata_names(fs, stripped, url, deadline)
    try:
        if zarr_meta:
            yield _open_zarr(url, fs, zarr_meta, storage_options, deadline, failure)
        else:
            with _open_h5(url, fs, stripped, deadline, failure, allow=allow_download) as f:
                yield f
    except Exception as e:
        if failure.error is not None and e is not failure.error:
            raise failure.error from e
        raise
    if failure.error is not None:  # kept by the reader, hidden by what read through it
        raise failure.error


def _zarr_metadata_names(fs: Any, path: str, url: str, deadline: Deadline) -> list[str]:
    """Which root metadata documents exist under ``path`` (none: not a zarr store)."""
    if path.endswith((".h5ad", ".h5mu", ".h5")):
        return []  # a file by name: spare the probes
    for name in ("zarr.json", ".zmetadata", ".zgroup"):
        try:
            if call(fs, "exists", f"{path}/{name}", url=url, deadline=deadline):
                return [name]
        except RemoteReadError as e:
            if e.reason != "not_found":
                raise
    return []


@contextlib.contextmanager
def _open_h5(
    url: str, fs: Any, path: str, deadline: Deadline, failure: Failure, *, allow: bool
) -> Iterator[Any]:
    import h5py

    info = call(fs, "info", path, url=url, deadline=deadline)
    if info.get("type") == "directory":
        msg = (
            f"{url}: a prefix (a directory of the store), not a file; end the URL with / to "
            "audit the .h5ad/.h5mu files and .zarr stores below it."
        )
        raise UnreadableFileError(msg)
    size = info.get("size")
    why = "Accept-Ranges: none" if info.get("partial") is False else None
    why = why or (None if size is not None else "it gives no Content-Length")
    if why is not None and not allow:
        raise no_ranges(url, why, size)
    reader = RangeReader(_fetcher(url, fs, path, int(size or 0), deadline, failure), int(size or 0))
    try:
        if why is not None:
            raise OSError(why)
        # h5py's page buffer serves only files written with the "page" file space strategy
        # (anndata does not write them): the defaults stay.
        h5 = h5py.File(reader, "r")
    except Exception as e:
        # Nothing may keep h5py's half-made file alive (its traceback's frames hold it): it
        # would be freed at exit, after h5py closed the library (a crash).
        _release(reader)
        e.__traceback__ = None
        if failure.error is not None:
            failure.error.__traceback__ = failure.error.__context__ = None
        if not isinstance(e, OSError) and failure.error is None:
            raise
        if allow and (why is not None or getattr(failure.error, "reason", "") == "no_ranges"):
            failure.error = None  # told at the first request: read a download instead
            with _downloaded(url, fs, path, deadline) as local, h5py.File(local, "r") as h5:
                yield h5
            return
        if failure.error is not None:
            raise failure.error from None
        msg = f"{url}: not an HDF5 (.h5ad) file nor a zarr store ({str(e)[:200]})."
        raise UnreadableFileError(msg) from None
    key = h5.id.fileno
    _READERS[key] = reader
    try:
        with h5:
            yield h5
    finally:
        _READERS.pop(key, None)


def _release(reader: RangeReader) -> None:
    """Close what h5py left of a file whose opening failed on a read: HDF5 keeps it half open
    and closes it at exit, through a reader the interpreter is tearing down (a crash)."""
    import h5py

    name = repr(reader).encode()
    for fid in h5py.h5f.get_obj_ids(types=h5py.h5f.OBJ_FILE):
        with contextlib.suppress(Exception):
            if fid.name == name:
                while fid.valid and h5py.h5i.get_ref(fid) > 0:
                    h5py.h5i.dec_ref(fid)


def _fetcher(
    url: str, fs: Any, path: str, size: int, deadline: Deadline, failure: Failure
) -> Callable[[int, int], bytes]:
    """``fetch(start, end)``: those bytes by the deadline; a server answering a range
    request with the whole file is told (HTTP), not read through."""
    http = "http" in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))

    async def http_range(start: int, end: int) -> bytes:
        session = await fs.set_session()
        kw = fs.kwargs.copy()
        headers = {**kw.pop("headers", {}), "Range": f"bytes={start}-{end - 1}"}
        async with session.get(fs.encode_url(path), headers=headers, **kw) as r:
            if r.status == 200 and end - start < size:
                raise no_ranges(url, "it answered a Range request with the whole file", size)
            fs._raise_not_found_for_status(r, path)
            data: bytes = await r.read()
            return data

    def fetch(start: int, end: int) -> bytes:
        try:
            if http:
                return bytes(call(fs, http_range, start, end, url=url, deadline=deadline))
            return bytes(
                call(fs, "cat_file", path, start=start, end=end, url=url, deadline=deadline)
            )
        except RemoteReadError as e:
            raise failure.keep(e) from None

    return fetch


@contextlib.contextmanager
def _downloaded(url: str, fs: Any, path: str, deadline: Deadline) -> Iterator[str]:
    """The whole file, downloaded (by the deadline) to a temporary file, removed after."""
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory(prefix="provenance-") as tmp:
        local = str(Path(tmp) / "download.h5")
        call(fs, "get_file", path, local, url=url, deadline=deadline)
        yield local


def _open_zarr(
    url: str,
    fs: Any,
    meta: list[str],
    storage_options: Mapping[str, Any] | None,
    deadline: Deadline,
    failure: Failure,
) -> Any:
    """The root group, from consolidated metadata: one request, and no listing afterwards."""
    import zarr

    if int(zarr.__version__.split(".")[0]) < 3:
        msg = (
            f"{url}: reading a zarr store at a URL needs zarr >= 3 (installed {zarr.__version__})."
        )
        raise UnreadableFileError(msg)
    store = _fsspec_store(url, storage_options, deadline, failure)
    fmt: Literal[2, 3] = 3 if "zarr.json" in meta else 2
    if fmt == 2 and ".zmetadata" not in meta and not _can_list(fs):
        msg = (
            f"{url}: a zarr store without consolidated metadata (.zmetadata), which cannot be "
            "read over HTTP (nothing can be listed); run zarr.consolidate_metadata on it, or "
            "re-save it with anndata."
        )
        raise UnreadableFileError(msg)
    try:
        group = zarr.open_group(store, mode="r", zarr_format=fmt, use_consolidated=True)
    except RemoteReadError:
        raise
    except (KeyError, ValueError) as e:
        if fmt == 3 and "consolidated" in str(e).lower():
            if not _can_list(fs):
                msg = (
                    f"{url}: a zarr store without consolidated metadata, which cannot be read "
                    "over HTTP (nothing can be listed); run zarr.consolidate_metadata on it."
                )
                raise UnreadableFileError(msg) from e
            return zarr.open_group(store, mode="r", zarr_format=fmt, use_consolidated=False)
        raise _cannot_parse(url, e) from e
    except Exception as e:
        if failure.error is not None:
            raise failure.error from e
        raise _cannot_parse(url, e) from e
    return group


def _cannot_parse(url: str, e: Exception) -> UnreadableFileError:
    import zarr

    return UnreadableFileError(
        f"{url}: the zarr store's metadata cannot be read with zarr {zarr.__version__} "
        f"({type(e).__name__}: {str(e)[:200]})."
    )


def _can_list(fs: Any) -> bool:
    """Whether the filesystem can list a directory (object stores can; HTTP cannot)."""
    return "http" not in (fs.protocol if isinstance(fs.protocol, tuple) else (fs.protocol,))


def _fsspec_store(
    url: str, storage_options: Mapping[str, Any] | None, deadline: Deadline, failure: Failure
) -> Any:
    """zarr's store over fsspec (made asynchronous, as zarr wants; sync filesystems wrapped),
    each request bounded by the file's deadline."""
    import asyncio

    from zarr.storage import FsspecStore, WrapperStore

    class DeadlineStore(WrapperStore[Any]):
        """The store, with every read done by the deadline and its failure told."""

        def _with_store(self, store: Any) -> DeadlineStore:
            return DeadlineStore(store)

        async def _limit(self, coro: Coroutine[Any, Any, Any]) -> Any:
            left = deadline.remaining()
            try:
                if left is not None and left <= 0:
                    coro.close()
                    raise timed_out(url, deadline)
                with deadline.waiting():
                    return await (coro if left is None else asyncio.wait_for(coro, left))
            except RemoteReadError as e:
                raise failure.keep(e) from None
            except Exception as e:
                raise failure.keep(classify(url, e, deadline)) from e

        async def get(self, *args: Any, **kwargs: Any) -> Any:
            return await self._limit(self._store.get(*args, **kwargs))

        async def get_partial_values(self, *args: Any, **kwargs: Any) -> Any:
            return await self._limit(self._store.get_partial_values(*args, **kwargs))

        async def exists(self, key: str) -> bool:
            return bool(await self._limit(self._store.exists(key)))

    opts, _, _ = split_options(storage_options)
    inner = FsspecStore.from_url(url.rstrip("/"), storage_options=opts or None, read_only=True)
    return DeadlineStore(inner)
