"""The objects before this one in a lineage: parent objects' records and concatenated parts.

A record made on a subset or on the result of ``anndata.concat`` names its parent object
(schema 1.6 ``parent``, ``_record/parents.py``); a :class:`~provenance.ConcatRecord` names
the parts it joined. :func:`objects` adds them to the lineage
:func:`~provenance._compare.lineage.from_report` builds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from provenance._audit.report import AuditReport

__all__ = ["objects", "segment_parent"]


def prefix(key: str, local: str) -> str:
    """``"rna:"`` of ``"rna:L"`` (a MuData modality's records name the modality's keys)."""
    return key[: len(key) - len(local)] if key.endswith(local) else ""


def objects(report: AuditReport, found: dict[str, Any], edge: Any, node: Any) -> None:
    """The objects before this one: the parent object's record each key's latest segment
    continues (``parent``: a node ``"<key>@v<version>"`` when that record is no longer its
    key's latest, as when the key was re-made on this object; the key otherwise), and the
    parts a concatenation joined (nodes ``"<key>[<label>]"``). ``node`` makes a node's
    facts ``(kind, version, function, why, findings)``."""
    entries: list[Any] = [*report.entries, *report.steps]
    by_key = {e.key: e for e in entries}
    for e in entries:
        history: tuple[Any, ...] = getattr(e, "history", ())
        parent = segment_parent(history)
        if parent is None or parent.record is None:
            continue
        ref = parent.record
        name = prefix(e.key, history[-1].key) + ref.key
        held: Any = by_key.get(name)
        latest = held.latest if held is not None else None
        if latest is not None and latest.digest != ref.digest:
            # A version of a history re-made since on this object (the key's own, mostly):
            # a node of its own, for the parent object's record.
            made = next((r for r in held.history if r.digest == ref.digest), None)
            why = (
                f"made on the parent object ({parent.n_obs} cells) this object was taken from; "
                f"kept as version {ref.version} of uns[{ref.key!r}]'s history"
            )
            fn = made.function if made is not None else None
            name = f"{name}@v{ref.version}"
            found.setdefault(name, node("parent", ref.version, fn, why, ()))
        edge(name, e.key)
    for s in report.steps:
        latest = s.latest
        for part in getattr(latest, "parts", ()):
            name = f"{s.key}[{part.label!r}]"
            held = ", ".join(f"{r.key} v{r.version}" for r in part.records[:6])
            more = ", …" if len(part.records) > 6 else ""
            why = f"{part.n_obs} cells, joined; its records: {held or 'none'}{more}"
            found.setdefault(name, node("part", None, None, why, ()))
            edge(name, s.key)


def segment_parent(history: tuple[Any, ...]) -> Any:
    """The parent object named by the latest segment of a history: the last record made on
    the latest record's cells that names one (``None``: the segment names none)."""
    from provenance._storage.carried import cells_of

    if not history:
        return None
    cells = cells_of(history[-1])
    for rec in reversed(history):
        if cells_of(rec) != cells:
            return None
        parent = getattr(rec, "parent", None)
        if parent is not None:
            return parent
    return None
