"""HDF5 at a URL: the file object h5py reads through (:class:`RangeReader`) and the
prefetch of the datasets about to be read (:func:`prefetch`), so that what is fetched is
what h5py reads and little more (``benchmarks/bench_remote_bytes.py``)."""

from __future__ import annotations

import io
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = ["H5_BLOCK_SIZE", "RangeReader", "prefetch"]

H5_BLOCK_SIZE = 64 * 1024  # bytes per block of scattered small reads (measured: bench_remote)
_CACHED_BLOCKS = 64
_RUN_READ = 8 << 10  # reads this large or larger may make a run (metadata reads: smaller)
_MAX_AHEAD = 4 << 20  # the largest look-ahead along a run of consecutive reads
_PREFETCH_MIN = 64 << 10  # datasets smaller than this are left to the blocks
_MERGE_GAP = 4 << 10  # chunk ranges this close are fetched in one request
# Groups whose datasets are read whole (uns dicts are read member by member: small ones).
_PREFETCHED_GROUPS = {"csr_matrix", "csc_matrix", "categorical", "dataframe"}
_PREFETCHED_GROUPS |= {"nullable-integer", "nullable-boolean", "nullable-string-array"}


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
