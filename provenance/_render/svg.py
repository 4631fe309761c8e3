"""A directed acyclic graph drawn as an inline SVG: the pipeline and lineage pictures.

No layout library: nodes are placed in rows by their longest path from a root (a pipeline is
mostly a chain), in the order given within a row; an edge between consecutive rows is a
curve, a longer one runs down a lane right of the nodes, one lane per source. Colours are
the stylesheet's (``css.py``) variables, so the picture follows the notebook's light or dark
theme; every text is escaped, and each node and edge has a ``<title>`` (a tooltip).
"""

from __future__ import annotations

import hashlib
import html
from dataclasses import dataclass

__all__ = ["SVG_CSS", "SvgEdge", "SvgNode", "dag_svg"]

_W_MIN, _W_MAX, _H = 170, 300, 40  # node width bounds and height, px
_GAP_X, _GAP_Y, _LANE = 22, 30, 14  # between nodes in a row, between rows, between lanes
_PER_ROW = 4  # nodes side by side at most
_CHAR = 6.6  # px per character of the 12px sans font, rounded up
_PAD = 8

SVG_CSS = """
.prov-audit svg.prov-dag { display: block; max-width: 100%; height: auto; margin: .25em 0 .75em;
  font-family: var(--jp-ui-font-family, var(--vscode-font-family,
    system-ui, -apple-system, "Segoe UI", Roboto, sans-serif)); font-size: 12px; }
.prov-audit svg.prov-dag text { fill: var(--prov-fg); }
.prov-audit svg.prov-dag text.prov-sub { fill: var(--prov-muted); font-size: 11px; }
.prov-audit svg.prov-dag text.prov-edge-label { fill: var(--prov-muted); font-size: 10px; }
.prov-audit svg.prov-dag rect { fill: var(--prov-ok); fill-opacity: .07; stroke-width: 1.5;
  stroke: var(--prov-ok); }
.prov-audit svg.prov-dag .prov-n-stale rect, .prov-audit svg.prov-dag .prov-n-error rect {
  stroke: var(--prov-err); fill: var(--prov-err); fill-opacity: .08; }
.prov-audit svg.prov-dag .prov-n-warning rect { stroke: var(--prov-warn); fill: var(--prov-warn);
  fill-opacity: .08; }
.prov-audit svg.prov-dag .prov-n-superseded rect, .prov-audit svg.prov-dag .prov-n-input rect,
.prov-audit svg.prov-dag .prov-n-unrecorded rect { stroke: var(--prov-muted);
  fill: var(--prov-muted); fill-opacity: .05; stroke-dasharray: 4 3; }
.prov-audit svg.prov-dag .prov-n-superseded text { fill: var(--prov-muted); }
.prov-audit svg.prov-dag text.prov-st-ok { fill: var(--prov-ok); font-weight: 600; }
.prov-audit svg.prov-dag text.prov-st-stale, .prov-audit svg.prov-dag text.prov-st-error {
  fill: var(--prov-err); font-weight: 600; }
.prov-audit svg.prov-dag text.prov-st-warning { fill: var(--prov-warn); font-weight: 600; }
.prov-audit svg.prov-dag text.prov-st-superseded, .prov-audit svg.prov-dag text.prov-st-input,
.prov-audit svg.prov-dag text.prov-st-unrecorded { fill: var(--prov-muted); }
.prov-audit svg.prov-dag path.prov-e { fill: none; stroke: var(--prov-muted); stroke-width: 1.3; }
.prov-audit svg.prov-dag path.prov-e-stale { stroke: var(--prov-err); stroke-dasharray: 6 4;
  stroke-width: 1.8; }
.prov-audit svg.prov-dag path.prov-e-gap { stroke: var(--prov-err); stroke-dasharray: 2 3;
  stroke-width: 2; }
.prov-audit svg.prov-dag .prov-m-ok { fill: var(--prov-muted); }
.prov-audit svg.prov-dag .prov-m-stale, .prov-audit svg.prov-dag .prov-m-gap {
  fill: var(--prov-err); }
.prov-audit svg.prov-dag text.prov-e-stale, .prov-audit svg.prov-dag text.prov-e-gap {
  fill: var(--prov-err); font-weight: 600; }
"""


@dataclass(frozen=True)
class SvgNode:
    """A box: a bold title with a status word right of it, and a muted line below."""

    id: str
    title: str
    sub: str
    status: str
    """A CSS status: ``ok``, ``stale``, ``error``, ``warning``, ``superseded``, ``input``,
    ``unrecorded``."""
    tip: str = ""


@dataclass(frozen=True)
class SvgEdge:
    """An arrow from ``src`` to ``dst``: ``status`` ``ok``, ``gap`` or ``stale``."""

    src: str
    dst: str
    status: str = "ok"
    label: str = ""
    tip: str = ""


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _fit(text: str, width: float) -> str:
    n = max(int(width / _CHAR), 4)
    return text if len(text) <= n else text[: n - 1] + "…"


def _rows(nodes: list[SvgNode], edges: list[SvgEdge]) -> dict[str, int]:
    """Each node's row: its longest path from a root (edges to later nodes only count); a
    layer of more than ``_PER_ROW`` nodes (a resolution sweep on one graph) is drawn as
    several rows, so the picture grows down, not out of the page."""
    order = {n.id: i for i, n in enumerate(nodes)}
    layer = dict.fromkeys(order, 0)
    for n in nodes:  # nodes come parents first
        for e in edges:
            if e.dst == n.id and e.src in order and order[e.src] < order[n.id]:
                layer[n.id] = max(layer[n.id], layer[e.src] + 1)
    members: dict[int, list[str]] = {}
    for n in nodes:
        members.setdefault(layer[n.id], []).append(n.id)
    row, at = {}, 0
    for k in sorted(members):
        for i, node in enumerate(members[k]):
            row[node] = at + i // _PER_ROW
        at += -(-len(members[k]) // _PER_ROW)
    return row


def dag_svg(nodes: list[SvgNode], edges: list[SvgEdge], *, title: str) -> str:
    """The graph as an ``<svg>`` element (nodes parents first; an edge to a node not given,
    or back to an earlier one, is left out)."""
    if not nodes:
        return ""
    ids = {n.id for n in nodes}
    order = {n.id: i for i, n in enumerate(nodes)}
    edges = [e for e in edges if e.src in ids and e.dst in ids and order[e.src] < order[e.dst]]
    row = _rows(nodes, edges)
    longest = max(max(len(n.title) + len(n.status) + 3, len(n.sub)) for n in nodes)
    w = min(max(longest * _CHAR + 2 * _PAD, _W_MIN), _W_MAX)
    by_row: dict[int, list[SvgNode]] = {}
    for n in nodes:
        by_row.setdefault(row[n.id], []).append(n)
    widest = max(len(v) for v in by_row.values())
    body_w = widest * w + (widest - 1) * _GAP_X
    pos: dict[str, tuple[float, float]] = {}  # top-left corners
    for r, members in by_row.items():
        row_w = len(members) * w + (len(members) - 1) * _GAP_X
        x0 = 2 + (body_w - row_w) / 2
        for k, n in enumerate(members):
            pos[n.id] = (x0 + k * (w + _GAP_X), 2 + r * (_H + _GAP_Y))
    long_sources = list(dict.fromkeys(e.src for e in edges if row[e.dst] - row[e.src] > 1))
    lane = {s: 2 + body_w + _LANE * (i + 1) for i, s in enumerate(long_sources)}
    flagged = any(e.status != "ok" and row[e.dst] - row[e.src] > 1 for e in edges)
    width = 2 + body_w + _LANE * (len(long_sources) + 1) + 2 + 34 * flagged
    height = 2 + (max(by_row) + 1) * (_H + _GAP_Y) - _GAP_Y + 4
    uid = hashlib.sha1(repr((nodes, edges)).encode(), usedforsecurity=False).hexdigest()[:8]
    out = [
        f'<svg class="prov-dag" xmlns="http://www.w3.org/2000/svg" role="img" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">',
        f"<title>{_e(title)}</title>",
        "<defs>",
    ]
    for status in ("ok", "gap", "stale"):
        out.append(
            f'<marker id="prov-a-{status}-{uid}" viewBox="0 0 10 10" refX="9" refY="5" '
            'markerWidth="7" markerHeight="7" orient="auto-start-reverse">'
            f'<path class="prov-m-{status}" d="M0,0 L10,5 L0,10 z"/></marker>'
        )
    out.append("</defs>")
    said: set[tuple[str, str]] = set()  # a slot named once per source: arrows fan out
    for e in edges:
        if e.status == "ok" and (e.src, e.label) in said:
            e = SvgEdge(e.src, e.dst, e.status, "", e.tip)
        said.add((e.src, e.label))
        out.append(_edge(e, pos, row, lane, w, uid))
    for n in nodes:
        x, y = pos[n.id]
        tip = f"<title>{_e(n.tip)}</title>" if n.tip else ""
        out.append(
            f'<g class="prov-n prov-n-{_e(n.status)}">{tip}'
            f'<rect x="{x:.1f}" y="{y:.1f}" width="{w:.0f}" height="{_H}" rx="6"/>'
            f'<text x="{x + _PAD:.1f}" y="{y + 16:.1f}" font-weight="600">'
            f"{_e(_fit(n.title, w - 2 * _PAD - len(n.status) * _CHAR))}</text>"
            f'<text class="prov-st-{_e(n.status)}" x="{x + w - _PAD:.1f}" y="{y + 16:.1f}" '
            f'text-anchor="end">{_e(n.status)}</text>'
            f'<text class="prov-sub" x="{x + _PAD:.1f}" y="{y + 32:.1f}">'
            f"{_e(_fit(n.sub, w - 2 * _PAD))}</text></g>"
        )
    out.append("</svg>")
    return "".join(out)


def _edge(
    e: SvgEdge,
    pos: dict[str, tuple[float, float]],
    row: dict[str, int],
    lane: dict[str, float],
    w: float,
    uid: str,
) -> str:
    (sx, sy), (tx, ty) = pos[e.src], pos[e.dst]
    status = e.status if e.status in ("gap", "stale") else "ok"
    marker = f'marker-end="url(#prov-a-{status}-{uid})"'
    tip = f"<title>{_e(e.tip or e.label)}</title>" if (e.tip or e.label) else ""
    label = ""
    if row[e.dst] - row[e.src] > 1:
        # Out of the source's bottom near its right end, right along the gap below its row to
        # a lane right of the nodes, down it, left along the gap above the target's row, into
        # the target's top near its right end: only gaps are crossed, never a node.
        lx, r = lane[e.src], 6
        sx1, y0, y1, ex = sx + w - 20, sy + _H + _GAP_Y / 2, ty - _GAP_Y / 2, tx + w - 20
        d = (
            f"M{sx1:.1f},{sy + _H:.1f} V{y0 - r:.1f} Q{sx1:.1f},{y0:.1f} {sx1 + r:.1f},{y0:.1f} "
            f"H{lx - r:.1f} Q{lx:.1f},{y0:.1f} {lx:.1f},{y0 + r:.1f} "
            f"V{y1 - r:.1f} Q{lx:.1f},{y1:.1f} {lx - r:.1f},{y1:.1f} H{ex + r:.1f} "
            f"Q{ex:.1f},{y1:.1f} {ex:.1f},{y1 + r:.1f} V{ty - 1:.1f}"
        )
        if status != "ok":
            label = _label(SvgEdge(e.src, e.dst), lx + 3, (y0 + y1) / 2, status)
    else:
        x0, y0, x1, y1 = sx + w / 2, sy + _H, tx + w / 2, ty - 1
        mid = (y0 + y1) / 2
        d = f"M{x0:.1f},{y0:.1f} C{x0:.1f},{mid:.1f} {x1:.1f},{mid:.1f} {x1:.1f},{y1:.1f}"
        label = _label(e, (x0 + x1) / 2 + 6, mid + 3, status)
    return f'<g>{tip}<path class="prov-e prov-e-{status}" d="{d}" {marker}/>{label}</g>'


def _label(e: SvgEdge, x: float, y: float, status: str) -> str:
    text = e.label if status == "ok" else f"{status}: {e.label}" if e.label else status
    if not text:
        return ""
    return (
        f'<text class="prov-edge-label prov-e-{status}" x="{x:.1f}" y="{y:.1f}">'
        f"{_e(_fit(text, 200))}</text>"
    )
