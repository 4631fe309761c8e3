"""JSON-safe forms of call arguments, canonical JSON and digests.

Arguments such as ``np.random.RandomState`` objects or partition classes cannot be stored in
``.h5ad``. They are turned into plain JSON values, tagged with ``"$type"`` so that a reader
can tell them apart from user dictionaries:

- ``{"$type": "class", "name": "leidenalg.VertexPartition.CPMVertexPartition"}``
- ``{"$type": "numpy.random.RandomState", "state": {...}}`` (the full MT19937 state)
- ``{"$type": "numpy.random.Generator", "bit_generator": "PCG64", "state": {...}}``
- ``{"$type": "float", "value": "nan" | "inf" | "-inf"}``
- ``{"$type": "ndarray", "dtype": ..., "shape": [...], "values": [...]}`` for small arrays,
  ``"sha256"`` of the raw bytes instead of ``"values"`` for large ones
- ``{"$type": "object", "class": ..., "repr": ...}`` for anything else (lossy, never evaluated)
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping
from typing import Any

__all__ = ["canonical_json", "digest", "jsonable", "python_random_state", "qualname"]

_SMALL_ARRAY = 256
_MAX_DEPTH = 32


def qualname(obj: Any) -> str:
    """Return ``module.QualName`` of a class or function."""
    module = getattr(obj, "__module__", None) or ""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None) or repr(obj)
    return f"{module}.{name}" if module else name


def jsonable(value: Any, *, _depth: int = 0) -> Any:
    """Return a JSON-safe, deterministic form of ``value`` (see the module docstring)."""
    import numpy as np

    if _depth > _MAX_DEPTH:
        return {"$type": "object", "class": qualname(type(value)), "repr": "<too deep>"}
    if value is None or isinstance(value, bool | str):
        return value
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, int | np.integer):
        return int(value)
    if isinstance(value, float | np.floating):
        f = float(value)
        if math.isfinite(f):
            return f
        return {"$type": "float", "value": "nan" if math.isnan(f) else ("inf" if f > 0 else "-inf")}
    if isinstance(value, type):
        return {"$type": "class", "name": qualname(value)}
    if isinstance(value, np.random.RandomState):
        return {"$type": "numpy.random.RandomState", "state": _rs_state(value)}
    if isinstance(value, np.random.Generator):
        bg = value.bit_generator
        return {
            "$type": "numpy.random.Generator",
            "bit_generator": type(bg).__name__,
            "state": jsonable(bg.state, _depth=_depth + 1),
        }
    if isinstance(value, np.ndarray):
        return _array(value, _depth)
    if isinstance(value, Mapping):
        return {str(k): jsonable(v, _depth=_depth + 1) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        items = sorted(value, key=repr) if isinstance(value, set | frozenset) else value
        return [jsonable(v, _depth=_depth + 1) for v in items]
    if callable(value) and hasattr(value, "__qualname__"):
        return {"$type": "callable", "name": qualname(value)}
    return {"$type": "object", "class": qualname(type(value)), "repr": repr(value)[:200]}


def python_random_state() -> dict[str, Any]:
    """Tagged JSON form of the state of Python's global ``random`` module."""
    import random

    version, internal, gauss = random.getstate()
    return {
        "$type": "random.Random",
        "version": int(version),
        "state": [int(x) for x in internal],
        "gauss_next": gauss,
    }


def _rs_state(rs: Any) -> dict[str, Any]:
    name, key, pos, has_gauss, cached = rs.get_state(legacy=True)
    return {
        "bit_generator": str(name),
        "key": [int(k) for k in key],
        "pos": int(pos),
        "has_gauss": int(has_gauss),
        "cached_gaussian": float(cached),
    }


def _array(a: Any, depth: int) -> dict[str, Any]:
    out: dict[str, Any] = {"$type": "ndarray", "dtype": str(a.dtype), "shape": list(a.shape)}
    if a.dtype.kind in "biufU" and a.size <= _SMALL_ARRAY:
        out["values"] = jsonable(a.tolist(), _depth=depth + 1)
    elif a.dtype.kind == "O":
        out["sha256"] = hashlib.sha256(repr(a.tolist()).encode()).hexdigest()
    else:
        out["sha256"] = hashlib.sha256(a.tobytes()).hexdigest()
    return out


def canonical_json(obj: Any) -> str:
    """Serialise ``obj`` canonically: sorted keys, no whitespace, UTF-8, no NaN."""
    return json.dumps(
        obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
    )


def digest(obj: Any) -> str:
    """``"sha256:<hex>"`` of the canonical JSON of ``obj``."""
    return (
        "sha256:" + hashlib.sha256(canonical_json(obj).encode("utf-8", "surrogatepass")).hexdigest()
    )
