"""How a neighbors graph was re-made: a step's history read for the findings of others.

``graph_changed`` (on a clustering) and ``stale_result`` (on PAGA) say *how* the graph changed
when the new one was recorded: the ``sc.pp.neighbors`` version whose graph matches the one
in ``obsp`` now, and which of its arguments differ from the run that made the graph used
("re-made by sc.pp.neighbors(n_neighbors=5) at ...; it was n_neighbors=10").
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError
from provenance._storage.codec import PROVENANCE_FIELD, decode_step, history_texts
from provenance._storage.history import has_history

if TYPE_CHECKING:
    from datetime import datetime

    from provenance._schema.models import NeighborsRecord, RecordRef, StepRecord
    from provenance._storage.files import AnnDataSource, FileSource
    from provenance._storage.mudata import PartView

    Source = AnnDataSource | FileSource | PartView

__all__ = [
    "call_text",
    "holder",
    "place",
    "recorded_call",
    "remade",
    "short_function",
    "step_records",
    "when",
]

_NOT_ARGUMENTS = {"adata", "copy"}  # the object (summarised), and whether a copy was returned


def step_records(src: Source, key: str) -> list[StepRecord]:
    """The readable step records of ``uns[key]``, oldest first (damaged ones left out: the
    key's own audit reports them); ``[]`` when it holds none."""
    entry = src.uns.get(key)
    if not isinstance(entry, Mapping) or not has_history(entry):
        return []
    try:
        texts = history_texts(entry[PROVENANCE_FIELD], key=key)
    except ProvenanceError:
        return []
    out = []
    for i, text in enumerate(texts):
        try:
            out.append(decode_step(text, key=key, index=i))
        except ProvenanceError:
            continue
    return out


def holder(src: Any) -> str:
    """The object a message's code acts on: ``adata``; of a MuData, ``mdata`` (its root) or
    ``mdata['rna']`` (a modality)."""
    if not hasattr(src, "modalities"):  # not a part of a MuData
        return "adata"
    modality = getattr(src, "modality", None)
    return "mdata" if modality is None else f"mdata[{modality!r}]"


def place(src: Any, key: str, field: str = "uns") -> str:
    """Where ``key`` is, as code: ``uns['paga']``; in a modality ``mdata['rna'].uns['paga']``.

    The report names a modality's keys ``"rna:paga"``; the object never does, so a message
    names the modality's own slot.
    """
    prefix = getattr(src, "prefix", "")
    if prefix and key.startswith(prefix):
        return f"{holder(src)}.{field}[{key[len(prefix) :]!r}]"
    return f"{field}[{key!r}]"


def short_function(function: str) -> str:
    """``"scanpy.pp.neighbors"`` -> ``"sc.pp.neighbors"``, as users write it."""
    return "sc." + function.removeprefix("scanpy.") if function.startswith("scanpy.") else function


def when(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}Z" if t is not None else "an unknown time"


def _fmt(value: Any) -> str:
    return repr(value) if isinstance(value, str) else str(value)


def call_text(function: str, arguments: Mapping[str, Any], *, obj: str = "adata") -> str:
    """``sc.pp.neighbors(adata, n_neighbors=5)``: the call with the arguments given."""
    args = "".join(f", {k}={_fmt(v)}" for k, v in arguments.items())
    return f"{short_function(function)}({obj}{args})"


# Arguments that say where the result goes, not how it is computed: a re-run in place omits them.
_WHERE = frozenset({"copy", "inplace"})


def recorded_call(
    function: str, arguments: Mapping[str, Any], *, obj: str = "adata"
) -> tuple[str, dict[str, Any]]:
    """The recorded call of a step as code: ``(text, unkept)``.

    ``text`` re-runs it as printed, with every argument recorded at another value than its
    default (the step target's :attr:`~provenance._targets.steps.StepTarget.defaults`, in
    signature order; an argument it does not list is always written out), e.g.
    ``sc.tl.rank_genes_groups(adata, groupby='leiden', method='wilcoxon')``. ``unkept`` holds
    the arguments whose value the record keeps only as a summary (a large array's digest, an
    object): they cannot be written as code and are left out of ``text``, so the caller says
    so.
    """
    from provenance._targets.registry import step_target

    target = step_target(function)
    defaults: Mapping[str, Any] = target.defaults if target is not None else {}
    order = [n for n in defaults if n in arguments] + sorted(
        n for n in arguments if n not in defaults
    )
    parts: list[str] = []
    unkept: dict[str, Any] = {}
    for name in order:
        value = arguments[name]
        if name in _WHERE or (name in defaults and _same(value, defaults[name])):
            continue
        code = _literal(value)
        if code is None:
            unkept[name] = value
        else:
            parts.append(f", {name}={code}")
    return f"{short_function(function)}({obj}{''.join(parts)})", unkept


def _same(value: Any, default: Any) -> bool:
    """A recorded value equal to the default, as JSON holds them (``1 == 1.0``, not ``True``)."""
    if isinstance(value, bool) or isinstance(default, bool):
        return type(value) is type(default) and value == default
    return bool(value == default)


def _literal(value: Any) -> str | None:
    """A recorded (JSON-safe) value as Python code, or ``None`` when it is only a summary."""
    import math

    if isinstance(value, Mapping):
        if value.get("$type") == "float" and value.get("value") in ("nan", "inf", "-inf"):
            return f"float({value['value']!r})"
        if "$type" in value:
            return None  # an array's digest, an object's class: not the value
        items = [(_literal(k), _literal(v)) for k, v in value.items()]
        if any(k is None or v is None for k, v in items):
            return None
        return "{" + ", ".join(f"{k}: {v}" for k, v in items) + "}"
    if isinstance(value, list | tuple):
        codes = [_literal(v) for v in value]
        if any(c is None for c in codes):
            return None
        return "[" + ", ".join(c for c in codes if c is not None) + "]"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    return None


def _wrote(rec: NeighborsRecord, obsp_key: str | None, graph_now: Any) -> bool:
    """Whether ``rec`` wrote the graph ``obsp[obsp_key]`` holds now (a ``CurrentGraph``)."""
    for g in rec.graphs.values():
        if g.obsp_key == obsp_key:
            try:
                return bool(graph_now.check(g).matches)
            except ProvenanceError:
                return False
    return False


def remade(
    src: Source,
    neighbors_key: str,
    *,
    obsp_key: str | None,
    digest_then: str,
    graph_now: Any | None,
    ref: RecordRef | None = None,
    params_then: Mapping[str, Any] | None = None,
) -> tuple[str, dict[str, Any]] | None:
    """How the graph was re-made, when ``uns[neighbors_key]``'s latest record wrote the graph
    in ``obsp`` now (``graph_now``, a ``CurrentGraph``; ``None``: not compared) and is not the
    run that made the graph used (``ref``, or the version whose graph digest is
    ``digest_then``).

    The arguments are compared with that run's, or, when it was not recorded, with
    ``params_then`` (scanpy's ``uns[neighbors_key]["params"]`` as the user of the graph saw
    them). Returns the words and their facts, or ``None`` when nothing recorded says it.
    """
    from provenance._schema.models import NeighborsRecord

    records = [r for r in step_records(src, neighbors_key) if isinstance(r, NeighborsRecord)]
    if not records:
        return None
    latest = records[-1]
    if graph_now is not None and not _wrote(latest, obsp_key, graph_now):
        return None  # the graph changed after the latest recorded run too
    then = next(
        (
            r
            for r in records
            if (ref is not None and r.digest == ref.digest)
            or (ref is None and digest_then in {g.digest for g in r.graphs.values()})
        ),
        None,
    )
    if then is latest:
        return None
    if then is not None:
        before: Mapping[str, Any] = then.arguments
        names = sorted(set(before) | set(latest.arguments))
    else:
        before = params_then or {}
        names = sorted(set(before) & set(latest.arguments))
    changed = {
        n: (before.get(n), latest.arguments.get(n))
        for n in names
        if n not in _NOT_ARGUMENTS and before.get(n) != latest.arguments.get(n)
    }
    now_args = {n: b for n, (_, b) in changed.items()}
    text = (
        f"re-made by {call_text(latest.function, now_args, obj=holder(src))} at "
        f"{when(latest.finished_at or latest.started_at)} ({place(src, neighbors_key)} version "
        f"{latest.version})"
    )
    if changed:
        text += "; it was " + ", ".join(f"{n}={_fmt(a)}" for n, (a, _) in changed.items())
    elif then is not None:
        text += f", with the arguments of version {then.version}"
    details = {
        "key": neighbors_key,
        "version_then": then.version if then is not None else None,
        "version_now": latest.version,
        "changed": {n: [a, b] for n, (a, b) in changed.items()},
    }
    return text, details
