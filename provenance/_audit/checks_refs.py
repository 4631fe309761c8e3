"""``parent_missing``: a record names a parent record that no history of the object holds.

From schema 1.3 a record names the records it was made from, by key, version and digest
(:class:`~provenance._schema.models.RecordRef`): a clustering (and a UMAP) its
``sc.pp.neighbors`` record (``neighbors``) and, from 1.5, the steps that changed that graph in
place before it read it (``graph_steps``: ``sc.tl.umap`` under scanpy 1.11), a result (markers,
dendrogram, PAGA) the steps it read (``parents``) and the clustering records of the labels it
grouped by (``uses[].record``), from 1.6 a record made on a subset or a concatenation the
parent object's record it continues (``parent.record``). The latest record of each
key is checked: the parent must be in the history of the key it names, by digest (a re-run
of the parent adds versions and keeps the old ones, so a re-run is no finding).

Said once: when the parent key's own audit already reports its history lost (``history_lost``:
the index names it, ``uns[key]`` holds none; or ``ad.concat`` kept only the container's
``schema_version``), unreadable (``invalid_record``) or of a newer schema (``newer_schema``),
the child says nothing: the parent's finding is the cause, and the child's record is intact;
so too when the parent's history lacks the version the index names (cut or rolled back:
``broken_chain`` on the parent).
Labels a result used whose ``obs`` column is gone are ``stale_result`` (cause
``labels_missing``), not this. Records before 1.3 and adopted ones name no parent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError
from provenance._storage.carried import cells_of
from provenance._storage.codec import PROVENANCE_FIELD, history_texts
from provenance._storage.history import has_history

from .catalogue import Finding
from .context import check
from .neighbors import short_function

if TYPE_CHECKING:
    from provenance._schema.models import RecordRef

    from .context import KeyContext

__all__ = ["check_parents"]


def _refs(ctx: KeyContext) -> list[tuple[str, RecordRef]]:
    """``(what the parent is to the record, ref)`` for every parent the latest record names."""
    rec: Any = ctx.latest
    if rec is None:
        return []
    prefix = getattr(ctx.src, "prefix", "")
    out: list[tuple[str, RecordRef]] = []
    nb = getattr(rec, "neighbors", None)  # a clustering (1.3+), an embedding: its graph's
    if nb is not None:
        out.append(("the sc.pp.neighbors record of the graph it read", nb))
    for ref in getattr(rec, "graph_steps", ()):  # 1.5: steps that changed that graph in place
        out.append(("a step that changed the graph it read", ref))
    for ref in getattr(rec, "parents", ()):  # a result: the steps it read
        out.append(("a step it read", ref))
    parent = getattr(rec, "parent", None)  # 1.6: the first record made on a subset
    if parent is not None and parent.record is not None:
        made = (parent.n_obs, parent.obs_names_digest) == cells_of(rec)  # a concatenation
        what = (
            "the record of the concatenation that made its object"
            if made
            else f"the record of the parent object ({parent.n_obs} cells) it continues"
        )
        out.append((what, parent.record))
    for use in getattr(rec, "uses", ()):  # a result: the clusterings it grouped by
        if use.record is not None and prefix + use.key in ctx.src.obs_columns():
            what = f"the clustering record of the labels obs[{use.key!r}] it used"
            out.append((what, use.record))
    return out


def _digests(ctx: KeyContext, key: str) -> set[str] | None:
    """The digests of ``uns[key]``'s history; ``set()`` when it holds none; ``None`` when its
    audit reports why it cannot say (damaged, newer schema, history lost)."""
    src = ctx.src
    entry = src.uns.get(key)
    if key in src.uns_errors:
        return None  # invalid_record on the parent
    if not has_history(entry):
        # Re-run outside record() with the index naming it: history_lost on the parent.
        return None if entry is not None and key in ctx.audit.index else set()
    assert isinstance(entry, Mapping)
    try:
        texts = history_texts(entry[PROVENANCE_FIELD], key=key)
    except ProvenanceError:
        return None  # unreadable, newer, or merged by ad.concat: the parent's audit says it
    out = set()
    for text in texts:
        try:
            obj = json.loads(text)
        except (ValueError, RecursionError):
            return None  # a damaged entry could be the one named: invalid_record says it
        if not isinstance(obj, dict) or not isinstance(obj.get("digest"), str):
            return None
        out.add(obj["digest"])
    indexed = ctx.audit.index.get(key)
    if indexed is not None and indexed["digest"] not in out:
        return None  # cut or rolled back with the index left: broken_chain on the parent
    return out


@check("parent_missing")
def check_parents(ctx: KeyContext) -> list[Finding]:
    """Each parent record the latest record names, looked up by digest in its key's history."""
    prefix = getattr(ctx.src, "prefix", "")
    out = []
    for what, ref in _refs(ctx):
        key = prefix + ref.key
        held = _digests(ctx, key)
        if held is None or ref.digest in held:
            continue
        out.append(_missing(ctx, what, key, ref, held))
    return out


def _missing(ctx: KeyContext, what: str, key: str, ref: RecordRef, held: set[str]) -> Finding:
    from .checks_step_graphs import uns_name

    rec: Any = ctx.latest
    entry = ctx.src.uns.get(key)
    at = uns_name(ctx, key)
    if entry is None:
        cause, how = "deleted", f"{at} is gone"
        if key in ctx.audit.index:
            how += " (uns['provenance_index'] still names it)"
    elif not held:
        cause, how = "no_history", f"{at} holds no provenance history"
    else:
        n = len(held)
        cause = "replaced"
        how = (
            f"the history of {at} ({n} version{'s' * (n != 1)}) does not hold it: it was "
            "rolled back, deleted and recorded anew, or replaced from another object"
        )
    fn = short_function(rec.function)
    msg = (
        f"{uns_name(ctx)} (version {rec.version}, {fn}) names {what}, {at} version "
        f"{ref.version} (digest {ref.digest[:19]}…), but no history of the object holds that "
        f"record: {how}. How that parent was made can no longer be shown. Restore {at} from "
        f"a copy of the file that has it, or re-run the parent step and what was made from it "
        "inside provenance.record(adata)."
    )
    details = {
        "version": rec.version,
        "parent": key,
        "parent_version": ref.version,
        "parent_digest": ref.digest,
        "cause": cause,
    }
    return Finding("parent_missing", ctx.key, msg, details)
