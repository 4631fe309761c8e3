"""``--dask ADDRESS``: audit the files of a collection on a dask.distributed cluster.

One task per file (``audit_one``, the same function ``-j`` runs), gathered as they complete;
the rows are the ones ``-j 1`` gives, so the table, the JSON and the exit status are too. The
workers need anndata-provenance installed (and this package's version: rows are built there).
A worker that dies is dask's to retry (its ``allowed-failures``); a file whose task still
fails is its own ``crashed`` row, and the run goes on.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._base.errors import UsageError

from .batch_one import audit_one, problem_row

if TYPE_CHECKING:
    from collections.abc import Callable

    from .batch_one import Task

__all__ = ["run_dask"]

CONNECT_TIMEOUT = "20s"


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


def _client(address: str) -> Any:
    try:
        return _distributed().Client(address, timeout=CONNECT_TIMEOUT)
    except (OSError, TimeoutError, ValueError) as e:
        msg = f"--dask {address}: cannot reach the dask scheduler ({e})."
        raise UsageError(msg) from None


def run_dask(
    tasks: list[Task],
    address: str,
    on_result: Callable[[int, dict[str, Any]], None],
    *,
    tick: Callable[[], None] = lambda: None,
) -> None:
    """Audit ``tasks`` on the scheduler at ``address``; ``on_result(index, row)`` as each file
    is done (in the order they finish)."""
    client = _client(address)
    as_completed = _distributed().as_completed
    try:
        # pure=False: the same file audited twice is two audits (the file may have changed).
        futures = client.map(audit_one, tasks, pure=False)
        index = {f.key: i for i, f in enumerate(futures)}
        for future in as_completed(futures):
            i = index[future.key]
            try:
                row = future.result()
            except Exception as e:  # the task failed on the cluster: a worker died, ...
                row = _failed(tasks[i], e)
            # Its row is here: the worker may forget it. Kept, it would be audited again
            # should that worker die later (dask recomputes what a dead worker held).
            future.release()
            on_result(i, row)
            tick()
    finally:
        client.close()


def _failed(task: Task, e: Exception) -> dict[str, Any]:
    """The ``crashed`` row of a file whose task failed on the cluster."""
    alone = f"provenance {task.command} {task.path}"
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
