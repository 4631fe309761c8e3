"""Reads at a URL that give up with a reason: a per-file deadline, errors told apart for a
person, and HDF5 range reads that fetch what h5py reads and little more.

- :class:`Deadline`: every request of one file (or listing) must finish by the same moment,
  ``timeout`` seconds after the file was opened. An asynchronous filesystem's call (HTTP,
  S3, GCS) runs under ``asyncio.wait_for`` through fsspec's ``sync(timeout=...)``, which
  cancels it: a server that never answers and one that trickles both end on time.
- :func:`classify`: an exception of fsspec, aiohttp or botocore, as a
  :class:`~provenance.RemoteReadError` whose ``reason`` and message say what happened and
  what to do (fsspec turns an HTTP 403 into ``FileNotFoundError``: the cause chain tells).
- :class:`RangeReader`: the file object h5py reads. Datasets about to be read are fetched
  exactly, chunk ranges merged (:func:`prefetch`); other small reads (object headers,
  B-trees, heaps) go through an LRU of aligned blocks; runs of consecutive reads are fetched
  ahead in windows that grow along the run.
"""

from __future__ import annotations

import contextlib
import io
import time
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from provenance._base.errors import RemoteReadError, RemoteTimeoutError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "DEFAULT_TIMEOUT",
    "Deadline",
    "Failure",
    "RangeReader",
    "call",
    "classify",
    "prefetch",
    "split_options",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds a file at a URL may take, from opening to the end of its audit, unless told."""
TIMEOUT, ALLOW_DOWNLOAD = "timeout", "allow_download"  # our storage options (not fsspec's)

H5_BLOCK_SIZE = 64 * 1024  # bytes per block of scattered small reads (measured: bench_remote)
_CACHED_BLOCKS = 64
_RUN_READ = 8 << 10  # reads this large or larger may make a run (metadata reads: smaller)
_MAX_AHEAD = 4 << 20  # the largest look-ahead along a run of consecutive reads
_PREFETCH_MIN = 64 << 10  # datasets smaller than this are left to the blocks
_MERGE_GAP = 4 << 10  # chunk ranges this close are fetched in one request
# Groups whose datasets are read whole (uns dicts are read member by member: small ones).
_PREFETCHED_GROUPS = {"csr_matrix", "csc_matrix", "categorical", "dataframe"}
_PREFETCHED_GROUPS |= {"nullable-integer", "nullable-boolean", "nullable-string-array"}


def split_options(
    storage_options: Mapping[str, Any] | None,
) -> tuple[dict[str, Any], float | None, bool]:
    """``(fsspec options, timeout in seconds or None, allow_download)``.

    ``timeout`` (seconds; ``0`` or ``None``: no limit; default :data:`DEFAULT_TIMEOUT`) and
    ``allow_download`` are this package's options: they are taken out before the rest goes to
    fsspec.

    Examples
    --------
    >>> split_options({"anon": True, "timeout": 5})
    ({'anon': True}, 5.0, False)
    >>> split_options({"timeout": 0})[1] is None
    True
    """
    opts = dict(storage_options or {})
    raw = opts.pop(TIMEOUT, DEFAULT_TIMEOUT)
    allow = bool(opts.pop(ALLOW_DOWNLOAD, False))
    if raw is None or (isinstance(raw, str) and raw.lower() in ("none", "0", "")):
        return opts, None, allow
    try:
        seconds = float(raw)
    except (TypeError, ValueError):
        msg = f"timeout: expected seconds (a number, 0 or none for no limit), got {raw!r}."
        raise ValueError(msg) from None
    if seconds < 0:
        msg = f"timeout: expected seconds >= 0 (0: no limit), got {raw!r}."
        raise ValueError(msg)
    return opts, (seconds or None), allow


class Deadline:
    """The time a file's requests may spend waiting on the server (``None``: no limit).

    What counts is the time during which a request of the file is under way (several at
    once count once), not the time spent between requests decoding what came: a long
    ``--deep`` re-run of a clustering does not use up the timeout of its file.
    """

    def __init__(self, seconds: float | None) -> None:
        self.seconds = seconds
        self._spent, self._busy_since, self._in_flight = 0.0, 0.0, 0

    def remaining(self) -> float | None:
        if self.seconds is None:
            return None
        busy = time.monotonic() - self._busy_since if self._in_flight else 0.0
        return self.seconds - self._spent - busy

    @contextlib.contextmanager
    def waiting(self) -> Iterator[None]:
        """A request under way."""
        if not self._in_flight:
            self._busy_since = time.monotonic()
        self._in_flight += 1
        try:
            yield
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._spent += time.monotonic() - self._busy_since


class Failure:
    """The first error of a file's reads, kept: h5py and zarr turn a reader's exception
    into their own (or the audit into a finding), so the opener raises this one at the end."""

    error: RemoteReadError | None = None

    def keep(self, error: RemoteReadError) -> RemoteReadError:
        if self.error is None:
            self.error = error
        return self.error


def timed_out(url: str, deadline: Deadline) -> RemoteTimeoutError:
    err = RemoteTimeoutError(
        f"{url}: timed out after {deadline.seconds:g} s (the server did not answer, or sent "
        "too slowly, within the timeout); give more time with --timeout SECONDS (storage "
        'option "timeout"; 0: no limit), or try again when the server is less busy.'
    )
    err.url = url
    return err


def call(
    fs: Any, name: str | Callable[..., Any], *args: Any, url: str, deadline: Deadline, **kwargs: Any
) -> Any:
    """``fs.<name>(*args, **kwargs)`` (or the coroutine function ``name``, run in the
    filesystem's loop) by the deadline; any failure as a RemoteReadError."""
    left = deadline.remaining()
    if left is not None and left <= 0:
        raise timed_out(url, deadline)
    try:
        with deadline.waiting():
            return _call(fs, name, left, *args, **kwargs)
    except RemoteReadError:
        raise
    except Exception as e:
        raise classify(url, e, deadline) from e


def _call(
    fs: Any, name: str | Callable[..., Any], left: float | None, *args: Any, **kw: Any
) -> Any:
    if getattr(fs, "async_impl", False) and not getattr(fs, "asynchronous", False):
        from fsspec.asyn import sync

        # wait_for in fsspec's loop: the request is cancelled when the time is up.
        fn = name if callable(name) else getattr(fs, f"_{name}")
        return sync(fs.loop, fn, *args, timeout=left, **kw)
    assert isinstance(name, str)  # a coroutine of ours runs on an asynchronous fs only
    return getattr(fs, name)(*args, **kw)


def _chain(e: BaseException) -> Iterator[BaseException]:
    seen: set[int] = set()
    todo: list[BaseException | None] = [e]
    while todo:
        x = todo.pop(0)
        if x is None or id(x) in seen:
            continue
        seen.add(id(x))
        yield x
        todo += [x.__cause__, x.__context__]


_TIMEOUTS = {"TimeoutError", "FSTimeoutError", "ServerTimeoutError", "ConnectionTimeoutError"}
_TIMEOUTS |= {"ReadTimeoutError", "ConnectTimeoutError", "SocketTimeoutError"}
_CREDENTIAL_CODES = {"InvalidAccessKeyId", "SignatureDoesNotMatch", "ExpiredToken"}
_CREDENTIAL_CODES |= {"InvalidToken", "TokenRefreshRequired", "InvalidClientTokenId"}
_NOT_FOUND_CODES = {"NoSuchKey", "NoSuchBucket", "404", "NotFound"}
_DENIED_CODES = {"AccessDenied", "403", "AllAccessDisabled", "Forbidden"}


def _kind(e: BaseException) -> tuple[str, str] | None:
    """(reason, what the server said) of one exception of the chain, if it tells."""
    name = type(e).__name__
    if name in _TIMEOUTS or isinstance(e, TimeoutError):
        return "timed_out", ""
    status = getattr(e, "status", None)  # aiohttp.ClientResponseError
    if isinstance(status, int):
        if status == 404:
            return "not_found", "HTTP 404"
        if status == 401:
            return "credentials", "HTTP 401"
        if status == 403:
            return "access_denied", "HTTP 403"
        return "unreachable", f"HTTP {status}"
    response = getattr(e, "response", None)  # botocore.exceptions.ClientError
    if isinstance(response, dict):
        code = str(response.get("Error", {}).get("Code", ""))
        for reason, codes in (
            ("credentials", _CREDENTIAL_CODES),
            ("not_found", _NOT_FOUND_CODES),
            ("access_denied", _DENIED_CODES),
        ):
            if code in codes:
                return reason, code
    if name in ("NoCredentialsError", "PartialCredentialsError", "NoAuthTokenError"):
        return "credentials", name
    return None


def classify(url: str, e: BaseException, deadline: Deadline | None = None) -> RemoteReadError:
    """The error a person reads for a failed read of ``url``: what happened, what to do."""
    found = [k for k in map(_kind, _chain(e)) if k is not None]
    if any(reason == "timed_out" for reason, _ in found):
        return timed_out(url, deadline or Deadline(None))
    reason, said = found[0] if found else ("", "")
    if not reason:
        if any(isinstance(x, PermissionError) for x in _chain(e)):
            reason, said = "access_denied", "permission denied"
        elif isinstance(e, FileNotFoundError):
            reason = "not_found"
        else:
            reason = "unreachable"
    detail = f"{type(e).__name__}: {str(e)[:200]}"
    msgs = {
        "not_found": f"not found ({said or 'no such file or key'}): nothing at this URL; "
        "check the address (a prefix or a directory listing is audited when the URL ends "
        "with /)",
        "access_denied": f"access denied ({said}): the server refuses this file to these "
        'credentials; ask for access, or give credentials (HTTP: --storage-options \'{"headers": '
        '{"Authorization": "Bearer ..."}}\'; s3://: AWS_PROFILE or AWS_ACCESS_KEY_ID), or '
        "'{\"anon\": true}' for a public bucket",
        "credentials": f"no valid credentials ({said}): for s3:// set AWS_ACCESS_KEY_ID and "
        "AWS_SECRET_ACCESS_KEY or AWS_PROFILE (or '{\"anon\": true}' for a public bucket); "
        "for HTTP pass the header the server wants in --storage-options",
        "unreachable": f"cannot be read ({said + '; ' if said else ''}{detail}); check the "
        "address and the network, and try again",
    }
    err = RemoteReadError(f"{url}: {msgs[reason]}.")
    err.reason, err.url = reason, url
    return err


def no_ranges(url: str, why: str, size: int | None) -> RemoteReadError:
    whole = f" ({size / 1e6:,.1f} MB)" if size else ""
    err = RemoteReadError(
        f"{url}: the server does not serve byte ranges ({why}), so the parts the audit needs "
        "cannot be fetched alone; give --allow-download (storage option "
        f'"allow_download": true) to download the whole file{whole} and read that, or serve '
        "it from a server that honours Range requests (static web servers and object stores do)."
    )
    err.reason, err.url = "no_ranges", url
    return err


# --- HDF5 over ranges ------------------------------------------------------------------------

_READERS: dict[Any, RangeReader] = {}  # h5py's file number -> the reader h5py reads through


class RangeReader(io.RawIOBase):
    """A file at a URL as h5py reads it, through ``fetch(start, end) -> bytes``."""

    def __init__(self, fetch: Callable[[int, int], bytes], size: int) -> None:
        super().__init__()
        self._fetch, self._size, self._pos = fetch, size, 0
        self._blocks: OrderedDict[int, bytes] = OrderedDict()
        self._spans: dict[int, tuple[bytes, list[int]]] = {}  # start -> (data, [bytes unread])
        self._window, self._window_at = b"", 0
        self._last_end, self._ahead = -1, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = 0) -> int:
        self._pos = max({0: 0, 1: self._pos, 2: self._size}[whence] + offset, 0)
        return self._pos

    def prefetch(self, ranges: list[tuple[int, int]]) -> None:
        """Fetch ``[start, end)`` ranges now, merged where they (nearly) touch; later reads
        inside them are served from memory, each span dropped once all of it was read."""
        merged: list[list[int]] = []
        for start, end in sorted(ranges):
            if merged and start <= merged[-1][1] + _MERGE_GAP:
                merged[-1][1] = max(merged[-1][1], end)
            else:
                merged.append([start, end])
        for start, end in merged:
            if self._find(start, end - start, consume=False) is None:
                self._spans[start] = (self._fetch(start, end), [end - start])

    @property
    def size(self) -> int:
        return self._size

    def peek(self, pos: int, n: int) -> bytes | None:
        """Prefetched bytes, if held, without counting them as read."""
        for start, (data, _) in self._spans.items():
            if start <= pos and pos + n <= start + len(data):
                return data[pos - start : pos - start + n]
        return None

    def peek_or_fetch(self, pos: int, n: int) -> bytes:
        return self.peek(pos, n) or self._from_blocks(pos, min(n, self._size - pos))

    def _find(self, pos: int, n: int, *, consume: bool = True) -> bytes | None:
        for start, (data, unread) in self._spans.items():
            if start <= pos and pos + n <= start + len(data):
                if not consume:
                    return b""
                unread[0] -= n
                if unread[0] <= 0:
                    del self._spans[start]
                return data[pos - start : pos - start + n]
        return None

    def readinto(self, buffer: Any) -> int:
        view = memoryview(buffer).cast("B")
        pos = self._pos
        n = min(len(view), self._size - pos)
        if n <= 0:
            return 0
        data = self._find(pos, n) if self._spans else None
        at = self._window_at
        if data is not None:
            pass
        elif at <= pos and pos + n <= at + len(self._window):
            data = self._window[pos - at : pos - at + n]
        else:
            # A run: data-sized reads, each starting where the last ended (a heap, chunks).
            in_run = n >= _RUN_READ and self._last_end <= pos <= self._last_end + _RUN_READ
            self._ahead = min(max(2 * self._ahead, n), _MAX_AHEAD) if in_run else 0
            if n >= H5_BLOCK_SIZE or self._ahead:
                end = min(pos + n + self._ahead, self._size)
                # What the window holds from pos on is kept, not fetched again.
                kept = self._window[pos - at :] if at <= pos < at + len(self._window) else b""
                self._window = kept + self._fetch(pos + len(kept), end)
                self._window_at = pos
                data = self._window[:n]
            else:
                data = self._from_blocks(pos, n)
        view[: len(data)] = data
        self._pos = self._last_end = pos + len(data)
        return len(data)

    def _from_blocks(self, pos: int, n: int) -> bytes:
        first, last = pos // H5_BLOCK_SIZE, (pos + n - 1) // H5_BLOCK_SIZE
        missing = [b for b in range(first, last + 1) if b not in self._blocks]
        if missing:  # one request for the blocks not cached (they are consecutive)
            lo, hi = missing[0] * H5_BLOCK_SIZE, min((missing[-1] + 1) * H5_BLOCK_SIZE, self._size)
            got = self._fetch(lo, hi)
            for i, b in enumerate(missing):
                self._blocks[b] = got[i * H5_BLOCK_SIZE : (i + 1) * H5_BLOCK_SIZE]
        for b in range(first, last + 1):
            self._blocks.move_to_end(b)
        while len(self._blocks) > _CACHED_BLOCKS:
            self._blocks.popitem(last=False)
        joined = b"".join(self._blocks[b] for b in range(first, last + 1))
        return joined[pos - first * H5_BLOCK_SIZE : pos - first * H5_BLOCK_SIZE + n]


def prefetch(node: Any) -> None:
    """Before an HDF5 element at a URL is read: fetch its datasets' bytes in few requests.

    h5py reads a chunked dataset chunk by chunk in its B-tree's order, each chunk a request
    or a guess of what follows; the chunks' places are known, so they are fetched exactly,
    neighbours merged. A local file, zarr, and small datasets are left as they are.
    """
    if not _READERS or type(node).__module__.split(".")[0] != "h5py":
        return
    reader = _READERS.get(node.file.id.fileno)
    if reader is None:
        return
    import h5py

    datasets: list[Any] = []
    if isinstance(node, h5py.Dataset):
        datasets.append(node)
    elif node.attrs.get("encoding-type") in _PREFETCHED_GROUPS:
        node.visititems(lambda _, o: datasets.append(o) if isinstance(o, h5py.Dataset) else None)
    ranges: list[tuple[int, int]] = []
    for d in datasets:
        dsid = d.id
        if dsid.get_storage_size() < _PREFETCH_MIN:
            continue
        offset = dsid.get_offset()
        if offset is not None:  # contiguous
            ranges.append((offset, offset + dsid.get_storage_size()))
        elif hasattr(dsid, "chunk_iter"):
            dsid.chunk_iter(lambda c: ranges.append((c.byte_offset, c.byte_offset + c.size)))
        else:  # h5py < 3.8
            for i in range(dsid.get_num_chunks()):
                c = dsid.get_chunk_info(i)
                ranges.append((c.byte_offset, c.byte_offset + c.size))
    if ranges:
        reader.prefetch(ranges)
    for d in datasets:
        _prefetch_strings(reader, d)


_HEAP_ID = 16  # a variable-length element: length (4 bytes), collection address (8), index (4)
_MAX_COLLECTION = 1 << 20


def _prefetch_strings(reader: RangeReader, d: Any) -> None:
    """The global heap collections holding a contiguous variable-length string dataset's
    strings: their addresses are in the dataset's own bytes (fetched already), and anndata's
    writes lay them one after another, so each spans up to the next one's address."""
    import numpy as np

    dsid = d.id
    offset, size = dsid.get_offset(), dsid.get_storage_size()
    if d.dtype.kind != "O" or offset is None or size < _PREFETCH_MIN or size != d.size * _HEAP_ID:
        return
    raw = reader.peek(offset, size)
    if raw is None:
        return
    ids = np.frombuffer(raw, dtype=[("n", "<u4"), ("addr", "<u8"), ("i", "<u4")])
    addrs = np.unique(ids["addr"][ids["n"] > 0])
    if addrs.size == 0 or int(addrs[-1]) >= reader.size:
        return
    ends = np.append(addrs[1:], addrs[-1] + _MAX_COLLECTION)
    header = reader.peek_or_fetch(int(addrs[-1]), 16)  # "GCOL", version, reserved, size
    if header[:4] == b"GCOL":
        ends[-1] = addrs[-1] + int.from_bytes(header[8:16], "little")
    ends = np.minimum(ends, addrs + _MAX_COLLECTION)
    reader.prefetch([(int(a), min(int(e), reader.size)) for a, e in zip(addrs, ends, strict=True)])
