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
    from ._models import ClusteringRecord
    from ._report import AuditEntry, AuditReport, Finding

__all__ = ["display", "fmt_value", "summary_rows", "to_html", "to_rich", "to_text"]

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
        f"{verdict}: {report.source}{cells}: {_n(len(report.entries), 'clustering key')}, "
        f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}"
    )


_UNCHECKED = (
    "Labels and graphs were not compared with the records (only uns was read); "
    "run `provenance verify` for that."
)


def _params_text(rec: ClusteringRecord, key: str) -> str:
    from ._diff import flatten_record

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
    from ._diff import record_changes

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


# --- plain text ------------------------------------------------------------------------------


def to_text(report: AuditReport) -> str:
    """Plain text, for logs, pipes and ``NO_COLOR`` terminals."""
    lines = [f"Provenance audit — {_headline(report)}"]
    rows = summary_rows(report)
    if rows:
        cols = [c for c in _COLUMNS if c != "findings"]
        cells = [[fmt_value(r[c], 36) for c in cols] for r in rows]
        widths = [max(len(c), *(len(row[i]) for row in cells)) for i, c in enumerate(cols)]
        lines.append("")
        lines.append("  ".join(c.ljust(w) for c, w in zip(cols, widths, strict=True)).rstrip())
        lines.extend(
            "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip()
            for row in cells
        )
    else:
        lines.append("No clustering found (no Leiden/Louvain labels, params or records).")
    if report.findings:
        lines += ["", "Findings"]
        for f in _ordered(report):
            lines.append(f"  [{f.severity}] {f.key}: {f.code}: {f.message}")
    if not report.checked_data:
        lines += ["", _UNCHECKED]
    if report.key is not None:
        for e in report.entries:
            lines += ["", *_history_text(e)]
    return "\n".join(lines)


def _history_text(entry: AuditEntry) -> list[str]:
    n = len(entry.history)
    if not n:
        return [f"{entry.key}: no provenance history."]
    out = [f"History of {entry.key} ({n} version{'s' * (n != 1)}, oldest first)"]
    for item in _history_items(entry):
        out.append(f"  v{item['version']}  {item['when']}  {item['function']}  {item['duration']}")
        out.append(f"      params:  {item['params']}")
        out.append(f"      graph:   {item['graph']}")
        out.append(f"      result:  {item['result']}")
        if item["changes"] is not None:
            out.append(f"      changed: {'; '.join(item['changes']) or 'nothing'}")
    return out


# --- rich ------------------------------------------------------------------------------------


def to_rich(report: AuditReport) -> Any:
    """A rich renderable: the overview table, findings and (for one key) its history."""
    from rich.console import Group
    from rich.table import Table
    from rich.text import Text

    head = Text(f"Provenance audit — {_headline(report)}", style="bold")
    parts: list[Any] = [head]
    rows = summary_rows(report)
    if rows:
        table = Table(show_lines=False, header_style="bold", expand=False)
        for c in _COLUMNS[:-1]:
            table.add_column(c, no_wrap=c in ("key", "status", "recorded"))
        for r in rows:
            cells = [Text(fmt_value(r[c], 36)) for c in _COLUMNS[:-1]]
            cells[1].stylize(_STATUS_STYLE[r["status"]])
            table.add_row(*cells)
        parts.append(table)
    else:
        parts.append(Text("No clustering found (no Leiden/Louvain labels, params or records)."))
    if report.findings:
        findings = Text()
        for f in _ordered(report):
            findings.append(f"{f.severity:>7} ", style=_STATUS_STYLE[f.severity])
            findings.append(f"{f.key} ", style="bold")
            findings.append(f"{f.code}: ", style="italic")
            findings.append(f.message + "\n")
        parts.append(findings)
    if not report.checked_data:
        parts.append(Text(_UNCHECKED, style="dim"))
    if report.key is not None:
        for e in report.entries:
            if not e.history:
                continue
            t = Table(title=f"History of {e.key}", header_style="bold", show_lines=True)
            for c in ("v", "when", "parameters", "graph", "result", "changed"):
                t.add_column(c)
            for item in _history_items(e):
                changed = "\n".join(item["changes"] or []) if item["changes"] is not None else ""
                t.add_row(
                    str(item["version"]),
                    f"{item['when']}\n{item['function']}\n{item['duration']}",
                    item["params"],
                    item["graph"],
                    item["result"],
                    changed or ("-" if item["changes"] is not None else ""),
                )
            parts.append(t)
    return Group(*parts)


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
    out = [
        '<div class="prov-audit">',
        f"<style>{_CSS}</style>",
        '<div class="prov-head">',
        f'<span class="prov-pill prov-{verdict}">{"OK" if report.ok else "NOT OK"}</span>',
        f' <strong>Provenance audit</strong> of <span class="prov-src">{_e(report.source)}</span>',
        f'<span class="prov-muted">{_e(cells)} · {_n(len(report.entries), "clustering key")} · '
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
    if os.environ.get("NO_COLOR") or os.environ.get("TERM") == "dumb":
        return False
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def display(obj: Any, *, file: TextIO | None = None) -> None:
    """Show a report or diff: HTML in a Jupyter kernel, rich on a terminal, else plain text."""
    if file is None and _in_kernel() and hasattr(obj, "_repr_html_"):
        from IPython.display import display as ipy_display

        ipy_display(obj)
        return
    stream = file if file is not None else sys.stdout
    if hasattr(obj, "__rich__") and _use_rich(stream):
        from rich.console import Console

        Console(file=stream).print(obj)
        return
    print(str(obj), file=stream)
