"""Binding a call to a recorded function's signature, as the function itself receives it."""

from __future__ import annotations

import inspect
from typing import Any

__all__ = ["bind", "legacy_positionals"]


def bind(
    sig: inspect.Signature,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    *,
    legacy: tuple[str, ...] = (),
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Bind a call to a signature with defaults; split off ``**kwargs``.

    ``legacy`` names the keyword-only parameters that scanpy's ``legacy_api`` decorator still
    accepts positionally, in their old order: a call in the old positional form is bound as
    that decorator passes it on (extra positionals by those names, winning over keywords).
    Raises ``TypeError`` for a call that cannot be bound either way.
    """
    try:
        bound = sig.bind(*args, **kwargs)
    except TypeError:
        kinds = [p.kind for p in sig.parameters.values()]
        n_pos = sum(k in _POSITIONAL for k in kinds)
        rest = args[n_pos:]
        if not legacy or inspect.Parameter.VAR_POSITIONAL in kinds or not rest:
            raise
        if len(rest) > len(legacy):
            msg = f"{len(args)} positional arguments, at most {n_pos + len(legacy)} are taken"
            raise TypeError(msg) from None
        bound = sig.bind(*args[:n_pos], **{**kwargs, **dict(zip(legacy, rest, strict=False))})
    bound.apply_defaults()
    named: dict[str, Any] = {}
    var_kw: dict[str, Any] = {}
    for name, value in bound.arguments.items():
        kind = sig.parameters[name].kind
        if kind is inspect.Parameter.VAR_KEYWORD:
            var_kw = dict(value)
        elif kind is not inspect.Parameter.VAR_POSITIONAL:
            named[name] = value
    return named, var_kw


_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def legacy_positionals(func: Any) -> tuple[str, ...]:
    """The old positional names a ``legacy_api``-decorated function still accepts, else ``()``.

    scanpy wraps such functions with ``legacy_api_wrap.legacy_api(*names)`` (its
    ``old_positionals``), which keeps the names only in its wrapper's closure: read them from
    there, along the ``__wrapped__`` chain.
    """
    for _ in range(16):  # a bound on the chain, against cycles
        code = getattr(func, "__code__", None)
        closure = getattr(func, "__closure__", None)
        if code is not None and closure and "old_positionals" in code.co_freevars:
            try:
                names = closure[code.co_freevars.index("old_positionals")].cell_contents
            except ValueError:  # an empty cell
                names = None
            if isinstance(names, tuple) and all(isinstance(n, str) for n in names):
                return names
        func = getattr(func, "__wrapped__", None)
        if func is None:
            break
    return ()
