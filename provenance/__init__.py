"""anndata-provenance: how every clustering in an AnnData file was made.

``import provenance`` stays light: scanpy, anndata, h5py and zarr are imported only when a
function needs them.
"""

from __future__ import annotations

from ._errors import (
    HistoryLimitError,
    InvalidRecordError,
    NewerSchemaError,
    ProvenanceError,
    ProvenanceWarning,
    UnknownKeyError,
)
from ._history import history, latest
from ._models import SCHEMA_VERSION, ClusteringRecord, LeidenParams, LouvainParams
from ._recorder import Recording, record
from ._version import __version__

__all__ = [
    "SCHEMA_VERSION",
    "ClusteringRecord",
    "HistoryLimitError",
    "InvalidRecordError",
    "LeidenParams",
    "LouvainParams",
    "NewerSchemaError",
    "ProvenanceError",
    "ProvenanceWarning",
    "Recording",
    "UnknownKeyError",
    "__version__",
    "history",
    "latest",
    "record",
]
