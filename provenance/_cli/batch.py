"""``provenance show|verify`` on several files: directories expanded, files audited in parallel
processes, one summary table (or one JSON document), the worst exit status.

One path naming a file (or a ``.zarr`` store, or a URL) keeps the one-file output of
``commands.py``; this module takes over when a directory or several paths are given.
"""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from provenance._base.errors import UsageError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable, Iterator, Sequence
    from concurrent.futures import Future, ProcessPoolExecutor

    from rich.progress import Progress, TaskID

__all__ = ["SUFFIXES", "Task", "audit_one", "default_jobs", "expand", "one_path", "run_many"]

SUFFIXES = (".h5ad", ".h5mu", ".zarr")
"""What a directory is searched for (a ``.zarr`` directory is one store, never entered)."""

EXIT_OK, EXIT_FINDINGS, EXIT_UNREADABLE = 0, 1, 2
PROGRESS_AFTER_S = 1.0
"""A progress bar appears once a run has taken this long (short runs stay quiet)."""


# --- which files -------------------------------------------------------------------------------


def _is_store_dir(path: Path) -> bool:
    """A directory that is one data store: a ``.zarr`` suffix, or zarr's own metadata inside."""
    if path.suffix.lower() == ".zarr":
        return True
    return any((path / name).exists() for name in ("zarr.json", ".zgroup", ".zattrs"))


def one_path(locations: Sequence[str | Path]) -> str | Path | None:
    """The location when exactly one was given and it is not a directory to search (a file,
    a ``.zarr`` store, a URL, or a path that does not exist: the one-file output); else
    ``None``."""
    if len(locations) != 1:
        return None
    (loc,) = locations
    if isinstance(loc, Path) and loc.is_dir() and not _is_store_dir(loc):
        return None
    if isinstance(loc, str) and _remote_collection(loc):  # a prefix, a listing: its entries
        return None
    return loc


def _remote_collection(loc: str) -> bool:
    from provenance._storage.remote import is_remote_collection

    return is_remote_collection(loc)


def _walk(root: Path) -> Iterator[Path]:
    """``.h5ad``/``.h5mu`` files and ``.zarr`` stores under ``root``, hidden names skipped
    (``.git``, editor and macOS ``._*`` droppings), ``.zarr`` stores not entered."""
    for dirpath, dirnames, filenames in os.walk(root):
        here = Path(dirpath)
        keep = []
        for d in dirnames:
            if d.startswith("."):
                continue
            if _is_store_dir(here / d):
                yield here / d
            else:
                keep.append(d)
        dirnames[:] = keep  # os.walk descends into these only
        for f in filenames:
            if not f.startswith(".") and Path(f).suffix.lower() in SUFFIXES:
                yield here / f


def expand(
    locations: Sequence[str | Path], *, storage_options: dict[str, Any] | None = None
) -> list[str | Path]:
    """The files to audit, in the order given; a directory becomes the files found in it
    (recursively, sorted by path). Each file once.

    A path that does not exist is kept: its audit reports it as that file's error.

    A URL ending with ``/`` (an object-store prefix, an HTTP directory listing) becomes the
    URLs of the files and stores below it (``storage_options``: its filesystem's).

    Raises
    ------
    UsageError
        A directory (or a prefix, or a listing) holds no ``.h5ad``, ``.h5mu`` or ``.zarr``.

    Examples
    --------
    >>> expand(["run1.h5ad", Path("sweeps/")])  # doctest: +SKIP
    [PosixPath('run1.h5ad'), PosixPath('sweeps/a.h5ad'), PosixPath('sweeps/day2/b.zarr')]
    """
    out: list[str | Path] = []
    for loc in locations:
        if isinstance(loc, Path) and loc.is_dir() and not _is_store_dir(loc):
            found = sorted(_walk(loc), key=lambda p: p.relative_to(loc).parts)
            if not found:
                msg = (
                    f"{loc}: no .h5ad, .h5mu or .zarr in this directory or below it (hidden "
                    "directories are skipped); give the files or a directory that holds them."
                )
                raise UsageError(msg)
            out.extend(found)
        elif isinstance(loc, str) and _remote_collection(loc):
            from provenance._storage.remote import list_remote

            listed = list_remote(loc, storage_options)
            if not listed:
                msg = f"{loc}: no .h5ad, .h5mu or .zarr below this URL; give the files' URLs."
                raise UsageError(msg)
            out.extend(listed)
        else:
            out.append(loc)
    seen: set[str] = set()
    return [p for p in out if not (str(p) in seen or seen.add(str(p)))]  # type: ignore[func-returns-value]


def default_jobs(n_files: int) -> int:
    """The usable cores (this process's CPU affinity where the OS has one), at most
    ``n_files``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, n_files))


# --- one file (runs in a worker process) -------------------------------------------------------


class Task(NamedTuple):
    """What a worker needs for one file: plain, picklable values."""

    path: str | Path
    key: str | None
    command: str  # "show" | "verify"
    options: dict[str, Any]  # audit() keyword arguments set by verify's flags
    strict: bool
    html: bool = False  # also render the report's HTML (verify --html), here in the worker


def audit_one(task: Task) -> dict[str, Any]:
    """Audit one file: ``{"path", "ok", "exit_code", "report", "counts"}``, or
    ``{"path", "ok": False, "exit_code": 2, "error", "error_type"}`` when it cannot be read.

    Never raises on a bad file: one unreadable file is its row, not the end of the run.
    """
    from provenance._audit.audit import audit

    path = str(task.path)
    try:
        # show reads uns alone, as for one file.
        check_data = task.command == "verify"
        report = audit(task.path, task.key, check_data=check_data, **task.options)
    except Exception as e:
        return {
            "path": path,
            "ok": False,
            "exit_code": EXIT_UNREADABLE,
            "error": str(e),
            "error_type": type(e).__name__,
        }
    d = report.to_dict()
    n_err, n_warn = len(report.errors), len(report.warnings)
    if task.command == "verify":
        failed = not report.ok or (task.strict and n_warn > 0)
        d |= {"strict": task.strict, "passed": not failed}
        ok, code = not failed, EXIT_FINDINGS if failed else EXIT_OK
    else:  # show's exit status does not judge, as for one file
        ok, code = report.ok, EXIT_OK
    counts = {
        "clusterings": len(report.clustering_keys),
        "steps": len(report.steps),
        "errors": n_err,
        "warnings": n_warn,
    }
    out = {"path": path, "ok": ok, "exit_code": code, "report": d, "counts": counts}
    if task.html:
        from provenance._render.html import to_html

        out["html"] = to_html(report, css=False)
    return out


def _quiet_worker() -> None:
    """Workers leave Ctrl-C to the main process, which stops them (no traceback per worker)."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_IGN)


# --- many files --------------------------------------------------------------------------------


def _tasks(
    args: argparse.Namespace, command: str, paths: list[str | Path], options: dict[str, Any]
) -> list[Task]:
    strict = bool(getattr(args, "strict", False))
    html = getattr(args, "html", None) is not None
    return [Task(p, args.key, command, options, strict, html) for p in paths]


def _run_serial(tasks: list[Task], tick: Callable[[int], None]) -> list[dict[str, Any]]:
    results = []
    for t in tasks:
        results.append(audit_one(t))
        tick(len(results))
    return results


def _run_pool(tasks: list[Task], jobs: int, tick: Callable[[int], None]) -> list[dict[str, Any]]:
    """Audit in ``jobs`` processes; results in input order whatever order they finish in."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait

    # spawn: workers start clean (no copy of a parent holding threads or open HDF5 files),
    # and it behaves the same on Linux, macOS and Windows.
    pool = ProcessPoolExecutor(
        max_workers=jobs,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_quiet_worker,
    )
    try:
        futures: dict[Future[dict[str, Any]], int] = {
            pool.submit(audit_one, t): i for i, t in enumerate(tasks)
        }
        results: list[dict[str, Any] | None] = [None] * len(tasks)
        pending, done = set(futures), 0
        while pending:
            # Wake now and then, so a progress bar can appear while one large file runs.
            finished, pending = wait(pending, timeout=0.25, return_when=FIRST_COMPLETED)
            for f in finished:
                results[futures[f]] = f.result()
            done += len(finished)
            tick(done)
    except BaseException:  # Ctrl-C, or a worker that died: stop everything now
        _stop(pool)
        raise
    pool.shutdown()
    return [r for r in results if r is not None]


def _stop(pool: ProcessPoolExecutor) -> None:
    # Running workers would finish their file first; Python < 3.14 has no public
    # terminate_workers(), so end them by the pool's own process table (which shutdown()
    # empties: read it before).
    procs = list((getattr(pool, "_processes", None) or {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    for proc in procs:
        proc.terminate()


class _Progress:
    """A rich progress bar on stderr, shown only on a terminal and once the run is long."""

    def __init__(self, total: int, *, stream: Any = None) -> None:
        self.total, self.stream = total, stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.bar: Progress | None = None
        self.task: TaskID | None = None
        self.enabled = total > 1 and _is_terminal(self.stream)

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.start < PROGRESS_AFTER_S or done >= self.total:
                return
            from rich.console import Console
            from rich.progress import Progress

            # transient: the bar leaves no trace once the table is printed.
            self.bar = Progress(console=Console(file=self.stream), transient=True)
            self.bar.start()
            self.task = self.bar.add_task("auditing", total=self.total)
        assert self.task is not None
        self.bar.update(self.task, completed=done)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


def _is_terminal(stream: Any) -> bool:
    if os.environ.get("TERM") == "dumb":
        return False
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no isatty, or a closed stream
        return False


def run_many(
    args: argparse.Namespace,
    command: str,
    *,
    options: dict[str, Any],
    print_json: Callable[[dict[str, object]], None],
) -> int:
    """Run ``show``/``verify`` on every file of ``args.path``; print the table (or, with
    ``--json``, the document through ``print_json``); return the worst exit status: 2 (a file
    unreadable) > 1 (findings) > 0. ``options``: the keyword arguments of ``audit()`` that
    verify's flags set (picklable: they travel to the worker processes)."""
    from .batch_output import json_document, print_table
    from .batch_report import run_checks, write_html

    paths = expand(args.path, storage_options=options.get("storage_options"))
    tasks = _tasks(args, command, paths, options)
    jobs = args.jobs if args.jobs is not None else default_jobs(len(tasks))
    jobs = min(jobs, len(tasks))
    progress = _Progress(len(tasks))
    try:
        # -j 1: in this process, no pool to start.
        results = _run_serial(tasks, progress) if jobs <= 1 else _run_pool(tasks, jobs, progress)
    finally:
        progress.close()
    code = max((r["exit_code"] for r in results), default=EXIT_OK)
    strict = bool(getattr(args, "strict", False))
    checks = run_checks(command, options, results)
    if args.json:
        doc = json_document(results, command=command, exit_code=code, strict=strict, checks=checks)
        print_json(doc)
    else:
        print_table(results, command=command, strict=strict, checks=checks)
    if getattr(args, "html", None) is not None:
        write_html(args.html, results, command=command, strict=strict, checks=checks)
    return code
