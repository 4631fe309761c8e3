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
"""

from __future__ import annotations

from typing import Literal

from pydantic import NonNegativeInt

from . import v1_3, v1_5
from .base import Digest, FrozenModel
from .v1_2 import GraphInfo
from .v1_3 import RecordRef
from .v1_4 import Signature
from .v1_5 import GraphEdit

__all__ = [
    "EMBEDDING_KINDS",
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

EmbeddingKind = Literal["umap", "tsne", "draw_graph", "diffmap"]
EMBEDDING_KINDS: tuple[str, ...] = EmbeddingKind.__args__  # type: ignore[attr-defined]
"""The kinds of :class:`EmbeddingRecord`."""


class SlotDigest(FrozenModel):
    """One slot of the object as a call read or left it."""

    shape: list[NonNegativeInt]
    """Shape of the matrix or column (``[n_obs]`` for an ``obs`` column)."""
    dtype: str
    """numpy (or pandas) dtype as stored (``"category"`` for a categorical column)."""
    sparse: bool = False
    """Whether the matrix is a scipy sparse one (hashed as its CSR buffers)."""
    hash_algorithm: str
    """Algorithm of ``digest``."""
    digest: Digest
    """Digest of the values, shape and dtype (a column: its values in ``obs_names`` order)."""


class ObjectShape(FrozenModel):
    """An object's size and names: what a filter or subset changes."""

    n_obs: NonNegativeInt
    """Observations."""
    n_vars: NonNegativeInt
    """Variables."""
    obs_names_digest: Digest
    """Digest of ``obs_names`` in order."""
    var_names_digest: Digest
    """Digest of ``var_names`` in order."""


class ParentObject(FrozenModel):
    """The recorded object a subset (``adata[mask].copy()``, ``sc.pp.subsample``) came from."""

    n_obs: NonNegativeInt
    """Observations of the parent."""
    obs_names_digest: Digest
    """Digest of the parent's ``obs_names`` in order."""
    record: RecordRef | None = None
    """The parent's record this one continues (the latest record of the same key, or of the
    step before, on the parent); ``None`` when the parent had none."""


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


class TransformRecord(v1_3._Step, _Chain):
    """How the data a clustering depends on was changed by one call (``sc.pp.*``)."""

    schema_version: Literal["1.6"] = "1.6"  # type: ignore[assignment]
    """Version of this schema."""
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


class ConcatPart(FrozenModel):
    """One object ``anndata.concat`` joined."""

    label: str | None
    """Its label (the ``keys`` given to ``concat``, or its position)."""
    n_obs: NonNegativeInt
    """Observations."""
    obs_names_digest: Digest
    """Digest of its ``obs_names`` in order."""
    records: list[RecordRef] = []
    """The latest record of every key its ``uns`` held, in ``uns`` order."""


class ConcatRecord(v1_3._Step, _Chain):
    """How an object was made by joining recorded objects (``anndata.concat``)."""

    schema_version: Literal["1.6"] = "1.6"  # type: ignore[assignment]
    """Version of this schema."""
    kind: Literal["concat"] = "concat"
    """What was recorded."""
    parts: list[ConcatPart]
    """The objects joined, in order."""
    signature: Signature | None = None
    """Signature of ``digest`` by the key recording it was given (``None``: unsigned).
    Not part of the digested content."""


class EmbeddingRecord(v1_5.EmbeddingRecord, _Chain):
    """How one embedding was made (``sc.tl.umap``, ``tsne``, ``draw_graph``, ``diffmap``)."""

    schema_version: Literal["1.6"] = "1.6"  # type: ignore[assignment]
    """Version of this schema."""
    kind: EmbeddingKind  # type: ignore[assignment]
    """What was recorded."""
    graph: GraphInfo | None = None
    """The graph it read, as it was before the call (``None``: none, ``sc.tl.tsne``, or it
    could not be read)."""
    graph_edit: GraphEdit | None = None
    """How the call changed the graph it read (``None``: unchanged)."""


class ClusteringRecord(v1_5.ClusteringRecord, _Chain):
    """How one clustering was made: one version of one key's history.

    Examples
    --------
    >>> rec = provenance.latest(adata, "leiden_0.8")
    >>> rec.version, rec.params.resolution, rec.result.n_clusters
    (2, 0.8, 11)
    >>> rec.digest == rec.expected_digest()  # False once the stored record was edited
    True
    """

    schema_version: Literal["1.6"] = "1.6"  # type: ignore[assignment]
    """Version of this schema."""


class NeighborsRecord(v1_5.NeighborsRecord, _Chain):
    """How one neighbors graph was made: one version of ``uns[key]``'s history."""

    schema_version: Literal["1.6"] = "1.6"  # type: ignore[assignment]
    """Version of this schema."""


class ResultRecord(v1_5.ResultRecord, _Chain):
    """How one result computed from clusterings was made (markers, dendrogram, PAGA)."""

    schema_version: Literal["1.6"] = "1.6"  # type: ignore[assignment]
    """Version of this schema."""
