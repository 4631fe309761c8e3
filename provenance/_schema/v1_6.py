"""Schema version 1.6 (2026-12-07), the current one: the whole pipeline, and objects' parents.

1.6 adds, additively:

- ``reads`` and ``writes`` on every record: the slots of the object (``X``, ``raw.X``,
  ``layers['counts']``, ``obsm['X_pca']``, ``obsp['connectivities']``, ``varm['PCs']``,
  ``obs['leiden']``, ``var['highly_variable']``) the call read and those it changed, each with
  its digest (:class:`SlotDigest`). Consecutive records link by digest: a record read a slot
  with the digest the last record before it wrote, or something no record made changed it in
  between (a gap in the chain).
- ``kind: "transform"``: :class:`TransformRecord`, one call that changes the data a
  clustering depends on (``sc.pp.filter_cells`` ... ``sc.pp.pca``, the ``sc.external.pp``
  integrations): no ``uns`` key of its own is needed; its history is kept under the ``uns``
  key the call writes (``pca``, ``log1p``, ``hvg``) or, when it writes none, under the
  function's name (``normalize_total``).
- ``kind: "concat"``: :class:`ConcatRecord`, one ``anndata.concat`` of recorded objects: the
  parts it joined, each with its size, names digest and the records it carried.
- embedding kinds ``tsne``, ``draw_graph`` and ``diffmap`` (:class:`EmbeddingRecord`).
- ``parent`` on every record: the object a record's object was taken from
  (:class:`ParentObject`: a subset, ``sc.pp.subsample``), named by its size and names
  digest, and the parent's record this one continues.

Records of 1.0-1.5 are upgraded on read (``_schema/convert.py``) with empty ``reads`` and
``writes`` and keep verifying against the digest they were written with.

The records are written out whole, not as subclasses of 1.5's, and their parts
(``v1_6_params.py``, ``v1_6_parts.py``) import no older version, so that reading current
records defines no older version's models. Each field is, docstring included, the one of the
version that introduced or last changed it.
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
    model_validator,
)

from .base import Digest, FrozenModel, RecordBase
from .v1_6_params import Params
from .v1_6_parts import (
    ClusteringUse,
    ConcatPart,
    GraphEdit,
    GraphInfo,
    LayerInfo,
    ObjectShape,
    ParentObject,
    RecordRef,
    Representation,
    ResultInfo,
    Signature,
    SlotDigest,
    Software,
)

__all__ = [
    "EMBEDDING_KINDS",
    "RESULT_KINDS",
    "VERSION",
    "ClusteringRecord",
    "ConcatPart",
    "ConcatRecord",
    "EmbeddingRecord",
    "NeighborsRecord",
    "ObjectShape",
    "ParentObject",
    "ResultRecord",
    "SlotDigest",
    "TransformRecord",
]

VERSION = "1.6"

ResultKind = Literal["rank_genes_groups", "filter_rank_genes_groups", "dendrogram", "paga"]
RESULT_KINDS: tuple[str, ...] = ResultKind.__args__  # type: ignore[attr-defined]
"""The kinds of :class:`ResultRecord`."""

EmbeddingKind = Literal["umap", "tsne", "draw_graph", "diffmap"]
EMBEDDING_KINDS: tuple[str, ...] = EmbeddingKind.__args__  # type: ignore[attr-defined]
"""The kinds of :class:`EmbeddingRecord`."""

_Id = Annotated[
    str, Field(pattern=r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[0-9a-f]{4}-[0-9a-f]{12}$")
]


def _utc(v: datetime | None) -> datetime | None:
    if v is not None and v.utcoffset() != UTC.utcoffset(None):
        msg = "must be in UTC"
        raise ValueError(msg)
    return v


class _Chain(FrozenModel):
    """The fields 1.6 adds to every record: what the call read and wrote, and its parent."""

    reads: dict[str, SlotDigest] = {}
    """Slots the call read, by name (``"X"``, ``"obsm['X_pca']"``), as they were before it."""
    writes: dict[str, SlotDigest] = {}
    """Slots the call added or changed, by name, as it left them (a slot it deleted is not
    listed: it is gone)."""
    parent: ParentObject | None = None
    """The object this record's object was taken from, when the record is the first made on a
    subset of a recorded object (``None``: the same object as the record before it)."""


class _Step(RecordBase, _Chain):
    """The fields every record of a step shares."""

    schema_version: Literal["1.6"] = "1.6"
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

    _utc = field_validator("started_at", "finished_at")(_utc)


class ClusteringRecord(RecordBase, _Chain):
    """How one clustering was made: one version of one key's history.

    Examples
    --------
    >>> rec = provenance.latest(adata, "leiden_0.8")
    >>> rec.version, rec.params.resolution, rec.result.n_clusters
    (2, 0.8, 11)
    >>> rec.digest == rec.expected_digest()  # False once the stored record was edited
    True
    """

    schema_version: Literal["1.6"] = "1.6"
    """Version of this schema."""
    id: _Id
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
    kind: Literal["clustering"] = "clustering"
    """What was recorded."""
    neighbors: RecordRef | None = None
    """The ``sc.pp.neighbors`` record whose graph was clustered (``None``: the graph was not
    made inside ``provenance.record()``, or was changed since)."""
    signature: Signature | None = None
    """Signature of ``digest`` by the key recording it was given (``None``: unsigned).
    Not part of the digested content."""
    graph_steps: list[RecordRef] = []
    """Recorded steps (``sc.tl.umap`` on scanpy 1.11) that changed the graph in place after
    its ``neighbors`` record wrote it and before it was clustered, oldest first."""

    _utc = field_validator("started_at", "finished_at")(_utc)

    @model_validator(mode="after")
    def _consistent(self) -> ClusteringRecord:
        if self.params.method != self.method:
            msg = f"params are for {self.params.method!r} but method is {self.method!r}"
            raise ValueError(msg)
        if self.layers is not None and (not self.layers or self.graph is not None):
            msg = "a multiplex record has one or more layers and no single graph"
            raise ValueError(msg)
        return self


class NeighborsRecord(_Step):
    """How one neighbors graph was made: one version of ``uns[key]``'s history."""

    kind: Literal["neighbors"] = "neighbors"
    """What was recorded."""
    representation: Representation | None
    """The matrix the neighbors were searched in (``None`` when it could not be read)."""
    graphs: dict[str, GraphInfo]
    """The graphs written, by role (``"connectivities"``, ``"distances"``); each names its
    ``obsp`` key."""
    signature: Signature | None = None
    """Signature of ``digest`` by the key recording it was given (``None``: unsigned).
    Not part of the digested content."""


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
    signature: Signature | None = None
    """Signature of ``digest`` by the key recording it was given (``None``: unsigned).
    Not part of the digested content."""
    graph_steps: list[RecordRef] = []
    """Recorded steps that changed the graph it read (PAGA) in place after its neighbors
    record wrote it, oldest first."""


class EmbeddingRecord(_Step):
    """How one embedding was made (``sc.tl.umap``, ``tsne``, ``draw_graph``, ``diffmap``)."""

    kind: EmbeddingKind
    """What was recorded."""
    graph: GraphInfo | None = None
    """The graph it read, as it was before the call (``None``: none, ``sc.tl.tsne``, or it
    could not be read)."""
    neighbors: RecordRef | None = None
    """The ``sc.pp.neighbors`` record that wrote that graph (``None``: not recorded)."""
    graph_steps: list[RecordRef] = []
    """Recorded steps that changed that graph in place after ``neighbors`` wrote it, oldest
    first."""
    embedding: Representation | None
    """The matrix written (``obsm['X_umap']`` or ``key_added``), with its digest."""
    graph_edit: GraphEdit | None = None
    """How the call changed the graph it read (``None``: unchanged)."""
    signature: Signature | None = None
    """Signature of ``digest`` by the key recording it was given (``None``: unsigned).
    Not part of the digested content."""


class TransformRecord(_Step):
    """How the data a clustering depends on was changed by one call (``sc.pp.*``)."""

    kind: Literal["transform"] = "transform"
    """What was recorded."""
    n_vars: NonNegativeInt
    """Variables of the object after the call."""
    var_names_digest: Digest
    """Digest of ``var_names`` in order, after the call."""
    before: ObjectShape | None = None
    """The object's size and names before the call, when the call changed them (a filter,
    ``subset=True``, ``sc.pp.subsample``); ``None``: unchanged."""
    signature: Signature | None = None
    """Signature of ``digest`` by the key recording it was given (``None``: unsigned).
    Not part of the digested content."""


class ConcatRecord(_Step):
    """How an object was made by joining recorded objects (``anndata.concat``)."""

    kind: Literal["concat"] = "concat"
    """What was recorded."""
    parts: list[ConcatPart]
    """The objects joined, in order."""
    signature: Signature | None = None
    """Signature of ``digest`` by the key recording it was given (``None``: unsigned).
    Not part of the digested content."""
