"""Replay a recorded clustering from its record and report how well it agrees.

The call is rebuilt from the record alone (same function, flavor and parameters; classes
resolved from the allowlist of the record's target), run with the original, unpatched
function on a scratch object that holds only what the call reads (the graph, and the
``restrict_to`` column), and its labels are compared with ``obs[key]``. The user's object is
never modified.
"""

from __future__ import annotations

import dataclasses
import inspect
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, overload

from provenance._base.errors import ReplayError, UnknownVersionError, UnreadableFileError
from provenance._storage.history import history, part_of, select_version
from provenance._targets.registry import target_for_record
from provenance._util.agreement import agreement
from provenance._util.fingerprint import label_digests

from .notes import argument_notes, call_text, deterministic, software_diff
from .result import ReplayResult
from .run import graph_to_replay, python_random, stage

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from anndata import AnnData

    from provenance._schema.models import ClusteringRecord
    from provenance._storage.files import FileSource
    from provenance._targets.base import Target

    from .result import PipelineReplay

__all__ = ["ReplayResult", "read_for_replay", "replay"]

_TMP_KEY = "_provenance_replay"


@overload
def replay(
    adata: AnnData,
    key: str,
    *,
    version: int = ...,
    force: bool = ...,
    pipeline: Literal[False] = ...,
) -> ReplayResult: ...


@overload
def replay(
    adata: AnnData, key: str, *, version: int = ..., force: bool = ..., pipeline: Literal[True]
) -> PipelineReplay: ...


def replay(
    adata: AnnData, key: str, *, version: int = -1, force: bool = False, pipeline: bool = False
) -> ReplayResult | PipelineReplay:
    """Re-run a recorded clustering from its record and compare it with ``obs[key]``.

    Parameters
    ----------
    adata
        The annotated data matrix (or MuData); it is not modified.
    key
        The ``obs`` column / ``uns`` key of a recorded clustering; of a MuData, a root key
        (``"wnn"``) or a modality's as ``"<mod>:<key>"`` (``"rna:leiden"``).
    version
        Which record of the key's history: 1-based, or negative from the end (``-1``: latest).
    force
        Replay even when the graph differs from (or cannot be checked against) the one the
        record names, or the record fails its digest check. Not used with ``pipeline``
        (it rebuilds the graph instead of checking it).
    pipeline
        Re-run every recorded step the clustering depends on (normalize_total, log1p, hvg,
        pca, neighbors, ...), from the earliest recorded input the object still holds
        (``layers['counts']``, ``raw.X``, ``X``), comparing every slot each step wrote with
        the record's digests: a :class:`PipelineReplay` (see ``docs/replay.md``).

    Returns
    -------
    The comparison of the replayed labels with ``obs[key]`` (with ``pipeline``, also of
    every step before).

    Raises
    ------
    UnknownKeyError
        ``key`` is neither in ``obs`` nor in ``uns``.
    ReplayError
        The record cannot be replayed: no such version, a changed graph (without ``force``),
        a class outside the allowlist, an argument that cannot be rebuilt, or the call failed.

    Examples
    --------
    >>> with provenance.record(adata):
    ...     sc.tl.leiden(adata, key_added="leiden_1", flavor="igraph", n_iterations=2)
    >>> result = provenance.replay(adata, "leiden_1")
    >>> result.identical, result.ari
    (True, 1.0)
    """
    part, local = part_of(adata, key)
    if part is not adata:
        # A modality's clustering replays on the modality, an AnnData of its own.
        if pipeline:
            return dataclasses.replace(replay(part, local, version=version, pipeline=True), key=key)
        result = replay(part, local, version=version, force=force)
        return dataclasses.replace(result, key=key)
    if pipeline:
        from .pipeline import replay_pipeline

        return replay_pipeline(adata, key, version=version, replay=replay)
    records = history(adata, key)
    if not records:
        msg = (
            f"{key!r} has no provenance record to replay; cluster inside "
            "`with provenance.record(adata):` to record it."
        )
        raise ReplayError(msg)
    try:
        rec = select_version(records, version, key=key)
    except UnknownVersionError as e:
        raise ReplayError(str(e)) from None  # replay's errors are ReplayErrors (CLI exit 2)
    where = f"{key!r} version {rec.version}"
    if key not in adata.obs:
        msg = f"obs[{key!r}] is missing: there are no labels to compare the replay of {where} with."
        raise ReplayError(msg)
    target = _target(rec, where)
    func = _original(target)
    kwargs = target.replay_kwargs(
        rec.params, parameters=inspect.signature(func).parameters, where=where
    )
    kwargs["key_added"] = _TMP_KEY
    notes: list[str] = []
    forced = False
    unknown = list(getattr(rec.params, "unknown", []))
    if unknown:
        if not force:
            msg = (
                f"{where} was {rec.origin} without knowing its arguments {', '.join(unknown)}; "
                "replay(..., force=True) or --force replays it with the installed defaults "
                "for those."
            )
            raise ReplayError(msg)
        forced = True
        notes.append(f"unknown arguments left at the installed defaults: {', '.join(unknown)}")
    if rec.digest != rec.expected_digest():
        if not force:
            msg = (
                f"the record of {where} fails its digest check: it was edited after it was "
                "written; replay(..., force=True) or --force replays it anyway."
            )
            raise ReplayError(msg)
        forced = True
        notes.append("the record fails its digest check (edited after it was written)")
    staged = target.replay_stage(adata, rec, kwargs, force=force, where=where)
    if staged is None:  # a single graph: stage it here
        matrix, graph_name, matches, graph_forced, graph_note = graph_to_replay(
            adata, rec, force, where
        )
        scratch = stage(adata, rec, matrix, kwargs)
    else:  # the target stages its own (a multiplex clustering's modality graphs)
        scratch, graph_name, matches, graph_forced, graph_note = staged
    forced = forced or graph_forced
    if graph_note:
        notes.append(graph_note)

    notes.extend(argument_notes(rec))
    with warnings.catch_warnings():
        # The record says which flavor ran; scanpy's notices about the leidenalg flavor and
        # future defaults are noise here. scanpy <= 1.11 starts its FutureWarning with "In the
        # future, the default backend"; 1.12 starts both its FutureWarning (flavor=None) and
        # its UserWarning (flavor="leidenalg") with the sentence below.
        warnings.filterwarnings(
            "ignore", message="In the future, the default backend", category=FutureWarning
        )
        warnings.filterwarnings(
            "ignore", message="The `igraph` implementation of leiden clustering is"
        )
        try:
            with python_random(rec.params.python_random_state):
                func(scratch, **kwargs)
        except Exception as e:
            detail = " ".join(str(e).split())[:300]
            msg = f"replaying {where}: {rec.function} raised {type(e).__name__}: {detail}"
            raise ReplayError(msg) from e
    replayed = scratch.obs[_TMP_KEY]
    current = adata.obs[key]
    agree = agreement(current, replayed)
    digests = label_digests(replayed, adata.obs_names)
    current_digests = label_digests(current, adata.obs_names)
    labels_version = next(
        (
            r.version
            for r in reversed(records)
            if r.result.labels_digest == current_digests["labels_digest"]
        ),
        None,
    )
    seeded = deterministic(rec, target, notes)
    restrict = getattr(rec.params, "restrict_to", None)
    if restrict is not None:
        notes.append(_restrict_note(adata, key, restrict, labels_version == rec.version))
    labels = replayed.copy()
    labels.name = key
    return ReplayResult(
        key=key,
        version=rec.version,
        n_versions=len(records),
        call=call_text(rec, kwargs, func),
        identical=agree.identical,
        ari=agree.ari,
        nmi=agree.nmi,
        n_clusters_recorded=agree.contingency.shape[0],
        n_clusters_replayed=agree.contingency.shape[1],
        contingency=agree.contingency,
        best_match=agree.best_match,
        reproduces_record=digests["partition_digest"] == rec.result.partition_digest,
        labels_version=labels_version,
        graph=graph_name,
        graph_matches=matches,
        forced=forced,
        deterministic=seeded,
        software=software_diff(rec),
        notes=tuple(notes),
        labels=labels,
    )


def _restrict_note(adata: AnnData, key: str, restrict: Any, as_recorded: bool) -> str:
    """What the replay of a ``restrict_to`` clustering read of its parent: the labels the
    call read (told by ``obs[key]`` while it holds the recorded labels), or others."""
    from provenance._util.restrict import parent_read

    parent = restrict.key
    if not as_recorded:
        return (
            f"restrict_to re-clustered obs[{parent!r}] as it is now; the record does not "
            f"fingerprint that column, and obs[{key!r}] no longer holds the recorded labels "
            "that would tell what the call read"
        )
    read = parent_read(adata.obs[key], adata.obs[parent], list(restrict.categories))
    if read.state == "same":
        return (
            f"restrict_to read obs[{parent!r}] as the recorded call did (obs[{key!r}] tells "
            "which cells it restricted and the labels it kept)"
        )
    how = "renamed" if read.state == "renamed" else "re-clustered or edited"
    return (
        f"obs[{parent!r}] was {how} since the recorded call read it: the replay sub-clustered "
        "other labels, so a difference says nothing about the record"
    )


def _target(rec: ClusteringRecord, where: str) -> Target:
    target = target_for_record(rec.function, rec.method, exact=True)
    if target is None:
        msg = f"{where} was made by {rec.function!r}, which replay does not know how to call."
        raise ReplayError(msg)
    return target


def _original(target: Target) -> Callable[..., Any]:
    """The library's own function, also inside a ``record()`` block (never the recorder's
    wrapper)."""
    func = target.load()
    if func is None:
        msg = f"{target.function} is not installed ({target.module}.{target.attr}); install it."
        raise ReplayError(msg)
    # scanpy's own decorators also set ``__wrapped__`` (functools.wraps): unwrap only what
    # the recorder marks as its wrapper.
    while getattr(func, "__provenance_wrapper__", False) and hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    return func


def read_for_replay(
    path: str | Path, key: str, *, storage_options: Mapping[str, Any] | None = None
) -> AnnData:
    """Read from an ``.h5ad`` or ``.zarr`` file only what replaying ``key`` needs.

    That is ``uns[key]``, the ``uns`` entries of the neighbour graphs its records name, the
    ``obs`` columns compared and restricted to, ``obs_names``, and the ``obsp`` graphs the
    records name or scanpy would choose. ``X``, layers, ``obsm`` and the rest are never read.

    Raises
    ------
    UnreadableFileError
        The path is missing, not AnnData, or damaged where it must be read.
    InvalidRecordError
        A record of ``key`` cannot be decoded or validated (:class:`NewerSchemaError`
        when a newer anndata-provenance wrote it), from either format alike.

    Examples
    --------
    >>> adata = read_for_replay("pbmc.h5ad", "leiden_1.0")
    >>> provenance.replay(adata, "leiden_1.0").identical
    True
    """
    from provenance._storage.files import open_file

    with open_file(path, storage_options=storage_options) as src:
        return read_parts(src, key)


def read_parts(src: FileSource, key: str) -> AnnData:
    """What :func:`read_for_replay` reads, from an open file (or one modality of an ``.h5mu``:
    a deep audit reads every key's from one open file)."""
    from collections.abc import Mapping

    from provenance._storage.codec import read_history

    records = read_history(src.uns_entry(key), key=key)
    # An AnnData's (or a modality's) records are single-graph (scanpy) ones.
    params: list[Any] = [r.params for r in records]
    neighbors = {"neighbors"}
    neighbors |= {p.neighbors_key for p in params if p.neighbors_key}
    neighbors |= {r.graph.neighbors_key for r in records if r.graph and r.graph.neighbors_key}
    graphs = {"connectivities"}
    graphs |= {r.graph.obsp_key for r in records if r.graph and r.graph.obsp_key}
    graphs |= {p.obsp for p in params if p.obsp}
    for nk in neighbors:
        entry = src.uns_entry(nk)
        if isinstance(entry, Mapping) and "connectivities_key" in entry:
            graphs.add(str(entry["connectivities_key"]))
    columns = {key} | {p.restrict_to.key for p in params if p.restrict_to}
    return src.to_anndata(uns_keys=[key, *sorted(neighbors)], columns=columns, graphs=graphs)


def read_mudata(path: str | Path, *, storage_options: Mapping[str, Any] | None = None) -> Any:
    """The MuData in an ``.h5mu`` file or mudata ``.zarr`` store, else ``None`` (an AnnData file).

    A multiplex record replays on every modality graph, so the MuData is read whole (with
    ``mudata``); an AnnData file is read by :func:`read_for_replay`, only what replay needs.
    """
    from provenance._storage.nodes import _open_root
    from provenance._storage.remote import is_url

    with _open_root(path if is_url(path) else Path(path), storage_options=storage_options) as root:
        if root.attrs.get("encoding-type") != "MuData":
            return None
    if is_url(path):
        msg = (
            f"{path}: holds a MuData, which replay reads whole (every modality's graph); "
            "download it and replay the local copy."
        )
        raise UnreadableFileError(msg)
    path = Path(path)
    try:
        import mudata
    except ImportError as e:
        e.add_note(
            f"{path} holds a MuData: install mudata (pip install 'anndata-provenance[muon]')."
        )
        raise
    return mudata.read_zarr(path) if path.is_dir() else mudata.read_h5mu(path)
