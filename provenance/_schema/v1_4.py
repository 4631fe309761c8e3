"""Schema version 1.4 (2026-12-02), the current one: signed records.

1.4 adds, additively, an optional :class:`Signature` to every record kind (clustering,
neighbors, results): an Ed25519 signature of the record's ``digest`` and the id of the key
that made it (``provenance.record(adata, sign_with="lab.key")``). The signature is not part of
the digested content: the digest covers every other field (``previous`` included, so the
whole chain up to this record), and signing it is signing the record. A record written
without a key has ``signature: null``. Records of 1.0-1.3 are upgraded on read
(``_schema/convert.py``) and keep verifying against the digest they were written with.
"""

from __future__ import annotations

from typing import Literal

from . import v1_3
from .v1_6_parts import KEY_ID_PATTERN, Signature

__all__ = [
    "KEY_ID_PATTERN",
    "VERSION",
    "ClusteringRecord",
    "NeighborsRecord",
    "ResultRecord",
    "Signature",
]

VERSION = "1.4"


class ClusteringRecord(v1_3.ClusteringRecord):
    """How one clustering was made: one version of one key's history.

    Examples
    --------
    >>> rec = provenance.latest(adata, "leiden_0.8")
    >>> rec.version, rec.params.resolution, rec.result.n_clusters
    (2, 0.8, 11)
    >>> rec.digest == rec.expected_digest()  # False once the stored record was edited
    True
    """

    schema_version: Literal["1.4"] = "1.4"  # type: ignore[assignment]
    """Version of this schema."""
    signature: Signature | None = None
    """Signature of ``digest`` by the key recording it was given (``None``: unsigned).
    Not part of the digested content."""


class NeighborsRecord(v1_3.NeighborsRecord):
    """How one neighbors graph was made: one version of ``uns[key]``'s history."""

    schema_version: Literal["1.4"] = "1.4"  # type: ignore[assignment]
    """Version of this schema."""
    signature: Signature | None = None
    """Signature of ``digest`` by the key recording it was given (``None``: unsigned).
    Not part of the digested content."""


class ResultRecord(v1_3.ResultRecord):
    """How one result computed from clusterings was made (markers, dendrogram, PAGA)."""

    schema_version: Literal["1.4"] = "1.4"  # type: ignore[assignment]
    """Version of this schema."""
    signature: Signature | None = None
    """Signature of ``digest`` by the key recording it was given (``None``: unsigned).
    Not part of the digested content."""
