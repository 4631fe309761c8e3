"""The parent objects an object's records name: what the audit says of records made on them.

A record made on a subset (``adata[mask].copy()``, ``sc.pp.subsample``) or on the result of
``anndata.concat`` names the object it was taken from (``parent``, schema 1.6; see
``_record/parents.py``). The records before it in its key's history, and the keys not re-made
on the subset, were made on that parent: they are the parent's history, kept, not this
object's. ``subset_or_reordered`` on them says so (:func:`parent_note`), instead of leaving
the reader to guess where the other cells went.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError
from provenance._storage.carried import cells_of
from provenance._storage.codec import PROVENANCE_FIELD, history_texts
from provenance._storage.history import has_history

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .context import KeyContext

__all__ = ["Named", "named_parents", "parent_note"]


@dataclass(frozen=True)
class Named:
    """One record that names a parent object."""

    key: str
    """The key whose history holds the record."""
    version: int
    cells: tuple[int, str]
    """``(n_obs, obs_names_digest)`` of the parent object (or of the object before a call
    that changed the cells: a transform's ``before``)."""
    parent: tuple[str, int] | None
    """``(key, version)`` of the parent's record it continues; ``None``: the record's
    ``before`` (a filter, ``sc.pp.subsample``) or a parent without one."""
    own: tuple[int, str] | None
    """``(n_obs, obs_names_digest)`` of the object the record itself was made on."""


def named_parents(uns: Mapping[str, Any]) -> list[Named]:
    """Every record of ``uns`` that names a parent object, in ``uns`` and history order
    (read from the JSON; a damaged history is the audit's other findings')."""
    out = []
    for key, entry in uns.items():
        if not has_history(entry):
            continue
        try:
            texts = history_texts(entry[PROVENANCE_FIELD], key=str(key))
        except ProvenanceError:
            continue
        for text in texts:
            try:
                obj = json.loads(str(text))
            except (ValueError, RecursionError):
                continue
            if not isinstance(obj, dict):
                continue
            parent = obj.get("parent")
            if not isinstance(parent, dict):  # a filter or subsample: the object before it
                parent = obj.get("before")
                if not isinstance(parent, dict):
                    continue
            n, names, ref = (
                parent.get("n_obs"),
                parent.get("obs_names_digest"),
                parent.get("record"),
            )
            if not isinstance(n, int) or not isinstance(names, str):
                continue
            made = (
                (str(ref.get("key")), int(ref.get("version", 0))) if isinstance(ref, dict) else None
            )
            own = cells_of(obj)
            out.append(Named(str(key), int(obj.get("version", 0)), (n, names), made, own))
    return out


def parent_note(ctx: KeyContext, cells: tuple[int, str]) -> tuple[str, list[str]] | None:
    """What to say of a record made on ``cells`` when records of this object name those cells
    as their parent object: ``(sentence, ["key vN", ...])``; ``None`` when none does."""
    audit: Any = ctx.audit
    named = getattr(audit, "_named_parents", None)
    if named is None:
        named = named_parents(ctx.src.uns)
        audit._named_parents = named
    # Records made on this object (its cells now) that name those cells as their parent's.
    n_now = ctx.src.n_obs
    here = [
        f"{n.key} v{n.version} "
        + ("names it as parent" if n.parent else "made this object from it")
        for n in named
        if n.cells == cells
        and n.own is not None
        and n.own[0] == n_now
        and (not ctx.check_data or n.own[1] == audit.names_digest())
    ]
    if not here:
        return None
    shown = ", ".join(here[:4]) + (", …" if len(here) > 4 else "")
    text = (
        f"it was made on the parent object ({cells[0]} cells) this object was taken from, as "
        f"the record{'s' * (len(here) != 1)} made on this object say{'s' * (len(here) == 1)} "
        f"({shown}): it is the parent's history, kept"
    )
    return text, here
