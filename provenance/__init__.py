"""anndata-provenance: how every clustering in an AnnData file was made.

Every type a user can reach (returned by a function or held by a result) is importable from
here. ``import provenance`` stays light: scanpy, anndata, h5py and zarr are imported only when a
function needs them. On anndata >= 0.12, ``adata.provenance`` (:class:`ProvenanceAccessor`) is
registered once anndata is imported.
"""

from __future__ import annotations

from ._accessor import ProvenanceAccessor
from ._accessor import register as _register_accessor
from ._audit.audit import AuditEntry, AuditReport, Finding, StepEntry, audit
from ._audit.seal import seal
from ._base.errors import (
    HistoryLimitError,
    InvalidRecordError,
    LedgerError,
    NewerSchemaError,
    ProvenanceError,
    ProvenanceWarning,
    RemoteReadError,
    RemoteTimeoutError,
    ReplayError,
    SealRefusedError,
    UnknownKeyError,
    UnknownVersionError,
    UnreadableFileError,
)
from ._base.imports import when_imported as _when_imported
from ._compare.adopt import adopt
from ._compare.diff import Diff, DiffRow, diff
from ._compare.lineage import Lineage, LineageNode, lineage
from ._export.prov import to_prov
from ._export.rocrate import to_ro_crate
from ._record.recorder import Recording, record
from ._record.session import load_ipython_extension, start, stop, unload_ipython_extension
from ._render.show import show  # importing _render registers the results' renderers
from ._replay.replay import replay
from ._replay.result import PipelineReplay, PipelineStep, ReplayResult, SlotComparison
from ._schema.models import (
    SCHEMA_VERSION,
    ClusteringRecord,
    ClusteringUse,
    ConcatPart,
    ConcatRecord,
    EmbeddingRecord,
    GraphEdit,
    GraphInfo,
    LayerInfo,
    LeidenParams,
    LouvainParams,
    MuonLeidenParams,
    MuonLouvainParams,
    NeighborsRecord,
    ObjectShape,
    Params,
    ParentObject,
    RecordRef,
    Representation,
    RestrictTo,
    ResultInfo,
    ResultRecord,
    Signature,
    SlotDigest,
    Software,
    StepRecord,
    TransformRecord,
)
from ._storage.history import history, latest, latest_step, step_history
from ._storage.timeline import steps
from ._util.ledger import Seal, SealedRecord
from ._version import __version__

# ``adata.provenance`` on anndata >= 0.12, registered once anndata is imported (now if it is).
_when_imported("anndata", _register_accessor)

__all__ = [
    "SCHEMA_VERSION",
    "AuditEntry",
    "AuditReport",
    "ClusteringRecord",
    "ClusteringUse",
    "ConcatPart",
    "ConcatRecord",
    "Diff",
    "DiffRow",
    "EmbeddingRecord",
    "Finding",
    "GraphEdit",
    "GraphInfo",
    "HistoryLimitError",
    "InvalidRecordError",
    "LayerInfo",
    "LedgerError",
    "LeidenParams",
    "Lineage",
    "LineageNode",
    "LouvainParams",
    "MuonLeidenParams",
    "MuonLouvainParams",
    "NeighborsRecord",
    "NewerSchemaError",
    "ObjectShape",
    "Params",
    "ParentObject",
    "PipelineReplay",
    "PipelineStep",
    "ProvenanceAccessor",
    "ProvenanceError",
    "ProvenanceWarning",
    "RecordRef",
    "Recording",
    "RemoteReadError",
    "RemoteTimeoutError",
    "ReplayError",
    "ReplayResult",
    "Representation",
    "RestrictTo",
    "ResultInfo",
    "ResultRecord",
    "Seal",
    "SealRefusedError",
    "SealedRecord",
    "Signature",
    "SlotComparison",
    "SlotDigest",
    "Software",
    "StepEntry",
    "StepRecord",
    "TransformRecord",
    "UnknownKeyError",
    "UnknownVersionError",
    "UnreadableFileError",
    "__version__",
    "adopt",
    "audit",
    "diff",
    "history",
    "latest",
    "latest_step",
    "lineage",
    "load_ipython_extension",
    "record",
    "replay",
    "seal",
    "show",
    "start",
    "step_history",
    "steps",
    "stop",
    "to_prov",
    "to_ro_crate",
    "unload_ipython_extension",
]
