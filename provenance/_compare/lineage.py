"""``provenance.lineage``: the whole graph of steps, from the counts to the clusters and the
results computed from them (normalize_total -> log1p -> highly_variable_genes -> pca ->
neighbors -> umap -> leiden -> rank_genes_groups), which clustering a ``restrict_to``
sub-clustering refined, and whether each still holds.

The keys and edges come from the records: what each record names (its graph, the
clusterings it used), and the slots it read, linked by digest to the record that wrote them
(``_compare/pipeline.py``); or from what scanpy left where nothing was recorded. Each node's
status comes from the audit's findings on its key.
``provenance._render`` draws a :class:`Lineage` (a tree in the terminal, HTML in Jupyter,
Graphviz DOT).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from provenance._util.display import Displayable, renderer

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping

    from anndata import AnnData

    from provenance._audit.report import AuditReport, Finding
    from provenance._schema.models import GraphInfo

__all__ = ["Lineage", "LineageNode", "NodeKind", "NodeStatus", "from_report", "lineage"]

NodeKind = Literal[
    "transform",
    "neighbors",
    "umap",
    "tsne",
    "draw_graph",
    "diffmap",
    "clustering",
    "rank_genes_groups",
    "filter_rank_genes_groups",
    "dendrogram",
    "paga",
    "unrecorded",
    "concat",
    "parent",
    "part",
]
NodeStatus = Literal["ok", "stale", "error", "warning", "unrecorded"]

# A finding that only says "no record here": an unrecorded node's status says as much.
_JUST_UNRECORDED = frozenset({"no_record"})
_STALE = "stale_result"


@dataclass(frozen=True)
class LineageNode:
    """One key of the lineage: a transform of the data (``sc.pp.*``), a neighbors graph, an
    embedding, a clustering or a result."""

    key: str
    """The ``uns`` key / ``obs`` column (``"<mod>:<key>"`` in a MuData's modality)."""
    kind: NodeKind
    """What its record says it is; ``"unrecorded"`` without a readable record."""
    version: int | None
    """The latest version of its history; ``None`` without one."""
    function: str | None
    """The function that made it, as recorded (or as scanpy's leftovers tell)."""
    status: NodeStatus
    """``"stale"``: a result computed from labels that changed since, or a ``restrict_to``
    clustering whose parent's labels did (``stale_result``);
    ``"error"``/``"warning"``: the audit's other findings on the key; ``"unrecorded"``: no
    record; ``"ok"``: recorded and nothing found."""
    why: str
    """The status in one line: the finding's message, or what made it."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "key": self.key,
            "kind": self.kind,
            "version": self.version,
            "function": self.function,
            "status": self.status,
            "why": self.why,
        }


@dataclass(frozen=True, repr=False)
class Lineage(Displayable):
    """The graph of steps: transforms, neighbors, clusterings, the results computed from them.

    Examples
    --------
    >>> lin = provenance.lineage(adata)  # doctest: +SKIP
    >>> lin.edges  # doctest: +SKIP
    [('normalize_total', 'log1p'), ('log1p', 'pca'), ('pca', 'neighbors'), ...]
    >>> [n.key for n in lin.nodes if n.status == "stale"]  # doctest: +SKIP
    ['rank_genes_groups', 'dendrogram_L']
    >>> print(lin.to_dot())  # doctest: +SKIP
    """

    source: str
    """What was read (a path, or a description of the object)."""
    nodes: tuple[LineageNode, ...]
    """One per key, parents before children."""
    edges: list[tuple[str, str]]
    """``(parent_key, child_key)``: the child was computed from the parent (it names it, or
    it read a slot the parent wrote, by digest)."""

    @property
    def ok(self) -> bool:
        """True when no node is stale or in error."""
        return not any(n.status in ("stale", "error") for n in self.nodes)

    @property
    def stale(self) -> tuple[LineageNode, ...]:
        """The nodes whose clustering changed since they were computed."""
        return tuple(n for n in self.nodes if n.status == "stale")

    def __getitem__(self, key: str) -> LineageNode:
        for n in self.nodes:
            if n.key == key:
                return n
        msg = f"no node {key!r} in the lineage; nodes: {', '.join(n.key for n in self.nodes)}."
        raise KeyError(msg)

    def parents(self, key: str) -> list[str]:
        """Keys ``key`` was computed from, in edge order."""
        return [p for p, c in self.edges if c == key]

    def children(self, key: str) -> list[str]:
        """Keys computed from ``key``, in edge order."""
        return [c for p, c in self.edges if p == key]

    def to_dot(self) -> str:
        """The lineage as a Graphviz DOT digraph: node shape by kind, colour by status.

        ``dot -Tsvg`` (or any Graphviz viewer) draws it.
        """
        text: str = renderer(self, "dot")(self)
        return text

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``provenance lineage --json`` prints it)."""
        from provenance._version import __version__

        return {
            "source": self.source,
            "ok": self.ok,
            "n_stale": len(self.stale),
            "nodes": [n.to_dict() for n in self.nodes],
            "edges": [list(e) for e in self.edges],
            "anndata_provenance": __version__,
        }

    def __repr__(self) -> str:
        stale, errors = len(self.stale), sum(n.status == "error" for n in self.nodes)
        verdict = [f"{stale} stale"] * bool(stale) + [f"{errors} in error"] * bool(errors)
        return (
            f"<Lineage {self.source}: {len(self.nodes)} nodes, {len(self.edges)} edges, "
            f"{', '.join(verdict) or 'ok'}>"
        )


def lineage(
    adata_or_path: AnnData | str | Any, *, storage_options: Mapping[str, Any] | None = None
) -> Lineage:
    """The lineage of an AnnData or MuData object, or of a file holding one.

    Parameters
    ----------
    adata_or_path
        An AnnData or MuData object, or the path of an ``.h5ad``/``.h5mu`` file or ``.zarr``
        store. Of a file, what the audit reads is read (``uns``, the ``obs`` columns the
        records name, ``obs_names``, recorded ``obsp`` graphs); never ``X``. A MuData
        modality's keys are named ``"<mod>:<key>"``.
    storage_options
        For a URL: the options of its fsspec filesystem, as :func:`~provenance.audit` takes.

    Returns
    -------
    The nodes (one per recorded transform, neighbors graph, embedding, clustering and
    result) and the edges between them, each node with the audit's status.

    Raises
    ------
    UnreadableFileError
        The path is missing, not AnnData, or damaged where it must be read.
    """
    from provenance._audit.audit import audit

    return from_report(audit(adata_or_path, storage_options=storage_options))


def from_report(report: AuditReport) -> Lineage:
    """The lineage an audit found: its clustering entries and its steps, and their findings.

    A clustering's parents are the last of its record's ``graph_steps`` (a ``sc.tl.umap``
    that changed its graph in place after the neighbors record wrote it: neighbors -> umap ->
    clustering), else its ``neighbors`` (else its graph's ``neighbors_key``, or scanpy's
    default ``"neighbors"`` when the graph was read through it), and the clustering its
    ``restrict_to`` sub-clustered;
    a step's are the clusterings it used and the steps it read (``StepEntry.uses`` and
    ``.parents``, from its record, or from what scanpy left); and every record's are the
    keys whose records wrote the slots its latest version read, with the digests it read
    (:func:`~provenance._compare.pipeline.key_edges`): normalize_total -> log1p -> pca.
    """
    from provenance._storage.index import INDEX_KEY

    from .pipeline import key_edges, pipeline_of

    found: dict[str, _Found] = {}
    edges: list[tuple[str, str]] = []

    def edge(parent: str, child: str) -> None:
        if parent != child and (parent, child) not in edges:
            edges.append((parent, child))

    for e in report.entries:
        if e.key == INDEX_KEY:
            continue
        rec = e.latest
        if rec is None:
            found[e.key] = _Found("unrecorded", None, None, _NO_RECORD, e.findings)
            continue
        found[e.key] = _Found("clustering", rec.version, rec.function, _note(e), e.findings)
        parent = rec.neighbors.key if rec.neighbors is not None else _graph_parent(rec.graph)
        steps = getattr(rec, "graph_steps", ())  # schema >= 1.5: neighbors -> umap -> this
        if steps:
            parent = steps[-1].key
        if parent:
            edge(_prefix(e.key, rec.key) + parent, e.key)
        restrict = getattr(rec.params, "restrict_to", None)
        if restrict is not None:  # sub-clustered some categories of another clustering
            edge(_prefix(e.key, rec.key) + restrict.key, e.key)
    for s in report.steps:
        latest = s.latest
        if latest is not None:
            found[s.key] = _Found(s.kind, latest.version, latest.function, _note(s), s.findings)
        elif s.n_stored:
            found[s.key] = _Found(s.kind, None, None, "its history cannot be read", s.findings)
        else:
            what = _grouped(s.uses)
            found[s.key] = _Found("unrecorded", None, _SCANPY.get(s.kind), what, s.findings)
        for parent in (*s.uses, *s.parents):
            edge(parent, s.key)
        graph_parent = _graph_parent(getattr(latest, "graph", None))
        if latest is not None and graph_parent and not s.parents:
            edge(_prefix(s.key, latest.key) + graph_parent, s.key)
    for parent, child in key_edges(pipeline_of(report)):
        if parent in found and child in found:
            edge(parent, child)
    from .lineage_objects import objects

    objects(report, found, edge, _Found)
    for parent, child in list(edges):
        for key in (parent, child):
            if key not in found:
                found[key] = _Found("unrecorded", None, None, _NO_ENTRY, ())
    order = _topological(sorted(found, key=lambda k: _sort_key(k, found[k])), edges)
    rank = {k: i for i, k in enumerate(order)}
    nodes = tuple(_node(k, found[k]) for k in order)
    # By child; a child's parents in its record's order (the labels, then the steps read).
    edges.sort(key=lambda e: rank[e[1]])
    return Lineage(source=report.source, nodes=nodes, edges=edges)


_NO_RECORD = "obs labels; nothing records how they were made"
_NO_ENTRY = "named by a record or by scanpy; no record of its own, or gone"

# The functions scanpy's leftovers point to, by the kind of step the audit told them to be.
_SCANPY = {
    "neighbors": "scanpy.pp.neighbors",
    "umap": "scanpy.tl.umap",
    "rank_genes_groups": "scanpy.tl.rank_genes_groups",
    "filter_rank_genes_groups": "scanpy.tl.filter_rank_genes_groups",
    "dendrogram": "scanpy.tl.dendrogram",
    "paga": "scanpy.tl.paga",
}


@dataclass(frozen=True)
class _Found:
    """What the audit says of one key, before its status is decided."""

    kind: str
    version: int | None
    function: str | None
    note: str
    findings: tuple[Finding, ...]

    @property
    def recorded(self) -> bool:
        return self.kind != "unrecorded"


def _graph_parent(graph: GraphInfo | None) -> str | None:
    """The neighbors key a recorded graph was found through: the one named, else scanpy's
    default ``"neighbors"`` when the graph was read through it (its params were copied)."""
    if graph is None or graph.source != "obsp":
        return None
    if graph.neighbors_key is not None:
        return graph.neighbors_key
    return "neighbors" if graph.neighbors_params is not None else None


def _prefix(key: str, local: str) -> str:
    """``"rna:"`` of ``"rna:L"`` (a MuData modality's records name the modality's keys)."""
    return key[: len(key) - len(local)] if key.endswith(local) else ""


def _note(entry: Any) -> str:
    """What made a recorded key, and when: the ``why`` of a node with nothing wrong."""
    rec, n = entry.latest, len(entry.history)
    when = rec.finished_at or rec.started_at
    at = f" at {when:%Y-%m-%d %H:%M} UTC" if when is not None else ""
    return f"{rec.function}{at} ({n} version{'s' * (n != 1)})"


def _grouped(groups: Iterable[str]) -> str:
    names = ", ".join(map(repr, groups))
    return f"as scanpy left it{f' (by {names})' if names else ''}, without a record"


def _node(key: str, f: _Found) -> LineageNode:
    """A key's node: its status from the audit's findings on it, most severe first."""
    errors = [x for x in f.findings if x.severity == "error"]
    warnings = [x for x in f.findings if x.severity == "warning" and x.code not in _JUST_UNRECORDED]
    stale = [x for x in errors if x.code == _STALE]
    status: NodeStatus
    if stale:
        status, why = "stale", stale[0].message
    elif errors:
        status, why = "error", errors[0].message
    elif warnings:
        status, why = "warning", warnings[0].message
    elif not f.recorded:
        status, why = "unrecorded", f.note
    else:
        status, why = "ok", f.note
    kind: Any = f.kind
    return LineageNode(key, kind, f.version, f.function, status, why)


def _sort_key(key: str, f: _Found) -> tuple[int, str]:
    """Graphs, then clusterings, then results by the step that makes them; then by key (the
    same order for an object and the file it was written to). Parent objects' records and
    a concatenation's parts come first: they were made before this object."""
    made = f.kind if f.recorded else (f.function or "clustering").rsplit(".")[-1]
    return (-1 if made in ("parent", "part") else _RANK.get(made, 1), key)


_RANK = {k: i for i, k in enumerate(NodeKind.__args__)}  # type: ignore[attr-defined]


def _topological(keys: list[str], edges: list[tuple[str, str]]) -> list[str]:
    """Parents before children; otherwise in the order found. Keys on a cycle (a damaged
    file) follow in that order."""
    order = {k: i for i, k in enumerate(keys)}
    waiting = {k: 0 for k in keys}
    for _, c in edges:
        waiting[c] += 1
    ready = sorted((k for k in keys if not waiting[k]), key=order.__getitem__)
    out: list[str] = []
    while ready:
        k = ready.pop(0)
        out.append(k)
        for p, c in edges:
            if p == k:
                waiting[c] -= 1
                if not waiting[c]:
                    ready.append(c)
        ready.sort(key=order.__getitem__)
    placed = set(out)
    return out + [k for k in keys if k not in placed]
