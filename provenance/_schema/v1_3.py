"""Schema version 1.3 (2026-12-02): lineage (1.4 adds signatures).

1.3 records the steps around a clustering as well as the clustering. Every 1.3 record has a
``kind``:

- ``"clustering"``: :class:`ClusteringRecord`, 1.2's record plus ``neighbors``, the
  ``sc.pp.neighbors`` record whose graph it clustered.
- ``"neighbors"``: :class:`NeighborsRecord`, one ``sc.pp.neighbors`` run: the representation
  it read and the graphs it wrote.
- ``"rank_genes_groups"``, ``"filter_rank_genes_groups"``, ``"dendrogram"``, ``"paga"``:
  :class:`ResultRecord`, a result computed from clusterings: which labels it used (digests of
  them, to tell when a re-clustering made it stale) and what else it read.

A step's arguments are kept as bound to the function's signature (``arguments``), because
scanpy's signatures change between versions far more than the clustering functions'. Records
of 1.0-1.2 (all clusterings) are upgraded on read (``_schema/convert.py``) and keep
verifying against the digest they were written with.
"""

from __future__ import annotations

from datetime import UTC, datetime  # noqa: TC003 (pydantic resolves annotations)
from typing import Annotated, Literal

from pydantic import (
    AwareDatetime,
    Field,
    JsonValue,
    NonNegativeFloat,
    NonNegativeInt,
    PositiveInt,
    field_validator,
)

from . import v1_2
from .base import Digest, RecordBase
from .v1_2 import GraphInfo, Software
from .v1_6_parts import ClusteringUse, RecordRef, Representation

__all__ = [
    "RESULT_KINDS",
    "VERSION",
    "ClusteringRecord",
    "ClusteringUse",
    "NeighborsRecord",
    "RecordRef",
    "Representation",
    "ResultRecord",
]

VERSION = "1.3"

ResultKind = Literal["rank_genes_groups", "filter_rank_genes_groups", "dendrogram", "paga"]
RESULT_KINDS: tuple[str, ...] = ResultKind.__args__  # type: ignore[attr-defined]
"""The kinds of :class:`ResultRecord`."""

_Id = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
]


class _Step(RecordBase):
    """The fields every 1.3 record of a step shares."""

    schema_version: Literal["1.3"] = "1.3"
    """Version of this schema."""
    id: _Id
    """Random UUID4 of this record."""
    version: PositiveInt
    """Position in the key's history, starting at 1."""
    key: str
    """The ``uns`` key the step wrote (its history's key)."""
    function: str
    """Qualified name of the function called, e.g. ``scanpy.pp.neighbors``."""
    arguments: dict[str, JsonValue]
    """Every argument of the call bound to the signature, defaults applied, JSON-safe
    (an array or object is summarised as ``{"__type__": ..., ...}``)."""
    software: Software | None
    """Software versions."""
    started_at: AwareDatetime | None
    """UTC time the call started."""
    finished_at: AwareDatetime | None
    """UTC time the call returned."""
    duration_s: NonNegativeFloat | None
    """Wall time of the call in seconds."""
    n_obs: NonNegativeInt
    """Observations of the object the step ran on."""
    obs_names_digest: Digest
    """Digest of ``obs_names`` in order."""
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


class NeighborsRecord(_Step):
    """How one neighbors graph was made: one version of ``uns[key]``'s history."""

    kind: Literal["neighbors"] = "neighbors"
    """What was recorded."""
    representation: Representation | None
    """The matrix the neighbors were searched in (``None`` when it could not be read)."""
    graphs: dict[str, GraphInfo]
    """The graphs written, by role (``"connectivities"``, ``"distances"``); each names its
    ``obsp`` key."""


class ResultRecord(_Step):
    """How one result computed from clusterings was made (markers, dendrogram, PAGA)."""

    kind: ResultKind
    """What was recorded."""
    uses: list[ClusteringUse]
    """The clusterings it grouped by, with digests of their labels as they were."""
    parents: list[RecordRef] = []
    """Recorded steps it read besides the clusterings (PAGA: its neighbors record; filtered
    markers: the markers)."""
    graph: GraphInfo | None = None
    """The graph it read (PAGA), else ``None``."""
    source: str | None = None
    """The expression it read, where known: ``"X"``, ``"raw"``, ``"layers['counts']"``,
    ``"obsm['X_pca']"``."""


class ClusteringRecord(v1_2.ClusteringRecord):
    """How one clustering was made: one version of one key's history.

    Examples
    --------
    >>> rec = provenance.latest(adata, "leiden_0.8")
    >>> rec.version, rec.params.resolution, rec.result.n_clusters
    (2, 0.8, 11)
    >>> rec.digest == rec.expected_digest()  # False once the stored record was edited
    True
    """

    schema_version: Literal["1.3"] = "1.3"  # type: ignore[assignment]
    """Version of this schema."""
    kind: Literal["clustering"] = "clustering"
    """What was recorded."""
    neighbors: RecordRef | None = None
    """The ``sc.pp.neighbors`` record whose graph was clustered (``None``: the graph was not
    made inside ``provenance.record()``, or was changed since)."""
