"""The parts of schema 1.6's records: the models a record holds besides its params (graphs,
labels, layers, references, signatures, graph edits, slots, parents).

They import no older version, so that reading current records defines no older version's
models (those are imported only when a file holds an older record, ``models.py``). The older
versions that hold the same parts (1.0's ``GraphInfo``, 1.3's ``RecordRef``, 1.4's
``Signature``, ...) import them from here. Frozen with the version, as every version module
is: a later version that changes a part defines its own.
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, JsonValue, NonNegativeInt, PositiveInt

from .base import Digest, FrozenModel

__all__ = [
    "KEY_ID_PATTERN",
    "MAX_GRAPH_EDIT",
    "ClusteringUse",
    "ConcatPart",
    "GraphEdit",
    "GraphInfo",
    "LayerInfo",
    "ObjectShape",
    "ParentObject",
    "RecordRef",
    "Representation",
    "ResultInfo",
    "Signature",
    "SlotDigest",
    "Software",
]


class Software(FrozenModel):
    """The software that produced the clustering."""

    python: str
    """Python version."""
    platform: str
    """Operating system and machine."""
    packages: dict[str, str]
    """Versions of the distributions involved, read with ``importlib.metadata``."""


class GraphInfo(FrozenModel):
    """The graph the clustering ran on, and its fingerprint."""

    source: Literal["obsp", "adjacency"]
    """``"obsp"``: a matrix stored in ``obsp``; ``"adjacency"``: a matrix passed in the call."""
    obsp_key: str | None
    """The ``obsp`` key of the graph, when it lives in the object."""
    neighbors_key: str | None
    """The ``uns`` key of the ``pp.neighbors`` result that points to the graph."""
    neighbors_params: dict[str, JsonValue] | None
    """A copy of ``uns[neighbors_key]["params"]``: how the graph was made."""
    n_nodes: NonNegativeInt
    """Rows of the matrix."""
    n_edges: NonNegativeInt
    """Stored entries of the matrix."""
    dtype: str
    """dtype of the edge weights."""
    hash_algorithm: str
    """Algorithm of ``digest`` (see docs: canonical CSR form)."""
    digest: Digest
    """Fingerprint of the canonical CSR form (shape, dtypes, indptr, indices, data)."""
    canonicalized: bool = False
    """True when the matrix had to be converted or sorted before hashing (a copy was made)."""


class ResultInfo(FrozenModel):
    """The labels the clustering wrote."""

    n_obs: NonNegativeInt
    """Number of observations labelled."""
    n_clusters: NonNegativeInt
    """Number of categories of the label column."""
    categories: list[str]
    """Category names, in order."""
    cluster_sizes: list[NonNegativeInt]
    """Cells per category, in the order of ``categories``."""
    hash_algorithm: str
    """Algorithm of the digests below."""
    labels_digest: Digest
    """Digest of the codes, the categories and ``obs_names`` (order included)."""
    partition_digest: Digest
    """Digest of the partition alone, invariant to renaming the labels."""
    obs_names_digest: Digest
    """Digest of ``obs_names`` in order."""
    modularity: float | None = None
    """Modularity (or quality) reported by the backend, when it gives one."""


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


class RecordRef(FrozenModel):
    """Another record this one was made from: one version of one key's history."""

    key: str
    """The ``uns`` key whose history holds the record (``"neighbors"``, ``"leiden_1"``)."""
    version: PositiveInt
    """Its version in that history."""
    digest: Digest
    """Its ``digest``: which record, even if the history is rewritten later."""


class ClusteringUse(FrozenModel):
    """The labels of one ``obs`` clustering, as a result read them."""

    key: str
    """The ``obs`` column (``groupby``/``groups``)."""
    record: RecordRef | None
    """The clustering record of these labels (the key's latest version when they matched
    it), ``None`` when the column was not recorded."""
    categories: list[str]
    """Category names in order, as the result saw them."""
    n_clusters: NonNegativeInt
    """Number of categories."""
    hash_algorithm: str
    """Algorithm of the digests below."""
    partition_digest: Digest
    """Digest of the partition alone (as ``ResultInfo.partition_digest``)."""
    names_digest: Digest
    """Digest of each cell's label name, invariant to the order of the categories and to
    unused ones: a changed value means the labels were renamed or re-clustered."""
    obs_names_digest: Digest
    """Digest of ``obs_names`` in order."""


class Representation(FrozenModel):
    """The matrix a neighbors graph was computed from."""

    name: str
    """``"X"`` or the ``obsm`` key (``"X_pca"``, ``use_rep``)."""
    n_obs: NonNegativeInt
    """Rows."""
    n_dims: NonNegativeInt
    """Columns used (``n_pcs`` of them when given)."""
    dtype: str
    """numpy dtype of the stored matrix."""
    hash_algorithm: str
    """Algorithm of ``digest``."""
    digest: Digest
    """Digest of the whole stored matrix (its values, shape and dtype)."""


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
