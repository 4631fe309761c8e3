"""Checks of the stored history itself: readable, chained, present where it was recorded."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._storage.history import has_history

from .catalogue import Finding
from .context import check
from .keys import clustering_params
from .legacy import FIXED_KEYS

if TYPE_CHECKING:
    from .context import KeyContext

__all__ = ["check_chain", "check_lost", "check_records", "check_unrecorded"]


def _no_history(ctx: KeyContext) -> bool:
    return ctx.key not in ctx.src.uns_errors and not has_history(ctx.entry)


@check("invalid_record", "newer_schema", "history_lost")
def check_records(ctx: KeyContext) -> list[Finding]:
    """``uns[key]`` or its history cannot be read, or holds records of a newer schema.

    A container that kept only its ``schema_version`` lost its records (``ad.concat``).
    """
    if ctx.key in ctx.src.uns_errors:
        return [Finding("invalid_record", ctx.key, ctx.src.uns_errors[ctx.key])]
    return list(ctx.history.findings)


@check("broken_chain")
def check_chain(ctx: KeyContext) -> list[Finding]:
    """The hash chain of the history, and its length against ``uns["provenance_index"]``."""
    h = ctx.history
    if not h.readable:
        return []
    key, records, n_stored = ctx.key, h.records, h.n_stored
    indexed: dict[str, Any] | None = ctx.audit.index.get(key)
    problems = []
    by_index = dict(records)
    for i, rec in records:
        if rec.expected_digest() != rec.digest:
            problems.append(f"version {rec.version} was edited after it was recorded")
        if rec.version != i + 1:
            problems.append(f"entry {i + 1} claims version {rec.version}")
        if i == 0 and rec.previous is not None:
            problems.append("the first entry points to an earlier version that is gone")
        prev = by_index.get(i - 1)
        if prev is not None and rec.previous != prev.digest:
            problems.append(f"version {rec.version} does not follow version {prev.version}")
    # The index names the latest record written: fewer entries than its version, or without
    # its digest, means entries were cut (all of them, or off the end).
    if indexed is not None and n_stored < indexed["version"]:
        held = f"{n_stored} entr{'y' if n_stored == 1 else 'ies'}" if n_stored else "none"
        problems.append(
            f"uns['provenance_index'] says version {indexed['version']} was recorded, but the "
            f"history holds {held}"
        )
    elif (
        indexed is not None
        and records
        and len(records) == n_stored
        and indexed["digest"] not in {r.digest for _, r in records}
    ):
        problems.append(
            f"uns['provenance_index'] names version {indexed['version']} as recorded, but "
            "it is not in the history"
        )
    elif n_stored == 0:
        problems.append("the history is empty, which anndata-provenance never writes")
    if not problems:
        return []
    shown = "; ".join(problems[:3]) + (
        f"; and {len(problems) - 3} more" if len(problems) > 3 else ""
    )
    what = "step" if ctx.step else "clustering"
    msg = (
        f"uns[{key!r}]['provenance']: the history chain is broken ({shown}): an entry was "
        "edited, removed or reordered; its parameters cannot be trusted. Restore the file "
        f"from a copy you trust, or re-run the {what} inside provenance.record(adata)."
    )
    return [Finding("broken_chain", key, msg, {"problems": problems})]


@check("history_lost")
def check_lost(ctx: KeyContext) -> list[Finding]:
    """``uns["provenance_index"]`` says the key had a history, and ``uns[key]`` has none."""
    key = ctx.key
    if not (_no_history(ctx) and ctx.in_obs and key in ctx.audit.index):
        return []
    v = ctx.audit.index[key]["version"]
    nested = _nested_path(ctx)
    if nested is not None:
        # anndata writes a '/' in a uns key as nested groups: the entry is there, moved.
        path = "".join(f"[{p!r}]" for p in nested)
        msg = (
            f"uns[{key!r}] is not where its history should be: the key contains '/', which "
            f".h5ad/.zarr store as nested groups, so the entry was read back as uns{path}, "
            f"apart from obs[{key!r}]. It was not re-clustered. Rename the column to a key "
            "without '/' and move the entry under that name, or re-cluster under such a key."
        )
        details = {"indexed_version": v, "cause": "nested_key", "found_at": list(nested)}
    else:
        msg = (
            f"uns[{key!r}] had a provenance history ({v} version{'s' * (v != 1)}, says "
            f"uns['provenance_index']) but it is gone: the key was re-clustered or "
            f"overwritten outside provenance.record(), so obs[{key!r}] is unrecorded. Restore "
            "the history from an earlier copy of the file, or re-run the clustering inside "
            "provenance.record()."
        )
        details = {"indexed_version": v}
    return [Finding("history_lost", key, msg, details)]


@check("no_record")
def check_unrecorded(ctx: KeyContext) -> list[Finding]:
    """Labels, or scanpy's parameters, that no record (and no lost one) describes."""
    key = ctx.key
    if not _no_history(ctx) or (ctx.in_obs and key in ctx.audit.index):
        return []
    if ctx.in_obs:
        where = f"obs[{key!r}]"
        if clustering_params(ctx.entry):
            where += f" and uns[{key!r}]['params']"
        msg = (
            f"{where}: labels without a provenance record, so how they were made cannot be "
            "checked; re-run the clustering inside provenance.record(adata) to record "
            "it, or `provenance adopt` to keep what scanpy left as a reconstructed record."
        )
        return [Finding("no_record", key, msg)]
    if key in FIXED_KEYS:
        return []  # scanpy's fixed keys: the legacy_params check says what they hold
    msg = (
        f"uns[{key!r}]['params'] holds clustering parameters but there is no obs[{key!r}] "
        "column and no provenance record; the labels they describe are gone."
    )
    return [Finding("no_record", key, msg)]


def _nested_path(ctx: KeyContext) -> tuple[str, ...] | None:
    """Where a key with '/' landed when anndata nested it, if an entry with a history is there."""
    if "/" not in ctx.key:
        return None
    parts = tuple(p for p in ctx.key.split("/") if p)
    return parts if parts and ctx.src.has_history_at(parts) else None
