"""A result whose clustering kept its partition: renamed or reordered categories.

Whether a rename or a reorder of the categories leaves a result true depends on how the
result names the groups:

- by name (markers' record arrays, a dendrogram's ``categories_ordered``): a reorder is no
  change; a rename leaves the result naming the old groups, unless the names in it were
  renamed too (``adata.rename_categories`` renames the fields of markers grouped by the key);
  the result is still right, so it is the warning ``labels_renamed``;
- by position in the categories (PAGA's connectivities, a dendrogram's
  ``categories_idx_ordered``): a rename is no change; a reorder attributes the result to
  other clusters (a PAGA graph whose nodes now carry other names), so it is ``stale_result``
  with the cause ``reordered``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from .catalogue import Finding
from .context import KeyContext
from .neighbors import holder, place

if TYPE_CHECKING:
    from collections.abc import Callable

    from provenance._schema.models import ClusteringUse, ResultRecord

    from .context import StepContext

__all__ = ["same_partition"]

_BY_POSITION = ("paga", "dendrogram")
"""Results that index the groups by their position among the categories."""
_BY_NAME = ("rank_genes_groups", "filter_rank_genes_groups", "dendrogram")
"""Results that name the groups."""


def same_partition(
    ctx: StepContext,
    rec: ResultRecord,
    use: ClusteringUse,
    *,
    renamed: bool,
    facts: dict[str, Any],
    stale: Callable[[str, dict[str, Any]], Finding],
    rerun: tuple[str, str],
) -> list[Finding]:
    """The findings of a result whose clustering ``use.key`` has the partition it used.

    ``renamed``: the label strings differ (else only the order or unused categories did).
    ``stale`` makes a ``stale_result`` from what happened and the facts; ``rerun`` is the
    recorded call and its note.
    """
    col = facts["clustering_key"]
    mapping = _mapping(ctx, col, use) if renamed else {}
    now = _categories(ctx, col)
    if rec.kind in _BY_POSITION and mapping is not None:
        then = [mapping.get(c, c) for c in use.categories]  # then, under today's names
        if now[: len(then)] != then:
            what = (
                f"the categories of obs[{col!r}] were reordered after it was computed from "
                f"them: it indexes the groups by position, so its {_what(rec)} now belong to "
                "other clusters than their names say"
            )
            return [stale(what, {**facts, "cause": "reordered", "categories_then": then})]
    if not renamed or rec.kind not in _BY_NAME:
        return []
    if rec.kind != "dendrogram" and _groups_follow(ctx, now):
        return []  # adata.rename_categories renamed the markers' groups too
    call, note = rerun
    shown = ", ".join(f"{a!r}→{b!r}" for a, b in list((mapping or {}).items())[:6])
    msg = (
        f"{place(ctx.src, ctx.key)}: the clusters of obs[{col!r}] were renamed after it was "
        f"computed from them{' (' + shown + ')' if shown else ''}: the same cells are in each, "
        "so the result holds, but it names the groups by their old names. Re-run "
        f"{call}{note} inside provenance.record({holder(ctx.src)}) for a result under the new "
        "names."
    )
    details = {
        "function": rec.function,
        "version": rec.version,
        "rerun": call,
        **facts,
        "cause": "renamed",
        "mapping": mapping,
    }
    return [Finding("labels_renamed", ctx.key, msg, details)]


def _what(rec: ResultRecord) -> str:
    return "connectivities" if rec.kind == "paga" else "leaf order"


def _categories(ctx: StepContext, col: str) -> list[str]:
    column = ctx.src.obs_column(col)
    if not hasattr(column, "cat"):
        column = column.astype("category")
    return [str(c) for c in column.cat.categories]


def _mapping(ctx: StepContext, col: str, use: ClusteringUse) -> dict[str, str] | None:
    """Old name → new name of the renamed clusters, as the clustering's labels check proves
    it from its record; ``None`` when it cannot (the result used another version, or clusters
    of equal size could have swapped names)."""
    from .checks_labels import check_labels

    clustering = KeyContext(ctx.audit, col)
    latest = clustering.latest
    if latest is None or use.record is None or latest.digest != use.record.digest:
        return None
    for f in check_labels(clustering):
        if f.code == "labels_renamed":
            mapping = f.details.get("mapping")
            return dict(mapping) if mapping is not None else None
    return None


def _groups_follow(ctx: StepContext, now: list[str]) -> bool:
    """Whether the groups markers name (the fields of ``names``) are categories now."""
    from provenance._storage.uns_parts import uns_part_meta

    groups = uns_part_meta(ctx.src, ctx.key, "names")[1]
    return bool(groups) and set(groups) <= set(now)
