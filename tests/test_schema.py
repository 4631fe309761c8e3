"""The committed JSON Schema matches the models."""

from __future__ import annotations

import json
from pathlib import Path

from provenance._schema.jsonschema import SCHEMA_FILE, json_schema


def test_committed_schema_is_current():
    path = Path(__file__).parents[1] / "schemas" / SCHEMA_FILE
    committed = json.loads(path.read_text(encoding="utf-8"))
    assert committed == json_schema(), "schema drifted: run `python schemas/generate.py`"


def test_schema_documents_fields_and_the_method_union():
    schema = json_schema()
    assert schema["properties"]["schema_version"]["const"] == "1.1"
    assert "hash chain" in schema["properties"]["previous"]["description"]
    params = schema["properties"]["params"]
    assert set(params["discriminator"]["mapping"]) == {"leiden", "louvain"}
