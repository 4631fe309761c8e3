"""The audit of a MuData: its root and each modality audited as an AnnData, keys prefixed.

Each part (:class:`provenance._storage.mudata.PartView`) names a modality's keys
``"<mod>:<key>"``, so the per-AnnData audit runs on it unchanged and its findings name the key
as the user passes it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from provenance._base.errors import UnknownKeyError

from .context import read_index
from .keys import clustering_keys

if TYPE_CHECKING:
    from collections.abc import Callable

    from provenance._storage.mudata import MuDataSource, PartView

    from .report import AuditEntry, StepEntry

    Both = tuple[tuple[AuditEntry, ...], tuple[StepEntry, ...]]
    Entries = Callable[[PartView, tuple[str, ...] | None], Both]

__all__ = ["mudata_entries"]


def mudata_entries(src: MuDataSource, wanted: tuple[str, ...] | None, entries: Entries) -> Both:
    """The clustering and step entries of the root, then of each modality; or of ``wanted``
    keys, in that order.

    Raises
    ------
    UnknownKeyError
        A key asked for is in no part (the message lists every part's clustering keys).
    """
    if wanted is None:
        both = [entries(part, None) for part in src.parts]
        return tuple(e for b in both for e in b[0]), tuple(s for b in both for s in b[1])
    out: list[AuditEntry] = []
    steps: list[StepEntry] = []
    for key in wanted:
        part = src.part_of(key)
        if key not in part.uns and key not in part.obs_columns() and key not in part.uns_errors:
            known = [k for p in src.parts for k in clustering_keys(p, None, read_index(p))]
            where = (
                f"modality {part.modality!r}" if part.modality is not None else "the MuData's root"
            )
            msg = (
                f"{key!r} is neither in obs nor in uns of {where}; clustering keys here: "
                f"{', '.join(map(repr, known)) or 'none'} (a modality's keys as '<mod>:<key>')."
            )
            raise UnknownKeyError(msg)
        found, found_steps = entries(part, (key,))
        out.extend(e for e in found if e.key not in {o.key for o in out})
        steps.extend(s for s in found_steps if s.key not in {o.key for o in steps})
    return tuple(out), tuple(steps)
