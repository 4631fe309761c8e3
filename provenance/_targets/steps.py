"""The contract of a recorded step around a clustering: neighbors, markers, dendrogram, PAGA.

A step target is what the package knows about one such function. It says which ``uns`` key a
call writes (:meth:`StepTarget.written_key`), its arguments in JSON-safe form
(:meth:`StepTarget.arguments`) and the fields of its record that are the function's own
(:meth:`StepTarget.describe`: a neighbors record's representation and graphs; a result's
clusterings used, parent records, graph and expression source). The recorder
(``_record/step_call.py``) does the rest as for a clustering: it keeps the key's history
through scanpy's wipe of ``uns[key]``, links the versions, and adds none for an identical
re-run.

The helpers below build the parts records share: :func:`clustering_use` (the labels a result
grouped by, and their clustering record), :func:`neighbors_ref` (the neighbors record whose
graph a clustering or PAGA read), :func:`graph_origin` (that record, and the recorded steps
that changed its graph in place since: scanpy 1.11's ``sc.tl.umap``), :func:`step_ref` (a
step's latest record).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, ClassVar

from provenance._base.errors import ProvenanceError
from provenance._schema.models import ClusteringUse, NeighborsRecord, RecordRef
from provenance._storage.codec import PROVENANCE_FIELD, decode_record, history_texts
from provenance._storage.history import latest_step
from provenance._util.fingerprint import (
    HASH_ALGORITHM,
    array_digest,
    label_digests,
    label_names_digest,
)
from provenance._util.jsonsafe import jsonable

from .base import RecordedFunction

if TYPE_CHECKING:
    from anndata import AnnData

    from provenance._schema.models import (
        ConcatRecord,
        EmbeddingRecord,
        GraphInfo,
        ResultRecord,
        TransformRecord,
    )

__all__ = [
    "StepTarget",
    "clustering_use",
    "graph_origin",
    "neighbors_ref",
    "step_ref",
    "summarise",
]

_SMALL = 256  # elements of an array argument stored as values; larger ones as a digest


class StepTarget(RecordedFunction):
    """One recorded step. Subclass it, set the class attributes, implement :meth:`describe`
    (or :meth:`describe_call`, when the record needs what :meth:`before` kept).

    The recorder binds each call to the function's signature (defaults applied, ``**kwargs``
    split off) and hands it over as ``named`` (argument name -> value, the data object under
    the first parameter's name) and ``var_kw``. Instances are stateless.

    Class attributes
    ----------------
    module, attr, function, default_key
        As for every recorded function (:class:`~provenance._targets.base.RecordedFunction`);
        ``default_key`` is the ``uns`` key written without ``key_added``.
    kind
        The record's ``kind``: ``"neighbors"``, a :data:`~provenance._schema.models.RESULT_KINDS`
        or :data:`~provenance._schema.models.EMBEDDING_KINDS` member.
    record_model
        :class:`~provenance.NeighborsRecord`, :class:`~provenance.ResultRecord` or
        :class:`~provenance.EmbeddingRecord`.
    defaults
        The function's arguments with the default they have in every supported version, in
        signature order: the call the audit advises to re-run (``stale_result``) leaves out
        an argument recorded at its default; one not listed is always written out.
    """

    kind: ClassVar[str]
    packages: ClassVar[tuple[str, ...]] = ()
    """Distributions whose versions the record keeps besides the core ones (``umap-learn``)."""
    record_model: ClassVar[
        type[NeighborsRecord]
        | type[ResultRecord]
        | type[EmbeddingRecord]
        | type[TransformRecord]
        | type[ConcatRecord]
    ]
    defaults: ClassVar[Mapping[str, Any]] = {}
    writes_uns: ClassVar[bool] = True
    """Whether the function writes ``uns[key]`` itself; a step that does not
    (``sc.pp.normalize_total``) gets an entry of its own there for its history."""

    def written_key(self, named: Mapping[str, Any]) -> str:
        """The ``uns`` key the bound call writes (``key_added``, else :attr:`default_key`)."""
        key = named.get("key_added")
        return self.default_key if key is None else str(key)

    def copies(self, named: Mapping[str, Any]) -> bool:
        """Whether the call returns a modified copy (``copy=True``) instead of writing in place."""
        return bool(named.get("copy", False))

    def arguments(self, named: Mapping[str, Any], var_kw: Mapping[str, Any]) -> dict[str, Any]:
        """Every argument but the data object, defaults applied, JSON-safe (see :func:`summarise`).

        ``**kwargs`` are merged in by name, as the call passed them on.
        """
        first = next(iter(named), None)
        out = {k: summarise(v) for k, v in named.items() if k != first}
        out.update({str(k): summarise(v) for k, v in var_kw.items()})
        return out

    def before(self, adata: AnnData, named: Mapping[str, Any]) -> Any:
        """What the record needs from the object as it was before the call (``None``: nothing).

        Called before the function runs; what it returns is handed to :meth:`describe_call`.
        ``sc.tl.umap`` keeps the graph it is about to read, to tell whether the call changed it.
        """
        return None

    def describe_call(
        self,
        out: AnnData,
        named: Mapping[str, Any],
        *,
        key: str,
        names_digest: str,
        before: Any,
    ) -> dict[str, Any]:
        """:meth:`describe`, given what :meth:`before` kept; the recorder calls this one. A
        target that needs ``before`` implements this instead of :meth:`describe`."""
        return self.describe(out, named, key=key, names_digest=names_digest)

    def describe(
        self, out: AnnData, named: Mapping[str, Any], *, key: str, names_digest: str
    ) -> dict[str, Any]:
        """The record's fields that are this function's own, read from ``out`` after the call.

        Neighbors: ``representation`` and ``graphs``. Results: ``uses``, ``parents``,
        ``graph``, ``source``. ``names_digest`` is the digest of ``out.obs_names``. Raise
        ``ProvenanceError`` when the call cannot be described: the recorder reports it and
        keeps the key's history as it was.
        """
        raise NotImplementedError


def summarise(value: Any) -> Any:
    """A JSON-safe form of one argument; an array or sparse matrix with more than 256 entries
    becomes ``{"$type": "ndarray" | "sparse", "dtype", "shape", "digest"}``, hashed in place.

    pandas containers (an ``Index`` of groups, a boolean ``Series`` mask) count as arrays.
    Everything else is :func:`provenance._util.jsonsafe.jsonable`'s.
    """
    import numpy as np
    from scipy import sparse

    if sparse.issparse(value):
        return {
            "$type": "sparse",
            "format": str(value.format),
            "dtype": str(value.dtype),
            "shape": [int(n) for n in value.shape],
            "nnz": int(value.nnz),
            "digest": array_digest(value),
        }
    if hasattr(value, "to_numpy") and hasattr(value, "dtype"):  # pandas Index / Series
        value = value.to_numpy()
    if isinstance(value, np.ndarray) and value.size > _SMALL and value.dtype.kind in "biufc":
        return {
            "$type": "ndarray",
            "dtype": str(value.dtype),
            "shape": [int(n) for n in value.shape],
            "digest": array_digest(value),
        }
    return jsonable(value)


def clustering_use(adata: AnnData, column: str, *, names_digest: str) -> ClusteringUse:
    """The labels of ``obs[column]`` as a result reads them, naming their clustering record.

    ``record`` is the latest record of ``column``'s history when its ``labels_digest`` is that
    of the column now (the labels used are the recorded ones), else ``None``.
    """
    if column not in adata.obs:
        msg = f"obs[{column!r}] is missing after the call; cannot say which labels it used."
        raise ProvenanceError(msg)
    labels = adata.obs[column]
    digests = label_digests(labels, adata.obs_names, names_digest=names_digest)
    return ClusteringUse(
        key=column,
        record=_clustering_ref(adata, column, digests["labels_digest"]),
        categories=digests["categories"],
        n_clusters=len(digests["categories"]),
        hash_algorithm=HASH_ALGORITHM,
        partition_digest=digests["partition_digest"],
        names_digest=label_names_digest(labels, names_digest=names_digest),
        obs_names_digest=names_digest,
    )


def _clustering_ref(adata: AnnData, key: str, labels_digest: str) -> RecordRef | None:
    entry = adata.uns.get(key)
    if not isinstance(entry, Mapping) or PROVENANCE_FIELD not in entry:
        return None
    try:
        texts = history_texts(entry[PROVENANCE_FIELD], key=key)
        if not texts:
            return None
        rec = decode_record(texts[-1], key=key, index=len(texts) - 1)
    except ProvenanceError:
        return None  # a damaged history is the audit's to report; the labels are unrecorded
    if rec.result.labels_digest != labels_digest:
        return None
    return RecordRef(key=key, version=rec.version, digest=rec.digest)


def step_ref(adata: AnnData, key: str, kind: str) -> RecordRef | None:
    """The latest record of the step that wrote ``uns[key]`` when it is of ``kind``."""
    try:
        rec = latest_step(adata, key)
    except ProvenanceError:
        return None
    if rec is None or rec.kind != kind:
        return None
    return RecordRef(key=key, version=rec.version, digest=rec.digest)


def neighbors_ref(adata: AnnData, graph: GraphInfo | None) -> RecordRef | None:
    """The neighbors record that wrote ``graph`` (the one a clustering or PAGA read), if any.

    The graph must be an ``obsp`` matrix that the latest record of a neighbors key lists with
    the same digest: the key the call named, ``"neighbors"`` for ``obsp['connectivities']``,
    or a key whose ``connectivities_key`` is that matrix.
    """
    if graph is None or graph.obsp_key is None:
        return None
    obsp_key = graph.obsp_key
    keys = [graph.neighbors_key] if graph.neighbors_key else []
    if obsp_key == "connectivities":
        keys.append("neighbors")
    keys += [
        k
        for k, v in adata.uns.items()
        if isinstance(v, Mapping) and v.get("connectivities_key") == obsp_key
    ]
    for nk in dict.fromkeys(keys):
        try:
            rec = latest_step(adata, nk)
        except ProvenanceError:
            continue
        if isinstance(rec, NeighborsRecord) and any(
            g.obsp_key == obsp_key and g.digest == graph.digest for g in rec.graphs.values()
        ):
            return RecordRef(key=nk, version=rec.version, digest=rec.digest)
    return None


def graph_origin(
    adata: AnnData, graph: GraphInfo | None
) -> tuple[RecordRef | None, list[RecordRef]]:
    """The neighbors record that wrote ``graph``, and the recorded steps that changed it in
    place since, oldest first (``(None, [])`` when no record explains the graph).

    The graph is the one a neighbors record wrote (:func:`neighbors_ref`), or the one a
    recorded step left after editing such a graph: an embedding record whose ``graph_edit``
    ends at this digest, followed back (through further edits) to a neighbors record.
    """
    ref = neighbors_ref(adata, graph)
    if ref is not None or graph is None or graph.obsp_key is None:
        return ref, []
    edits = _graph_edits(adata, graph.obsp_key)
    chain: list[RecordRef] = []
    digest = graph.digest
    while len(chain) < len(edits):
        step = next((e for e in edits if e[1] == digest), None)
        if step is None:
            return None, []
        before, _, edit_ref = step
        chain.insert(0, edit_ref)
        ref = neighbors_ref(adata, graph.model_copy(update={"digest": before}))
        if ref is not None:
            return ref, chain
        digest = before
    return None, []


def _graph_edits(adata: AnnData, obsp_key: str) -> list[tuple[str, str, RecordRef]]:
    """``(digest_before, digest_after, ref)`` of every recorded in-place edit of
    ``obsp[obsp_key]``, newest first (an embedding step's ``graph_edit``)."""
    from provenance._schema.models import EMBEDDING_KINDS, EmbeddingRecord
    from provenance._storage.codec import entry_kind
    from provenance._storage.history import step_history

    out = []
    for key, entry in adata.uns.items():
        if entry_kind(entry) not in EMBEDDING_KINDS:
            continue
        try:
            records = step_history(adata, str(key))
        except ProvenanceError:
            continue
        for rec in reversed(records):
            edit = rec.graph_edit if isinstance(rec, EmbeddingRecord) else None
            if edit is not None and edit.obsp_key == obsp_key:
                ref = RecordRef(key=str(key), version=rec.version, digest=rec.digest)
                out.append((edit.digest_before, edit.digest_after, ref))
    return out
