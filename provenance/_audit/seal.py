"""``provenance.seal``: a signed seal of a checked file's state, appended to a ledger.

The file is audited first and refused when its audit has errors; its state (each key's and
step's latest record: :func:`.ledger.file_state`) is signed and chained to the ledger's last
seal under the ledger's lock (``_storage.ledger``). Under the lock, the ledger is checked as it
is then (its chain, and the signatures of the sealing key's seals) and the file is compared
with it as ``verify --ledger`` would (:func:`.ledger.check_ledger`): a file older than its
latest seal is refused unless ``force`` (sealing it would bless a rollback), and a key that
has not signed the ledger before is refused unless ``new_signer`` (verifiers trusting only
the old key would fail on every later ``verify --ledger``: on append-only storage, for ever).
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import LedgerError, SealRefusedError
from provenance._util.ledger import Seal, line_hash, make_line, parse

from .ledger import check_ledger, file_state

if TYPE_CHECKING:
    from collections.abc import Mapping, Sequence

    from provenance._util.signing import Signer

    from .catalogue import Finding
    from .report import AuditEntry, AuditReport, StepEntry

__all__ = ["seal"]


def seal(
    path: str | Path,
    *,
    key: str | Path,
    ledger: str | Path,
    storage_options: Mapping[str, Any] | None = None,
    force: bool = False,
    new_signer: bool = False,
) -> Seal:
    """Append a signed seal of a file's state to a ledger, after checking the file.

    The file is audited first (records, chains, labels and graphs; never ``X``); a file whose
    audit has errors is not sealed: a seal must not bless a forgery. The seal lists each
    clustering key's and step key's latest record (version, digest) and the digests of their
    histories, the file's name, the time (UTC, to the second) and the signer's key id. It is
    appended to the ledger (created when absent), hash-chained to the last seal and signed.
    ``verify --ledger`` / ``audit(ledger=...)`` then tell a file rolled back or with a sealed
    key deleted.

    Parameters
    ----------
    path
        The ``.h5ad``/``.h5mu`` file or ``.zarr`` store (a path or URL).
    key
        The private key to sign the seal with (``provenance keygen``).
    ledger
        The ledger: a local path (appended under a lock, safe with concurrent sealers) or an
        fsspec URL (read-modify-write: object stores give no lock; seal from one place).
    storage_options
        fsspec options of the file's and the ledger's URLs.
    force
        Seal the file although it is older than the ledger's latest seal of it (a sealed key's
        latest record older than the sealed one, or a sealed key gone): after a deliberate
        restore of an earlier state. Without it such a file is refused: a rollback.
    new_signer
        Seal with a key that has signed none of the ledger's seals (key rotation). Verifiers
        must then trust both public keys (``--trusted-key OLD --trusted-key NEW``). Without it
        the seal is refused: a seal by a key they do not trust fails every ``verify --ledger``.

    Returns
    -------
    The seal appended.

    Raises
    ------
    SealRefusedError
        The file's audit has errors (``.report`` holds it), or it holds no record to seal; it
        is older than the ledger's latest seal of it and not ``force`` (``.report`` holds the
        ``rolled_back``/``history_lost`` findings); the key has not signed the ledger before
        and not ``new_signer``. Nothing was appended.
    LedgerError
        The ledger's chain is broken, a seal by the sealing key does not check, the ledger
        ends with a blank line, or it cannot be read or written; nothing was appended.

    Examples
    --------
    >>> from provenance._util.signing import keygen  # or: provenance keygen --out lab.key
    >>> key = keygen("lab.key").private
    >>> s = provenance.seal("pbmc.h5ad", key=key, ledger="seals.jsonl")
    >>> s.seq, sorted(s.keys)
    (1, ['leiden_0.5', 'leiden_0.8', 'leiden_1.0'])
    >>> report = provenance.audit("pbmc.h5ad", trusted_keys=["lab.key.pub"], ledger="seals.jsonl")
    >>> report.checks.ledger.seal, report.ok
    (1, True)
    """
    from provenance._storage.ledger import append_line
    from provenance._storage.remote import is_url
    from provenance._util.signing import load_signer

    from .audit import audit

    signer = load_signer(key)
    report = audit(path, storage_options=storage_options)
    _refuse_errors(report, path)
    keys, steps = file_state(report.entries, report.steps)
    if not keys and not steps:
        msg = f"{path} holds no provenance record: there is nothing to seal."
        raise SealRefusedError(msg, report)
    name = str(path).rstrip("/").rsplit("/", 1)[-1] if is_url(path) else Path(path).name
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    out: list[Seal] = []

    def make(data: bytes) -> bytes:
        # Under the ledger's lock: check and compare with the ledger as it is now, chain to
        # its last line.
        seals = parse(data, str(ledger), {signer.key_id: signer.public_key()}, skip_unknown=True)
        lines = data.split(b"\n")
        if len(lines) > 1 and not lines[-2].strip():
            msg = (
                f"the ledger {ledger} ends with a blank line: a seal appended after it would "
                "leave a blank line between seals, which breaks the ledger. Remove the blank "
                "line(s) at its end and seal again; nothing was appended."
            )
            raise LedgerError(msg)
        _refuse_signer(seals, signer, ledger, new_signer=new_signer)
        if not force:
            _refuse_rollback(report, seals, path, ledger)
        last = lines[-2] if seals else None
        draft = Seal(
            seq=len(seals) + 1,
            previous=None if last is None else line_hash(last),
            sealed_at=now,
            file=name,
            signer=signer.key_id,
            keys=keys,
            steps=steps,
        )
        signed, line = make_line(draft, signer)
        out.append(signed)
        return line

    append_line(ledger, make, storage_options)
    return out[0]


def _refuse_errors(report: AuditReport, path: str | Path) -> None:
    if report.ok:
        return
    errors = report.errors
    listed = "; ".join(f"{f.code} on {f.key!r}" for f in errors[:5])
    more = f" and {len(errors) - 5} more" if len(errors) > 5 else ""
    msg = (
        f"not sealed: {path} fails its own audit ({listed}{more}), and a seal must not bless a "
        f"forgery or a damaged file. Run provenance verify {path} and fix what it reports first."
    )
    raise SealRefusedError(msg, report)


def _refuse_signer(
    seals: Sequence[Seal], signer: Signer, ledger: str | Path, *, new_signer: bool
) -> None:
    signers = sorted({s.signer for s in seals})
    if not signers or signer.key_id in signers or new_signer:
        return
    msg = (
        f"not sealed: the key {signer.path} ({signer.key_id}) has signed none of the "
        f"{len(seals)} seals of {ledger}, which are signed by {', '.join(signers)}. Whoever "
        "verifies with the ledger's key(s) only would fail on this seal, on every file, for as "
        "long as the line stays (on append-only storage: for ever). Seal with the ledger's key; "
        "to rotate keys deliberately, pass --new-signer (new_signer=True) and have verifiers "
        "trust both public keys (--trusted-key OLD.pub --trusted-key NEW.pub)."
    )
    raise SealRefusedError(msg)


def _refuse_rollback(
    report: AuditReport, seals: Sequence[Seal], path: str | Path, ledger: str | Path
) -> None:
    """Refuse a file older than its latest seal: what ``verify --ledger`` would report."""
    import dataclasses

    entries, steps, check = check_ledger(report.entries, report.steps, seals, str(ledger), None)
    both: tuple[AuditEntry | StepEntry, ...] = (*entries, *steps)
    found = [
        f
        for e in both
        for f in e.findings
        if f.code == "rolled_back"
        or (f.code == "history_lost" and f.details.get("cause") == "sealed")
    ]
    if not found:
        return
    match = next(s for s in seals if s.seq == check.seal)
    listed = "; ".join(_older(f) for f in found)
    msg = (
        f"not sealed: {path} is older than the ledger's latest seal of it (seal {match.seq} of "
        f"{ledger}, {match.sealed_at}, of {match.file}): {listed}. Sealing it would make this "
        "older state the one files are compared with, blessing a rollback. Seal the latest copy "
        "of the file instead; if you restored this state deliberately, seal it with --force "
        "(force=True)."
    )
    raise SealRefusedError(msg, dataclasses.replace(report, entries=entries, steps=steps))


def _older(f: Finding) -> str:
    v = f.details["sealed_version"]
    if f.code == "history_lost":
        return f"{f.key!r} is gone (sealed at version {v})"
    if f.details.get("cause") == "rewritten":
        return f"{f.key!r}'s version {v} is not the sealed record"
    return f"{f.key!r} is at version {f.details['found_version']}, sealed at {v}"
