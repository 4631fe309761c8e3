"""HTML renderings for Jupyter and VS Code; every value from the file is escaped.

The summary table fits the width it is given, as the text and rich tables do: it keeps the
essential columns and drops the optional ones, last priority first, where the container is
too narrow for them (CSS container queries on estimated column widths), and it scrolls
rather than being cut when even those do not fit.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING, Any

from .checked import checks_lines
from .compare import MAX_TABLE, replay_lines
from .css import CSS
from .pipeline import pipeline_html
from .svg import SVG_CSS
from .terminal import printable
from .text import report_pipeline, step_rows
from .values import (
    COLUMNS,
    ESSENTIAL,
    NO_CLUSTERING,
    OPTIONAL,
    UNCHECKED,
    fmt_value,
    history_items,
    ordered,
    plural,
    summary_rows,
)

if TYPE_CHECKING:
    from provenance._audit.checked import Checks
    from provenance._audit.report import AuditEntry, AuditReport
    from provenance._compare.diff import Diff
    from provenance._replay.result import ReplayResult

__all__ = [
    "checks_html",
    "column_widths",
    "diff_html",
    "entry_html",
    "fit_thresholds",
    "html_page",
    "replay_html",
    "to_html",
]

# Widths in em of one character, rounded up, in the fonts of CSS: sans text, bold headers,
# monospace at .95em, the status pill (.85em bold); a cell's padding; px per em assumed.
_SANS, _BOLD, _MONO, _PILL, _PAD, _PX = 0.56, 0.58, 0.57, 0.5, 1.0, 13.5
_MONO_COLUMNS = ("key", "graph")


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _pill(status: str) -> str:
    return f'<span class="prov-pill prov-{_e(status)}">{_e(status)}</span>'


def column_widths(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Each summary column's narrowest width in em: its longest header word or cell word
    (cells wrap at spaces only), plus padding."""
    out = {}
    for c in COLUMNS:
        head = max(len(w) for w in c.split("_")) * _BOLD
        if c == "status":
            cell = max((len(r[c]) * _PILL + 1.1 for r in rows), default=0)
        else:
            per_char = _MONO if c in _MONO_COLUMNS else _SANS
            words = (w for r in rows for w in fmt_value(r[c]).split(" "))
            cell = max((len(w) * per_char for w in words), default=0)
        out[c] = max(head, cell) + _PAD
    return out


def fit_thresholds(rows: list[dict[str, Any]]) -> list[int]:
    """Container widths in px from which each of ``OPTIONAL`` is shown (increasing)."""
    widths = column_widths(rows)
    total = sum(widths[c] for c in ESSENTIAL)
    out = []
    for c in OPTIONAL:
        total += widths[c]
        out.append(int(total * _PX) + 1)
    return out


def _fit_css(scope: str, thresholds: list[int]) -> str:
    """Rules hiding the optional columns below their widths, and the note saying so."""
    rules = [f".{scope} .prov-left-out {{ display: none; }}"]
    lower = 0
    for i, (c, t) in enumerate(zip(OPTIONAL, thresholds, strict=True)):
        rules.append(
            f"@container prov-audit (max-width: {t - 1}px) {{ .{scope} .prov-c-{c} "
            "{ display: none; } }"
        )
        rules.append(
            f"@container prov-audit (min-width: {lower}px) and (max-width: {t - 1}px) "
            f"{{ .{scope} .prov-left-out-{i} {{ display: block; }} }}"
        )
        lower = t
    return "\n".join(rules)


def _left_out_notes() -> list[str]:
    out = []
    for i in range(len(OPTIONAL)):
        gone = [c for c in COLUMNS if c in OPTIONAL[i:]]
        out.append(
            f'<p class="prov-muted prov-small prov-left-out prov-left-out-{i}">'
            f"({_e(', '.join(gone))}: left out at this width; see to_frame(), or a wider "
            "window)</p>"
        )
    return out


def _summary_cell(c: str, v: Any) -> str:
    cls = f"prov-c-{c}"
    if c == "status":
        return f'<td class="{cls}">{_pill(v)}</td>'
    if c == "key":
        return f'<td class="{cls} prov-key">{_e(v)}</td>'
    if c in ("versions", "clusters", "resolution"):
        return f'<td class="{cls} prov-num">{_e(fmt_value(v))}</td>'
    if c == "graph":
        return f'<td class="{cls} prov-mono">{_e(fmt_value(v))}</td>'
    return f'<td class="{cls}">{_e(fmt_value(v))}</td>'


def checks_html(checks: Checks, *, policy: bool = False) -> str:
    """The "Checked:" and "Not checked:" lines as one paragraph (``policy``: a run's, as
    :func:`~provenance._render.checked.checked_parts` takes it)."""
    parts = []
    for line in checks_lines(checks, policy=policy):
        label, _, rest = line.partition(": ")
        cls = ' class="prov-warning"' if label == "Not checked" else ""
        parts.append(f"<strong{cls}>{_e(label)}:</strong> {_e(rest)}")
    return '<p class="prov-checks">' + "<br>".join(parts) + "</p>"


def to_html(report: AuditReport, *, css: bool = True) -> str:
    """The overview table, findings and, for the keys asked for, their history. ``css``:
    include the stylesheet (a page of many reports includes it once)."""
    verdict = "ok" if report.ok else "error"
    n_err, n_warn = len(report.errors), len(report.warnings)
    cells = f" · {report.observations}" if report.observations else ""
    keys = plural(len(report.clustering_keys), "clustering key")
    rows = summary_rows(report)
    thresholds = fit_thresholds(rows) if rows else []
    scope = "prov-fit-" + "-".join(map(str, thresholds)) if rows else "prov-fit-none"
    fit = _fit_css(scope, thresholds) if rows else ""
    source = printable(str(report.source))  # a file name's control bytes, escaped
    out = [
        f'<div class="prov-audit {scope}">',
        f"<style>{CSS + SVG_CSS if css else ''}{fit}</style>",
        '<div class="prov-head">',
        f'<span class="prov-pill prov-{verdict}">{"OK" if report.ok else "NOT OK"}</span>',
        f' <strong>Provenance audit</strong> of <span class="prov-src">{_e(source)}</span>',
        f'<span class="prov-muted">{_e(cells)} · {keys} · '
        f"{n_err} error{'s' * (n_err != 1)} · {n_warn} warning{'s' * (n_warn != 1)}</span>",
        "</div>",
    ]
    if report.checks is not None:
        out.append(checks_html(report.checks))
    if rows:
        out.append('<div class="prov-scroll"><table class="prov-table prov-summary"><thead><tr>')
        out.extend(f'<th class="prov-c-{c}">{_e(c.replace("_", " "))}</th>' for c in COLUMNS)
        out.append("</tr></thead><tbody>")
        for r in rows:
            out.append("<tr>" + "".join(_summary_cell(c, r[c]) for c in COLUMNS) + "</tr>")
        out.append("</tbody></table></div>")
        out.extend(_left_out_notes())
    else:
        out.append(f'<p class="prov-muted">{_e(NO_CLUSTERING)}</p>')
    steps = step_rows(report)
    if steps:
        cols = ("key", "kind", "status", "versions", "from", "recorded")
        out.append('<div class="prov-scroll"><table class="prov-table prov-steps"><thead><tr>')
        out.extend(f"<th>{c}</th>" for c in cols)
        out.append("</tr></thead><tbody>")
        for r in steps:
            pill = "error" if r["status"] == "stale" else r["status"]
            status = f'<span class="prov-pill prov-{_e(pill)}">{_e(r["status"])}</span>'
            tds = [f'<td class="prov-key">{_e(r["key"])}</td>', f"<td>{_e(r['kind'])}</td>"]
            tds += [f"<td>{status}</td>", f'<td class="prov-num">{_e(r["versions"])}</td>']
            tds += [f"<td>{_e(r['from'])}</td>", f"<td>{_e(r['recorded'])}</td>"]
            out.append("<tr>" + "".join(tds) + "</tr>")
        out.append("</tbody></table></div>")
    pipeline = report_pipeline(report)
    if pipeline is not None:
        out.extend(pipeline_html(pipeline))
    if report.findings:
        out.append('<ul class="prov-findings">')
        for f in ordered(report):
            out.append(
                f'<li class="prov-{f.severity}"><strong>{_e(f.severity)}</strong> · '
                f"<code>{_e(f.key)}</code> · <code>{_e(f.code)}</code><br>"
                f'<span class="prov-msg">{_e(f.message)}</span></li>'
            )
        out.append("</ul>")
    if not report.checked_data and report.checks is None:  # else checks_html says it
        out.append(f'<p class="prov-muted">{_e(UNCHECKED)}</p>')
    if report.key is not None:
        for e in report.entries:
            out.extend(_history_html(e, report.checks))
    out.append("</div>")
    return "\n".join(out)


def html_page(report: AuditReport) -> str:
    """The report as a standalone page (``provenance verify --html``): what a notebook shows,
    the pipeline's picture included, readable in any browser and in dark mode."""
    return (
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        f"<title>Provenance audit of {_e(printable(str(report.source)))}</title>"
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        "<style>body { margin: 24px; } @media (prefers-color-scheme: dark) "
        "{ body { background: #0d1117; } }</style></head>"
        f"<body>{to_html(report)}</body></html>\n"
    )


def entry_html(entry: AuditEntry) -> str:
    """One key: its status and findings, then its history."""
    out = [
        '<div class="prov-audit">',
        f"<style>{CSS}</style>",
        f'<div class="prov-head">{_pill(entry.status)} <code>{_e(entry.key)}</code></div>',
    ]
    if entry.findings:
        out.append('<ul class="prov-findings">')
        out.extend(
            f'<li class="prov-{f.severity}"><code>{_e(f.code)}</code><br>'
            f'<span class="prov-msg">{_e(f.message)}</span></li>'
            for f in entry.findings
        )
        out.append("</ul>")
    out.extend(_history_html(entry) or [f'<p class="prov-muted">{_e(entry.key)}: no history.</p>'])
    out.append("</div>")
    return "\n".join(out)


_SIGNED = re.compile(
    r"(signed by ed25519:[0-9a-f]{16}) \((trusted|untrusted|invalid|not checked)\)"
)
_WORD_CLASS = {"trusted": "ok", "untrusted": "error", "invalid": "error", "not checked": "warning"}


def _signed(function: str) -> str:
    """The escaped function line, the word beside its signature coloured by what it says."""

    def word(m: re.Match[str]) -> str:
        cls = _WORD_CLASS[m[2]]
        return f'{m[1]} <span class="prov-{cls}">({m[2]})</span>'

    return _SIGNED.sub(word, _e(function))


def _history_html(entry: AuditEntry, checks: Checks | None = None) -> list[str]:
    if not entry.history:
        return []
    out = [
        f"<h4>History of <code>{_e(entry.key)}</code></h4>",
        '<div class="prov-scroll"><table class="prov-table prov-history"><thead><tr><th>v</th>'
        "<th>when</th><th>parameters</th><th>graph</th><th>result</th><th>changed</th></tr>"
        "</thead><tbody>",
    ]
    for item in history_items(entry, checks):
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
            f'<span class="prov-muted">{_signed(item["function"])} · {_e(item["duration"])}</span>'
            "</td>"
            f'<td class="prov-mono">{_e(item["params"])}</td>'
            f'<td class="prov-mono">{_e(item["graph"])}</td>'
            f"<td>{_e(item['result_head'])}<br>"
            f'<span class="prov-muted prov-small">{_e(item["result_tail"])}</span></td>'
            f"<td>{changed}</td></tr>"
        )
    out.append("</tbody></table></div>")
    return out


def diff_html(d: Diff) -> str:
    """The comparison as a table: one row per field, grouped by section."""
    n = len(d.differences)
    out = [
        '<div class="prov-audit">',
        f"<style>{CSS}</style>",
        f'<div class="prov-head"><code>{_e(d.a)}</code> vs <code>{_e(d.b)}</code>: '
        f"{n} of {d.n_compared} fields differ{' (identical)' if not n else ''}</div>",
    ]
    if d.rows:
        out.append(
            '<div class="prov-scroll"><table class="prov-table prov-history"><thead><tr>'
            f"<th>field</th><th>{_e(d.a)}</th><th>{_e(d.b)}</th><th></th></tr></thead><tbody>"
        )
        section = None
        for r in d.rows:
            if r.section != section:
                section = r.section
                out.append(f'<tr><th colspan="4">{_e(section)}</th></tr>')
            note = _e(r.note) if r.note and not r.same else ""
            mark = "prov-warning" if r.differs and d.show_all else "prov-muted"
            out.append(
                f'<tr><td class="prov-mono">{_e(r.field)}</td>'
                f'<td class="prov-mono">{_e(fmt_value(r.a))}</td>'
                f'<td class="prov-mono">{_e(fmt_value(r.b))}</td>'
                f'<td class="{mark} prov-small">{note}</td></tr>'
            )
        out.append("</tbody></table></div>")
    out.append("</div>")
    return "\n".join(out)


def replay_html(r: ReplayResult) -> str:
    """The replay report: verdict, its rows, and the contingency table when it differs."""
    color = (
        "var(--jp-success-color1, #2e7d32)" if r.identical else "var(--jp-error-color1, #c62828)"
    )
    cells = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(label)}</th>"
        f"<td style='text-align:left'>{html.escape(text)}</td></tr>"
        for label, text in replay_lines(r)
    )
    table = ""
    if not r.identical and max(r.contingency.shape) <= MAX_TABLE:
        table = "<details><summary>contingency</summary>" + r.contingency.to_html() + "</details>"
    return (
        "<div style='color:var(--jp-content-font-color1, inherit)'>"
        f"<strong>Replay of {html.escape(repr(r.key))} version {r.version} of "
        f"{r.n_versions}: <span style='color:{color}'>"
        f"{'identical' if r.identical else 'differs'}</span></strong>"
        f"<table>{cells}</table>{table}</div>"
    )
