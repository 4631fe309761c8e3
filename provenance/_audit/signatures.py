"""Signature checks, run only under a trust policy (``audit(..., trusted_keys=[...])``).

Every readable record of every history (clusterings and steps) is checked: a signature is
verified against the trusted key of its ``key_id`` over the digest of the record's content as
it is now, so any edit after signing fails it, a recomputed digest included
(``signature_invalid``); a key outside the policy is ``untrusted_signer``; a record without
a signature is ``unsigned`` (a warning: records made before signing was set up are
unsigned). Without a trust policy none of this runs and a signature is merely shown.
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

CODES = ("unsigned", "untrusted_signer", "signature_invalid")
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
) -> tuple[tuple[AuditEntry, ...], tuple[StepEntry, ...]]:
    """The entries with the signature findings of their records added (errors first)."""
    return (
        tuple(_checked(e, trusted) for e in entries),
        tuple(_checked(s, trusted) for s in steps),
    )


def _checked(entry: _E, trusted: dict[str, Ed25519PublicKey]) -> _E:
    found: list[Finding] = _findings(entry.key, entry.history, trusted)
    if not found:
        return entry
    findings = sorted((*entry.findings, *found), key=lambda f: f.severity != "error")
    return dataclasses.replace(entry, findings=tuple(findings))


def _findings(
    key: str, history: Sequence[Any], trusted: dict[str, Ed25519PublicKey]
) -> list[Finding]:
    from provenance._util.signing import verify

    unsigned: list[int] = []
    untrusted: dict[str, list[int]] = {}
    invalid: list[int] = []
    for rec in history:
        sig = getattr(rec, "signature", None)  # records upgraded from < 1.4 have none
        if sig is None:
            unsigned.append(rec.version)
        elif sig.key_id not in trusted:
            untrusted.setdefault(sig.key_id, []).append(rec.version)
        elif not verify(sig.value, rec.expected_digest(), trusted[sig.key_id]):
            invalid.append(rec.version)
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
    if unsigned:
        out.append(
            Finding(
                "unsigned",
                key,
                f"{_versions(unsigned)} of {key!r} {'is' if len(unsigned) == 1 else 'are'} not "
                f"signed, so who recorded {'it' if len(unsigned) == 1 else 'them'} cannot be "
                "checked (records made before signing "
                "was set up are unsigned). Re-run inside provenance.record(adata, "
                "sign_with=...) to sign new records; verify --strict fails on this.",
                {"versions": unsigned},
            )
        )
    return out


def _versions(versions: list[int]) -> str:
    if len(versions) == 1:
        return f"version {versions[0]}"
    return "versions " + ", ".join(map(str, versions))
