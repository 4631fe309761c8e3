"""Storage of a key's history in ``uns[key]["provenance"]``.

Layout (plain values any HDF5/zarr reader understands)::

    uns[key]["provenance"] = {
        "schema_version": "1.0",
        "history": np.array([<canonical JSON of record 1>, ...], dtype=object),  # oldest first
    }

anndata refuses lists of dicts in ``.h5ad``, stringifies them in ``.zarr`` and reorders dict
keys, but an object array of strings round-trips exactly through every supported version
and format (zarr 3 returns a ``StringDType`` array). Each string is the canonical JSON of
one :class:`~provenance.ClusteringRecord` (sorted keys, no whitespace, UTF-8).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from . import _config
from ._errors import HistoryLimitError, InvalidRecordError, NewerSchemaError
from ._jsonsafe import canonical_json, digest
from ._models import SCHEMA_VERSION, ClusteringRecord

if TYPE_CHECKING:
    from collections.abc import Callable

__all__ = [
    "PROVENANCE_FIELD",
    "decode_record",
    "encode_history",
    "encode_record",
    "history_texts",
    "read_history",
]

PROVENANCE_FIELD = "provenance"


def _from_1_0(obj: dict[str, Any]) -> dict[str, Any]:
    """1.0 -> 1.1: the effective ``flavor``/``directed``, ``passed`` and ``not_in_effect``.

    What a function resolves does not depend on the scanpy version that ran it (the
    resolutions are the same in every scanpy that has the argument), so 1.0 records made on
    scanpy 1.12 with ``flavor=None`` read as the ``"leidenalg"`` run they were.
    """
    from ._adapters import resolve_params

    params = obj.get("params")
    new = {**obj, "schema_version": "1.1"}
    if isinstance(params, dict):
        new["params"] = resolve_params(params)
    return new


# Upgrades of older record layouts, keyed by the version they upgrade from: (the version
# they produce, a function returning a new record dict in that version; never mutating).
_UPGRADES: dict[str, tuple[str, Callable[[dict[str, Any]], dict[str, Any]]]] = {
    "1.0": ("1.1", _from_1_0),
}


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def encode_record(record: ClusteringRecord) -> str:
    """Canonical JSON of a record: the string stored in the history."""
    return canonical_json(record.model_dump(mode="json"))


def encode_history(texts: list[str]) -> dict[str, Any]:
    """The ``uns[key]["provenance"]`` value for a list of encoded records."""
    import numpy as np

    arr = np.empty(len(texts), dtype=object)
    arr[:] = texts
    return {"schema_version": SCHEMA_VERSION, "history": arr}


def history_texts(prov: Any, *, key: str) -> list[str]:
    """The encoded records of a stored ``provenance`` value, oldest first (not validated)."""
    import numpy as np

    where = f"uns[{key!r}][{PROVENANCE_FIELD!r}]"
    if not isinstance(prov, Mapping):
        msg = (
            f"{where} is a {type(prov).__name__}, not a mapping; "
            "it was not written by anndata-provenance."
        )
        raise InvalidRecordError(msg)
    if "history" not in prov:
        msg = f"{where} has no 'history'; the entry is damaged."
        raise InvalidRecordError(msg)
    raw = prov["history"]
    if isinstance(raw, str | bytes):
        raw = [raw]
    elif isinstance(raw, np.ndarray):
        if raw.ndim != 1:
            msg = f"{where}['history'] has shape {raw.shape}; expected a 1-d array of JSON strings."
            raise InvalidRecordError(msg)
    elif not isinstance(raw, list | tuple):
        msg = f"{where}['history'] is a {type(raw).__name__}; expected an array of JSON strings."
        raise InvalidRecordError(msg)
    if len(raw) > _config.max_history():
        msg = (
            f"{where}['history'] holds {len(raw)} versions, more than the limit of "
            f"{_config.max_history()}; raise PROVENANCE_MAX_HISTORY if this is expected."
        )
        raise HistoryLimitError(msg)
    texts = []
    for i, item in enumerate(raw):
        if isinstance(item, bytes):
            try:
                item = item.decode("utf-8")
            except UnicodeDecodeError as e:
                msg = f"{where}['history'][{i}] is not valid UTF-8 ({e.reason})."
                raise InvalidRecordError(msg) from None
        elif isinstance(item, str):  # also np.str_ and elements of StringDType arrays
            item = str(item)
        else:
            msg = f"{where}['history'][{i}] is a {type(item).__name__}, not a JSON string."
            raise InvalidRecordError(msg)
        texts.append(item)
    return texts


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def decode_record(text: str, *, key: str, index: int) -> ClusteringRecord:
    """Parse, upgrade and validate one encoded record."""
    from pydantic import ValidationError

    where = f"uns[{key!r}][{PROVENANCE_FIELD!r}]['history'][{index}]"
    if len(text) > _config.max_record_bytes():
        msg = (
            f"{where} is {len(text)} bytes, more than the limit of {_config.max_record_bytes()}; "
            "raise PROVENANCE_MAX_RECORD_BYTES if this is expected."
        )
        raise HistoryLimitError(msg)
    try:
        obj = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as e:
        msg = f"{where} is not valid JSON: {str(e)[:200]}"
        raise InvalidRecordError(msg) from None
    if not isinstance(obj, dict):
        msg = f"{where} is a JSON {type(obj).__name__}, not an object."
        raise InvalidRecordError(msg)
    upgraded = _upgrade(obj, where)
    try:
        if upgraded is obj:
            return ClusteringRecord.model_validate(obj)
        # Hashed as written: the digest is checked against the record's own version.
        written = digest({k: v for k, v in obj.items() if k != "digest"})
        return ClusteringRecord.upgraded(upgraded, written_digest=written)
    except ValidationError as e:
        err = e.errors()[0]
        loc = ".".join(str(p) for p in err["loc"]) or "<record>"
        more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
        msg = f"{where}: field {loc!r}: {err['msg']}{more}."
        raise InvalidRecordError(msg) from None
    except RecursionError:
        msg = f"{where} is nested too deeply."
        raise InvalidRecordError(msg) from None


def _upgrade(obj: dict[str, Any], where: str) -> dict[str, Any]:
    version = obj.get("schema_version")
    if not isinstance(version, str):
        msg = f"{where}: field 'schema_version' is missing or not a string."
        raise InvalidRecordError(msg)
    try:
        theirs = _version_tuple(version)
    except ValueError:
        msg = f"{where}: field 'schema_version' is {version[:40]!r}, not a version number."
        raise InvalidRecordError(msg) from None
    if theirs > _version_tuple(SCHEMA_VERSION):
        msg = (
            f"{where} has schema version {version}, newer than the {SCHEMA_VERSION} this "
            "anndata-provenance understands; upgrade it: pip install -U anndata-provenance."
        )
        raise NewerSchemaError(msg)
    while obj.get("schema_version") in _UPGRADES:
        target, step = _UPGRADES[obj["schema_version"]]
        obj = {**step(obj), "schema_version": target}
    if obj.get("schema_version") != SCHEMA_VERSION:
        msg = f"{where}: unknown schema version {version!r}."
        raise InvalidRecordError(msg)
    return obj


def read_history(uns_entry: Any, *, key: str) -> list[ClusteringRecord]:
    """Validated records of ``uns[key]``, oldest first; empty when it holds none."""
    if not isinstance(uns_entry, Mapping) or PROVENANCE_FIELD not in uns_entry:
        return []
    texts = history_texts(uns_entry[PROVENANCE_FIELD], key=key)
    return [decode_record(t, key=key, index=i) for i, t in enumerate(texts)]
