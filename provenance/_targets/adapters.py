"""The clustering functions the recorder wraps: one table entry per target.

An entry says where the function lives, which method it implements, its default key, the
fixed ``uns`` key old versions clobber whatever ``key_added`` was, and how to turn a bound
call into typed parameters.
"""

from __future__ import annotations

import inspect
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from provenance._schema.models import LeidenParams, LouvainParams, RestrictTo
from provenance._schema.resolve import resolve_params
from provenance._util.jsonsafe import jsonable, qualname

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

__all__ = ["ADAPTERS", "Adapter", "bind", "legacy_positionals"]

Method = Literal["leiden", "louvain"]

# Arguments of the clustering functions that the params models have a field for.
_COMMON = (
    "resolution", "random_state", "restrict_to", "key_added", "adjacency", "directed",
    "use_weights", "partition_type", "neighbors_key", "obsp", "copy", "flavor",
)  # fmt: skip


@dataclass(frozen=True)
class Adapter:
    """How to record one clustering function."""

    module: str
    """Module whose attribute is patched, e.g. ``scanpy.tools``."""
    attr: str
    """Attribute name in that module."""
    function: str
    """Public name stored in records."""
    method: Method
    default_key: str
    """``key_added`` default; with ``restrict_to`` the default key gets ``_R``."""
    fixed_key: str | None
    """``uns`` key that scanpy <= 1.9 wrote the params to whatever ``key_added`` was."""
    fixed_key_before: tuple[int, int] | None
    """First scanpy version that no longer writes to ``fixed_key``."""
    default_flavor: str
    build: Callable[[dict[str, Any], dict[str, Any]], LeidenParams | LouvainParams]
    """Make params from (named arguments, variable keyword arguments)."""
    backends: Callable[[str], tuple[str, ...]]
    """Distributions whose versions matter, by flavor."""
    python_random: Callable[[str | None], bool] = lambda flavor: False
    """Whether a flavor draws from Python's ``random`` module, ignoring ``random_state``."""

    def written_key(self, key_added: str, restrict_to: Any) -> str:
        """The key scanpy actually writes."""
        if restrict_to is not None and key_added == self.default_key:
            return key_added + "_R"
        return key_added


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


def _restrict(value: Any) -> RestrictTo | None:
    if value is None:
        return None
    key, categories = value
    if isinstance(categories, str):
        categories = [categories]
    return RestrictTo(key=str(key), categories=[str(c) for c in categories])


def _adjacency(value: Any) -> str | None:
    if value is None:
        return None
    shape = "x".join(str(s) for s in getattr(value, "shape", ()))
    fmt = getattr(value, "format", type(value).__name__)
    return f"{fmt} matrix {shape}".strip()


def _common(named: Mapping[str, Any], default_flavor: str) -> dict[str, Any]:
    pt = named.get("partition_type")
    return {
        "resolution": named.get("resolution"),
        "random_state": jsonable(named.get("random_state")),
        "restrict_to": _restrict(named.get("restrict_to")),
        "key_added": named["key_added"],
        "adjacency": _adjacency(named.get("adjacency")),
        "directed": named.get("directed"),
        "use_weights": named.get("use_weights"),
        "partition_type": None if pt is None else qualname(pt),
        "neighbors_key": named.get("neighbors_key"),
        "obsp": named.get("obsp"),
        "copy": named.get("copy", False),
        "flavor": named.get("flavor", default_flavor),
    }


def _other(named: Mapping[str, Any], known: tuple[str, ...]) -> dict[str, Any]:
    skip = {"adata", *_COMMON, *known}
    return {k: jsonable(v) for k, v in named.items() if k not in skip}


def _leiden(named: dict[str, Any], var_kw: dict[str, Any]) -> LeidenParams:
    passed = {
        **_common(named, "leidenalg"),
        "method": "leiden",
        "n_iterations": named.get("n_iterations", -1),
        "clustering_args": jsonable(var_kw),
        "other_args": _other(named, ("n_iterations",)),
    }
    return LeidenParams(**resolve_params(passed))


def _louvain(named: dict[str, Any], var_kw: dict[str, Any]) -> LouvainParams:
    kwargs = {**dict(named.get("partition_kwargs") or {}), **var_kw}
    passed = {
        **_common(named, "vtraag"),
        "method": "louvain",
        "partition_kwargs": jsonable(kwargs),
        "other_args": _other(named, ("partition_kwargs",)),
    }
    return LouvainParams(**resolve_params(passed))


def _leiden_backends(flavor: str) -> tuple[str, ...]:
    return ("igraph",) if flavor == "igraph" else ("leidenalg", "igraph")


def _louvain_backends(flavor: str) -> tuple[str, ...]:
    return ("louvain", "igraph") if flavor == "vtraag" else ("igraph",)


ADAPTERS: tuple[Adapter, ...] = (
    Adapter(
        module="scanpy.tools",
        attr="leiden",
        function="scanpy.tl.leiden",
        method="leiden",
        default_key="leiden",
        fixed_key="leiden",
        fixed_key_before=(1, 10),
        default_flavor="leidenalg",
        build=_leiden,
        backends=_leiden_backends,
    ),
    Adapter(
        module="scanpy.tools",
        attr="louvain",
        function="scanpy.tl.louvain",
        method="louvain",
        default_key="louvain",
        fixed_key="louvain",
        fixed_key_before=(1, 10),
        default_flavor="vtraag",
        build=_louvain,
        backends=_louvain_backends,
        # scanpy calls igraph's community_multilevel without seeding igraph's RNG, which is
        # Python's `random` module by default.
        python_random=lambda flavor: flavor == "igraph",
    ),
)
