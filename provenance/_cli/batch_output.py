"""What ``provenance show|verify`` prints for several files: one table (rich on a terminal,
plain text otherwise, fitted to the width), the findings of each file that is not clean, a
line of totals; or one JSON document. Names are escaped in the table (a newline or an escape
sequence in a file name must not split or restyle a row), exact in the JSON."""

from __future__ import annotations

import os
import sys
import time
from typing import TYPE_CHECKING, Any

from provenance._render.terminal import (
    cell_len,
    encodable,
    ljust,
    printable,
    terminal_width,
    wrap,
)

from .batch_one import KINDS

if TYPE_CHECKING:
    from typing import TextIO

    from rich.progress import Progress as RichProgress
    from rich.progress import TaskID

    from provenance._audit.checked import Checks

__all__ = [
    "Progress",
    "json_document",
    "policy_dict",
    "print_table",
    "printable",
    "rows",
    "summary",
]

COLUMNS = ("path", "status", "clusterings", "steps", "errors", "warnings")
_STYLE = {k.replace("_", " "): "bold red" for k in KINDS} | {
    "ok": "bold green",
    "skipped": "bold yellow",
}
_SEVERITY_STYLE = {"error": "bold red", "warning": "bold yellow"}
MIN_PATH = 12
MAX_PER_FILE = 5
"""Findings listed per file; the rest are counted, with the command that shows them."""
PROGRESS_AFTER_S = 1.0
"""A progress bar appears once a run has taken this long (short runs stay quiet)."""


def status(result: dict[str, Any]) -> str:
    """The row's status: a key of ``batch.KINDS`` (``ok``, ``findings``, ``unreadable``,
    ``access_denied``, ``crashed``, ...)."""
    return str(result["status"])


def _label(kind: str) -> str:
    return kind.replace("_", " ")


def rows(results: list[dict[str, Any]]) -> list[dict[str, str]]:
    """One row of cells per entry, in input order (the path escaped)."""
    out = []
    for r in results:
        counts = r.get("counts") or {}
        row = {"path": printable(r["path"]), "status": _label(status(r))}
        for c in COLUMNS[2:]:
            row[c] = str(counts[c]) if c in counts else "-"
        out.append(row)
    return out


def summary(results: list[dict[str, Any]]) -> dict[str, int]:
    """Totals: entries (``files``) and each status, then clusterings, steps, errors and
    warnings over readable files."""
    statuses = [status(r) for r in results]
    out = {"files": len(results)} | {k: statuses.count(k) for k in KINDS}
    for c in COLUMNS[2:]:
        out[c] = sum(r.get("counts", {}).get(c, 0) for r in results)
    return out


def policy_dict(checks: Checks) -> dict[str, Any]:
    """The top-level ``checks`` of the JSON document: ``Checks.to_dict()`` less what differs
    from file to file (``replayed``, ``unverified``, the ledger's seal: in each report)."""
    d = checks.to_dict()
    del d["replayed"], d["unverified"]
    if checks.ledger is not None:
        d["ledger"] = {"location": checks.ledger.location}
    return d


def json_document(
    results: list[dict[str, Any]],
    *,
    command: str,
    exit_code: int,
    strict: bool,
    checks: Checks | None = None,
) -> dict[str, object]:
    """``{"command", "checks", "files": [...], "exit_code", "summary"}`` (``"strict"`` for
    verify): ``checks`` is the run's policy (:func:`policy_dict`; each file's report has its
    own ``checks``); an entry is ``{"path", "ok", "exit_code", "status", "report"}`` or, with
    no report, ``{"path", "ok": false, "exit_code", "status", "error", "error_type"}``. Paths
    exact (as given or found). The same document whatever ``-j`` or ``--dask``."""
    files = [{k: v for k, v in r.items() if k not in ("counts", "html")} for r in results]
    doc: dict[str, object] = {"command": command}
    if checks is not None:
        doc["checks"] = policy_dict(checks)
    doc |= {"files": files, "exit_code": exit_code}
    if command == "verify":
        doc["strict"] = strict
    doc["summary"] = summary(results)
    return doc


class Progress:
    """A rich progress bar on stderr, shown only on a terminal and once the run is long."""

    def __init__(self, total: int, *, stream: Any = None) -> None:
        self.total, self.stream = total, stream if stream is not None else sys.stderr
        self.start = time.monotonic()
        self.bar: RichProgress | None = None
        self.task: TaskID | None = None
        self.enabled = total > 1 and _is_terminal(self.stream)

    def __call__(self, done: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            if time.monotonic() - self.start < PROGRESS_AFTER_S or done >= self.total:
                return
            from rich.console import Console
            from rich.progress import Progress as RichProgress

            # transient: the bar leaves no trace once the table is printed.
            self.bar = RichProgress(console=Console(file=self.stream), transient=True)
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


def _fit_path(path: str, width: int, ellipsis: str) -> str:
    """``path`` in ``width`` columns, cut at the start: the file name is what tells files apart."""
    if cell_len(path) <= width:
        return path
    keep = ""
    for ch in reversed(path):
        if cell_len(ellipsis + ch + keep) > width:
            break
        keep = ch + keep
    return ellipsis + keep


def _one_line(text: str) -> str:
    return " ".join(text.split())  # whatever line breaks a message holds


def _fit_line(text: str, width: int, ellipsis: str) -> str:
    if cell_len(text) <= width:
        return text
    out = ""
    for ch in text:
        if cell_len(out + ch + ellipsis) > width:
            break
        out += ch
    return out + ellipsis


def _findings_lines(
    results: list[dict[str, Any]], *, command: str, width: int, ellipsis: str
) -> list[tuple[str, str, str]]:
    """``(indent, label, text)`` lines: each file with an error or findings, then what they
    are (errors first, at most a few per file, one line each)."""
    out: list[tuple[str, str, str]] = []
    for r in results:
        path = printable(r["path"])
        if "error" in r:
            error = printable(_one_line(r["error"].replace(r["path"], path)))
            out.append(("", _label(status(r)), path))
            out.append(("    ", "", _fit_line(error, width - 4, ellipsis)))
            continue
        if command != "verify" or not (r["counts"]["errors"] or r["counts"]["warnings"]):
            continue
        rep = r["report"]
        found = [f for e in (*rep["entries"], *rep["steps"]) for f in e["findings"]]
        found.sort(key=lambda f: f["severity"] != "error")  # stable: errors first
        out.append(("", _label(status(r)), path))
        for f in found[:MAX_PER_FILE]:
            text = printable(f"{f['key']}  {f['code']}: {_one_line(f['message'])}")
            out.append(("    ", f["severity"], _fit_line(text, width - 13, ellipsis)))
        if len(found) > MAX_PER_FILE:
            more = f"... and {len(found) - MAX_PER_FILE} more: provenance verify {path}"
            out.append(("    ", "", _fit_line(more, width - 4, ellipsis)))
    return out


def _totals(results: list[dict[str, Any]], *, command: str, strict: bool) -> str:
    s = summary(results)

    def n(k: int, word: str) -> str:
        return f"{k} {word}{'s' * (k != 1)}".replace("entrys", "entries")

    parts = [f"{s['ok']} ok", f"{s['findings']} with findings", f"{s['unreadable']} unreadable"]
    parts += [
        f"{s[k]} {_label(k)}" for k in KINDS if s[k] and k not in ("ok", "findings", "unreadable")
    ]
    listed = any(r.get("error_type") == "ListingError" for r in results)  # not all files
    what = n(s["files"], "entry" if listed else "file")
    line = (
        f"{what}: {', '.join(parts)}; {n(s['clusterings'], 'clustering')}, "
        f"{n(s['errors'], 'error')}, {n(s['warnings'], 'warning')}."
    )
    if command == "show":
        line += " show reads uns alone: provenance verify compares labels and graphs."
    elif strict:
        line += " --strict: warnings count as findings."
    return line


def print_table(
    results: list[dict[str, Any]],
    *,
    command: str,
    strict: bool,
    file: TextIO | None = None,
    checks: Checks | None = None,
) -> None:
    """The table of files, the findings of those that are not clean, the totals, and what
    the run checked (``checks``: its policy)."""
    from provenance._render.checked import checks_lines

    policy = checks_lines(checks, policy=True) if checks is not None else []
    from provenance._render.show import _use_rich

    stream = file if file is not None else sys.stdout
    width = terminal_width(stream)
    enc = getattr(stream, "encoding", None)
    use_rich = _use_rich(stream)
    ellipsis = "…" if encodable("…", enc) == "…" else "..."
    table = rows(results)
    if use_rich:
        _rich_table(
            results,
            table,
            command=command,
            strict=strict,
            stream=stream,
            width=width,
            policy=policy,
        )
        return
    # Plain text: two spaces between columns; the path column takes what the others leave.
    widths = {c: max(cell_len(c), *(cell_len(r[c]) for r in table)) for c in COLUMNS[1:]}
    room = width - sum(widths.values()) - 2 * (len(COLUMNS) - 1)
    paths = [_fit_path(encodable(r["path"], enc), max(room, MIN_PATH), ellipsis) for r in table]
    widths["path"] = max(cell_len("path"), *map(cell_len, paths))

    def line(cells: dict[str, str]) -> str:
        out = [ljust(cells["path"], widths["path"]), ljust(cells["status"], widths["status"])]
        out += [" " * (widths[c] - cell_len(cells[c])) + cells[c] for c in COLUMNS[2:]]
        return "  ".join(out).rstrip()

    lines = [line({c: c for c in COLUMNS})]
    lines += [line({**r, "path": p}) for r, p in zip(table, paths, strict=True)]
    found = _findings_lines(results, command=command, width=width, ellipsis=ellipsis)
    if found:
        lines += ["", "Findings (details: provenance verify PATH):"]
        for indent, label, text in found:
            if indent:
                lines.append(f"{indent}{label:<9}{text}".rstrip() if label else indent + text)
            else:
                lines.append(_fit_path(f"{text} ({label})", width, ellipsis))
    lines.append("")
    for text in policy:  # what every file was checked for, then the totals (the last line)
        lines += wrap(text, width, "", "  ")
    lines += wrap(_totals(results, command=command, strict=strict), width)
    print(encodable("\n".join(lines), enc), file=stream)


def _rich_table(
    results: list[dict[str, Any]],
    table: list[dict[str, str]],
    *,
    command: str,
    strict: bool,
    stream: Any,
    width: int,
    policy: list[str],
) -> None:
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # force_terminal: rich < 14 does not read TTY_COMPATIBLE, which _use_rich honours.
    console = Console(file=stream, width=width, force_terminal=True)
    enc = console.encoding
    ellipsis = "…" if encodable("…", enc) == "…" else "..."
    # Each rich column adds a space either side and a rule; the table one more rule.
    others = sum(max(cell_len(c), *(cell_len(r[c]) for r in table)) + 3 for c in COLUMNS[1:])
    room = max(width - others - 4, MIN_PATH)
    grid = Table(header_style="bold")
    grid.add_column("path", no_wrap=True)
    grid.add_column("status", no_wrap=True)
    for c in COLUMNS[2:]:
        grid.add_column(c, justify="right", no_wrap=True)
    for r in table:
        path = _fit_path(encodable(r["path"], enc), room, ellipsis)
        cells = [Text(path), Text(r["status"], style=_STYLE[r["status"]])]
        grid.add_row(*cells, *(r[c] for c in COLUMNS[2:]))
    console.print(grid)
    found = _findings_lines(results, command=command, width=width, ellipsis=ellipsis)
    if found:
        console.print(Text("Findings (details: provenance verify PATH):", style="bold"))
        for indent, label, text in found:
            line = Text(no_wrap=True, overflow="ellipsis")
            if indent:
                line.append(indent)
                line.append(f"{label:<9}" if label else "", style=_SEVERITY_STYLE.get(label, ""))
                line.append(encodable(text, enc))
            else:
                line.append(encodable(text, enc), style="bold")
                line.append(f" ({label})", style=_STYLE[label])
            console.print(line)
    for text in policy:
        label, _, rest = text.partition(": ")
        line = Text()
        line.append(f"{label}: ", style="bold yellow" if label == "Not checked" else "bold")
        console.print(line.append(encodable(rest, enc)))
    console.print(Text(encodable(_totals(results, command=command, strict=strict), enc)))
