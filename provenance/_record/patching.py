"""Patching the registered targets: a wrapper that runs the original once and records it."""

from __future__ import annotations

import contextlib
import functools
import inspect
import sys
import threading
import warnings
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError, ProvenanceWarning
from provenance._base.imports import forget, when_imported
from provenance._schema.models import EMBEDDING_KINDS, RESULT_KINDS
from provenance._targets.calls import bind, legacy_positionals
from provenance._targets.registry import recorded_functions

from .blocks import block_for, unwatched
from .call import Call
from .concat_call import ConcatCall
from .step_call import StepCall

if TYPE_CHECKING:
    from collections.abc import Callable
    from types import ModuleType

    from provenance._targets.base import RecordedFunction

    from .blocks import Recording

__all__ = ["patches"]

# Set while an opaque target's call runs: the recorded functions it calls are its own steps.
_inside_opaque: ContextVar[bool] = ContextVar("provenance_inside_opaque", default=False)

# scanpy <= 1.9 writes every call's params to one fixed key: such calls run one at a time.
_fixed_key_lock = threading.RLock()

# How a call is recorded, by the kind of record its target writes.
_CALLS: dict[str, Callable[..., Call | StepCall | ConcatCall]] = {
    "clustering": Call,
    "neighbors": StepCall,
    **dict.fromkeys(RESULT_KINDS, StepCall),
    **dict.fromkeys(EMBEDDING_KINDS, StepCall),
    "transform": StepCall,
    "concat": ConcatCall,
}


class _Patches:
    """Reference-counted patches of the registered targets, shared by all blocks and threads.

    A target whose module is not imported when the first block opens (``import muon`` in a
    later notebook cell) is patched as soon as its package is imported, while any block is
    open (:func:`~provenance._base.imports.when_imported`): nothing imported later runs
    unrecorded. The wait ends, and every patch is undone, when the last block closes.
    """

    def __init__(self) -> None:
        # Reentrant: an import inside _patch (a target's patch_module) runs the import hook.
        self._lock = threading.RLock()
        self._count = 0
        self._active = False
        self._originals: dict[RecordedFunction, Callable[..., Any]] = {}
        self._wrappers: dict[RecordedFunction, Callable[..., Any]] = {}
        self._modules: dict[RecordedFunction, ModuleType] = {}
        # The other modules patched with the same wrapper (a target's also_in).
        self._also: list[tuple[ModuleType, str, Callable[..., Any], Callable[..., Any]]] = []
        # Targets whose module was not there yet: patched when their package is imported.
        self._waiting: list[RecordedFunction] = []

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

    def waiting(self) -> tuple[RecordedFunction, ...]:
        """The targets to be patched once their package is imported (none outside blocks)."""
        with self._lock:
            return tuple(self._waiting)

    def _patch(self) -> None:
        self._active = True
        for target in recorded_functions():
            if not self._patch_one(target):
                self._waiting.append(target)
        for package in dict.fromkeys(t.module.partition(".")[0] for t in self._waiting):
            when_imported(package, self._imported)

    def _patch_one(self, target: RecordedFunction) -> bool:
        """Patch ``target`` where its module is; ``False`` when there is none (yet)."""
        module = target.patch_module()
        if module is None:
            return False
        original = getattr(module, target.attr, None)
        if original is None:
            return False
        wrapper = _make_wrapper(target, original)
        self._originals[target] = original
        self._wrappers[target] = wrapper
        self._modules[target] = module
        setattr(module, target.attr, wrapper)
        for name in target.also_in:
            other = sys.modules.get(name)  # imported with the library: nothing to import
            if other is not None and getattr(other, target.attr, None) is original:
                self._also.append((other, target.attr, self._originals[target], wrapper))
                setattr(other, target.attr, wrapper)
        return True

    def _imported(self, module: ModuleType) -> None:
        """A package some waiting target lives in was imported: patch what is there now."""
        with self._lock:
            if not self._active:
                return
            self._waiting = [t for t in self._waiting if not self._patch_one(t)]

    def _unpatch(self) -> None:
        self._active = False
        forget(self._imported)
        self._waiting.clear()
        for other, attr, original, wrapper in self._also:
            if getattr(other, attr, None) is wrapper:
                setattr(other, attr, original)
        self._also.clear()
        for target, original in self._originals.items():
            module = self._modules[target]
            if getattr(module, target.attr, None) is self._wrappers[target]:
                setattr(module, target.attr, original)
            else:
                msg = (
                    f"{target.module}.{target.attr} was replaced by someone else inside a "
                    "provenance.record() block; leaving their version in place."
                )
                warnings.warn(msg, ProvenanceWarning, stacklevel=4)
        self._originals.clear()
        self._wrappers.clear()
        self._modules.clear()


patches = _Patches()


def _make_wrapper(target: RecordedFunction, original: Callable[..., Any]) -> Callable[..., Any]:
    sig = inspect.signature(original)
    first = next(iter(sig.parameters))
    legacy = legacy_positionals(original)

    @functools.wraps(original)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        caller = sys._getframe(1)
        try:
            return _recorded_call(target, original, sig, first, legacy, caller, args, kwargs)
        finally:
            del caller  # a frame in a local makes a reference cycle

    wrapper.__provenance_wrapper__ = True  # type: ignore[attr-defined]
    return wrapper


def _recorded_call(
    target: RecordedFunction,
    original: Callable[..., Any],
    sig: inspect.Signature,
    first: str,
    legacy: tuple[str, ...],
    caller: Any,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Any:
    """Run ``original`` once, recording it if a block watches its object."""
    if _inside_opaque.get():
        return original(*args, **kwargs)  # part of an opaque call's record (a recipe's step)
    adata = args[0] if args else kwargs.get(first)
    if not target.records_call(adata):
        return original(*args, **kwargs)  # handed on to a recorded function (muon -> scanpy)
    # anndata.concat: recorded when a block watches any of the objects it joins.
    block = next(filter(None, map(block_for, target.watched_objects(adata))), None)
    if block is None:
        unwatched(target, adata)
        return _run(original, args, kwargs, caller)
    try:
        named, var_kw = bind(sig, args, kwargs, legacy=legacy)
    except TypeError as e:
        # scanpy rejects most such calls itself: its error goes through untouched. One it
        # runs anyway is not recorded, and that is never silent.
        result = _run(original, args, kwargs, caller)
        error = ProvenanceError(f"its arguments cannot be bound to {target.function}'s ({e})")
        _report(error, block, target, result, stacklevel=4)
        return result
    if not target.writes_result(named):
        return _run(original, args, kwargs, caller)  # it only returns a value: nothing to record
    # scanpy <= 1.9 writes every call's params to one fixed key: calls from several
    # threads would move each other's params, so those run one at a time.
    fixed = target.writes_fixed_key()
    with _fixed_key_lock if fixed else contextlib.nullcontext():
        call = _CALLS[target.kind](target, named, var_kw, block)
        if call.error is not None and block._is_strict():
            # Refuse before anything is changed: say so, the message is read after a traceback.
            call.error.add_note(
                f"Strict mode: {target.function} was not run, nothing was computed or changed."
            )
            raise call.error
        token = _inside_opaque.set(True) if target.opaque else None
        try:
            result = _run(original, args, kwargs, caller)
        except BaseException:
            call.rollback()
            raise
        finally:
            if token is not None:
                _inside_opaque.reset(token)
        try:
            rec = call.finish(result)
        except Exception as e:
            _report(e, block, target, result, stacklevel=4)
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
            before = list(warnings.filters)
            try:
                result = func(*args, **kwargs)
            except BaseException as e:
                error: BaseException | None = e
            else:
                error = None
            # Filters the function added (scanpy's ``warn_once`` ignores its message from then
            # on) would be dropped with the captured state: kept below, after the warnings they
            # follow were issued again, as without the wrapper.
            added = [f for f in warnings.filters if f not in before]
    finally:
        _capture_lock.release()
    if error is None:
        try:
            _reissue(caught, caller)
        finally:
            _keep_filters(added)
        return result
    try:
        # Raised first, a warning the filters turn into an error wins, as without the wrapper.
        _reissue(caught, caller)
        raise error
    finally:
        _keep_filters(added)
        del error  # the traceback holds this frame


def _keep_filters(added: list[Any]) -> None:
    """Install again, in their order, the warning filters a wrapped call added."""
    for action, message, category, module, lineno in reversed(added):
        warnings.filterwarnings(
            action,
            message=message.pattern if message is not None else "",
            category=category,
            module=module.pattern if module is not None else "",
            lineno=lineno,
        )


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
    exc: Exception, block: Recording, target: RecordedFunction, result: Any, *, stacklevel: int = 3
) -> None:
    """Warn that a call was not recorded; in strict mode raise, keeping ``copy=True``'s result.

    The raised error carries the clustering's return value as ``error.result``, so strict
    mode never loses a returned copy.
    """
    msg = f"{target.function} ran but was not recorded: {exc}"
    if block._is_strict():
        err = exc if isinstance(exc, ProvenanceError) else ProvenanceError(msg)
        err.result = result  # type: ignore[attr-defined]
        if err is exc:
            raise err
        raise err from exc
    warnings.warn(msg, ProvenanceWarning, stacklevel=stacklevel)
