"""``-j N``: audit files in this process and N - 1 worker processes that survive each other.

A pool of our own rather than ``concurrent.futures``: when one worker dies (killed by the
out-of-memory killer, a crash in a C library), ``ProcessPoolExecutor`` breaks every pending
future and the run loses all its rows. Here each worker has its own pipe and works through a
batch of files, sending each file's row as soon as it has it; so the parent knows which file
a dead worker was reading. That file is retried once, alone, in a fresh worker, then reported
as ``crashed``; the rest of its batch goes back to the queue, and the run goes on.

Memory and speed (benchmarks/bench_many.py): this process audits too, between looking after
its workers, so ``-j 2`` is two processes that audit, not a coordinator and two workers (the
coordinator and a fork server each held the imported libraries once more: ~2.6x the memory of
``-j 1``). Workers are forked at the start, while this process is small and has one thread
(it has not imported numpy, whose BLAS starts threads), so they start in milliseconds and
import the audit in parallel with it; a worker started later (a retry) or on a platform where
fork is unsafe (macOS) or absent (Windows) is spawned.

No worker outlives the run: stopped (Ctrl-C, SIGTERM, SIGHUP: ``signals``), the run kills its
workers; killed, its workers die with it (Linux's parent-death signal), and an idle one reads
EOF (a forked worker closes its copies of the run's ends of the pipes).
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
from collections import deque
from typing import TYPE_CHECKING, Any

from .batch_one import audit_one, problem_row
from .signals import STOPPING

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from multiprocessing.connection import Connection
    from multiprocessing.context import BaseContext
    from multiprocessing.process import BaseProcess

    from .batch_one import Task

__all__ = ["batch_size", "run_pool"]

MAX_BATCH = 16


def batch_size(queued: int, jobs: int) -> int:
    """Files per message to a worker: about a quarter of each process's share of what is
    left, so that the processes finish together, at most ``MAX_BATCH`` (a batch is one round
    trip, not one per file)."""
    return max(1, min(MAX_BATCH, queued // (4 * jobs)))


def _threads() -> int:
    """This process's OS threads (native ones too: a BLAS pool); 0 where unknown."""
    try:
        with open("/proc/self/stat", encoding="ascii") as f:
            return int(f.read().rsplit(")", 1)[1].split()[17])
    except (OSError, ValueError, IndexError):
        return 0


def _context() -> BaseContext:
    """fork on Linux while this process has one thread (fork copies only the calling thread:
    with others, a lock they held stays locked in the child), else spawn."""
    import multiprocessing

    if sys.platform == "linux" and _threads() == 1:
        return multiprocessing.get_context("fork")
    return multiprocessing.get_context("spawn")


_ENDS: list[Connection] = []  # this process's ends of its workers' pipes


def _orphan_proof(parent: int) -> None:
    """This worker ends when ``parent`` does, however it does (SIGKILL included): else it
    would wait forever for work, holding the caller's stdout and stderr open."""
    for end in _ENDS:  # forked: this process's copies of the parent's ends, so that its
        end.close()  # reads see EOF once the parent is gone (and it then stops)
    _ENDS.clear()
    for sig in STOPPING:  # forked with the parent's handlers: the default again
        if callable(signal.getsignal(sig)):
            signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    if hasattr(signal, "pthread_sigmask"):
        signal.pthread_sigmask(signal.SIG_UNBLOCK, STOPPING)  # blocked by _Worker
    if sys.platform == "linux":  # busy reading a file, it would not see EOF: the kernel
        import ctypes  # sends SIGKILL when the parent dies (PR_SET_PDEATHSIG)

        ctypes.CDLL(None).prctl(1, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before this process could ask
        os._exit(1)


def _work(conn: Connection, parent: int) -> None:
    """A worker: batches of ``(index, Task)`` in, one ``(index, row)`` out per file."""
    _orphan_proof(parent)
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):  # the parent is gone
            return
        if batch is None:
            return
        for i, task in batch:
            try:
                conn.send((i, audit_one(task)))
            except OSError:  # the parent is gone
                return


@contextlib.contextmanager
def _blocked() -> Iterator[None]:
    """SIGTERM and SIGHUP held back in this thread (and a child forked in it) meanwhile."""
    if not hasattr(signal, "pthread_sigmask"):
        yield
        return
    before = signal.pthread_sigmask(signal.SIG_BLOCK, STOPPING)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, before)


class _Worker:
    def __init__(self) -> None:
        ctx = _context()
        self.conn, child = ctx.Pipe()
        _ENDS.append(self.conn)
        self.proc: BaseProcess = ctx.Process(  # type: ignore[attr-defined]
            target=_work, args=(child, os.getpid()), daemon=True
        )
        # Forked, it runs this process's handlers until _work resets them (Terminated raised
        # there would print a traceback): SIGTERM, SIGHUP held back till then.
        with _blocked() if ctx.get_start_method() == "fork" else contextlib.nullcontext():
            self.proc.start()
        child.close()
        self.batch: list[int] = []  # indices sent and not answered yet

    def give(self, indices: list[int], tasks: list[Task]) -> None:
        self.batch = list(indices)
        # If it died idle, run_pool sees it dead with this batch, and retries.
        with contextlib.suppress(OSError):
            self.conn.send([(i, tasks[i]) for i in indices])

    def close(self) -> None:
        self.conn.close()
        with contextlib.suppress(ValueError):
            _ENDS.remove(self.conn)


def _death(exitcode: int | None) -> str:
    if exitcode is not None and exitcode < 0:
        try:
            name = signal.Signals(-exitcode).name
        except ValueError:
            name = f"signal {-exitcode}"
        how = f"was killed by {name}"
        if name == "SIGKILL":
            how += " (as the out-of-memory killer does)"
        return how
    return f"exited with status {exitcode}"


def run_pool(
    tasks: list[Task],
    jobs: int,
    on_result: Callable[[int, dict[str, Any]], None],
    *,
    tick: Callable[[], None] = lambda: None,
) -> None:
    """Audit ``tasks`` here and in ``jobs - 1`` worker processes; ``on_result(index, row)`` as
    each file is done (in the order they finish). A file whose worker dies twice gets a
    ``crashed`` row."""
    from multiprocessing.connection import wait

    queue = deque(range(len(tasks)))
    tries = [0] * len(tasks)
    workers: list[_Worker] = []

    def feed(w: _Worker) -> None:
        n = batch_size(len(queue), jobs)
        w.give([queue.popleft() for _ in range(min(n, len(queue)))], tasks)

    def bury(w: _Worker) -> None:
        """``w`` died: its file is retried once in a fresh worker, then a ``crashed`` row."""
        w.proc.join()
        workers.remove(w)
        w.close()
        culprit, rest = w.batch[0], w.batch[1:]
        queue.extendleft(reversed(rest))
        tries[culprit] += 1
        if tries[culprit] < 2:
            fresh = _Worker()
            workers.append(fresh)
            fresh.give([culprit], tasks)
            return
        msg = (
            f"{tasks[culprit].path}: the worker process auditing this file "
            f"{_death(w.proc.exitcode)}, twice (the second time alone, in a fresh worker); "
            "nothing was read from it. Audit it alone (provenance "
            f"{tasks[culprit].command} PATH) and watch its memory."
        )
        on_result(culprit, problem_row(tasks[culprit].path, "crashed", msg, "WorkerCrashed"))

    def collect() -> None:
        """The rows workers have sent; dead workers buried; idle ones fed."""
        for w in list(workers):
            while w.batch and w.conn.poll():
                try:
                    i, row = w.conn.recv()
                except (EOFError, OSError):  # it died: its sentinel says so below
                    break
                w.batch.remove(i)
                on_result(i, row)
            if w.batch and not w.proc.is_alive():
                bury(w)
        for w in workers:
            if not w.batch and queue:
                feed(w)
        if len(workers) < jobs - 1 and queue:  # a dead worker's place, once its retry is done
            workers.append(_Worker())
            feed(workers[-1])
        tick()

    try:
        for _ in range(min(jobs - 1, len(tasks) - 1)):
            workers.append(_Worker())  # all before this process imports the audit (one thread)
            feed(workers[-1])
        while queue or any(w.batch for w in workers):
            if queue:  # this process audits one file, then looks after the workers again
                i = queue.popleft()
                on_result(i, audit_one(tasks[i]))
            else:
                busy = [w for w in workers if w.batch]
                wait([w.conn for w in busy] + [w.proc.sentinel for w in busy], timeout=0.25)
            collect()
    except BaseException:  # Ctrl-C, SIGTERM, SIGHUP: stop every worker now, not after its file
        for w in workers:
            w.proc.kill()  # SIGKILL: a worker has nothing to clean up, and cannot ignore it
        for w in workers:
            w.proc.join(timeout=5)
            w.close()
        raise
    for w in workers:
        with contextlib.suppress(OSError):
            w.conn.send(None)
    for w in workers:
        w.proc.join(timeout=5)
        if w.proc.is_alive():
            w.proc.kill()
        w.close()
