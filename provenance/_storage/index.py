"""``uns["provenance_index"]``: which keys have a history, and their latest record.

scanpy wipes ``uns[key]`` when a key is re-clustered outside ``record()``, taking the history
with it. The index lives at its own top-level key, so the audit can still tell that the key
*had* a history. It is one canonical JSON string (robust to every anndata version/format)::

    {"schema_version": "1.0", "keys": {"<key>": {"version": 3, "digest": "sha256:..."}}}
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from provenance._base.errors import InvalidRecordError
from provenance._util.jsonsafe import canonical_json

if TYPE_CHECKING:
    from collections.abc import MutableMapping

    from provenance._schema.models import ClusteringRecord, StepRecord

__all__ = ["INDEX_KEY", "read_index", "update_index"]

INDEX_KEY = "provenance_index"


def read_index(uns: Any) -> dict[str, dict[str, Any]]:
    """The index as ``{key: {"version": int, "digest": str}}``; empty when absent."""
    raw = uns.get(INDEX_KEY) if hasattr(uns, "get") else None
    if raw is None:
        return {}
    where = f"uns[{INDEX_KEY!r}]"
    if isinstance(raw, bytes):
        raw = raw.decode("utf-8", "replace")
    if not isinstance(raw, str):
        raw = str(raw) if getattr(raw, "shape", None) == () else raw
    if not isinstance(raw, str):
        msg = f"{where} is a {type(raw).__name__}, not a JSON string; delete it to reset it."
        raise InvalidRecordError(msg)
    try:
        obj = json.loads(raw)
        keys = obj["keys"]
        return {
            str(k): {"version": int(v["version"]), "digest": str(v["digest"])}
            for k, v in keys.items()
        }
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError) as e:
        msg = f"{where} is damaged ({type(e).__name__}); delete it to reset it."
        raise InvalidRecordError(msg) from None


def update_index(uns: MutableMapping[str, Any], record: ClusteringRecord | StepRecord) -> None:
    """Point the index entry of ``record.key`` at ``record``."""
    try:
        index = read_index(uns)
    except InvalidRecordError:
        index = {}  # a damaged index only loses the lost-history hint; rebuild it
    index[record.key] = {"version": record.version, "digest": record.digest}
    uns[INDEX_KEY] = canonical_json({"schema_version": "1.0", "keys": index})
