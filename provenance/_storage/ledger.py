"""Reading and appending to a ledger of seals: a local file, or a URL through fsspec.

A local ledger is appended to under an exclusive lock on the file itself (``flock``): the
sealer re-reads the whole ledger under the lock, checks its chain, and writes the new line
with one ``write`` on a descriptor opened ``O_APPEND``, then ``fsync``. Two sealers of one
ledger take turns, each chaining to the other's line. Nothing is ever rewritten, so a ledger
on append-only storage (``chattr +a``, a WORM mount) works as it is.

A URL (``s3://``, ``gs://``, ...) is read whole; it is written by read-modify-write: object
stores give no append and no lock, so two sealers writing at once may lose one seal (the
later write replaces the object). The ledger stays a valid chain, but a seal can go missing:
seal into a URL from one place at a time, or keep the ledger in a local file or git.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import LedgerError

from .remote import is_url, remote_fs

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["append_line", "read_ledger"]


def read_ledger(location: str | Path, storage_options: Mapping[str, Any] | None = None) -> bytes:
    """The bytes of the ledger at ``location`` (a path or URL).

    Raises
    ------
    LedgerError
        The ledger does not exist or cannot be read (a ledger named but absent is never an
        empty one: that would pass every file as "not sealed" instead of saying so).
    """
    if is_url(location):
        fs, path = remote_fs(str(location), storage_options)
        try:
            data: bytes = fs.cat_file(path)
        except FileNotFoundError:
            raise _missing(location) from None
        except Exception as e:  # fsspec's errors are the backends' own
            msg = f"cannot read the ledger {location}: {e}"
            raise LedgerError(msg) from e
        return data
    try:
        return Path(location).read_bytes()
    except FileNotFoundError:
        raise _missing(location) from None
    except OSError as e:
        msg = f"cannot read the ledger {location}: {e.strerror or e}"
        raise LedgerError(msg) from None


def _missing(location: str | Path) -> LedgerError:
    return LedgerError(
        f"the ledger {location} does not exist; give the ledger 'provenance seal' wrote (its "
        "first seal creates it)."
    )


def append_line(
    location: str | Path,
    make: Callable[[bytes], bytes],
    storage_options: Mapping[str, Any] | None = None,
) -> None:
    """Append ``make(current bytes)`` and a newline to the ledger at ``location``, creating it.

    ``make`` checks the ledger it is given and returns the new line; for a local file it runs
    under the lock, on the bytes as they are then, so the line chains to the last one written.
    """
    if is_url(location):
        fs, path = remote_fs(str(location), storage_options)
        try:
            data = fs.cat_file(path) if fs.exists(path) else b""
        except Exception as e:
            msg = f"cannot read the ledger {location}: {e}"
            raise LedgerError(msg) from e
        line = make(data)
        try:  # no lock on an object store: read-modify-write (the module's docstring)
            fs.pipe_file(path, data + line + b"\n")
        except Exception as e:
            msg = f"cannot write the ledger {location}: {e}"
            raise LedgerError(msg) from e
        return
    p = Path(location)
    if not p.parent.is_dir():
        msg = f"cannot write the ledger {p}: directory {p.parent} does not exist."
        raise LedgerError(msg)
    try:
        fd = os.open(p, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
    except OSError as e:
        msg = f"cannot open the ledger {p} to append: {e.strerror or e}"
        raise LedgerError(msg) from None
    try:
        _lock(fd)
        line = make(_read_all(fd))
        os.write(fd, line + b"\n")  # one write: whole, at the end (O_APPEND)
        os.fsync(fd)
    finally:
        os.close(fd)  # releases the lock


def _read_all(fd: int) -> bytes:
    # From the start (appends go to the end whatever the offset: O_APPEND).
    os.lseek(fd, 0, os.SEEK_SET)
    chunks = []
    while chunk := os.read(fd, 1 << 20):
        chunks.append(chunk)
    return b"".join(chunks)


def _lock(fd: int) -> None:
    """An exclusive lock on the open file ``fd``, waiting for another holder."""
    try:
        import fcntl
    except ImportError:  # Windows: lock the first byte (blocks until free)
        import msvcrt

        msvcrt.locking(fd, msvcrt.LK_LOCK, 1)  # type: ignore[attr-defined]
        return
    fcntl.flock(fd, fcntl.LOCK_EX)
