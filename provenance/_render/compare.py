"""A :class:`~provenance.Diff` and a :class:`~provenance.ReplayResult` as plain text."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .terminal import cell_len, encodable, terminal_width, wrap
from .values import fmt_value

if TYPE_CHECKING:
    from provenance._compare.diff import Diff
    from provenance._replay.result import ReplayResult

__all__ = ["MAX_TABLE", "diff_text", "replay_lines", "replay_text"]

MAX_TABLE = 20  # largest contingency table the replay report prints in full


def diff_text(d: Diff, *, width: int | None = None, encoding: str | None = None) -> str:
    """The comparison as a table fitted to ``width`` columns (long values are cut, notes
    wrapped onto their own lines)."""
    width = width or terminal_width()
    n = len(d.differences)
    head = f"{d.a}  vs  {d.b}: {n} of {d.n_compared} fields differ"
    if not d.rows:
        return encodable("\n".join(wrap(head + (" (identical)" if not n else ""), width)), encoding)
    w0 = max(len(f"  {r.field}") for r in d.rows)
    mark_w = 3 if d.show_all else 0
    # Two value columns share what the field names leave; never more than 40 each.
    vw = max(8, min(40, (width - w0 - 4 - mark_w) // 2))
    cells = [(f"  {r.field}", fmt_value(r.a, vw), fmt_value(r.b, vw), r) for r in d.rows]
    w1 = max(max(len(c[1]) for c in cells), len(d.a))
    lines = [*wrap(head, width), f"{'':<{w0}}  {d.a:<{w1}}  {d.b}".rstrip()]
    section = None
    for name, va, vb, r in cells:
        if r.section != section:
            section = r.section
            lines.append(section)
        mark = "  *" if r.differs and d.show_all else ""
        row = f"{name:<{w0}}  {va:<{w1}}  {vb}{mark}"
        if r.note and not r.same:
            if len(row) + len(r.note) + 4 <= width:
                row += f"  ({r.note})"
            else:
                lines.append(row)
                row = "\n".join(wrap(f"({r.note})", width, first=" " * (w0 + 2)))
        lines.append(row)
    return encodable("\n".join(lines), encoding)


def _verdict(r: ReplayResult) -> str:
    if r.identical:
        return f"IDENTICAL to obs[{r.key!r}] (same partition up to label names)"
    return f"DIFFERS from obs[{r.key!r}]"


def _graph_text(r: ReplayResult) -> str:
    if r.graph_matches is None:
        return "unknown: not checked against the record (see the note)"
    return "digest matches the record" if r.graph_matches else "DIFFERS from the record"


def replay_lines(r: ReplayResult) -> list[tuple[str, str]]:
    """(label, text) rows shared by the text and HTML reports."""
    rows = [
        ("call", r.call),
        ("graph", f"{r.graph}: {_graph_text(r)}" + (" (forced)" if r.forced else "")),
        ("result", _verdict(r)),
        (
            "agreement",
            f"ARI {r.ari:.4f}  NMI {r.nmi:.4f}  clusters: "
            f"{r.n_clusters_recorded} in obs, {r.n_clusters_replayed} replayed",
        ),
        (
            "record",
            (
                f"the replay reproduces the partition recorded for version {r.version}"
                if r.reproduces_record
                else f"the replay does NOT reproduce the partition recorded for version {r.version}"
            ),
        ),
    ]
    if r.labels_version is None:
        rows.append(("labels", f"obs[{r.key!r}] matches no recorded version (edited?)"))
    elif r.labels_version != r.version:
        rows.append(
            (
                "labels",
                f"obs[{r.key!r}] holds the labels of version {r.labels_version}, "
                f"not of version {r.version} replayed",
            )
        )
    if r.software is None:
        rows.append(("software", "unknown: the record holds no software versions to compare with"))
    elif r.software:
        changed = ", ".join(f"{k} {a or '-'} -> {b or '-'}" for k, (a, b) in r.software.items())
        rows.append(("software", f"recorded -> installed: {changed}"))
    else:
        rows.append(("software", "installed versions match the record"))
    rows.extend(("note", n) for n in r.notes)
    return rows


def replay_text(r: ReplayResult, *, width: int | None = None, encoding: str | None = None) -> str:
    """The report with its lines wrapped to ``width`` columns."""
    width = width or terminal_width()
    head = f"Replay of {r.key!r} version {r.version} of {r.n_versions}"
    out = [head, "=" * len(head)]
    for label, text in replay_lines(r):
        if label == "software" and r.software:
            out += _wrap_items(text, width, first=f"{label:<10} ", rest=" " * 11)
        else:
            out += wrap(text, width, first=f"{label:<10} ", rest=" " * 11)
    if not r.identical:
        worst = r.best_match[r.best_match["jaccard"] < 1]
        worst = worst.sort_values("jaccard", kind="stable").head(10)
        out.append("")
        out.append(f"clusters of obs[{r.key!r}] without an exact match (worst first):")
        out += [
            f"  {k!s:>12} ({int(row['size'])} cells) -> replayed {row['best_match']!s:<8} "
            f"Jaccard {row['jaccard']:.3f}"
            for k, row in worst.iterrows()
        ]
        if max(r.contingency.shape) <= MAX_TABLE:
            out += ["", "contingency (rows: obs, columns: replayed):"]
            out += ["  " + line for line in r.contingency.to_string().splitlines()]
        if r.software:
            out.append("")
            out += wrap(
                "installed versions differ from the recorded ones ("
                + ", ".join(r.software)
                + "); results may differ for that reason.",
                width,
            )
    return encodable("\n".join(out), encoding)


def _wrap_items(text: str, width: int, first: str, rest: str) -> list[str]:
    """Wrap a ``", "``-separated list between its items (``scanpy 1.8 -> 1.11`` stays whole)."""
    head, _, tail = text.partition(": ")
    items = [f"{head}:", *(f"{i}," for i in tail.split(", "))]
    items[-1] = items[-1].rstrip(",")
    lines, cur, empty = [], first, True
    for item in items:
        if not empty and cell_len(f"{cur} {item}") > width:
            lines.append(cur)
            cur, empty = rest, True
        cur, empty = (cur + item if empty else f"{cur} {item}"), False
    lines.append(cur)
    return [piece for line in lines for piece in wrap(line.rstrip(), width, rest=rest)]
