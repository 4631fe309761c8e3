"""What an audit checked, in words: the "Checked:" and "Not checked:" lines of every report,
and the word beside a signature ("trusted", "untrusted", "invalid", "not checked").

A report that passes says nothing unless it says what it checked, and as clearly what it did
not: a plain ``verify`` checks no signature, ``show`` compares no label. Everything here
reads :class:`~provenance._audit.checked.Checks` (and, for a signature, the report's
signature findings); nothing is checked again.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

from provenance._audit.checked import Checks, LedgerCheck

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from provenance._audit.report import AuditEntry
    from provenance._schema.models import ClusteringRecord

__all__ = [
    "checked_parts",
    "checks_from_dict",
    "checks_lines",
    "signature_word",
    "unchecked_parts",
]

MAX_NAMED = 5
"""Keys named in a parenthesis; the rest are counted."""


def _names(keys: Sequence[str]) -> str:
    shown = ", ".join(keys[:MAX_NAMED])
    return shown + (f" and {len(keys) - MAX_NAMED} more" if len(keys) > MAX_NAMED else "")


def _plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def _when(iso: str) -> str:
    """``2026-12-07T20:31:05+00:00`` as ``2026-12-07 20:31 UTC`` (as given when unparsable)."""
    try:
        t = datetime.fromisoformat(iso.replace("Z", "+00:00"))
    except ValueError:
        return iso
    return f"{t:%Y-%m-%d %H:%M} UTC"


def _deep(checks: Checks, *, policy: bool) -> str:
    if policy or not (checks.replayed or checks.unverified):  # no keys named: what ran
        return "deep re-run of the clusterings"
    out = f"deep re-run of {_plural(len(checks.replayed), 'key')}"
    if checks.unverified:
        n = len(checks.unverified)
        accepted = ", accepted by --allow-unreplayable" if checks.allow_unreplayable else ""
        out += f" ({n} not re-run{accepted}: {_names(checks.unverified)})"
    return out


def _ledger(ledger: LedgerCheck, *, policy: bool) -> str:
    if policy:
        return f"ledger {ledger.location}"
    if ledger.sealed_at is None:
        seals = _plural(ledger.entries, "seal")
        return f"ledger {ledger.location} (no seal of this file among its {seals})"
    seal = f", seal {ledger.seal}" if ledger.seal is not None else ""
    by = f" by {ledger.signer}" if ledger.signer else ""
    return f"ledger {ledger.location} (sealed {_when(ledger.sealed_at)}{seal}{by})"


def checked_parts(checks: Checks, *, policy: bool = False) -> list[str]:
    """What the audit checked, one phrase each. ``policy``: what a run of several files
    asked for (no keys re-run nor seal named: each file's own checks say those)."""
    out = ["records and history chains"] if checks.chain else []
    if checks.data:
        out.append("labels and graphs against the records")
    if checks.representation:
        out.append("the graphs' input matrices")
    if checks.deep:
        out.append(_deep(checks, policy=policy))
    if checks.signatures:
        required = " (required)" if checks.require_signed else ""
        out.append(f"signatures against {', '.join(checks.trusted_key_ids)}{required}")
    if checks.ledger is not None:
        out.append(_ledger(checks.ledger, policy=policy))
    return out


def unchecked_parts(checks: Checks) -> list[str]:
    """What the audit did not check, one phrase each, with the option that would check it."""
    # Without data (show, or uns alone) the options below are verify's.
    via = "no --" if checks.data else "provenance verify --"
    out = []
    if not checks.data:
        out.append("labels and graphs (only uns was read: provenance verify compares them)")
    elif not checks.representation:
        out.append("the graphs' input matrices (no --representation)")
    if not checks.deep:
        out.append(f"re-runs of the clusterings ({via}deep)")
    elif checks.unverified:
        out.append(f"{_names(checks.unverified)}: could not be re-run")
    if not checks.signatures:
        out.append("signatures (no --trusted-key)")
    elif not checks.require_signed:
        out.append(f"that every record is signed ({via}require-signed)")
    if checks.ledger is None:
        out.append(f"rollback against a ledger ({via}ledger)")
    return out


def checks_lines(checks: Checks, *, policy: bool = False) -> list[str]:
    """``["Checked: ...", "Not checked: ..."]`` (the second left out when all was checked);
    ``policy`` as :func:`checked_parts` takes it."""
    lines = [f"Checked: {'; '.join(checked_parts(checks, policy=policy)) or 'nothing'}."]
    missing = unchecked_parts(checks)
    if missing:
        lines.append(f"Not checked: {'; '.join(missing)}.")
    return lines


def checks_from_dict(d: Mapping[str, Any]) -> Checks:
    """The :class:`Checks` of its JSON form (``Checks.to_dict()``): reports read from JSON."""
    led = d.get("ledger")
    return Checks(
        chain=bool(d.get("chain", True)),
        data=bool(d.get("data", True)),
        representation=bool(d.get("representation", False)),
        deep=bool(d.get("deep", False)),
        replayed=tuple(d.get("replayed") or ()),
        unverified=tuple(d.get("unverified") or ()),
        allow_unreplayable=bool(d.get("allow_unreplayable", False)),
        trusted_key_ids=tuple(d.get("trusted_key_ids") or ()),
        require_signed=bool(d.get("require_signed", False)),
        ledger=None if not isinstance(led, dict) else LedgerCheck(**led),
    )


def signature_word(rec: ClusteringRecord, entry: AuditEntry, checks: Checks | None) -> str:
    """The word beside a record's signature: ``trusted``, ``untrusted`` (a key outside the
    policy), ``invalid`` (changed after signing), ``not checked`` (no trust policy); ``""``
    for an unsigned record, or an entry shown without its report's checks and no finding."""
    sig = getattr(rec, "signature", None)  # None as well on records upgraded from < 1.4
    if sig is None:
        return ""
    # The signature findings exist only under a trust policy: they decide first.
    words = {"signature_invalid": "invalid", "untrusted_signer": "untrusted"}
    for f in entry.findings:
        versions = f.details.get("versions")
        if f.code in words and isinstance(versions, list) and rec.version in versions:
            return words[f.code]
    if checks is None:
        return ""
    if not checks.signatures:
        return "not checked"
    return "trusted" if sig.key_id in checks.trusted_key_ids else "untrusted"
