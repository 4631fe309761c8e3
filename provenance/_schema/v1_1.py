"""Schema version 1.1 of a clustering record (2026-12-01), the current one.

1.1 adds, additively, what the backend made of the call: ``flavor`` and ``directed`` hold the
values that ran (scanpy 1.12 resolves ``flavor=None``), ``passed`` the arguments as passed
where they differ, and ``not_in_effect`` the arguments the backend ignores. Records of 1.0 are
upgraded on read (``_schema/convert.py``) and keep verifying against the digest they were
written with. The parts unchanged since 1.0 are 1.0's own classes.

Every model is frozen and forbids unknown fields, so a record that validates is exactly what
this schema describes. Field docstrings become the JSON Schema descriptions in ``schemas/``.
"""

from __future__ import annotations

from datetime import UTC, datetime  # noqa: TC003 (pydantic resolves annotations)
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    Field,
    NonNegativeFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from .base import Digest, RecordBase
from .v1_0 import GraphInfo, RestrictTo, ResultInfo, Software
from .v1_6_params import LeidenParams, LouvainParams

__all__ = [
    "VERSION",
    "ClusteringRecord",
    "GraphInfo",
    "LeidenParams",
    "LouvainParams",
    "Params",
    "RestrictTo",
    "ResultInfo",
    "Software",
]

VERSION = "1.1"


Params = Annotated[LeidenParams | LouvainParams, Field(discriminator="method")]


class ClusteringRecord(RecordBase):
    """How one clustering was made: one version of one key's history.

    Examples
    --------
    >>> rec = provenance.latest(adata, "leiden_0.8")
    >>> rec.version, rec.params.resolution, rec.result.n_clusters
    (2, 0.8, 11)
    >>> rec.digest == rec.expected_digest()  # False once the stored record was edited
    True
    """

    schema_version: Literal["1.1"] = "1.1"
    """Version of this schema."""
    id: Annotated[
        str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
    ]
    """Random UUID4 of this record."""
    version: PositiveInt
    """Position in the key's history, starting at 1."""
    key: str
    """The ``obs`` column actually written."""
    method: Literal["leiden", "louvain"]
    """Clustering method."""
    function: str
    """Qualified name of the function called, e.g. ``scanpy.tl.leiden``."""
    origin: Literal["recorded", "adopted"] = "recorded"
    """``"recorded"`` by the recorder, or ``"adopted"``: reconstructed from what scanpy left."""
    params: Params
    """Every argument of the call."""
    software: Software | None
    """Software versions (``None`` when not known, for adopted records)."""
    started_at: AwareDatetime | None
    """UTC time the call started."""
    finished_at: AwareDatetime | None
    """UTC time the call returned."""
    duration_s: NonNegativeFloat | None
    """Wall time of the clustering call in seconds."""
    graph: GraphInfo | None
    """The graph clustered (``None`` when it could not be determined)."""
    result: ResultInfo
    """Summary and digests of the labels."""
    previous: Digest | None
    """``digest`` of the previous version in this key's history (hash chain)."""
    digest: Digest
    """sha256 of the canonical JSON of this record without the ``digest`` field."""

    @field_validator("started_at", "finished_at")
    @classmethod
    def _utc(cls, v: datetime | None) -> datetime | None:
        if v is not None and v.utcoffset() != UTC.utcoffset(None):
            msg = "must be in UTC"
            raise ValueError(msg)
        return v

    @model_validator(mode="after")
    def _consistent(self) -> ClusteringRecord:
        if self.params.method != self.method:
            msg = f"params are for {self.params.method!r} but method is {self.method!r}"
            raise ValueError(msg)
        return self
