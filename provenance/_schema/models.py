"""The record models under stable names, and the union of every version for reading.

The current schema version's models are exported here (and from ``provenance``) under names
that do not change with the version: ``ClusteringRecord`` is ``v1_2.ClusteringRecord`` today.
Older versions stay readable: :data:`AnyClusteringRecord` tells them apart by their
``schema_version`` (a discriminated union, never "try each model"), and
``_schema/convert.py`` upgrades them to the current one.

Adding a version (see ``docs/schema.md``): a module ``v1_N.py``, its record in
:data:`AnyRecord`, the names below pointed at it, and a converter from the previous
version in ``convert.CONVERTERS``.
"""

from __future__ import annotations

from functools import cache
from typing import TYPE_CHECKING, Annotated, Any, get_args

from pydantic import Field, TypeAdapter

from . import v1_0, v1_1, v1_2
from .base import RecordBase
from .v1_2 import VERSION as SCHEMA_VERSION
from .v1_2 import (
    ClusteringRecord,
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

if TYPE_CHECKING:
    from collections.abc import Mapping

__all__ = [
    "RECORD_MODELS",
    "SCHEMA_VERSION",
    "AnyClusteringRecord",
    "AnyRecord",
    "ClusteringRecord",
    "GraphInfo",
    "LayerInfo",
    "LeidenParams",
    "LouvainParams",
    "MuonLeidenParams",
    "MuonLouvainParams",
    "Params",
    "RecordBase",
    "RestrictTo",
    "ResultInfo",
    "Software",
    "validate_any",
]

AnyRecord = v1_0.ClusteringRecord | v1_1.ClusteringRecord | v1_2.ClusteringRecord
"""A record of any schema version this package reads (add a new version's record here)."""

AnyClusteringRecord = Annotated[AnyRecord, Field(discriminator="schema_version")]
""":data:`AnyRecord` told apart by ``schema_version`` when validating."""

RECORD_MODELS: dict[str, type[RecordBase]] = {
    m.model_fields["schema_version"].default: m for m in get_args(AnyRecord)
}
"""The record model of each readable schema version, oldest first (derived from the union)."""


@cache
def _any_record() -> TypeAdapter[AnyRecord]:
    # Built on first read, not at import (``import provenance`` stays light).
    return TypeAdapter(AnyClusteringRecord)


def validate_any(obj: Mapping[str, Any]) -> AnyRecord:
    """Validate a record dict against the model of its own ``schema_version``.

    Raises :class:`pydantic.ValidationError`; its error locations start with the version tag.
    """
    return _any_record().validate_python(obj)
