"""Seals and the ledger check: what a file cannot prove about itself (rollback, deletion).

A file's records prove how each result was made, not that the file is the latest state: an
editor can drop the newest version of a key (its older, signed versions still check) or delete
a key with its index entry. :func:`~provenance.seal` (``.seal``) appends a signed statement of
the file's state to a ledger (``_util.ledger``: the format; ``_storage.ledger``: the file); the
audit with ``ledger=`` (:func:`check_ledger`) compares the file with its latest seal:

- a seal *matches* the file when the file's histories hold any digest the seal names (every
  record of every sealed history), so a renamed or copied file keeps its seals; the latest
  matching seal is compared;
- ``rolled_back``: a sealed key or step whose latest record is older than the sealed one
  (``cause`` ``"older"``), or whose history holds another record at the sealed version
  (``"rewritten"``);
- ``history_lost`` (``cause`` ``"sealed"``): a sealed key or step that is gone;
- ``not_sealed``: no seal matches the file.

Records newer than the seal are work done since sealing, not a finding.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

from provenance._util.ledger import SealedRecord, parse

from .catalogue import Finding
from .checked import LedgerCheck

if TYPE_CHECKING:
    from collections.abc import Iterable, Mapping, Sequence
    from pathlib import Path

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from provenance._util.ledger import Seal

    from .report import AuditEntry, StepEntry

__all__ = ["CODES", "check_ledger", "file_state", "load_ledger"]

CODES = ("rolled_back", "history_lost", "not_sealed")
"""The findings of this module (catalogue codes)."""

_E = TypeVar("_E", "AuditEntry", "StepEntry")
# Findings that already say a history cannot be read: a seal adds nothing to them.
_UNREADABLE = frozenset({"history_lost", "invalid_record", "newer_schema", "broken_chain"})


def load_ledger(
    location: str | Path,
    trusted: Mapping[str, Ed25519PublicKey],
    storage_options: Mapping[str, Any] | None = None,
) -> list[Seal]:
    """The seals of the ledger at ``location``, its chain and every signature verified against
    the trusted keys; :class:`~provenance.LedgerError` naming the line that fails."""
    from provenance._storage.ledger import read_ledger

    return parse(read_ledger(location, storage_options), str(location), trusted)


def file_state(
    entries: Iterable[AuditEntry], steps: Iterable[StepEntry]
) -> tuple[dict[str, SealedRecord], dict[str, SealedRecord]]:
    """Each clustering key's and step key's latest readable record, and its history's digests
    (keys without a readable record are left out)."""

    def sealed(e: AuditEntry | StepEntry, kind: str | None) -> SealedRecord | None:
        recs = [r for r in e.history if getattr(r, "digest", None)]
        if not recs:
            return None
        last = recs[-1]
        return SealedRecord(last.version, last.digest, tuple(r.digest for r in recs), kind)

    keys = {e.key: r for e in entries if (r := sealed(e, None)) is not None}
    found = {s.key: r for s in steps if (r := sealed(s, s.kind)) is not None}
    return keys, found


def check_ledger(
    entries: tuple[AuditEntry, ...],
    steps: tuple[StepEntry, ...],
    seals: Sequence[Seal],
    location: str,
    wanted: tuple[str, ...] | None,
) -> tuple[tuple[AuditEntry, ...], tuple[StepEntry, ...], LedgerCheck]:
    """The entries with the ledger's findings added, and what was compared."""
    from provenance._storage.index import INDEX_KEY

    from .report import AuditEntry, StepEntry

    both: tuple[AuditEntry | StepEntry, ...] = (*entries, *steps)
    present = {r.digest for e in both for r in e.history if getattr(r, "digest", None)}
    match = next((s for s in reversed(seals) if s.digests & present), None)
    if match is None:
        unsealed = Finding(
            "not_sealed",
            INDEX_KEY,
            f"the file matches no seal of the ledger {location} ({len(seals)} seals): none "
            "of its records is named by one, so whether it is the latest sealed state cannot "
            "be told (a file never sealed, or rolled back to before its first seal). Seal it "
            f"once checked: provenance seal FILE --key KEY --ledger {location}.",
            {"ledger": location, "entries": len(seals)},
        )
        index = [e for e in entries if e.key == INDEX_KEY]
        if index:
            entries = tuple(_add(e, [unsealed]) if e.key == INDEX_KEY else e for e in entries)
        else:
            entries += (AuditEntry(INDEX_KEY, (), 0, (unsealed,), in_obs=False),)
        return entries, steps, LedgerCheck(location, entries=len(seals))
    by_key = {e.key: e for e in both}
    found: dict[str, list[Finding]] = {}
    sealed = [(k, r, False) for k, r in match.keys.items()]
    sealed += [(k, r, True) for k, r in match.steps.items()]
    new_entries: list[AuditEntry] = []
    new_steps: list[StepEntry] = []
    for key, rec, is_step in sealed:
        if wanted is not None and key not in wanted:
            continue
        entry = by_key.get(key)
        f = _compare(key, rec, entry, match, is_step)
        if f is None:
            continue
        if entry is not None:
            found.setdefault(key, []).append(f)
        elif is_step:
            new_steps.append(StepEntry(key, rec.kind or "step", (), 0, (f,)))
        else:
            new_entries.append(AuditEntry(key, (), 0, (f,), in_obs=False))
    check = LedgerCheck(
        location, entries=len(seals), sealed_at=match.sealed_at, seal=match.seq, signer=match.signer
    )
    return (
        tuple(_add(e, found.get(e.key, [])) for e in entries) + tuple(new_entries),
        tuple(_add(s, found.get(s.key, [])) for s in steps) + tuple(new_steps),
        check,
    )


def _compare(
    key: str,
    rec: SealedRecord,
    entry: AuditEntry | StepEntry | None,
    match: Seal,
    is_step: bool,
) -> Finding | None:
    what = f"{'step' if is_step else 'key'} {key!r}"
    sealed = {
        "sealed_version": rec.version,
        "sealed_digest": rec.digest,
        "sealed_at": match.sealed_at,
        "seal": match.seq,
    }
    history = [r for r in (entry.history if entry is not None else ()) if hasattr(r, "digest")]
    if not history:
        if entry is not None and any(f.code in _UNREADABLE for f in entry.findings):
            return None  # its own finding says the history is gone or unreadable
        return Finding(
            "history_lost",
            key,
            f"the {what} was sealed at version {rec.version} ({match.sealed_at}, seal "
            f"{match.seq}) and is gone from the file, its history with it (deleted, its index "
            "entry too). Restore it from the sealed copy of the file.",
            {"cause": "sealed", **sealed},
        )
    # The last record, not the highest version: an old version re-inserted after the sealed
    # one is a rollback that keeps the sealed record in the history.
    latest = history[-1].version
    if latest < rec.version:
        cause, how = "older", f"its latest record is version {latest}, older than the sealed one"
    elif rec.digest not in {r.digest for r in history}:
        cause, how = "rewritten", f"its version {rec.version} is not the sealed record"
    else:
        return None
    return Finding(
        "rolled_back",
        key,
        f"the {what} was sealed at version {rec.version} ({match.sealed_at}, seal "
        f"{match.seq}); {how}: the file was rolled back or its history rewritten since. Do "
        "not trust it as the latest state; restore the sealed copy of the file.",
        {"cause": cause, **sealed, "found_version": latest},
    )


def _add(entry: _E, new: list[Finding]) -> _E:
    if not new:
        return entry
    findings = sorted((*entry.findings, *new), key=lambda f: f.severity != "error")
    return dataclasses.replace(entry, findings=tuple(findings))
