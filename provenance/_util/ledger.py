"""The ledger's format: seals of files' states, one JSON line each, hash-chained and signed.

A seal says what a file held when it was sealed: for each clustering key and each step key
its latest record (version, digest) and the digests of the whole history (to match a file
with its seals: :mod:`provenance._audit.ledger`). A line is the canonical JSON
(:func:`~provenance._util.jsonsafe.canonical_json`) of one entry::

    {"file": "pbmc.h5ad", "keys": {"leiden": {"digest": "sha256:...", "digests": [...],
     "version": 2}}, "ledger": 1, "previous": "sha256:<hex>", "sealed_at":
     "2026-12-07T20:00:00Z", "seq": 3, "signature": "<base64>", "signer":
     "ed25519:...", "steps": {"neighbors": {..., "kind": "neighbors"}}}

``seq`` counts from 1 and equals the line's number; ``previous`` is the sha256 of the exact
bytes of the line before (``null`` on the first): deleting, inserting or editing a line breaks
the chain at the next one. ``signature`` is the Ed25519 signature (:mod:`.signing`) of the
canonical JSON of the entry without ``signature``. This is TUF's idea of signed, versioned
metadata and Rekor's of an append-only hash-chained log, at the size of a lab: the ledger is
a plain file kept where its writers cannot rewrite it (git, WORM storage).

Nothing here reads or writes files (``_storage.ledger`` does); :func:`parse` checks a whole
ledger and raises :class:`~provenance.LedgerError` naming the first line that fails.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provenance._base.errors import LedgerError

from .jsonsafe import canonical_json

if TYPE_CHECKING:
    from collections.abc import Mapping

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from .signing import Signer

__all__ = ["FORMAT", "Seal", "SealedRecord", "line_hash", "make_line", "parse"]

FORMAT = 1
"""The ledger format's version (``"ledger"`` of each entry)."""

_FIELDS = ("ledger", "seq", "previous", "sealed_at", "file", "signer", "keys", "steps")


@dataclass(frozen=True)
class SealedRecord:
    """One key's or step's latest record as sealed."""

    version: int
    """The latest record's version."""
    digest: str
    """The latest record's digest (``"sha256:..."``)."""
    digests: tuple[str, ...] = ()
    """The digests of every readable record of the history, oldest first (for matching)."""
    kind: str | None = None
    """Of a step: its kind (``"neighbors"``, ``"umap"``, ...); ``None`` for a clustering."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (as in the ledger)."""
        out: dict[str, Any] = {
            "version": self.version,
            "digest": self.digest,
            "digests": list(self.digests),
        }
        if self.kind is not None:
            out["kind"] = self.kind
        return out


@dataclass(frozen=True)
class Seal:
    """One entry of a ledger: a signed statement of a file's state (``provenance.seal``)."""

    seq: int
    """Its number in the ledger, from 1 (its line)."""
    previous: str | None
    """``"sha256:<hex>"`` of the exact line before it; ``None`` for the first."""
    sealed_at: str
    """When it was sealed: UTC, ISO 8601 to the second (``"2026-12-07T20:00:00Z"``)."""
    file: str
    """The sealed file's name (informative: files are matched to seals by record digests)."""
    signer: str
    """The key id that signed it."""
    keys: Mapping[str, SealedRecord] = field(default_factory=dict)
    """Clustering key -> its latest record."""
    steps: Mapping[str, SealedRecord] = field(default_factory=dict)
    """Step key -> its latest record."""
    signature: str = ""
    """Base64 Ed25519 signature of the canonical JSON of the entry without it."""

    @property
    def digests(self) -> frozenset[str]:
        """Every record digest the seal names (of every key's and step's history)."""
        return frozenset(
            d for r in (*self.keys.values(), *self.steps.values()) for d in (*r.digests, r.digest)
        )

    def body(self) -> dict[str, Any]:
        """The entry without its signature: what the signature covers."""
        return {
            "ledger": FORMAT,
            "seq": self.seq,
            "previous": self.previous,
            "sealed_at": self.sealed_at,
            "file": self.file,
            "signer": self.signer,
            "keys": {k: r.to_dict() for k, r in self.keys.items()},
            "steps": {k: r.to_dict() for k, r in self.steps.items()},
        }

    def to_dict(self) -> dict[str, Any]:
        """The whole entry, as a line of the ledger holds it."""
        return {**self.body(), "signature": self.signature}


def line_hash(line: bytes) -> str:
    """``"sha256:<hex>"`` of a line's exact bytes (without its newline): the next ``previous``."""
    return "sha256:" + hashlib.sha256(line).hexdigest()


def make_line(seal: Seal, signer: Signer) -> tuple[Seal, bytes]:
    """``seal`` signed by ``signer`` (its ``signer`` field set to the key id), and its line
    (UTF-8, without the newline)."""
    import dataclasses

    seal = dataclasses.replace(seal, signer=signer.key_id, signature="")
    signed = dataclasses.replace(seal, signature=signer.sign(canonical_json(seal.body())))
    return signed, canonical_json(signed.to_dict()).encode("utf-8")


def parse(
    data: bytes,
    where: str,
    trusted: Mapping[str, Ed25519PublicKey] | None,
    *,
    skip_unknown: bool = False,
) -> list[Seal]:
    """Every seal of a ledger's bytes, its chain and signatures checked.

    ``trusted``: key id -> public key; each line must be signed by one of them. ``None``
    checks the chain and the signatures of no key. ``skip_unknown``: the signatures of keys
    not in ``trusted`` are not checked (the sealer, who holds its own key but may not hold the
    other signers' public keys, checks what it can before appending). Blank lines at the end
    are ignored (an editor's trailing newline); a blank line between seals is an error.

    Raises
    ------
    LedgerError
        Naming ``where`` and the first line that fails: not a complete JSON line, not a seal,
        out of sequence, not chained to the line before, signed by an untrusted key, or with
        a signature that does not match.
    """
    from .signing import verify

    if not data:
        return []
    lines = data.split(b"\n")
    crlf = next((n for n, line in enumerate(lines, start=1) if line.endswith(b"\r")), None)
    if crlf is not None:  # every hash of the chain is of LF lines: say why, accuse no one
        name = where.rstrip("/").replace("\\", "/").rsplit("/", 1)[-1]
        msg = (
            f"the ledger {where} has CRLF line endings (line {crlf} ends in \\r\\n): a checkout "
            "converted them (git's autocrlf), and the chain hashes each line's exact bytes. "
            f"Restore LF (.gitattributes: `{name} -text`, then check the ledger out again, or "
            "dos2unix it); nothing was compared with it or appended to it."
        )
        raise LedgerError(msg)
    if lines[-1].strip():
        raise _error(
            where,
            len(lines),
            "is incomplete (no newline at its end): the ledger was cut short, or a write was "
            "interrupted",
        )
    while lines and not lines[-1].strip():  # the end, and blank lines before it: harmless
        lines.pop()
    seals: list[Seal] = []
    previous: str | None = None
    for n, line in enumerate(lines, start=1):
        if not line.strip():
            raise _error(
                where,
                n,
                "is blank, between seals: a line was inserted there, or a seal emptied",
            )
        seal = _entry(line, n, where)
        if seal.seq != n:
            raise _error(
                where,
                n,
                f"has seq {seal.seq}, not {n}: a line before it was removed or inserted",
            )
        if seal.previous != previous:
            raise _error(
                where,
                n,
                f"does not chain to line {n - 1} (its 'previous' is not the hash of that line): "
                f"line {n - 1} was edited, or lines were removed or inserted before line {n}"
                if n > 1
                else "is the first but names a previous entry: the ledger's beginning was cut",
            )
        if trusted is not None and not (skip_unknown and seal.signer not in trusted):
            if seal.signer not in trusted:
                raise _error(
                    where,
                    n,
                    f"is signed by {seal.signer}, which is not a trusted key: add its public "
                    "key with --trusted-key (trusted_keys=) if you trust who holds it; "
                    "otherwise someone else wrote this seal",
                )
            if not verify(seal.signature, canonical_json(seal.body()), trusted[seal.signer]):
                raise _error(
                    where,
                    n,
                    f"carries a signature by {seal.signer} that does not match the entry: the "
                    "line was edited after it was signed",
                )
        seals.append(seal)
        previous = line_hash(line)
    return seals


def _error(where: str, n: int, what: str) -> LedgerError:
    return LedgerError(
        f"ledger {where}, line {n}, {what}. The ledger is not believed: nothing was compared "
        "with it. Restore it from a copy you trust (its git history, a write-once store)."
    )


def _entry(line: bytes, n: int, where: str) -> Seal:
    """One line as a seal (its types checked; its chain and signature not)."""
    try:
        obj = json.loads(line.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise _error(where, n, "is not a JSON line (edited, or cut short)") from None
    if not isinstance(obj, dict) or obj.get("ledger") != FORMAT:
        raise _error(where, n, f"is not a seal of ledger format {FORMAT}")
    missing = [f for f in (*_FIELDS, "signature") if f not in obj]
    if missing:
        raise _error(where, n, f"lacks {', '.join(missing)}")
    extra = sorted(set(obj) - {*_FIELDS, "signature"})
    if extra:  # the signature would not cover them
        raise _error(where, n, f"holds fields a seal does not have: {', '.join(extra)}")
    try:
        seal = Seal(
            seq=_typed(obj["seq"], int),
            previous=None if obj["previous"] is None else _typed(obj["previous"], str),
            sealed_at=_typed(obj["sealed_at"], str),
            file=_typed(obj["file"], str),
            signer=_typed(obj["signer"], str),
            keys=_records(obj["keys"]),
            steps=_records(obj["steps"]),
            signature=_typed(obj["signature"], str),
        )
    except (TypeError, KeyError) as e:
        raise _error(where, n, f"is not a well-formed seal ({e})") from None
    if canonical_json(seal.body()) != canonical_json({f: obj[f] for f in _FIELDS}):
        raise _error(where, n, "holds values a seal does not have (extra fields, other types)")
    return seal


def _typed(value: Any, kind: type) -> Any:
    if not isinstance(value, kind) or isinstance(value, bool):
        msg = f"{value!r} is not a {kind.__name__}"
        raise TypeError(msg)
    return value


def _records(obj: Any) -> dict[str, SealedRecord]:
    if not isinstance(obj, dict):
        msg = "keys and steps must be objects"
        raise TypeError(msg)
    out = {}
    for key, r in obj.items():
        if not isinstance(r, dict):
            msg = f"{key!r} is not an object"
            raise TypeError(msg)
        digests = r.get("digests", [])
        if not isinstance(digests, list):
            msg = f"{key!r}: digests is not a list"
            raise TypeError(msg)
        out[str(key)] = SealedRecord(
            version=_typed(r["version"], int),
            digest=_typed(r["digest"], str),
            digests=tuple(_typed(d, str) for d in digests),
            kind=None if r.get("kind") is None else _typed(r["kind"], str),
        )
    return out
