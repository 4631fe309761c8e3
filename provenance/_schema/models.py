"""The record models under stable names, and the union of every version for reading.

The current schema version's models are exported here (and from ``provenance``) under names
that do not change with the version: ``ClusteringRecord`` is ``v1_6.ClusteringRecord`` today.
Older versions stay readable: :data:`AnyClusteringRecord` tells them apart by their
``schema_version`` and, from 1.3, their ``kind`` (a discriminated union, never "try each
model"), and ``_schema/convert.py`` upgrades them to the current one. Only clusterings have
older versions than 1.3; the steps around them (:class:`NeighborsRecord`, :class:`ResultRecord`)
start at 1.3, the embeddings (:class:`EmbeddingRecord`, ``sc.tl.umap``) at 1.5, the
transforms (:class:`TransformRecord`, ``sc.pp.*``) and concatenations (:class:`ConcatRecord`)
at 1.6.

Adding a version (see ``docs/schema.md``): a module ``v1_N.py``, its record in
:data:`AnyRecord`, the names below pointed at it, and a converter from the previous
version in ``convert.CONVERTERS``.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, get_args

from pydantic import Discriminator, Tag, TypeAdapter

from . import v1_0, v1_1, v1_2, v1_3, v1_4, v1_5, v1_6
from .base import RecordBase, build
from .v1_2 import (
    GraphInfo,
    LayerInfo,
    LeidenParams,
    LouvainParams,
    MuonLeidenParams,
    MuonLouvainParams,
    Params,
    RestrictTo,
    ResultInfo,
    Software,
)
from .v1_3 import RESULT_KINDS, ClusteringUse, RecordRef, Representation
from .v1_4 import Signature
from .v1_5 import MAX_GRAPH_EDIT, GraphEdit
from .v1_6 import (
    EMBEDDING_KINDS,
    ClusteringRecord,
    ConcatPart,
    ConcatRecord,
    EmbeddingRecord,
    NeighborsRecord,
    ObjectShape,
    ParentObject,
    ResultRecord,
    SlotDigest,
    TransformRecord,
)
from .v1_6 import VERSION as SCHEMA_VERSION

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "EMBEDDING_KINDS",
    "MAX_GRAPH_EDIT",
    "RECORD_MODELS",
    "RESULT_KINDS",
    "SCHEMA_VERSION",
    "STEP_MODELS",
    "STEP_MODELS_BY_VERSION",
    "AnyClusteringRecord",
    "AnyRecord",
    "ClusteringRecord",
    "ClusteringUse",
    "ConcatPart",
    "ConcatRecord",
    "EmbeddingRecord",
    "GraphEdit",
    "GraphInfo",
    "LayerInfo",
    "LeidenParams",
    "LouvainParams",
    "MuonLeidenParams",
    "MuonLouvainParams",
    "NeighborsRecord",
    "ObjectShape",
    "Params",
    "ParentObject",
    "RecordBase",
    "RecordRef",
    "Representation",
    "RestrictTo",
    "ResultInfo",
    "ResultRecord",
    "Signature",
    "SlotDigest",
    "Software",
    "StepRecord",
    "TransformRecord",
    "validate_any",
]

AnyRecord = (
    v1_0.ClusteringRecord
    | v1_1.ClusteringRecord
    | v1_2.ClusteringRecord
    | v1_3.ClusteringRecord
    | v1_3.NeighborsRecord
    | v1_3.ResultRecord
    | v1_4.ClusteringRecord
    | v1_4.NeighborsRecord
    | v1_4.ResultRecord
    | v1_5.ClusteringRecord
    | v1_5.NeighborsRecord
    | v1_5.ResultRecord
    | v1_5.EmbeddingRecord
    | v1_6.ClusteringRecord
    | v1_6.NeighborsRecord
    | v1_6.ResultRecord
    | v1_6.EmbeddingRecord
    | v1_6.TransformRecord
    | v1_6.ConcatRecord
)
"""A record of any schema version and kind this package reads (add a new version's here)."""

StepRecord = NeighborsRecord | ResultRecord | EmbeddingRecord | TransformRecord | ConcatRecord
"""A current record of a step around a clustering (neighbors, markers, dendrogram, PAGA,
embeddings, the ``sc.pp`` transforms, concatenations)."""


def _record_tag(value: Any) -> str | None:
    """``"1.0"``... for the clustering-only versions, ``"1.3:<kind>"`` from 1.3: read, never
    tried. A 1.3 result kind maps to ``"1.3:result"``."""
    if isinstance(value, dict):
        version, kind = value.get("schema_version"), value.get("kind")
    else:
        version, kind = getattr(value, "schema_version", None), getattr(value, "kind", None)
    if not isinstance(version, str):
        return None
    if version in ("1.0", "1.1", "1.2"):
        return version
    if kind in RESULT_KINDS:
        kind = "result"
    elif kind in EMBEDDING_KINDS:
        kind = "embedding"
    return f"{version}:{kind}" if isinstance(kind, str) else None


AnyClusteringRecord = Annotated[
    Annotated[v1_0.ClusteringRecord, Tag("1.0")]
    | Annotated[v1_1.ClusteringRecord, Tag("1.1")]
    | Annotated[v1_2.ClusteringRecord, Tag("1.2")]
    | Annotated[v1_3.ClusteringRecord, Tag("1.3:clustering")]
    | Annotated[v1_3.NeighborsRecord, Tag("1.3:neighbors")]
    | Annotated[v1_3.ResultRecord, Tag("1.3:result")]
    | Annotated[v1_4.ClusteringRecord, Tag("1.4:clustering")]
    | Annotated[v1_4.NeighborsRecord, Tag("1.4:neighbors")]
    | Annotated[v1_4.ResultRecord, Tag("1.4:result")]
    | Annotated[v1_5.ClusteringRecord, Tag("1.5:clustering")]
    | Annotated[v1_5.NeighborsRecord, Tag("1.5:neighbors")]
    | Annotated[v1_5.ResultRecord, Tag("1.5:result")]
    | Annotated[v1_5.EmbeddingRecord, Tag("1.5:embedding")]
    | Annotated[v1_6.ClusteringRecord, Tag("1.6:clustering")]
    | Annotated[v1_6.NeighborsRecord, Tag("1.6:neighbors")]
    | Annotated[v1_6.ResultRecord, Tag("1.6:result")]
    | Annotated[v1_6.EmbeddingRecord, Tag("1.6:embedding")]
    | Annotated[v1_6.TransformRecord, Tag("1.6:transform")]
    | Annotated[v1_6.ConcatRecord, Tag("1.6:concat")],
    Discriminator(_record_tag),
]
""":data:`AnyRecord` told apart by ``schema_version`` and ``kind`` when validating."""

RECORD_MODELS: dict[str, type[RecordBase]] = {
    m.model_fields["schema_version"].default: m
    for m in (
        v1_0.ClusteringRecord,
        v1_1.ClusteringRecord,
        v1_2.ClusteringRecord,
        v1_3.ClusteringRecord,
        v1_4.ClusteringRecord,
        v1_5.ClusteringRecord,
        ClusteringRecord,
    )
}
"""The clustering record model of each readable schema version, oldest first."""

STEP_MODELS: dict[str, type[RecordBase]] = {
    "neighbors": NeighborsRecord,
    "result": ResultRecord,
    "embedding": EmbeddingRecord,
    "transform": TransformRecord,
    "concat": ConcatRecord,
}
"""The current models of the steps around a clustering, by kind (every result kind is
``"result"``, every embedding kind ``"embedding"``)."""

STEP_MODELS_BY_VERSION: dict[str, dict[str, type[RecordBase]]] = {
    v1_3.VERSION: {"neighbors": v1_3.NeighborsRecord, "result": v1_3.ResultRecord},
    v1_4.VERSION: {"neighbors": v1_4.NeighborsRecord, "result": v1_4.ResultRecord},
    v1_5.VERSION: {
        "neighbors": v1_5.NeighborsRecord,
        "result": v1_5.ResultRecord,
        "embedding": v1_5.EmbeddingRecord,
    },
    SCHEMA_VERSION: STEP_MODELS,
}
"""The step models of each readable schema version that has them (from 1.3), oldest first."""


@cache
def _any_record() -> TypeAdapter[AnyRecord]:
    # Built on first read, not at import (``import provenance`` stays light).
    return TypeAdapter(AnyClusteringRecord)


_TAGGED: dict[str, type[RecordBase]] = {
    tag.tag: model
    for model, tag in (get_args(member) for member in get_args(get_args(AnyClusteringRecord)[0]))
}
"""The model of each tag of :data:`AnyClusteringRecord` (``"1.6:clustering"``: the current
:class:`ClusteringRecord`)."""


@cache
def _one_record(tag: str) -> TypeAdapter[AnyRecord]:
    # The union cut down to one tag: the same validation and errors (locations start with the
    # tag), but only the models of that version and kind are built, not every version's.
    model = _TAGGED[tag]
    build(model)  # the union then reuses the model's own schema, and its nested models'
    # A second member the tag function never picks: pydantic 2.11 refuses a discriminated
    # union of one member (2.14 accepts it).
    members: Any = Annotated[model, Tag(tag)] | Annotated[None, Tag("")]
    return TypeAdapter(Annotated[members, Discriminator(_record_tag)])


def validate_any(obj: Mapping[str, Any]) -> AnyRecord:
    """Validate a record dict against the model of its own ``schema_version`` and ``kind``.

    Raises :class:`pydantic.ValidationError`; its error locations start with the tag.
    """
    tag = _record_tag(obj)
    if tag in _TAGGED:
        return _one_record(tag).validate_python(obj)
    return _any_record().validate_python(obj)  # no or an unknown tag: the union's own error
