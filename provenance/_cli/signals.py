"""SIGTERM and SIGHUP stop a command as Ctrl-C does: its workers ended, one line, no traceback.

``timeout(1)``, cron, CI runners and batch schedulers stop a program with SIGTERM; a closed
terminal sends SIGHUP. Their default action ends this process at once, without its ``finally``
blocks, so a ``-j N`` worker would outlive it, holding the caller's stdout and stderr open (a
caller waiting for them, as ``subprocess.communicate`` does, would wait forever). Raised as an
exception here, they unwind the run as a ``KeyboardInterrupt`` does; ``main`` then prints one
line and exits ``128 + signum`` (143 for SIGTERM, 129 for SIGHUP), as a shell reports a program
the signal killed. The workers also end by themselves when this process dies by a signal that
cannot be caught (``batch_pool``).
"""

from __future__ import annotations

import contextlib
import signal
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator
    from types import FrameType

__all__ = ["STOPPING", "Terminated", "stop_on_signals"]

#: The signals turned into ``Terminated`` (SIGHUP is POSIX only).
STOPPING: tuple[signal.Signals, ...] = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGHUP") if hasattr(signal, name)
)


class Terminated(KeyboardInterrupt):
    """A stopping signal arrived: what catches ``KeyboardInterrupt`` (the ``-j`` pool ending
    its workers) stops for it too."""

    def __init__(self, signum: int) -> None:
        super().__init__(signum)
        self.signum = signum
        self.name = signal.Signals(signum).name


def _raise(signum: int, frame: FrameType | None) -> None:
    # A second one while the run cleans up: the default action (the workers end anyway).
    signal.signal(signum, signal.SIG_DFL)
    raise Terminated(signum)


@contextlib.contextmanager
def stop_on_signals() -> Iterator[None]:
    """Within this block, SIGTERM and SIGHUP raise ``Terminated``; the handlers before it are
    restored after. A signal this process ignores (``nohup`` ignores SIGHUP) stays ignored;
    outside the main thread, where Python cannot set handlers, nothing changes."""
    mine = []
    try:
        for sig in STOPPING:
            if signal.getsignal(sig) is signal.SIG_DFL:
                signal.signal(sig, _raise)
                mine.append(sig)
    except ValueError:  # not the main thread
        pass
    try:
        yield
    finally:
        for sig in mine:
            signal.signal(sig, signal.SIG_DFL)
