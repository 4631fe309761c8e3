"""The audit report as plain text, for logs, pipes and ``NO_COLOR`` terminals."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .checked import checks_lines
from .terminal import MIN_WIDTH, cell_len, encodable, ljust, terminal_width, wrap
from .values import (
    COLUMNS,
    ESSENTIAL,
    NO_CLUSTERING,
    OPTIONAL,
    UNCHECKED,
    fmt_value,
    headline,
    history_items,
    ordered,
    summary_rows,
)

if TYPE_CHECKING:
    from provenance._audit.checked import Checks
    from provenance._audit.report import AuditEntry, AuditReport
    from provenance._compare.pipeline import PipelineView

__all__ = [
    "entry_text",
    "key_facts",
    "left_out",
    "pick_columns",
    "report_pipeline",
    "step_lines",
    "step_rows",
    "table_cells",
    "to_text",
]


def step_rows(report: AuditReport) -> list[dict[str, str]]:
    """The steps worth a line (recorded, or with findings): key, kind, status, versions,
    what each was made from, and when its latest version was recorded."""
    rows = []
    for s in report.steps:
        if not (s.recorded or s.findings):
            continue
        rec = s.latest
        t = (rec.finished_at or rec.started_at) if rec is not None else None
        made = [*s.parents, *(f"obs[{u!r}]" for u in s.uses)]
        if not made:  # a transform, a neighbors graph: the slots it read, and their makers
            made = [f"{slot} ({key or 'input'})" for slot, key in s.reads_from]
        rows.append(
            {
                "key": s.key,
                "kind": s.kind,
                "status": "stale" if s.stale and s.status == "error" else s.status,
                "versions": str(len(s.history)) if s.recorded else "unrecorded",
                "from": ", ".join(made) or "-",
                "recorded": f"{t:%Y-%m-%d %H:%M:%S}Z" if t is not None else "-",
            }
        )
    return rows


def report_pipeline(report: AuditReport) -> PipelineView | None:
    """The pipeline view of a whole object's report, when its records link by slot digests
    (schema >= 1.6); ``None`` for one key's report, or records that keep no slots."""
    from provenance._compare.pipeline import pipeline_of

    if report.key is not None:
        return None
    pipeline = pipeline_of(report)
    return pipeline if pipeline.linked else None


def step_lines(report: AuditReport) -> list[str]:
    """One line per step row: ``key (kind)  status  versions  from ...``."""
    return [
        f"{r['key']} ({r['kind']})  {r['status']}  "
        + (f"{r['versions']} version(s)" if r["versions"] != "unrecorded" else "unrecorded")
        + f"  from {r['from']}  {r['recorded']}"
        for r in step_rows(report)
    ]


def table_cells(rows: list[dict[str, Any]], enc: str | None) -> dict[str, list[str]]:
    """Column -> the header and each row's cell, as printed. Keys are never shortened."""
    out = {}
    for c in COLUMNS:
        width = 10_000 if c == "key" else 36
        out[c] = [encodable(c, enc)] + [encodable(fmt_value(r[c], width), enc) for r in rows]
    return out


def pick_columns(
    cells: dict[str, list[str]], width: int, extra_per_column: int, extra: int
) -> list[str] | None:
    """The columns that fit in ``width`` (essential first, then by priority), or ``None``."""
    natural = {c: max(map(cell_len, v)) + extra_per_column for c, v in cells.items()}
    total = extra + sum(natural[c] for c in ESSENTIAL)
    if total > width:
        return None
    chosen = set(ESSENTIAL)
    for c in OPTIONAL:
        if total + natural[c] <= width:
            chosen.add(c)
            total += natural[c]
    return [c for c in COLUMNS if c in chosen]


def left_out(cols: list[str], width: int) -> str | None:
    gone = [c for c in COLUMNS if c not in cols]
    if not gone:
        return None
    return f"({', '.join(gone)}: left out at {width} columns; see --json, or a wider terminal)"


def key_facts(row: dict[str, Any], enc: str | None) -> str:
    """The summary row of one key as ``name value`` pairs (the narrow layout)."""
    parts = [f"{c} {fmt_value(row[c], 60)}" for c in COLUMNS[2:]]
    return encodable(", ".join(parts), enc)


def to_text(report: AuditReport, *, width: int | None = None, encoding: str | None = None) -> str:
    """The overview (a table, or one block per key when narrow), findings and, for the keys
    asked for, their history; every line fits ``width`` terminal columns."""
    width = max(width or terminal_width(), MIN_WIDTH)
    enc = encoding

    def para(text: str, first: str = "", rest: str | None = None) -> list[str]:
        return wrap(encodable(text, enc), width, first, rest)

    lines = para(f"Provenance audit — {headline(report)}", rest="  ")
    for line in checks_lines(report.checks) if report.checks is not None else ():
        lines += para(line, "", "  ")
    rows = summary_rows(report)
    if rows:
        cells = table_cells(rows, enc)
        cols = pick_columns(cells, width, 2, -2)
        lines.append("")
        if cols is not None:
            widths = [max(map(cell_len, cells[c])) for c in cols]
            for i in range(len(rows) + 1):
                line = "  ".join(ljust(cells[c][i], w) for c, w in zip(cols, widths, strict=True))
                lines.append(line.rstrip())
            note = left_out(cols, width)
            if note:
                lines += wrap(note, width)
        else:  # too narrow for a table: one block per key
            for r, key in zip(rows, cells["key"][1:], strict=True):
                lines += wrap(f"{key}  {r['status']}", width, "", "  ")
                lines += wrap(key_facts(r, enc), width, "    ")
    else:
        lines.append(NO_CLUSTERING)
    steps = step_lines(report)
    if steps:
        lines += ["", "Steps"]
        for line in steps:
            lines += para(line, "  ", "    ")
    pipeline = report_pipeline(report)
    if pipeline is not None:
        from .pipeline import pipeline_lines  # its drawing (SVG for HTML) only when there is one

        lines += ["", *pipeline_lines(pipeline, width, enc)]
    if report.findings:
        lines += ["", "Findings"]
        for f in ordered(report):
            lines += para(f"[{f.severity}] {f.key}: {f.code}: {f.message}", "  ", "    ")
    if not report.checked_data and report.checks is None:  # else the lines above say it
        lines += ["", *para(UNCHECKED)]
    if report.key is not None:
        for e in report.entries:
            lines += ["", *_history_text(e, width, enc, report.checks)]
    return "\n".join(lines)


def entry_text(entry: AuditEntry, *, width: int | None = None, encoding: str | None = None) -> str:
    """One key: its status and findings, then its history."""
    width = max(width or terminal_width(), MIN_WIDTH)
    lines = wrap(encodable(f"{entry.key}: {entry.status}", encoding), width)
    for f in entry.findings:
        text = encodable(f"[{f.severity}] {f.code}: {f.message}", encoding)
        lines += wrap(text, width, "  ", "    ")
    return "\n".join([*lines, *_history_text(entry, width, encoding)])


def _history_text(
    entry: AuditEntry, width: int, enc: str | None, checks: Checks | None = None
) -> list[str]:
    def para(text: str, first: str = "", rest: str | None = None) -> list[str]:
        return wrap(encodable(text, enc), width, first, rest)

    n = len(entry.history)
    if not n:
        return para(f"{entry.key}: no provenance history.")
    out = para(f"History of {entry.key} ({n} version{'s' * (n != 1)}, oldest first)")
    hang = " " * 15
    for item in history_items(entry, checks):
        head = f"v{item['version']}  {item['when']}  {item['function']}  {item['duration']}"
        out += para(head, "  ", "      ")
        out += para(item["params"] or "-", "      params:  ", hang)
        out += para(item["graph"], "      graph:   ", hang)
        out += para(item["result"], "      result:  ", hang)
        if item["changes"] is not None:
            out += para("; ".join(item["changes"]) or "nothing", "      changed: ", hang)
    return out
