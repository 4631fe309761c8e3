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

from typing import Annotated, Literal

from pydantic import Field

from . import v1_3
from .base import FrozenModel

__all__ = [
    "KEY_ID_PATTERN",
    "VERSION",
    "ClusteringRecord",
    "NeighborsRecord",
    "ResultRecord",
    "Signature",
]

VERSION = "1.4"

KEY_ID_PATTERN = r"^ed25519:[0-9a-f]{16}$"
"""A key id: ``"ed25519:"`` and the first 16 hex digits of the sha256 of the raw public key."""


class Signature(FrozenModel):
    """Who recorded a record: a signature of its ``digest`` by a lab's private key.

    Check it with ``provenance.audit(..., trusted_keys=[...])`` or ``provenance verify
    --trusted-key PUB``; without a trust policy it is shown, not checked.
    """

    algorithm: Literal["ed25519"] = "ed25519"
    """Signature algorithm."""
    key_id: Annotated[str, Field(pattern=r"^ed25519:[0-9a-f]{16}$")]
    """Id of the signing key: ``"ed25519:"`` and the first 16 hex digits of the sha256 of
    the raw 32-byte public key (``provenance keygen`` prints it)."""
    value: Annotated[str, Field(pattern=r"^[A-Za-z0-9+/]+={0,2}$", max_length=200)]
    """Base64 of the 64-byte signature of the record's ``digest`` string (UTF-8)."""


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
