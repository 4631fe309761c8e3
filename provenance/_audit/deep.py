"""``replay_differs`` / ``unverified``: re-running the recorded clusterings, on request.

The hash chain shows a naive edit of a record, not a deliberate one: a record whose
parameters were changed and whose digest, index entry and scanpy ``params`` were recomputed
passes every other check. Whether the labels follow from the record is shown only by running
the recorded call again on the recorded graph and comparing partitions. That is what
``provenance.audit(..., deep=True)`` and ``provenance verify --deep`` do, with the replay
machinery (:mod:`provenance._replay`): for each clustering key, its latest record (older
versions' labels are gone), when the ordinary checks found the graph to be the recorded one.

A key that cannot be re-run gets the error ``unverified`` whose ``details["cause"]`` says why:
deep verification never passes a key it did not check, since a forger can make his record
unreplayable (``random_state=None``, a backend the verifier lacks). A re-run that differs
under other versions of the packages deciding the partition is inconclusive, and ``unverified``
too (cause ``inconclusive``): a forger can name other versions in his record. With
``allow_unreplayable`` these are the warnings ``not_replayable`` and ``replay_inconclusive``.
Re-runs across keys go to worker processes (``jobs``), each sent only a small object holding
the labels, the graph and the key's history.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from typing import TYPE_CHECKING, Any

from .deep_findings import Outcome, cannot_replay, replay_finding

if TYPE_CHECKING:
    from collections.abc import Collection

    from anndata import AnnData

    from provenance._schema.models import ClusteringRecord

    from .catalogue import Finding
    from .report import AuditEntry

__all__ = ["check_replays", "replay_outcome"]

# What the ordinary checks found that means the graph beside the labels is not the one the
# record clustered (or cannot be shown to be): replaying on it proves nothing.
_GRAPH_CAUSES = {
    "graph_changed": "the graph changed since the clustering",
    "graph_missing": "the recorded graph is missing",
    "graph_not_checkable": "the graph cannot be checked against the record",
    "subset_or_reordered": "the cells were subset or reordered since the clustering",
}


# How a restrict_to parent changed (stale_result's causes on a clustering), in words.
_PARENT_HOW = {
    "reclustered": "was re-clustered",
    "changed": "changed",
    "renamed": "was renamed",
}


def _parent_gone(
    columns: Any, key: str, local: str, rec: ClusteringRecord
) -> tuple[str, str] | None:
    """``("parent_changed", why)`` when the ``restrict_to`` column the record read is gone."""
    restrict = getattr(rec.params, "restrict_to", None)
    if restrict is None or restrict.key == local or restrict.key in columns:
        return None
    parent = key[: len(key) - len(local)] + restrict.key
    return (
        "parent_changed",
        f"obs[{parent!r}], the labels its restrict_to read, is gone: the call cannot run "
        "without them",
    )


def check_replays(
    obj: Any,
    entries: tuple[AuditEntry, ...],
    *,
    modalities: tuple[str, ...] = (),
    jobs: int | None = None,
    allow_unreplayable: bool = False,
) -> tuple[tuple[AuditEntry, ...], tuple[str, ...], tuple[str, ...]]:
    """``(entries, replayed, unverified)``: ``entries`` with a finding on each clustering key
    whose latest record was re-run and differs (``replay_differs``, ``replay_inconclusive``)
    or could not be re-run (``unverified``; ``not_replayable`` with ``allow_unreplayable``),
    the keys re-run and compared, and the keys that could not be.

    ``obj`` is what the audit read (an object or a path); ``modalities`` the MuData's, whose
    keys are named ``"<mod>:<key>"``; ``jobs`` the worker processes (``1``: in this process;
    ``None``: chosen from the cores and the graphs' size, see :func:`_workers`).
    """

    def unrun(key: str, cause: str, why: str) -> Finding:
        return cannot_replay(key, cause, why, allowed=allow_unreplayable)

    findings: dict[str, Finding] = {}
    todo = []
    deciding: dict[str, tuple[str, ...]] = {}
    # A graph changed in place by recorded steps, provably (graph_changed_by_step): replayed
    # on the graph rebuilt from their records, which is the graph clustered.
    rebuild = {
        e.key
        for e in entries
        if any(f.code == "graph_changed_by_step" and f.details.get("proven") for f in e.findings)
    }
    unrecorded = []
    for entry in entries:
        rec = entry.latest
        if rec is None and entry.in_obs and any(f.code == "no_record" for f in entry.findings):
            # Labels no record describes: nothing to re-run, so nothing verified. Deleting a
            # record must not be a way past --deep (with allow_unreplayable: no_record says it).
            unrecorded.append(entry.key)
            if not allow_unreplayable:
                findings[entry.key] = unrun(entry.key, "no_record", "its labels have no record")
            continue
        if rec is None or not entry.in_obs or not entry.checked:
            continue  # nothing recorded, or no labels to compare (reported already)
        reason = _cannot_rerun(entry, rec)
        if reason is not None:
            findings[entry.key] = unrun(entry.key, *reason)
        else:
            todo.append((entry.key, rec))
            deciding[entry.key] = _partition_packages(rec)
    shipped, here, unreadable = _gather(obj, todo, rebuild)
    for key, why in unreadable.items():
        findings[key] = unrun(key, *why)
    outcomes = [replay_outcome(key, *args) for key, args in here]
    outcomes += _run(shipped, _workers(jobs, shipped))
    replayed = []
    for out in outcomes:
        finding = replay_finding(out, deciding.get(out.key, ()), allowed=allow_unreplayable)
        if finding is not None:
            findings[out.key] = finding
        if out.error is None:
            replayed.append(out.key)
    unchecked = {
        f.key
        for f in findings.values()
        if f.code in ("unverified", "not_replayable", "replay_inconclusive")
    } | set(unrecorded)
    result = []
    for entry in entries:
        if entry.key in findings:
            merged = sorted(
                (*entry.findings, findings[entry.key]), key=lambda f: f.severity != "error"
            )
            entry = dataclasses.replace(entry, findings=tuple(merged))
        result.append(entry)
    keys = [e.key for e in entries]  # the report's order
    return (
        tuple(result),
        tuple(k for k in keys if k in replayed),
        tuple(k for k in keys if k in unchecked),
    )


Work = list[tuple[str, tuple[Any, str]]]


def _gather(
    obj: Any, todo: list[tuple[str, ClusteringRecord]], rebuild: Collection[str] = ()
) -> tuple[Work, Work, dict[str, tuple[str, str]]]:
    """``(small, whole, unreadable)``: per key, the object to replay it on and its key there.

    ``small`` objects (labels, graph, ``uns[key]``) may go to a worker; ``whole`` ones (a
    MuData, for a multiplex clustering of its root) are replayed here; ``unreadable`` says
    why a key's could not be had. The keys in ``rebuild`` get the graph they clustered,
    rebuilt from the records of the steps that changed it in place since.
    """
    from pathlib import Path

    from provenance._base.errors import ProvenanceError
    from provenance._replay.replay import read_parts
    from provenance._storage.files import AnnDataSource, FileSource, open_source
    from provenance._storage.history import part_of
    from provenance._storage.mudata import MuDataSource, is_mudata

    small: Work = []
    whole: Work = []
    unreadable: dict[str, tuple[str, str]] = {}
    if not todo:
        return small, whole, unreadable
    opened = isinstance(obj, FileSource | MuDataSource)  # the audit's own open file, read once
    if not isinstance(obj, str | Path) and not opened:
        for key, rec in todo:
            part, local = part_of(obj, key)
            gone = _parent_gone(part.obs.columns, key, local, rec)
            if gone is not None:
                unreadable[key] = gone
            elif is_mudata(part):
                whole.append((key, (part, local)))
            else:
                data = _small(part, local, rec)
                if key in rebuild:
                    _rebuilt(AnnDataSource(part), data, rec)
                small.append((key, (data, local)))
        return small, whole, unreadable
    # One open file for every key, only their parts read: the audit's own when it passes it
    # (a URL's graph is not fetched twice, and its storage options and timeout hold).
    with contextlib.nullcontext(obj) if opened else open_source(obj) as src:
        for key, rec in todo:
            inner, local = src, key
            if isinstance(src, MuDataSource):
                view = src.part_of(key)
                if view.modality is None and getattr(rec, "layers", None):
                    unreadable[key] = (
                        "mudata_root",
                        f"{rec.function} clustered the graphs of every modality (a "
                        "multiplex clustering), so it replays on the whole MuData, which a "
                        "deep audit does not read from a file; audit mudata.read_h5mu(path) "
                        "in memory with deep=True",
                    )
                    continue
                inner, local = view.inner, view.local(key)
            columns = {} if isinstance(inner, MuDataSource) else inner.obs_columns()
            gone = _parent_gone(columns, key, local, rec)
            if gone is not None:
                unreadable[key] = gone
                continue
            try:
                data = read_parts(inner, local)  # type: ignore[arg-type]
            except ProvenanceError as e:
                unreadable[key] = ("unreadable", str(e).rstrip("."))
                continue
            if key in rebuild:
                _rebuilt(inner, data, rec)
            small.append((key, (data, local)))
    return small, whole, unreadable


def replay_outcome(key: str, data: Any, local: str) -> Outcome:
    """Replay the latest record of ``local`` in ``data`` (in a worker or here); ``key`` is the
    report's name of it."""
    from provenance._base.errors import ProvenanceError
    from provenance._replay.replay import replay

    try:
        r = replay(data, local)
    except ProvenanceError as e:
        return Outcome(key, error=str(e))
    return Outcome(
        key,
        identical=r.identical,
        ari=float(r.ari),
        nmi=float(r.nmi),
        n_clusters_recorded=r.n_clusters_recorded,
        n_clusters_replayed=r.n_clusters_replayed,
        call=r.call,
        version=r.version,
        reproduces_record=r.reproduces_record,
        software=r.software,
    )


def _cannot_rerun(entry: AuditEntry, rec: ClusteringRecord) -> tuple[str, str] | None:
    """``(cause, why)`` when the latest record cannot be re-run to any purpose, else ``None``."""
    from provenance._replay.notes import deterministic
    from provenance._targets.registry import target_for_record
    from provenance._util.software import package_version

    for f in entry.findings:
        if f.code in _GRAPH_CAUSES:
            return (
                f.code,
                f"{_GRAPH_CAUSES[f.code]} ({f.code}): a re-run would not be on the graph "
                "it clustered",
            )
    for f in entry.findings:
        if f.code in ("stale_result", "labels_renamed") and "restrict_to" in f.details:
            parent, how = f.details.get("clustering_key"), str(f.details.get("cause"))
            return (
                "parent_changed",
                f"obs[{parent!r}], the labels its restrict_to read, {_PARENT_HOW.get(how, how)} "
                f"since ({f.code}): a re-run would not read the labels the recorded call "
                "read, so its result would prove nothing",
            )
    if rec.digest != rec.expected_digest():
        return "record_edited", "the record fails its digest check (edited after it was written)"
    if getattr(rec.params, "unknown", None):
        unknown = ", ".join(rec.params.unknown)
        return "unknown_arguments", f"the record does not know its arguments {unknown}"
    target = target_for_record(rec.function, rec.method, exact=True)
    if target is None:
        return "unknown_function", f"replay does not know how to call {rec.function!r}"
    flavor = getattr(rec.params, "flavor", None)
    missing = [d for d in target.backends(flavor) if package_version(d) is None]
    if target.load() is None:
        return "backend_missing", f"{target.function} is not installed"
    if missing:
        return "backend_missing", f"backend missing: install {', '.join(missing)}"
    notes: list[str] = []
    if not deterministic(rec, target, notes):
        return "nondeterministic", f"not deterministic: {notes[0]}"
    return None


def _partition_packages(rec: ClusteringRecord) -> tuple[str, ...]:
    """The distributions whose versions decide the partition ``rec``'s call gives."""
    from provenance._targets.registry import target_for_record

    target = target_for_record(rec.function, rec.method, exact=True)
    return () if target is None else target.partition_packages(getattr(rec.params, "flavor", None))


def _rebuilt(src: Any, data: AnnData, rec: ClusteringRecord) -> None:
    """Put into ``data`` (a small replay object) the graph ``rec`` clustered, rebuilt from the
    records of the steps that changed it in place since; left as it is when that fails."""
    from .graph_steps import explain_graph_change, rebuild_graph

    g = rec.graph
    if g is None or g.obsp_key is None or g.obsp_key not in data.obsp:
        return
    steps = explain_graph_change(src, g.obsp_key, g.digest, data.obsp[g.obsp_key])
    if steps is None or not steps.proven:
        return
    graph = rebuild_graph(data.obsp[g.obsp_key], steps)
    if graph is not None:
        data.obsp[g.obsp_key] = graph


def _small(adata: AnnData, key: str, rec: ClusteringRecord) -> AnnData:
    """An AnnData of what replaying ``key`` reads: ``obs_names``, the labels (and
    ``restrict_to`` column), the recorded graph and ``uns[key]``; never ``X`` or ``obsm``."""
    from anndata import AnnData

    params: Any = rec.params
    columns = [key]
    restrict = getattr(params, "restrict_to", None)
    if restrict is not None and restrict.key in adata.obs and restrict.key != key:
        columns.append(restrict.key)
    graph = rec.graph.obsp_key if rec.graph is not None else None
    obsp = {graph: adata.obsp[graph]} if graph is not None and graph in adata.obsp else None
    return AnnData(obs=adata.obs[columns].copy(), obsp=obsp, uns={key: adata.uns[key]})


# Below this many stored edges in all the graphs to re-run, ``jobs=None`` re-runs in this
# process: a worker pool's start (a fork server importing scanpy, ~5-30 s on a loaded 2-core
# machine) and shipping cost more than the clusterings (benchmarks/bench_deep.py).
PARALLEL_MIN_EDGES = 1_000_000


def _workers(jobs: int | None, work: Work) -> int:
    """How many processes re-run ``work``: ``jobs``, at most one per key; for ``None`` the
    usable cores when the graphs are large enough to gain from them, else 1."""
    n = len(work)
    if jobs is not None:
        if jobs < 1:
            msg = f"jobs={jobs!r}: give a number of worker processes >= 1, or None to choose."
            raise ValueError(msg)
        return min(jobs, max(n, 1))
    edges = sum(_edges(data) for _, (data, _) in work)
    if n < 2 or edges < PARALLEL_MIN_EDGES:
        return 1
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(cores or 1, n))


def _edges(adata: Any) -> int:
    """Stored entries of the graphs in a small replay object."""
    return sum(int(getattr(adata.obsp[g], "nnz", 0)) for g in adata.obsp)


def _run(work: Work, workers: int) -> list[Outcome]:
    """Replay each ``(key, (data, local))``: here for one worker, else in a process pool.

    The pool's processes come from a fork server that imported scanpy once: a forked child
    of this process would inherit its threads (and an active ``record()``'s patches), a
    spawned one would import scanpy again per worker.
    """
    if workers <= 1:
        return [replay_outcome(key, *args) for key, args in work]
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    ctx = multiprocessing.get_context("forkserver")
    # Modules a preload cannot import are skipped by the fork server.
    ctx.set_forkserver_preload(
        ["provenance._audit.deep", "provenance._replay.replay", "scanpy", "igraph", "leidenalg"]
    )
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        futures = [pool.submit(replay_outcome, key, *args) for key, args in work]
        return [f.result() for f in futures]
