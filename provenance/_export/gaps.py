"""Stored records an export cannot read: a gap in what it says, never silently left out.

A record that does not decode or validate (``invalid_record``), one written by a newer
anndata-provenance (``newer_schema``), or a history that cannot be read at all is treated like
a record that fails its digest: the export refuses (:class:`~provenance.InvalidRecordError`,
one line per key) unless ``allow_invalid``. Then it exports what it can read and says where
the gap is: no ``hadMember`` for a key whose latest record is missing (the file holds what a
record it cannot read made, not what the latest readable one made), and what a readable record
used of a missing one is an item marked ``record_readable`` false.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from provenance._audit.report import AuditEntry, StepEntry

__all__ = ["Gap", "find_gap", "refusal", "unreadable_text", "warning"]

_CAUSES = {
    "invalid_record": "does not decode or validate",
    "newer_schema": "was written by a newer anndata-provenance",
}


@dataclass(frozen=True)
class Gap:
    """The stored records of one key an export cannot read."""

    key: str
    """The key of the history."""
    versions: tuple[int, ...]
    """The versions not read (by position: version n is the n-th entry); empty when the
    history itself cannot be read."""
    latest: bool
    """Whether the latest stored record is among them: what the file holds under the key was
    made by a record the export cannot read."""
    cause: str
    """Why, in a few words (``"does not decode or validate"``)."""

    @property
    def what(self) -> str:
        """``"version 2"``, ``"versions 1, 2"``, or ``"(its whole history)"``."""
        if not self.versions:
            return "(its whole history)"
        s = "s" * (len(self.versions) > 1)
        return f"version{s} {', '.join(map(str, self.versions))}"


def find_gap(entry: AuditEntry | StepEntry) -> Gap | None:
    """The records of an audited key that could not be read, if any."""
    codes = [f.code for f in entry.findings if f.code in _CAUSES]
    if not codes:
        return None
    read = {r.version for r in entry.history}
    if entry.n_stored == 0:  # the container itself: no entry could be counted
        return Gap(entry.key, (), True, _CAUSES[codes[0]])
    if entry.n_stored == len(entry.history):  # all read (a record copied from another key)
        return None
    missing = tuple(v for v in range(1, entry.n_stored + 1) if v not in read)
    return Gap(entry.key, missing, entry.n_stored not in read, _CAUSES[codes[0]])


def refusal(gap: Gap, source: str) -> str:
    """The line of an export refused because of ``gap``: what, and what to do."""
    return (
        f"{source}: the record of {gap.key!r} {gap.what} cannot be read (it "
        f"{gap.cause}). Nothing was exported. Run provenance "
        "verify to see why, and restore the file from a copy you trust; to export the rest, "
        "the gap marked, pass --allow-invalid (allow_invalid=True)."
    )


def unreadable_text(gap: Gap) -> str:
    """What the export says of a gap on the data file (PROV ``ap:unreadable_records``, the
    crate's description)."""
    text = f"{gap.key} {gap.what}: cannot be read (it {gap.cause}), not exported"
    if gap.latest:
        text += f"; what the file holds under {gap.key} was made by a record not exported"
    return text


def warning(gaps: tuple[Gap, ...], source: str) -> str:
    """One line saying what an export left out (``allow_invalid``)."""
    keys = "; ".join(
        f"{g.key!r} {g.what}" + (" (what the file holds now: not described)" if g.latest else "")
        for g in gaps
    )
    return (
        f"records of {source} that cannot be read are left out of the export, marked "
        f"(ap:record_readable false): {keys}. provenance verify says why."
    )
