"""What a clustering function makes of its arguments: params as passed -> params as they ran.

Schema 1.1 records state what ran (``flavor``, ``directed`` resolved; ``passed`` and
``not_in_effect`` beside them). These rules define those fields, so they belong to the schema:
the targets apply them when recording, the 1.0 -> 1.1 converter when reading old records.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = ["resolve_params"]


# What the functions make of their arguments. The same in every scanpy that has the
# argument (1.9 to 1.12), read from scanpy's _leiden.py/_louvain.py:
# leiden: flavor=None (1.12's default) runs leidenalg; directed=None is True for leidenalg,
#   False for igraph (which refuses True).
# louvain: flavor="igraph" forces directed=False and calls igraph's community_multilevel
#   without resolution, seed or partition_kwargs; "rapids" and "taynaud" ignore more.
def _leiden_resolve(p: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    flavor = "leidenalg" if p.get("flavor") is None else p.get("flavor")
    effective: dict[str, Any] = {"flavor": flavor}
    if p.get("directed") is None and flavor in ("leidenalg", "igraph"):
        effective["directed"] = flavor == "leidenalg"
    return effective, ()


_LOUVAIN_IGNORED: dict[str, tuple[str, ...]] = {
    "igraph": ("partition_kwargs", "random_state", "resolution"),
    "rapids": ("directed", "partition_kwargs", "random_state"),
    "taynaud": ("directed", "partition_kwargs", "random_state", "resolution", "use_weights"),
}


def _louvain_resolve(p: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[str, ...]]:
    flavor = p.get("flavor")
    effective = {"directed": False} if flavor == "igraph" else {}
    return effective, _LOUVAIN_IGNORED.get(flavor, ()) if isinstance(flavor, str) else ()


_RESOLVERS = {"leiden": _leiden_resolve, "louvain": _louvain_resolve}


def resolve_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """Params as passed (a JSON dict) -> params as they ran.

    The fields the function resolves take their effective values; the values passed move to
    ``passed`` where they differ; ``not_in_effect`` lists the arguments the backend ignores.
    Arguments not known (``unknown``, adopted records) are left alone. Used when recording
    and to upgrade 1.0 records, so both describe a run alike. Never mutates ``params``.
    """
    resolver = _RESOLVERS.get(params.get("method"))  # type: ignore[arg-type]
    if resolver is None:
        return dict(params)
    unknown = params.get("unknown") or []
    unknown = set(unknown) if isinstance(unknown, list) else set()
    if "flavor" in unknown:
        return dict(params)  # what ran depends on the flavor
    effective, ignored = resolver(params)
    out = dict(params)
    passed = dict(params.get("passed") or {})
    for name, value in effective.items():
        if name in unknown or params.get(name) == value:
            continue
        passed.setdefault(name, params.get(name))
        out[name] = value
    out["passed"] = passed
    out["not_in_effect"] = sorted(set(ignored) - unknown)
    return out
