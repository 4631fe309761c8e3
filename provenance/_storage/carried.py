"""The records an object carries: the latest record of every key of its ``uns``, read lightly.

What the recorder needs of them to name a record's parent object (``_record/parents.py``)
and the parts of a concatenation (:class:`~provenance.ConcatPart`): which key, which version,
its digest, its kind, the cells it was made on and when. Read from each history's last JSON
text without validating the record (one ``json.loads`` per key): a damaged or unreadable
history is skipped here and reported by the audit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError

from .codec import PROVENANCE_FIELD, history_texts
from .history import has_history

if TYPE_CHECKING:
    from collections.abc import Mapping

    from provenance._schema.models import RecordRef

__all__ = ["Carried", "carried", "cells_of"]

_NEVER = datetime.min.replace(tzinfo=UTC)


@dataclass(frozen=True)
class Carried:
    """The latest record of one key, as far as the recorder needs it."""

    key: str
    """The ``uns`` key whose history holds it."""
    version: int
    digest: str
    kind: str
    """``"clustering"``, ``"neighbors"``, ``"transform"``, ``"concat"``, ..."""
    cells: tuple[int, str] | None
    """``(n_obs, obs_names_digest)`` of the object it was made on (``None``: not recorded)."""
    at: datetime
    """When the call finished (started, else never: adopted records sort first)."""

    def ref(self) -> RecordRef:
        """A reference to the record."""
        from provenance._schema.models import RecordRef

        return RecordRef(key=self.key, version=self.version, digest=self.digest)


def cells_of(rec: Any) -> tuple[int, str] | None:
    """``(n_obs, obs_names_digest)`` of the object a record (a model or its JSON dict) was
    made on: a clustering's ``result``, a step's own fields."""
    result = _field(rec, "result")
    holder = rec if result is None else result
    n, names = _field(holder, "n_obs"), _field(holder, "obs_names_digest")
    if isinstance(n, int) and isinstance(names, str):
        return n, names
    return None


def _field(obj: Any, name: str) -> Any:
    return obj.get(name) if isinstance(obj, dict) else getattr(obj, name, None)


def carried(uns: Mapping[str, Any], *, skip: str | None = None) -> list[Carried]:
    """The latest record of every key of ``uns`` holding a history (but ``skip``), in
    ``uns`` order."""
    out = []
    for key, entry in uns.items():
        if key == skip or not has_history(entry):
            continue
        try:
            texts = history_texts(entry[PROVENANCE_FIELD], key=str(key))
            obj = json.loads(str(texts[-1])) if texts else None
        except (ProvenanceError, ValueError, RecursionError):
            continue
        if not isinstance(obj, dict):
            continue
        version, digest = obj.get("version"), obj.get("digest")
        if not isinstance(version, int) or not isinstance(digest, str):
            continue
        kind = obj.get("kind", "clustering")
        out.append(
            Carried(
                key=str(key),
                version=version,
                digest=digest,
                kind=kind if isinstance(kind, str) else "?",
                cells=cells_of(obj),
                at=_when(obj.get("finished_at") or obj.get("started_at")),
            )
        )
    return out


def _when(text: Any) -> datetime:
    try:
        at = datetime.fromisoformat(str(text))
    except ValueError:
        return _NEVER
    return at if at.tzinfo is not None else at.replace(tzinfo=UTC)
