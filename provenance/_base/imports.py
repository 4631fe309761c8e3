"""Run code when a module is imported: :func:`when_imported`.

``record()`` patches the functions of the libraries already imported; a library imported
later (``import muon`` in a notebook cell after ``%load_ext provenance``) would run
unrecorded. A finder on ``sys.meta_path`` sees the import and runs the callbacks once the
module has executed, so its functions are patched before the importing line returns.
"""

from __future__ import annotations

import importlib.util
import sys
import threading
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from importlib.machinery import ModuleSpec
    from types import ModuleType

__all__ = ["forget", "when_imported"]

_lock = threading.RLock()
_hooks: dict[str, list[Callable[[ModuleType], None]]] = {}
_busy = threading.local()


def when_imported(name: str, callback: Callable[[ModuleType], None]) -> None:
    """Call ``callback(module)`` once module ``name`` is imported: now if it already is, else
    right after it executes (each time it is imported anew). Adding the same callback again
    for the same name does nothing."""
    with _lock:
        module = sys.modules.get(name)
        hooks = _hooks.setdefault(name, [])
        if callback not in hooks:
            hooks.append(callback)
        if _FINDER not in sys.meta_path:
            sys.meta_path.insert(0, _FINDER)
    if module is not None:
        callback(module)


def forget(callback: Callable[[ModuleType], None]) -> None:
    """Remove ``callback`` from every module it waits for."""
    with _lock:
        for name in list(_hooks):
            hooks = _hooks[name]
            if callback in hooks:
                hooks.remove(callback)
            if not hooks:
                del _hooks[name]
        if not _hooks and _FINDER in sys.meta_path:
            sys.meta_path.remove(_FINDER)


def _run(name: str, module: ModuleType) -> None:
    with _lock:
        hooks = list(_hooks.get(name, ()))
    for callback in hooks:
        callback(module)


class _Loader:
    """The module's own loader, then the callbacks.

    Duck-typed (``create_module``/``exec_module``), as the import system asks of a loader:
    ``importlib.abc`` costs every ``import provenance`` milliseconds it never uses.
    """

    def __init__(self, name: str, loader: Any) -> None:
        self.name = name
        self.loader = loader

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return self.loader.create_module(spec)  # type: ignore[no-any-return]

    def exec_module(self, module: ModuleType) -> None:
        # The module's spec names this loader; importlib and pickle expect the real one.
        module.__loader__ = self.loader
        if module.__spec__ is not None:
            module.__spec__.loader = self.loader
        self.loader.exec_module(module)
        _run(self.name, module)

    def __getattr__(self, attr: str) -> Any:
        return getattr(self.loader, attr)


class _Finder:
    def find_spec(
        self, fullname: str, path: Sequence[str] | None, target: ModuleType | None = None
    ) -> ModuleSpec | None:
        if fullname not in _hooks or getattr(_busy, fullname, False):
            return None
        setattr(_busy, fullname, True)  # the real finders, not this one again
        try:
            spec = importlib.util.find_spec(fullname)
        finally:
            setattr(_busy, fullname, False)
        if spec is None or spec.loader is None or not hasattr(spec.loader, "exec_module"):
            return spec
        spec.loader = _Loader(fullname, spec.loader)  # type: ignore[assignment]  # duck-typed
        return spec


_FINDER = _Finder()
