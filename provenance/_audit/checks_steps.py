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

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError

from .catalogue import Finding
from .checks_outputs import check_output
from .checks_records import check_chain, check_records
from .checks_refs import check_parents
from .checks_step_graphs import check_step_graphs
from .context import KeyContext, check
from .neighbors import call_text, remade, short_function, step_records, when

if TYPE_CHECKING:
    from provenance._schema.models import ClusteringUse, GraphInfo, RecordRef, ResultRecord

    from .context import Check, StepContext

__all__ = ["STEP_CHECKS", "scanpy_groupby"]

# The arguments a re-run needs, by kind: what says which labels and where the result goes.
_RERUN = {
    "rank_genes_groups": ("groupby", "key_added"),
    "filter_rank_genes_groups": ("key", "groupby", "key_added"),
    "dendrogram": ("groupby", "key_added"),
    "paga": ("groups", "neighbors_key"),
}


def _rerun(rec: ResultRecord) -> str:
    args = {n: rec.arguments[n] for n in _RERUN.get(rec.kind, ()) if rec.arguments.get(n)}
    return call_text(rec.function, args)


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
    msg = (
        f"uns[{key!r}] had a provenance history ({v} version{'s' * (v != 1)}, says "
        f"uns['provenance_index']) but it is gone: the {ctx.kind} step was re-run outside "
        "provenance.record(), so what it holds now is unrecorded. Restore the history from "
        "an earlier copy of the file, or re-run the step inside provenance.record()."
    )
    return [Finding("history_lost", key, msg, {"indexed_version": v, "kind": ctx.kind})]


@check("subset_or_reordered")
def check_step_cells(ctx: StepContext) -> list[Finding]:
    """Other cells than the step ran on: its result cannot be checked against the record."""
    rec = ctx.latest
    if rec is None or ctx.same_cells:
        return []
    n_now = ctx.src.n_obs
    how = (
        f"it has {n_now} cells, the step ran on {rec.n_obs}"
        if n_now != rec.n_obs
        else "the same number of cells, but obs_names are reordered or renamed"
    )
    msg = (
        f"uns[{ctx.key!r}] ({short_function(rec.function)}): the object was subset, reordered "
        f"or concatenated since the step ran ({how}); what it used cannot be checked against "
        "the record. Re-run it on this object inside provenance.record(adata)."
    )
    details = {"n_obs_then": rec.n_obs, "n_obs_now": n_now}
    return [Finding("subset_or_reordered", ctx.key, msg, details)]


@check("stale_result", "graph_changed_by_step")
def check_stale(ctx: StepContext) -> list[Finding]:
    """A recorded result whose labels, graph or parent step changed since it was computed."""
    rec = _result(ctx)
    if rec is None or (ctx.src.n_obs != rec.n_obs):
        return []
    out = [f for use in rec.uses for f in _stale_use(ctx, rec, use)]
    out += _stale_graph(ctx, rec)
    out += _stale_parents(ctx, rec)
    return out


def _stale(ctx: StepContext, rec: ResultRecord, what: str, facts: dict[str, Any]) -> Finding:
    msg = (
        f"uns[{ctx.key!r}]: {what}, so it describes what is no longer in the object; re-run "
        f"{_rerun(rec)} inside provenance.record(adata)."
    )
    details = {"function": rec.function, "version": rec.version, "rerun": _rerun(rec), **facts}
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
            if names == use.names_digest:
                return []  # the same label for every cell: reordered or unused categories only
            what = (
                f"the categories of obs[{col!r}] were renamed after {fn} was computed from "
                f"them ({used}): it names the old groups"
            )
            return [_stale(ctx, rec, what, {**facts, "cause": "renamed"})]
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
        what = (
            f"obs[{col!r}] was re-clustered (version {latest.version}, recorded at {t}) after "
            f"{fn} was computed from {used}"
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
    facts: dict[str, Any] = {"obsp_key": g.obsp_key, "neighbors_key": nk}
    if not ctx.check_data or not ctx.same_cells:
        latest = step_records(ctx.src, nk)[-1:] if nk is not None else []
        if ref is None or not latest or latest[0].digest == ref.digest:
            return []
        how = remade(
            ctx.src, nk or "", obsp_key=g.obsp_key, digest_then=g.digest, graph_now=None, ref=ref
        )
        what = (
            f"its graph obsp[{g.obsp_key!r}] was "
            + (how[0] if how else f"re-made (uns[{nk!r}] version {latest[0].version})")
            + f" after {fn} read version {ref.version}"
        )
        return [_stale(ctx, rec, what, {**facts, "cause": "graph_changed"})]
    if not ctx.src.has_obsp(g.obsp_key):
        what = f"its graph obsp[{g.obsp_key!r}] is gone"
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
    what = f"its graph obsp[{g.obsp_key!r}] changed after {fn} read it ({result.detail})"
    if how is not None:
        what = f"its graph obsp[{g.obsp_key!r}] was {how[0]}, after {fn} read it"
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
    msg = (
        f"uns[{ctx.key!r}]: its graph obsp[{g.obsp_key!r}] changed after {fn} read it: "
        f"{steps.text()}. The result was computed from the graph before; to have them agree, "
        f"re-run {_rerun(rec)} after that step inside provenance.record(adata)."
    )
    details = {
        "function": rec.function,
        "version": rec.version,
        "obsp_key": g.obsp_key,
        "digest_then": g.digest,
        "rerun": _rerun(rec),
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
            f"uns[{prefix + ref.key!r}] was recomputed (version {now.version}, recorded at "
            f"{when(now.finished_at or now.started_at)}) after {short_function(rec.function)} "
            f"read version {ref.version}"
        )
        facts = {"cause": "parent_changed", "parent": prefix + ref.key, "version_now": now.version}
        out.append(_stale(ctx, rec, what, {**facts, "version_used": ref.version}))
    return out


# --- results made without record(): what scanpy left --------------------------------------


def _plain(value: Any) -> Any:
    """A scalar scanpy stored (from a file: a 0-d or 1-element array, or bytes) as Python."""
    if hasattr(value, "shape") and getattr(value, "size", 0) == 1:
        value = value.reshape(-1)[0]
    if type(value).__module__ == "numpy" and hasattr(value, "item"):
        value = value.item()
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def scanpy_groupby(ctx: StepContext) -> list[str]:
    """The ``obs`` columns an unrecorded result names: ``params["groupby"]`` of markers, a
    dendrogram's ``groupby``, PAGA's ``groups``."""
    from provenance._storage.uns_parts import uns_part

    if ctx.kind in ("rank_genes_groups", "filter_rank_genes_groups"):
        params = ctx.entry.get("params") if isinstance(ctx.entry, Mapping) else None
        value = params.get("groupby") if isinstance(params, Mapping) else None
    elif ctx.kind == "dendrogram":
        value = uns_part(ctx.src, ctx.key, "groupby")
    elif ctx.kind == "paga":
        value = uns_part(ctx.src, ctx.key, "groups")
    else:
        return []
    if value is None:
        return []
    if isinstance(value, str | bytes) or getattr(value, "ndim", 1) == 0:
        return [str(_plain(value))]
    return [str(_plain(v)) for v in value]


def _categories(ctx: StepContext, col: str) -> tuple[list[str], set[str]]:
    """The categories of ``obs[col]``, and those that label a cell."""
    column = ctx.src.obs_column(col)
    if not hasattr(column, "cat"):
        column = column.astype("category")
    cats = [str(c) for c in column.cat.categories]
    used = {str(c) for c in column.dropna().unique()}
    return cats, used


@check("stale_result_suspected")
def check_suspected(ctx: StepContext) -> list[Finding]:
    """An unrecorded result whose groups are not the categories of its column now."""
    from provenance._storage.uns_parts import uns_part, uns_part_meta

    if ctx.history.n_stored or ctx.kind == "neighbors" or ctx.key in ctx.src.uns_errors:
        return []
    prefix = getattr(ctx.src, "prefix", "")
    groupby = scanpy_groupby(ctx)
    if not groupby:
        return []
    cols = [prefix + g for g in groupby]
    gone = [c for c in cols if c not in ctx.src.obs_columns()]
    what = f"uns[{ctx.key!r}], made without provenance.record(),"
    if gone:
        msg = (
            f"{what} was computed from obs[{gone[0]!r}], which is gone: it probably describes "
            "labels no longer in the object. Re-run it on the current labels (inside "
            "provenance.record(adata), for a checkable record)."
        )
        return [
            Finding("stale_result_suspected", ctx.key, msg, {"column": gone[0], "cause": "gone"})
        ]
    if not ctx.check_data or len(cols) != 1:
        return []  # the categories are data (a dendrogram of several columns joins theirs)
    col = cols[0]
    cats, used = _categories(ctx, col)
    facts: dict[str, Any] = {"column": col, "categories_now": cats[:50]}
    if ctx.kind in ("rank_genes_groups", "filter_rank_genes_groups"):
        groups = list(uns_part_meta(ctx.src, ctx.key, "names")[1])
        foreign = [g for g in groups if g not in set(cats)]
        if not foreign:
            return []
        seen = f"its groups {', '.join(map(repr, foreign[:5]))} are not categories of obs[{col!r}]"
        facts |= {"groups": groups[:50], "not_categories": foreign[:50]}
    elif ctx.kind == "dendrogram":
        ordered = uns_part(ctx.src, ctx.key, "categories_ordered")
        if ordered is None:
            return []
        names = [str(_plain(v)) for v in ordered]
        if set(names) <= set(cats) and used <= set(names):
            return []
        seen = (
            f"its categories_ordered ({len(names)}: {', '.join(names[:5])}"
            f"{', …' if len(names) > 5 else ''}) are not the categories of obs[{col!r}]"
        )
        facts |= {"categories_ordered": names[:50]}
    else:  # paga
        shape = uns_part_meta(ctx.src, ctx.key, "connectivities")[0]
        if not shape or shape[0] == len(cats):
            return []
        seen = (
            f"its connectivities are between {shape[0]} groups, obs[{col!r}] has {len(cats)} "
            "categories"
        )
        facts |= {"n_groups": shape[0]}
    msg = (
        f"{what} looks stale: {seen}; it was probably computed from other labels (a weaker "
        "check than a record's). Re-run it on the current labels, inside "
        "provenance.record(adata) so the next audit can tell exactly."
    )
    return [Finding("stale_result_suspected", ctx.key, msg, {**facts, "cause": "categories"})]


STEP_CHECKS: tuple[Check, ...] = (
    check_records,  # the stored history readable
    check_chain,  # its hash chain, and its length against the index
    check_step_lost,  # a history the index knows of, gone
    check_step_cells,  # the cells the step ran on
    check_step_graphs,  # the graphs it wrote (a neighbors record's) against obsp
    check_stale,  # a recorded result's labels, graph and parents against the object
    check_parents,  # the parent records it names, in the object
    check_output,  # what a recorded step wrote (an embedding) against its digest
    check_suspected,  # an unrecorded result against what scanpy left
)
