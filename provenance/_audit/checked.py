"""What an audit checked: the trust policy and the checks it ran, carried by its report.

A report that passes says nothing unless it says what it checked: ``verify --json`` with and
without ``--trusted-key`` must differ. :class:`Checks` is that statement, built by
:func:`~provenance.audit` from its options and from what the checks found they could do (the
keys deep verification re-ran, the ledger's seal it compared against); ``verify --json``
prints it as the top-level ``checks`` object, the text and HTML reports as one line.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["Checks", "LedgerCheck"]


@dataclass(frozen=True)
class LedgerCheck:
    """The ledger an audit compared the file with (``audit(..., ledger=...)``)."""

    location: str
    """The ledger's path or URL, as given."""
    entries: int = 0
    """How many seals the ledger holds (all verified: chain and signatures)."""
    sealed_at: str | None = None
    """When the file was last sealed (UTC, ISO 8601), ``None`` when no seal names it."""
    seal: int | None = None
    """The sequence number of that seal in the ledger."""
    signer: str | None = None
    """The key id that signed that seal."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "location": self.location,
            "entries": self.entries,
            "sealed_at": self.sealed_at,
            "seal": self.seal,
            "signer": self.signer,
        }


@dataclass(frozen=True)
class Checks:
    """What one audit checked (``AuditReport.checks``)."""

    chain: bool = True
    """Records validated and their history chains followed (always)."""
    data: bool = True
    """Labels and graphs compared with the records (``False``: ``show``, ``uns`` alone)."""
    representation: bool = False
    """The matrices graphs were computed from compared too (``--representation``)."""
    deep: bool = False
    """Clusterings re-run on their recorded graphs (``--deep``)."""
    replayed: tuple[str, ...] = ()
    """With ``deep``: the keys re-run and compared."""
    unverified: tuple[str, ...] = ()
    """With ``deep``: the keys deep verification could not vouch for, allowed or not: not
    re-run (``not_replayable``'s causes), or re-run under other versions of the packages that
    decide the partition with another result (inconclusive)."""
    allow_unreplayable: bool = False
    """With ``deep``: keys that could not be re-run are accepted (a warning, not an error)."""
    trusted_key_ids: tuple[str, ...] = ()
    """The trust policy: key ids whose signatures are trusted; empty: signatures not checked."""
    require_signed: bool = False
    """Every record must carry a trusted signature (``--require-signed``)."""
    ledger: LedgerCheck | None = None
    """The ledger the file was compared with (``--ledger``), or ``None``."""

    @property
    def signatures(self) -> bool:
        """Whether signatures were checked (a trust policy was given)."""
        return bool(self.trusted_key_ids)

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form: ``verify --json``'s top-level ``checks`` object."""
        return {
            "chain": self.chain,
            "data": self.data,
            "representation": self.representation,
            "deep": self.deep,
            "replayed": list(self.replayed),
            "unverified": list(self.unverified),
            "allow_unreplayable": self.allow_unreplayable,
            "trusted_key_ids": list(self.trusted_key_ids),
            "require_signed": self.require_signed,
            "ledger": None if self.ledger is None else self.ledger.to_dict(),
        }
