"""``provenance.seal``: a signed seal of a checked file's state, appended to a ledger.

The file is audited first and refused when its audit has errors; its state (each key's and
step's latest record: :func:`.ledger.file_state`) is signed and chained to the ledger's last
seal under the ledger's lock (``_storage.ledger``), the chain checked as it is then.
"""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from provenance._base.errors import SealRefusedError
from provenance._util.ledger import Seal, line_hash, make_line, parse

from .ledger import file_state

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .report import AuditReport

__all__ = ["seal"]


def seal(
    path: str | Path,
    *,
    key: str | Path,
    ledger: str | Path,
    storage_options: Mapping[str, Any] | None = None,
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

    Returns
    -------
    The seal appended.

    Raises
    ------
    SealRefusedError
        The file's audit has errors (``.report`` holds it), or it holds no record to seal.
    LedgerError
        The ledger's chain is broken, or it cannot be read or written; nothing was appended.

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
        # Under the ledger's lock: chain to the last line as it is now.
        seals = parse(data, str(ledger), None)
        last = data.split(b"\n")[-2] if seals else None
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
