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
import time
from typing import TYPE_CHECKING, Any

from provenance._base.errors import RemoteReadError, RemoteTimeoutError, UnreadableFileError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Mapping

__all__ = [
    "DEFAULT_TIMEOUT",
    "Deadline",
    "Failure",
    "call",
    "classify",
    "remote_fs",
    "split_options",
]

DEFAULT_TIMEOUT = 60.0
"""Seconds a file at a URL may take, from opening to the end of its audit, unless told."""
TIMEOUT, ALLOW_DOWNLOAD = "timeout", "allow_download"  # our storage options (not fsspec's)


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
        err, cause = classify(url, e, deadline), e
    # Outside the handler: the probe's own failure must not hold this one as its context.
    path = args[0] if args and isinstance(args[0], str) else None
    if path and name != "cat_file" and err.reason == "access_denied" and _bodiless_403(cause):
        err = _told_by_a_read(fs, path, url, deadline) or err
    raise err from cause


def _bodiless_403(e: BaseException) -> bool:
    """An S3 ``HEAD`` refused: its 403 has no body, so no code tells a policy's denial from
    an unknown access key or a wrong secret."""
    for x in _chain(e):
        response = getattr(x, "response", None)
        if isinstance(response, dict) and response.get("Error", {}).get("Code") == "403":
            return True
    return False


def _told_by_a_read(fs: Any, path: str, url: str, deadline: Deadline) -> RemoteReadError | None:
    """What a one-byte ``GET`` of ``path`` is refused with: its answer has a body, whose code
    says which (``AccessDenied``, ``InvalidAccessKeyId``, ``SignatureDoesNotMatch``)."""
    try:
        call(fs, "cat_file", path, start=0, end=1, url=url, deadline=deadline)
    except RemoteReadError as told:
        if told.reason in ("access_denied", "credentials"):
            return told
    return None


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
        "credentials; "
        + (
            "ask for access (a policy of the user or the bucket allowing s3:GetObject on it, "
            "s3:ListBucket on the bucket to list a prefix), or give other credentials "
            "(AWS_PROFILE or AWS_ACCESS_KEY_ID), or '{\"anon\": true}' for a public bucket"
            if url.startswith("s3://")
            else "ask for access, or give credentials (HTTP: --storage-options "
            '\'{"headers": {"Authorization": "Bearer ..."}}\'; s3://: AWS_PROFILE or '
            "AWS_ACCESS_KEY_ID), or '{\"anon\": true}' for a public bucket"
        ),
        "credentials": f"credentials refused ({said}): the server knows no such access key, or "
        "the secret key does not match it (or the token has expired); check "
        "AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (or AWS_PROFILE, AWS_SESSION_TOKEN)"
        if said in _CREDENTIAL_CODES
        else f"no valid credentials ({said}): for s3:// set AWS_ACCESS_KEY_ID and "
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
    (fsspec applies ``FSSPEC_*`` variables and config files to every filesystem it makes);
    this package's own options (``timeout``, ``allow_download``) are left out.
    """
    fsspec = _fsspec()
    opts, _, _ = split_options(storage_options)
    try:
        fs, path = fsspec.core.url_to_fs(url, **opts)
    except ImportError as e:  # the protocol's package (s3fs, gcsfs, aiohttp) is missing
        msg = (
            f"{url}: {str(e).rstrip('.')}; pip install 'anndata-provenance[remote]' "
            "(gs:// also needs gcsfs)."
        )
        raise UnreadableFileError(msg) from e
    except ValueError as e:  # an unknown protocol
        raise UnreadableFileError(f"{url}: {e}") from e
    return fs, str(path)
