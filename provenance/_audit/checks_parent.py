"""``stale_result`` on a clustering made with ``restrict_to``: its parent's labels are not
those the call read.

While the child (``obs["sub"]``) holds the labels its record describes, they tell what the
call read of the parent (:func:`provenance._util.restrict.parent_read`); that is compared with
the parent column now, and the parent's history, when it is recorded, says how it changed
(re-clustered, and when). The record does not fingerprint the parent column (the schema has
no field for it), so where the child's labels cannot tell (they were edited since), only a
parent version recorded after the child can.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

from provenance._util.restrict import ParentRead, parent_read

from .catalogue import Finding
from .context import KeyContext, check
from .neighbors import short_function, when

if TYPE_CHECKING:
    from provenance._schema.models import ClusteringRecord

__all__ = ["ParentRead", "check_restricted", "parent_read", "parent_used", "recorded_call"]


def recorded_call(rec: ClusteringRecord, *, obj: str = "adata", **replace: Any) -> str:
    """The recorded call as it can be typed again (``sc.tl.leiden(adata, ...)``), with the
    arguments as passed; ``obj`` names the object (``mdata['rna']`` for a modality's key);
    ``replace`` overrides some arguments (a renamed parent's categories)."""
    p: Any = rec.params
    fields = (
        "resolution",
        "random_state",
        "restrict_to",
        "key_added",
        "directed",
        "use_weights",
        "partition_type",
        "neighbors_key",
        "obsp",
        "flavor",
        "n_iterations",
        "partition_kwargs",
    )
    passed = dict(getattr(p, "passed", {}) or {})
    shown = []
    for name in fields:
        if not hasattr(p, name):
            continue
        if name == "flavor" and name not in passed and not _has_flavor(rec):
            continue  # scanpy < 1.10 takes no flavor: the record names the one in effect
        value = replace.get(name, passed.get(name, getattr(p, name)))
        if value is None or value == {}:
            continue  # None is each of these arguments' default, or was passed as such
        if name == "restrict_to" and not isinstance(value, tuple):
            value = (value.key, list(value.categories))
        if name == "partition_type":
            text = str(value)  # a class: `import leidenalg` makes the name callable
        elif name == "random_state" and isinstance(value, dict):
            text = "<the recorded random state>"
        else:
            text = repr(value)
        shown.append(f"{name}={text}")
    extra = {**(getattr(p, "clustering_args", {}) or {}), **(getattr(p, "other_args", {}) or {})}
    shown += [f"{k}={v!r}" for k, v in extra.items()]
    if getattr(p, "adjacency", None) is not None:
        shown.append("adjacency=<the matrix it was given>")
    return f"{short_function(rec.function)}({obj}, {', '.join(shown)})"


def _has_flavor(rec: ClusteringRecord) -> bool:
    """Whether the scanpy that made ``rec`` takes ``flavor=`` (1.10 and later)."""
    software = rec.software
    version = software.packages.get("scanpy") if software is not None else None
    try:
        major, minor = (int(x) for x in str(version).split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (1, 10)


@check("stale_result", "labels_renamed")
def check_restricted(ctx: KeyContext) -> list[Finding]:
    """A ``restrict_to`` clustering whose parent labels are not those the call read.

    Told from the child's labels when they are the recorded ones (or cannot be compared with
    the record: other cells), else from a parent version recorded after the child. A parent
    column that is gone is no finding here: the child's labels still follow from its record
    (the parent's own audit says ``labels_missing``; a deep audit cannot re-run the child).
    """
    rec = ctx.latest
    restrict = getattr(getattr(rec, "params", None), "restrict_to", None)
    if rec is None or restrict is None:
        return []
    prefix = getattr(ctx.src, "prefix", "")
    parent = prefix + restrict.key
    obj = f"mdata[{prefix[:-1]!r}]" if prefix else "adata"  # a MuData modality's key
    if parent == ctx.key or parent not in ctx.src.obs_columns() or not ctx.in_obs:
        return []
    used, latest = _parent_versions(ctx, parent, rec)
    reclustered = latest is not None and (
        latest.version > used.version
        and latest.result.partition_digest != used.result.partition_digest
        if used is not None
        else _after(latest, rec)
    )
    read: ParentRead | None = None
    if ctx.check_data and _labels_as_recorded(ctx, rec):
        read = parent_read(
            ctx.src.obs_column(ctx.key), ctx.src.obs_column(parent), restrict.categories
        )
        if read.state == "same":
            return []
    elif not reclustered:
        return []  # nothing tells: the child's own labels_changed says why
    facts: dict[str, Any] = {
        "clustering_key": parent,
        "restrict_to": {"key": restrict.key, "categories": list(restrict.categories)},
        "version_used": used.version if used is not None else None,
    }
    what = f"obs[{parent!r}], whose categories {list(restrict.categories)!r} it sub-clustered,"
    then = "its labels name the old categories"
    if read is not None and read.state == "renamed":
        mapping = read.mapping or {}
        shown = ", ".join(f"{a!r}→{b!r}" for a, b in list(mapping.items())[:6])
        what += f" was renamed (the same cells, other names{': ' + shown if shown else ''})"
        rerun = recorded_call(rec, obj=obj, restrict_to=(restrict.key, list(read.categories_now)))
        facts |= {"cause": "renamed", "mapping": mapping}
        todo = f"re-run it under the categories' new names, {rerun},"
    else:
        if reclustered and latest is not None:
            t = when(latest.finished_at or latest.started_at)
            what += f" was re-clustered (version {latest.version}, recorded at {t})"
            facts |= {"cause": "reclustered", "version_now": latest.version}
        else:
            what += " changed outside provenance.record() (re-clustered or edited)"
            facts |= {"cause": "changed"}
        then = (
            "the cells it restricted, or the labels it kept for the others, are no longer "
            f"obs[{parent!r}]'s"
        )
        rerun = recorded_call(rec, obj=obj)
        todo = (
            f"check that {list(restrict.categories)!r} are still the categories to "
            f"sub-cluster, then re-run {rerun}"
        )
    since = f" from its version {used.version}" if used is not None else ""
    msg = (
        f"obs[{ctx.key!r}] (restrict_to): {what} after obs[{ctx.key!r}] was made{since}: "
        f"{then}. To make it current, {todo} inside provenance.record({obj.partition('[')[0]})."
    )
    details = {"function": rec.function, "version": rec.version, "rerun": rerun, **facts}
    # A renamed parent leaves the sub-clustering true (the same cells, the same split), under
    # label strings that embed the old names: a warning, as for the parent's own rename.
    code: Literal["labels_renamed", "stale_result"] = (
        "labels_renamed" if facts.get("cause") == "renamed" else "stale_result"
    )
    return [Finding(code, ctx.key, msg, details)]


def _labels_as_recorded(ctx: KeyContext, rec: ClusteringRecord) -> bool:
    """Whether ``obs[key]`` holds the labels the call wrote: each cell's label string as the
    record has it, or, on other cells, as far as can be told."""
    from provenance._util.fingerprint import HASH_ALGORITHM

    from .checks_labels import _compare_labels

    if not ctx.same_cells:
        return True  # a subset keeps both columns' labels together: still comparable
    if rec.result.hash_algorithm != HASH_ALGORITHM:
        return False
    return not _compare_labels(ctx, rec)


def parent_used(records: Any, child: ClusteringRecord) -> Any:
    """The parent version a ``restrict_to`` child read: the latest of ``records`` (the
    parent's, oldest first) recorded before the child; ``None`` when none was."""
    before = [r for r in records if not _after(r, child)]
    return before[-1] if before else None


def _parent_versions(
    ctx: KeyContext, parent: str, rec: ClusteringRecord
) -> tuple[ClusteringRecord | None, ClusteringRecord | None]:
    """``(used, latest)``: the parent's version recorded before the child was made (the one
    it read, when the parent was recorded then), and its latest."""
    from provenance._schema.models import ClusteringRecord

    records = [r for r in KeyContext(ctx.audit, parent).records if isinstance(r, ClusteringRecord)]
    if not records:
        return None, None
    return parent_used(records, rec), records[-1]


def _after(parent: ClusteringRecord, child: ClusteringRecord) -> bool:
    """Whether the parent version was recorded after the child (times unknown: not)."""
    t, start = parent.finished_at or parent.started_at, child.started_at
    return t is not None and start is not None and t > start
