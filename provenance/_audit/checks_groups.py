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
from .checks_suspected import _plain
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
    groups = _groups(ctx, rec, use)
    if rec.kind != "dendrogram" and mapping is not None and _renamed_along(groups, use, mapping):
        return []  # adata.rename_categories renamed the markers' groups too
    moved = [g for g in groups if g in now and (mapping or {}).get(g, g) != g]
    if mapping is not None and moved:
        # A name the result uses now labels other cells (names swapped, or a re-run that
        # numbered the same clusters otherwise): read by name, the result is wrong.
        shown = ", ".join(f"{g!r} now labels the cells of {_old_of(mapping, g)!r}" for g in moved)
        what = (
            f"the clusters of obs[{col!r}] were renamed after it was computed from them, and "
            f"names it uses now label other cells ({shown[:200]})"
        )
        return [stale(what, {**facts, "cause": "renamed", "mapping": mapping})]
    if mapping is None and groups and set(groups) <= set(now):
        return []  # which old name became which cannot be proven: the names are all current
    call, note = rerun
    shown = ", ".join(f"{a!r}→{b!r}" for a, b in list((mapping or {}).items())[:6])
    which = (
        f" ({shown})"
        if shown
        else " (which old name became which cannot be proven: clusters of equal size could "
        "have swapped names)"
    )
    msg = (
        f"{place(ctx.src, ctx.key)}: the clusters of obs[{col!r}] were renamed after it was "
        f"computed from them{which}: the same cells are in each, so the result holds, but it "
        f"names the groups by their old names. Re-run {call}{note} inside "
        f"provenance.record({holder(ctx.src)}) for a result under the new names."
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


def _old_of(mapping: dict[str, str], new: str) -> str:
    return next((a for a, b in mapping.items() if b == new), new)


def _categories(ctx: StepContext, col: str) -> list[str]:
    column = ctx.src.obs_column(col)
    if not hasattr(column, "cat"):
        column = column.astype("category")
    return [str(c) for c in column.cat.categories]


def _mapping(ctx: StepContext, col: str, use: ClusteringUse) -> dict[str, str] | None:
    """Old name → new name of the renamed clusters, proven from cell membership against the
    clustering record the result used (its labels digest); ``None`` when it cannot be (no
    record, or clusters of equal size could have swapped names)."""
    from provenance._util.fingerprint import HASH_ALGORITHM

    from .checks_labels import _compare_labels

    if use.record is None:
        return None
    clustering = KeyContext(ctx.audit, col)
    used = next((r for r in clustering.records if r.digest == use.record.digest), None)
    if used is None or used.result.hash_algorithm != HASH_ALGORITHM or not clustering.same_cells:
        return None
    found = _compare_labels(clustering, used)
    if not found:
        return {}  # every cell keeps the label it had
    mapping = found[0].details.get("mapping") if found[0].code == "labels_renamed" else None
    return dict(mapping) if mapping is not None else None


def _groups(ctx: StepContext, rec: ResultRecord, use: ClusteringUse) -> list[str]:
    """The group names the result holds: the fields of markers' ``names``; a dendrogram's
    ``categories_ordered``."""
    from provenance._storage.uns_parts import uns_part, uns_part_meta

    if rec.kind == "dendrogram":
        ordered = uns_part(ctx.src, ctx.key, "categories_ordered")
        return [] if ordered is None else [str(_plain(v)) for v in ordered]
    return [str(g) for g in uns_part_meta(ctx.src, ctx.key, "names")[1]]


def _renamed_along(groups: list[str], use: ClusteringUse, mapping: dict[str, str]) -> bool:
    """Whether the result's group names are the new names, renamed in place in the order they
    had (``adata.rename_categories`` renames the markers' fields), not the old ones."""
    if not mapping:
        return False
    order = {c: i for i, c in enumerate(use.categories)}
    new_to_old = {b: a for a, b in mapping.items()}
    old = [new_to_old.get(g, g) for g in groups]

    def in_order(names: list[str]) -> bool:
        pos = [order.get(n, -1) for n in names]
        return -1 not in pos and pos == sorted(pos)

    return (in_order(old) and not in_order(groups)) or (
        in_order(old) and not any(g in mapping for g in groups)
    )
