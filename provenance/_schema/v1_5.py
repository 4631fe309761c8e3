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

from . import v1_3, v1_4
from .v1_2 import GraphInfo  # noqa: TC001 (pydantic resolves annotations)
from .v1_3 import RecordRef, Representation  # noqa: TC001
from .v1_4 import Signature  # noqa: TC001
from .v1_6_parts import MAX_GRAPH_EDIT, GraphEdit

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
