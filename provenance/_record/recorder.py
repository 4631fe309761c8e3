"""The recorder: ``record()`` patches the clustering functions and writes a record per call."""

from __future__ import annotations

import contextlib
import copy as _copy
import functools
import importlib
import inspect
import math
import numbers
import sys
import threading
import time
import warnings
import weakref
from collections.abc import Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provenance._base import config as _config
from provenance._base.errors import (
    HistoryLimitError,
    InvalidRecordError,
    ProvenanceError,
    ProvenanceWarning,
)
from provenance._schema.models import ClusteringRecord, ResultInfo, Software
from provenance._storage.codec import (
    PROVENANCE_FIELD,
    decode_record,
    encode_history,
    encode_record,
    history_texts,
)
from provenance._storage.graph import graph_info, locate_graph, same_graph
from provenance._storage.index import read_index, update_index
from provenance._targets.adapters import ADAPTERS, bind, legacy_positionals
from provenance._util.fingerprint import HASH_ALGORITHM, label_digests, obs_names_digest
from provenance._util.jsonsafe import python_random_state
from provenance._util.software import package_version, software_info

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from anndata import AnnData

    from provenance._schema.models import GraphInfo
    from provenance._targets.adapters import Adapter

__all__ = ["Recording", "record"]


@dataclass(eq=False)
class Recording:
    """One ``record()`` block: what it watches and the records it wrote.

    Examples
    --------
    >>> with provenance.record(adata) as block:
    ...     sc.tl.leiden(adata, key_added="leiden_1", flavor="igraph", n_iterations=2)
    >>> [(r.key, r.version) for r in block.records]
    [('leiden_1', 1)]
    """

    target: AnnData | None
    strict: bool | None = None
    records: list[ClusteringRecord] = field(default_factory=list)
    closed: bool = False
    _copies: list[weakref.ref[Any]] = field(default_factory=list, repr=False, init=False)
    _names: list[tuple[Any, str]] = field(default_factory=list, repr=False, init=False)
    _thread: threading.Thread | None = field(default=None, repr=False, init=False)
    _before: weakref.WeakSet[threading.Thread] = field(
        default_factory=weakref.WeakSet, repr=False, init=False
    )

    def watches(self, adata: Any) -> bool:
        """Whether a call on ``adata`` is recorded by this block."""
        if self.closed:
            return False
        if self.target is None or adata is self.target:
            return True
        return any(r() is adata for r in self._copies)

    def _adopt_copy(self, adata: Any) -> None:
        if self.target is not None:
            self._copies = [r for r in self._copies if r() is not None]
            # An object that is not weak-referenceable is simply not watched.
            with contextlib.suppress(TypeError):
                self._copies.append(weakref.ref(adata))

    def _names_digest(self, obs_names: Any) -> str:
        """Digest of ``obs_names``, hashed once per Index object in a sweep.

        A pandas Index is immutable; renaming cells replaces the object, so identity is a
        safe cache key.
        """
        for index, value in self._names:
            if index is obs_names:
                return value
        value = obs_names_digest(obs_names)
        self._names = [*self._names[-3:], (obs_names, value)]
        return value

    def _is_strict(self) -> bool:
        return _config.strict() if self.strict is None else self.strict

    def _started_inside(self, thread: threading.Thread) -> bool:
        """Whether ``thread`` was started while this untargeted block was open."""
        return not self.closed and thread is not self._thread and thread not in self._before


_blocks: ContextVar[tuple[Recording, ...]] = ContextVar("provenance_blocks", default=())
# Blocks given a target, visible from every thread: a worker thread started inside
# ``record(adata)`` starts with an empty context but still clusters ``adata``.
_targeted: list[Recording] = []
# Blocks without a target, visible from the threads started while they are open (a worker
# thread starts with an empty context, so it cannot see them through ``_blocks``).
_untargeted: list[Recording] = []
_targeted_lock = threading.Lock()
_fixed_key_lock = threading.RLock()


class _Patches:
    """Reference-counted patches of the adapter targets, shared by all blocks and threads."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0
        self._originals: dict[Adapter, Callable[..., Any]] = {}
        self._wrappers: dict[Adapter, Callable[..., Any]] = {}

    def acquire(self) -> None:
        with self._lock:
            if self._count == 0:
                try:
                    self._patch()
                except BaseException:
                    self._unpatch()  # never leave half the targets patched
                    raise
            self._count += 1

    def release(self) -> None:
        with self._lock:
            self._count -= 1
            if self._count == 0:
                self._unpatch()

    def _patch(self) -> None:
        for adapter in ADAPTERS:
            try:
                module = importlib.import_module(adapter.module)
            except ImportError:
                continue
            original = getattr(module, adapter.attr, None)
            if original is None:
                continue
            wrapper = _make_wrapper(adapter, original)
            self._originals[adapter] = original
            self._wrappers[adapter] = wrapper
            setattr(module, adapter.attr, wrapper)

    def _unpatch(self) -> None:
        for adapter, original in self._originals.items():
            module = importlib.import_module(adapter.module)
            if getattr(module, adapter.attr, None) is self._wrappers[adapter]:
                setattr(module, adapter.attr, original)
            else:
                msg = (
                    f"{adapter.module}.{adapter.attr} was replaced by someone else inside a "
                    "provenance.record() block; leaving their version in place."
                )
                warnings.warn(msg, ProvenanceWarning, stacklevel=4)
        self._originals.clear()
        self._wrappers.clear()


_patches = _Patches()


@contextmanager
def record(adata: AnnData | None = None, *, strict: bool | None = None) -> Iterator[Recording]:
    """Record every scanpy Leiden/Louvain clustering run inside the block.

    Each call of ``sc.tl.leiden`` / ``sc.tl.louvain`` appends a
    :class:`~provenance.ClusteringRecord` to ``uns[key]["provenance"]`` of the object it
    modified (the returned copy with ``copy=True``), under the key it actually wrote.

    Parameters
    ----------
    adata
        Record calls on this object (and the copies ``copy=True`` returns) only, from any
        thread. ``None`` records calls on any object made in this thread or context, and in
        the threads started while the block is open. An AnnData, or an object with ``.obs``
        and ``.uns`` (such as a MuData).
    strict
        Raise instead of warning when a clustering cannot be recorded. Defaults to the
        ``PROVENANCE_STRICT`` environment variable.

    Yields
    ------
    A :class:`Recording` whose ``records`` lists the records written in the block.

    Examples
    --------
    >>> import scanpy as sc, provenance
    >>> adata = sc.datasets.pbmc68k_reduced()
    >>> with provenance.record(adata):
    ...     sc.tl.leiden(adata, resolution=0.8, key_added="leiden_0.8", flavor="igraph")
    >>> provenance.latest(adata, "leiden_0.8").params.resolution
    0.8

    Raises
    ------
    TypeError
        ``adata`` is neither ``None``, an AnnData, nor an object with ``.obs`` and ``.uns``.

    Notes
    -----
    The patch replaces the attribute ``scanpy.tl.leiden``; a function imported before the block
    (``from scanpy.tl import leiden``) is the unpatched original and is not recorded.

    A targeted block does not record a clustering of another object made in its context
    (a subset or copy taken inside it): such a call is a :class:`ProvenanceWarning` that says
    how to record it (a :class:`ProvenanceError` in strict mode, before the call runs).
    """
    if adata is not None and not (hasattr(adata, "obs") and hasattr(adata, "uns")):
        msg = (
            f"provenance.record() records clusterings of an AnnData (or an object with .obs and "
            f".uns, such as a MuData), not a {type(adata).__module__}.{type(adata).__qualname__}; "
            "pass the object you cluster, or nothing to record every object."
        )
        raise TypeError(msg)
    block = Recording(target=adata, strict=strict)
    if adata is None:
        block._thread = threading.current_thread()
        block._before = weakref.WeakSet(threading.enumerate())
    _patches.acquire()
    token = _blocks.set((*_blocks.get(), block))
    with _targeted_lock:
        (_targeted if adata is not None else _untargeted).append(block)
    try:
        yield block
    finally:
        block.closed = True
        with _targeted_lock:
            (_targeted if adata is not None else _untargeted).remove(block)
        try:
            _blocks.reset(token)
        except ValueError:  # exited in another context than entered
            _blocks.set(tuple(b for b in _blocks.get() if b is not block))
        _patches.release()


def _block_for(adata: Any) -> Recording | None:
    """The block recording a call on ``adata`` from here, if any.

    The innermost block of this context watching it; else a targeted block watching it; else
    an untargeted block that was open when this thread started.
    """
    for b in reversed(_blocks.get()):
        if b.watches(adata):
            return b
    if _targeted or _untargeted:
        thread = threading.current_thread()
        with _targeted_lock:
            for b in reversed(_targeted):
                if b.watches(adata):
                    return b
            for b in reversed(_untargeted):
                if b._started_inside(thread):
                    return b
    return None


def _unwatched(adapter: Adapter, adata: Any) -> None:
    """Refuse silence: a call in a targeted block's context on an object it does not watch."""
    block = next((b for b in reversed(_blocks.get()) if not b.closed), None)
    if block is None or block.target is None:
        return
    what = type(adata).__name__
    msg = (
        f"{adapter.function} ran inside `provenance.record(adata)` on another {what} (a subset "
        "or copy made inside the block?), which that block does not watch, so it is not "
        f"recorded. To record it, use `provenance.record()` (every object) or "
        f"`provenance.record(that_object)`."
    )
    if block._is_strict():
        raise ProvenanceError(msg)  # before the call: nothing has changed
    warnings.warn(msg, ProvenanceWarning, stacklevel=4)


def _make_wrapper(adapter: Adapter, original: Callable[..., Any]) -> Callable[..., Any]:
    sig = inspect.signature(original)
    first = next(iter(sig.parameters))
    legacy = legacy_positionals(original)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1)
        try:
            return _recorded_call(adapter, original, sig, first, legacy, caller, args, kwargs)
        finally:
            del caller  # a frame in a local makes a reference cycle

    wrapper.__provenance_wrapper__ = True  # type: ignore[attr-defined]
    return wrapper


def _recorded_call(
    adapter: Adapter,
    original: Callable[..., Any],
    sig: inspect.Signature,
    first: str,
    legacy: tuple[str, ...],
    caller: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Run ``original`` once, recording it if a block watches its object."""
    adata = args[0] if args else kwargs.get(first)
    block = _block_for(adata)
    if block is None:
        _unwatched(adapter, adata)
        return _run(original, args, kwargs, caller)
    try:
        named, var_kw = bind(sig, args, kwargs, legacy=legacy)
    except TypeError as e:
        # scanpy rejects most such calls itself: its error goes through untouched. One it
        # runs anyway is not recorded, and that is never silent.
        result = _run(original, args, kwargs, caller)
        error = ProvenanceError(f"its arguments cannot be bound to {adapter.function}'s ({e})")
        _report(error, block, adapter, result, stacklevel=4)
        return result
    # scanpy <= 1.9 writes every call's params to one fixed key: calls from several
    # threads would move each other's params, so those run one at a time.
    fixed = adapter.fixed_key_before is not None and _scanpy_version() < adapter.fixed_key_before
    with _fixed_key_lock if fixed else contextlib.nullcontext():
        call = _Call(adapter, named, var_kw, block)
        if call.error is not None and block._is_strict():
            # Refuse before anything is changed: say so, the message is read after a traceback.
            call.error.add_note(
                f"Strict mode: {adapter.function} was not run, nothing was computed or changed."
            )
            raise call.error
        try:
            result = _run(original, args, kwargs, caller)
        except BaseException:
            call.rollback()
            raise
        try:
            rec = call.finish(result)
        except Exception as e:
            _report(e, block, adapter, result, stacklevel=4)
        else:
            if rec is not None:
                block.records.append(rec)
            if result is not None:
                block._adopt_copy(result)
        return result


# ``warnings.catch_warnings`` changes process-wide state: one wrapped call at a time
# captures; a call running concurrently in another thread runs uncaptured.
_capture_lock = threading.Lock()
_HERE = __name__


def _run(
    func: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any], caller: Any
) -> Any:
    """Call ``func``; the warnings it attributes to the recorder's frames point at ``caller``.

    scanpy's warnings name the frame that called scanpy (by ``stacklevel`` or by skipping
    scanpy's files), which is one of the recorder's. Those are caught and issued again at
    the caller's line with ``warnings.warn_explicit`` (its filters and once-per-location
    registry apply there, as they would without the wrapper); every other warning is
    filtered where it is raised, as always, and shown unchanged.
    """
    if not _capture_lock.acquire(blocking=False):
        return func(*args, **kwargs)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.filterwarnings("always", module=f"^{_HERE.replace('.', '[.]')}$")
            try:
                result = func(*args, **kwargs)
            except BaseException as e:
                error: BaseException | None = e
            else:
                error = None
    finally:
        _capture_lock.release()
    if error is None:
        _reissue(caught, caller)
        return result
    try:
        # Raised first, a warning the filters turn into an error wins, as without the wrapper.
        _reissue(caught, caller)
        raise error
    finally:
        del error  # the traceback holds this frame


def _reissue(caught: list[warnings.WarningMessage], caller: Any) -> None:
    """Issue the caught warnings again, in order: ours at ``caller``, the others as they were."""
    show = getattr(warnings, "_showwarnmsg", None)
    for w in caught:
        if w.filename == __file__:
            g = caller.f_globals
            warnings.warn_explicit(
                w.message,
                w.category,
                caller.f_code.co_filename,
                caller.f_lineno,
                module=g.get("__name__"),
                registry=g.setdefault("__warningregistry__", {}),
                source=w.source,
            )
        elif show is not None:  # already filtered where it was raised: only show it
            show(w)
        else:  # pragma: no cover (every CPython from 3.6 has it)
            warnings.showwarning(w.message, w.category, w.filename, w.lineno, w.file, w.line)


def _report(
    exc: Exception, block: Recording, adapter: Adapter, result: Any, *, stacklevel: int = 3
) -> None:
    """Warn that a call was not recorded; in strict mode raise, keeping ``copy=True``'s result.

    The raised error carries the clustering's return value as ``error.result``, so strict
    mode never loses a returned copy.
    """
    msg = f"{adapter.function} ran but was not recorded: {exc}"
    if block._is_strict():
        err = exc if isinstance(exc, ProvenanceError) else ProvenanceError(msg)
        err.result = result  # type: ignore[attr-defined]
        if err is exc:
            raise err
        raise err from exc
    warnings.warn(msg, ProvenanceWarning, stacklevel=stacklevel)


_MISSING = object()


def _scanpy_version() -> tuple[int, int]:
    v = package_version("scanpy") or "0.0"
    parts = [int("".join(c for c in p if c.isdigit()) or 0) for p in v.split(".")[:2]]
    return parts[0], parts[1]


class _Call:
    """One recorded call: what to snapshot before it, what to write after it."""

    def __init__(
        self,
        adapter: Adapter,
        named: dict[str, Any],
        var_kw: dict[str, Any],
        block: Recording,
    ) -> None:
        self.adapter = adapter
        self.block = block
        self.named = named
        self.adata: AnnData = named[next(iter(named))]
        self.key = adapter.written_key(named["key_added"], named.get("restrict_to"))
        self.copy = bool(named.get("copy", False))
        # Anything that fails from here on is reported after the call, once the existing
        # history has been put back: the clustering runs and no history is dropped.
        self.error: ProvenanceError | None = None
        self.texts: list[str] = []
        self.last: ClusteringRecord | None = None
        self.lost: dict[str, Any] | None = None
        uns = self.adata.uns
        # scanpy replaces uns[key] wholesale: keep the old entry (and its history) to restore.
        self.old_entry = uns.get(self.key, _MISSING)
        self.old_prov = (
            self.old_entry.get(PROVENANCE_FIELD, _MISSING)
            if isinstance(self.old_entry, Mapping)
            else _MISSING
        )
        try:
            self.params = adapter.build(named, var_kw)
            if adapter.python_random(self.params.flavor):
                self.params = self.params.model_copy(
                    update={"python_random_state": python_random_state()}
                )
            self._read_history()
            self.lost = self._lost_versions(uns)
        except ProvenanceError as e:
            self.error = e
        except Exception as e:
            self.error = ProvenanceError(f"cannot describe the call: {e}")
        bad_key = _bad_key(self.key)
        if bad_key is not None:
            self.error = ProvenanceError(bad_key)
        self.old_column = self.adata.obs.get(self.key, _MISSING)
        fixed = adapter.fixed_key
        self.legacy = (
            fixed is not None
            and fixed != self.key
            and adapter.fixed_key_before is not None
            and _scanpy_version() < adapter.fixed_key_before
        )
        self.old_fixed = uns.get(fixed, _MISSING) if self.legacy else _MISSING
        self.started_at = datetime.now(UTC)
        self.t0 = time.perf_counter()

    def rollback(self) -> None:
        """Put ``obs`` and ``uns`` back as they were before a call that raised.

        Writes only what scanpy changed (so a view is not turned into a copy), and never
        masks the exception of the call: a failure here is a warning.
        """
        if self.copy:
            return  # the object passed in is not modified by scanpy with copy=True
        try:
            adata = self.adata
            _restore(adata.uns, self.key, self.old_entry)
            if self.legacy:
                _restore(adata.uns, self.adapter.fixed_key, self.old_fixed)
            if self.old_column is _MISSING:
                if self.key in adata.obs:
                    del adata.obs[self.key]
            elif not adata.obs[self.key].equals(self.old_column):
                adata.obs[self.key] = self.old_column
        except Exception as e:
            msg = f"could not put uns/obs[{self.key!r}] back after the failed call: {e}"
            warnings.warn(msg, ProvenanceWarning, stacklevel=4)

    def finish(self, result: Any) -> ClusteringRecord | None:
        """Write the record onto the object scanpy modified; return it."""
        duration = time.perf_counter() - self.t0
        finished_at = datetime.now(UTC)
        target = result if self.copy else self.adata
        if target is None:
            msg = "copy=True but the call returned None"
            raise ProvenanceError(msg)
        uns = target.uns
        if self.legacy:
            self._move_fixed_key(target)
        entry = uns.get(self.key)
        if not isinstance(entry, dict):
            msg = f"scanpy wrote no dict to uns[{self.key!r}] (found {type(entry).__name__})"
            raise ProvenanceError(msg)
        old_prov = self.old_prov
        if old_prov is not _MISSING:
            # Whatever happens below, the existing history is never dropped.
            entry[PROVENANCE_FIELD] = old_prov if not self.copy else _copy.deepcopy(old_prov)
        if self.error is not None:
            raise self.error
        texts, last = self.texts, self.last
        named = self.named
        graph = graph_info(
            target,
            adjacency=named.get("adjacency"),
            obsp=named.get("obsp"),
            neighbors_key=named.get("neighbors_key"),
        )
        labels = label_digests(
            target.obs[self.key],
            target.obs_names,
            names_digest=self.block._names_digest(target.obs_names),
        )
        modularity = entry.get("modularity")
        result_info = ResultInfo(
            n_obs=target.n_obs,
            n_clusters=len(labels["categories"]),
            hash_algorithm=HASH_ALGORITHM,
            modularity=_finite(modularity),
            **labels,
        )
        if (
            last is not None
            and _same_call(last.params, self.params)
            and last.result.labels_digest == result_info.labels_digest
            and self._same_graph(last.graph, graph, target)
        ):
            return None  # the same clustering again: nothing new to record
        version = (last.version + 1) if last is not None else len(texts) + 1
        previous = last.digest if last is not None else None
        if self.lost is not None:
            # Versions the index saw are gone: link to the last of them, so the loss stays
            # visible in the chain instead of a fresh v1 erasing the index's trace of it.
            version, previous = self.lost["version"] + 1, self.lost["digest"]
        rec = ClusteringRecord.create(
            version=version,
            key=self.key,
            method=self.adapter.method,
            function=self.adapter.function,
            params=self.params,
            software=Software(**software_info(self.adapter.backends(self.params.flavor))),
            started_at=self.started_at,
            finished_at=finished_at,
            duration_s=duration,
            graph=graph,
            result=result_info,
            previous=previous,
        )
        entry[PROVENANCE_FIELD] = encode_history([*texts, encode_record(rec)])
        update_index(uns, rec)
        if self.lost is not None:
            held = len(texts)
            msg = (
                f"uns['provenance_index'] says {self.key!r} had {self.lost['version']} recorded "
                f"version{'s' * (self.lost['version'] != 1)}, but uns[{self.key!r}] held "
                f"{held or 'none'}: its history was cut or wiped outside provenance.record(). "
                f"This run is recorded as version {rec.version}, linked to the lost version "
                f"{self.lost['version']}, so the audit keeps reporting the gap (broken_chain). "
                "Restore the history from an earlier copy of the file, or record under a new "
                "key_added."
            )
            warnings.warn(msg, ProvenanceWarning, stacklevel=4)
        return rec

    def _same_graph(self, then: GraphInfo | None, now: GraphInfo, target: AnnData) -> bool:
        """Whether ``now`` is the graph ``then`` describes, across hash algorithms.

        A record made before an algorithm change holds another digest of the same graph;
        an identical re-run must still add no version.
        """
        if then is None or then.hash_algorithm == now.hash_algorithm:
            return then is not None and then.digest == now.digest
        named = self.named
        matrix, _, _ = locate_graph(
            target,
            adjacency=named.get("adjacency"),
            obsp=named.get("obsp"),
            neighbors_key=named.get("neighbors_key"),
        )
        return same_graph(then, now, matrix)

    def _lost_versions(self, uns: Any) -> dict[str, Any] | None:
        """The index's entry for this key when the history lacks versions it recorded."""
        try:
            indexed = read_index(uns).get(self.key)
        except InvalidRecordError:
            return None  # an unreadable index is the audit's to report; it is rebuilt
        if indexed is None:
            return None
        have = self.last.version if self.last is not None else 0
        if have >= indexed["version"]:
            return None
        return indexed

    def _read_history(self) -> None:
        """Read the key's existing history: its length and its last record."""
        if self.old_prov is _MISSING:
            return
        try:
            self.texts = history_texts(self.old_prov, key=self.key)
            if self.texts:
                self.last = decode_record(self.texts[-1], key=self.key, index=len(self.texts) - 1)
        except InvalidRecordError as e:
            msg = (
                f"the existing history in uns[{self.key!r}]['provenance'] cannot be read ({e}); "
                "it is kept unchanged and this run is not recorded. Repair it, or move it aside "
                f"(adata.uns[{self.key!r}]['provenance_unreadable'] = "
                f"adata.uns[{self.key!r}].pop('provenance')) and re-run."
            )
            raise ProvenanceError(msg) from None
        if len(self.texts) >= _config.max_history():
            msg = (
                f"uns[{self.key!r}] already holds {len(self.texts)} versions, the limit "
                "(PROVENANCE_MAX_HISTORY); this run is not recorded. Use a new key_added, or "
                "raise the limit."
            )
            raise HistoryLimitError(msg)

    def _move_fixed_key(self, target: AnnData) -> None:
        """scanpy <= 1.9: move the params from the fixed key to the key written."""
        fixed = self.adapter.fixed_key
        assert fixed is not None
        written = target.uns.get(fixed)
        if isinstance(written, Mapping) and "params" in written:
            target.uns[self.key] = {"params": written["params"]}
        old = self.old_fixed
        if self.copy and old is not _MISSING:  # a copy of the sentinel would be written to uns
            old = _copy.deepcopy(old)
        _put(target.uns, fixed, old)


def _bad_key(key: str) -> str | None:
    """Why a written key cannot hold a record, else ``None``."""
    if key and "/" not in key:
        return None
    why = (
        "an empty key"
        if not key
        else "'/' in a key: anndata refuses it when writing (zarr, anndata >= 0.13) or reads "
        f"it back nested as uns[{key.split('/')[0]!r}][...], separated from its record"
    )
    return f"key_added={key!r} cannot be recorded: {why}. Use a key_added without '/' to record it."


# What the identical-rerun check ignores: how arguments were spelled (``passed``: scanpy
# 1.11's flavor="leidenalg" and 1.12's flavor=None are the same run) and Python's RNG state,
# which differs on every call.
_NOT_COMPARED = {"python_random_state": None, "passed": {}}


def _same_call(a: Any, b: Any) -> bool:
    """Equal effective parameters (see ``_NOT_COMPARED``)."""
    return a.model_copy(update=_NOT_COMPARED) == b.model_copy(update=_NOT_COMPARED)


def _finite(value: Any) -> float | None:
    """A finite real number (numpy scalars too) as float, else ``None``."""
    if isinstance(value, numbers.Real) and not isinstance(value, bool):
        f = float(value)
        return f if math.isfinite(f) else None
    return None


def _restore(mapping: Any, key: str, value: Any) -> None:
    """Put ``value`` back under ``key`` unless it is still there."""
    if mapping.get(key, _MISSING) is not value:
        _put(mapping, key, value)


def _put(mapping: Any, key: str, value: Any) -> None:
    if value is _MISSING:
        mapping.pop(key, None)
    else:
        mapping[key] = value
