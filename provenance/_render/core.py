"""Renderings of an :class:`~provenance.AuditReport`: plain text, rich, HTML; and display.

The report holds data only; these functions turn it into text. The HTML takes its colours
from the notebook's CSS variables (JupyterLab ``--jp-*``, VS Code ``--vscode-*``), with light
and dark defaults chosen by ``prefers-color-scheme`` elsewhere, so it reads in either theme.
"""

from __future__ import annotations

import html
import json
import os
import sys
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from provenance._audit.report import AuditEntry, AuditReport, Finding
    from provenance._schema.models import ClusteringRecord

__all__ = [
    "cell_len",
    "display",
    "encodable",
    "fmt_value",
    "summary_rows",
    "terminal_width",
    "to_html",
    "to_rich",
    "to_text",
    "wrap",
]

_COLUMNS = (
    "key",
    "status",
    "method",
    "versions",
    "resolution",
    "flavor",
    "random_state",
    "clusters",
    "graph",
    "recorded",
    "findings",
)
_HIDDEN_PARAMS = {"method", "copy", "key_added", "function", "origin"}
_STATUS_STYLE = {"ok": "bold green", "warning": "bold yellow", "error": "bold red"}


def fmt_value(value: Any, width: int = 60) -> str:
    """A compact one-line form of a JSON value."""
    if value is None:
        text = "-"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, dict) and value.get("$type") == "ndarray" and "values" in value:
        return fmt_value(value["values"], width)  # scanpy's 1-element arrays in old params
    elif isinstance(value, dict) and value.get("$type") == "float":
        text = str(value.get("value"))
    elif isinstance(value, dict) and value.get("$type") in ("class", "callable"):
        text = str(value.get("name"))
    elif isinstance(value, list) and all(isinstance(v, int | float | str) for v in value):
        text = " ".join(map(str, value))
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


def _short(digest: str | None, n: int = 8) -> str:
    return digest.split(":", 1)[-1][:n] if digest else "-"


def _when(rec: ClusteringRecord) -> str:
    t = rec.finished_at or rec.started_at
    return f"{t:%Y-%m-%d %H:%M:%S}Z" if t is not None else "-"


def summary_rows(report: AuditReport) -> list[dict[str, Any]]:
    """One dict per entry (the columns of the overview table and of ``to_frame``)."""
    rows = []
    for e in report.entries:
        rec = e.latest
        sp = e.scanpy_params or {}
        if rec is not None:
            p = rec.params
            g = rec.graph
            graph = "-"
            if g is not None:
                where = f"obsp[{g.obsp_key}]" if g.obsp_key else "adjacency"
                graph = f"{where} {_short(g.digest)}"
            row = {
                "method": rec.method,
                "versions": len(e.history),
                "resolution": p.resolution,
                "flavor": p.flavor,
                "random_state": fmt_value(p.random_state, 20),
                "clusters": rec.result.n_clusters,
                "graph": graph,
                "recorded": _when(rec),
            }
        else:
            row = {
                "method": None,
                "versions": 0,
                "resolution": sp.get("resolution"),
                "flavor": None,
                "random_state": fmt_value(sp["random_state"], 20) if "random_state" in sp else None,
                "clusters": None,
                "graph": "-",
                "recorded": "-",
            }
        rows.append(
            {
                "key": e.key,
                "status": e.status,
                **row,
                "findings": ", ".join(f.code for f in e.findings),
            }
        )
    return rows


def _n(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _ordered(report: AuditReport) -> list[Finding]:
    """Findings, errors first, in entry order otherwise."""
    return sorted(report.findings, key=lambda f: f.severity != "error")


def _headline(report: AuditReport) -> str:
    n_err, n_warn = len(report.errors), len(report.warnings)
    verdict = "OK" if report.ok else "NOT OK"
    cells = f", {report.n_obs} cells" if report.n_obs is not None else ""
    return (
        f"{verdict}: {report.source}{cells}: {_n(len(report.clustering_keys), 'clustering key')}, "
        f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}"
    )


_UNCHECKED = (
    "Labels and graphs were not compared with the records (only uns was read); "
    "run `provenance verify` for that."
)


def _params_text(rec: ClusteringRecord, key: str) -> str:
    from provenance._compare.diff import flatten_record

    params = flatten_record(rec)["params"]
    parts = [
        f"{k}={fmt_value(v, 40)}"
        for k, v in params.items()
        if k not in _HIDDEN_PARAMS and v not in (None, {}, [])
    ]
    if params.get("key_added") not in (None, key):
        parts.append(f"key_added={params['key_added']}")
    return " ".join(parts)


def _graph_text(rec: ClusteringRecord) -> str:
    g = rec.graph
    if g is None:
        return "unknown"
    where = f"obsp[{g.obsp_key!r}]" if g.obsp_key else "adjacency= argument"
    made = ""
    if g.neighbors_params:
        made = " from " + " ".join(
            f"{k}={fmt_value(v, 20)}" for k, v in sorted(g.neighbors_params.items())
        )
    return f"{where}{made}; {g.n_nodes} nodes, {g.n_edges} edges, {g.digest[:30]}…"


def _sizes_text(rec: ClusteringRecord) -> str:
    r = rec.result
    mod = f", modularity {r.modularity:.4g}" if r.modularity is not None else ""
    return f"sizes {fmt_value(r.cluster_sizes, 60)}{mod}"


def _result_text(rec: ClusteringRecord) -> str:
    return f"{rec.result.n_clusters} clusters ({_sizes_text(rec)})"


def _changes(prev: ClusteringRecord | None, rec: ClusteringRecord) -> list[str]:
    from provenance._compare.diff import record_changes

    if prev is None:
        return []
    out = []
    for r in record_changes(prev, rec):
        if r.field == "partition_digest":
            out.append("partition: different cells grouped together")
        elif r.section == "graph" and r.field == "digest":
            out.append(f"graph: {_short(r.a)} → {_short(r.b)}")
        else:
            out.append(f"{r.field}: {fmt_value(r.a, 30)} → {fmt_value(r.b, 30)}")
    return out


def _history_items(entry: AuditEntry) -> list[dict[str, Any]]:
    items = []
    prev = None
    for rec in entry.history:
        items.append(
            {
                "version": rec.version,
                "when": _when(rec),
                "function": rec.function + (f" ({rec.origin})" if rec.origin != "recorded" else ""),
                "duration": f"{rec.duration_s:.2f} s" if rec.duration_s is not None else "-",
                "params": _params_text(rec, entry.key),
                "graph": _graph_text(rec),
                "result": _result_text(rec),
                "result_head": f"{rec.result.n_clusters} clusters",
                "result_tail": _sizes_text(rec),
                "changes": _changes(prev, rec) if prev is not None else None,
            }
        )
        prev = rec
    return items


# --- layout helpers: width, encoding -------------------------------------------------------

# The summary table's columns by priority when the width is short: the table keeps the
# essential ones and adds the others in this order while they fit; below that, one block per
# key. The displayed order stays that of _COLUMNS.
_ESSENTIAL = ("key", "status", "method", "resolution", "flavor", "clusters")
_OPTIONAL = ("versions", "random_state", "recorded", "graph")
_MIN_WIDTH = 20
_DEFAULT_WIDTH = 80

# Characters the renderings use, with ASCII stand-ins for outputs that cannot encode them.
_ASCII = str.maketrans(
    {
        "—": "-",
        "–": "-",
        "→": "->",
        "←": "<-",
        "…": "...",
        "·": "-",
        "≥": ">=",
        "≤": "<=",
        "×": "x",
        "’": "'",
        "‘": "'",
        "“": '"',
        "”": '"',
    }
)


def cell_len(text: str) -> int:
    """Columns ``text`` takes in a terminal (wide CJK characters count two)."""
    from rich.cells import cell_len as _cell_len

    return _cell_len(text)


def encodable(text: str, encoding: str | None) -> str:
    """``text`` as ``encoding`` can write it: ASCII stand-ins, then ``\\uXXXX`` escapes.

    Nothing changes when the encoding can write ``text`` (UTF-8 always can).
    """
    if not encoding:
        return text
    try:
        text.encode(encoding)
    except UnicodeEncodeError:
        text = text.translate(_ASCII)
        return text.encode(encoding, "backslashreplace").decode(encoding)
    except LookupError:  # an encoding Python does not know: write ASCII
        return text.translate(_ASCII).encode("ascii", "backslashreplace").decode("ascii")
    return text


def terminal_width(stream: TextIO | None = None) -> int:
    """``COLUMNS`` if set, else the width of the terminal ``stream`` writes to, else 80."""
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        width = os.get_terminal_size((stream or sys.stdout).fileno()).columns
    except (AttributeError, ValueError, OSError):  # not a terminal, or no file descriptor
        width = 0
    return width or _DEFAULT_WIDTH


def _ljust(text: str, width: int) -> str:
    return text + " " * max(0, width - cell_len(text))


def _chop(word: str, width: int) -> list[str]:
    """A word longer than ``width`` columns, cut into pieces that fit."""
    pieces, cur, n = [], "", 0
    for ch in word:
        w = cell_len(ch)
        if cur and n + w > width:
            pieces.append(cur)
            cur, n = "", 0
        cur += ch
        n += w
    return [*pieces, cur] if cur else pieces


def wrap(text: str, width: int, first: str = "", rest: str | None = None) -> list[str]:
    """Word-wrap ``text`` to ``width`` terminal columns; ``first``/``rest`` prefix the lines.

    Widths are display widths (wide characters count two); a word longer than a line is cut.
    """
    rest = first if rest is None else rest
    width = max(width, _MIN_WIDTH)
    if "\n" not in text and cell_len(first + text) <= width:
        return [(first + text).rstrip()]  # fits: spacing kept as written
    lines: list[str] = []
    prefix = first
    cur, n = "", 0
    for word in text.split():
        room = width - cell_len(prefix)
        w = cell_len(word)
        if cur and n + 1 + w <= room:
            cur, n = f"{cur} {word}", n + 1 + w
            continue
        if cur:
            lines.append(prefix + cur)
            prefix = rest
            room = width - cell_len(prefix)
        if w <= room:
            cur, n = word, w
            continue
        pieces = _chop(word, max(room, 1))
        for piece in pieces[:-1]:
            lines.append(prefix + piece)
            prefix = rest
        cur, n = pieces[-1], cell_len(pieces[-1])
    lines.append(prefix + cur)
    return [line.rstrip() for line in lines]


def _table_cells(rows: list[dict[str, Any]], enc: str | None) -> dict[str, list[str]]:
    """Column -> the header and each row's cell, as printed. Keys are never shortened."""
    out = {}
    for c in _COLUMNS[:-1]:
        width = 10_000 if c == "key" else 36
        out[c] = [encodable(c, enc)] + [encodable(fmt_value(r[c], width), enc) for r in rows]
    return out


def _pick_columns(
    cells: dict[str, list[str]], width: int, extra_per_column: int, extra: int
) -> list[str] | None:
    """The columns that fit in ``width`` (essential first, then by priority), or ``None``."""
    natural = {c: max(map(cell_len, v)) + extra_per_column for c, v in cells.items()}
    total = extra + sum(natural[c] for c in _ESSENTIAL)
    if total > width:
        return None
    chosen = set(_ESSENTIAL)
    for c in _OPTIONAL:
        if total + natural[c] <= width:
            chosen.add(c)
            total += natural[c]
    return [c for c in _COLUMNS[:-1] if c in chosen]


def _left_out(cols: list[str], width: int) -> str | None:
    gone = [c for c in _COLUMNS[:-1] if c not in cols]
    if not gone:
        return None
    return f"({', '.join(gone)}: left out at {width} columns; see --json, or a wider terminal)"


def _key_facts(row: dict[str, Any], enc: str | None) -> str:
    """The summary row of one key as ``name value`` pairs (the narrow layout)."""
    parts = [f"{c} {fmt_value(row[c], 60)}" for c in _COLUMNS[2:-1]]
    return encodable(", ".join(parts), enc)


# --- plain text ------------------------------------------------------------------------------


def to_text(report: AuditReport, *, width: int | None = None, encoding: str | None = None) -> str:
    """Plain text, for logs, pipes and ``NO_COLOR`` terminals.

    Parameters
    ----------
    report
        The audit report.
    width
        Terminal columns every line must fit in; default :func:`terminal_width`.
    encoding
        The output's encoding: characters it cannot write are replaced by ASCII.
    """
    width = max(width or terminal_width(), _MIN_WIDTH)
    enc = encoding

    def para(text: str, first: str = "", rest: str | None = None) -> list[str]:
        return wrap(encodable(text, enc), width, first, rest)

    lines = para(f"Provenance audit — {_headline(report)}", rest="  ")
    rows = summary_rows(report)
    if rows:
        cells = _table_cells(rows, enc)
        cols = _pick_columns(cells, width, 2, -2)
        lines.append("")
        if cols is not None:
            widths = [max(map(cell_len, cells[c])) for c in cols]
            for i in range(len(rows) + 1):
                line = "  ".join(_ljust(cells[c][i], w) for c, w in zip(cols, widths, strict=True))
                lines.append(line.rstrip())
            note = _left_out(cols, width)
            if note:
                lines += wrap(note, width)
        else:  # too narrow for a table: one block per key
            for r, key in zip(rows, cells["key"][1:], strict=True):
                lines += wrap(f"{key}  {r['status']}", width, "", "  ")
                lines += wrap(_key_facts(r, enc), width, "    ")
    else:
        lines.append("No clustering found (no Leiden/Louvain labels, params or records).")
    if report.findings:
        lines += ["", "Findings"]
        for f in _ordered(report):
            lines += para(f"[{f.severity}] {f.key}: {f.code}: {f.message}", "  ", "    ")
    if not report.checked_data:
        lines += ["", *para(_UNCHECKED)]
    if report.key is not None:
        for e in report.entries:
            lines += ["", *_history_text(e, width, enc)]
    return "\n".join(lines)


def _history_text(entry: AuditEntry, width: int, enc: str | None) -> list[str]:
    def para(text: str, first: str = "", rest: str | None = None) -> list[str]:
        return wrap(encodable(text, enc), width, first, rest)

    n = len(entry.history)
    if not n:
        return para(f"{entry.key}: no provenance history.")
    out = para(f"History of {entry.key} ({n} version{'s' * (n != 1)}, oldest first)")
    hang = " " * 15
    for item in _history_items(entry):
        head = f"v{item['version']}  {item['when']}  {item['function']}  {item['duration']}"
        out += para(head, "  ", "      ")
        out += para(item["params"] or "-", "      params:  ", hang)
        out += para(item["graph"], "      graph:   ", hang)
        out += para(item["result"], "      result:  ", hang)
        if item["changes"] is not None:
            out += para("; ".join(item["changes"]) or "nothing", "      changed: ", hang)
    return out


# --- rich ------------------------------------------------------------------------------------


class _RichReport:
    """The report as rich renders it: laid out for the console's width and encoding."""

    def __init__(self, report: AuditReport) -> None:
        self.report = report

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.padding import Padding
        from rich.table import Table
        from rich.text import Text

        report = self.report
        width = max(options.max_width, _MIN_WIDTH)
        enc = options.encoding

        def t(text: str, style: str = "") -> Any:
            return Text(encodable(text, enc), style=style, overflow="fold")

        yield t(f"Provenance audit — {_headline(report)}", "bold")
        rows = summary_rows(report)
        if rows:
            cells = _table_cells(rows, enc)
            # Each column adds one space either side and a rule; the table one more rule.
            cols = _pick_columns(cells, width, 3, 1)
            if cols is not None:
                table = Table(header_style="bold", expand=False)
                for c in cols:
                    table.add_column(cells[c][0], no_wrap=True)
                for i, r in enumerate(rows, start=1):
                    row = [Text(cells[c][i]) for c in cols]
                    row[cols.index("status")].stylize(_STATUS_STYLE[r["status"]])
                    table.add_row(*row)
                yield table
                note = _left_out(cols, width)
                if note:
                    yield t(note, "dim")
            else:
                for r, key in zip(rows, cells["key"][1:], strict=True):
                    line = Text(key, style="bold", overflow="fold")
                    line.append("  ")
                    line.append(r["status"], style=_STATUS_STYLE[r["status"]])
                    yield line
                    yield Padding(Text(_key_facts(r, enc), overflow="fold"), (0, 0, 0, 4))
        else:
            yield t("No clustering found (no Leiden/Louvain labels, params or records).")
        if report.findings:
            grid = Table.grid(padding=(0, 1))
            grid.add_column(no_wrap=True)
            grid.add_column(overflow="fold")
            for f in _ordered(report):
                body = Text(overflow="fold")
                body.append(encodable(f.key, enc) + " ", style="bold")
                body.append(f"{f.code}: ", style="italic")
                body.append(encodable(f.message, enc))
                grid.add_row(Text(f"{f.severity:>7}", style=_STATUS_STYLE[f.severity]), body)
            yield grid
        if not report.checked_data:
            yield t(_UNCHECKED, "dim")
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
        for item in _history_items(entry):
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


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
.prov-audit {
  --prov-d-fg: #1f2328; --prov-d-muted: #59636e; --prov-d-border: #d1d9e0;
  --prov-d-ok: #1a7f37; --prov-d-warn: #9a6700; --prov-d-err: #cf222e;
  --prov-fg: var(--jp-content-font-color1, var(--vscode-editor-foreground, var(--prov-d-fg)));
  --prov-muted: var(--jp-content-font-color2,
    var(--vscode-descriptionForeground, var(--prov-d-muted)));
  --prov-border: var(--jp-border-color2, var(--vscode-panel-border, var(--prov-d-border)));
  --prov-ok: var(--jp-success-color1, var(--vscode-testing-iconPassed, var(--prov-d-ok)));
  --prov-warn: var(--jp-warn-color1,
    var(--vscode-editorWarning-foreground, var(--prov-d-warn)));
  --prov-err: var(--jp-error-color1, var(--vscode-errorForeground, var(--prov-d-err)));
  --prov-mono: var(--jp-code-font-family, var(--vscode-editor-font-family,
    ui-monospace, SFMono-Regular, Menlo, Consolas, monospace));
  color: var(--prov-fg);
  font-family: var(--jp-ui-font-family, var(--vscode-font-family,
    system-ui, -apple-system, "Segoe UI", Roboto, sans-serif));
  font-size: var(--jp-content-font-size1, 13px);
  line-height: 1.45;
}
@media (prefers-color-scheme: dark) {
  .prov-audit {
    --prov-d-fg: #e6edf3; --prov-d-muted: #9198a1; --prov-d-border: #3d444d;
    --prov-d-ok: #3fb950; --prov-d-warn: #d29922; --prov-d-err: #f85149;
  }
}
.prov-audit .prov-head { margin: 0 0 .5em; }
.prov-audit .prov-src { font-family: var(--prov-mono); font-weight: 600; }
.prov-audit .prov-muted { color: var(--prov-muted); }
.prov-audit table.prov-table {
  border-collapse: collapse; margin: .25em 0 .75em; color: inherit; background: transparent;
  font-size: inherit; table-layout: auto;
}
.prov-audit table.prov-table th, .prov-audit table.prov-table td {
  text-align: left; vertical-align: baseline; padding: .3em .75em; color: inherit;
  border: none; border-bottom: 1px solid var(--prov-border); background: transparent;
}
.prov-audit table.prov-table th {
  font-weight: 600; color: var(--prov-muted); border-bottom-width: 2px; white-space: nowrap;
}
.prov-audit table.prov-table tbody tr:hover { background: rgba(127, 127, 127, .08); }
.prov-audit td.prov-key, .prov-audit .prov-mono {
  font-family: var(--prov-mono); font-size: .95em;
}
.prov-audit td.prov-key { font-weight: 600; white-space: nowrap; }
.prov-audit td.prov-num { font-variant-numeric: tabular-nums; }
.prov-audit td.prov-nowrap { white-space: nowrap; }
.prov-audit .prov-small { font-size: .9em; }
.prov-audit .prov-pill {
  display: inline-block; padding: 0 .55em; border-radius: 999px; font-size: .85em;
  font-weight: 600; border: 1px solid currentColor; white-space: nowrap;
}
.prov-audit .prov-ok { color: var(--prov-ok); }
.prov-audit .prov-warning { color: var(--prov-warn); }
.prov-audit .prov-error { color: var(--prov-err); }
.prov-audit ul.prov-findings { list-style: none; padding: 0; margin: .25em 0 .75em; }
.prov-audit ul.prov-findings li {
  margin: .3em 0; padding: .25em .6em; border-left: 3px solid currentColor;
}
.prov-audit ul.prov-findings li span.prov-msg { color: var(--prov-fg); }
.prov-audit code { font-family: var(--prov-mono); background: transparent; color: inherit; }
.prov-audit h4 { margin: .75em 0 .25em; font-size: 1.05em; color: inherit; }
.prov-audit ul.prov-changes { margin: 0; padding-left: 1.1em; }
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pill(status: str) -> str:
    return f'<span class="prov-pill prov-{_e(status)}">{_e(status)}</span>'


def to_html(report: AuditReport) -> str:
    """HTML for Jupyter/VS Code; every value from the file is escaped."""
    verdict = "ok" if report.ok else "error"
    n_err, n_warn = len(report.errors), len(report.warnings)
    cells = f" · {report.n_obs} cells" if report.n_obs is not None else ""
    keys = _n(len(report.clustering_keys), "clustering key")
    out = [
        '<div class="prov-audit">',
        f"<style>{_CSS}</style>",
        '<div class="prov-head">',
        f'<span class="prov-pill prov-{verdict}">{"OK" if report.ok else "NOT OK"}</span>',
        f' <strong>Provenance audit</strong> of <span class="prov-src">{_e(report.source)}</span>',
        f'<span class="prov-muted">{_e(cells)} · {keys} · '
        f"{n_err} error{'s' * (n_err != 1)} · {n_warn} warning{'s' * (n_warn != 1)}</span>",
        "</div>",
    ]
    rows = summary_rows(report)
    if rows:
        out.append('<table class="prov-table"><thead><tr>')
        out.extend(f"<th>{_e(c.replace('_', ' '))}</th>" for c in _COLUMNS[:-1])
        out.append("</tr></thead><tbody>")
        for r in rows:
            out.append("<tr>")
            for c in _COLUMNS[:-1]:
                v = r[c]
                if c == "status":
                    out.append(f"<td>{_pill(v)}</td>")
                elif c == "key":
                    out.append(f'<td class="prov-key">{_e(v)}</td>')
                elif c in ("versions", "clusters", "resolution"):
                    out.append(f'<td class="prov-num">{_e(fmt_value(v))}</td>')
                elif c == "graph":
                    out.append(f'<td class="prov-mono">{_e(fmt_value(v))}</td>')
                else:
                    out.append(f"<td>{_e(fmt_value(v))}</td>")
            out.append("</tr>")
        out.append("</tbody></table>")
    else:
        out.append(
            '<p class="prov-muted">No clustering found (no Leiden/Louvain labels, params or '
            "records).</p>"
        )
    if report.findings:
        out.append('<ul class="prov-findings">')
        for f in _ordered(report):
            out.append(
                f'<li class="prov-{f.severity}"><strong>{_e(f.severity)}</strong> · '
                f"<code>{_e(f.key)}</code> · <code>{_e(f.code)}</code><br>"
                f'<span class="prov-msg">{_e(f.message)}</span></li>'
            )
        out.append("</ul>")
    if not report.checked_data:
        out.append(f'<p class="prov-muted">{_e(_UNCHECKED)}</p>')
    if report.key is not None:
        for e in report.entries:
            out.extend(_history_html(e))
    out.append("</div>")
    return "\n".join(out)


def _history_html(entry: AuditEntry) -> list[str]:
    if not entry.history:
        return []
    out = [
        f"<h4>History of <code>{_e(entry.key)}</code></h4>",
        '<table class="prov-table"><thead><tr><th>v</th><th>when</th><th>parameters</th>'
        "<th>graph</th><th>result</th><th>changed</th></tr></thead><tbody>",
    ]
    for item in _history_items(entry):
        if item["changes"] is None:
            changed = ""
        elif item["changes"]:
            changed = (
                '<ul class="prov-changes">'
                + "".join(f"<li>{_e(c)}</li>" for c in item["changes"])
                + "</ul>"
            )
        else:
            changed = '<span class="prov-muted">nothing</span>'
        out.append(
            f'<tr><td class="prov-num">{item["version"]}</td>'
            f'<td class="prov-nowrap">{_e(item["when"])}<br>'
            f'<span class="prov-muted">{_e(item["function"])} · {_e(item["duration"])}</span></td>'
            f'<td class="prov-mono">{_e(item["params"])}</td>'
            f'<td class="prov-mono">{_e(item["graph"])}</td>'
            f"<td>{_e(item['result_head'])}<br>"
            f'<span class="prov-muted prov-small">{_e(item["result_tail"])}</span></td>'
            f"<td>{changed}</td></tr>"
        )
    out.append("</tbody></table>")
    return out


# --- display ---------------------------------------------------------------------------------


def _in_kernel() -> bool:
    # IPython is only imported if the process already runs it.
    if "IPython" not in sys.modules:
        return False
    from IPython import get_ipython

    shell = get_ipython()
    return shell is not None and "IPKernelApp" in getattr(shell, "config", {})


def _use_rich(stream: TextIO) -> bool:
    """Rich on a terminal: ``NO_COLOR`` or ``TERM=dumb`` say no; ``TTY_COMPATIBLE=0/1`` and
    ``FORCE_COLOR`` (as rich >= 14 reads them) say whether the stream is a terminal."""
    env = os.environ
    if env.get("NO_COLOR") or env.get("TERM") == "dumb":
        return False
    if env.get("TTY_COMPATIBLE") in ("0", "1"):
        return env["TTY_COMPATIBLE"] == "1"
    if "FORCE_COLOR" in env:
        return env["FORCE_COLOR"] != ""
    isatty = getattr(stream, "isatty", None)
    try:
        return bool(isatty and isatty())
    except ValueError:  # a closed stream
        return False


def display(obj: Any, *, file: TextIO | None = None) -> None:
    """Show a report or diff: HTML in a Jupyter kernel, rich on a terminal, else plain text.

    Output fits the terminal's width (``COLUMNS``, else the terminal's size, else 80) and its
    encoding (characters it cannot write become ASCII).
    """
    if file is None and _in_kernel() and hasattr(obj, "_repr_html_"):
        from IPython.display import display as ipy_display

        ipy_display(obj)
        return
    stream = file if file is not None else sys.stdout
    if hasattr(obj, "__rich__") and _use_rich(stream):
        from rich.console import Console

        # force_terminal: rich < 14 does not read TTY_COMPATIBLE, which _use_rich honours.
        Console(file=stream, width=terminal_width(stream), force_terminal=True).print(obj)
        return
    enc = getattr(stream, "encoding", None)
    from provenance._audit.report import AuditReport

    if isinstance(obj, AuditReport):
        text = to_text(obj, width=terminal_width(stream), encoding=enc)
    else:
        text = encodable(str(obj), enc)
    print(text, file=stream)
