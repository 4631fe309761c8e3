"""anndata-provenance: how every clustering in an AnnData file was made.

Every type a user can reach (returned by a function or held by a result) is importable from
here. ``import provenance`` stays light: scanpy, anndata, h5py and zarr are imported only when a
function needs them, and the names below are imported on first use (PEP 562), so the command
line imports only what its command needs. Reaching any of them also imports
``provenance._render``, which registers the results' renderers. On anndata >= 0.12,
``adata.provenance`` (:class:`ProvenanceAccessor`) is registered once anndata is imported.
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from ._base.imports import when_imported as _when_imported
from ._version import __version__

if TYPE_CHECKING:
    from ._accessor import ProvenanceAccessor
    from ._audit.audit import AuditEntry, AuditReport, Finding, StepEntry, audit
    from ._audit.checked import Checks, LedgerCheck
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
    from ._compare.adopt import adopt
    from ._compare.diff import Diff, DiffRow, diff
    from ._compare.lineage import Lineage, LineageNode, lineage
    from ._export.prov import to_prov
    from ._export.rocrate import to_ro_crate
    from ._record.recorder import Recording, record
    from ._record.session import load_ipython_extension, start, stop, unload_ipython_extension
    from ._render.show import show
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

# Where each public name is defined (the imports above, made when a name is first reached).
_EXPORTS: dict[str, tuple[str, ...]] = {
    "._accessor": ("ProvenanceAccessor",),
    "._audit.audit": ("AuditEntry", "AuditReport", "Finding", "StepEntry", "audit"),
    "._audit.checked": ("Checks", "LedgerCheck"),
    "._audit.seal": ("seal",),
    "._base.errors": (
        "HistoryLimitError",
        "InvalidRecordError",
        "LedgerError",
        "NewerSchemaError",
        "ProvenanceError",
        "ProvenanceWarning",
        "RemoteReadError",
        "RemoteTimeoutError",
        "ReplayError",
        "SealRefusedError",
        "UnknownKeyError",
        "UnknownVersionError",
        "UnreadableFileError",
    ),
    "._compare.adopt": ("adopt",),
    "._compare.diff": ("Diff", "DiffRow", "diff"),
    "._compare.lineage": ("Lineage", "LineageNode", "lineage"),
    "._export.prov": ("to_prov",),
    "._export.rocrate": ("to_ro_crate",),
    "._record.recorder": ("Recording", "record"),
    "._record.session": ("load_ipython_extension", "start", "stop", "unload_ipython_extension"),
    "._render.show": ("show",),
    "._replay.replay": ("replay",),
    "._replay.result": ("PipelineReplay", "PipelineStep", "ReplayResult", "SlotComparison"),
    "._schema.models": (
        "SCHEMA_VERSION",
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
    ),
    "._storage.history": ("history", "latest", "latest_step", "step_history"),
    "._storage.timeline": ("steps",),
    "._util.ledger": ("Seal", "SealedRecord"),
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}

if not TYPE_CHECKING:  # for type checkers, the imports above define the names

    def __getattr__(name: str) -> Any:
        module = _WHERE.get(name)
        if module is None:
            msg = f"module {__name__!r} has no attribute {name!r}"
            raise AttributeError(msg)
        value = getattr(import_module(module, __name__), name)
        import_module("._render", __name__)  # the results' renderers (formats.RENDERERS)
        globals()[name] = value  # found directly from now on
        return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})


def _register_accessor(anndata: Any) -> None:
    from ._accessor import register

    import_module("._render", __name__)  # adata.provenance.audit() returns a rendered report
    register(anndata)


# ``adata.provenance`` on anndata >= 0.12, registered once anndata is imported (now if it is).
_when_imported("anndata", _register_accessor)


__all__ = [
    "SCHEMA_VERSION",
    "AuditEntry",
    "AuditReport",
    "Checks",
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
    "LedgerCheck",
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
