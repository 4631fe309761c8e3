"""The checks of the whole pipeline: gaps in the chain of steps, and staleness through it.

They run once per object (per part of a MuData), over every record in the order the calls
ran (``chain``), after the per-key checks, and add their findings to the keys' entries:

- ``unrecorded_step`` (warning), cause ``"between"``: a record read a slot at another digest
  than the latest earlier record wrote (``X`` changed between ``sc.pp.log1p`` and
  ``sc.pp.pca`` by no recorded call); on the reading record's key. From the records alone, so
  from a file too.
- ``unrecorded_step``, cause ``"after"``: what a recorded transform wrote last (``X``,
  ``obsm['X_pca']``, ``var`` columns) differs in the object now; on the transform's key. In
  memory only: ``verify`` reads ``uns``, ``obsp`` and ``obs`` columns of a file, never ``X``.
- ``stale_result``, cause ``"remade"``: a slot the latest record of a key read was re-made
  later by a recorded step (``sc.pp.pca(adata, n_comps=20)`` re-run after ``sc.pp.neighbors``);
  cause ``"upstream"``: it was made from a stale record's output (the neighbors' graph, then
  the clustering, then the markers). ``details["because"]`` names the root step,
  ``details["rerun"]`` the recorded call.

What the per-key checks already judge is reported once, by them: a graph a neighbors record
wrote (``graph_changed``), a clustering's labels (``labels_changed``), an embedding's output
(``output_changed``); a key with a finding of :data:`COVERED` gets no second one, but an
existing ``stale_result`` gets the root in ``details["because"]`` when the chain knows it.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from .catalogue import Finding
from .chain import cells_after, genes_of, on_gene_axis, stale, timeline, walk
from .neighbors import holder, place, recorded_call, short_function, when

if TYPE_CHECKING:
    from collections.abc import Iterable

    from provenance._schema.models import SlotDigest
    from provenance._storage.files import AnnDataSource, FileSource
    from provenance._storage.mudata import PartView

    from .chain import Gap, Root, Step, Walk
    from .report import AuditEntry, StepEntry

    Source = AnnDataSource | FileSource | PartView

__all__ = ["CODES", "COVERED", "add_pipeline", "rerun_call"]

CODES = ("unrecorded_step", "stale_result")
"""The codes these checks return (``tests/test_findings_catalogue.py`` reads them)."""

COVERED = frozenset(
    {
        "stale_result",
        "graph_changed",
        "graph_changed_by_step",
        "graph_missing",
        "labels_missing",
    }
)
"""Findings that already say a key's inputs changed: no second ``stale_result`` on it."""

# Kinds whose own checks compare what they wrote with the object (graphs, labels, embeddings).
_OWN_OUTPUT_CHECKS = frozenset({"neighbors", "clustering", "umap", "tsne", "draw_graph", "diffmap"})


def rerun_call(src: Any, rec: Any) -> str:
    """A record's call as it can be typed again (``sc.pp.pca(adata, n_comps=20)``)."""
    obj = holder(src)
    if getattr(rec, "kind", "clustering") == "clustering":
        from .checks_parent import recorded_call as clustering_call

        return clustering_call(rec, obj=obj)
    return recorded_call(rec.function, rec.arguments, obj=obj)[0]


def _name(step: Step) -> str:
    """``sc.pp.log1p (log1p version 1)``."""
    return f"{short_function(step.rec.function)} ({step.key} version {step.rec.version})"


def _slots(names: Iterable[str]) -> str:
    names = list(names)
    return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " and " + names[-1]


def _how(then: SlotDigest, now: SlotDigest) -> str:
    if list(then.shape) != list(now.shape):
        if len(then.shape) == 2 and then.shape[0] == now.shape[0]:
            return f"{now.shape[1]} of {then.shape[1]} columns (genes) left"
        return f"shape {'x'.join(map(str, now.shape))}, was {'x'.join(map(str, then.shape))}"
    if then.dtype != now.dtype or then.sparse != now.sparse:
        fmt = "{} {}".format
        return (
            f"{fmt('sparse' if now.sparse else 'dense', now.dtype)}, was "
            f"{fmt('sparse' if then.sparse else 'dense', then.dtype)}"
        )
    return "other values"


def gap_findings(src: Source, w: Walk) -> list[Finding]:
    """``unrecorded_step`` (between): one per pair of records a change fell between."""
    pairs: dict[tuple[int, int], list[Gap]] = {}
    index = {id(s): i for i, s in enumerate(w.steps)}
    for g in w.gaps:
        if g.writer.kind in _OWN_OUTPUT_CHECKS:
            continue  # a graph, labels or an embedding: their own checks judge them
        pairs.setdefault((index[id(g.writer)], index[id(g.reader)]), []).append(g)
    out = [
        _genes_finding(src, w.steps[g.writer], w.steps[g.reader], g.n_then, g.n_now)
        for g in w.genes
    ]
    for (wi, _), gaps in pairs.items():
        writer, reader = gaps[0].writer, gaps[0].reader
        maker = _maker(w, wi, [g.slot for g in gaps])
        slots = [g.slot for g in gaps]
        hows = "; ".join(f"{g.slot}: {_how(g.written, g.read)}" for g in gaps)
        msg = (
            f"{place(src, reader.key)}: {_slots(slots)} changed between {_name(writer)} and "
            f"{_name(reader)}, by no recorded call ({hows}): the chain of records cannot "
            f"explain the data from there on. Re-run from {short_function(maker.rec.function)} "
            f"inside provenance.record({holder(src)}), or record the change."
        )
        details = {
            "cause": "between",
            "slots": slots,
            "writer": _ref(writer),
            "reader": _ref(reader),
            "changes": [_change(g.slot, g.written, g.read) for g in gaps],
        }
        out.append(Finding("unrecorded_step", reader.key, msg, details))
    return out


def _maker(w: Walk, i: int, slots: list[str]) -> Step:
    """The step to re-run from for a change of ``slots`` after record ``i`` wrote them: ``i``,
    or, when it is no transform and rewrote what it read in place (``sc.tl.rank_genes_groups``
    drops a sparse ``X``'s explicit zeros), the step before that wrote them: the values were
    made there (a change by hand in between is that gap's, re-run from there all the same)."""
    step = w.steps[i]
    while step.kind != "transform" and all(s in step.reads for s in slots):
        earlier = next(
            (j for j in range(i - 1, -1, -1) if any(s in w.steps[j].writes for s in slots)),
            None,
        )
        if earlier is None:
            break
        i, step = earlier, w.steps[earlier]
    return step


def _genes_finding(
    src: Source, writer: Step, reader: Step | None, n_then: int, n_now: int
) -> Finding:
    """``unrecorded_step`` for the genes changed (``adata[:, mask]``) after ``writer``, before
    ``reader`` (``None``: since, in the object now)."""
    how = f"{n_now} of {n_then} genes" if n_now <= n_then else f"{n_now} genes, were {n_then}"
    fn = short_function(writer.rec.function)
    obj = holder(src)
    if reader is None:
        key = writer.key
        what = f"the genes changed after {_name(writer)}"
    else:
        key = reader.key
        what = f"the genes changed between {_name(writer)} and {_name(reader)}"
    msg = (
        f"{place(src, key)}: {what}, by no recorded call ({how}: {obj}[:, mask]). Subset with a "
        f"recorded call (sc.pp.highly_variable_genes({obj}, subset=True), sc.pp.filter_genes) "
        f"inside provenance.record({obj}), or re-run from {fn} there."
    )
    details: dict[str, Any] = {
        "cause": "between" if reader is not None else "after",
        "slots": ["var_names"],
        "writer": _ref(writer),
        "n_vars_then": n_then,
        "n_vars_now": n_now,
    }
    if reader is not None:
        details["reader"] = _ref(reader)
    return Finding("unrecorded_step", key, msg, details)


def _ref(step: Step) -> dict[str, Any]:
    return {"key": step.key, "version": int(step.rec.version), "function": step.rec.function}


def _change(slot: str, then: SlotDigest, now: SlotDigest) -> dict[str, Any]:
    return {
        "slot": slot,
        "digest_then": then.digest,
        "digest_now": now.digest,
        "shape_then": list(then.shape),
        "shape_now": list(now.shape),
    }


def after_findings(src: Source, w: Walk) -> list[Finding]:
    """``unrecorded_step`` (after): what recorded transforms wrote last, against the object
    now (in memory only; on the cells they ran on)."""
    from provenance._storage.slots import get_slot, slot_digest

    adata = getattr(src, "adata", None)
    if adata is None or not getattr(src, "check_data", False):
        return []
    from provenance._util.fingerprint import obs_names_digest

    names = obs_names_digest(adata.obs_names)
    out = []
    # The genes now against the last transform's: a subset since is one change.
    last_t = max((i for i, s in enumerate(w.steps) if genes_of(s.rec) is not None), default=None)
    subset_since = False
    if last_t is not None and cells_after(w.steps[last_t].rec) == names:
        then = genes_of(w.steps[last_t].rec)
        assert then is not None
        if obs_names_digest(adata.var_names) != then[0]:
            subset_since = True
            out.append(_genes_finding(src, w.steps[last_t], None, then[1], int(adata.n_vars)))
    subset_at = [g.reader for g in w.genes]
    index = {id(s): j for j, s in enumerate(w.steps)}
    read_since = {(g.slot, index[id(g.writer)], g.read.digest) for g in w.gaps}
    by_writer: dict[int, list[tuple[str, SlotDigest, SlotDigest]]] = {}
    for slot, (i, written) in w.last.items():
        writer = w.steps[i]
        if writer.kind in _OWN_OUTPUT_CHECKS or cells_after(writer.rec) != names:
            continue  # judged by its own checks, or other cells (subset_or_reordered)
        try:
            now = slot_digest(get_slot(adata, slot))
        except (KeyError, TypeError, ValueError, AttributeError):
            continue
        if now is None or now.hash_algorithm != written.hash_algorithm:
            continue  # gone (nothing left to contradict), or not hashable in memory
        if now.digest == written.digest or (slot, i, now.digest) in read_since:
            continue  # unchanged, or the change a later record read: its gap says it
        resized = on_gene_axis(slot) and list(now.shape) != list(written.shape)
        if resized and (subset_since or any(i < r for r in subset_at)):
            continue  # the gene subset is the change: said once
        by_writer.setdefault(i, []).append((slot, written, now))
    for i, changes in by_writer.items():
        writer = w.steps[i]
        slots = [c[0] for c in changes]
        maker = _maker(w, i, slots)
        hows = "; ".join(f"{s}: {_how(then, now)}" for s, then, now in changes)
        t = when(writer.rec.finished_at or writer.rec.started_at)
        msg = (
            f"{place(src, writer.key)}: {_slots(slots)}, which {_name(writer)} wrote at {t}, "
            f"changed since, by no recorded call ({hows}). Re-run from "
            f"{short_function(maker.rec.function)} inside provenance.record({holder(src)}), "
            "or record the change."
        )
        details = {
            "cause": "after",
            "slots": slots,
            "writer": _ref(writer),
            "changes": [_change(s, then, now) for s, then, now in changes],
        }
        out.append(Finding("unrecorded_step", writer.key, msg, details))
    return out


def stale_findings(src: Source, w: Walk) -> tuple[dict[str, Root], list[Finding]]:
    """The root of every stale key (its latest record), and a ``stale_result`` for each."""
    roots = stale(w)
    latest: dict[str, int] = {}
    for i, step in enumerate(w.steps):
        latest[step.key] = i
    by_key = {k: roots[i] for k, i in latest.items() if i in roots}
    out = []
    for key, root in by_key.items():
        step = w.steps[latest[key]]
        out.append(_stale_finding(src, step, root))
    return by_key, out


def _stale_finding(src: Source, step: Step, root: Root) -> Finding:
    fn = short_function(step.rec.function)
    cause = root.step
    t = when(cause.rec.finished_at or cause.rec.started_at)
    remade = (
        f"{root.slot} was re-made by {rerun_call(src, cause.rec)} ({cause.key} version "
        f"{cause.rec.version}, at {t})"
    )
    if root.direct:
        what = f"{remade} after {fn} read it"
    else:
        assert root.via is not None
        what = f"it was made from {_name(root.via)}, which is stale: {remade} after that"
    call = rerun_call(src, step.rec)
    before = ""
    if root.first is not None:
        before = f"{rerun_call(src, root.first.rec)} and what was made from it, then "
    msg = (
        f"{place(src, step.key)} ({fn}, version {step.rec.version}): {what}, so it describes "
        f"what is no longer in the object; re-run {before}{call} inside "
        f"provenance.record({holder(src)})."
    )
    details = {
        "cause": "remade" if root.direct else "upstream",
        "function": step.rec.function,
        "version": int(step.rec.version),
        "rerun": call,
        "because": root.details(),
    }
    if root.via is not None:
        details["via"] = _ref(root.via)
    if root.first is not None:
        details["first"] = _ref(root.first)
    return Finding("stale_result", step.key, msg, details)


def add_pipeline(
    src: Source, entries: tuple[AuditEntry, ...], steps: tuple[StepEntry, ...]
) -> tuple[tuple[AuditEntry, ...], tuple[StepEntry, ...]]:
    """The entries with the pipeline's findings added (and each step's ``reads_from``)."""
    w = walk(timeline(src))
    if not w.steps:
        return entries, steps
    found = gap_findings(src, w) + after_findings(src, w)
    lost = [s.key for s in steps if not s.n_stored and _lost(s.findings)]
    if lost:
        # A step's records are gone: what it wrote reads as a change by no recorded call. Its
        # history_lost is the one finding; the gaps it may explain are named there.
        steps = tuple(_with_unexplained(s, found) if s.key in lost else s for s in steps)
        found = []
    roots, stale_found = stale_findings(src, w)
    by_key: dict[str, list[Finding]] = {}
    for f in found:
        by_key.setdefault(f.key, []).append(f)
    sources = _reads_from(w)

    def extend(entry: Any) -> Any:
        have = list(entry.findings)
        codes = {f.code for f in have}
        root = roots.get(entry.key)
        if root is not None:
            because = root.details()
            have = [
                dataclasses.replace(f, details={**f.details, "because": because})
                if f.code == "stale_result" and "because" not in f.details
                else f
                for f in have
            ]
            if not codes & COVERED:
                have += [f for f in stale_found if f.key == entry.key]
        have += by_key.get(entry.key, [])
        have.sort(key=lambda f: f.severity != "error")
        changes: dict[str, Any] = {"findings": tuple(have)}
        if hasattr(entry, "reads_from") and entry.key in sources:
            changes["reads_from"] = sources[entry.key]
        return dataclasses.replace(entry, **changes)

    return tuple(map(extend, entries)), tuple(map(extend, steps))


def _lost(findings: Iterable[Finding]) -> bool:
    return any(f.code == "history_lost" for f in findings)


def _with_unexplained(entry: StepEntry, found: list[Finding]) -> StepEntry:
    """A lost step's entry, its ``history_lost`` naming the changes by no remaining record
    (``details["unexplained"]``: the ``unrecorded_step`` findings' details)."""
    if not found:
        return entry
    said = "; ".join(
        f"{_slots(f.details['slots'])} "
        + (
            f"as {f.details['reader']['key']} read it"
            if "reader" in f.details
            else "in the object now"
        )
        + f", not as {f.details['writer']['key']} wrote it"
        for f in found
    )
    note = (
        f" Without its records the chain has values no remaining record made: {said}; they "
        "may be its output or changes by hand, which cannot be told until it is restored."
    )
    unexplained = [f.details for f in found]
    have = tuple(
        dataclasses.replace(
            f, message=f.message + note, details={**f.details, "unexplained": unexplained}
        )
        if f.code == "history_lost"
        else f
        for f in entry.findings
    )
    return dataclasses.replace(entry, findings=have)


def _reads_from(w: Walk) -> dict[str, tuple[tuple[str, str | None], ...]]:
    """Key -> what its latest record read: ``(slot, key of the record that wrote it)``, the
    key ``None`` for the pipeline's input (a slot no earlier record wrote)."""
    out: dict[str, tuple[tuple[str, str | None], ...]] = {}
    for i, step in enumerate(w.steps):
        pairs = []
        for slot, d in step.reads.items():
            writer = next(
                (
                    w.steps[j].key
                    for j in range(i - 1, -1, -1)
                    if slot in w.steps[j].writes and w.steps[j].writes[slot].digest == d.digest
                ),
                None,
            )
            if writer is None:  # a copy of another slot a record wrote (X = layers['counts'])
                writer = next((c.writer.key for c in w.copies if c.reader is step), None)
            pairs.append((slot, writer))
        out[step.key] = tuple(pairs)
    return out
