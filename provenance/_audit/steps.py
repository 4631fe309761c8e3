"""The steps around the clusterings: which ``uns`` keys are steps, and each one's entry.

A step key holds the history of a recorded step (``sc.pp.neighbors``, markers, dendrogram,
PAGA; its records say their ``kind``), or what scanpy left of one made without ``record()``
(told from its shape: ``params`` with ``groupby``/``reference`` for markers, ``n_neighbors``
for a graph; the default keys ``dendrogram_<groupby>`` and ``paga``). Each is audited by
``checks_steps.STEP_CHECKS`` into a :class:`~provenance._audit.report.StepEntry`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from provenance._storage.history import has_history

from .checks_steps import STEP_CHECKS, scanpy_groupby
from .context import StepContext
from .keys import step_kind
from .report import StepEntry

if TYPE_CHECKING:
    from provenance._storage.files import AnnDataSource, FileSource
    from provenance._storage.mudata import PartView

    from .context import AuditContext

    Source = AnnDataSource | FileSource | PartView

__all__ = ["audit_steps", "find_steps", "lost_steps", "unrecorded_kind"]


def unrecorded_kind(local_key: str, entry: Any) -> str | None:
    """The kind of step scanpy left at ``uns[local_key]`` without a history, or ``None``.

    From a file only ``params`` of an entry is read, so a dendrogram or PAGA is told by
    scanpy's default key (``dendrogram_<groupby>``, ``paga``).
    """
    if not isinstance(entry, Mapping) or has_history(entry):
        return None
    params = entry.get("params")
    if isinstance(params, Mapping) and "groupby" in params and "reference" in params:
        filtered = local_key.endswith("_filtered")
        return "filter_rank_genes_groups" if filtered else "rank_genes_groups"
    if isinstance(params, Mapping) and "n_neighbors" in params:
        return "neighbors"
    if isinstance(params, Mapping) and {"a", "b"} <= set(params) <= {"a", "b", "random_state"}:
        return "umap"  # sc.tl.umap's curve parameters (and a seed other than 0)
    if local_key.startswith("dendrogram_") or "categories_ordered" in entry:
        return "dendrogram"
    if local_key == "paga" or ("groups" in entry and "connectivities" in entry):
        return "paga"
    return None


def find_steps(src: Source) -> dict[str, str]:
    """Step key -> kind, in ``uns`` order: recorded steps, then what scanpy left of others."""
    from provenance._storage.uns_parts import uns_names

    local = getattr(src, "local", str)
    uns = src.uns
    out = {}
    for key in dict.fromkeys([*uns, *uns_names(src)]):
        entry = uns.get(key, {})  # a file's entry without params or history: not in src.uns
        kind = step_kind(entry) or unrecorded_kind(local(key), entry)
        if kind is not None:
            out[key] = kind
    return out


def lost_steps(src: Source, index: Mapping[str, Any], found: Mapping[str, str]) -> dict[str, str]:
    """Step key -> kind of the keys ``uns["provenance_index"]`` names whose history is gone
    (``uns[key]`` deleted, or its ``provenance`` removed) and that are no step :func:`find_steps`
    found: a registered transform's default key (``hvg``, ``log1p``, ``pca``), with no obs
    column. Later steps read what a transform wrote, so its loss is ``history_lost``; a result
    or an embedding deleted (markers, a dendrogram, umap) is an end product removed, and the
    parents check tells a deleted graph: both are left to ``index_unreadable`` and those
    checks. The index keeps no kind, so a key named otherwise (``key_added``) is left too.
    """
    from provenance._targets.registry import recorded_functions
    from provenance._targets.steps import StepTarget

    local = getattr(src, "local", str)
    kinds = {
        t.default_key: t.kind
        for t in recorded_functions()
        if isinstance(t, StepTarget) and t.kind == "transform"
    }
    columns = src.obs_columns()
    return {
        key: kinds[local(key)]
        for key in index
        if local(key) in kinds
        and key not in found
        and key not in columns
        and key not in src.uns_errors
        and not has_history(src.uns.get(key))
    }


def audit_steps(
    shared: AuditContext, steps: Mapping[str, str], wanted: tuple[str, ...] | None
) -> tuple[StepEntry, ...]:
    """The entries of the step keys (of ``wanted`` ones only, when given), in ``uns`` order."""
    keys = list(steps) if wanted is None else [k for k in wanted if k in steps]
    entries = [_audit_step(shared, k, steps[k]) for k in keys]
    # In the order the steps first ran (a file's uns is read alphabetically); keys without a
    # readable record after, in uns order.
    return tuple(sorted(entries, key=_first_run))


def _first_run(entry: StepEntry) -> tuple[int, float]:
    times = [t.timestamp() for r in entry.history if (t := getattr(r, "started_at", None))]
    return (0, min(times)) if times else (1, 0.0)


def _audit_step(shared: AuditContext, key: str, kind: str) -> StepEntry:
    ctx = StepContext(shared, key)
    ctx.kind = kind
    findings = [f for c in STEP_CHECKS for f in c(ctx)]
    findings.sort(key=lambda f: f.severity != "error")
    rec = ctx.latest
    prefix = getattr(ctx.src, "prefix", "")
    if rec is not None:
        uses = tuple(prefix + u.key for u in getattr(rec, "uses", ()))
        refs = [*getattr(rec, "parents", ())]
        if getattr(rec, "neighbors", None) is not None:  # an embedding's (sc.tl.umap) graph
            refs.append(rec.neighbors)  # type: ignore[union-attr]
        parents = tuple(prefix + p.key for p in refs)
        graph = getattr(rec, "graph", None)
        if graph is not None and graph.neighbors_key is not None:
            parents = tuple(dict.fromkeys((*parents, prefix + graph.neighbors_key)))
        # Schema >= 1.5: the graph read was changed in place by recorded steps since its
        # neighbors record wrote it: the last of them is the parent (neighbors -> umap -> it).
        steps = [r.key for r in getattr(rec, "graph_steps", ()) if r.key != rec.key]
        if steps and graph is not None:
            # PAGA's parents are its graph's neighbors record; an embedding's is ``neighbors``.
            graph_refs = [*refs] if rec.kind in ("paga", "umap") else []
            nk = {prefix + k for k in (graph.neighbors_key, "neighbors") if k is not None}
            nk |= {prefix + r.key for r in graph_refs}
            parents = (*(p for p in parents if p not in nk), prefix + steps[-1])
    else:
        uses, parents = _scanpy_uses(ctx), ()
    return StepEntry(
        key=key,
        kind=kind,
        history=tuple(ctx.records),
        n_stored=ctx.history.n_stored,
        findings=tuple(findings),
        uses=uses,
        parents=parents,
        checked=rec is not None and ctx.check_data and ctx.same_cells,
    )


def _scanpy_uses(ctx: StepContext) -> tuple[str, ...]:
    """The clustering keys an unrecorded result names (``groupby``, PAGA's ``groups``)."""
    prefix = getattr(ctx.src, "prefix", "")
    names = scanpy_groupby(ctx)
    if isinstance(names, str):
        names = [names]
    return tuple(prefix + str(n) for n in names or ())
