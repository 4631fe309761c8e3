"""Reliability: concurrency, nesting, limits, hostile stored values, no code from files."""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
import warnings

import anndata as ad
import numpy as np
import pytest
import scanpy as sc
from conftest import FAST, SCANPY, roundtrip
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import provenance
from provenance import ClusteringRecord, HistoryLimitError, ProvenanceError
from provenance._storage.codec import encode_history, encode_record
from provenance._storage.index import INDEX_KEY, read_index

LEIDEN, LOUVAIN = sc.tl.leiden, sc.tl.louvain
FUZZ_EXAMPLES = int(os.environ.get("PROVENANCE_FUZZ_EXAMPLES", "150"))


@pytest.fixture(scope="module")
def recorded(_pbmc_master):
    adata = _pbmc_master.copy()
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="k", **FAST)
        sc.tl.leiden(adata, key_added="k", **FAST, random_state=1)
    return adata


# --- concurrency and nesting -------------------------------------------------------------


def test_threads_each_record_their_own_objects(_pbmc_master):  # noqa: PT019
    n = 4
    objs = [_pbmc_master.copy() for _ in range(n + 1)]
    barrier = threading.Barrier(n + 1)
    errors: list[BaseException] = []
    refused: list[int] = []

    def work(i: int) -> None:
        try:
            barrier.wait(timeout=60)
            if i < n:
                with provenance.record(objs[i]):
                    sc.tl.leiden(objs[i], key_added=f"t{i}", random_state=i, n_iterations=2)
                    # Another object is never recorded by this block; in strict mode the
                    # call is refused rather than run unrecorded.
                    try:
                        sc.tl.leiden(objs[n], key_added=f"foreign{i}", n_iterations=2)
                    except ProvenanceError:
                        refused.append(i)
            else:  # a thread with no block at all, clustering while the patches are active
                for j in range(3):
                    sc.tl.leiden(objs[i], key_added=f"free{j}", n_iterations=2)
        except BaseException as e:  # pragma: no cover - reported below
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(n + 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    assert sorted(refused) == list(range(n))
    for i in range(n):
        (rec,) = provenance.history(objs[i], f"t{i}")
        assert rec.params.random_state == i
        assert [k for k in objs[i].uns if k.startswith("t")] == [f"t{i}"]
    free = objs[n]
    assert all("provenance" not in free.uns[k] for k in free.uns if k.startswith(("free", "fore")))
    assert sc.tl.leiden is LEIDEN and sc.tl.louvain is LOUVAIN


def test_nested_blocks_record_once_and_unpatch_at_the_outermost(pbmc):
    other = pbmc.copy()
    with provenance.record(pbmc) as outer:
        with provenance.record(other) as inner:
            sc.tl.leiden(pbmc, key_added="a", **FAST)
            sc.tl.leiden(other, key_added="b", **FAST)
        assert sc.tl.leiden is not LEIDEN
        with pytest.raises(ProvenanceError, match="does not watch"):  # strict mode
            sc.tl.leiden(other, key_added="c", **FAST)
    assert [r.key for r in outer.records] == ["a"]
    assert [r.key for r in inner.records] == ["b"]
    assert len(provenance.history(pbmc, "a")) == 1
    assert "c" not in other.obs and "c" not in other.uns
    assert sc.tl.leiden is LEIDEN


def test_keyboard_interrupt_in_block_body_unpatches():
    with pytest.raises(KeyboardInterrupt), provenance.record():
        raise KeyboardInterrupt
    assert sc.tl.leiden is LEIDEN and sc.tl.louvain is LOUVAIN


# --- never lose a history ----------------------------------------------------------------


@pytest.mark.skipif(
    SCANPY < (1, 10), reason="scanpy 1.9 writes the rerun's params to uns['leiden']: no wipe"
)
def test_rerun_outside_record_is_detected_through_the_index(pbmc):
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="k", **FAST)
    assert read_index(pbmc.uns)["k"]["version"] == 1
    sc.tl.leiden(pbmc, key_added="k", **FAST, random_state=4)
    # scanpy wiped uns["k"]; the index still knows the key had a history.
    assert "provenance" not in pbmc.uns["k"]
    assert read_index(pbmc.uns)["k"]["digest"].startswith("sha256:")
    assert isinstance(pbmc.uns[INDEX_KEY], str)


def test_history_limit_refuses_to_grow_and_keeps_the_history(pbmc, monkeypatch):
    monkeypatch.setenv("PROVENANCE_MAX_HISTORY", "2")
    with provenance.record(pbmc):
        for seed in (0, 1):
            sc.tl.leiden(pbmc, key_added="k", **FAST, random_state=seed)
        kept = pbmc.uns["k"]["provenance"]
        with pytest.raises(HistoryLimitError, match="limit"):
            sc.tl.leiden(pbmc, key_added="k", **FAST, random_state=2)
    assert pbmc.uns["k"]["provenance"] is kept
    monkeypatch.setenv("PROVENANCE_MAX_HISTORY", "1")
    with pytest.raises(HistoryLimitError, match="PROVENANCE_MAX_HISTORY"):
        provenance.history(pbmc, "k")


def test_oversized_record_is_refused(recorded, monkeypatch):
    adata = recorded.copy()
    monkeypatch.setenv("PROVENANCE_MAX_RECORD_BYTES", "100")
    with pytest.raises(HistoryLimitError, match="PROVENANCE_MAX_RECORD_BYTES"):
        provenance.history(adata, "k")


# --- hostile stored values ----------------------------------------------------------------


def _valid_text(recorded) -> str:
    return str(recorded.uns["k"]["provenance"]["history"][0])


def _corpus(valid: str) -> dict[str, object]:
    rec = json.loads(valid)
    deep = "[" * 100_000 + "]" * 100_000

    def mutate(**changes):
        return json.dumps({**rec, **changes})

    nested: dict = {}
    cur = nested
    for _ in range(2000):
        cur["a"] = {}
        cur = cur["a"]
    return {
        "not a mapping": 5,
        "no history": {"schema_version": "1.0"},
        "history is a dict": {"schema_version": "1.0", "history": {"a": 1}},
        "history 2-d": {"schema_version": "1.0", "history": np.array([[valid]], dtype=object)},
        "history of ints": {"schema_version": "1.0", "history": np.arange(3)},
        "truncated json": encode_history([valid[: len(valid) // 2]]),
        "not json": encode_history(["definitely not json"]),
        "json array": encode_history(["[1, 2]"]),
        "NaN number": encode_history([valid.replace('"duration_s":', '"duration_s":NaN,"x":')]),
        "invalid utf-8": {
            "schema_version": "1.0",
            "history": np.array([b"\xff\xfe\xfa"], dtype=object),
        },
        "5 MB string": encode_history(["x" * 5_000_000]),
        "deeply nested json": encode_history([deep]),
        "deeply nested dict": {"schema_version": "1.0", "history": nested},
        "missing field": encode_history(
            [json.dumps({k: v for k, v in rec.items() if k != "result"})]
        ),
        "wrong type": encode_history([mutate(version="three")]),
        "inf where number": encode_history([mutate(duration_s="Infinity")]),
        "future schema": encode_history([mutate(schema_version="9.0")]),
        "bad schema version": encode_history([mutate(schema_version="one")]),
        "naive time": encode_history([mutate(started_at="2026-01-01T00:00:00")]),
        "method mismatch": encode_history([mutate(method="louvain")]),
        "unknown method": encode_history([mutate(params={**rec["params"], "method": "kmeans"})]),
        "extra field": encode_history([mutate(evil="__import__('os')")]),
        "bad digest": encode_history([mutate(digest="md5:zz")]),
    }


def test_hostile_corpus_raises_only_provenance_errors(recorded):
    corpus = _corpus(_valid_text(recorded))
    messages = {}
    for name, value in corpus.items():
        adata = ad.AnnData(obs=recorded.obs[["k"]].copy())
        adata.uns["k"] = {"params": {}, "provenance": value}
        with pytest.raises(ProvenanceError) as info:
            provenance.history(adata, "k")
        msg = str(info.value)
        assert "'k'" in msg, (name, msg)  # the message names the key
        assert len(msg) < 600, (name, msg)
        messages[name] = msg
    assert "upgrade" in messages["future schema"]
    assert "'result'" in messages["missing field"]
    assert "'version'" in messages["wrong type"]
    assert "UTF-8" in messages["invalid utf-8"]
    assert "'duration_s'" in messages["inf where number"]
    with pytest.raises(provenance.NewerSchemaError):
        provenance.history(_with(corpus["future schema"], recorded), "k")


def _with(prov, recorded):
    adata = ad.AnnData(obs=recorded.obs[["k"]].copy())
    adata.uns["k"] = {"params": {}, "provenance": prov}
    return adata


def test_reading_never_imports_what_a_record_names(recorded):
    rec = json.loads(_valid_text(recorded))
    rec["params"]["partition_type"] = "evil_module_xyz.Partition"
    rec["params"]["clustering_args"] = {"cb": {"$type": "class", "name": "other_evil_xyz.C"}}
    adata = _with(encode_history([json.dumps(rec)]), recorded)
    (got,) = provenance.history(adata, "k")
    assert got.params.partition_type == "evil_module_xyz.Partition"
    assert got.digest != got.expected_digest()  # the edit shows
    assert "evil_module_xyz" not in sys.modules and "other_evil_xyz" not in sys.modules


def test_record_digest_is_recomputable_by_hand(recorded):
    import hashlib

    text = _valid_text(recorded)
    obj = json.loads(text)
    stored = obj.pop("digest")
    signature = obj.pop("signature")  # 1.4: the signature is of the digest, outside it
    canonical = json.dumps(obj, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert stored == "sha256:" + hashlib.sha256(canonical.encode()).hexdigest()
    assert text == json.dumps(
        {**obj, "digest": stored, "signature": signature},
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
    )


# --- property-based ------------------------------------------------------------------------

json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53), 2**53)
    | st.text(max_size=20)
    | st.floats(allow_nan=False, allow_infinity=False)
)
json_values = st.recursive(
    json_leaf,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
keys = st.text(
    st.characters(blacklist_characters="/", blacklist_categories=("Cs",)), min_size=1, max_size=12
)


@st.composite
def leiden_params(draw):
    return provenance.LeidenParams(
        resolution=draw(st.none() | st.floats(0, 1e6, allow_nan=False)),
        random_state=draw(st.none() | st.integers(-(2**63), 2**63 - 1)),
        restrict_to=None,
        key_added=draw(keys),
        adjacency=None,
        directed=draw(st.none() | st.booleans()),
        use_weights=draw(st.booleans()),
        partition_type=draw(st.none() | st.text(max_size=40)),
        neighbors_key=draw(st.none() | keys),
        obsp=draw(st.none() | keys),
        copy=draw(st.booleans()),
        flavor=draw(st.sampled_from(["leidenalg", "igraph"])),
        n_iterations=draw(st.integers(-1, 100)),
        clustering_args=draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4)),
    )


@settings(max_examples=max(10, FUZZ_EXAMPLES // 5), deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])  # fmt: skip
@given(params=leiden_params(), fmt=st.sampled_from(["h5ad", "zarr2", "zarr3"]))
def test_any_valid_params_survive_the_file_round_trip(recorded, tmp_path_factory, params, fmt):
    base = provenance.latest(recorded, "k")
    fields = base.model_dump(exclude={"id", "digest", "params"})
    rec = ClusteringRecord.create(**fields, params=params)
    adata = ad.AnnData(np.zeros((2, 1), dtype=np.float32))
    adata.uns["k"] = {"params": {}, "provenance": encode_history([encode_record(rec)])}
    back = roundtrip(adata, tmp_path_factory.mktemp("rt"), fmt)
    (got,) = provenance.history(back, "k")
    assert got == rec
    assert got.expected_digest() == rec.digest


junk = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text() | st.binary(max_size=40),
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(st.text(max_size=6), inner, max_size=4)
        | st.lists(st.text(max_size=30), max_size=3).map(lambda xs: np.array(xs, dtype=object))
    ),
    max_leaves=10,
)


@st.composite
def mutated_records(draw, valid: str):
    rec = json.loads(valid)
    path = draw(st.sampled_from(sorted(rec)))
    action = draw(st.sampled_from(["delete", "replace", "nest"]))
    if action == "delete":
        rec.pop(path)
    elif action == "replace":
        rec[path] = draw(json_values)
    elif isinstance(rec[path], dict) and rec[path]:
        sub = draw(st.sampled_from(sorted(rec[path])))
        rec[path][sub] = draw(json_values)
    text = json.dumps(rec)
    cut = draw(st.none() | st.integers(0, len(text)))
    return text if cut is None else text[:cut]


@settings(
    max_examples=FUZZ_EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_junk_never_escapes_as_anything_but_provenance_error(recorded, data):
    valid = _valid_text(recorded)
    prov = data.draw(
        junk
        | st.builds(lambda x: {"schema_version": "1.0", "history": x}, junk)
        | mutated_records(valid).map(lambda t: encode_history([valid, t]))
    )
    adata = _with(prov, recorded)
    with contextlib.suppress(ProvenanceError):
        provenance.history(adata, "k")


# --- the wrapper stays out of the way ---------------------------------------------------


def test_a_call_scanpy_rejects_gets_scanpys_own_error(pbmc):
    # Strict mode must not turn a user's typo into a provenance error.
    with provenance.record(pbmc), pytest.raises(TypeError, match="unexpected keyword"):
        sc.tl.louvain(pbmc, flavor="igraph", resolutoin=1.0)
    with provenance.record(pbmc), pytest.raises(TypeError):
        sc.tl.leiden(pbmc, 1.0, "extra positional")
    assert "louvain_igraph" not in pbmc.uns


def test_worker_threads_inside_a_targeted_block_are_recorded(pbmc):
    from concurrent.futures import ThreadPoolExecutor

    def run(res):
        sc.tl.leiden(pbmc, resolution=res, key_added=f"w{res}", **FAST)

    with provenance.record(pbmc) as block, ThreadPoolExecutor(2) as pool:
        list(pool.map(run, (0.5, 1.0)))
    assert sorted(r.key for r in block.records) == ["w0.5", "w1.0"]
    assert provenance.latest(pbmc, "w0.5").params.resolution == 0.5
    # Once the block is closed, the same object is no longer recorded, from any thread.
    with provenance.record(pbmc.copy()), ThreadPoolExecutor(1) as pool:  # patched still
        pool.submit(run, 2.0).result()
    assert provenance.history(pbmc, "w2.0") == []


def test_strict_failure_with_copy_true_keeps_the_returned_copy(pbmc, monkeypatch):
    import provenance._record.call as rec_mod

    def broken(*args, **kwargs):
        raise ProvenanceError("no graph today")

    monkeypatch.setattr(rec_mod, "graph_info", broken)
    with provenance.record(pbmc), pytest.raises(ProvenanceError, match="no graph today") as info:
        sc.tl.leiden(pbmc, key_added="c", **FAST, copy=True)
    out = info.value.result
    assert "c" in out.obs and out.uns["c"]["params"]["n_iterations"] == 2
    assert "c" not in pbmc.obs


def test_failed_call_on_a_view_leaves_the_view_alone(pbmc):
    import leidenalg

    class Exploding(leidenalg.RBConfigurationVertexPartition):
        def __init__(self, *args, **kwargs):
            raise RuntimeError("boom")

    view = pbmc[:300]
    assert view.is_view
    with provenance.record(view), pytest.raises(RuntimeError, match="boom"):
        sc.tl.leiden(view, partition_type=Exploding)
    assert view.is_view  # nothing was written back, so the view was not made a copy


def test_obs_names_digest_is_reused_within_a_sweep(pbmc, monkeypatch):
    import provenance._record.blocks as rec_mod

    calls = []
    real = rec_mod.obs_names_digest
    monkeypatch.setattr(rec_mod, "obs_names_digest", lambda names: calls.append(1) or real(names))
    with provenance.record(pbmc):
        for r in (0.5, 1.0, 1.5):
            sc.tl.leiden(pbmc, resolution=r, key_added=f"s{r}", **FAST)
    assert len(calls) == 1
    names = {provenance.latest(pbmc, f"s{r}").result.obs_names_digest for r in (0.5, 1.0, 1.5)}
    assert names == {real(pbmc.obs_names)}


def test_malformed_limit_setting_is_a_clear_provenance_error(recorded, monkeypatch):
    monkeypatch.setenv("PROVENANCE_MAX_HISTORY", "lots")
    with pytest.raises(
        ProvenanceError, match=r"PROVENANCE_MAX_HISTORY='lots' must be a positive integer"
    ):
        provenance.history(recorded, "k")


# --- broken files and hostile values through the audit and the CLI ----------------------


def test_broken_files_exit_2_with_one_line(recorded, tmp_path, capsys):
    import shutil

    from conftest import write_zarr

    from provenance._cli import main

    good = tmp_path / "good.h5ad"
    recorded.write_h5ad(good)
    empty = tmp_path / "empty.h5ad"
    empty.write_bytes(b"")
    truncated = tmp_path / "truncated.h5ad"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 3])
    store = tmp_path / "noattrs.zarr"
    write_zarr(recorded, store)
    for meta in [*store.rglob(".zattrs"), *store.rglob("zarr.json"), *store.rglob(".zgroup")]:
        if meta.parent == store:
            meta.unlink()
    shutil.rmtree(store / "obs", ignore_errors=True)
    for path in (empty, truncated, store):
        for cmd in ("show", "verify"):
            code = main([cmd, str(path)])
            out, err = capsys.readouterr()
            assert code == 2, (cmd, path, out, err)
            assert err.count("\n") == 1 and "Traceback" not in err, err
            assert str(path) in err


def test_audit_reports_hostile_histories_as_findings_and_never_raises(recorded):
    corpus = _corpus(_valid_text(recorded))
    for name, value in corpus.items():
        adata = recorded.copy()
        adata.uns["k"] = {"params": {}, "provenance": value}
        report = provenance.audit(adata)
        (entry,) = [e for e in report.entries if e.key == "k"]
        codes = {f.code for f in entry.findings}
        # A schema_version without a history is what ad.concat leaves: history_lost.
        errors = {"invalid_record", "newer_schema", "broken_chain", "history_lost"}
        assert codes & errors, (name, codes)
        assert not report.ok, name


@pytest.mark.skipif(SCANPY < (1, 10), reason="scanpy < 1.10 has no flavor notice")
def test_scanpy_notices_show_as_often_recorded_as_bare(pbmc):
    # scanpy 1.11's warn_once adds an "ignore" filter after warning; the recorder's capture of
    # the call's warnings must not drop it (the notice would repeat on every call). scanpy
    # 1.12 warns on every call: then it repeats either way.
    def notices(recorded: bool) -> int:
        adata = pbmc.copy()
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            with provenance.record(adata) if recorded else contextlib.nullcontext():
                for i in range(3):
                    sc.tl.leiden(adata, key_added=f"once_{i}", n_iterations=2)
        if recorded:
            assert [provenance.latest(adata, f"once_{i}").version for i in range(3)] == [1] * 3
        return sum("igraph" in str(w.message) and w.category is FutureWarning for w in caught)

    bare = notices(recorded=False)
    assert bare in (1, 3)  # once (scanpy 1.11's warn_once), or on every call (1.12)
    assert notices(recorded=True) == bare
