"""The pipeline view of a report: every call in the order it ran, what it read (and from
which call) and what it wrote; a picture (SVG) in HTML, numbered lines in a terminal."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING, Any

from .svg import SvgEdge, SvgNode, dag_svg
from .terminal import encodable, wrap
from .values import fmt_value

if TYPE_CHECKING:
    from provenance._compare.pipeline import Link, PipelineView, ViewStep

__all__ = [
    "call_text",
    "pipeline_html",
    "pipeline_lines",
    "pipeline_svg",
    "read_text",
    "step_time",
]

_STYLE = {
    "ok": "bold green",
    "warning": "bold yellow",
    "error": "bold red",
    "stale": "bold red",
    "superseded": "dim",
}


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def call_text(step: ViewStep, *, width: int = 40) -> str:
    """``scanpy.pp.pca(n_comps=20, random_state=0)``: the function and its main arguments."""
    args = ", ".join(f"{k}={fmt_value(v, width)}" for k, v in step.arguments)
    return f"{step.function}({args})"


def step_time(step: ViewStep) -> str:
    at = f"{step.started_at:%H:%M:%S}Z" if step.started_at is not None else "-"
    took = f"{step.duration_s:.2f} s" if step.duration_s is not None else "-"
    return f"{at}, {took}"


def _from(p: PipelineView, lk: Link) -> str:
    src = "input" if lk.writer is None else f"from {p.steps[lk.writer].label}"
    text = f"{lk.slot} {'(input)' if lk.writer is None else src}"
    return f"{text} [{lk.status}: {lk.note}]" if lk.status != "ok" else text


def read_text(p: PipelineView, step: ViewStep) -> str:
    """What a step read and where each slot came from, then what it wrote."""
    read = ", ".join(_from(p, lk) for lk in p.links_into(step.index)) or "nothing recorded"
    wrote = ", ".join(step.writes) or "no slot"
    return f"read {read} → wrote {wrote}"


def _heading(p: PipelineView) -> str:
    n = len(p.steps)
    day = next((f" on {s.started_at:%Y-%m-%d}" for s in p.steps if s.started_at), "")
    gaps = sum(lk.status == "gap" for lk in p.links)
    stale = sum(lk.status == "stale" for lk in p.links)
    notes = [f"{gaps} gap{'s' * (gaps != 1)}"] * bool(gaps) + [f"{stale} stale link"] * bool(stale)
    extra = f"; {', '.join(notes)}" if notes else ""
    return f"Pipeline: {n} call{'s' * (n != 1)} in the order they ran{day}{extra}"


def pipeline_lines(p: PipelineView, width: int, enc: str | None) -> list[str]:
    """Two lines (wrapped) per call: number, key, status, call and time; then its reads and
    writes."""
    lines = wrap(encodable(_heading(p), enc), width)
    pad = len(str(len(p.steps)))
    for s in p.steps:
        head = f"{s.label}  {s.status}  {call_text(s)}  {step_time(s)}"
        lines += wrap(encodable(head, enc), width, f"  {s.index + 1:>{pad}}. ", " " * (pad + 6))
        body = " " * (pad + 6)
        lines += wrap(encodable(read_text(p, s), enc), width, body, body + "  ")
    return lines


def pipeline_rich(p: PipelineView, enc: str | None) -> list[Any]:
    """The same as :func:`pipeline_lines`, styled: a heading and a grid, one row per call
    (its number, then its head line and, indented, what it read and wrote)."""
    from rich.console import Group
    from rich.padding import Padding
    from rich.table import Table
    from rich.text import Text

    grid = Table.grid(padding=(0, 1), pad_edge=False)
    grid.add_column(justify="right", no_wrap=True)
    grid.add_column(overflow="fold")
    for s in p.steps:
        head = Text(overflow="fold")
        head.append(encodable(s.label, enc), style="bold")
        head.append("  ")
        head.append(s.status, style=_STYLE.get(s.status, ""))
        head.append("  " + encodable(call_text(s), enc), style="cyan")
        head.append("  " + step_time(s), style="dim")
        body = Text(encodable(read_text(p, s), enc), overflow="fold")
        for lk in p.links_into(s.index):
            if lk.status != "ok":
                body.highlight_words([encodable(f"[{lk.status}: {lk.note}]", enc)], "bold red")
        grid.add_row(f"{s.index + 1}.", Group(head, Padding(body, (0, 0, 0, 2))))
    heading = Text(encodable(_heading(p), enc), style="bold", overflow="fold")
    return [heading, Padding(grid, (0, 0, 0, 2))]


def _node(p: PipelineView, s: ViewStep) -> SvgNode:
    fn = s.function.removeprefix("scanpy.")
    args = ", ".join(f"{k}={fmt_value(v, 16)}" for k, v in s.arguments)
    tip = f"{s.function}({args})\n{read_text(p, s)}\n{step_time(s)}"
    return SvgNode(f"s{s.index}", s.label, f"{fn}({args})", s.status, f"{tip}\n{s.why}".strip())


def pipeline_svg(p: PipelineView) -> str:
    """The picture: the inputs, then one box per call; an arrow from the call that wrote a
    slot to each call that read it (dashed red: stale, dotted red: a gap)."""
    nodes = [
        SvgNode(
            f"in{i}", slot, "input: no record wrote it", "input", f"{slot}: read, never written"
        )
        for i, slot in enumerate(p.inputs)
    ]
    inputs = {slot: f"in{i}" for i, slot in enumerate(p.inputs)}
    nodes += [_node(p, s) for s in p.steps]
    # One arrow per pair of calls, naming every slot it carries; the worst status wins.
    merged: dict[tuple[str, str], list[Link]] = {}
    for lk in p.links:
        src = inputs[lk.slot] if lk.writer is None else f"s{lk.writer}"
        merged.setdefault((src, f"s{lk.reader}"), []).append(lk)
    edges = []
    for (src, dst), links in merged.items():
        worst = next((st for st in ("gap", "stale") if any(lk.status == st for lk in links)), "ok")
        label = ", ".join(lk.slot for lk in links) if not src.startswith("in") else ""
        notes = "; ".join(lk.note for lk in links if lk.note)
        edges.append(SvgEdge(src, dst, worst, label, f"{label or links[0].slot}. {notes}"))
    return dag_svg(nodes, edges, title=_heading(p))


def pipeline_html(p: PipelineView) -> list[str]:
    """The picture, then a table: one row per call."""
    out = [
        f"<h4>{_e(_heading(p))}</h4>",
        f'<div class="prov-scroll">{pipeline_svg(p)}</div>',
        '<div class="prov-scroll"><table class="prov-table prov-pipeline"><thead><tr>'
        "<th>#</th><th>step</th><th>status</th><th>call</th><th>read</th><th>wrote</th>"
        "<th>at</th></tr></thead><tbody>",
    ]
    for s in p.steps:
        pill = {"stale": "error", "superseded": "muted"}.get(s.status, s.status)
        reads = "<br>".join(_e(_from(p, lk)) for lk in p.links_into(s.index)) or "-"
        out.append(
            f'<tr><td class="prov-num">{s.index + 1}</td>'
            f'<td class="prov-key">{_e(s.label)}</td>'
            f'<td><span class="prov-pill prov-{_e(pill)}" title="{_e(s.why)}">'
            f"{_e(s.status)}</span></td>"
            f'<td class="prov-mono">{_e(call_text(s))}</td>'
            f'<td class="prov-mono prov-small">{reads}</td>'
            f'<td class="prov-mono prov-small">{_e(", ".join(s.writes) or "-")}</td>'
            f'<td class="prov-nowrap prov-small">{_e(step_time(s))}</td></tr>'
        )
    out.append("</tbody></table></div>")
    return out
