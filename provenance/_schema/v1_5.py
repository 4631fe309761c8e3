"""Schema version 1.5 (2026-12-07), the current one: embeddings, and graphs changed by a step.

1.5 adds, additively:

- ``kind: "umap"``: :class:`EmbeddingRecord`, one ``sc.tl.umap`` run: the graph it read (its
  digest before the call, and the neighbors record that wrote it), the embedding it wrote
  (``obsm['X_umap']``, as a :class:`~provenance._schema.v1_3.Representation`), and whether the
  graph changed under it (:class:`GraphEdit`: scanpy 1.11's ``sc.tl.umap`` hands the
  connectivities to umap-learn uncopied, which zeroes the weakest weights in place). The edit
  keeps the digest after the call and, when small, the exact change: the entries whose weight
  changed and their old weights, so an audit can rebuild the graph as it was before.
- ``graph_steps`` on clusterings and results (PAGA): the recorded steps that changed the graph
  in place after its neighbors record wrote it and before it was read, oldest first, so the
  lineage runs neighbors -> umap -> leiden.

Records of 1.0-1.4 are upgraded on read (``_schema/convert.py``) and keep verifying against
the digest they were written with.
"""

from __future__ import annotations

from typing import Literal

from pydantic import NonNegativeInt

from . import v1_3, v1_4
from .base import Digest, FrozenModel
from .v1_2 import GraphInfo  # noqa: TC001 (pydantic resolves annotations)
from .v1_3 import RecordRef, Representation  # noqa: TC001
from .v1_4 import Signature  # noqa: TC001

__all__ = [
    "EMBEDDING_KINDS",
    "MAX_GRAPH_EDIT",
    "VERSION",
    "ClusteringRecord",
    "EmbeddingRecord",
    "GraphEdit",
    "NeighborsRecord",
    "ResultRecord",
]

VERSION = "1.5"

EmbeddingKind = Literal["umap"]
EMBEDDING_KINDS: tuple[str, ...] = EmbeddingKind.__args__  # type: ignore[attr-defined]
"""The kinds of :class:`EmbeddingRecord`."""

MAX_GRAPH_EDIT = 10_000
"""The most changed entries a :class:`GraphEdit` keeps (beyond it: counted, not kept)."""


class GraphEdit(FrozenModel):
    """How a recorded step changed, in place, the graph it read.

    With ``kept``, the graph before the call is the graph after it with ``weights_before``
    put back at ``(rows[i], cols[i])`` (and the reverse with ``weights_after``): an audit checks
    that its digest is ``digest_before``.
    """

    obsp_key: str
    """The ``obsp`` matrix that changed."""
    hash_algorithm: str
    """Algorithm of the two digests."""
    digest_before: Digest
    """Digest of the graph before the call (the record's ``graph.digest``)."""
    digest_after: Digest
    """Digest of the graph after the call."""
    same_edges: bool
    """Whether the stored entries (their positions) are those before the call: only weights
    changed (scanpy 1.11's ``sc.tl.umap`` leaves the zeroed weights stored)."""
    n_changed: NonNegativeInt | None
    """Number of stored entries whose weight changed (``None`` when the entries changed)."""
    kept: bool
    """Whether ``rows``/``cols``/``weights_before``/``weights_after`` hold every change
    (``False``: the entries changed, or more than ``MAX_GRAPH_EDIT`` (10,000) weights did)."""
    rows: list[NonNegativeInt] = []
    """Row of each changed entry."""
    cols: list[NonNegativeInt] = []
    """Column of each changed entry."""
    weights_before: list[float] = []
    """Weight of each changed entry before the call (the graph's dtype, exact as a float)."""
    weights_after: list[float] = []
    """Weight of each changed entry after the call (to tell a graph restored since from the
    one the call left)."""


class EmbeddingRecord(v1_3._Step):
    """How one embedding was made from a graph (``sc.tl.umap``): one version of ``uns[key]``."""

    schema_version: Literal["1.5"] = "1.5"  # type: ignore[assignment]
    """Version of this schema."""
    kind: EmbeddingKind
    """What was recorded."""
    graph: GraphInfo | None
    """The graph it read, as it was before the call (``None`` when it could not be read)."""
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


class ClusteringRecord(v1_4.ClusteringRecord):
    """How one clustering was made: one version of one key's history.

    Examples
    --------
    >>> rec = provenance.latest(adata, "leiden_0.8")
    >>> rec.version, rec.params.resolution, rec.result.n_clusters
    (2, 0.8, 11)
    >>> rec.digest == rec.expected_digest()  # False once the stored record was edited
    True
    """

    schema_version: Literal["1.5"] = "1.5"  # type: ignore[assignment]
    """Version of this schema."""
    graph_steps: list[RecordRef] = []
    """Recorded steps (``sc.tl.umap`` on scanpy 1.11) that changed the graph in place after
    its ``neighbors`` record wrote it and before it was clustered, oldest first."""


class NeighborsRecord(v1_4.NeighborsRecord):
    """How one neighbors graph was made: one version of ``uns[key]``'s history."""

    schema_version: Literal["1.5"] = "1.5"  # type: ignore[assignment]
    """Version of this schema."""


class ResultRecord(v1_4.ResultRecord):
    """How one result computed from clusterings was made (markers, dendrogram, PAGA)."""

    schema_version: Literal["1.5"] = "1.5"  # type: ignore[assignment]
    """Version of this schema."""
    graph_steps: list[RecordRef] = []
    """Recorded steps that changed the graph it read (PAGA) in place after its neighbors
    record wrote it, oldest first."""
