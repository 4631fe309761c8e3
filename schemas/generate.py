"""Regenerate the committed JSON Schema of every record version: ``python schemas/generate.py``."""

from __future__ import annotations

from pathlib import Path

from provenance._schema.jsonschema import write_schemas

if __name__ == "__main__":
    for path in write_schemas(Path(__file__).parent):
        print(path)
