"""A local HTTP file server with ``Range`` support that counts the bytes it serves.

Used by ``bench_remote.py`` and by ``tests/test_remote.py``: it serves the files under a
directory as a static web server or object store does (``HEAD`` with ``Content-Length``,
``Accept-Ranges: bytes``, ``206 Partial Content`` with ``Content-Range``), lists no
directories (``404``, as object stores over HTTP; ``listing=True``: an HTML index, as
``python -m http.server``), and counts requests and body bytes, so a reader's traffic is
measured at the server, with no client patched. Faults, by file name, for the tests of what
a reader does when a server misbehaves: ``stall`` (never answers), ``trickle`` (bytes per
second), ``status`` (answers that HTTP status), ``no_ranges`` (``Accept-Ranges: none``, the
whole file for every request) and ``ignore_range`` (the whole file, ``200``, whatever the
``Range``).

    with serve(directory) as server:
        url = server.url("pbmc.h5ad")
        ...
        server.bytes_served, server.requests
"""

from __future__ import annotations

import contextlib
import re
import threading
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING
from urllib.parse import unquote, urlsplit

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

__all__ = ["RangeServer", "serve"]

_RANGE = re.compile(r"^bytes=(\d*)-(\d*)$")


class RangeServer(ThreadingHTTPServer):
    """Serves ``root``; ``bytes_served``/``requests`` count what clients were sent."""

    daemon_threads = True

    def __init__(self, root: Path, *, latency: float = 0.0) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root.resolve()
        self.latency = latency  # seconds added to each response: a stand-in for a network
        self._lock = threading.Lock()
        self.bytes_served = 0
        self.requests = 0
        self.log: list[tuple[str, str, int]] = []  # (method, path, body bytes)
        self._in_flight = 0  # requests begun and not yet counted
        self.listing = False
        self.stall: set[str] = set()
        self.trickle: dict[str, int] = {}
        self.status: dict[str, int] = {}
        self.no_ranges: set[str] = set()
        self.ignore_range: set[str] = set()
        self.stopping = threading.Event()

    def url(self, name: str = "") -> str:
        host, port = self.server_address[:2]
        return f"http://{host!s}:{port}/{name}"

    def reset(self) -> None:
        with self._lock:
            self.bytes_served = 0
            self.requests = 0
            self.log = []

    def begin(self) -> None:
        with self._lock:
            self._in_flight += 1

    def count(self, method: str, path: str, n: int) -> None:
        with self._lock:
            self._in_flight -= 1
            self.bytes_served += n
            self.requests += 1
            self.log.append((method, path, n))

    def settled_log(self, timeout: float = 10.0) -> list[tuple[str, str, int]]:
        """The log once every request begun is counted: a handler counts a request after
        sending its body, so the client can be done before the server thread is (a race that
        a loaded machine shows)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self._lock:
                if self._in_flight <= 0:
                    return list(self.log)
            time.sleep(0.01)
        with self._lock:
            return list(self.log)


class _Handler(BaseHTTPRequestHandler):
    server: RangeServer
    protocol_version = "HTTP/1.1"  # keep-alive, as real servers do

    def log_message(self, format: str, *args: object) -> None:
        pass  # quiet: the counters are the log

    def _file(self) -> Path | None:
        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.server.root / rel).resolve()
        if not path.is_relative_to(self.server.root) or not path.is_file():
            return None
        return path

    def _name(self) -> str:
        return unquote(urlsplit(self.path).path).rstrip("/").rsplit("/", 1)[-1]

    def _parts(self) -> list[str]:
        """The names along the path: a fault set on a ``.zarr`` store applies to its files."""
        return unquote(urlsplit(self.path).path).strip("/").split("/")

    def _fault(self, method: str) -> bool:
        """A fault asked for this name: answered (or not) here; False: serve as usual."""
        name, server = self._name(), self.server
        if server.stall.intersection(self._parts()):
            server.stopping.wait(600)  # never answers (until the server stops)
            server.count(method, self.path, 0)
            return True
        if name in server.status:
            self.send_response(server.status[name])
            self.send_header("Content-Length", "0")
            self.end_headers()
            server.count(method, self.path, 0)
            return True
        return False

    def _index(self, method: str, *, body: bool) -> bool:
        """An HTML listing of a directory, as ``python -m http.server`` writes it."""
        from urllib.parse import quote

        rel = unquote(urlsplit(self.path).path).lstrip("/")
        path = (self.server.root / rel).resolve()
        if (
            not self.server.listing
            or not path.is_dir()
            or not path.is_relative_to(self.server.root)
        ):
            return False
        names = sorted(p.name + ("/" if p.is_dir() else "") for p in path.iterdir())
        links = "".join(f'<li><a href="{quote(n)}">{n}</a></li>' for n in names)
        page = f"<html><body><ul>{links}</ul></body></html>".encode()
        self.send_response(HTTPStatus.OK)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(page)))
        self.end_headers()
        if body:
            self.wfile.write(page)
        self.server.count(method, self.path, len(page) if body else 0)
        return True

    def do_HEAD(self) -> None:
        self._respond(body=False)

    def do_GET(self) -> None:
        self._respond(body=True)

    def _respond(self, *, body: bool) -> None:
        method = "GET" if body else "HEAD"
        self.server.begin()
        if self.server.latency:
            time.sleep(self.server.latency)
        if self._fault(method) or self._index(method, body=body):
            return
        path = self._file()
        if path is None:
            self.send_response(HTTPStatus.NOT_FOUND)
            self.send_header("Content-Length", "0")
            self.end_headers()
            self.server.count(method, self.path, 0)
            return
        size = path.stat().st_size
        start, end = 0, size - 1
        status = HTTPStatus.OK
        header = self.headers.get("Range")
        name = self._name()
        whole = name in self.server.no_ranges or name in self.server.ignore_range
        if header is not None and not whole:
            m = _RANGE.match(header.strip())
            if m is None or (not m[1] and not m[2]):
                self._unsatisfiable(size, method)
                return
            if m[1]:
                start, end = int(m[1]), min(int(m[2]) if m[2] else size - 1, size - 1)
            else:  # the last N bytes
                start = max(size - int(m[2]), 0)
            if start >= size or start > end:
                self._unsatisfiable(size, method)
                return
            status = HTTPStatus.PARTIAL_CONTENT
        n = end - start + 1
        self.send_response(status)
        self.send_header("Accept-Ranges", "none" if name in self.server.no_ranges else "bytes")
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(n))
        if status == HTTPStatus.PARTIAL_CONTENT:
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
        self.end_headers()
        if not body:
            self.server.count(method, self.path, 0)
            return
        sent = 0
        rate = next(
            (self.server.trickle[p] for p in self._parts() if p in self.server.trickle), None
        )
        with path.open("rb") as f:
            f.seek(start)
            while sent < n:
                # A slow server: `rate` bytes a second.
                if rate is not None and self.server.stopping.wait(1.0):
                    break
                chunk = f.read(min(rate or 1 << 20, n - sent))
                if not chunk:
                    break
                try:
                    self.wfile.write(chunk)
                except (BrokenPipeError, ConnectionResetError):
                    break  # the client stopped reading (fsspec may close a stream early)
                sent += len(chunk)
        self.server.count(method, self.path, sent)

    def _unsatisfiable(self, size: int, method: str) -> None:
        self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
        self.send_header("Content-Range", f"bytes */{size}")
        self.send_header("Content-Length", "0")
        self.end_headers()
        self.server.count(method, self.path, 0)


@contextlib.contextmanager
def serve(root: Path, *, latency: float = 0.0) -> Iterator[RangeServer]:
    """A :class:`RangeServer` on a free local port, serving ``root`` from a thread."""
    server = RangeServer(root, latency=latency)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.stopping.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
