"""Exceptions and warnings raised by anndata-provenance: every exception class it defines.

All but :class:`UsageError` are public (``provenance.X``). Two private signals stay beside the
code that raises and catches them, since they never leave a function: ``_NotPlain``
(``_storage/files.py``) and ``_WiderThanInt32`` (``_util/fingerprint.py``).
"""

from __future__ import annotations

__all__ = [
    "HistoryLimitError",
    "InvalidRecordError",
    "LedgerError",
    "NewerSchemaError",
    "ProvenanceError",
    "ProvenanceWarning",
    "RemoteReadError",
    "RemoteTimeoutError",
    "ReplayError",
    "SealRefusedError",
    "UnknownKeyError",
    "UnknownVersionError",
    "UnreadableFileError",
    "UsageError",
]


class ProvenanceError(Exception):
    """Base class of every error this package raises on bad input or a failed record."""


class InvalidRecordError(ProvenanceError, ValueError):
    """A stored record or history could not be decoded or does not validate."""


class NewerSchemaError(InvalidRecordError):
    """A record was written by a newer anndata-provenance than the one installed."""


class HistoryLimitError(ProvenanceError):
    """A history or record exceeds the configured resource limits."""


class ReplayError(ProvenanceError):
    """A recorded clustering cannot be replayed (changed graph, unknown class, bad version)."""


class LedgerError(ProvenanceError):
    """A ledger of seals that fails its own checks (a broken hash chain, a line that is not a
    seal, a signature that is invalid or not by a trusted key) or cannot be read or written:
    it is never believed, so nothing is compared with it. The message names the line."""


class SealRefusedError(ProvenanceError):
    """A file not sealed: its own audit has errors (sealing must not bless a forgery), it is
    older than the ledger's latest seal of it (``force=``), or the key signed none of the
    ledger's seals (``new_signer=``). ``report`` is the file's audit (an
    :class:`~provenance.AuditReport`, with the ledger's findings when older), or ``None``."""

    def __init__(self, message: str, report: object = None) -> None:
        super().__init__(message)
        self.report = report


class UnknownKeyError(ProvenanceError, KeyError):
    """The requested key is neither in ``obs`` nor in ``uns``."""

    def __str__(self) -> str:  # KeyError would repr() the message
        return str(self.args[0]) if self.args else ""


class UnknownVersionError(ProvenanceError):
    """The requested version of a key's history does not exist (or is not a valid version)."""


class UnreadableFileError(ProvenanceError, OSError):
    """A path that is missing, not an AnnData file, or damaged where the audit must read."""


class RemoteReadError(UnreadableFileError):
    """A file, store or listing at a URL that could not be read, and why.

    ``reason`` names the cause for a program: ``"not_found"``, ``"access_denied"``,
    ``"credentials"``, ``"no_ranges"`` (the server does not serve byte ranges),
    ``"timed_out"`` or ``"unreachable"``; the message says what to do. ``url`` is the URL.
    """

    reason: str = "unreachable"
    url: str = ""


class RemoteTimeoutError(RemoteReadError, TimeoutError):
    """A read at a URL that did not finish within its timeout (``reason == "timed_out"``)."""

    reason = "timed_out"


class UsageError(Exception):
    """CLI arguments that parse but do not make sense together (the CLI prints it and exits;
    never raised by the Python API, so not exported)."""


class ProvenanceWarning(UserWarning):
    """A problem that must not stop an analysis, e.g. a clustering that could not be recorded."""
