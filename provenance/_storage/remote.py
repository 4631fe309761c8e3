"""Reading an ``.h5ad``/``.h5mu`` file or ``.zarr`` store at a URL, through fsspec.

``https://``, ``s3://`` and ``gs://`` (any protocol fsspec knows) are opened so that only
what a local read reads is fetched:

- an HDF5 file is handed to h5py as an fsspec file object with small blocks kept in an LRU
  cache (``cache_type="blockcache"``): h5py's reads of a few hundred bytes here and there
  become range requests of :data:`H5_BLOCK_SIZE` bytes, not fsspec's default 5 MB, while runs
  of consecutive data reads are fetched ahead in growing windows (``_RangeReader``; measured
  in ``benchmarks/bench_remote.py``, figures in ``benchmarks/RESULTS.md``);
- a zarr store is opened from its consolidated metadata (root ``zarr.json`` in format 3,
  ``.zmetadata`` in format 2, which anndata writes), one request; then only the chunks of
  the elements read are fetched. Over HTTP nothing can be listed, so a store without
  consolidated metadata is refused there with what to do.

Storage options (endpoint, credentials, ``anon``) are the caller's ``storage_options``
merged over fsspec's own configuration (``FSSPEC_<PROTOCOL>_<OPTION>`` environment
variables, fsspec's config files); s3fs/botocore read ``AWS_*`` variables
(``AWS_ENDPOINT_URL``, ``AWS_ACCESS_KEY_ID``, ...) themselves.
"""

from __future__ import annotations

import contextlib
import io
import re
from typing import TYPE_CHECKING, Any, Literal

from provenance._base.errors import UnreadableFileError

if TYPE_CHECKING:
    from collections.abc import Iterator, Mapping

__all__ = ["H5_BLOCK_SIZE", "is_url", "open_remote_root", "remote_fs"]

# Bytes per range request for HDF5 over a URL. h5py reads the superblock, object headers,
# B-tree nodes and heaps in pieces of bytes to a few kB, scattered over the file; a block
# fetches their neighbours too. Chosen by measurement (benchmarks/bench_remote.py): smaller
# blocks cost more round trips, larger ones fetch more bytes that are never used.
H5_BLOCK_SIZE = 64 * 1024
_H5_CACHE = "blockcache"  # an LRU of blocks: h5py returns to the same metadata blocks often
# A read of at least this many bytes, or one continuing a run of data-sized reads (a
# dataset's chunks, e.g. obs_names or a graph), is fetched with a look-ahead window of its
# own instead of block by block; None: every read goes through the cache. Measured with the
# block size: at 200,000 cells verify made 164 requests with it, 873 without.
H5_DIRECT_READ: int | None = H5_BLOCK_SIZE
_MAX_AHEAD = 4 << 20  # the largest look-ahead along a run of consecutive reads
_RUN_READ = 8 << 10  # reads this large or larger may make a run (h5py's metadata reads: smaller)

_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.\-]*://")


def is_url(obj: object) -> bool:
    """Whether ``obj`` is a URL string (``scheme://...``), as opposed to a local path.

    Examples
    --------
    >>> is_url("s3://bucket/pbmc.h5ad"), is_url("pbmc.h5ad"), is_url("file:///tmp/x.h5ad")
    (True, False, True)
    """
    return isinstance(obj, str) and _URL.match(obj) is not None


def _fsspec() -> Any:
    try:
        import fsspec
    except ImportError as e:
        msg = (
            "reading a URL needs fsspec: install anndata-provenance[remote] "
            "(pip install 'anndata-provenance[remote]')."
        )
        raise UnreadableFileError(msg) from e
    return fsspec


def remote_fs(url: str, storage_options: Mapping[str, Any] | None = None) -> tuple[Any, str]:
    """The fsspec filesystem for ``url`` and the path inside it.

    ``storage_options`` go to the filesystem's constructor, over fsspec's own configuration
    (fsspec applies ``FSSPEC_*`` variables and config files to every filesystem it makes).
    """
    fsspec = _fsspec()
    try:
        fs, path = fsspec.core.url_to_fs(url, **dict(storage_options or {}))
    except ImportError as e:  # the protocol's package (s3fs, gcsfs, aiohttp) is missing
        msg = (
            f"{url}: {str(e).rstrip('.')}; pip install 'anndata-provenance[remote]' "
            "(gs:// also needs gcsfs)."
        )
        raise UnreadableFileError(msg) from e
    except ValueError as e:  # an unknown protocol
        raise UnreadableFileError(f"{url}: {e}") from e
    return fs, str(path)


@contextlib.contextmanager
def open_remote_root(url: str, storage_options: Mapping[str, Any] | None = None) -> Iterator[Any]:
    """The root of the file or store at ``url``: an h5py file or a zarr group.

    Raises :class:`~provenance.UnreadableFileError` when nothing is there, it is not HDF5 or
    zarr, or it cannot be reached (naming the URL and the reason).
    """
    fs, path = remote_fs(url, storage_options)
    stripped = path.rstrip("/")
    try:
        zarr_meta = _zarr_metadata_names(fs, stripped)
    except (OSError, ValueError) as e:
        raise _unreachable(url, e) from e
    if zarr_meta:
        yield _open_zarr(url, fs, zarr_meta, storage_options)
        return
    with _open_h5(url, fs, stripped) as f:
        yield f


def _zarr_metadata_names(fs: Any, path: str) -> list[str]:
    """Which root metadata documents exist under ``path`` (none: not a zarr store)."""
    if path.endswith((".h5ad", ".h5mu", ".h5")):
        return []  # a file by name: spare the probes
    for name in ("zarr.json", ".zmetadata", ".zgroup"):
        with contextlib.suppress(FileNotFoundError):
            if fs.exists(f"{path}/{name}"):
                return [name]
    return []


def _unreachable(url: str, e: Exception) -> UnreadableFileError:
    return UnreadableFileError(f"{url}: cannot be read ({type(e).__name__}: {str(e)[:200]}).")


@contextlib.contextmanager
def _open_h5(url: str, fs: Any, path: str) -> Iterator[Any]:
    import h5py

    try:
        f = fs.open(path, "rb", block_size=H5_BLOCK_SIZE, cache_type=_H5_CACHE)
    except FileNotFoundError:
        msg = f"{url}: no such file or store (nothing found at this URL)."
        raise UnreadableFileError(msg) from None
    except (OSError, ValueError) as e:
        raise _unreachable(url, e) from e
    with f:
        reader = f if H5_DIRECT_READ is None else _RangeReader(f, direct=H5_DIRECT_READ)
        try:
            # h5py's page buffer serves only files written with the "page" file space
            # strategy (anndata does not write them), and its chunk cache only repeated reads
            # of one dataset, which the audit does not do: the defaults stay.
            h5 = h5py.File(reader, "r")
        except OSError as e:
            msg = f"{url}: not an HDF5 (.h5ad) file nor a zarr store ({str(e)[:200]})."
            raise UnreadableFileError(msg) from e
        with h5:
            yield h5


class _RangeReader(io.RawIOBase):
    """An fsspec file as h5py reads it: scattered reads through the file's block cache,
    runs of consecutive reads in windows that double in size.

    h5py reads metadata in pieces of bytes to kB here and there (cached blocks serve those),
    and a dataset's data (``obs_names``, a graph) chunk after chunk, front to back: fetched
    block by block, that would cost a round trip per block. A read of at least ``direct``
    bytes, or one that continues the previous read, is fetched with what follows it, the
    look-ahead doubling along the run up to :data:`_MAX_AHEAD`.
    """

    def __init__(self, f: Any, *, direct: int) -> None:
        super().__init__()
        self._f = f
        self._direct = direct
        self._pos = 0
        self._size = int(f.size)
        self._window, self._window_at = b"", 0
        self._last_end, self._ahead = -1, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        base = {0: 0, 1: self._pos, 2: self._size}[whence]
        self._pos = max(base + offset, 0)
        return self._pos

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        pos = self._pos
        n = min(len(view), self._size - pos)
        if n <= 0:
            return 0
        at = self._window_at
        if at <= pos and pos + n <= at + len(self._window):
            data = self._window[pos - at : pos - at + n]
        else:
            # Metadata reads are small and often adjacent: a run is of data-sized reads.
            in_run = n >= _RUN_READ and self._last_end <= pos <= self._last_end + self._direct
            self._ahead = min(max(2 * self._ahead, self._direct), _MAX_AHEAD) if in_run else 0
            if n >= self._direct or self._ahead:
                end = min(pos + n + self._ahead, self._size)
                self._window = self._f.fs.cat_file(self._f.path, start=pos, end=end)
                self._window_at = pos
                data = self._window[:n]
            else:
                self._f.seek(pos)
                data = self._f.read(n)
        view[: len(data)] = data
        self._pos = self._last_end = pos + len(data)
        return len(data)


def _open_zarr(
    url: str, fs: Any, meta: list[str], storage_options: Mapping[str, Any] | None
) -> Any:
    """The root group, from consolidated metadata: one request, and no listing afterwards."""
    import zarr

    if int(zarr.__version__.split(".")[0]) < 3:
        msg = (
            f"{url}: reading a zarr store at a URL needs zarr >= 3 (installed {zarr.__version__})."
        )
        raise UnreadableFileError(msg)
    store = _fsspec_store(url, storage_options)
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


def _fsspec_store(url: str, storage_options: Mapping[str, Any] | None) -> Any:
    """zarr's store over fsspec (made asynchronous, as zarr wants; sync filesystems wrapped)."""
    from zarr.storage import FsspecStore

    opts = dict(storage_options or {})
    return FsspecStore.from_url(url.rstrip("/"), storage_options=opts or None, read_only=True)
