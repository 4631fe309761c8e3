"""Storage of a key's history in ``uns[key]["provenance"]``.

Layout (plain values any HDF5/zarr reader understands)::

    uns[key]["provenance"] = {
        "schema_version": SCHEMA_VERSION,  # "1.5" now
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
from typing import Any

from pydantic import ValidationError

from provenance._base import config as _config
from provenance._base.errors import HistoryLimitError, InvalidRecordError, NewerSchemaError
from provenance._schema.convert import upgrade
from provenance._schema.models import (
    READABLE_VERSIONS,
    SCHEMA_VERSION,
    ClusteringRecord,
    StepRecord,
    validate_any,
)
from provenance._util.jsonsafe import canonical_json, digest

__all__ = [
    "PROVENANCE_FIELD",
    "decode_any",
    "decode_record",
    "decode_step",
    "encode_history",
    "encode_record",
    "entry_kind",
    "history_texts",
    "missing_history_message",
    "read_history",
    "read_steps",
]

PROVENANCE_FIELD = "provenance"


def _version_tuple(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split("."))


def encode_record(record: ClusteringRecord | StepRecord) -> str:
    """Canonical JSON of a record: the string stored in the history."""
    return canonical_json(record.model_dump(mode="json"))


def encode_history(texts: list[str]) -> dict[str, Any]:
    """The ``uns[key]["provenance"]`` value for a list of encoded records."""
    import numpy as np

    arr = np.empty(len(texts), dtype=object)
    arr[:] = texts
    return {"schema_version": SCHEMA_VERSION, "history": arr}


def history_texts(prov: Any, *, key: str) -> list[str]:
    """The encoded records of a stored ``provenance`` value, oldest first (not validated).

    The container's ``schema_version`` is read first: a newer one raises
    :class:`NewerSchemaError` (its layout may differ), a missing, malformed or unknown one
    :class:`InvalidRecordError`.
    """
    import numpy as np

    where = f"uns[{key!r}][{PROVENANCE_FIELD!r}]"
    if not isinstance(prov, Mapping):
        msg = (
            f"{where} is a {type(prov).__name__}, not a mapping; "
            "it was not written by anndata-provenance."
        )
        raise InvalidRecordError(msg)
    version = _container_version(prov, where)
    if "history" not in prov:
        raise InvalidRecordError(missing_history_message(prov, key=key))
    _check_container_version(version, where)
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


def _container_version(prov: Mapping[str, Any], where: str) -> str | None:
    """The container's ``schema_version`` as a string; raise if it is newer than this package.

    A newer container may lay its history out differently, so it is refused before anything
    else is read. ``None`` when it is missing or not a version string (refused later, once a
    missing ``history`` has been explained).
    """
    import numpy as np

    raw = prov.get("schema_version")
    if isinstance(raw, np.ndarray) and raw.shape in ((), (1,)):
        raw = raw.reshape(-1)[0]  # a string scalar written by another tool
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        return None
    version = str(raw)
    try:
        newer = _version_tuple(version) > _version_tuple(SCHEMA_VERSION)
    except ValueError:
        return version
    if newer:
        msg = (
            f"{where} has schema version {version[:40]}, newer than the {SCHEMA_VERSION} this "
            "anndata-provenance understands; upgrade it: pip install -U anndata-provenance."
        )
        raise NewerSchemaError(msg)
    return version


def _check_container_version(version: str | None, where: str) -> None:
    """Refuse a missing, malformed or unknown container ``schema_version``."""
    if version is None:
        msg = (
            f"{where}['schema_version'] is missing or not a string; anndata-provenance always "
            "writes it, so the entry was edited. Restore it from a copy you trust."
        )
        raise InvalidRecordError(msg)
    try:
        _version_tuple(version)
    except ValueError:
        msg = f"{where}['schema_version'] is {version[:40]!r}, not a version number."
        raise InvalidRecordError(msg) from None
    if version not in READABLE_VERSIONS:
        msg = f"{where}['schema_version'] is {version[:40]!r}, which no release wrote."
        raise InvalidRecordError(msg)


def missing_history_message(prov: Mapping[str, Any], *, key: str) -> str:
    """Why ``uns[key]["provenance"]`` has no ``history``, and what it means for the records.

    ``ad.concat(..., uns_merge="same"|"unique")`` keeps only the ``uns`` values that agree
    across the objects: the histories of separately clustered objects differ and are
    dropped, while their equal ``schema_version`` is kept. That trace names the merge.
    """
    where = f"uns[{key!r}][{PROVENANCE_FIELD!r}]"
    if "schema_version" not in prov:
        return (
            f"{where} holds neither 'history' nor 'schema_version': it was emptied or written "
            "by another tool, and this key's records are gone. Restore them from a copy you "
            "trust, or re-run the clustering inside provenance.record()."
        )
    return (
        f"{where} holds a 'schema_version' but no 'history': the object looks concatenated "
        "or merged (ad.concat(..., uns_merge='same') keeps only the uns values equal in every "
        f"part, and the parts' histories differed). No record of obs[{key!r}] is in this "
        "object, and its labels join separate clusterings: audit the parts for their records, "
        "or re-cluster the merged object inside provenance.record()."
    )


def _reject_constant(name: str) -> Any:
    msg = f"{name} is not valid JSON"
    raise ValueError(msg)


def decode_any(text: str, *, key: str, index: int) -> ClusteringRecord | StepRecord:
    """Parse, upgrade and validate one encoded record of any kind."""
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
    _check_record_version(obj, where)
    try:
        rec = validate_any(obj)  # the model of the record's own schema_version and kind
        if isinstance(rec, ClusteringRecord | StepRecord):
            return rec
        # Hashed as written: the digest is checked against the record's own version.
        written = digest({k: v for k, v in obj.items() if k != "digest"})
        return upgrade(rec, written_digest=written)
    except ValidationError as e:
        raise _invalid(e, where) from None
    except RecursionError:
        msg = f"{where} is nested too deeply."
        raise InvalidRecordError(msg) from None


def decode_record(text: str, *, key: str, index: int) -> ClusteringRecord:
    """Parse, upgrade and validate one encoded clustering record.

    Raises :class:`~provenance.InvalidRecordError` for a record of a step (neighbors,
    markers, ...): the callers of this function read clusterings only.
    """
    rec = decode_any(text, key=key, index=index)
    if not isinstance(rec, ClusteringRecord):
        where = f"uns[{key!r}][{PROVENANCE_FIELD!r}]['history'][{index}]"
        msg = (
            f"{where} records {rec.function} (kind {rec.kind!r}), not a clustering; read it "
            "with provenance.step_history()."
        )
        raise InvalidRecordError(msg)
    return rec


def decode_step(text: str, *, key: str, index: int) -> StepRecord:
    """Parse and validate one encoded record of a step around a clustering.

    Raises :class:`~provenance.InvalidRecordError` for a clustering record.
    """
    rec = decode_any(text, key=key, index=index)
    if isinstance(rec, ClusteringRecord):
        where = f"uns[{key!r}][{PROVENANCE_FIELD!r}]['history'][{index}]"
        msg = f"{where} records a clustering ({rec.function}); read it with provenance.history()."
        raise InvalidRecordError(msg)
    return rec


def entry_kind(uns_entry: Any) -> str | None:
    """The ``kind`` of the last record in ``uns_entry``'s history, without validating it.

    ``"clustering"`` for records older than 1.3 (they are all clusterings); ``None`` when
    the entry holds no history or its last record is not a JSON object. Used to tell
    clustering keys from step keys; the audit validates the records themselves.
    """
    if not isinstance(uns_entry, Mapping) or PROVENANCE_FIELD not in uns_entry:
        return None
    try:
        texts = history_texts(uns_entry[PROVENANCE_FIELD], key="?")
        obj = json.loads(texts[-1], parse_constant=_reject_constant) if texts else None
    except (InvalidRecordError, HistoryLimitError, ValueError, RecursionError):
        return None
    if not isinstance(obj, dict):
        return None
    kind = obj.get("kind", "clustering")
    return kind if isinstance(kind, str) else None


def _invalid(e: ValidationError, where: str) -> InvalidRecordError:
    err = e.errors()[0]
    loc = err["loc"]
    if loc and (loc[0] in READABLE_VERSIONS or ":" in str(loc[0])):
        loc = loc[1:]  # the union's version/kind tag: the field is what follows it
    field = ".".join(str(p) for p in loc) or "<record>"
    more = f" (and {e.error_count() - 1} more)" if e.error_count() > 1 else ""
    msg = f"{where}: field {field!r}: {err['msg']}{more}."
    return InvalidRecordError(msg)


def _check_record_version(obj: dict[str, Any], where: str) -> None:
    """Refuse a record whose ``schema_version`` is missing, newer or unknown, before validating."""
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
    if version not in READABLE_VERSIONS:
        msg = f"{where}: unknown schema version {version!r}."
        raise InvalidRecordError(msg)


def read_history(uns_entry: Any, *, key: str) -> list[ClusteringRecord]:
    """Validated clustering records of ``uns[key]``, oldest first; empty when it holds none."""
    if not isinstance(uns_entry, Mapping) or PROVENANCE_FIELD not in uns_entry:
        return []
    texts = history_texts(uns_entry[PROVENANCE_FIELD], key=key)
    return [decode_record(t, key=key, index=i) for i, t in enumerate(texts)]


def read_steps(uns_entry: Any, *, key: str) -> list[StepRecord]:
    """Validated step records of ``uns[key]``, oldest first; empty when it holds none."""
    if not isinstance(uns_entry, Mapping) or PROVENANCE_FIELD not in uns_entry:
        return []
    texts = history_texts(uns_entry[PROVENANCE_FIELD], key=key)
    return [decode_step(t, key=key, index=i) for i, t in enumerate(texts)]
