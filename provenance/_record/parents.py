"""A record made on other cells than the records before it names its parent object.

``adata[mask].copy()``, ``sc.pp.subsample`` and ``adata.copy()`` copy ``uns``, and with it
every key's history, made on the object they were taken from. A call recorded on the subset
then writes under a key whose history describes other cells. Nothing of it is dropped (an
existing history is never dropped) and the hash chain is not cut; the record says where
the subset's own history starts instead:

- **Which record names a parent.** A record gets ``parent``
  (:class:`~provenance.ParentObject`: the parent's ``n_obs``, ``obs_names`` digest, and the
  parent's record it continues) when the object, as the call found it, holds other cells
  (number or order) than the key's latest record was made on; for a key without a history,
  when no record the object carries was made on its cells (the first record made on a
  subset). The record it continues is the key's latest record, else the latest record the
  object carries. An object made by ``anndata.concat`` carries a
  :class:`~provenance.ConcatRecord` of its own cells: the first records made on it name that
  record as their parent (a key it carries from a part, with ``uns_merge``, too).
- **The key's history.** The subset's record is appended to the history it found: its
  ``previous`` is the parent's last record of the key, its ``version`` the next one. The
  history reads ``v1`` (700 cells) ``v2`` (300 cells, parent: 700 cells, ``leiden`` v1), and
  verifies as one chain. A history is thus in segments, one per object: a record with
  ``parent`` starts one, the records before it were made on the parent object.
- **The audit.** Records before the latest segment are the parent's: they are not compared
  with this object's cells (they describe the parent, as its file would), and a result
  whose records are all the parent's is ``subset_or_reordered`` (a warning), its message
  naming the records made here. ``provenance.lineage`` draws the edge from the parent
  record to the record that names it, and a concatenation's parts.
- ``adata.copy()`` keeps the cells and their order: a record made on a copy continues the
  history as on the original, and names no parent.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._schema.models import ParentObject
from provenance._storage.carried import carried, cells_of

if TYPE_CHECKING:
    from collections.abc import Mapping

    from provenance._storage.carried import Carried

__all__ = ["parent_for"]


def parent_for(
    uns: Mapping[str, Any], key: str, last: Any, cells: tuple[int, str]
) -> ParentObject | None:
    """The parent object of a record about to be made under ``key`` on an object holding
    ``cells`` (``(n_obs, obs_names_digest)`` before the call); ``last`` is the key's latest
    record (``None``: the key has no history). ``None``: the same object continues."""
    if last is not None:
        then = cells_of(last)
        if then is None or then == cells:
            return None
        from provenance._schema.models import RecordRef

        made: tuple[tuple[int, str], Any] = (
            then,
            RecordRef(key=key, version=last.version, digest=last.digest),
        )
        held = carried(uns, skip=key)
    else:
        held = carried(uns, skip=key)
        if not held or any(c.cells == cells and c.kind != "concat" for c in held):
            return None  # nothing recorded, or this object's own history has begun
        m = max(held, key=lambda c: c.at)
        if m.cells is None:
            return None
        made = (m.cells, m.ref())
    concat = _concat_of(held, cells)
    if concat is not None and concat.cells is not None:
        made = (concat.cells, concat.ref())
    (n_obs, names), ref = made
    return ParentObject(n_obs=n_obs, obs_names_digest=names, record=ref)


def _concat_of(held: list[Carried], cells: tuple[int, str]) -> Carried | None:
    """The latest concatenation that made an object of these cells (``anndata.concat``)."""
    made = [c for c in held if c.kind == "concat" and c.cells == cells]
    return max(made, key=lambda c: c.at) if made else None
