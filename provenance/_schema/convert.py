"""Converters between schema versions, keyed by the version they convert from.

Each converter takes a validated record of its version and returns the record in the next
version (never mutating it); :func:`upgrade` chains them up to the current version. An upgraded
record keeps verifying against the digest it was written with (``RecordBase._written``), while
any edit of its content still breaks it.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import v1_6
from .models import (
    SCHEMA_VERSION,
    ClusteringRecord,
    StepRecord,
)
from .resolve import resolve_params

if TYPE_CHECKING:
    from collections.abc import Callable

    from . import v1_0, v1_1, v1_2, v1_3, v1_4, v1_5
    from .models import AnyRecord

__all__ = ["CONVERTERS", "upgrade"]


def _v1_0_to_v1_1(rec: v1_0.ClusteringRecord) -> v1_1.ClusteringRecord:
    """1.0 -> 1.1: the effective ``flavor``/``directed``, ``passed`` and ``not_in_effect``.

    What a function resolves does not depend on the scanpy version that ran it (the
    resolutions are the same in every scanpy that has the argument), so 1.0 records made on
    scanpy 1.12 with ``flavor=None`` read as the ``"leidenalg"`` run they were.
    """
    from . import v1_1  # the older versions: imported when a file holds one

    obj = rec.model_dump(mode="json")
    obj["schema_version"] = v1_1.VERSION
    obj["params"] = resolve_params(obj["params"])
    return v1_1.ClusteringRecord.model_validate(obj)


def _v1_1_to_v1_2(rec: v1_1.ClusteringRecord) -> v1_2.ClusteringRecord:
    """1.1 -> 1.2: additive (``layers``, muon's params); a 1.1 record is valid 1.2 content."""
    from . import v1_2

    obj = rec.model_dump(mode="json")
    obj["schema_version"] = v1_2.VERSION
    return v1_2.ClusteringRecord.model_validate(obj)


def _v1_2_to_v1_3(rec: v1_2.ClusteringRecord) -> v1_3.ClusteringRecord:
    """1.2 -> 1.3: additive (``kind``, ``neighbors`` unknown: ``None``)."""
    from . import v1_3

    obj = rec.model_dump(mode="json")
    obj["schema_version"] = v1_3.VERSION
    return v1_3.ClusteringRecord.model_validate(obj)


def _v1_3_to_v1_4(
    rec: v1_3.ClusteringRecord | v1_3.NeighborsRecord | v1_3.ResultRecord,
) -> v1_4.ClusteringRecord | v1_4.NeighborsRecord | v1_4.ResultRecord:
    """1.3 -> 1.4, every kind: additive (``signature``: ``None``, a 1.3 record is unsigned)."""
    from . import v1_4

    obj = rec.model_dump(mode="json")
    obj["schema_version"] = v1_4.VERSION
    models: dict[str, type[v1_4.ClusteringRecord | v1_4.NeighborsRecord | v1_4.ResultRecord]] = {
        "clustering": v1_4.ClusteringRecord,
        "neighbors": v1_4.NeighborsRecord,
    }
    return models.get(rec.kind, v1_4.ResultRecord).model_validate(obj)


def _v1_4_to_v1_5(
    rec: v1_4.ClusteringRecord | v1_4.NeighborsRecord | v1_4.ResultRecord,
) -> v1_5.ClusteringRecord | v1_5.NeighborsRecord | v1_5.ResultRecord:
    """1.4 -> 1.5, every kind: additive (``graph_steps``: ``[]``; no embedding records)."""
    from . import v1_5

    obj = rec.model_dump(mode="json")
    obj["schema_version"] = v1_5.VERSION
    models: dict[str, type[v1_5.ClusteringRecord | v1_5.NeighborsRecord | v1_5.ResultRecord]] = {
        "clustering": v1_5.ClusteringRecord,
        "neighbors": v1_5.NeighborsRecord,
    }
    return models.get(rec.kind, v1_5.ResultRecord).model_validate(obj)


_V1_6_MODELS: dict[str, type[v1_6.ClusteringRecord | v1_6.NeighborsRecord | v1_6.ResultRecord]] = {
    "clustering": v1_6.ClusteringRecord,
    "neighbors": v1_6.NeighborsRecord,
}


def _v1_5_to_v1_6(
    rec: v1_5.ClusteringRecord | v1_5.NeighborsRecord | v1_5.ResultRecord | v1_5.EmbeddingRecord,
) -> v1_6.ClusteringRecord | v1_6.NeighborsRecord | v1_6.ResultRecord | v1_6.EmbeddingRecord:
    """1.5 -> 1.6, every kind: additive (``reads``/``writes``: ``{}``, ``parent``: ``None``;
    no transform or concat records)."""
    from . import v1_5

    obj = rec.model_dump(mode="json")
    obj["schema_version"] = v1_6.VERSION
    if isinstance(rec, v1_5.EmbeddingRecord):
        return v1_6.EmbeddingRecord.model_validate(obj)
    return _V1_6_MODELS.get(rec.kind, v1_6.ResultRecord).model_validate(obj)


CONVERTERS: dict[str, Callable[[Any], AnyRecord]] = {
    "1.0": _v1_0_to_v1_1,
    "1.1": _v1_1_to_v1_2,
    "1.2": _v1_2_to_v1_3,
    "1.3": _v1_3_to_v1_4,
    "1.4": _v1_4_to_v1_5,
    "1.5": _v1_5_to_v1_6,
}
"""Converter from each older schema version to the next one."""


def upgrade(record: AnyRecord, *, written_digest: str) -> ClusteringRecord | StepRecord:
    """The current-version record for a validated record of any readable version and kind.

    ``written_digest`` is the digest of the record as it was written (in its own version);
    the upgraded record's :meth:`~provenance.ClusteringRecord.expected_digest` returns it as
    long as the upgraded content is unchanged. Raises :class:`pydantic.ValidationError` when
    a converted record does not validate in the next version.
    """
    while record.schema_version != SCHEMA_VERSION:
        record = CONVERTERS[record.schema_version](record)
    # The last converter returns a current record.
    assert isinstance(record, ClusteringRecord | StepRecord)
    return record._as_written(written_digest)
