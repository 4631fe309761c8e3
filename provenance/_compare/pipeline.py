"""The pipeline: every record in the order it ran, linked by the slots each read and wrote.

A record read a slot (``X``, ``obsm['X_pca']``) with a digest; the record that last wrote that
slot before it, with that digest, is where it came from (a *link*). A link is

- ``"ok"``: the slot was read as the writer left it;
- ``"gap"``: the slot changed between the writer and the reader by no recorded call (or, for
  an input no record wrote, since an earlier record read it);
- ``"stale"``: the reader still stands (the latest version of its key) but a newer version
  of the writer's key rewrote the slot since: the reader was made from what is gone.

A slot no record wrote is an *input* (``writer`` is ``None``): the counts the pipeline
started from. Each step's status is its key's, from the audit's findings (``"superseded"``
for an older version of a key). ``provenance._render`` draws a :class:`PipelineView` (a list in
the terminal, an SVG picture and a table in HTML); :func:`key_edges` gives
:func:`~provenance.lineage` its edges by digest.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Iterable

    from provenance._audit.report import AuditReport, Finding

__all__ = [
    "Link",
    "LinkStatus",
    "PipelineView",
    "StepStatus",
    "ViewStep",
    "key_edges",
    "main_arguments",
    "pipeline_of",
]

LinkStatus = Literal["ok", "gap", "stale"]
StepStatus = Literal["ok", "stale", "error", "warning", "superseded"]

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class ViewStep:
    """One record of the pipeline: one call."""

    index: int
    """Position in the order the calls ran, from 0."""
    key: str
    """The key its history is kept under (``"<mod>:<key>"`` in a MuData's modality)."""
    version: int
    """Its version in that history."""
    kind: str
    """The record's kind (``"transform"``, ``"neighbors"``, ``"clustering"``, ...)."""
    function: str
    """The function called, e.g. ``scanpy.pp.pca``."""
    arguments: tuple[tuple[str, Any], ...]
    """The main arguments of the call (:func:`main_arguments`), as recorded."""
    reads: tuple[str, ...]
    """Slots the call read."""
    writes: tuple[str, ...]
    """Slots the call changed."""
    started_at: datetime | None
    """UTC time the call started."""
    duration_s: float | None
    """Wall time of the call in seconds."""
    status: StepStatus
    """Its key's status (from the audit's findings) for the latest version of a key;
    ``"superseded"`` for an older one."""
    why: str
    """The status in one line: the first finding's message, or empty."""

    @property
    def label(self) -> str:
        """``key vN``."""
        return f"{self.key} v{self.version}"


@dataclass(frozen=True)
class Link:
    """A slot one step read, from the step that wrote it (``writer`` ``None``: an input)."""

    writer: int | None
    """Index of the writing step, or ``None`` when no record wrote the slot."""
    reader: int
    """Index of the reading step."""
    slot: str
    """The slot (``"X"``, ``"obsm['X_pca']"``)."""
    status: LinkStatus
    """``"ok"``, ``"gap"`` or ``"stale"`` (see the module's description)."""
    note: str = ""
    """What is wrong with the link, in words (empty when ok)."""


@dataclass(frozen=True)
class PipelineView:
    """Every record of an object in the order the calls ran, and the links between them."""

    source: str
    """What was read (a path, or a description of the object)."""
    steps: tuple[ViewStep, ...]
    """Oldest call first."""
    links: tuple[Link, ...]
    """By reader, then in the order the reader lists its reads."""

    @property
    def inputs(self) -> tuple[str, ...]:
        """Slots read that no record wrote (where the pipeline started), in order of first use."""
        return tuple(dict.fromkeys(lk.slot for lk in self.links if lk.writer is None))

    @property
    def linked(self) -> bool:
        """Whether any step read what another step wrote (records before 1.6 keep no slots)."""
        return any(lk.writer is not None for lk in self.links)

    @cached_property
    def _by_reader(self) -> dict[int, list[Link]]:
        out: dict[int, list[Link]] = {}
        for lk in self.links:
            out.setdefault(lk.reader, []).append(lk)
        return out

    def links_into(self, index: int) -> list[Link]:
        """The links of what step ``index`` read."""
        return list(self._by_reader.get(index, ()))


# The arguments a person reads first, by function (the last part of its name); others are
# shown in full by ``provenance show KEY`` / the history.
_MAIN: dict[str, tuple[str, ...]] = {
    "filter_cells": ("min_counts", "min_genes", "max_counts", "max_genes"),
    "filter_genes": ("min_counts", "min_cells", "max_counts", "max_cells"),
    "normalize_total": ("target_sum", "exclude_highly_expressed", "layer", "key_added"),
    "log1p": ("base", "layer"),
    "highly_variable_genes": ("flavor", "n_top_genes", "batch_key", "layer", "subset"),
    "scale": ("max_value", "zero_center", "layer"),
    "regress_out": ("keys", "layer"),
    "combat": ("key",),
    "pca": ("n_comps", "svd_solver", "mask_var", "use_highly_variable", "layer", "random_state"),
    "neighbors": ("n_neighbors", "n_pcs", "use_rep", "metric", "method", "key_added"),
    "umap": ("min_dist", "spread", "init_pos", "random_state"),
    "tsne": ("n_pcs", "use_rep", "perplexity", "random_state"),
    "draw_graph": ("layout", "random_state"),
    "diffmap": ("n_comps",),
    "leiden": ("resolution", "flavor", "n_iterations", "random_state", "restrict_to"),
    "louvain": ("resolution", "flavor", "random_state", "restrict_to"),
    "rank_genes_groups": ("groupby", "method", "reference", "use_raw", "layer"),
    "filter_rank_genes_groups": ("key", "min_fold_change", "min_in_group_fraction"),
    "dendrogram": ("groupby", "use_rep", "n_pcs"),
    "paga": ("groups", "neighbors_key"),
    "harmony_integrate": ("key", "basis", "adjusted_basis"),
    "bbknn": ("batch_key", "use_rep"),
    "scanorama_integrate": ("key", "basis", "adjusted_basis"),
}
_NEVER_MAIN = frozenset({"adata", "data", "copy", "inplace", "key_added", "function", "origin"})


def _shown(value: Any) -> bool:
    """Whether an argument's value says something (not unset, not a sentinel object)."""
    if value is None or value in ({}, []):
        return False
    return not (isinstance(value, dict) and value.get("$type") == "object")


def main_arguments(function: str, arguments: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    """The arguments of a call worth a glance: the function's main ones that were set, else
    (a function without a list) every set argument but the object and ``copy``/``inplace``."""
    name = function.rsplit(".", 1)[-1]
    names = _MAIN.get(name)
    if names is None:
        names = tuple(k for k in sorted(arguments) if k not in _NEVER_MAIN)
    return tuple((k, arguments[k]) for k in names if k in arguments and _shown(arguments[k]))


def _arguments(rec: Any) -> dict[str, Any]:
    args = getattr(rec, "arguments", None)
    if isinstance(args, dict):
        return args
    params = getattr(rec, "params", None)  # a clustering record
    if params is None:
        return {}
    out: dict[str, Any] = params.model_dump(mode="json")
    restrict = out.get("restrict_to")
    if isinstance(restrict, dict):  # shown as the key it refined
        out["restrict_to"] = restrict.get("key")
    return out


def _records(report: AuditReport) -> list[tuple[str, Any]]:
    """(key, record) of every readable record in the report, oldest call first."""
    found: list[tuple[datetime, int, int, str, Any]] = []
    holders: Iterable[Any] = (*report.entries, *report.steps)
    for order, holder in enumerate(holders):
        for i, rec in enumerate(holder.history):
            found.append((rec.started_at or _NEVER, order, i, holder.key, rec))
    found.sort(key=lambda t: (t[0], t[1], t[2]))
    return [(t[3], t[4]) for t in found]


def _status(
    key: str, version: int, latest: dict[str, int], findings: dict[str, list[Finding]]
) -> tuple[StepStatus, str]:
    if version < latest[key]:
        return "superseded", f"version {latest[key]} of {key} replaced it"
    mine = findings.get(key, [])
    stale = [f for f in mine if f.code in ("stale_result", "stale_result_suspected")]
    errors = [f for f in mine if f.severity == "error"]
    warnings = [f for f in mine if f.severity == "warning"]
    if stale:
        return "stale", stale[0].message
    if errors:
        return "error", errors[0].message
    if warnings:
        return "warning", warnings[0].message
    return "ok", ""


def pipeline_of(report: AuditReport) -> PipelineView:
    """The pipeline of the records an audit read, each step with its key's status."""
    records = _records(report)
    latest: dict[str, int] = {}
    for key, rec in records:
        latest[key] = max(latest.get(key, 0), rec.version)
    findings: dict[str, list[Finding]] = {}
    for f in report.findings:
        findings.setdefault(f.key, []).append(f)
    steps = []
    for i, (key, rec) in enumerate(records):
        status, why = _status(key, rec.version, latest, findings)
        steps.append(
            ViewStep(
                index=i,
                key=key,
                version=rec.version,
                kind=rec.kind,
                function=rec.function,
                arguments=main_arguments(rec.function, _arguments(rec)),
                reads=tuple(getattr(rec, "reads", {})),
                writes=tuple(getattr(rec, "writes", {})),
                started_at=rec.started_at,
                duration_s=rec.duration_s,
                status=status,
                why=why,
            )
        )
    links = _links(records, steps)
    return PipelineView(source=report.source, steps=tuple(steps), links=tuple(links))


def _part(key: str, rec: Any) -> str:
    """The MuData modality prefix of a key (``"rna:"``), empty for the object itself."""
    local = str(rec.key)
    return key[: len(key) - len(local)] if key.endswith(local) else ""


def _links(records: list[tuple[str, Any]], steps: list[ViewStep]) -> list[Link]:
    """Each read linked to the record that last wrote the slot before it (see the module)."""
    # (part, slot) -> every (index, digest) a record wrote, in order; and the first digest an
    # input was read with.
    written: dict[tuple[str, str], list[tuple[int, str]]] = {}
    first_read: dict[tuple[str, str], tuple[int, str]] = {}
    links: list[Link] = []
    for i, (key, rec) in enumerate(records):
        part = _part(key, rec)
        for slot, sd in getattr(rec, "reads", {}).items():
            where = (part, slot)
            writes = [w for w in written.get(where, []) if w[0] < i]
            links.append(_link(i, slot, sd.digest, writes, first_read.get(where), steps))
            if not writes:
                first_read.setdefault(where, (i, sd.digest))
        for slot, sd in getattr(rec, "writes", {}).items():
            written.setdefault((part, slot), []).append((i, sd.digest))
    # Stale: a newer version of the writer's key rewrote the slot after a reader that stands.
    out = []
    for lk in links:
        if lk.status == "ok" and lk.writer is not None and steps[lk.reader].status != "superseded":
            w = steps[lk.writer]
            part = _part(w.key, records[lk.writer][1])
            later = [
                j
                for j, _ in written.get((part, lk.slot), [])
                if j > lk.reader and steps[j].key == w.key and steps[j].version > w.version
            ]
            if later:
                by = steps[later[-1]]
                lk = Link(lk.writer, lk.reader, lk.slot, "stale", f"{by.label} rewrote {lk.slot}")
        out.append(lk)
    return out


def _link(
    reader: int,
    slot: str,
    digest: str,
    writes: list[tuple[int, str]],
    first: tuple[int, str] | None,
    steps: list[ViewStep],
) -> Link:
    if not writes:
        if first is None or first[1] == digest:
            return Link(None, reader, slot, "ok")
        was = steps[first[0]].label
        return Link(None, reader, slot, "gap", f"{slot} changed since {was} read it")
    for index, written in reversed(writes):  # as a writer left it (the last such writer)
        if written == digest:
            return Link(index, reader, slot, "ok")
    last = steps[writes[-1][0]]
    note = f"{slot} changed between {last.label} and {steps[reader].label}, by no recorded call"
    return Link(writes[-1][0], reader, slot, "gap", note)


def key_edges(pipeline: PipelineView) -> list[tuple[str, str]]:
    """``(writer key, reader key)`` of the links into the latest version of each key: the
    lineage's edges by digest, in the order the readers ran."""
    steps = pipeline.steps
    out: list[tuple[str, str]] = []
    for lk in pipeline.links:
        if lk.writer is None or steps[lk.reader].status == "superseded":
            continue
        edge = (steps[lk.writer].key, steps[lk.reader].key)
        if edge[0] != edge[1] and edge not in out:
            out.append(edge)
    return out
