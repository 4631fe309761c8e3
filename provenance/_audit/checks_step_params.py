"""What scanpy keeps of a recorded step's arguments, against the record (``params_mismatch``).

scanpy's plots and later steps read a step's arguments from what it left in ``uns``, not from
the record: ``sc.pl.rank_genes_groups_dotplot`` reads ``uns[key]["params"]["groupby"]``,
``sc.pl.paga`` reads ``uns["paga"]["groups"]``, a dendrogram plot its ``groupby``. Pointed at
another column, they show a result against labels it was not computed from, while every
digest still holds. A field both sides hold is compared; one the record leaves ``None``
(resolved by scanpy at run time, as ``use_raw``) is not.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from .catalogue import Finding
from .context import check
from .neighbors import place, short_function

if TYPE_CHECKING:
    from .context import StepContext

__all__ = ["check_step_params"]

# Where scanpy keeps a step's arguments: inside uns[key]["params"], or beside it.
_IN_PARAMS = ("neighbors", "rank_genes_groups", "filter_rank_genes_groups")
_BESIDE = {"dendrogram": ("groupby",), "paga": ("groups",)}


@check("params_mismatch")
def check_step_params(ctx: StepContext) -> list[Finding]:
    """scanpy's copy of the latest record's arguments, compared field by field."""
    from provenance._storage.uns_parts import uns_part

    rec = ctx.latest
    args: Mapping[str, Any] | None = getattr(rec, "arguments", None)
    if rec is None or not args or ctx.key in ctx.src.uns_errors:
        return []
    kept: dict[str, Any] = {}
    if rec.kind in _IN_PARAMS:
        params = ctx.entry.get("params") if isinstance(ctx.entry, Mapping) else None
        if isinstance(params, Mapping):
            kept = dict(params)
    for name in _BESIDE.get(rec.kind, ()):
        value = uns_part(ctx.src, ctx.key, name)
        if value is not None:
            kept[name] = value
    differ = {
        name: {"uns": _plain(value), "record": args[name]}
        for name, value in kept.items()
        if args.get(name) is not None and not _same(_plain(value), args[name])
    }
    if not differ:
        return []
    shown = "; ".join(
        f"{n} {d['uns']!r} in uns, {d['record']!r} recorded" for n, d in differ.items()
    )
    msg = (
        f"{place(ctx.src, ctx.key)}: what scanpy kept of the call's arguments contradicts the "
        f"latest record (version {rec.version}): {shown}. scanpy's plots and later steps read "
        "these, so they take the result for what it was not made from: put the recorded values "
        "back, "
        f"or re-run {short_function(rec.function)} inside provenance.record()."
    )
    return [Finding("params_mismatch", ctx.key, msg, {"version": rec.version, "fields": differ})]


def _plain(value: Any) -> Any:
    """A value as scanpy left it (from a file: numpy scalars and arrays, bytes), as JSON."""
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    if hasattr(value, "tolist"):
        value = value.tolist()
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def _same(kept: Any, recorded: Any) -> bool:
    """Equal, a one-element list standing for its element (a dendrogram's ``groupby``)."""
    if isinstance(kept, list) and not isinstance(recorded, list):
        kept = kept[0] if len(kept) == 1 else kept
    if isinstance(recorded, list) and not isinstance(kept, list):
        recorded = recorded[0] if len(recorded) == 1 else recorded
    if isinstance(kept, bool) or isinstance(recorded, bool):
        return kept is recorded or kept == recorded
    if isinstance(kept, int | float) and isinstance(recorded, int | float):
        return float(kept) == float(recorded)
    return bool(kept == recorded)
