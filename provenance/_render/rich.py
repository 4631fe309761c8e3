"""Rich renderables: the audit report laid out for the console's width and encoding; the
other results as their text at that width."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .checked import checks_lines
from .pipeline import pipeline_rich
from .terminal import MIN_WIDTH, encodable
from .text import key_facts, left_out, pick_columns, report_pipeline, step_rows, table_cells
from .values import NO_CLUSTERING, UNCHECKED, headline, history_items, ordered, summary_rows

if TYPE_CHECKING:
    from collections.abc import Callable

    from provenance._audit.report import AuditEntry, AuditReport

__all__ = ["as_text", "to_rich"]

_STATUS_STYLE = {
    "ok": "bold green",
    "warning": "bold yellow",
    "error": "bold red",
    "stale": "bold red",
}


class _RichReport:
    """The report as rich renders it: laid out for the console's width and encoding."""

    def __init__(self, report: AuditReport) -> None:
        self.report = report

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.padding import Padding
        from rich.table import Table
        from rich.text import Text

        report = self.report
        width = max(options.max_width, MIN_WIDTH)
        enc = options.encoding

        def t(text: str, style: str = "") -> Any:
            return Text(encodable(text, enc), style=style, overflow="fold")

        yield t(f"Provenance audit — {headline(report)}", "bold")
        for said_line in checks_lines(report.checks) if report.checks is not None else ():
            label, _, rest = said_line.partition(": ")
            said = Text(overflow="fold")
            style = "bold yellow" if label == "Not checked" else "bold"
            said.append(encodable(f"{label}: ", enc), style=style)
            said.append(encodable(rest, enc))
            yield said
        rows = summary_rows(report)
        if rows:
            cells = table_cells(rows, enc)
            # Each column adds one space either side and a rule; the table one more rule.
            cols = pick_columns(cells, width, 3, 1)
            if cols is not None:
                table = Table(header_style="bold", expand=False)
                for c in cols:
                    table.add_column(cells[c][0], no_wrap=True)
                for i, r in enumerate(rows, start=1):
                    row = [Text(cells[c][i]) for c in cols]
                    row[cols.index("status")].stylize(_STATUS_STYLE[r["status"]])
                    table.add_row(*row)
                yield table
                note = left_out(cols, width)
                if note:
                    yield t(note, "dim")
            else:
                for r, key in zip(rows, cells["key"][1:], strict=True):
                    line = Text(key, style="bold", overflow="fold")
                    line.append("  ")
                    line.append(r["status"], style=_STATUS_STYLE[r["status"]])
                    yield line
                    yield Padding(Text(key_facts(r, enc), overflow="fold"), (0, 0, 0, 4))
        else:
            yield t(NO_CLUSTERING)
        steps = step_rows(report)
        if steps:
            table = Table(title="Steps", title_justify="left", header_style="bold")
            for c in ("key", "kind", "status", "versions", "from"):
                table.add_column(c, overflow="fold")
            for r in steps:
                status = Text(r["status"], style=_STATUS_STYLE.get(r["status"], ""))
                names = [Text(encodable(r[c], enc)) for c in ("key", "kind")]
                table.add_row(*names, status, r["versions"], Text(encodable(r["from"], enc)))
            yield table
        pipeline = report_pipeline(report)
        if pipeline is not None:
            yield from pipeline_rich(pipeline, enc)
        if report.findings:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            for f in ordered(report):
                body = Text(overflow="fold")
                body.append(encodable(f.key, enc) + " ", style="bold")
                body.append(f"{f.code}: ", style="italic")
                body.append(encodable(f.message, enc))
                grid.add_row(Text(f"{f.severity:>7}", style=_STATUS_STYLE[f.severity]), body)
            yield grid
        if not report.checked_data and report.checks is None:  # else the lines above say it
            yield t(UNCHECKED, "dim")
        if report.key is not None:
            for e in report.entries:
                if e.history:
                    yield from self._history(e, enc)

    def _history(self, entry: AuditEntry, enc: str | None) -> Any:
        from rich.table import Table
        from rich.text import Text

        n = len(entry.history)
        yield Text(
            encodable(f"History of {entry.key} ({n} version{'s' * (n != 1)}, oldest first)", enc),
            style="bold",
            overflow="fold",
        )
        for item in history_items(entry, self.report.checks):
            head = f"v{item['version']}  {item['when']}  {item['function']}  {item['duration']}"
            yield Text(encodable(head, enc), style="bold", overflow="fold")
            grid = Table.grid(padding=(0, 1), pad_edge=False)
            grid.add_column(no_wrap=True, style="dim", min_width=11)
            grid.add_column(overflow="fold")
            fields = [
                ("params", item["params"] or "-"),
                ("graph", item["graph"]),
                ("result", item["result"]),
            ]
            if item["changes"] is not None:
                fields.append(("changed", "; ".join(item["changes"]) or "nothing"))
            for label, value in fields:
                grid.add_row("    " + label, Text(encodable(value, enc), overflow="fold"))
            yield grid


def to_rich(report: AuditReport) -> Any:
    """A rich renderable: the overview (a table, or one block per key when narrow), findings
    and, for one key, its history; laid out for the console's width and encoding."""
    return _RichReport(report)


class _RichText:
    """A result's text rendering at the console's width, in what its encoding can write."""

    def __init__(self, render: Callable[..., str], obj: Any) -> None:
        self.render, self.obj = render, obj

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text

        width = max(options.max_width, MIN_WIDTH)
        yield Text(self.render(self.obj, width=width, encoding=options.encoding), overflow="fold")


def as_text(render: Callable[..., str]) -> Callable[[Any], Any]:
    """A rich renderer printing what the text renderer ``render`` makes."""

    def to_rich(obj: Any) -> Any:
        return _RichText(render, obj)

    return to_rich
