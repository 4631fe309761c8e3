"""One entry of a collection: what a worker needs (:class:`Task`), the audit that makes its
row (:func:`audit_one`, run in this process, a worker process or on a Dask worker), the row of
an entry that has no report (:func:`problem_row`), and the statuses a row can have."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from pathlib import Path

__all__ = [
    "EXIT_FINDINGS",
    "EXIT_OK",
    "EXIT_UNREADABLE",
    "KINDS",
    "Task",
    "audit_one",
    "problem_row",
]

EXIT_OK, EXIT_FINDINGS, EXIT_UNREADABLE = 0, 1, 2
KINDS = {
    "ok": EXIT_OK,
    "findings": EXIT_FINDINGS,
    "skipped": EXIT_OK,  # a symlink loop or a directory already searched: named, not followed
    "missing_key": EXIT_UNREADABLE,
    "unreadable": EXIT_UNREADABLE,
    "access_denied": EXIT_UNREADABLE,
    "timed_out": EXIT_UNREADABLE,
    "crashed": EXIT_UNREADABLE,
}
"""Each row's status (the JSON ``status``; the table writes ``_`` as a space) and its exit
status. The summary counts each; the run exits with the worst."""


class Task(NamedTuple):
    """What a worker needs for one file: plain, picklable values."""

    path: str | Path
    key: str | None
    command: str  # "show" | "verify"
    options: dict[str, Any]  # audit() keyword arguments set by verify's flags
    strict: bool
    html: bool = False  # also render the report's HTML (verify --html), here in the worker


def problem_row(path: str | Path, status: str, message: str, error_type: str) -> dict[str, Any]:
    """The row of an entry that has no report: ``{"path", "ok": False, "exit_code", "status",
    "error", "error_type"}``."""
    return {
        "path": str(path),
        "ok": False,
        "exit_code": KINDS[status],
        "status": status,
        "error": message,
        "error_type": error_type,
    }


def status_of(e: BaseException) -> str:
    """The row's status for an exception raised by an audit."""
    from provenance._base.errors import UnknownKeyError

    if isinstance(e, UnknownKeyError):
        return "missing_key"
    reason = getattr(e, "reason", None)  # an error that classifies itself (remote reads)
    if reason == "credentials":  # missing or refused: the server denies this user the file
        return "access_denied"
    if isinstance(reason, str) and reason in KINDS:
        return reason
    for cause in (e, e.__cause__):
        if isinstance(cause, PermissionError) or (
            isinstance(cause, OSError) and cause.errno in (errno.EACCES, errno.EPERM)
        ):
            return "access_denied"
        if isinstance(cause, TimeoutError):
            return "timed_out"
    return "unreadable"


def audit_one(task: Task) -> dict[str, Any]:
    """Audit one file: ``{"path", "ok", "exit_code", "status", "report", "counts"}``, or
    :func:`problem_row` when it cannot be read.

    Never raises on a bad file: one unreadable file is its row, not the end of the run.
    """
    from provenance._audit.audit import audit

    path = str(task.path)
    try:
        # show reads uns alone, as for one file.
        check_data = task.command == "verify"
        report = audit(task.path, task.key, check_data=check_data, **task.options)
    except Exception as e:
        row = problem_row(path, status_of(e), str(e), type(e).__name__)
        reason = getattr(e, "reason", None)  # a remote read's class: not_found, no_ranges, ...
        if isinstance(reason, str):
            row["reason"] = reason
        return row
    d = report.to_dict()
    n_err, n_warn = len(report.errors), len(report.warnings)
    if task.command == "verify":
        failed = not report.ok or (task.strict and n_warn > 0)
        d |= {"strict": task.strict, "passed": not failed}
        code = EXIT_FINDINGS if failed else EXIT_OK
    else:  # show's exit status does not judge, as for one file
        failed, code = not report.ok, EXIT_OK
    counts = {
        "clusterings": len(report.clustering_keys),
        "steps": len(report.steps),
        "errors": n_err,
        "warnings": n_warn,
    }
    status = "findings" if failed else "ok"
    out = {
        "path": path,
        "ok": not failed,
        "exit_code": code,
        "status": status,
        "report": d,
        "counts": counts,
    }
    if task.html:
        from provenance._render.html import to_html

        out["html"] = to_html(report, css=False)
    return out
