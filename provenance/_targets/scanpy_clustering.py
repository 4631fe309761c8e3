"""What scanpy's graph clustering functions share: the arguments of leiden and louvain.

:class:`ScanpyClustering` implements the :class:`~provenance._targets.base.Target` contract
for a function with scanpy's clustering arguments (``resolution``, ``random_state``,
``restrict_to``, ``key_added``, ``adjacency``, ``directed``, ``use_weights``,
``partition_type``, ``neighbors_key``, ``obsp``, ``copy``, ``flavor``); a subclass adds what
is its own (:meth:`ScanpyClustering.own_params`, :meth:`ScanpyClustering.own_kwargs`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from provenance._base.errors import ReplayError
from provenance._schema.models import RestrictTo
from provenance._schema.resolve import resolve_params
from provenance._util.jsonsafe import jsonable, qualname

from .base import Target
from .decode import decode_argument, resolve_class

if TYPE_CHECKING:
    import inspect
    from collections.abc import Mapping

    from provenance._schema.models import Params

__all__ = ["COMMON_ARGS", "ScanpyClustering"]

# Arguments of the clustering functions that the params models have a field for.
COMMON_ARGS = (
    "resolution", "random_state", "restrict_to", "key_added", "adjacency", "directed",
    "use_weights", "partition_type", "neighbors_key", "obsp", "copy", "flavor",
)  # fmt: skip

# What an adopted record may know: scanpy's uns[key]["params"] never holds key_added.
_ADOPTABLE = tuple(a for a in COMMON_ARGS if a != "key_added")


class ScanpyClustering(Target):
    """A scanpy-style clustering function (see the module docstring)."""

    default_flavor: ClassVar[str]
    """The flavor a call without ``flavor`` runs (and a scanpy without the argument)."""
    own_args: ClassVar[tuple[str, ...]] = ()
    """This function's arguments beyond :data:`COMMON_ARGS` that the params model holds."""
    adopt_args: ClassVar[tuple[str, ...]] = ()
    """Those of :attr:`own_args` scanpy keeps in ``uns[key]["params"]``: an adopted record
    lists them in ``unknown`` when they are missing."""

    def partition_packages(self, flavor: str | None) -> tuple[str, ...]:
        # scanpy builds the igraph graph (edge order, weights) and seeds the backend.
        return ("scanpy", *self.backends(flavor or self.default_flavor))

    # -- what a subclass adds --------------------------------------------------------------

    def own_params(self, named: Mapping[str, Any], var_kw: Mapping[str, Any]) -> dict[str, Any]:
        """Fields of the params model for :attr:`own_args` and ``**kwargs``, JSON-safe."""
        return {}

    def own_kwargs(self, params: Any, *, what: str) -> tuple[dict[str, Any], dict[str, Any]]:
        """``(named, extra)`` keyword arguments rebuilt from :attr:`own_args` and the stored
        ``**kwargs``; ``extra`` must not collide with named arguments."""
        return {}, {}

    # -- the contract ----------------------------------------------------------------------

    def record_params(self, named: dict[str, Any], var_kw: dict[str, Any]) -> Params:
        pt = named.get("partition_type")
        skip = {"adata", *COMMON_ARGS, *self.own_args}
        passed = {
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
            "flavor": named.get("flavor", self.default_flavor),
            "method": self.method,
            **self.own_params(named, var_kw),
            "other_args": {k: jsonable(v) for k, v in named.items() if k not in skip},
        }
        return self.params_model(**resolve_params(passed))  # type: ignore[return-value]

    def replay_kwargs(
        self, params: Any, *, parameters: Mapping[str, inspect.Parameter], where: str
    ) -> dict[str, Any]:
        p = params
        classes = self.partition_classes
        kwargs: dict[str, Any] = {
            "resolution": p.resolution,
            "random_state": decode_argument(
                p.random_state, what="params.random_state", classes=classes
            ),
            "restrict_to": None
            if p.restrict_to is None
            else (p.restrict_to.key, list(p.restrict_to.categories)),
            "directed": p.directed,
            "use_weights": p.use_weights,
            "partition_type": None
            if p.partition_type is None
            else resolve_class(p.partition_type, what="params.partition_type", classes=classes),
            "neighbors_key": p.neighbors_key,
            "obsp": p.obsp,
            "copy": False,
            "flavor": p.flavor,
        }
        own, extra = self.own_kwargs(p, what="params")
        kwargs.update(own)
        other = decode_argument(p.other_args, what="params.other_args", classes=classes)
        for name in list(kwargs):
            if name not in parameters:
                if kwargs[name] is None or (
                    name == "flavor" and kwargs[name] == self.default_flavor
                ):
                    # An unset argument the installed version no longer has, or the one flavor
                    # a scanpy without the argument runs (leiden before 1.10 is always
                    # leidenalg).
                    del kwargs[name]
                    continue
                msg = (
                    f"{where} passed {name}={kwargs[name]!r}, but the installed {self.function} "
                    "has no such argument; install the recorded scanpy version to replay it."
                )
                raise ReplayError(msg)
        for name, value in other.items():
            if name not in parameters:
                msg = (
                    f"{where} passed {name}= (an argument of a newer/older scanpy), which the "
                    f"installed {self.function} does not take; install the recorded scanpy "
                    "version."
                )
                raise ReplayError(msg)
            kwargs[name] = value
        clash = set(extra) & (set(parameters) | {"adata"})
        if clash:
            msg = f"{where}: clustering_args {sorted(clash)} collide with named arguments."
            raise ReplayError(msg)
        kwargs.update(extra)
        for name in getattr(p, "unknown", []):
            kwargs.pop(name, None)  # not known (adopted record): the installed default applies
        return kwargs

    def recognizes(self, key: str, params: Mapping[str, Any]) -> bool:
        return key.startswith(self.default_key)

    def adopt_params(self, key: str, known: Mapping[str, Any]) -> Params:
        own = {a: known.get(a) for a in self.adopt_args}
        fields: dict[str, Any] = {a: None for a in _ADOPTABLE}
        fields.update({k: v for k, v in known.items() if k in _ADOPTABLE})
        fields["key_added"] = key
        extra = {k: v for k, v in known.items() if k not in (*_ADOPTABLE, *self.adopt_args)}
        unknown = [a for a in (*_ADOPTABLE, *self.adopt_args) if a not in known]
        return self.params_model(  # type: ignore[return-value]
            **fields, **self.adopted_own(own), other_args=extra, unknown=unknown
        )

    def adopted_own(self, own: Mapping[str, Any]) -> dict[str, Any]:
        """Fields of the params model for :attr:`adopt_args` as scanpy kept them (``None``:
        not kept)."""
        return {}


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
