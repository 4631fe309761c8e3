"""One switch for a whole session: ``start()`` / ``stop()``, and the IPython extension on them.

The session is one ``record()`` block (the same ``Recording``, ``open_block``/``close_block``
and reference-counted patches) that stays open between calls. Unlike a ``with`` block it
cannot live in the caller's context variable: a value set in one notebook cell does not
reliably reach the next. IPython runs a top-level ``await`` cell as an asyncio task in a copy
of the context (ipykernel issue 749), and some ipykernel releases ran every cell so (< 6,
7.0.0: issue 1457). The session block is opened in a context of its own and is visible, like
a targeted block, from every context and thread until ``stop()``.

IPython is never imported here: the extension only calls the shell it is handed.
"""

from __future__ import annotations

import contextvars
import os
import threading
import warnings
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError, ProvenanceWarning
from provenance._util.signing import signer_from_env

from .blocks import Recording, close_block, open_block
from .patching import patches

if TYPE_CHECKING:
    from contextvars import Token

    from provenance._schema.models import ClusteringRecord, StepRecord

__all__ = ["load_ipython_extension", "start", "stop", "unload_ipython_extension"]


class _SessionRecording(Recording):
    """The session's block: open to every thread, not only those started after it opened."""

    def _started_inside(self, thread: threading.Thread) -> bool:
        return not self.closed

    def __repr__(self) -> str:  # a notebook shows what ``start()`` returns
        state = "off" if self.closed else "on"
        return f"<provenance session recording: {state}, {_count(len(self.records))}>"


class _Session:
    """The open session: its block, the context that holds its token, when it started."""

    def __init__(self, strict: bool | None) -> None:
        # PROVENANCE_SIGNING_KEY signs a session's records too (read when it starts).
        self.block = _SessionRecording(target=None, strict=strict)
        self.block._signer = signer_from_env()
        self.started = datetime.now(UTC)
        self._context = contextvars.copy_context()
        patches.acquire()
        try:
            self._token: Token[tuple[Recording, ...]] = self._context.run(open_block, self.block)
        except BaseException:
            patches.release()
            raise

    def close(self) -> None:
        try:
            self._context.run(close_block, self.block, self._token)
        finally:
            patches.release()


_lock = threading.Lock()
_session: _Session | None = None


def start(*, strict: bool | None = None) -> Recording:
    """Turn recording on for the rest of the session, until :func:`stop`.

    The one-line form of wrapping every cell in ``with provenance.record():``: from now on,
    every call of a recorded function (``sc.tl.leiden``, ``sc.tl.louvain``, ...) on any
    object, from any cell, thread or ``await``, appends its record to the ``uns`` of the
    object it modified. In IPython and Jupyter, ``%load_ext provenance`` does the same.

    Parameters
    ----------
    strict
        Raise instead of warning when a call cannot be recorded. Defaults to the
        ``PROVENANCE_STRICT`` environment variable.

    Returns
    -------
    The session's :class:`Recording`; its ``records`` grows as calls are recorded. Calling
    ``start()`` again while recording is on returns the same one (re-running a notebook's
    first cell changes nothing).

    Raises
    ------
    ProvenanceError
        Recording is already on with another ``strict``: call :func:`stop` first.

    Examples
    --------
    >>> session = provenance.start()
    >>> sc.tl.leiden(adata, key_added="leiden_s", flavor="igraph", n_iterations=2)
    >>> [(r.key, r.version) for r in provenance.stop()]
    [('leiden_s', 1)]
    >>> provenance.latest(adata, "leiden_s").function
    'scanpy.tl.leiden'

    Notes
    -----
    A ``with provenance.record(...)`` block inside the session still collects the records of
    the calls it watches. As with ``record()``, a function imported before recording was
    turned on (``from scanpy.tl import leiden``) is the unpatched original and is not
    recorded: call it as ``sc.tl.leiden``.
    """
    global _session
    with _lock:
        if _session is not None:
            if strict is not None and strict != _session.block.strict:
                msg = (
                    f"provenance.start(strict={strict}): recording is already on (started "
                    f"{_session.started:%H:%M:%S} UTC, strict={_session.block.strict}); call "
                    "provenance.stop() first to start it again with another strict."
                )
                raise ProvenanceError(msg)
            return _session.block
        _session = _Session(strict)
        return _session.block


def stop() -> list[ClusteringRecord | StepRecord]:
    """Turn off the recording :func:`start` turned on; the records it wrote, oldest first.

    The recorded functions are the originals again once no ``record()`` block is open either.
    Calling ``stop()`` when recording is off warns (:class:`ProvenanceWarning`) and returns
    an empty list.

    Examples
    --------
    >>> _ = provenance.start()
    >>> provenance.stop()
    []
    """
    records = _stop()
    if records is None:
        msg = (
            "provenance.stop(): recording is not on, nothing to stop (turn it on with "
            "provenance.start() or %load_ext provenance)."
        )
        warnings.warn(msg, ProvenanceWarning, stacklevel=2)
        return []
    return records


def _stop() -> list[ClusteringRecord | StepRecord] | None:
    """Turn the session off: its records, or ``None`` if it was off."""
    global _session
    with _lock:
        session, _session = _session, None
        if session is None:
            return None
        session.close()
    return list(session.block.records)


def _describe() -> str:
    """A line or a few on the session: on or off, since when, what it recorded."""
    session = _session
    if session is None:
        return "provenance: recording is off (%provenance on, or provenance.start(), starts it)."
    block = session.block
    records = list(block.records)
    strict = "on" if block._is_strict() else "off"
    if block.strict is None:  # read from the environment at each call
        value = os.environ.get("PROVENANCE_STRICT")
        strict += (
            f", from PROVENANCE_STRICT={value}"
            if value is not None
            else ": the default, PROVENANCE_STRICT is not set"
        )
    lines = [
        f"provenance: recording since {session.started:%Y-%m-%d %H:%M:%S} UTC (strict "
        f"{strict}); {_count(len(records))} written{':' if records else '.'}"
    ]
    lines += [f"  {r.key} v{r.version}  {r.function}" for r in records]
    return "\n".join(lines)


def _count(n: int) -> str:
    return f"{n} record{'' if n == 1 else 's'}"


# -- the IPython extension: ``%load_ext provenance`` ---------------------------------------

_USAGE = "usage: %provenance on | off | status"


def _magic(line: str) -> None:
    """``%provenance on|off|status``: turn session recording on or off, or say what it did."""
    word = line.strip().lower()
    if word == "on":
        start()
        print(_describe())
    elif word == "off":
        _stop_and_say()
    elif word in ("", "status"):
        print(_describe())
    else:
        print(_USAGE)


def _stop_and_say() -> None:
    records = _stop()
    if records is None:
        print(_describe())
    else:
        print(f"provenance: recording is off; {_count(len(records))} written.")


# A cell line that loads the extension: IPython runs ``load_ipython_extension`` only once.
_LOAD_EXT = ["%load_ext", "provenance"]

_ON = (
    "provenance: recording is on for this session; every recorded scanpy call writes its "
    "record to the object's uns (%provenance status; %unload_ext provenance turns it off)."
)


def _on_load_ext_again(info: Any) -> None:
    """Before a cell runs: a ``%load_ext provenance`` after ``%provenance off`` turns
    recording back on, as the notebook's first cell means, instead of IPython's silent
    "already loaded"."""
    cell = getattr(info, "raw_cell", "") or ""
    if _session is None and any(line.split() == _LOAD_EXT for line in cell.splitlines()):
        start()
        print(_ON.replace("is on", "is on again", 1))


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext provenance``: :func:`start`, and the line magic ``%provenance``.

    IPython calls it; in a notebook's first cell:

    .. code-block:: ipython3

        %load_ext provenance      # recording on for every following cell
        %provenance status        # what the session recorded so far
        %provenance off           # pause (%provenance on, or %load_ext provenance again, resumes)
        %unload_ext provenance    # off: provenance.stop()

    To load it in every session, add ``c.InteractiveShellApp.extensions = ["provenance"]``
    to ``ipython_config.py``.
    """
    start()
    ipython.register_magic_function(_magic, magic_kind="line", magic_name="provenance")
    events = getattr(ipython, "events", None)
    if events is not None and _on_load_ext_again not in events.callbacks["pre_run_cell"]:
        events.register("pre_run_cell", _on_load_ext_again)
    print(_ON)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext provenance``: :func:`stop` and remove ``%provenance``.

    Says how many records the session wrote; if recording was already off (``%provenance
    off``, :func:`stop`), says so instead of warning.
    """
    _stop_and_say()
    ipython.magics_manager.magics["line"].pop("provenance", None)
    events = getattr(ipython, "events", None)
    if events is not None and _on_load_ext_again in events.callbacks["pre_run_cell"]:
        events.unregister("pre_run_cell", _on_load_ext_again)
