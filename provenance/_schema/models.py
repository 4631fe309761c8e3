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
from importlib import import_module
from typing import TYPE_CHECKING, Annotated, Any, Union

from pydantic import Discriminator, Tag, TypeAdapter

from .base import RecordBase, build
from .v1_6 import (
    EMBEDDING_KINDS,
    RESULT_KINDS,
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
from .v1_6_params import (
    LeidenParams,
    LouvainParams,
    MuonLeidenParams,
    MuonLouvainParams,
    Params,
    RestrictTo,
)
from .v1_6_parts import (
    MAX_GRAPH_EDIT,
    ClusteringUse,
    GraphEdit,
    GraphInfo,
    LayerInfo,
    RecordRef,
    Representation,
    ResultInfo,
    Signature,
    Software,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from . import v1_0, v1_1, v1_2, v1_3, v1_4, v1_5, v1_6

    # At run time these are built on first use (``__getattr__`` below): they name every older
    # version's models, which a command reading current records never defines.
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
    AnyClusteringRecord: Any
    RECORD_MODELS: dict[str, type[RecordBase]]
    STEP_MODELS_BY_VERSION: dict[str, dict[str, type[RecordBase]]]

__all__ = [
    "EMBEDDING_KINDS",
    "MAX_GRAPH_EDIT",
    "READABLE_VERSIONS",
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


STEP_MODELS: dict[str, type[RecordBase]] = {
    "neighbors": NeighborsRecord,
    "result": ResultRecord,
    "embedding": EmbeddingRecord,
    "transform": TransformRecord,
    "concat": ConcatRecord,
}
"""The current models of the steps around a clustering, by kind (every result kind is
``"result"``, every embedding kind ``"embedding"``)."""

READABLE_VERSIONS: tuple[str, ...] = ("1.0", "1.1", "1.2", "1.3", "1.4", "1.5", SCHEMA_VERSION)
"""Every schema version this package reads, oldest first (``RECORD_MODELS``' keys)."""

_TAGS: dict[str, tuple[str, str]] = {
    "1.0": ("v1_0", "ClusteringRecord"),
    "1.1": ("v1_1", "ClusteringRecord"),
    "1.2": ("v1_2", "ClusteringRecord"),
    **{
        f"{version}:{kind}": (f"v1_{version[-1]}", f"{kind.capitalize()}Record")
        for version, kinds in (
            ("1.3", ("clustering", "neighbors", "result")),
            ("1.4", ("clustering", "neighbors", "result")),
            ("1.5", ("clustering", "neighbors", "result", "embedding")),
            ("1.6", ("clustering", "neighbors", "result", "embedding", "transform", "concat")),
        )
        for kind in kinds
    },
}
"""The model of each tag :func:`_record_tag` gives, by module and class name: a version's
module is imported when a record of it is read (``"1.6:clustering"``: the current
:class:`ClusteringRecord`)."""


def _model(tag: str) -> type[RecordBase]:
    module, name = _TAGS[tag]
    model: type[RecordBase] = getattr(import_module(f"{__package__}.{module}"), name)
    return model


@cache
def _lazy(name: str) -> Any:
    """The names that hold every version's models, built on first use."""
    if name == "AnyClusteringRecord":
        members = tuple(Annotated[_model(tag), Tag(tag)] for tag in _TAGS)
        return Annotated[Union[members], Discriminator(_record_tag)]  # noqa: UP007 (built)
    if name == "AnyRecord":
        return Union[tuple(_model(tag) for tag in _TAGS)]  # noqa: UP007 (built)
    if name == "RECORD_MODELS":
        return {v: _model(v if v in _TAGS else f"{v}:clustering") for v in READABLE_VERSIONS}
    if name == "STEP_MODELS_BY_VERSION":
        kinds = ("neighbors", "result", "embedding", "transform", "concat")
        return {
            v: {k: _model(f"{v}:{k}") for k in kinds if f"{v}:{k}" in _TAGS}
            for v in READABLE_VERSIONS
            if f"{v}:neighbors" in _TAGS
        }
    if name == "_TAGGED":
        return {tag: _model(tag) for tag in _TAGS}
    raise AttributeError(name)


def __getattr__(name: str) -> Any:
    try:
        return _lazy(name)
    except AttributeError:
        msg = f"module {__name__!r} has no attribute {name!r}"
        raise AttributeError(msg) from None


@cache
def _any_record() -> TypeAdapter[AnyRecord]:
    # Built on first read of a record with no or an unknown tag (for the union's own error).
    return TypeAdapter(_lazy("AnyClusteringRecord"))


@cache
def _one_record(tag: str) -> TypeAdapter[AnyRecord]:
    # The union cut down to one tag: the same validation and errors (locations start with the
    # tag), but only the models of that version and kind are built (and imported), not every
    # version's.
    model = _model(tag)
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
    if tag in _TAGS:
        return _one_record(tag).validate_python(obj)
    return _any_record().validate_python(obj)  # no or an unknown tag: the union's own error
