"""``provenance show|verify`` on several files: directories expanded, files audited in parallel
processes (or on a Dask cluster), one summary table (or one JSON document), the worst exit status.

One path naming a file (or a ``.zarr`` store, or a URL) keeps the one-file output of
``commands.py``; this module takes over when a directory or several paths are given.

Every entry is a row whatever happens to it: a directory that cannot be listed, a file that
cannot be read, a worker that dies, a symlink loop. The listing of entries is :func:`entries`
(one place to add other kinds of location); the runners are ``batch_pool`` (``-j N``) and
``batch_dask`` (``--dask ADDRESS``); the output is ``batch_output``.
"""

from __future__ import annotations

import argparse
import contextlib
import errno
import os
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

from provenance._base.errors import UsageError

from .batch_one import EXIT_OK, KINDS, Task, audit_one, problem_row

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator, Sequence

__all__ = [
    "KINDS",
    "SUFFIXES",
    "Entry",
    "Task",
    "add_many_arguments",
    "audit_one",
    "default_jobs",
    "entries",
    "expand",
    "one_path",
    "problem_row",
    "run_many",
]

SUFFIXES = (".h5ad", ".h5mu", ".zarr")
"""What a directory is searched for (a ``.zarr`` directory is one store, never entered)."""

# --- which files -------------------------------------------------------------------------------


class Entry(NamedTuple):
    """One row to be: a location to audit, or (``status`` set) a problem met while listing."""

    location: str | Path
    status: str | None = None  # a key of KINDS when the entry is not to be audited
    message: str | None = None
    reason: str | None = None  # a remote listing's failure: its class (``not_found``, ...)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # e.g. inside a directory this user may not search: the audit says so
        return False


def _is_store_dir(path: Path) -> bool:
    """A directory that is one entry, never entered: a ``.zarr`` suffix, or zarr's own metadata
    inside; a directory named like a file (``x.h5ad``) is an entry too, whose row says what it
    is."""
    if path.suffix.lower() in SUFFIXES:
        return True
    try:
        return any((path / name).exists() for name in ("zarr.json", ".zgroup", ".zattrs"))
    except OSError:  # not searchable: walked as a directory, where the listing says why
        return False


def one_path(locations: Sequence[str | Path]) -> str | Path | None:
    """The location when exactly one was given and it is not a directory to search (a file,
    a ``.zarr`` store, a URL, or a path that does not exist: the one-file output); else
    ``None``."""
    if len(locations) != 1:
        return None
    (loc,) = locations
    if isinstance(loc, Path) and _is_dir(loc) and not _is_store_dir(loc):
        return None
    if isinstance(loc, str) and _remote_collection(loc):  # a prefix, a listing: its entries
        return None
    return loc


def _remote_collection(loc: str) -> bool:
    from provenance._storage.remote import is_remote_collection

    return is_remote_collection(loc)


def _listing_problem(directory: Path, e: OSError) -> Entry:
    if isinstance(e, PermissionError) or e.errno in (errno.EACCES, errno.EPERM):
        msg = (
            f"{directory}: permission denied: this user cannot list the directory, so the "
            "files below it are not audited; give the auditing user read and search (r-x) "
            "permission."
        )
        return Entry(directory, "access_denied", msg)
    msg = f"{directory}: cannot list this directory ({e.strerror or e}); nothing below it audited."
    return Entry(directory, "unreadable", msg)


def _searched_already(d: Path, first: Path) -> Iterator[Entry]:
    """The row of a directory reached again, searched as ``first`` (none for the same path:
    given again, it is one location)."""
    if first != d:
        msg = f"{d}: the same directory as {first}, searched there: not searched again."
        yield Entry(d, "skipped", msg)


def _walk(root: Path, seen: dict[tuple[int, int], Path] | None = None) -> Iterator[Entry]:
    """``.h5ad``/``.h5mu`` files and ``.zarr`` stores under ``root``, sorted by name in each
    directory, hidden names skipped (``.git``, editor and macOS ``._*`` droppings), ``.zarr``
    stores not entered. Directories reached through symlinks are followed, each directory
    once: a link back to a directory above it is a loop, named and not followed; a second
    way into a directory already searched is named too. A directory that cannot be listed is
    its own entry. ``seen``: the directories searched already, shared by the locations of one
    command line, so that two ways into one directory search it once there too."""
    seen = {} if seen is None else seen

    def visit(d: Path, above: frozenset[tuple[int, int]]) -> Iterator[Entry]:
        try:
            st = os.stat(d)
            with os.scandir(d) as it:
                listing = sorted(it, key=lambda e: e.name)
        except OSError as e:
            yield _listing_problem(d, e)
            return
        ident = (st.st_dev, st.st_ino)
        seen[ident] = d
        above |= {ident}
        for de in listing:
            if de.name.startswith("."):
                continue
            p = d / de.name
            try:
                is_dir = de.is_dir()  # follows symlinks
            except OSError:
                is_dir = False
            if not is_dir:
                if Path(de.name).suffix.lower() in SUFFIXES:
                    yield Entry(p)
                continue
            if _is_store_dir(p):
                yield Entry(p)
                continue
            try:
                target = os.stat(p)
            except OSError as e:
                yield _listing_problem(p, e)
                continue
            tid = (target.st_dev, target.st_ino)
            if tid in above:
                msg = (
                    f"{p}: a symlink to {os.path.realpath(p)}, a directory above it: a loop, "
                    "not followed."
                )
                yield Entry(p, "skipped", msg)
            elif tid in seen:
                yield from _searched_already(p, seen[tid])
            else:
                yield from visit(p, above)

    yield from visit(root, frozenset())


def _remote_entries(loc: str, storage_options: dict[str, Any] | None) -> Iterator[Entry]:
    """The files and stores below an object-store prefix or an HTTP listing, or the row
    saying why it cannot be listed."""
    from provenance._storage.remote import list_remote

    from .batch_one import status_of

    try:
        listed = list_remote(loc, storage_options)
    except Exception as e:  # the listing is a row: the other locations are still audited
        reason = getattr(e, "reason", None)
        yield Entry(loc, status_of(e), f"{loc}: cannot list it: {e}", reason)
        return
    if not listed:
        msg = f"{loc}: no .h5ad, .h5mu or .zarr below this URL; give the files' URLs."
        raise UsageError(msg)
    yield from (Entry(u) for u in listed)


def _entries_of(
    loc: str | Path,
    storage_options: dict[str, Any] | None = None,
    seen: dict[tuple[int, int], Path] | None = None,
) -> Iterator[Entry]:
    """The entries one location given on the command line stands for (``seen``: the
    directories searched for the locations before it)."""
    if isinstance(loc, str) and _remote_collection(loc):
        yield from _remote_entries(loc, storage_options)
        return
    if isinstance(loc, Path) and _is_dir(loc) and not _is_store_dir(loc):
        seen = {} if seen is None else seen
        with contextlib.suppress(OSError):  # else the walk says why
            st = os.stat(loc)
            if (first := seen.get((st.st_dev, st.st_ino))) is not None:
                yield from _searched_already(loc, first)
                return
        found = list(_walk(loc, seen))
        if not found:
            msg = (
                f"{loc}: no .h5ad, .h5mu or .zarr in this directory or below it (hidden "
                "directories are skipped); give the files or a directory that holds them."
            )
            raise UsageError(msg)
        yield from found
    else:  # a file, a store, a URL, or a path that does not exist: its audit says what is wrong
        yield Entry(loc)


def entries(
    locations: Sequence[str | Path], *, storage_options: dict[str, Any] | None = None
) -> Iterator[Entry]:
    """The entries to report, in the order given; a directory becomes the files found in it
    (recursively, sorted by path) and the problems met on the way. Each location once.

    A URL ending with ``/`` (an object-store prefix, an HTTP directory listing) becomes the
    URLs of the files and stores below it (``storage_options``: its filesystem's).

    Raises
    ------
    UsageError
        A directory holds no ``.h5ad``, ``.h5mu`` or ``.zarr`` (and nothing that stopped the
        search).
    """
    seen: set[str] = set()
    searched: dict[tuple[int, int], Path] = {}  # one directory reached twice: searched once
    for loc in locations:
        for entry in _entries_of(loc, storage_options, searched):
            if str(entry.location) not in seen:
                seen.add(str(entry.location))
                yield entry


def expand(
    locations: Sequence[str | Path], *, storage_options: dict[str, Any] | None = None
) -> list[str | Path]:
    """The locations :func:`entries` would audit (problems met while listing left out).

    Examples
    --------
    >>> expand(["run1.h5ad", Path("sweeps/")])  # doctest: +SKIP
    [PosixPath('run1.h5ad'), PosixPath('sweeps/a.h5ad'), PosixPath('sweeps/day2/b.zarr')]
    """
    listed = entries(locations, storage_options=storage_options)
    return [e.location for e in listed if e.status is None]


def default_jobs(n_files: int) -> int:
    """The usable cores (this process's CPU affinity where the OS has one), at most
    ``n_files``."""
    try:
        cores = len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        cores = os.cpu_count() or 1
    return max(1, min(cores, n_files))


# --- many files --------------------------------------------------------------------------------


def _jobs(text: str) -> int:
    n = int(text)
    if n < 1:
        msg = f"{text}: give 1 or more processes"
        raise argparse.ArgumentTypeError(msg)
    return n


def add_many_arguments(
    p: argparse.ArgumentParser, *, location: Callable[[str], str | Path]
) -> None:
    """show/verify: one PATH or several (directories searched), and ``-j``."""
    p.add_argument(
        "path",
        type=location,
        nargs="+",
        help=".h5ad or .h5mu file, or .zarr store; several, or directories (searched below for "
        "those): one table, the worst exit status",
    )
    p.add_argument(
        "-j",
        "--jobs",
        type=_jobs,
        default=None,
        metavar="N",
        help="with several files: audit N at once, here and in N - 1 worker processes (default: "
        "the usable cores)",
    )
    p.add_argument(
        "--dask",
        default=None,
        metavar="ADDRESS",
        help="audit the files (or the one file) on this dask.distributed scheduler (e.g. "
        "tcp://10.0.0.5:8786) instead of local processes; needs anndata-provenance[dask] here "
        "and on the workers",
    )


def _run_serial(tasks: list[Task], on_result: Callable[[int, dict[str, Any]], None]) -> None:
    for i, t in enumerate(tasks):
        on_result(i, audit_one(t))


def run_many(
    args: argparse.Namespace,
    command: str,
    *,
    options: dict[str, Any],
    print_json: Callable[[dict[str, object]], None],
) -> int:
    """Run ``show``/``verify`` on every entry of ``args.path``; print the table (or, with
    ``--json``, the document through ``print_json``); return the worst exit status: 2 (an
    entry unreadable, denied, crashed, timed out) > 1 (findings) > 0. ``options``: the keyword
    arguments of ``audit()`` that verify's flags set (picklable: they travel to the workers).
    ``args.dask``: a scheduler address to run on instead of local processes."""
    from .batch_output import Progress, json_document, print_table
    from .batch_report import run_checks, write_html

    strict = bool(getattr(args, "strict", False))
    html = getattr(args, "html", None) is not None
    listed = list(entries(args.path, storage_options=options.get("storage_options")))
    results: list[dict[str, Any] | None] = [None] * len(listed)
    tasks, slots = [], []
    for i, e in enumerate(listed):
        if e.status is not None:
            row = problem_row(e.location, e.status, e.message or "", "ListingError")
            results[i] = row if e.reason is None else {**row, "reason": e.reason}
        else:
            tasks.append(Task(e.location, args.key, command, options, strict, html))
            slots.append(i)
    address = getattr(args, "dask", None)
    jobs = args.jobs if args.jobs is not None else default_jobs(len(tasks))
    jobs = min(jobs, len(tasks))
    progress = Progress(len(tasks))
    done = 0

    def on_result(i: int, result: dict[str, Any]) -> None:
        nonlocal done
        results[slots[i]] = result
        done += 1
        progress(done)

    try:
        if address is not None:
            from .batch_dask import run_dask

            timeout = (options.get("storage_options") or {}).get("timeout")
            run_dask(tasks, address, on_result, tick=lambda: progress(done), timeout=timeout)
        elif jobs <= 1:  # in this process, no pool to start
            _run_serial(tasks, on_result)
        else:
            from .batch_pool import run_pool

            run_pool(tasks, jobs, on_result, tick=lambda: progress(done))
    finally:
        progress.close()
    rows = [r for r in results if r is not None]
    code = max((r["exit_code"] for r in rows), default=EXIT_OK)
    checks = run_checks(command, options, rows)
    if html:  # first: a page that cannot be written is then the one error printed
        write_html(args.html, rows, command=command, strict=strict, checks=checks)
    if args.json:
        doc = json_document(rows, command=command, exit_code=code, strict=strict, checks=checks)
        print_json(doc)
    else:
        print_table(rows, command=command, strict=strict, checks=checks)
    return code
