"""Replay a recorded clustering from its record and report how well it agrees.

The call is rebuilt from the record alone (same function, flavor and parameters; classes
resolved from the allowlist in ``_backends``), run with scanpy's original, unpatched
function on a scratch object that holds only what the call reads (the graph, and the
``restrict_to`` column), and its labels are compared with ``obs[key]``. The user's object is
never modified.
"""

from __future__ import annotations

import inspect
import platform
import warnings
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError, ReplayError, UnknownVersionError
from provenance._storage.graph import CurrentGraph, locate_graph
from provenance._storage.history import history, select_version
from provenance._targets.backends import decode_argument, resolve_class
from provenance._util.agreement import agreement
from provenance._util.fingerprint import GRAPH_ALGORITHMS, label_digests, obs_names_digest
from provenance._util.software import package_version

from .replay_result import ReplayResult

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from anndata import AnnData

    from provenance._schema.models import ClusteringRecord
    from provenance._storage.graph import GraphCheck
    from provenance._targets.adapters import Adapter

__all__ = ["ReplayResult", "read_for_replay", "replay"]

_TMP_KEY = "_provenance_replay"


def replay(adata: AnnData, key: str, *, version: int = -1, force: bool = False) -> ReplayResult:
    """Re-run a recorded clustering from its record and compare it with ``obs[key]``.

    Parameters
    ----------
    adata
        The annotated data matrix; it is not modified.
    key
        The ``obs`` column / ``uns`` key of a recorded clustering.
    version
        Which record of the key's history: 1-based, or negative from the end (``-1``: latest).
    force
        Replay even when the graph differs from (or cannot be checked against) the one the
        record names, or the record fails its digest check.

    Returns
    -------
    The comparison of the replayed labels with ``obs[key]``.

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
    adapter = _adapter(rec, where)
    func = _original(adapter)
    kwargs = _rebuild(rec, func, where)
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
    matrix, graph_name, matches, graph_forced, graph_note = _graph(adata, rec, force, where)
    forced = forced or graph_forced
    if graph_note:
        notes.append(graph_note)

    stage = _stage(adata, rec, matrix, kwargs)
    notes.extend(_argument_notes(rec))
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
            with _python_random(rec.params.python_random_state):
                func(stage, **kwargs)
        except Exception as e:
            detail = " ".join(str(e).split())[:300]
            msg = f"replaying {where}: {rec.function} raised {type(e).__name__}: {detail}"
            raise ReplayError(msg) from e
    replayed = stage.obs[_TMP_KEY]
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
    deterministic = _deterministic(rec, notes)
    if rec.params.restrict_to is not None:
        notes.append(
            f"restrict_to re-clustered obs[{rec.params.restrict_to.key!r}] as it is now; "
            "the record does not fingerprint that column"
        )
    labels = replayed.copy()
    labels.name = key
    return ReplayResult(
        key=key,
        version=rec.version,
        n_versions=len(records),
        call=_call_text(rec, kwargs, func),
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
        deterministic=deterministic,
        software=_software_diff(rec),
        notes=tuple(notes),
        labels=labels,
    )


def _adapter(rec: ClusteringRecord, where: str) -> Adapter:
    from provenance._targets.adapters import ADAPTERS

    for adapter in ADAPTERS:
        if adapter.function == rec.function and adapter.method == rec.method:
            return adapter
    msg = f"{where} was made by {rec.function!r}, which replay does not know how to call."
    raise ReplayError(msg)


def _original(adapter: Adapter) -> Callable[..., Any]:
    """scanpy's own function, also inside a ``record()`` block (never the recorder's wrapper)."""
    import importlib

    func = getattr(importlib.import_module(adapter.module), adapter.attr)
    # scanpy's own decorators also set ``__wrapped__`` (functools.wraps): unwrap only what
    # the recorder marks as its wrapper.
    while getattr(func, "__provenance_wrapper__", False) and hasattr(func, "__wrapped__"):
        func = func.__wrapped__
    return func


def _rebuild(rec: ClusteringRecord, func: Callable[..., Any], where: str) -> dict[str, Any]:
    """The keyword arguments of the recorded call, for the installed function."""
    p = rec.params
    kwargs: dict[str, Any] = {
        "resolution": p.resolution,
        "random_state": decode_argument(p.random_state, what="params.random_state"),
        "restrict_to": None
        if p.restrict_to is None
        else (p.restrict_to.key, list(p.restrict_to.categories)),
        "directed": p.directed,
        "use_weights": p.use_weights,
        "partition_type": None
        if p.partition_type is None
        else resolve_class(p.partition_type, what="params.partition_type"),
        "neighbors_key": p.neighbors_key,
        "obsp": p.obsp,
        "copy": False,
        "flavor": p.flavor,
    }
    extra: dict[str, Any] = {}
    if p.method == "leiden":
        kwargs["n_iterations"] = p.n_iterations
        extra = decode_argument(p.clustering_args, what="params.clustering_args")
    else:
        kwargs["partition_kwargs"] = decode_argument(
            p.partition_kwargs, what="params.partition_kwargs"
        )
    other = decode_argument(p.other_args, what="params.other_args")

    sig = inspect.signature(func).parameters
    for name in list(kwargs):
        if name not in sig:
            if kwargs[name] is None or (
                name == "flavor" and kwargs[name] == _adapter(rec, where).default_flavor
            ):
                # An unset argument the installed version no longer has, or the one flavor a
                # scanpy without the argument runs (leiden before 1.10 is always leidenalg).
                del kwargs[name]
                continue
            msg = (
                f"{where} passed {name}={kwargs[name]!r}, but the installed {rec.function} has "
                "no such argument; install the recorded scanpy version to replay it."
            )
            raise ReplayError(msg)
    for name, value in other.items():
        if name not in sig:
            msg = (
                f"{where} passed {name}= (an argument of a newer/older scanpy), which the "
                f"installed {rec.function} does not take; install the recorded scanpy version."
            )
            raise ReplayError(msg)
        kwargs[name] = value
    clash = set(extra) & (set(sig) | {"adata"})
    if clash:
        msg = f"{where}: clustering_args {sorted(clash)} collide with named arguments."
        raise ReplayError(msg)
    kwargs.update(extra)
    for name in getattr(p, "unknown", []):
        kwargs.pop(name, None)  # not known (adopted record): the installed default applies
    kwargs["key_added"] = _TMP_KEY
    return kwargs


def _graph(
    adata: AnnData, rec: ClusteringRecord, force: bool, where: str
) -> tuple[Any, str, bool | None, bool, str | None]:
    """``(matrix, name, digest matches, forced, note)`` of the graph to replay on.

    "digest matches" is ``None`` when the graph cannot be checked against the record; the
    note then says why.
    """
    g = rec.graph
    how = "replay(..., force=True) or --force replays on the graph as it is now"
    problem = None
    if g is None:
        problem = f"the record of {where} does not say which graph was clustered"
    elif g.obsp_key is None:
        problem = (
            f"{where} clustered a matrix passed as adjacency= ({rec.params.adjacency}) that is "
            "not stored in the object, so it cannot be checked"
        )
    elif g.hash_algorithm not in GRAPH_ALGORITHMS:
        problem = (
            f"the record of {where} fingerprints its graph with {g.hash_algorithm!r}, which "
            "this version does not compute (upgrade anndata-provenance to check it)"
        )
    elif g.obsp_key not in adata.obsp:
        problem = f"{where} clustered obsp[{g.obsp_key!r}], which is missing now"
    else:
        matrix = adata.obsp[g.obsp_key]
        name = f"obsp[{g.obsp_key!r}]"
        check = CurrentGraph(matrix, name=name).check(g)
        if check.matches:
            return matrix, name, True, False, None
        if not force:
            msg = f"{_why_graph_differs(adata, rec, name, check, where)}; {how}."
            raise ReplayError(msg)
        return matrix, name, False, True, None
    if not force:
        msg = f"{problem}; {how}."
        raise ReplayError(msg)
    try:
        matrix, obsp_key, _ = locate_graph(
            adata, adjacency=None, obsp=rec.params.obsp, neighbors_key=rec.params.neighbors_key
        )
    except ProvenanceError as e:
        msg = f"{problem}, and no graph to force a replay on: {e}"
        raise ReplayError(msg) from None
    return matrix, f"obsp[{obsp_key!r}]", None, True, f"graph not checked: {problem}"


def _why_graph_differs(
    adata: AnnData, rec: ClusteringRecord, name: str, check: GraphCheck, where: str
) -> str:
    """Why the graph is not the recorded one, naming a subset/reorder of the cells first."""
    then = rec.result
    edges = f"{check.fingerprint.n_edges} edges, {check.facts['n_edges_then']} recorded"
    if adata.n_obs != then.n_obs:
        how = "subset" if adata.n_obs < then.n_obs else "grown (concatenated?)"
        return (
            f"the object was {how} since {where} was recorded ({then.n_obs} → {adata.n_obs} "
            f"cells), so {name} ({edges}) is not the graph clustered; replay the object it "
            "was recorded on, or re-cluster this one inside provenance.record(adata)"
        )
    if obs_names_digest(adata.obs_names) != then.obs_names_digest:
        return (
            f"the cells were reordered or renamed since {where} was recorded (same {adata.n_obs} "
            f"cells, other obs_names), so {name} ({edges}) is not the graph clustered"
        )
    digests = (
        f"recorded digest {check.facts.get('digest_then')}, current {check.fingerprint.digest}"
    )
    return f"the graph {name} changed since {where} was recorded: {check.detail} ({digests})"


def _stage(adata: AnnData, rec: ClusteringRecord, matrix: Any, kwargs: dict[str, Any]) -> AnnData:
    """A scratch object holding only what the call reads: the graph and the restrict column."""
    import pandas as pd
    from anndata import AnnData

    obs = pd.DataFrame(index=adata.obs_names.copy())
    restrict = rec.params.restrict_to
    if restrict is not None:
        where = f"{rec.key!r} version {rec.version}"
        if restrict.key == rec.key:
            msg = (
                f"{where} re-clustered obs[{restrict.key!r}] in place (restrict_to and key_added "
                "are the same column): the labels it started from are gone, so it cannot be "
                "replayed."
            )
            raise ReplayError(msg)
        if restrict.key not in adata.obs:
            msg = f"{where} used restrict_to=({restrict.key!r}, ...), but obs has no such column."
            raise ReplayError(msg)
        obs[restrict.key] = adata.obs[restrict.key].copy()
    stage = AnnData(obs=obs)
    # Not copied: scanpy's leiden/louvain only read the graph (restrict_to slices it into a
    # new matrix); the tests check the caller's graph is left byte for byte as it was.
    graph = _scipy_indices(matrix)
    if rec.params.adjacency is not None:
        kwargs["adjacency"] = graph
    elif rec.params.obsp is not None:
        stage.obsp[rec.params.obsp] = graph
    else:
        nk = rec.params.neighbors_key
        if nk is None or nk == "neighbors":
            stage.obsp["connectivities"] = graph
            stage.uns["neighbors"] = {}
        else:
            stage.obsp[f"{nk}_connectivities"] = graph
            stage.uns[nk] = {
                "connectivities_key": f"{nk}_connectivities",
                "distances_key": f"{nk}_distances",
            }
    return stage


def _scipy_indices(matrix: Any) -> Any:
    """``matrix``, with index arrays scipy's routines accept (shared data, same values).

    anndata's ``write_csr_csc_indices_with_min_possible_dtype`` reads back uint16 indices
    beside int32 ``indptr``, which scipy's ``tocoo`` (and so scanpy's graph conversion)
    rejects; the graph is the same, so the scratch object gets int32/int64 indices instead.
    """
    import numpy as np
    from scipy import sparse

    if not sparse.issparse(matrix) or matrix.format not in ("csr", "csc"):
        return matrix
    ok = (np.dtype(np.int32), np.dtype(np.int64))
    if matrix.indices.dtype == matrix.indptr.dtype and matrix.indices.dtype in ok:
        return matrix
    # The constructor picks int32 (int64 when the values need it) without copying the data.
    return type(matrix)((matrix.data, matrix.indices, matrix.indptr), shape=matrix.shape)


@contextmanager
def _python_random(state: dict[str, Any] | None) -> Iterator[None]:
    """Run with Python's ``random`` module in the recorded state; the caller's is restored."""
    if state is None:
        yield
        return
    import random

    try:
        recorded = (
            int(state["version"]),
            tuple(int(x) for x in state["state"]),
            state["gauss_next"],
        )
    except (KeyError, TypeError, ValueError):
        msg = "params.python_random_state is damaged; it cannot be restored."
        raise ReplayError(msg) from None
    saved = random.getstate()
    try:
        random.setstate(recorded)
        yield
    finally:
        random.setstate(saved)


def _argument_notes(rec: ClusteringRecord) -> list[str]:
    """What the rebuilt call's arguments mean: values resolved by the function, ignored ones."""
    p = rec.params
    notes = []
    if p.passed:
        resolved = ", ".join(
            f"{name}={getattr(p, name, None)!r} (passed as {value!r})"
            for name, value in sorted(p.passed.items())
        )
        notes.append(f"rebuilt with the values that ran: {resolved}")
    if p.not_in_effect:
        notes.append(
            f"not in effect with flavor={p.flavor!r} (the backend ignores them, so their "
            f"values cannot change the labels): {', '.join(p.not_in_effect)}"
        )
    return notes


def _deterministic(rec: ClusteringRecord, notes: list[str]) -> bool:
    p = rec.params
    if p.method == "louvain" and p.flavor == "igraph" and p.python_random_state is None:
        notes.append(
            "scanpy.tl.louvain(flavor='igraph') ignores random_state: igraph draws from "
            "Python's global `random` module, whose state this record lacks, so replays of it "
            "can differ"
        )
        return False
    if p.random_state is None:
        notes.append("random_state was None: the recorded call was not seeded")
        return False
    return True


def _software_diff(rec: ClusteringRecord) -> dict[str, tuple[str | None, str | None]] | None:
    """``{name: (recorded, installed)}`` for what differs; ``None``: the record has none."""
    if rec.software is None:
        return None
    out: dict[str, tuple[str | None, str | None]] = {}
    if rec.software.python != platform.python_version():
        out["python"] = (rec.software.python, platform.python_version())
    for dist, recorded in sorted(rec.software.packages.items()):
        installed = package_version(dist)
        if installed != recorded:
            out[dist] = (recorded, installed)
    return out


def _call_text(rec: ClusteringRecord, kwargs: dict[str, Any], func: Callable[..., Any]) -> str:
    """The rebuilt call; arguments left at the installed function's defaults are omitted."""
    sig = inspect.signature(func).parameters
    always = {"resolution", "random_state", "flavor", "n_iterations"}
    shown = []
    for name, value in kwargs.items():
        if name in ("copy", "key_added", "adjacency"):
            continue
        default = sig[name].default if name in sig else inspect.Parameter.empty
        if name not in always and _same(value, default):
            continue
        if isinstance(value, type):
            text = f"{value.__module__}.{value.__qualname__}"
        elif type(value).__name__ in ("RandomState", "Generator"):
            text = f"<recorded {type(value).__name__}>"
        else:
            text = repr(value)
            text = text if len(text) <= 60 else text[:57] + "..."
        shown.append(f"{name}={text}")
    if rec.params.adjacency is not None:
        shown.append("adjacency=<graph>")
    shown.append(f"key_added={rec.params.key_added!r}")
    return f"{rec.function}(adata, {', '.join(shown)})"


def _same(value: Any, default: Any) -> bool:
    from collections.abc import Mapping

    if isinstance(value, Mapping) and isinstance(default, Mapping):
        return dict(value) == dict(default)  # {} and scanpy's MappingProxyType({})
    try:
        return type(value) is type(default) and bool(value == default)
    except Exception:  # e.g. arrays: show them
        return False


def read_for_replay(path: str | Path, key: str) -> AnnData:
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
    from collections.abc import Mapping

    from provenance._storage.codec import read_history
    from provenance._storage.files import open_file

    with open_file(Path(path)) as src:
        records = read_history(src.uns_entry(key), key=key)
        neighbors = {"neighbors"}
        neighbors |= {r.params.neighbors_key for r in records if r.params.neighbors_key}
        neighbors |= {r.graph.neighbors_key for r in records if r.graph and r.graph.neighbors_key}
        graphs = {"connectivities"}
        graphs |= {r.graph.obsp_key for r in records if r.graph and r.graph.obsp_key}
        graphs |= {r.params.obsp for r in records if r.params.obsp}
        for nk in neighbors:
            entry = src.uns_entry(nk)
            if isinstance(entry, Mapping) and "connectivities_key" in entry:
                graphs.add(str(entry["connectivities_key"]))
        columns = {key} | {r.params.restrict_to.key for r in records if r.params.restrict_to}
        return src.to_anndata(uns_keys=[key, *sorted(neighbors)], columns=columns, graphs=graphs)
