"""The stylesheet of the HTML renderings.

Colours come from the notebook's CSS variables (JupyterLab ``--jp-*``, VS Code ``--vscode-*``),
with light and dark defaults chosen by ``prefers-color-scheme`` elsewhere, so the HTML reads
in either theme and lets the page's background show through.
"""

from __future__ import annotations

__all__ = ["CSS"]

CSS = """
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
  /* Fit the page or notebook column: the summary table drops its optional columns by the
     width of this container (rules written per report), and scrolls rather than being cut. */
  container: prov-audit / inline-size;
  max-width: 100%; box-sizing: border-box; overflow-wrap: break-word;
}
@media (prefers-color-scheme: dark) {
  .prov-audit {
    --prov-d-fg: #e6edf3; --prov-d-muted: #9198a1; --prov-d-border: #3d444d;
    --prov-d-ok: #3fb950; --prov-d-warn: #d29922; --prov-d-err: #f85149;
  }
}
.prov-audit .prov-head { margin: 0 0 .5em; }
.prov-audit .prov-checks { margin: 0 0 .5em; }
.prov-audit .prov-src { font-family: var(--prov-mono); font-weight: 600; }
.prov-audit .prov-muted { color: var(--prov-muted); }
.prov-audit .prov-scroll { max-width: 100%; overflow-x: auto; margin: .25em 0 .75em; }
.prov-audit table.prov-table {
  border-collapse: collapse; margin: 0; color: inherit; background: transparent;
  font-size: inherit; table-layout: auto; width: auto; max-width: 100%;
}
.prov-audit table.prov-table th, .prov-audit table.prov-table td {
  text-align: left; vertical-align: baseline; padding: .3em .5em; color: inherit;
  border: none; border-bottom: 1px solid var(--prov-border); background: transparent;
  overflow-wrap: break-word;
}
.prov-audit table.prov-table th {
  font-weight: 600; color: var(--prov-muted); border-bottom-width: 2px;
}
.prov-audit table.prov-history { width: 100%; }
.prov-audit table.prov-history td.prov-mono { overflow-wrap: anywhere; }
.prov-audit table.prov-table tbody tr:hover { background: rgba(127, 127, 127, .08); }
.prov-audit td.prov-key, .prov-audit .prov-mono {
  font-family: var(--prov-mono); font-size: .95em;
}
.prov-audit td.prov-key { font-weight: 600; }
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
