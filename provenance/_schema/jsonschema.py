"""The JSON Schema of each record version, as committed in ``schemas/``."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from .models import RECORD_MODELS, SCHEMA_VERSION, STEP_MODELS_BY_VERSION

__all__ = ["SCHEMA_FILE", "json_schema", "schema_file", "write_schemas"]


def schema_file(version: str = SCHEMA_VERSION, kind: str = "clustering") -> str:
    """File name of a record kind's JSON Schema in a schema version, under ``schemas/``.

    ``kind`` is ``"clustering"`` or a key of ``STEP_MODELS`` (``"neighbors"``, ``"result"``).
    """
    return f"{kind}-record-{version}.schema.json"


SCHEMA_FILE = schema_file()
"""File name of the current version's JSON Schema."""


def json_schema(version: str = SCHEMA_VERSION, kind: str = "clustering") -> dict[str, Any]:
    """JSON Schema (draft 2020-12) of a record kind in a version (current clustering by
    default). The steps' models exist from schema 1.3."""
    if kind == "clustering":
        model = RECORD_MODELS[version]
    elif version in STEP_MODELS_BY_VERSION:
        model = STEP_MODELS_BY_VERSION[version][kind]
    else:
        first = next(iter(STEP_MODELS_BY_VERSION))
        msg = f"{kind} records exist from schema {first}, not in {version}"
        raise KeyError(msg)
    schema = model.model_json_schema(mode="serialization")
    # The class docstring's Examples section is for Python readers, not the schema.
    schema["description"] = schema["description"].split("\n\nExamples")[0]
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": f"https://anndata-provenance.readthedocs.io/schemas/{schema_file(version, kind)}",
        **schema,
    }


def write_schemas(directory: Path) -> list[Path]:
    """Write the schema file of every readable version and kind into ``directory``."""
    paths = []
    wanted = [(v, "clustering") for v in RECORD_MODELS]
    wanted += [(v, kind) for v, models in STEP_MODELS_BY_VERSION.items() for kind in models]
    for version, kind in wanted:
        path = Path(directory) / schema_file(version, kind)
        text = json.dumps(json_schema(version, kind), indent=2, sort_keys=True) + "\n"
        path.write_text(text, encoding="utf-8")
        paths.append(path)
    return paths
