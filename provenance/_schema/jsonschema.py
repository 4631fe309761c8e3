"""The JSON Schema of :class:`~provenance.ClusteringRecord`, as committed in ``schemas/``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from .models import SCHEMA_VERSION, ClusteringRecord

__all__ = ["SCHEMA_FILE", "json_schema"]

SCHEMA_FILE = f"clustering-record-{SCHEMA_VERSION}.schema.json"


def json_schema() -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of the current record version."""
    schema = ClusteringRecord.model_json_schema(mode="serialization")
    # The class docstring's Examples section is for Python readers, not the schema.
    schema["description"] = schema["description"].split("\n\nExamples")[0]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://anndata-provenance.readthedocs.io/schemas/{SCHEMA_FILE}",
        **schema,
    }


def write_schema(directory: Path) -> Path:
    """Write the schema file into ``directory`` (used by ``schemas/generate.py``)."""
    import json

    path = Path(directory) / SCHEMA_FILE
    path.write_text(json.dumps(json_schema(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    return path
