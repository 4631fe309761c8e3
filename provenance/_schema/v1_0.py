"""Schema version 1.0 of a clustering record, as anndata-provenance 0.1 wrote it (2026-11-23).

Frozen: records of 1.0 are read through these models and upgraded to the current version by
``_schema/convert.py``. The parts unchanged since (``RestrictTo``, ``Software``, ``GraphInfo``,
``ResultInfo``) are those of the current version's modules (``v1_6_params``, ``v1_6_parts``),
imported here. Field docstrings are the JSON Schema
descriptions in ``schemas/clustering-record-1.0.schema.json``.
"""

from __future__ import annotations

from datetime import UTC, datetime  # noqa: TC003 (pydantic resolves annotations)
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Field,
    JsonValue,
    NonNegativeFloat,
    PositiveInt,
    field_validator,
    model_validator,
)

from .base import Digest, FrozenModel, RandomStateValue, RecordBase
from .v1_6_params import RestrictTo
from .v1_6_parts import GraphInfo, ResultInfo, Software

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

VERSION = "1.0"


class _ParamsBase(FrozenModel):
    resolution: float | None
    """Resolution parameter (``None`` when the partition type takes none)."""
    random_state: RandomStateValue
    """The seed: an int, ``None``, or the tagged JSON form of a RandomState/Generator."""
    restrict_to: RestrictTo | None
    """Restriction of the clustering to some categories of an ``obs`` column."""
    key_added: str
    """The ``key_added`` argument as passed (the key written may carry ``_R``)."""
    adjacency: str | None
    """``None``, or a short description of the matrix passed as ``adjacency``."""
    directed: bool | None
    """Whether the graph was treated as directed (``None``: the backend's default)."""
    use_weights: bool | None
    """Whether edge weights were used (``None``: not known, in adopted records)."""
    partition_type: str | None
    """Qualified class name of the partition type, ``None`` for the backend default."""
    neighbors_key: str | None
    """``neighbors_key`` argument: which ``pp.neighbors`` result was used."""
    obsp: str | None
    """``obsp`` argument: which ``obsp`` matrix was used."""
    copy_: bool | None = Field(alias="copy")
    """Whether scanpy returned a copy instead of modifying the object in place."""
    flavor: str | None
    """Backend (``"leidenalg"``/``"igraph"``, ``"vtraag"``/``"igraph"``; ``None``: not known)."""
    other_args: dict[str, JsonValue] = {}
    """Arguments of the called function unknown to this schema (newer scanpy versions)."""
    unknown: list[str] = []
    """Arguments whose value is not known (adopted records): their fields hold ``None``."""
    python_random_state: dict[str, JsonValue] | None = None
    """State of Python's ``random`` module before the call, kept for backends that draw from
    it instead of ``random_state`` (``louvain(flavor="igraph")``), so a replay can restore it."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class LeidenParams(_ParamsBase):
    """Every argument of ``scanpy.tl.leiden``, defaults filled in."""

    method: Literal["leiden"] = "leiden"
    """Discriminator."""
    n_iterations: int | None
    """Number of iterations; -1 runs until the partition is stable."""
    clustering_args: dict[str, JsonValue] = {}
    """Extra keyword arguments passed on to the backend (``**clustering_args``)."""


class LouvainParams(_ParamsBase):
    """Every argument of ``scanpy.tl.louvain``, defaults filled in."""

    method: Literal["louvain"] = "louvain"
    """Discriminator."""
    partition_kwargs: dict[str, JsonValue] = {}
    """The ``partition_kwargs`` argument."""


Params = Annotated[LeidenParams | LouvainParams, Field(discriminator="method")]


class ClusteringRecord(RecordBase):
    """How one clustering was made: one version of one key's history."""

    schema_version: Literal["1.0"] = "1.0"
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
