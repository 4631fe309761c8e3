"""The JSON Schema of each record version, as committed in ``schemas/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .models import RECORD_MODELS, SCHEMA_VERSION

__all__ = ["SCHEMA_FILE", "json_schema", "schema_file", "write_schemas"]


def schema_file(version: str = SCHEMA_VERSION) -> str:
    """File name of a schema version's JSON Schema under ``schemas/``."""
    return f"clustering-record-{version}.schema.json"


SCHEMA_FILE = schema_file()
"""File name of the current version's JSON Schema."""


def json_schema(version: str = SCHEMA_VERSION) -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a record version (the current one by default)."""
    schema = RECORD_MODELS[version].model_json_schema(mode="serialization")
    # The class docstring's Examples section is for Python readers, not the schema.
    schema["description"] = schema["description"].split("\n\nExamples")[0]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://anndata-provenance.readthedocs.io/schemas/{schema_file(version)}",
        **schema,
    }


def write_schemas(directory: Path) -> list[Path]:
    """Write the schema file of every readable version into ``directory``."""
    paths = []
    for version in RECORD_MODELS:
        path = Path(directory) / schema_file(version)
        text = json.dumps(json_schema(version), indent=2, sort_keys=True) + "\n"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
