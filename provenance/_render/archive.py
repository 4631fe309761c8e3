"""One HTML page for the audit of several files (``provenance verify DIR --html OUT.html``):
an archive a reviewer can open offline.

The page holds a summary table of every file (its status, counts and what was checked, each
linking to the file's section), the run's policy ("Checked:" / "Not checked:"), then each
file's report, as ``verify FILE --html`` writes it, under an anchor of its own (``#file-1``,
...: numbers, so that any file name makes a valid anchor). One stylesheet, no script, nothing
fetched; every name and message is escaped.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .css import CSS
from .html import checks_html
from .svg import SVG_CSS
from .terminal import printable

if TYPE_CHECKING:
    from collections.abc import Sequence

    from provenance._audit.checked import Checks

__all__ = ["ArchiveFile", "archive_page"]

_PILL = {"ok": "ok", "findings": "error", "unreadable": "error", "missing key": "error"}
_COUNTS = ("clusterings", "steps", "errors", "warnings")
_PAGE_CSS = """
body { margin: 24px; }
@media (prefers-color-scheme: dark) { body { background: #0d1117; } }
.prov-audit .prov-archive-file { margin: 2.5em 0 0; padding-top: 1em;
  border-top: 2px solid var(--prov-border); }
.prov-audit .prov-archive-file h2 { font-size: 1.15em; margin: 0 0 .5em; }
.prov-audit .prov-archive-file h2 a.prov-up { font-size: .8em; font-weight: normal;
  margin-left: .5em; color: var(--prov-muted); }
.prov-audit .prov-archive-file > .prov-audit { margin-left: 0; }
.prov-audit pre.prov-error-text { white-space: pre-wrap; font-family: var(--prov-mono); }
.prov-audit a { color: inherit; }
"""


@dataclass(frozen=True)
class ArchiveFile:
    """One file of the archive: its row and its section."""

    path: str
    status: str
    """``ok``, ``findings``, ``unreadable`` or ``missing key``."""
    counts: dict[str, int] = field(default_factory=dict)
    """clusterings, steps, errors, warnings (empty when unreadable)."""
    checked: str = ""
    """What was checked in this file, one phrase (empty when unreadable)."""
    report_html: str | None = None
    """The file's report (``to_html(report, css=False)``), ``None`` when unreadable."""
    error: str | None = None
    """Why it could not be read."""


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def _pill(status: str) -> str:
    return f'<span class="prov-pill prov-{_PILL.get(status, "error")}">{_e(status)}</span>'


def archive_page(
    files: Sequence[ArchiveFile], *, title: str, totals: str, policy: Checks | None
) -> str:
    """The page: summary table, the run's checks, then each file's section."""
    out = [
        '<!doctype html><html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(title)}</title>",
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<style>{CSS}{SVG_CSS}{_PAGE_CSS}</style></head><body>",
        '<div class="prov-audit" id="summary">',
        f'<div class="prov-head"><strong>{_e(title)}</strong></div>',
        f'<p class="prov-totals">{_e(totals)}</p>',
    ]
    if policy is not None:
        out.append(checks_html(policy, policy=True))
    out.append('<div class="prov-scroll"><table class="prov-table prov-archive"><thead><tr>')
    out.append("<th>#</th><th>path</th><th>status</th>")
    out.extend(f"<th>{c}</th>" for c in _COUNTS)
    out.append("<th>checked</th></tr></thead><tbody>")
    for i, f in enumerate(files, start=1):
        counts = "".join(f'<td class="prov-num">{_e(f.counts.get(c, "-"))}</td>' for c in _COUNTS)
        note = _e(f.checked) if f.error is None else '<span class="prov-muted">nothing</span>'
        out.append(
            f'<tr><td class="prov-num">{i}</td>'
            f'<td class="prov-key"><a href="#file-{i}">{_e(printable(f.path))}</a></td>'
            f"<td>{_pill(f.status)}</td>{counts}<td>{note}</td></tr>"
        )
    out.append("</tbody></table></div>")
    for i, f in enumerate(files, start=1):
        out.append(f'<section class="prov-archive-file" id="file-{i}">')
        out.append(
            f'<h2>{i}. <span class="prov-src">{_e(printable(f.path))}</span> {_pill(f.status)}'
            '<a class="prov-up" href="#summary">back to the summary</a></h2>'
        )
        if f.report_html is not None:
            out.append(f.report_html)
        else:
            error = printable(f.error or "", keep="\n")  # a name's control bytes escaped
            out.append(f'<pre class="prov-error-text prov-error">{_e(error)}</pre>')
        out.append("</section>")
    out.append("</div></body></html>\n")
    return "\n".join(out)
