"""``--dask ADDRESS``: audit files on a dask.distributed cluster.

A collection: one task per file (``audit_one``, the same function ``-j`` runs), gathered as
they complete; the rows are the ones ``-j 1`` gives, so the table, the JSON and the exit status
are too. One file: its ``audit()`` runs on the cluster and the one-file output is printed here
(:func:`audit_path`), as ``-j`` gives the one-file output for one file. The workers need
anndata-provenance installed (and this package's version: rows are built there).

Nothing here waits without a bound, whatever is at the address: the connection and dask's
handshake (:func:`bound`: 20 s, or the run's ``--timeout`` if longer; a refused connection or
an unknown host at once), the wait for a first worker (a cluster without workers is a usage
error), and the gathering (a cluster that has had no worker for :data:`LOST_SECONDS` ends the
run: the files not done are ``crashed`` rows). A worker that dies is dask's to retry (its
``allowed-failures``); a file whose task still fails is its own ``crashed`` row, and the run
goes on.
"""

from __future__ import annotations

import contextlib
import os
import time
from functools import partial
from typing import TYPE_CHECKING, Any, cast

from provenance._base.errors import UsageError

from .batch_one import EXIT_UNREADABLE, audit_one, problem_row

if TYPE_CHECKING:
    import argparse
    import asyncio
    from collections.abc import Callable, Sequence
    from pathlib import Path

    from provenance._audit.report import AuditReport

    from .batch_one import Task

__all__ = ["LOST_SECONDS", "WorkerCrashed", "audit_path", "bound", "run_dask"]

CONNECT_SECONDS = 20.0
"""The least time the connection, dask's handshake and the wait for a first worker may take."""
LOST_SECONDS = 30.0
"""A cluster with no worker that long, while files remain, ends the run."""
POLL_SECONDS = 1.0  # how often the scheduler is asked for its workers while nothing completes


class WorkerCrashed(RuntimeError):
    """One file's audit (``--dask`` with one file) lost its worker, or every worker."""


def bound(timeout: float | None) -> float:
    """Seconds the connection and the wait for a first worker may take: 20, or the run's
    ``--timeout`` (``timeout``) if longer.

    Examples
    --------
    >>> bound(None), bound(5), bound(90)
    (20.0, 20.0, 90)
    """
    return max(CONNECT_SECONDS, timeout or 0.0)


def _distributed() -> Any:
    """dask.distributed (untyped: through import_module, whether or not it is installed)."""
    import importlib

    try:
        return importlib.import_module("distributed")
    except ImportError:
        msg = (
            "--dask needs dask.distributed: pip install 'anndata-provenance[dask]' (here and "
            "on the cluster's workers)."
        )
        raise UsageError(msg) from None


def _unreachable(address: str, why: object) -> UsageError:
    return UsageError(f"--dask {address}: cannot reach the dask scheduler ({why}).")


async def _probe(address: str, seconds: float) -> None:
    """A TCP address refused, or a host unknown, said at once: dask retries both until its
    timeout. Other protocols are left to dask."""
    import asyncio
    import importlib
    import socket

    # untyped, as _distributed(): the type checker's environment need not have dask
    addressing: Any = importlib.import_module("distributed.comm.addressing")
    try:
        scheme, loc = addressing.parse_address(address)
        if scheme not in ("tcp", "tls"):
            return
        host, port = addressing.parse_host_port(loc)
    except ValueError as e:  # no port, ...: give the scheduler's address
        msg = f"--dask {address}: not a scheduler address ({e}); give e.g. tcp://HOST:8786."
        raise UsageError(msg) from None
    try:
        _, writer = await asyncio.wait_for(asyncio.open_connection(host, port), seconds)
    except TimeoutError:
        raise _unreachable(address, f"no connection within {seconds:g} s") from None
    except ConnectionRefusedError:
        why = "connection refused: nothing listens there; is the scheduler running?"
        raise _unreachable(address, why) from None
    except OSError as e:  # an unknown host (its own text), no route, ...
        code = 0 if isinstance(e, socket.gaierror) else e.errno or 0
        raise _unreachable(address, os.strerror(code) if code > 0 else e.strerror or e) from None
    writer.close()


async def _close(client: Any) -> None:
    import asyncio

    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.close(), 5)


async def _connect(address: str, seconds: float) -> Any:
    """An asynchronous Client of the scheduler at ``address`` that has a worker, within
    ``seconds`` for the handshake and ``seconds`` for the worker."""
    import asyncio

    Client = _distributed().Client
    await _probe(address, seconds)
    try:
        client = Client(address, asynchronous=True, timeout=seconds, set_as_default=False)
    except ValueError as e:
        raise _unreachable(address, e) from None
    try:
        # dask bounds the TCP connection, not its handshake: a server that accepts and never
        # answers would keep the Client waiting for ever.
        await asyncio.wait_for(asyncio.ensure_future(client), seconds)
    except (OSError, TimeoutError, ValueError) as e:
        await _close(client)
        why = str(e) or f"no dask handshake within {seconds:g} s: is it a dask scheduler?"
        raise _unreachable(address, why) from None
    except BaseException:
        await _close(client)
        raise
    try:
        await client.wait_for_workers(1, timeout=seconds)
    except TimeoutError:
        await _close(client)
        msg = (
            f"--dask {address}: the cluster has no workers (none joined within {seconds:g} s): "
            f"start workers (dask worker {address}), or audit here without --dask (-j N)."
        )
        raise UsageError(msg) from None
    except BaseException:
        await _close(client)
        raise
    return client


async def _workers(client: Any) -> int:
    """The scheduler's running workers; 0 if it does not answer within a few seconds."""
    import asyncio

    try:
        return len(await asyncio.wait_for(client.scheduler.ncores_running(), 5))
    except Exception:
        return 0


async def _outcome(future: Any) -> tuple[Any, BaseException | None]:
    """A completed future's (result, None) or (None, its exception). Its result may be gone
    by now with a worker that died (the future pending again): this waits for dask to
    compute it again."""
    import asyncio

    try:
        return await future, None
    except asyncio.CancelledError:
        if not future.cancelled():  # this fetch itself is cancelled: the run ends
            raise
    except Exception as e:  # the task's own error (KilledWorker, ...)
        return None, e
    # e.g. the scheduler restarted and forgot the task
    return None, RuntimeError("the cluster cancelled the task (the scheduler restarted?)")


class _Watch:
    """Awaits that end when the cluster has had no worker for :data:`LOST_SECONDS`."""

    def __init__(self, client: Any, tick: Callable[[], None]) -> None:
        self.client, self.tick = client, tick
        self.alone_since: float | None = None

    async def __call__(self, job: asyncio.Future[Any]) -> bool:
        """Wait for ``job``, asking the scheduler for its workers while it is not done: True
        when done, False (and ``job`` cancelled) when the cluster lost all its workers."""
        import asyncio

        while True:
            done, _ = await asyncio.wait({job}, timeout=POLL_SECONDS)
            if done:
                return True
            self.tick()
            if await _workers(self.client):
                self.alone_since = None
            elif self.alone_since is None:
                self.alone_since = time.monotonic()
            elif time.monotonic() - self.alone_since >= LOST_SECONDS:
                job.cancel()
                return False


async def _gather(
    client: Any,
    futures: list[Any],
    on_done: Callable[[int, Any, BaseException | None], None],
    tick: Callable[[], None],
) -> list[int]:
    """``on_done(i, result, exception)`` as each future completes; the indices not done when
    the cluster has had no worker for :data:`LOST_SECONDS` (else [])."""
    import asyncio

    completed = _distributed().as_completed(futures, loop=client.loop)
    index = {f.key: i for i, f in enumerate(futures)}
    pending = set(range(len(futures)))
    watch = _Watch(client, tick)
    nxt: asyncio.Future[Any] | None = None
    while pending:
        nxt = nxt or asyncio.ensure_future(completed.__anext__())
        if not await watch(nxt):
            break
        future, nxt = nxt.result(), None
        # Fetching the row can wait too: a worker that died holding it makes dask audit the
        # file again, on no worker if none is left.
        fetch = asyncio.ensure_future(_outcome(future))
        if not await watch(fetch):
            break
        i = index[future.key]
        pending.discard(i)
        # Its row is here: the worker may forget it. Kept, it would be audited again should
        # that worker die later (dask recomputes what a dead worker held).
        future.release()
        on_done(i, *fetch.result())
    else:
        return []
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.cancel([futures[i] for i in pending]), 5)
    return sorted(pending)


async def _on_cluster(
    address: str,
    seconds: float,
    name: str,
    calls: Sequence[Callable[[], Any]],
    on_done: Callable[[int, Any, BaseException | None], None],
    tick: Callable[[], None],
) -> list[int]:
    import uuid

    client = await _connect(address, seconds)
    try:
        # Keys of their own: the same file audited twice is two audits (it may have changed).
        futures = [client.submit(call, key=f"{name}-{uuid.uuid4().hex}") for call in calls]
        return await _gather(client, futures, on_done, tick)
    finally:
        await _close(client)


def _lost(path: str | Path, address: str) -> str:
    return (
        f"{path}: not audited: the cluster lost all its workers (none for {LOST_SECONDS:g} s at "
        f"{address}) before this file was done. Restart the workers (dask worker {address}, "
        "or the cluster's nannies) and run again, or audit here with -j N."
    )


def run_dask(
    tasks: list[Task],
    address: str,
    on_result: Callable[[int, dict[str, Any]], None],
    *,
    tick: Callable[[], None] = lambda: None,
    timeout: float | None = None,
) -> None:
    """Audit ``tasks`` on the scheduler at ``address``; ``on_result(index, row)`` as each file
    is done (in the order they finish). ``timeout``: the run's ``--timeout`` (see
    :func:`bound`).

    Raises
    ------
    UsageError
        The scheduler cannot be reached, or it has no worker.
    """
    import asyncio

    _distributed()

    def on_done(i: int, row: Any, error: BaseException | None) -> None:
        on_result(i, row if error is None else _failed(tasks[i], error))
        tick()

    calls = [partial(audit_one, t) for t in tasks]
    lost = asyncio.run(
        _on_cluster(address, bound(timeout), "provenance-batch", calls, on_done, tick)
    )
    for i in lost:
        on_result(
            i, problem_row(tasks[i].path, "crashed", _lost(tasks[i].path, address), "NoWorkers")
        )


def audit_path(
    args: argparse.Namespace,
    *,
    print_json: Callable[[dict[str, object]], None] = print,
    **kwargs: Any,
) -> AuditReport:
    """``audit(args.path, args.key, **kwargs)``: here, or with ``args.dask`` on that cluster
    (the same report; an error the audit raises there is raised here). With ``--json``, a
    usage error (the cluster cannot be used) is printed as JSON too, through ``print_json``,
    as for a directory."""
    from provenance._audit.audit import audit

    address = getattr(args, "dask", None)
    if address is None:
        return audit(args.path, args.key, **kwargs)
    import asyncio

    _distributed()
    timeout = (kwargs.get("storage_options") or {}).get("timeout")
    got: list[tuple[Any, BaseException | None]] = []
    call = partial(audit, args.path, args.key, **kwargs)
    try:
        lost = asyncio.run(
            _on_cluster(
                address,
                bound(timeout),
                "provenance-audit",
                [call],
                lambda _, r, e: got.append((r, e)),
                _nop,
            )
        )
    except UsageError as e:  # --json: the error as JSON too, as for a directory
        if args.json:
            doc = {"error": str(e), "error_type": "UsageError", "command": args.command}
            print_json({**doc, "path": str(args.path), "exit_code": EXIT_UNREADABLE})
        raise
    if lost:
        raise WorkerCrashed(_lost(args.path, address))
    result, error = got[0]
    if error is None:
        return cast("AuditReport", result)
    if type(error).__name__ == "KilledWorker":
        raise WorkerCrashed(_failed(_task(args), error)["error"]) from None
    raise error


def _nop() -> None:
    pass


def _task(args: argparse.Namespace) -> Task:
    from .batch_one import Task

    return Task(args.path, args.key, args.command, {}, False)


def _failed(task: Task, e: BaseException) -> dict[str, Any]:
    """The ``crashed`` row of a file whose task failed on the cluster."""
    alone = f"provenance {task.command} {task.path}"
    if type(e).__name__ == "FutureCancelledError":  # e.g. the scheduler died mid-run
        why = " ".join(str(w) for w in (getattr(e, "reason", ""), getattr(e, "msg", "")) if w)
        msg = (
            f"{task.path}: not audited: the dask cluster cancelled its task ({why}). Run "
            "again once the scheduler is back, or audit here with -j N."
        )
        return problem_row(task.path, "crashed", msg, "TaskCancelled")
    if type(e).__name__ != "KilledWorker":  # e.g. the workers lack this package
        msg = (
            f"{task.path}: the dask task auditing this file failed ({type(e).__name__}: {e}); "
            f"audit it alone ({alone}) to see why."
        )
        return problem_row(task.path, "crashed", msg, type(e).__name__)
    # dask's own text names its task key and worker address, not the file or what to do.
    allowed = getattr(e, "allowed_failures", None)
    times = f", {allowed + 1} times on {allowed + 1} workers," if isinstance(allowed, int) else ""
    limit = f" (distributed.scheduler.allowed-failures = {allowed})" if times else ""
    msg = (
        f"{task.path}: the dask worker auditing this file died (killed, as the out-of-memory "
        f"killer does, or crashed){times} and dask gave up on it{limit}; nothing was read "
        f"from it. Audit it alone ({alone}) and watch its memory, or give the workers more "
        "memory."
    )
    return problem_row(task.path, "crashed", msg, "WorkerCrashed")
