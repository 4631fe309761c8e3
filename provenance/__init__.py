"""anndata-provenance: how every clustering in an AnnData file was made.

Every type a user can reach (returned by a function or held by a result) is importable from
here. ``import provenance`` stays light: scanpy, anndata, h5py and zarr are imported only when a
function needs them.
"""

from __future__ import annotations

from ._audit.audit import AuditEntry, AuditReport, Finding, audit
from ._base.errors import (
    HistoryLimitError,
    InvalidRecordError,
    NewerSchemaError,
    ProvenanceError,
    ProvenanceWarning,
    ReplayError,
    UnknownKeyError,
    UnknownVersionError,
    UnreadableFileError,
)
from ._compare.adopt import adopt
from ._compare.diff import Diff, DiffRow, diff
from ._compare.replay import replay
from ._compare.replay_result import ReplayResult
from ._record.recorder import Recording, record
from ._record.session import load_ipython_extension, start, stop, unload_ipython_extension
from ._render.show import show  # importing _render registers the results' renderers
from ._schema.models import (
    SCHEMA_VERSION,
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
from ._storage.history import history, latest
from ._version import __version__

__all__ = [
    "SCHEMA_VERSION",
    "AuditEntry",
    "AuditReport",
    "ClusteringRecord",
    "Diff",
    "DiffRow",
    "Finding",
    "GraphInfo",
    "HistoryLimitError",
    "InvalidRecordError",
    "LayerInfo",
    "LeidenParams",
    "LouvainParams",
    "MuonLeidenParams",
    "MuonLouvainParams",
    "NewerSchemaError",
    "Params",
    "ProvenanceError",
    "ProvenanceWarning",
    "Recording",
    "ReplayError",
    "ReplayResult",
    "RestrictTo",
    "ResultInfo",
    "Software",
    "UnknownKeyError",
    "UnknownVersionError",
    "UnreadableFileError",
    "__version__",
    "adopt",
    "audit",
    "diff",
    "history",
    "latest",
    "load_ipython_extension",
    "record",
    "replay",
    "show",
    "start",
    "stop",
    "unload_ipython_extension",
]
