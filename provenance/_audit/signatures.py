"""Signature checks, run only under a trust policy (``audit(..., trusted_keys=[...])``).

Every readable record of every history (clusterings and steps) is checked: a signature is
verified against the trusted key of its ``key_id`` over the digest of the record's content as
it is now, so any edit after signing fails it, a recomputed digest included
(``signature_invalid``); a key outside the policy is ``untrusted_signer``. A record without a
signature is ``signature_missing`` (an error) when a signed record precedes it in its history
(``details["cause"] = "after_signed"``: a signed history stays signed, so a version appended
without the key or a stripped signature fails at every trust level) or when the policy
requires signatures (``"required"``, ``require_signed=True``); otherwise it is ``unsigned``
(a warning: records made before signing was set up are unsigned). A later version with a
valid trusted signature vouches for the unsigned versions before it (a digest covers the
chain), so re-running with the key signs a history. Under ``require_signed`` labels or a
result with no record at all are ``signature_missing`` too (``"no_record"``): deleting a
record is no way past the policy. Without a trust policy none of this runs and a signature
is merely shown.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, TypeVar

from .catalogue import Finding

if TYPE_CHECKING:
    import os
    from collections.abc import Sequence

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from .report import AuditEntry, StepEntry

__all__ = ["CODES", "check_signatures", "load_trust"]

CODES = ("unsigned", "untrusted_signer", "signature_invalid", "signature_missing")
"""The findings of this module (catalogue codes)."""

_E = TypeVar("_E", "AuditEntry", "StepEntry")


def load_trust(paths: Sequence[str | os.PathLike[str]]) -> dict[str, Ed25519PublicKey]:
    """The trusted public keys by key id, read before anything else of the audit.

    Raises :class:`~provenance.ProvenanceError` naming a key file that is missing or not an
    Ed25519 public key, or when ``cryptography`` is not installed.
    """
    from provenance._util.signing import load_public_keys

    if isinstance(paths, str | bytes):
        msg = (
            f"trusted_keys must be a list of public key paths, not the string {paths!r}: "
            "pass [path]."
        )
        raise TypeError(msg)
    return load_public_keys(paths)


def check_signatures(
    entries: tuple[AuditEntry, ...],
    steps: tuple[StepEntry, ...],
    trusted: dict[str, Ed25519PublicKey],
    *,
    require_signed: bool = False,
) -> tuple[tuple[AuditEntry, ...], tuple[StepEntry, ...]]:
    """The entries with the signature findings of their records added (errors first);
    ``require_signed``: an unsigned record is ``signature_missing``, never ``unsigned``."""
    return (
        tuple(_checked(e, trusted, require_signed) for e in entries),
        tuple(_checked(s, trusted, require_signed) for s in steps),
    )


def _checked(entry: _E, trusted: dict[str, Ed25519PublicKey], require_signed: bool) -> _E:
    found: list[Finding] = _findings(
        entry.key, entry.history, trusted, require_signed, entry.findings
    )
    if not found:
        return entry
    findings = sorted((*entry.findings, *found), key=lambda f: f.severity != "error")
    return dataclasses.replace(entry, findings=tuple(findings))


def _findings(
    key: str,
    history: Sequence[Any],
    trusted: dict[str, Ed25519PublicKey],
    require_signed: bool,
    findings: Sequence[Finding] = (),
) -> list[Finding]:
    from provenance._util.signing import verify

    unsigned: list[int] = []
    after: list[int] = []  # unsigned after a signed version: appended, or its signature removed
    pending: list[int] = []  # unsigned, until a later trusted signature covers them
    first_signed: int | None = None
    untrusted: dict[str, list[int]] = {}
    invalid: list[int] = []
    for rec in history:
        sig = getattr(rec, "signature", None)  # records upgraded from < 1.4 have none
        if sig is None:
            pending.append(rec.version)
            continue
        if first_signed is None:
            first_signed = rec.version
        if sig.key_id not in trusted:
            untrusted.setdefault(sig.key_id, []).append(rec.version)
        elif not verify(sig.value, rec.expected_digest(), trusted[sig.key_id]):
            invalid.append(rec.version)
        else:
            # A record's digest covers ``previous``, the digest before it, and so the whole
            # chain: a valid trusted signature vouches for the unsigned versions it follows
            # (made before signing was set up, or re-signed by re-running with the key).
            pending.clear()
    for v in pending:
        (unsigned if first_signed is None or v < first_signed else after).append(v)
    if require_signed and not history and any(f.code == "no_record" for f in findings):
        return [_no_record(key)]
    out = []
    if invalid:
        out.append(
            Finding(
                "signature_invalid",
                key,
                f"{_versions(invalid)} of {key!r} carr{'ies' if len(invalid) == 1 else 'y'} a "
                "trusted key's signature that does not match the record: the record changed "
                "after it was signed (its digest recomputed or not). Do not trust its "
                "parameters; restore the file from a copy you trust.",
                {"versions": invalid},
            )
        )
    for kid, versions in untrusted.items():
        out.append(
            Finding(
                "untrusted_signer",
                key,
                f"{_versions(versions)} of {key!r} {'is' if len(versions) == 1 else 'are'} "
                f"signed by key {kid}, which is not among the trusted keys. Add its public key "
                "with --trusted-key if you trust who holds it; otherwise the record was not "
                "made by whom you trust.",
                {"versions": versions, "key_id": kid},
            )
        )
    if after:
        out.append(_after_signed(key, after, first_signed))
    if unsigned and require_signed:
        out.append(_required(key, unsigned))
    elif unsigned:
        out.append(
            Finding(
                "unsigned",
                key,
                f"{_versions(unsigned)} of {key!r} {'is' if len(unsigned) == 1 else 'are'} not "
                f"signed, so who recorded {'it' if len(unsigned) == 1 else 'them'} cannot be "
                "checked (records made before signing "
                "was set up are unsigned). Re-run inside provenance.record(adata, "
                "sign_with=...) to sign new records; verify --require-signed fails on this.",
                {"versions": unsigned},
            )
        )
    return out


def _after_signed(key: str, versions: list[int], signed: int | None) -> Finding:
    one = len(versions) == 1
    them = "it" if one else "them"
    return Finding(
        "signature_missing",
        key,
        f"{_versions(versions)} of {key!r} {'is' if one else 'are'} not signed, though "
        f"version {signed} before {them} is: a version appended without the key, or a "
        f"signature removed (from a forged record, perhaps). Do not trust {them}: if you "
        f"made {them}, re-run inside provenance.record(adata, sign_with=KEY) (the signed "
        f"new version vouches for {them} through the hash chain); otherwise restore the file "
        "from a copy you trust.",
        {"versions": versions, "cause": "after_signed", "signed": signed},
    )


def _required(key: str, versions: list[int]) -> Finding:
    one = len(versions) == 1
    return Finding(
        "signature_missing",
        key,
        f"{_versions(versions)} of {key!r} {'is' if one else 'are'} not signed, and the trust "
        "policy requires every record to carry a trusted signature (--require-signed, "
        "require_signed=True). Re-run inside provenance.record(adata, sign_with=KEY): the "
        "signed new version vouches for the versions before it through the hash chain; or "
        "verify without --require-signed to accept unsigned records (the warning unsigned).",
        {"versions": versions, "cause": "required"},
    )


def _no_record(key: str) -> Finding:
    return Finding(
        "signature_missing",
        key,
        f"{key!r} has labels or results but no record, so no signature vouches for them, and "
        "the trust policy requires one (--require-signed): a record deleted, or a result made "
        "outside provenance.record(). If you made it, re-run it inside "
        "provenance.record(adata, sign_with=KEY); otherwise restore the file from a copy you "
        "trust, or delete what is not a result.",
        {"versions": [], "cause": "no_record"},
    )


def _versions(versions: list[int]) -> str:
    if len(versions) == 1:
        return f"version {versions[0]}"
    return "versions " + ", ".join(map(str, versions))
