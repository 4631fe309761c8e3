"""A :class:`~provenance.PipelineReplay` as plain text and HTML: one row per recorded step."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

from .terminal import encodable, terminal_width, wrap

if TYPE_CHECKING:
    from provenance._replay.result import PipelineReplay, PipelineStep

__all__ = ["pipeline_html", "pipeline_text"]

_MARK = {"identical": "ok", "departs": "DEPARTS", "inconclusive": "inconclusive", "not_run": "-"}


def _verdict(r: PipelineReplay) -> str:
    if r.identical:
        ran = sum(s.status != "not_run" for s in r.steps)
        of = "" if ran == len(r.steps) else f" of {len(r.steps)}"
        return f"IDENTICAL: {ran}{of} steps replayed, every digest as recorded, ARI 1.0"
    d = r.departure
    if d is None or r.first_departure is None:
        return "NOT REPLAYED: no step of the chain could be re-run"
    how = {"departs": "DEPARTS at", "inconclusive": "INCONCLUSIVE at", "not_run": "NOT RUN at"}
    at = f"step {r.first_departure + 1}: {d.function} ({d.key!r})"
    return f"{how.get(d.status, 'DIFFERS at')} {at}"


def _slots(s: PipelineStep) -> str:
    if not s.compared:
        return ""
    equal = sum(c.equal for c in s.compared)
    return f"{equal}/{len(s.compared)} equal"


def pipeline_lines(r: PipelineReplay) -> list[tuple[str, str]]:
    """(label, text) rows after the step table, shared by text and HTML."""
    rows = [("result", _verdict(r))]
    if r.start is not None:
        rows.append(("start", r.start))
    c = r.clustering
    if c is not None:
        same = "IDENTICAL to" if c.identical else "DIFFERS from"
        rows.append(
            (
                "labels",
                f"{same} obs[{r.key!r}]: ARI {c.ari:.4f}  NMI {c.nmi:.4f}  clusters: "
                f"{c.n_clusters_recorded} in obs, {c.n_clusters_replayed} replayed",
            )
        )
    d = r.departure
    if d is not None and d.reason:
        rows.append(("why", d.reason))
    software = {k: v for s in r.steps if s.software for k, v in s.software.items()}
    if software:
        changed = ", ".join(f"{k} {a or '-'} -> {b or '-'}" for k, (a, b) in software.items())
        rows.append(("software", f"recorded -> installed: {changed}"))
    elif any(s.software is None for s in r.steps):
        rows.append(("software", "unknown for some steps: their records hold no versions"))
    else:
        rows.append(("software", "installed versions match the records"))
    rows.extend(("note", n) for n in r.notes)
    return rows


def pipeline_text(
    r: PipelineReplay, *, width: int | None = None, encoding: str | None = None
) -> str:
    """The report: one row per step (status, slots compared, inputs), then the verdict."""
    width = width or terminal_width()
    head = f"Pipeline replay of {r.key!r} version {r.version}"
    out = [head, "=" * len(head)]
    names = [f"{s.key} v{s.version}" for s in r.steps]
    w_name = max(len(n) for n in names)
    w_func = max(len(s.function) for s in r.steps)
    w_mark = max(len(_MARK[s.status]) for s in r.steps)
    w_slots = max(len(_slots(s)) for s in r.steps)
    for n, (name, s) in enumerate(zip(names, r.steps, strict=True), 1):
        row = f"{n:>2}  {name:<{w_name}}  {s.function:<{w_func}}  {_MARK[s.status]:<{w_mark}}"
        row = f"{row}  {_slots(s):<{w_slots}}  {', '.join(s.inputs)}".rstrip()
        out.append(row)
        if s.status != "identical" and s.reason and n - 1 != r.first_departure:
            out += wrap(s.reason, width, first="      ", rest="      ")
        for cmp in s.compared:
            if not cmp.equal:
                got = cmp.replayed[-16:] if cmp.replayed else "not written"
                out.append(f"      {cmp.name}: recorded ...{cmp.recorded[-16:]}, replayed {got}")
    out.append("")
    for label, text in pipeline_lines(r):
        out += wrap(text, width, first=f"{label:<9} ", rest=" " * 10)
    return encodable("\n".join(out), encoding)


def pipeline_html(r: PipelineReplay) -> str:
    """The report as a table, coloured by status with the notebook's theme."""
    ok = "var(--jp-success-color1, #2e7d32)"
    bad = "var(--jp-error-color1, #c62828)"
    warn = "var(--jp-warn-color1, #ef6c00)"
    colour = {"identical": ok, "departs": bad, "inconclusive": warn, "not_run": "inherit"}
    e = html.escape
    steps = "".join(
        f"<tr><td>{n}</td><td>{e(s.key)} v{s.version}</td><td>{e(s.function)}</td>"
        f"<td style='color:{colour[s.status]}'>{e(s.status.replace('_', ' '))}</td>"
        f"<td>{e(_slots(s))}</td><td style='text-align:left'>{e(', '.join(s.inputs))}"
        + (f"<br><small>{e(s.reason)}</small>" if s.reason else "")
        + "</td></tr>"
        for n, s in enumerate(r.steps, 1)
    )
    rows = "".join(
        f"<tr><th style='text-align:left;padding-right:1em'>{e(label)}</th>"
        f"<td style='text-align:left'>{e(text)}</td></tr>"
        for label, text in pipeline_lines(r)
    )
    return (
        "<div style='color:var(--jp-content-font-color1, inherit)'>"
        f"<strong>Pipeline replay of {e(repr(r.key))} version {r.version}: "
        f"<span style='color:{ok if r.identical else bad}'>"
        f"{'identical' if r.identical else 'not identical'}</span></strong>"
        "<table><thead><tr><th>#</th><th>step</th><th>function</th><th>status</th>"
        f"<th>slots</th><th>inputs</th></tr></thead><tbody>{steps}</tbody></table>"
        f"<table>{rows}</table></div>"
    )
