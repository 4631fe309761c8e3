"""Call arguments rebuilt from a record; classes only from the allowlist of the record's target.

A record stores ``partition_type`` (and any class passed through ``**clustering_args``) by its
qualified name. Replaying must turn that name back into a class without ever importing a
module named in a file: a name is looked up in the target's ``partition_classes`` (see
``vertex_partitions``), and only then is that backend package imported, and only when it is
installed.
"""

from __future__ import annotations

import importlib
import importlib.util
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ReplayError

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["decode_argument", "resolve_class", "vertex_partitions"]

_BIT_GENERATORS = ("MT19937", "PCG64", "PCG64DXSM", "Philox", "SFC64")

_CONCRETE = (
    "CPMVertexPartition",
    "ModularityVertexPartition",
    "RBConfigurationVertexPartition",
    "RBERVertexPartition",
    "SignificanceVertexPartition",
    "SurpriseVertexPartition",
)


def vertex_partitions(package: str) -> dict[str, tuple[str, str]]:
    """The concrete vertex partitions of ``leidenalg``/``louvain``, as a target's allowlist:
    qualified name -> (package, attribute of ``package.VertexPartition``)."""
    return {f"{package}.VertexPartition.{cls}": (package, cls) for cls in _CONCRETE}


def resolve_class(name: str, *, what: str, classes: Mapping[str, tuple[str, str]]) -> type:
    """Return the class a record names, if it is a known partition class of an installed backend.

    Parameters
    ----------
    name
        The qualified class name stored in the record.
    what
        How to name the value in error messages, e.g. ``"params.partition_type"``.
    classes
        The allowlist: the record's target's ``partition_classes`` (every registered
        target's: ``registry.partition_classes()``). The registry is not consulted here, so a
        caller always says which classes it trusts.

    Raises
    ------
    ReplayError
        The name is not in the allowlist, or its backend is not installed.

    Examples
    --------
    >>> leiden = vertex_partitions("leidenalg")
    >>> resolve_class(
    ...     "leidenalg.VertexPartition.CPMVertexPartition", what="partition_type", classes=leiden
    ... )
    <class 'leidenalg.VertexPartition.CPMVertexPartition'>
    """
    allowed = classes
    entry = allowed.get(name)
    if entry is None:
        packages = " and ".join(
            f"{p}.VertexPartition.*" for p in sorted({p for p, _ in allowed.values()})
        )
        known = ", ".join(sorted({c for _, c in allowed.values()}))
        msg = (
            f"{what} names {name[:120]!r}, which is not a known partition class "
            f"(allowed: {packages or 'none'} of {known or 'none'}); "
            "replay never imports a module named in a file."
        )
        raise ReplayError(msg)
    package, attr = entry
    if importlib.util.find_spec(package) is None:
        msg = f"{what} names {name!r}, but {package!r} is not installed; pip install {package}."
        raise ReplayError(msg)
    module: Any = importlib.import_module(f"{package}.VertexPartition")
    cls = getattr(module, attr, None)
    if not isinstance(cls, type):
        msg = f"{what} names {name!r}, which the installed {package} does not provide."
        raise ReplayError(msg)
    return cls


def decode_argument(
    value: Any,
    *,
    what: str,
    classes: Mapping[str, tuple[str, str]],
    depth: int = 0,
) -> Any:
    """Rebuild a call argument from its tagged JSON form (see ``_jsonsafe``).

    Plain JSON values, non-finite floats, small arrays, RandomState and Generator states and
    partition classes of the allowlist ``classes`` (see :func:`resolve_class`) are rebuilt;
    anything else raises.

    Raises
    ------
    ReplayError
        The value is a tagged object that cannot be rebuilt (a hashed array, a callable, an
        object known only by its repr, a class outside the allowlist).

    Examples
    --------
    >>> decode_argument({"$type": "float", "value": "inf"}, what="clustering_args['x']", classes={})
    inf
    """
    import numpy as np

    if depth > 32:
        msg = f"{what} is nested too deeply to rebuild."
        raise ReplayError(msg)
    if isinstance(value, list):
        return [
            decode_argument(v, what=f"{what}[{i}]", classes=classes, depth=depth + 1)
            for i, v in enumerate(value)
        ]
    if not isinstance(value, dict):
        return value
    tag = value.get("$type")
    if tag is None:
        return {
            k: decode_argument(v, what=f"{what}[{k!r}]", classes=classes, depth=depth + 1)
            for k, v in value.items()
        }
    if tag == "float" and value.get("value") in ("nan", "inf", "-inf"):
        return float(value["value"])
    if tag == "class" and isinstance(value.get("name"), str):
        return resolve_class(value["name"], what=what, classes=classes)
    if tag == "numpy.random.RandomState":
        return _random_state(value, what=what)
    if tag == "numpy.random.Generator":
        name, state = value.get("bit_generator"), value.get("state")
        if name in _BIT_GENERATORS and isinstance(state, dict):
            bit_generator = getattr(np.random, name)()
            try:
                bit_generator.state = decode_argument(
                    state, what=what, classes=classes, depth=depth + 1
                )
            except (TypeError, ValueError, KeyError, ReplayError) as e:
                msg = f"{what}: the recorded {name} generator state cannot be restored ({e})."
                raise ReplayError(msg) from None
            return np.random.Generator(bit_generator)
    if tag == "ndarray" and "values" in value:
        try:
            dtype = np.dtype(str(value["dtype"]))
            if dtype.kind not in "biufU":
                raise TypeError(dtype)
            return np.asarray(value["values"], dtype=dtype).reshape(value["shape"])
        except (TypeError, ValueError) as e:
            msg = f"{what}: the recorded array cannot be rebuilt ({e})."
            raise ReplayError(msg) from None
    hint = {
        "ndarray": "only a hash of this array was recorded",
        "callable": "functions are recorded by name only and never imported",
        "object": "only its repr was recorded",
    }.get(str(tag), "unknown tagged value")
    label = value.get("name") or value.get("class") or tag
    msg = (
        f"{what} is a {str(label)[:120]!r} that cannot be rebuilt ({hint}); it cannot be replayed."
    )
    raise ReplayError(msg)


def _random_state(value: dict[str, Any], *, what: str) -> Any:
    import numpy as np

    state = value.get("state")
    try:
        key = np.asarray(state["key"], dtype=np.uint32)  # type: ignore[index]
        rs = np.random.RandomState()
        rs.set_state(
            (
                str(state["bit_generator"]),  # type: ignore[index]
                key,
                int(state["pos"]),  # type: ignore[index]
                int(state["has_gauss"]),  # type: ignore[index]
                float(state["cached_gaussian"]),  # type: ignore[index]
            )
        )
    except (TypeError, ValueError, KeyError) as e:
        msg = f"{what}: the recorded RandomState cannot be restored ({e})."
        raise ReplayError(msg) from None
    return rs
