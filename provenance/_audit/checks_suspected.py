"""Results made without ``record()`` (markers, dendrogram, PAGA): checked against what scanpy
left, more weakly than a record allows (``stale_result_suspected``)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .catalogue import Finding
from .context import check
from .neighbors import place

if TYPE_CHECKING:
    from .context import StepContext

__all__ = ["check_suspected", "scanpy_groupby"]


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


@check("stale_result_suspected", "subset_or_reordered")
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
    what = f"{place(ctx.src, ctx.key)}, made without provenance.record(),"
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
    then = _labelled_more(ctx, col)
    if then is not None and _covers(facts, cats):
        return [_on_parent(ctx, what, seen, col, then, facts)]
    msg = (
        f"{what} looks stale: {seen}; it was probably computed from other labels (a weaker "
        "check than a record's). Re-run it on the current labels, inside "
        "provenance.record(adata) so the next audit can tell exactly."
    )
    return [Finding("stale_result_suspected", ctx.key, msg, {**facts, "cause": "categories"})]


def _labelled_more(ctx: StepContext, col: str) -> int | None:
    """The number of cells the record of ``obs[col]`` labelled, when more than the object
    holds now (a subset of the object clustered), else ``None``."""
    from provenance._storage.carried import carried

    prefix = getattr(ctx.src, "prefix", "")
    key = col[len(prefix) :]
    rec = next(
        (c for c in carried(getattr(ctx.src, "local_uns", ctx.src.uns)) if c.key == key), None
    )
    if rec is None or rec.cells is None or rec.cells[0] <= ctx.src.n_obs:
        return None
    return rec.cells[0]


def _covers(facts: dict[str, Any], cats: list[str]) -> bool:
    """Whether the result's groups include every category now (a subset drops the others)."""
    groups = facts.get("groups", facts.get("categories_ordered"))
    if groups is not None:
        return set(cats) <= set(map(str, groups))
    return int(facts.get("n_groups", 0)) > len(cats)


def _on_parent(
    ctx: StepContext, what: str, seen: str, col: str, then: int, facts: dict[str, Any]
) -> Finding:
    """A result made without a record whose groups a subset explains: ``subset_or_reordered``."""
    msg = (
        f"{what} does not match the labels now ({seen}), but every category now is among its "
        "groups, "
        f"and the record of obs[{col!r}] labelled {then} cells, of which this object holds "
        f"{ctx.src.n_obs}: it was most likely computed on the whole object, before a subset "
        "(adata[mask] drops the categories of the cells left out), and describes those cells. "
        "Nothing to do if that is meant; re-run it on this object inside "
        "provenance.record(adata) for a result of these cells."
    )
    details = {**facts, "n_obs_then": then, "n_obs_now": ctx.src.n_obs, "cause": "unrecorded"}
    return Finding("subset_or_reordered", ctx.key, msg, details)
