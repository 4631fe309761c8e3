"""Checks of the steps around clusterings: their own history, and whether a result is stale.

A recorded result (markers, dendrogram, PAGA) keeps, for each clustering it grouped by, the
digests of the labels it used (``ClusteringUse``): of the partition and of each cell's label
name, both invariant to the order of the categories and to unused ones. When the labels in
``obs`` now give other digests, or the column is gone, the result is ``stale_result``; so it
is when a step it read (PAGA's graph, the markers a filter read) was re-made since. A result
made without ``record()`` is checked, more weakly, against what scanpy left
(``stale_result_suspected``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError

from .catalogue import Finding
from .checks_groups import same_partition
from .checks_outputs import check_output
from .checks_records import check_chain, check_records
from .checks_refs import check_parents
from .checks_step_graphs import check_step_graphs
from .checks_step_params import check_step_params
from .checks_suspected import check_suspected, scanpy_groupby
from .context import KeyContext, check
from .neighbors import holder, place, recorded_call, remade, short_function, step_records, when
from .parents import parent_note

if TYPE_CHECKING:
    from provenance._schema.models import ClusteringUse, GraphInfo, RecordRef, ResultRecord

    from .context import Check, StepContext

__all__ = ["STEP_CHECKS", "scanpy_groupby"]


def _rerun(ctx: StepContext, rec: ResultRecord) -> tuple[str, str]:
    """The recorded call, runnable as printed, and what to say of arguments it cannot show."""
    text, unkept = recorded_call(rec.function, rec.arguments, obj=holder(ctx.src))
    if not unkept:
        return text, ""
    names = ", ".join(unkept)
    note = (
        f" with the same {names} as before (the record keeps a digest of "
        f"{'it' if len(unkept) == 1 else 'them'}, not the value)"
    )
    return text, note


def _result(ctx: StepContext) -> ResultRecord | None:
    from provenance._schema.models import ResultRecord

    rec = ctx.latest
    return rec if isinstance(rec, ResultRecord) else None


@check("history_lost")
def check_step_lost(ctx: StepContext) -> list[Finding]:
    """``uns["provenance_index"]`` says the step had a history, and ``uns[key]`` has none."""
    key = ctx.key
    if ctx.history.n_stored or ctx.key in ctx.src.uns_errors or key not in ctx.audit.index:
        return []
    v = ctx.audit.index[key]["version"]
    had = (
        f"{place(ctx.src, key)} had a provenance history ({v} version{'s' * (v != 1)}, says "
        "uns['provenance_index']) but it is gone: "
    )
    from provenance._storage.uns_parts import uns_names

    if key not in ctx.src.uns and key not in uns_names(ctx.src):
        # Deleted as a whole (del uns[key]): what the step wrote may still be read by others.
        why = (
            "the entry was deleted, so what the step wrote is still in the object with no "
            "record of how it was made"
        )
        cause = "deleted"
    elif ctx.kind == "transform":
        why = (
            f"the {ctx.kind} step was re-run outside provenance.record(), or its history "
            "removed by hand, so what it wrote is unrecorded"
        )
        cause = "removed"
    else:
        why = (
            f"the {ctx.kind} step was re-run outside provenance.record(), so what it holds "
            "now is unrecorded"
        )
        cause = "rerun"
    msg = (
        f"{had}{why}. Restore the history from an earlier copy of the file, or re-run the "
        "step (and what was made from it) inside provenance.record()."
    )
    details = {"indexed_version": v, "kind": ctx.kind, "cause": cause}
    return [Finding("history_lost", key, msg, details)]


@check("subset_or_reordered")
def check_step_cells(ctx: StepContext) -> list[Finding]:
    """Other cells than the step ran on: its result cannot be checked against the record."""
    rec = ctx.latest
    if rec is None or ctx.same_cells:
        return []
    n_now = ctx.src.n_obs
    details = {"n_obs_then": rec.n_obs, "n_obs_now": n_now}
    if ctx.audit.transposed(rec.obs_names_digest):
        msg = (
            f"{place(ctx.src, ctx.key)} ({short_function(rec.function)}): the object is "
            f"transposed (adata.T): its {n_now} observations are the variables (genes) of the "
            f"object the step ran on, and its variables are the {rec.n_obs} cells. Audit the "
            "object as it was (adata.T again)."
        )
        return [Finding("subset_or_reordered", ctx.key, msg, {**details, "transposed": True})]
    if n_now < rec.n_obs:
        how = f"{n_now} of the {rec.n_obs} cells it ran on: a subset"
    elif n_now > rec.n_obs:
        how = f"{n_now} cells, it ran on {rec.n_obs}: a concatenation"
    else:
        how = "the same number of cells, but obs_names are reordered or renamed"
    where = f"{place(ctx.src, ctx.key)} ({short_function(rec.function)})"
    note = parent_note(ctx, (rec.n_obs, rec.obs_names_digest))
    reads, writes = getattr(rec, "reads", None) or {}, getattr(rec, "writes", None) or {}
    slots = list(dict.fromkeys([*reads, *writes]))
    shown = ", ".join(slots[:3]) + (f" and {len(slots) - 3} more" if len(slots) > 3 else "")
    if note is not None and ctx.kind == "transform":
        # One of several transforms carried over from the parent: short.
        msg = (
            f"{where}: other cells than it ran on ({how}): the parent object's history, kept "
            f"({_first_of(note[1])}). What it read and wrote "
            f"({shown or 'nothing recorded'}) is not compared; nothing to do if it is meant "
            "to be carried over."
        )
        return [Finding("subset_or_reordered", ctx.key, msg, {**details, "parent_of": note[1]})]
    if note is not None:
        msg = (
            f"{where}: the object holds other cells than the step ran on ({how}); {note[0]}. "
            "What it used is not compared with this object (nothing here contradicts it). "
            "Nothing to do if it is meant to be carried over; re-run it on this object inside "
            f"provenance.record({holder(ctx.src)}) if its result should describe these cells."
        )
        return [Finding("subset_or_reordered", ctx.key, msg, {**details, "parent_of": note[1]})]
    if ctx.kind == "transform":
        # One of several on the same cells: short (what a transform has is its slots).
        msg = (
            f"{where}: other cells than it ran on ({how}); what it read and wrote "
            f"({shown or 'nothing recorded'}) is not compared with the record. Audit the "
            "original object to check it."
        )
        return [Finding("subset_or_reordered", ctx.key, msg, details)]
    used = (
        "the labels and graph it used"
        if not slots
        else f"what it read and wrote ({', '.join(slots)})"
    )
    msg = (
        f"{where}: the object holds other cells than the step ran on ({how}), so {used} "
        "is not compared with the record (nothing here contradicts it). "
        "Audit the original object to check it; re-run it on this one inside "
        f"provenance.record({holder(ctx.src)}) if this is what you analyse."
    )
    return [Finding("subset_or_reordered", ctx.key, msg, details)]


def _first_of(says: list[str]) -> str:
    """``"neighbors v2 names it as parent, and 2 more"``; the call that made the object from
    it (a subsample) first."""
    says = sorted(says, key=lambda t: "made this object" not in t)
    return says[0] + (f", and {len(says) - 1} more" if len(says) > 1 else "") if says else ""


@check("stale_result", "labels_renamed", "graph_changed_by_step")
def check_stale(ctx: StepContext) -> list[Finding]:
    """A recorded result whose labels, graph or parent step changed since it was computed."""
    rec = _result(ctx)
    if rec is None or ctx.audit.transposed(rec.obs_names_digest):
        return []  # transposed: the cells are the variables, subset_or_reordered says so
    # On other cells (a subset) the labels cannot be compared, but the histories still tell
    # a clustering re-run, or a step re-made, after the result was computed.
    out = [f for use in rec.uses for f in _stale_use(ctx, rec, use)]
    out += _stale_graph(ctx, rec)
    out += _stale_parents(ctx, rec)
    return out


def _stale(ctx: StepContext, rec: ResultRecord, what: str, facts: dict[str, Any]) -> Finding:
    call, note = _rerun(ctx, rec)
    msg = (
        f"{place(ctx.src, ctx.key)}: {what}, so it describes what is no longer in the object; "
        f"re-run {call}{note} inside provenance.record({holder(ctx.src)})."
    )
    details = {"function": rec.function, "version": rec.version, "rerun": call, **facts}
    return Finding("stale_result", ctx.key, msg, details)


def _stale_use(ctx: StepContext, rec: ResultRecord, use: ClusteringUse) -> list[Finding]:
    """The labels of one clustering the result grouped by, against ``obs`` now."""
    from provenance._util.fingerprint import HASH_ALGORITHM

    prefix = getattr(ctx.src, "prefix", "")
    col = prefix + use.key
    fn = short_function(rec.function)
    used = f"version {use.record.version}" if use.record is not None else "unrecorded labels"
    facts: dict[str, Any] = {
        "clustering_key": col,
        "version_used": use.record.version if use.record is not None else None,
    }
    if col not in ctx.src.obs_columns():
        what = f"obs[{col!r}], the labels {fn} was computed from ({used}), is gone"
        return [_stale(ctx, rec, what, {**facts, "cause": "labels_missing"})]
    clustering = KeyContext(ctx.audit, col)
    latest = clustering.latest
    by_data = (
        ctx.check_data
        and use.hash_algorithm == HASH_ALGORITHM
        and ctx.audit.names_digest() == use.obs_names_digest
    )
    if by_data:
        partition, names = ctx.audit.label_names(col)
        if partition == use.partition_digest:
            return same_partition(
                ctx,
                rec,
                use,
                renamed=names != use.names_digest,
                facts=facts,
                stale=lambda what, f: _stale(ctx, rec, f"{what} ({fn}, {used})", f),
                rerun=_rerun(ctx, rec),
            )
        column = ctx.src.obs_column(col)
        n_now = int(column.nunique())
    elif latest is None or latest.result.partition_digest == use.partition_digest:
        return []  # without the labels, only a newer recorded clustering tells
    else:
        n_now = latest.result.n_clusters
    if (
        latest is not None
        and latest.result.partition_digest != use.partition_digest
        and (use.record is None or latest.digest != use.record.digest)
    ):
        t = when(latest.finished_at or latest.started_at)
        if use.record is not None and latest.version <= use.record.version:
            what = (
                f"obs[{col!r}] is at version {latest.version} (recorded at {t}), not the "
                f"version {use.record.version} {fn} was computed from: its history was rolled "
                "back or replaced"
            )
            facts |= {"cause": "rolled_back", "version_now": latest.version}
        else:
            what = (
                f"obs[{col!r}] was re-clustered (version {latest.version}, recorded at {t}) "
                f"after {fn} was computed from {used}"
            )
            facts |= {"cause": "reclustered", "version_now": latest.version}
    else:
        what = (
            f"obs[{col!r}] changed outside provenance.record() after {fn} was computed from "
            f"{used} ({use.n_clusters} clusters then, {n_now} now: re-clustered or edited)"
        )
        facts |= {"cause": "changed"}
    return [_stale(ctx, rec, what, {**facts, "n_clusters_then": use.n_clusters})]


def _graph_parent(ctx: StepContext, rec: ResultRecord) -> tuple[str | None, RecordRef | None]:
    """The neighbors key whose graph the result read, and the record of it the result names:
    ``graph.neighbors_key``, else the parent whose history is of ``sc.pp.neighbors`` (PAGA's
    default ``neighbors_key=None`` reads ``uns["neighbors"]``)."""
    from provenance._schema.models import NeighborsRecord

    prefix = getattr(ctx.src, "prefix", "")
    g = rec.graph
    for ref in rec.parents:
        named = g is not None and g.neighbors_key is not None and ref.key == g.neighbors_key
        records = step_records(ctx.src, prefix + ref.key)
        if named or (records and isinstance(records[-1], NeighborsRecord)):
            return prefix + ref.key, ref
    if g is not None and g.neighbors_key is not None:
        return prefix + g.neighbors_key, None
    return None, None


def _stale_graph(ctx: StepContext, rec: ResultRecord) -> list[Finding]:
    """PAGA's graph: the one in ``obsp`` now against the recorded digest (or, without data
    checks, the neighbors record it read against that key's latest)."""
    g, fn = rec.graph, short_function(rec.function)
    if g is None or g.obsp_key is None:
        return []
    nk, ref = _graph_parent(ctx, rec)
    prefix = getattr(ctx.src, "prefix", "")
    facts: dict[str, Any] = {"obsp_key": g.obsp_key, "neighbors_key": nk}
    if not ctx.check_data or not ctx.same_cells:
        latest = step_records(ctx.src, nk)[-1:] if nk is not None else []
        if ref is None or not latest or latest[0].digest == ref.digest:
            return []
        where = place(ctx.src, nk or "")
        how = remade(
            ctx.src, nk or "", obsp_key=g.obsp_key, digest_then=g.digest, graph_now=None, ref=ref
        )
        what = (
            f"its graph {place(ctx.src, prefix + g.obsp_key, 'obsp')} was "
            + (how[0] if how else f"re-made ({where} version {latest[0].version})")
            + f" after {fn} read version {ref.version}"
        )
        return [_stale(ctx, rec, what, {**facts, "cause": "graph_changed"})]
    if not ctx.src.has_obsp(g.obsp_key):
        what = f"its graph {place(ctx.src, prefix + g.obsp_key, 'obsp')} is gone"
        return [_stale(ctx, rec, what, {**facts, "cause": "graph_missing"})]
    current = ctx.audit.graph(g.obsp_key)
    if isinstance(current, ProvenanceError):
        return []
    try:
        result = current.check(g)
    except ProvenanceError:
        return []
    if result.matches:
        return []
    by_step = _graph_by_step(ctx, rec, g, current)
    if by_step is not None:
        return [by_step]
    how = None
    if nk is not None:
        how = remade(
            ctx.src, nk, obsp_key=g.obsp_key, digest_then=g.digest, graph_now=current, ref=ref
        )
    graph = place(ctx.src, prefix + g.obsp_key, "obsp")
    what = f"its graph {graph} changed after {fn} read it ({result.detail})"
    if how is not None:
        what = f"its graph {graph} was {how[0]}, after {fn} read it"
        facts["neighbors"] = how[1]
    return [_stale(ctx, rec, what, {**facts, "cause": "graph_changed"})]


def _graph_by_step(
    ctx: StepContext, rec: ResultRecord, g: GraphInfo, current: Any
) -> Finding | None:
    """``graph_changed_by_step`` when recorded steps explain how the result's graph changed."""
    from .graph_steps import explain_graph_change

    assert g.obsp_key is not None
    steps = explain_graph_change(ctx.src, g.obsp_key, g.digest, current)
    if steps is None:
        return None
    fn = short_function(rec.function)
    call, note = _rerun(ctx, rec)
    prefix = getattr(ctx.src, "prefix", "")
    msg = (
        f"{place(ctx.src, ctx.key)}: its graph {place(ctx.src, prefix + g.obsp_key, 'obsp')} "
        f"changed after {fn} read it: {steps.text()}. The result was computed from the graph "
        f"before; to have them agree, re-run {call}{note} after that step inside "
        f"provenance.record({holder(ctx.src)})."
    )
    details = {
        "function": rec.function,
        "version": rec.version,
        "obsp_key": g.obsp_key,
        "digest_then": g.digest,
        "rerun": call,
        **steps.details(),
    }
    return Finding("graph_changed_by_step", ctx.key, msg, details)


def _stale_parents(ctx: StepContext, rec: ResultRecord) -> list[Finding]:
    """Steps it read besides its graph (the markers a filter read), re-made since."""
    prefix = getattr(ctx.src, "prefix", "")
    graph_key = _graph_parent(ctx, rec)[0] if rec.graph is not None else None
    out = []
    for ref in rec.parents:
        if prefix + ref.key == graph_key:
            continue  # the graph check says it
        latest = step_records(ctx.src, prefix + ref.key)[-1:]
        if not latest or latest[0].digest == ref.digest or latest[0].version <= ref.version:
            continue
        now = latest[0]
        what = (
            f"{place(ctx.src, prefix + ref.key)} was recomputed (version {now.version}, "
            f"recorded at {when(now.finished_at or now.started_at)}) after "
            f"{short_function(rec.function)} read version {ref.version}"
        )
        facts = {"cause": "parent_changed", "parent": prefix + ref.key, "version_now": now.version}
        out.append(_stale(ctx, rec, what, {**facts, "version_used": ref.version}))
    return out


STEP_CHECKS: tuple[Check, ...] = (
    check_records,  # the stored history readable
    check_chain,  # its hash chain, and its length against the index
    check_step_lost,  # a history the index knows of, gone
    check_step_cells,  # the cells the step ran on
    check_step_params,  # what scanpy kept of its arguments, against the record
    check_step_graphs,  # the graphs it wrote (a neighbors record's) against obsp
    check_stale,  # a recorded result's labels, graph and parents against the object
    check_parents,  # the parent records it names, in the object
    check_output,  # what a recorded step wrote (an embedding) against its digest
    check_suspected,  # an unrecorded result against what scanpy left
)
