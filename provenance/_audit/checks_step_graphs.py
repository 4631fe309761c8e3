"""A step's own outputs against the object: the graphs a recorded ``sc.pp.neighbors`` wrote.

A :class:`~provenance._schema.models.NeighborsRecord` keeps the digest of every graph it wrote
(``graphs``: ``obsp['connectivities']``, ``obsp['distances']``). Its latest record is compared
with ``obsp`` now, as a clustering's record is with the graph it clustered
(``checks_data.check_graph``): a graph edited in place is ``graph_changed`` on the step's key
(``"neighbors"``), a deleted one ``graph_missing``. Only the latest record is compared (a
re-run's graph is the new one), only on the cells the step ran on (else
``subset_or_reordered`` says it), only when data are checked.

:func:`changed_graph_finding` decides what a changed graph is reported as. A later recorded
step that changed it in place (``sc.tl.umap`` under scanpy 1.11 zeroes some connectivities)
is the cause (``graph_steps.explain_graph_change``): proven from its record (undoing its kept
changes gives the digest the neighbors record wrote), it is no finding on the neighbors step,
whose record is still true and whose lineage goes on through the umap record; explained by
digests alone, ``graph_changed_by_step`` (a warning); unexplained, ``graph_changed``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError

from .catalogue import Finding
from .context import check
from .neighbors import place, short_function, when

if TYPE_CHECKING:
    from provenance._schema.models import GraphInfo, StepRecord
    from provenance._storage.graph import CurrentGraph, GraphCheck

    from .context import KeyContext, StepContext

__all__ = ["changed_graph_finding", "check_step_graphs", "obsp_name", "uns_name"]


def uns_name(ctx: KeyContext, key: str | None = None) -> str:
    """Where ``uns[key]`` is, as the user reaches it: ``mdata['rna'].uns['neighbors']`` for a
    MuData modality's ``"rna:neighbors"``."""
    return place(ctx.src, ctx.key if key is None else key)


def obsp_name(ctx: KeyContext, obsp_key: str) -> str:
    """``obsp[obsp_key]`` of the step's object (``mdata['rna'].obsp[...]`` for a modality)."""
    return place(ctx.src, getattr(ctx.src, "prefix", "") + obsp_key, "obsp")


@check("graph_not_checkable", "graph_missing", "graph_changed", "graph_changed_by_step")
def check_step_graphs(ctx: StepContext) -> list[Finding]:
    """Each graph the latest record says the step wrote, against ``obsp`` now."""
    rec = ctx.latest
    graphs: dict[str, GraphInfo] | None = getattr(rec, "graphs", None)
    if rec is None or not graphs or not ctx.check_data or not ctx.same_cells:
        return []  # nothing written recorded, data not read, or other cells (said elsewhere)
    return [f for role, g in graphs.items() for f in _check_written(ctx, rec, role, g)]


def _check_written(ctx: StepContext, rec: StepRecord, role: str, g: GraphInfo) -> list[Finding]:
    from provenance._util.fingerprint import GRAPH_ALGORITHMS, GRAPH_HASH_ALGORITHM

    if g.obsp_key is None:
        return []  # a step writes to obsp; nothing else is recorded as written
    fn, where = short_function(rec.function), obsp_name(ctx, g.obsp_key)
    facts: dict[str, Any] = {"obsp_key": g.obsp_key, "role": role, "version": rec.version}
    if g.hash_algorithm not in GRAPH_ALGORITHMS:
        msg = (
            f"{uns_name(ctx)}: the digest of {where}, which {fn} wrote, uses "
            f"{g.hash_algorithm!r}, which this version does not compute "
            f"({GRAPH_HASH_ALGORITHM!r}); upgrade anndata-provenance to check it."
        )
        return [Finding("graph_not_checkable", ctx.key, msg, facts)]
    if not ctx.src.has_obsp(g.obsp_key):
        msg = (
            f"{where}, the {role} graph {fn} wrote (version {rec.version} of "
            f"{uns_name(ctx)}), is gone: what was computed from it cannot be checked against "
            "it. Restore it from a copy of the file, or re-run the step (and what used its "
            "graph) inside provenance.record(adata)."
        )
        return [Finding("graph_missing", ctx.key, msg, facts)]
    current = ctx.audit.graph(g.obsp_key)
    try:
        if isinstance(current, ProvenanceError):
            raise current
        result = current.check(g)
    except ProvenanceError as e:  # a backed or dask matrix; index values no dtype holds
        msg = f"{uns_name(ctx)}: {where}, which {fn} wrote, cannot be checked: {e}"
        return [Finding("graph_not_checkable", ctx.key, msg, facts)]
    if result.matches:
        return []
    found = changed_graph_finding(ctx, rec, role, g, result, current)
    return [] if found is None else [found]


def changed_graph_finding(
    ctx: StepContext,
    rec: StepRecord,
    role: str,
    g: GraphInfo,
    result: GraphCheck,
    current: CurrentGraph,
) -> Finding | None:
    """The finding for a graph the step wrote that is in ``obsp`` but no longer as written.

    The one place that decides it: recorded steps that changed this graph in place since
    (``sc.tl.umap`` of scanpy 1.11) are the cause. Proven from their records, nothing is
    wrong with the step (``None``); explained by digests alone, ``graph_changed_by_step``;
    otherwise the change is unexplained: ``graph_changed``.
    """
    from .graph_steps import explain_graph_change

    fn, where = short_function(rec.function), obsp_name(ctx, g.obsp_key or "")
    steps = explain_graph_change(ctx.src, g.obsp_key or "", g.digest, current)
    if steps is not None and steps.proven:
        return None  # the later step's record accounts for every change, exactly
    if steps is not None:
        msg = (
            f"{where} changed after {fn} wrote it ({uns_name(ctx)} version {rec.version}): "
            f"{steps.text()} (the records lead from the graph written to this one, but its "
            "kept changes do not prove it). Restore the graph from a copy of the file, or "
            f"re-run {fn} and what used its graph inside provenance.record(adata)."
        )
        details = {
            "obsp_key": g.obsp_key,
            "role": role,
            "version": rec.version,
            "digest_then": g.digest,
            **steps.details(),
        }
        return Finding("graph_changed_by_step", ctx.key, msg, details)
    # scanpy's guess ("e.g. sc.pp.neighbors re-run") is no explanation of the step's own graph:
    # a re-run outside record() replaces uns[key] too (history_lost).
    detail = result.detail.removesuffix("; e.g. sc.pp.neighbors re-run")
    if result.cause == "dtype":
        advice = f"Cast it back to {g.dtype}; nothing else changed."
    else:
        advice = (
            "What was computed from it since (clusterings, PAGA, UMAP) did not read the graph "
            f"{fn} made; restore the graph from a copy of the file, or re-run {fn} and what "
            "used its graph inside provenance.record(adata)."
        )
    msg = (
        f"{where} changed after {fn} wrote it ({uns_name(ctx)} version {rec.version}, recorded "
        f"at {when(rec.finished_at or rec.started_at)}): {detail}. {advice}"
    )
    details = {
        "obsp_key": g.obsp_key,
        "role": role,
        "version": rec.version,
        "cause": result.cause,
        **result.facts,
        "digest_now": result.fingerprint.digest,
    }
    return Finding("graph_changed", ctx.key, msg, details)
