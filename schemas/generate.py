"""Regenerate the committed JSON Schema: ``python schemas/generate.py``."""

from __future__ import annotations

from pathlib import Path

from provenance._schema.jsonschema import write_schema

if __name__ == "__main__":
    print(write_schema(Path(__file__).parent))
