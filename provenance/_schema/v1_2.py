"""Schema version 1.2 of a clustering record (2026-12-02), the current one.

1.2 adds, additively, multiplex clusterings (``muon.tl.leiden``/``muon.tl.louvain`` on a
MuData): ``layers`` holds one fingerprint per modality graph clustered, with the modality's
effective weight and resolution (``graph`` is then ``None``), and the params of muon's
functions (:class:`MuonLeidenParams`, :class:`MuonLouvainParams`). Records of 1.0 and 1.1 are
upgraded on read (``_schema/convert.py``) and keep verifying against the digest they were
written with. The parts unchanged since 1.1 are 1.1's (and 1.0's) own classes.
"""

from __future__ import annotations

from datetime import UTC, datetime  # noqa: TC003 (pydantic resolves annotations)
from typing import Annotated, Any, Literal

from pydantic import (
    AwareDatetime,
    ConfigDict,
    Discriminator,
    Field,
    JsonValue,
    NonNegativeFloat,
    PositiveInt,
    Tag,
    field_validator,
    model_validator,
)

from .base import Digest, FrozenModel, RandomStateValue, RecordBase
from .v1_1 import GraphInfo, LeidenParams, LouvainParams, RestrictTo, ResultInfo, Software

__all__ = [
    "VERSION",
    "ClusteringRecord",
    "GraphInfo",
    "LayerInfo",
    "LeidenParams",
    "LouvainParams",
    "MuonLeidenParams",
    "MuonLouvainParams",
    "Params",
    "RestrictTo",
    "ResultInfo",
    "Software",
]

VERSION = "1.2"

PerModality = float | dict[str, float] | list[float] | None


class LayerInfo(FrozenModel):
    """One layer of a multiplex clustering: a modality's graph, as the function weighed it."""

    modality: str
    """The modality (key of ``mdata.mod``) whose graph this layer is."""
    graph: GraphInfo
    """Fingerprint of that modality's graph, as for a single-graph clustering."""
    weight: float
    """The layer weight that ran (``mod_weights`` resolved; 1.0 when not given)."""
    resolution: float | None
    """The resolution that ran on this layer (``None``: the partition type takes none)."""


class _MuonParamsBase(FrozenModel):
    library: Literal["muon"] = "muon"
    """Tells muon's params from scanpy's of the same method."""
    resolution: PerModality
    """``resolution`` as passed: one float, one per modality (mapping or list), or ``None``
    (the effective value of each layer is in ``layers``)."""
    mod_weights: PerModality
    """``mod_weights`` as passed (the effective weight of each layer is in ``layers``)."""
    random_state: RandomStateValue
    """The ``random_state`` argument as passed."""
    seeded: bool
    """Whether the optimiser was seeded: muon 0.1.9 seeds only a truthy ``random_state`` (its
    default 0 runs unseeded), muon >= 0.2 any ``random_state`` that is not ``None``."""
    key_added: str
    """The ``key_added`` argument (the ``obs`` column written)."""
    neighbors_key: str | None
    """``neighbors_key``: which ``pp.neighbors`` result of every modality was used."""
    directed: bool
    """Whether the graphs were treated as directed (muon's default is ``True``)."""
    use_weights: Literal[False] = False
    """muon builds its partitions without edge weights: the graphs are clustered unweighted."""
    partition_type: str | None
    """Qualified class name of the partition type, ``None`` for muon's default."""
    partition_kwargs: dict[str, JsonValue] = {}
    """The ``partition_kwargs`` argument (passed to every layer's partition)."""
    optimiser_kwargs: dict[str, JsonValue] = {}
    """Extra keyword arguments, passed to ``Optimiser.optimise_partition_multiplex``."""
    other_args: dict[str, JsonValue] = {}
    """Arguments of the called function unknown to this schema (newer muon versions)."""
    unknown: list[str] = []
    """Arguments whose value is not known (adopted records): their fields hold ``None``."""
    passed: dict[str, JsonValue] = {}
    """Arguments as passed, where the function resolved them to another value."""
    not_in_effect: list[str] = []
    """Arguments the backend ignores."""
    python_random_state: dict[str, JsonValue] | None = None
    """Always ``None``: muon's backends draw from ``random_state`` only."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class MuonLeidenParams(_MuonParamsBase):
    """Every argument of ``muon.tl.leiden`` on a MuData, defaults filled in."""

    method: Literal["leiden"] = "leiden"
    """The clustering method."""
    flavor: Literal["leidenalg"] = "leidenalg"
    """muon runs leidenalg's multiplex optimiser."""


class MuonLouvainParams(_MuonParamsBase):
    """Every argument of ``muon.tl.louvain`` on a MuData, defaults filled in."""

    method: Literal["louvain"] = "louvain"
    """The clustering method."""
    flavor: Literal["vtraag"] = "vtraag"
    """muon runs the ``louvain`` package's multiplex optimiser."""


def _params_tag(value: Any) -> str | None:
    """``"leiden"``, ``"louvain"``, ``"muon.leiden"``, ``"muon.louvain"``: read, never tried."""
    if isinstance(value, dict):
        method, library = value.get("method"), value.get("library")
    else:
        method, library = getattr(value, "method", None), getattr(value, "library", None)
    if not isinstance(method, str):
        return None
    return f"muon.{method}" if library == "muon" else method


Params = Annotated[
    Annotated[LeidenParams, Tag("leiden")]
    | Annotated[LouvainParams, Tag("louvain")]
    | Annotated[MuonLeidenParams, Tag("muon.leiden")]
    | Annotated[MuonLouvainParams, Tag("muon.louvain")],
    Discriminator(_params_tag),
]


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

    schema_version: Literal["1.2"] = "1.2"
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
    """The graph clustered (``None`` when it could not be determined, or for a multiplex
    clustering, whose graphs are in ``layers``)."""
    layers: list[LayerInfo] | None = None
    """The graphs of a multiplex clustering, one per modality in ``mdata.mod`` order, with
    their effective weights and resolutions (``None`` for a single-graph clustering)."""
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
        if self.layers is not None and (not self.layers or self.graph is not None):
            msg = "a multiplex record has one or more layers and no single graph"
            raise ValueError(msg)
        return self
