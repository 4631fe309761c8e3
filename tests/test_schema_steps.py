"""Schema 1.3: record kinds. Steps' records are told apart from clusterings by ``kind``, old
clustering records read as 1.3 clusterings, and each kind has its committed JSON Schema."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import anndata as ad
import pytest
from pydantic import ValidationError

from provenance import (
    SCHEMA_VERSION,
    ClusteringRecord,
    InvalidRecordError,
    NeighborsRecord,
    ResultRecord,
)
from provenance._schema.jsonschema import json_schema, schema_file
from provenance._schema.models import STEP_MODELS, validate_any
from provenance._storage.codec import (
    decode_any,
    decode_record,
    decode_step,
    encode_history,
    encode_record,
    entry_kind,
    history_texts,
)

SCHEMAS = Path(__file__).parents[1] / "schemas"
OLD = Path(__file__).parent / "data" / "effective" / "leiden-1.12-schema-1.0.h5ad"
DIGEST = "xxh3_128:" + "0" * 32


def _use(key: str = "leiden") -> dict:
    return {
        "key": key,
        "record": None,
        "categories": ["0", "1"],
        "n_clusters": 2,
        "hash_algorithm": "xxh3_128",
        "partition_digest": DIGEST,
        "names_digest": DIGEST,
        "obs_names_digest": DIGEST,
    }


def _step(model, **fields):
    now = datetime.now(UTC)
    base = {
        "version": 1,
        "arguments": {"groupby": "leiden", "method": "t-test"},
        "software": None,
        "started_at": now,
        "finished_at": now,
        "duration_s": 0.1,
        "n_obs": 700,
        "obs_names_digest": DIGEST,
        "previous": None,
    }
    return model.create(**{**base, **fields})


@pytest.mark.parametrize("kind", list(STEP_MODELS))
def test_committed_step_schemas_are_current(kind):
    path = SCHEMAS / schema_file(kind=kind)
    committed = json.loads(path.read_text(encoding="utf-8"))
    assert committed == json_schema(kind=kind), "schema drifted: run `python schemas/generate.py`"
    assert committed["properties"]["schema_version"]["const"] == SCHEMA_VERSION


def test_step_kinds_exist_from_1_3_only():
    with pytest.raises(KeyError, match=r"from schema 1\.3"):
        json_schema("1.2", kind="neighbors")


def test_a_result_record_round_trips_by_kind_and_is_no_clustering():
    rec = _step(
        ResultRecord,
        kind="rank_genes_groups",
        key="rank_genes_groups",
        function="scanpy.tl.rank_genes_groups",
        uses=[_use()],
        source="raw",
    )
    text = encode_record(rec)
    back = decode_step(text, key="rank_genes_groups", index=0)
    assert back == rec and back.expected_digest() == back.digest
    assert type(decode_any(text, key="rank_genes_groups", index=0)) is ResultRecord
    with pytest.raises(InvalidRecordError, match=r"kind 'rank_genes_groups'.*step_history"):
        decode_record(text, key="rank_genes_groups", index=0)
    entry = {"provenance": encode_history([text])}
    assert entry_kind(entry) == "rank_genes_groups"
    # Any edit breaks the digest, as for a clustering.
    edited = json.loads(text)
    edited["uses"][0]["key"] = "louvain"
    assert decode_step(json.dumps(edited), key="k", index=0).expected_digest() != rec.digest


def test_kind_picks_the_model_and_unknown_kinds_are_refused():
    rec = _step(
        NeighborsRecord,
        key="neighbors",
        function="scanpy.pp.neighbors",
        representation=None,
        graphs={},
    )
    obj = json.loads(encode_record(rec))
    assert type(validate_any(obj)) is NeighborsRecord
    with pytest.raises(ValidationError, match="does not match any of the expected tags"):
        validate_any({**obj, "kind": "spring"})
    # A neighbors record does not hold a result's fields, nor the reverse.
    with pytest.raises(InvalidRecordError, match="uses"):
        decode_step(json.dumps({**obj, "uses": []}), key="neighbors", index=0)
    with pytest.raises(InvalidRecordError, match="kind 'neighbors'"):
        decode_record(json.dumps(obj), key="neighbors", index=0)


def test_old_clustering_records_read_as_current_clusterings_with_their_digest():
    text = history_texts(ad.read_h5ad(OLD).uns["ld"]["provenance"], key="ld")[0]
    assert "kind" not in json.loads(text)
    rec = decode_record(text, key="ld", index=0)
    assert type(rec) is ClusteringRecord and rec.schema_version == SCHEMA_VERSION
    assert rec.kind == "clustering" and rec.neighbors is None
    assert rec.expected_digest() == rec.digest
    assert entry_kind({"provenance": encode_history([text])}) == "clustering"
    with pytest.raises(InvalidRecordError, match="a clustering"):
        decode_step(text, key="ld", index=0)
