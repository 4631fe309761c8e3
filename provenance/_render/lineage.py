"""A :class:`~provenance._compare.lineage.Lineage` drawn: a tree in the terminal (rich or plain
text), a picture (inline SVG) over nested lists in Jupyter, and Graphviz DOT.

A node with several parents (PAGA reads a clustering and a neighbors graph) is drawn once,
under its deepest parent, and names the others ("also from neighbors"); it is never repeated
silently.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .css import CSS
from .svg import SVG_CSS, SvgEdge, SvgNode, dag_svg
from .terminal import MIN_WIDTH, encodable, terminal_width, wrap

if TYPE_CHECKING:
    from provenance._compare.lineage import Lineage, LineageNode

__all__ = ["lineage_dot", "lineage_html", "lineage_rich", "lineage_svg", "lineage_text"]

_RICH_STYLE = {
    "ok": "bold green",
    "stale": "bold red",
    "error": "bold red",
    "warning": "bold yellow",
    "unrecorded": "dim",
}
# Graphviz fill and line colours by status; shapes by kind.
_DOT_FILL = {
    "ok": "#dafbe1",
    "stale": "#ffd8d3",
    "error": "#ffd8d3",
    "warning": "#fff1c2",
    "unrecorded": "#eeeeee",
}
_DOT_LINE = {
    "ok": "#1a7f37",
    "stale": "#cf222e",
    "error": "#cf222e",
    "warning": "#9a6700",
    "unrecorded": "#59636e",
}
_DOT_SHAPE = {
    "transform": "box",
    "concat": "invhouse",
    "tsne": "parallelogram",
    "draw_graph": "parallelogram",
    "diffmap": "parallelogram",
    "neighbors": "ellipse",
    "clustering": "box",
    "rank_genes_groups": "note",
    "filter_rank_genes_groups": "note",
    "dendrogram": "invtrapezium",
    "paga": "hexagon",
    "umap": "parallelogram",
    "unrecorded": "box",
}
_LINEAGE_CSS = """
.prov-audit ul.prov-tree { list-style: none; margin: .25em 0; padding-left: 0; }
.prov-audit ul.prov-tree ul.prov-tree {
  padding-left: 1.1em; margin: 0 0 0 .45em; border-left: 1px solid var(--prov-border);
}
.prov-audit ul.prov-tree li { margin: .2em 0; }
.prov-audit .prov-why { color: var(--prov-muted); font-size: .9em; margin-left: .2em; }
.prov-audit .prov-stale { color: var(--prov-err); }
.prov-audit .prov-unrecorded { color: var(--prov-muted); }
"""


@dataclass
class _Tree:
    """Where each node is drawn: under one parent (``children``), naming the others (``also``)."""

    roots: list[str] = field(default_factory=list)
    children: dict[str, list[str]] = field(default_factory=dict)
    also: dict[str, list[str]] = field(default_factory=dict)


def _tree(lin: Lineage) -> _Tree:
    """Each node under its deepest parent drawn before it (nodes come parents first)."""
    depth: dict[str, int] = {}
    tree = _Tree()
    for node in lin.nodes:
        parents = [p for p in lin.parents(node.key) if p in depth]
        if parents:
            under = max(parents, key=lambda p: depth[p])  # the first of the deepest
            depth[node.key] = depth[under] + 1
            tree.children.setdefault(under, []).append(node.key)
        else:
            under, depth[node.key] = None, 0
            tree.roots.append(node.key)
        tree.also[node.key] = [p for p in lin.parents(node.key) if p != under]
    return tree


def _headline(lin: Lineage) -> str:
    n, stale = len(lin.nodes), len(lin.stale)
    errors = sum(x.status == "error" for x in lin.nodes)
    if not n:
        return "no neighbors graph, clustering or result found"
    counts = [f"{n} node{'s' * (n != 1)}"]
    if stale:
        counts.append(f"{stale} stale")
    if errors:
        counts.append(f"{errors} error{'s' * (errors != 1)}")
    if not stale and not errors:
        counts.append("nothing stale")
    return ", ".join(counts)


def _made_by(node: LineageNode) -> str:
    """The kind of step that made a node, told by its function when it has no record."""
    if node.kind != "unrecorded":
        return node.kind
    return node.function.rsplit(".")[-1] if node.function else "labels"


def _what(node: LineageNode) -> str:
    if node.kind == "unrecorded":
        return f"{_made_by(node)}, no record"
    version = f" v{node.version}" if node.version is not None else ""
    return f"{node.kind}{version}"


def _also(tree: _Tree, key: str) -> str:
    also = tree.also.get(key, [])
    return f"also from {', '.join(also)}" if also else ""


# --- plain text ----------------------------------------------------------------------------


def lineage_text(lin: Lineage, *, width: int | None = None, encoding: str | None = None) -> str:
    """The tree as plain text: each node's key, status, kind and version, then why."""
    width = max(width or terminal_width(), MIN_WIDTH)
    unicode = _can_write("├─│└", encoding)
    tee, last, bar = ("├── ", "└── ", "│   ") if unicode else ("|-- ", "`-- ", "|   ")
    dash = "—" if unicode else "-"
    nodes = {n.key: n for n in lin.nodes}
    tree = _tree(lin)
    lines = wrap(f"Lineage {dash} {lin.source}: {_headline(lin)}", width)

    def draw(key: str, first: str, rest: str) -> None:
        node = nodes[key]
        also = _also(tree, key)
        head = f"{key}  [{node.status}]  {_what(node)}" + (f"  ({also})" if also else "")
        kids = tree.children.get(key, [])
        below = rest + (bar if kids else "    ")
        lines.extend(wrap(head, width, first, below))
        if node.why:
            lines.extend(wrap(node.why, width, below, below))
        for i, kid in enumerate(kids):
            end = i == len(kids) - 1
            draw(kid, rest + (last if end else tee), rest + ("    " if end else bar))

    for root in tree.roots:
        draw(root, "", "")
    return encodable("\n".join(lines), encoding)


def _can_write(chars: str, encoding: str | None) -> bool:
    if not encoding:
        return True
    try:
        chars.encode(encoding)
    except (UnicodeEncodeError, LookupError):
        return False
    return True


# --- rich ----------------------------------------------------------------------------------


class _RichLineage:
    """The tree as rich draws it, with the console's guides (ASCII where it must) and colours."""

    def __init__(self, lin: Lineage) -> None:
        self.lin = lin

    def __rich_console__(self, console: Any, options: Any) -> Any:
        from rich.text import Text
        from rich.tree import Tree

        lin, enc = self.lin, options.encoding
        nodes = {n.key: n for n in lin.nodes}
        tree = _tree(lin)
        dash = "—" if _can_write("—", enc) else "-"
        top = Tree(Text(f"Lineage {dash} {encodable(lin.source, enc)}: {_headline(lin)}", "bold"))

        def label(key: str) -> Any:
            node = nodes[key]
            text = Text(overflow="fold")
            text.append(encodable(key, enc), style="bold")
            text.append("  ")
            text.append(node.status, style=_RICH_STYLE[node.status])
            text.append(f"  {_what(node)}", style="cyan")
            also = _also(tree, key)
            if also:
                text.append(f"  ({encodable(also, enc)})", style="italic")
            if node.why:
                text.append("\n" + encodable(node.why, enc), style="dim")
            return text

        def add(branch: Any, key: str) -> None:
            sub = branch.add(label(key))
            for kid in tree.children.get(key, []):
                add(sub, kid)

        for root in tree.roots:
            add(top, root)
        yield top


def lineage_rich(lin: Lineage) -> Any:
    """A rich renderable: the tree, statuses coloured."""
    return _RichLineage(lin)


# --- HTML ----------------------------------------------------------------------------------


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def lineage_svg(lin: Lineage) -> str:
    """The whole graph as a picture: one box per key, coloured by status, arrows parent to
    child."""
    nodes = [
        SvgNode(n.key, n.key, f"{_what(n)} · {n.function or '-'}", n.status, n.why)
        for n in lin.nodes
    ]
    edges = [SvgEdge(p, c, tip=f"{p} → {c}") for p, c in lin.edges]
    return dag_svg(nodes, edges, title=f"Lineage: {lin.source}")


def lineage_html(lin: Lineage) -> str:
    """The picture, then the tree as nested lists; every value from the file escaped."""
    nodes = {n.key: n for n in lin.nodes}
    tree = _tree(lin)

    def item(key: str) -> str:
        node = nodes[key]
        also = _also(tree, key)
        parts = [
            f'<li><code class="prov-key">{_e(key)}</code> ',
            f'<span class="prov-pill prov-{_e(node.status)}">{_e(node.status)}</span> ',
            f'<span class="prov-muted">{_e(_what(node))}</span>',
        ]
        if also:
            parts.append(f' <em class="prov-muted">({_e(also)})</em>')
        if node.why:
            parts.append(f'<div class="prov-why">{_e(node.why)}</div>')
        kids = tree.children.get(key, [])
        if kids:
            parts.append('<ul class="prov-tree">' + "".join(item(k) for k in kids) + "</ul>")
        parts.append("</li>")
        return "".join(parts)

    body = "".join(item(k) for k in tree.roots)
    return "".join(
        [
            '<div class="prov-audit prov-lineage">',
            f"<style>{CSS}{SVG_CSS}{_LINEAGE_CSS}</style>",
            '<p class="prov-head"><strong>Lineage</strong> — ',
            f'<span class="prov-src">{_e(lin.source)}</span>: {_e(_headline(lin))}</p>',
            f'<div class="prov-scroll">{lineage_svg(lin)}</div>' if body else "",
            f'<ul class="prov-tree">{body}</ul>' if body else "",
            "</div>",
        ]
    )


# --- Graphviz DOT ---------------------------------------------------------------------------


def _q(text: str) -> str:
    """A DOT quoted string: backslashes and quotes escaped, line breaks as ``\\n``."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    return '"' + text.replace("\r\n", "\\n").replace("\n", "\\n").replace("\r", "\\n") + '"'


def lineage_dot(lin: Lineage) -> str:
    """A DOT digraph: one node per key (shape by kind, colour by status), edges parent→child."""
    lines = [
        "digraph lineage {",
        "  rankdir=TB;",
        '  node [style=filled, fontname="Helvetica"];',
        f"  label={_q('Lineage: ' + lin.source)};",
    ]
    for n in lin.nodes:
        attrs = {
            "label": _q(f"{n.key}\n{_what(n)} · {n.status}"),
            "shape": _DOT_SHAPE.get(_made_by(n), "box"),
            "fillcolor": _q(_DOT_FILL[n.status]),
            "color": _q(_DOT_LINE[n.status]),
            "tooltip": _q(n.why),
        }
        if n.status == "unrecorded":
            attrs["style"] = _q("filled,dashed")
        body = ", ".join(f"{k}={v}" for k, v in attrs.items())
        lines.append(f"  {_q(n.key)} [{body}];")
    lines.extend(f"  {_q(p)} -> {_q(c)};" for p, c in lin.edges)
    lines.append("}")
    return "\n".join(lines) + "\n"
