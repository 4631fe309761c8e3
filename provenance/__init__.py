"""anndata-provenance: how every clustering in an AnnData file was made.

``import provenance`` stays light: scanpy, anndata, h5py and zarr are imported only when a
function needs them.
"""

from __future__ import annotations

from ._adopt import adopt
from ._audit import AuditEntry, AuditReport, Finding, audit, show
from ._diff import Diff, diff
from ._errors import (
    HistoryLimitError,
    InvalidRecordError,
    NewerSchemaError,
    ProvenanceError,
    ProvenanceWarning,
    ReplayError,
    UnknownKeyError,
    UnknownVersionError,
)
from ._files import UnreadableFileError
from ._history import history, latest
from ._models import SCHEMA_VERSION, ClusteringRecord, LeidenParams, LouvainParams
from ._recorder import Recording, record
from ._replay import replay
from ._replay_result import ReplayResult
from ._version import __version__

__all__ = [
    "SCHEMA_VERSION",
    "AuditEntry",
    "AuditReport",
    "ClusteringRecord",
    "Diff",
    "Finding",
    "HistoryLimitError",
    "InvalidRecordError",
    "LeidenParams",
    "LouvainParams",
    "NewerSchemaError",
    "ProvenanceError",
    "ProvenanceWarning",
    "Recording",
    "ReplayError",
    "ReplayResult",
    "UnknownKeyError",
    "UnknownVersionError",
    "UnreadableFileError",
    "__version__",
    "adopt",
    "audit",
    "diff",
    "history",
    "latest",
    "record",
    "replay",
    "show",
]
