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
"""

from __future__ import annotations

import contextlib
import signal
import sys
from collections import deque
from typing import TYPE_CHECKING, Any

from .batch_one import audit_one, problem_row

if TYPE_CHECKING:
    from collections.abc import Callable
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


def _work(conn: Connection) -> None:
    """A worker: batches of ``(index, Task)`` in, one ``(index, row)`` out per file."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the parent's to handle
    while True:
        try:
            batch = conn.recv()
        except (EOFError, OSError):
            return
        if batch is None:
            return
        for i, task in batch:
            conn.send((i, audit_one(task)))


class _Worker:
    def __init__(self) -> None:
        ctx = _context()
        self.conn, child = ctx.Pipe()
        self.proc: BaseProcess = ctx.Process(target=_work, args=(child,), daemon=True)  # type: ignore[attr-defined]
        self.proc.start()
        child.close()
        self.batch: list[int] = []  # indices sent and not answered yet

    def give(self, indices: list[int], tasks: list[Task]) -> None:
        self.batch = list(indices)
        # If it died idle, run_pool sees it dead with this batch, and retries.
        with contextlib.suppress(OSError):
            self.conn.send([(i, tasks[i]) for i in indices])


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
        w.conn.close()
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
    except BaseException:  # Ctrl-C: stop every worker now, not after its file
        for w in workers:
            w.proc.terminate()
        raise
    for w in workers:
        with contextlib.suppress(OSError):
            w.conn.send(None)
    for w in workers:
        w.proc.join(timeout=5)
        if w.proc.is_alive():
            w.proc.terminate()
