"""The chain of recorded steps, read from the records alone: gaps and staleness.

Every record of schema >= 1.6 keeps the slots its call read and wrote, by digest
(``reads``/``writes``; ``_storage/slots.py``). Put in the order the calls ran, they link: a
record reading ``X`` at the digest an earlier record wrote read that record's output. Two
things follow, both from ``uns`` alone (a file's audit reads nothing else for them):

- a **gap** (:func:`walk`, :class:`Gap`): a record read a slot at another digest than the
  latest earlier record wrote: something no record made changed it in between;
- **staleness** (:func:`stale`, :class:`Root`): a slot a record read was re-made later by a
  recorded step that neither transformed it in place (a ``sc.pp.scale`` after
  ``sc.pp.log1p`` reads the ``X`` it rewrites: the pipeline goes on) nor was made from the
  record's own output: the record describes an input that is gone (a ``sc.pp.pca`` re-run
  after ``sc.pp.neighbors``). Whatever was made from a stale record's output, by digest, is
  stale because of the same root.

A slot read at the digest another slot holds as a record wrote it (``adata.X =
adata.layers["counts"].copy()`` between two steps) is no gap: the values are that record's
output, linked as read from it (:class:`Copy`).

A slot no record wrote is the pipeline's input (counts in ``X``, ``layers['counts']``, a
``raw`` set by hand): it starts a chain. Records of older schemas (no ``reads``/``writes``)
take no part. Records made on other cells than the step before them (a subset, told by the
obs-names digests the records keep) are not linked across: the subset is the finding of
``subset_or_reordered`` and the records' ``parent``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError

if TYPE_CHECKING:
    from collections.abc import Mapping

    from provenance._schema.models import SlotDigest
    from provenance._storage.files import AnnDataSource, FileSource
    from provenance._storage.mudata import PartView

    Source = AnnDataSource | FileSource | PartView

__all__ = [
    "Copy",
    "Gap",
    "Genes",
    "Root",
    "Step",
    "Walk",
    "cells_after",
    "genes_of",
    "on_gene_axis",
    "stale",
    "timeline",
    "walk",
]

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Step:
    """One record in the timeline, under the key the audit reports it (``"rna:leiden"``)."""

    key: str
    rec: Any
    """A :class:`~provenance.ClusteringRecord` or a step record."""

    @property
    def reads(self) -> Mapping[str, SlotDigest]:
        return getattr(self.rec, "reads", None) or {}

    @property
    def writes(self) -> Mapping[str, SlotDigest]:
        return getattr(self.rec, "writes", None) or {}

    @property
    def kind(self) -> str:
        return str(getattr(self.rec, "kind", "clustering"))


def cells_after(rec: Any) -> str | None:
    """The obs-names digest of the object a record's call left (``None``: not kept)."""
    result = getattr(rec, "result", None)
    if result is not None:
        return getattr(result, "obs_names_digest", None)
    return getattr(rec, "obs_names_digest", None)


def cells_before(rec: Any) -> str | None:
    """The obs-names digest of the object a record's call started from."""
    before = getattr(rec, "before", None)
    return before.obs_names_digest if before is not None else cells_after(rec)


def timeline(src: Source) -> list[Step]:
    """Every readable record of the object (one part of a MuData), in the order the calls ran:
    by ``started_at``, each key's versions in their order (as :func:`provenance.steps`)."""
    from provenance._storage.codec import read_history, read_steps
    from provenance._storage.history import has_history, is_step_entry

    out: list[tuple[datetime, int, int, Step]] = []
    for order, key in enumerate(list(src.uns)):
        if key in src.uns_errors:
            continue
        entry = src.uns.get(key)
        if not has_history(entry):
            continue
        local = getattr(src, "local", str)(str(key))
        try:
            if is_step_entry(entry):
                records: list[Any] = list(read_steps(entry, key=local))
            else:
                records = list(read_history(entry, key=local))
        except ProvenanceError:
            continue  # the key's own audit reports it
        for i, rec in enumerate(records):
            out.append((rec.started_at or _NEVER, order, i, Step(str(key), rec)))
    out.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in out]


@dataclass(frozen=True)
class Gap:
    """A slot that changed between two records by no recorded call."""

    slot: str
    writer: Step
    """The latest earlier record that wrote the slot."""
    reader: Step
    """The record that read it at another digest."""
    written: SlotDigest
    read: SlotDigest


@dataclass(frozen=True)
class Genes:
    """The genes (``var_names``) changed between two recorded transforms by no recorded call
    (``adata[:, mask]``): one change, whatever slots on the gene axis it changed."""

    writer: int
    """Index of the last transform before, on the genes it left."""
    reader: int
    """Index of the first transform after, on other genes."""
    n_then: int
    n_now: int


def genes_of(rec: Any) -> tuple[str, int] | None:
    """``(var_names digest, n_vars)`` a transform's call left (``None``: not a transform)."""
    digest = getattr(rec, "var_names_digest", None)
    return None if digest is None else (digest, int(rec.n_vars))


def _genes_before(rec: Any) -> tuple[str, int] | None:
    before = getattr(rec, "before", None)
    return (before.var_names_digest, int(before.n_vars)) if before is not None else genes_of(rec)


GENE_AXIS = ("X", "layers[", "var[", "varm[")
"""Slot names (prefixes) whose shape follows the genes: a gene subset changes them all."""


def on_gene_axis(slot: str) -> bool:
    return slot == "X" or slot.startswith(GENE_AXIS[1:])


@dataclass
class Walk:
    """The timeline walked once: its gaps, what each record read from which, the last state."""

    steps: list[Step]
    gaps: list[Gap]
    genes: list[Genes]
    """Gene subsets between transforms; their slots' gaps are not in :attr:`gaps`."""
    producers: dict[int, set[int]]
    """Index of a record -> indices of the records whose output (by digest) it read."""
    last: dict[str, tuple[int, SlotDigest]]
    """Slot -> (index of its latest writer, the digest written): the state the records end in."""
    copies: list[Copy] = field(default_factory=list)
    """Slots read as a copy of another slot a record wrote: linked, not gaps."""


@dataclass(frozen=True)
class Copy:
    """A slot read at the digest another slot holds as a record wrote it, by no recorded call
    (``adata.X = adata.layers["counts"].copy()``): the values are that record's output."""

    slot: str
    source: str
    """The slot it was copied from (``layers['counts']``)."""
    writer: Step
    """The record that wrote ``source`` at that digest."""
    reader: Step


def _copy_of(
    last: Mapping[str, tuple[int, SlotDigest]], slot: str, d: SlotDigest
) -> tuple[str, int] | None:
    """``(slot, index of its writer)`` of another slot whose latest written value ``d`` is."""
    for other, (j, written) in last.items():
        if (
            other != slot
            and written.digest == d.digest
            and written.hash_algorithm == d.hash_algorithm
            and list(written.shape) == list(d.shape)
            and (written.dtype, written.sparse) == (d.dtype, d.sparse)
        ):
            return other, j
    return None


def walk(steps: list[Step]) -> Walk:
    """Link every record's reads to the latest earlier writer of each slot; keep the gaps.

    A gap is kept once per change: a later record reading the same changed value from the
    same writer is not a second gap.
    """
    last: dict[str, tuple[int, SlotDigest]] = {}
    gaps: list[Gap] = []
    seen: set[tuple[str, int, str]] = set()
    producers: dict[int, set[int]] = {}
    genes: list[Genes] = []
    copies: list[Copy] = []
    known: tuple[int, tuple[str, int]] | None = None  # the last transform's genes
    for i, step in enumerate(steps):
        producers[i] = set()
        before = _genes_before(step.rec)
        if (
            before is not None
            and known is not None
            and before[0] != known[1][0]
            and cells_after(steps[known[0]].rec) == cells_before(step.rec)
        ):
            genes.append(Genes(known[0], i, known[1][1], before[1]))
        for slot, d in step.reads.items():
            if slot not in last:
                continue  # the pipeline's input
            w, written = last[slot]
            writer = steps[w]
            if written.digest == d.digest:
                producers[i].add(w)
                continue
            if cells_after(writer.rec) != cells_before(step.rec):
                continue  # other cells: a subset, not a change of this slot
            resized = on_gene_axis(slot) and list(written.shape) != list(d.shape)
            if resized and any(w < g.reader <= i for g in genes):
                continue  # the gene subset is the change (one finding)
            copied = _copy_of(last, slot, d)
            if copied is not None:
                # X = layers['counts'].copy(): the values a record wrote, in another slot.
                producers[i].add(copied[1])
                copies.append(Copy(slot, copied[0], steps[copied[1]], step))
                continue
            if (slot, w, d.digest) not in seen:
                seen.add((slot, w, d.digest))
                gaps.append(Gap(slot, writer, step, written, d))
        for slot, d in step.writes.items():
            last[slot] = (i, d)
        after = genes_of(step.rec)
        if after is not None:
            known = (i, after)
    return Walk(steps, gaps, genes, producers, last, copies)


@dataclass(frozen=True)
class Root:
    """Why a record is stale: the recorded step that re-made a slot it (or what it was made
    from) read."""

    step: Step
    """The step that re-made the slot."""
    slot: str
    direct: bool
    """``True``: the record read the slot; ``False``: a record it was made from did."""
    via: Step | None = None
    """Without ``direct``: the stale record whose output it read."""
    first: Step | None = None
    """Without ``direct``: the stale record up the chain that read the re-made slot itself:
    the first to re-run."""

    def details(self) -> dict[str, Any]:
        """JSON-safe: the root step's key, version, function, the slot it re-made."""
        rec = self.step.rec
        return {
            "key": self.step.key,
            "version": int(rec.version),
            "function": rec.function,
            "slot": self.slot,
        }


def _descendants(w: Walk, i: int) -> set[int]:
    """The records made, directly or not, from record ``i``'s output."""
    out: set[int] = set()
    for j in range(i + 1, len(w.steps)):
        if i in w.producers[j] or w.producers[j] & out:
            out.add(j)
    return out


def _earlier(w: Walk, i: int, slot: str, digest: str) -> set[str]:
    """``digest``, the value record ``i`` read of ``slot``, and the values it was made from in
    place before (``sc.tl.umap`` of scanpy 1.11 edits the graph it reads): a later step that
    puts one of them back restores the input, it does not re-make it (``graph_steps`` says
    what that means for the labels)."""
    out = {digest}
    for j in range(i - 1, -1, -1):
        prior = w.steps[j]
        if slot in prior.writes and prior.writes[slot].digest == digest:
            if slot not in prior.reads:
                break
            digest = prior.reads[slot].digest
            out.add(digest)
    return out


def _direct(w: Walk, i: int) -> Root | None:
    """The first later step that re-made a slot record ``i`` read, not from ``i``'s output
    and not by transforming it in place."""
    step = w.steps[i]
    below: set[int] | None = None
    found: tuple[int, str] | None = None
    for slot, d in step.reads.items():
        value = step.writes[slot].digest if slot in step.writes else d.digest
        restored = _earlier(w, i, slot, d.digest)
        for j in range(i + 1, len(w.steps)):
            if found is not None and j >= found[0]:
                break
            later = w.steps[j]
            if slot not in later.writes:
                continue
            written = later.writes[slot].digest
            if written == value or written in restored or slot in later.reads:
                value = written  # the same value again or put back, or transformed in place
                continue
            if cells_after(later.rec) != cells_after(step.rec):
                break  # made on other cells (a subset): not a re-run of this input
            if below is None:
                below = _descendants(w, i)
            if j in below:
                value = written
                continue
            found = (j, slot)
            break
    return None if found is None else Root(w.steps[found[0]], found[1], direct=True)


def stale(w: Walk) -> dict[int, Root]:
    """Index of every stale record -> its root: direct, or through what it was made from."""
    out: dict[int, Root] = {}
    for i in range(len(w.steps)):
        root = _direct(w, i)
        if root is None:
            for p in sorted(w.producers[i]):
                if p in out:
                    up = out[p]
                    first = w.steps[p] if up.direct else up.first
                    root = Root(up.step, up.slot, direct=False, via=w.steps[p], first=first)
                    break
        if root is not None:
            out[i] = root
    return out
