"""One :class:`~provenance._export.model.Run` per record: its arguments, notes, software,
signature (shown, not checked) and whether its digest matches its content."""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any

from .arguments import call_arguments
from .model import Run, Signed, Software

if TYPE_CHECKING:
    from collections.abc import Iterable

__all__ = ["make_run", "records_digest"]


def records_digest(digests: Iterable[str]) -> str:
    """sha256 over record digests, in order (what an export's identifiers derive from)."""
    h = hashlib.sha256()
    for d in digests:
        h.update(d.encode("utf-8") + b"\n")
    return f"sha256:{h.hexdigest()}"


def make_run(run_id: str, key: str, rec: Any, used: tuple[str, ...], made: tuple[str, ...]) -> Run:
    """The run of ``rec`` (``run_id`` ``"L/v2"``), with the items it used and made."""
    packages = rec.software.packages if rec.software is not None else {}
    top = rec.function.partition(".")[0]
    params, notes = call_arguments(rec)
    sig = getattr(rec, "signature", None)
    return Run(
        id=run_id,
        key=key,
        version=rec.version,
        kind=rec.kind,
        function=rec.function,
        record_id=rec.id,
        digest=rec.digest,
        previous=rec.previous,
        origin=getattr(rec, "origin", "recorded"),
        started=rec.started_at,
        finished=rec.finished_at,
        params=params,
        notes=notes,
        tool=Software(top, packages.get(top)),
        software=tuple(Software(n, v) for n, v in sorted(packages.items())),
        python=rec.software.python if rec.software is not None else None,
        platform=rec.software.platform if rec.software is not None else None,
        used=used,
        made=made,
        source=getattr(rec, "source", None),
        signature=None if sig is None else Signed(sig.algorithm, sig.key_id, sig.value),
        digest_valid=rec.expected_digest() == rec.digest,
    )
