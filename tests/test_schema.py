"""Schema versions: the committed JSON Schema of each matches its models, records of every
version are read by their own model and upgraded to the current one in one place."""

from __future__ import annotations

import json
from pathlib import Path

import anndata as ad
import pytest
from pydantic import ValidationError

import provenance
from provenance import SCHEMA_VERSION, ClusteringRecord, InvalidRecordError
from provenance._schema import v1_0, v1_6, v1_6_params, v1_6_parts
from provenance._schema.convert import CONVERTERS, upgrade
from provenance._schema.jsonschema import SCHEMA_FILE, json_schema, schema_file
from provenance._schema.models import READABLE_VERSIONS, RECORD_MODELS, validate_any
from provenance._storage.codec import decode_record, history_texts

SCHEMAS = Path(__file__).parents[1] / "schemas"
OLD = Path(__file__).parent / "data" / "effective" / "leiden-1.12-schema-1.0.h5ad"


def _old_text() -> str:
    """A real 1.0 record (written by the release that wrote 1.0, under scanpy 1.12)."""
    return history_texts(ad.read_h5ad(OLD).uns["ld"]["provenance"], key="ld")[0]


@pytest.mark.parametrize("version", list(RECORD_MODELS))
def test_committed_schema_is_current(version):
    committed = json.loads((SCHEMAS / schema_file(version)).read_text(encoding="utf-8"))
    assert committed == json_schema(version), "schema drifted: run `python schemas/generate.py`"


def test_every_committed_schema_is_a_readable_version():
    committed = {p.name for p in SCHEMAS.glob("clustering-record-*.schema.json")}
    assert committed == {schema_file(v) for v in RECORD_MODELS}


def test_schema_documents_fields_and_the_method_union():
    schema = json_schema()
    assert f"clustering-record-{SCHEMA_VERSION}.schema.json" == SCHEMA_FILE
    assert schema["properties"]["schema_version"]["const"] == SCHEMA_VERSION
    assert "hash chain" in schema["properties"]["previous"]["description"]
    params = json_schema("1.1")["properties"]["params"]
    assert set(params["discriminator"]["mapping"]) == {"leiden", "louvain"}
    # 1.2 tells muon's params apart by a callable discriminator (library + method).
    refs = {o["$ref"].rsplit("/", 1)[1] for o in schema["properties"]["params"]["oneOf"]}
    assert refs == {"LeidenParams", "LouvainParams", "MuonLeidenParams", "MuonLouvainParams"}
    assert "layers" in schema["properties"] and "layers" not in json_schema("1.1")["properties"]
    assert "passed" not in json_schema("1.0")["$defs"]["LeidenParams"]["properties"]
    assert "passed" in schema["$defs"]["LeidenParams"]["properties"]


def test_the_current_version_has_a_stable_name_and_older_ones_a_converter():
    assert ClusteringRecord is v1_6.ClusteringRecord is RECORD_MODELS[SCHEMA_VERSION]
    assert provenance.GraphInfo is v1_6_parts.GraphInfo
    assert list(RECORD_MODELS)[-1] == SCHEMA_VERSION
    assert tuple(RECORD_MODELS) == READABLE_VERSIONS
    assert set(CONVERTERS) == set(RECORD_MODELS) - {SCHEMA_VERSION}


@pytest.mark.parametrize(
    ("name", "older"),
    [
        ("RestrictTo", "v1_0"), ("Software", "v1_0"), ("GraphInfo", "v1_0"),
        ("ResultInfo", "v1_0"), ("LeidenParams", "v1_1"), ("LouvainParams", "v1_1"),
        ("LayerInfo", "v1_2"), ("MuonLeidenParams", "v1_2"), ("MuonLouvainParams", "v1_2"),
        ("RecordRef", "v1_3"), ("ClusteringUse", "v1_3"), ("Representation", "v1_3"),
        ("Signature", "v1_4"), ("GraphEdit", "v1_5"),
    ],
)  # fmt: skip
def test_older_versions_hold_the_current_parts_they_left_unchanged(name, older):
    import importlib

    current = getattr(provenance, name)
    assert current.__module__ in ("provenance._schema.v1_6_params", "provenance._schema.v1_6_parts")
    assert getattr(importlib.import_module(f"provenance._schema.{older}"), name) is current


def test_the_current_version_imports_no_older_one():
    # So that reading current records defines no older version's models (``show`` starts
    # faster); the older versions are imported when a file holds one of their records.
    import ast

    for module in (v1_6, v1_6_params, v1_6_parts):
        tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
        imported = {
            n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.level
        } | {a.name for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) for a in n.names}
        assert not {f"v1_{i}" for i in range(6)} & imported, module.__name__


def test_a_record_is_validated_by_the_model_of_its_own_version():
    obj = json.loads(_old_text())
    rec = validate_any(obj)
    assert type(rec) is v1_0.ClusteringRecord
    assert rec.params.flavor is None and rec.expected_digest() == rec.digest
    # A field 1.1 added is unknown to 1.0: the union does not fall back on another version.
    with pytest.raises(ValidationError, match="passed"):
        validate_any({**obj, "params": {**obj["params"], "passed": {}}})
    with pytest.raises(InvalidRecordError, match=r"\[0\]: field 'params.leiden.passed'"):
        decode_record(
            json.dumps({**obj, "params": {**obj["params"], "passed": {}}}), key="ld", index=0
        )


def test_upgrade_resolves_what_ran_and_keeps_the_written_digest():
    text = _old_text()
    old = validate_any(json.loads(text))
    new = upgrade(old, written_digest=old.digest)
    assert type(new) is ClusteringRecord and new.schema_version == SCHEMA_VERSION
    assert (new.params.flavor, new.params.passed["flavor"]) == ("leidenalg", None)
    assert new.digest == old.digest == new.expected_digest()
    assert new.model_copy(update={"key": "other"}).expected_digest() != new.digest
    assert old.params.flavor is None  # the 1.0 record is left as it was
    read = decode_record(text, key="ld", index=0)
    assert read == new and read.expected_digest() == read.digest


def test_muon_params_validate_by_their_tag_never_by_trying():
    from pydantic import TypeAdapter

    adapter = TypeAdapter(v1_6_params.Params)
    muon = {
        "library": "muon", "method": "leiden", "resolution": {"rna": 0.5}, "mod_weights": None,
        "random_state": 0, "seeded": False, "key_added": "wnn", "neighbors_key": None,
        "directed": True, "partition_type": None,
    }  # fmt: skip
    assert type(adapter.validate_python(muon)) is provenance.MuonLeidenParams
    lv = adapter.validate_python({**muon, "method": "louvain"})
    assert type(lv) is provenance.MuonLouvainParams and lv.flavor == "vtraag"
    # A muon params dict missing a muon field is an error of muon's model, not scanpy's.
    with pytest.raises(ValidationError, match=r"1 validation error[\s\S]*`muon\.leiden`\.seeded"):
        adapter.validate_python({k: v for k, v in muon.items() if k != "seeded"})
    # Without library="muon" the same dict is scanpy's leiden params, and invalid as those.
    with pytest.raises(ValidationError, match=r"\nleiden\.mod_weights\n  Extra inputs"):
        adapter.validate_python({**muon, "library": None})
