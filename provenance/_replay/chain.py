"""Which recorded steps a clustering depends on, followed back by the slots they read.

A record's ``reads`` name the slots the call read with their digests, its ``writes`` the
slots it changed. The step a read depends on is the latest record before it that wrote that
slot: when that record wrote the digest read, the two are linked; when it wrote another, the
slot changed in between by no recorded call (a gap), unless a recorded step wrote that digest
into another slot still holding it (``X = layers['counts'].copy()`` after a concatenation
wrote both: a copy, linked to it). A read no earlier record made is an input of the chain:
the object as it was before the first recorded step. A read is never linked to a write made
on other cells (the records before a subset, ``record.parent``, were made on the parent
object; a filter's ``before`` names the cells it read): it is then an input of the chain.

:func:`dependency_chain` walks this back from a clustering's record through
:func:`provenance.steps` (neighbors -> pca -> hvg -> log1p -> normalize_total -> filters).
:class:`ObjectSlots` finds, in the object as it is now, a slot holding a recorded digest
(``layers['counts']`` holding what ``normalize_total`` read from ``X``), hashing each slot at
most once.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance._storage.carried import cells_of
from provenance._storage.slots import get_slot, slot_digest

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData

    from provenance._schema.models import SlotDigest

__all__ = ["ChainStep", "Link", "ObjectSlots", "dependency_chain"]


@dataclass(frozen=True)
class Link:
    """One slot a chain step read, and where its recorded value came from."""

    name: str
    """The slot (``"X"``, ``"obsm['X_pca']"``)."""
    read: SlotDigest
    """The slot as the step read it (the record's ``reads``)."""
    producer: int | None
    """Position in the chain of the step that last wrote the slot before (``None``: no
    recorded step did; the slot is an input of the chain)."""
    gap: bool
    """The producer wrote another digest: the slot changed in between by no recorded call."""
    written_as: str | None = None
    """The slot the producer wrote the digest read into, when another than :attr:`name` (it
    was copied from there by no recorded call: ``X = layers['counts'].copy()``)."""
    other_cells: Any = None
    """The record that last wrote the slot before, made on other cells (the parent object
    of a subset), when that is why there is no producer; ``None`` otherwise."""


@dataclass(frozen=True)
class ChainStep:
    """One record of the chain and the links of what it read."""

    record: Any
    links: tuple[Link, ...]


def dependency_chain(records: Sequence[Any], last: int) -> list[ChainStep]:
    """The records ``records[last]`` depends on, and it, in the order they ran.

    ``records`` are :func:`provenance.steps`' (ordered by start); a step depends on the
    latest earlier record that wrote a slot it read, whatever digest that record wrote, when
    that record was made on the cells the step read.
    """
    needed = {last}
    todo = [last]
    found: dict[tuple[int, str], tuple[int | None, str | None, Any]] = {}
    while todo:
        i = todo.pop()
        for name, read in records[i].reads.items():
            found[i, name] = _producer(records, i, name, read)
            j = found[i, name][0]
            if j is not None and j not in needed:
                needed.add(j)
                todo.append(j)
    order = sorted(needed)
    position = {i: n for n, i in enumerate(order)}
    out = []
    for i in order:
        rec = records[i]
        links = []
        for name, read in rec.reads.items():
            j, slot, other = found[i, name]
            if j is None:
                links.append(Link(name, read, None, False, other_cells=other))
                continue
            gap = records[j].writes[slot].digest != read.digest
            written_as = slot if slot != name else None
            links.append(Link(name, read, position[j], gap, written_as))
        out.append(ChainStep(rec, tuple(links)))
    return out


def _producer(
    records: Sequence[Any], i: int, name: str, read: SlotDigest
) -> tuple[int | None, str | None, Any]:
    """``(record, slot it wrote, record on other cells)`` that made what ``records[i]`` read
    as ``name``: the latest earlier record that wrote ``name``; when it wrote another digest
    (or none did), the latest one (on these cells) that wrote the digest read into another
    slot which no record wrote again before ``records[i]`` (the value was there to copy)."""
    cells = _cells_read(records[i])
    j = next((j for j in range(i - 1, -1, -1) if name in records[j].writes), None)
    if j is not None and not _same(cells, cells_of(records[j])):
        return None, None, records[j]  # made on other cells: not this object's step
    if j is not None and records[j].writes[name].digest == read.digest:
        return j, name, None
    later: set[str] = set()  # slots written again after: what k wrote there is gone
    for k in range(i - 1, -1, -1):
        writes = records[k].writes
        if _same(cells, cells_of(records[k])):
            slot = next(
                (n for n, w in writes.items() if n not in later and w.digest == read.digest), None
            )
            if slot is not None:
                return k, slot, None
        later.update(writes)
    return (None, None, None) if j is None else (j, name, None)


def _cells_read(rec: Any) -> tuple[int, str] | None:
    """``(n_obs, obs_names_digest)`` of the object a record's call read: before a filter."""
    before = getattr(rec, "before", None)
    return cells_of(rec) if before is None else (before.n_obs, before.obs_names_digest)


def _same(a: tuple[int, str] | None, b: tuple[int, str] | None) -> bool:
    """Whether two records were made on the same cells (unknown: assumed so)."""
    return a is None or b is None or a == b


_MATRICES = ("X", "raw.X", "layers[")


class ObjectSlots:
    """The slots of an object, found by digest; each slot is hashed at most once."""

    def __init__(self, adata: AnnData) -> None:
        self.adata = adata
        self._digests: dict[str, SlotDigest | None] = {}
        self._converted: dict[str, Any] = {}

    def _digest(self, name: str) -> SlotDigest | None:
        if name not in self._digests:
            self._digests[name] = slot_digest(get_slot(self.adata, name))
        return self._digests[name]

    def _candidates(self, name: str) -> list[str]:
        """The slots that may hold what was read as ``name``: itself; for an expression
        matrix also every other one (counts kept in ``layers['counts']``, in ``raw``)."""
        out = [name]
        if name.startswith(_MATRICES):
            from provenance._storage.slots import slot_name

            layers = [slot_name("layers", str(k)) for k in self.adata.layers]
            if "layers['counts']" in layers:  # the usual home of counts first
                layers.insert(0, layers.pop(layers.index("layers['counts']")))
            raw = ["raw.X"] if getattr(self.adata, "raw", None) is not None else []
            out += [n for n in (*layers, *raw, "X") if n != name]
        return out

    def find(self, name: str, want: SlotDigest) -> str | None:
        """The slot of the object holding ``want`` (what was read as ``name``), else ``None``.

        Slots of another shape, dtype or storage are told apart without hashing them.
        """
        for cand in self._candidates(name):
            value = get_slot(self.adata, cand)
            if value is None or list(getattr(value, "shape", ())) != want.shape:
                continue
            if str(getattr(value, "dtype", "")) == want.dtype:
                got = self._digest(cand)
                if got is not None and got.digest == want.digest:
                    return cand
            elif _counts_as(value, want):
                # Counts kept as integers (layers['counts']) that the step read as floats.
                value = value.astype(want.dtype)  # one copy: the one the replay runs on
                got = slot_digest(value)
                if got is not None and got.digest == want.digest:
                    self._converted[cand] = value
                    return cand
            elif cand == name and name.startswith(("obs[", "var[")):
                # A column the chain itself converted (hvg's batch_key becomes categorical):
                # its values as read, in the dtype they were read in.
                try:
                    value = value.astype(want.dtype)
                except (TypeError, ValueError):
                    continue
                got = slot_digest(value)
                if got is not None and got.digest == want.digest:
                    self._converted[cand] = value
                    return cand
        return None

    def value(self, name: str) -> Any:
        """A copy of slot ``name`` as :meth:`find` found it: the replay changes what it runs
        on."""
        converted = self._converted.pop(name, None)
        return converted if converted is not None else get_slot(self.adata, name).copy()


def _counts_as(value: Any, want: SlotDigest) -> bool:
    """Whether ``value`` is an integer matrix that may hold, cast, the float one read."""
    from scipy import sparse

    kind = getattr(getattr(value, "dtype", None), "kind", "")
    return (
        kind in "iu"
        and kind != ""
        and want.dtype.startswith("float")
        and bool(sparse.issparse(value)) == want.sparse
    )
