"""The open ``record()`` blocks, and which one records a call on a given object."""

from __future__ import annotations

import contextlib
import threading
import warnings
import weakref
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provenance._base import config as _config
from provenance._base.errors import ProvenanceError, ProvenanceWarning
from provenance._util.fingerprint import obs_names_digest

if TYPE_CHECKING:
    from contextvars import Token

    from anndata import AnnData

    from provenance._schema.models import ClusteringRecord, StepRecord
    from provenance._targets.base import RecordedFunction
    from provenance._util.signing import Signer

__all__ = ["Recording", "block_for", "close_block", "open_block", "unwatched"]


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
    records: list[ClusteringRecord | StepRecord] = field(default_factory=list)

    closed: bool = False
    _copies: list[weakref.ref[Any]] = field(default_factory=list, repr=False, init=False)
    # The key every record of this block is signed with (None: unsigned); set by record().
    _signer: Signer | None = field(default=None, repr=False, init=False)
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
        # A MuData's modalities: sc.tl.leiden(mdata.mod["rna"]) inside record(mdata).
        mods = getattr(self.target, "mod", None)
        if mods is not None and any(m is adata for m in mods.values()):
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


def open_block(block: Recording) -> Token[tuple[Recording, ...]]:
    """Make ``block`` visible to the wrapped functions (this context, and other threads)."""
    if block.target is None:
        block._thread = threading.current_thread()
        block._before = weakref.WeakSet(threading.enumerate())
    token = _blocks.set((*_blocks.get(), block))
    with _targeted_lock:
        (_targeted if block.target is not None else _untargeted).append(block)
    return token


def close_block(block: Recording, token: Token[tuple[Recording, ...]]) -> None:
    """Close ``block``: from now on it records nothing, from any thread."""
    block.closed = True
    with _targeted_lock:
        (_targeted if block.target is not None else _untargeted).remove(block)
    try:
        _blocks.reset(token)
    except ValueError:  # exited in another context than entered
        _blocks.set(tuple(b for b in _blocks.get() if b is not block))


def block_for(adata: Any) -> Recording | None:
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


def unwatched(target: RecordedFunction, adata: Any) -> None:
    """Refuse silence: a call in a targeted block's context on an object it does not watch."""
    block = next((b for b in reversed(_blocks.get()) if not b.closed), None)
    if block is None or block.target is None:
        return
    what = type(adata).__name__
    msg = (
        f"{target.function} ran inside `provenance.record(adata)` on another {what} (a subset "
        "or copy made inside the block?), which that block does not watch, so it is not "
        f"recorded. To record it, use `provenance.record()` (every object) or "
        f"`provenance.record(that_object)`."
    )
    if block._is_strict():
        raise ProvenanceError(msg)  # before the call: nothing has changed
    warnings.warn(msg, ProvenanceWarning, stacklevel=4)
