"""Recording real scanpy clusterings of pbmc68k_reduced (issue: core recording)."""

from __future__ import annotations

import json
from datetime import UTC
from importlib.metadata import version

import numpy as np
import pytest
import scanpy as sc
from conftest import FAST, FAST_FLAVOR, LEIDENALG, SCANPY, roundtrip

import provenance
from provenance import ClusteringRecord, ProvenanceError, ProvenanceWarning

LEIDEN, LOUVAIN = sc.tl.leiden, sc.tl.louvain


def _sweep(adata, resolutions=(0.5, 0.8, 1.2)):
    with provenance.record(adata) as block:
        for r in resolutions:
            sc.tl.leiden(adata, resolution=r, key_added=f"leiden_{r}", **FAST)  # fmt: skip
    return block


def test_sweep_records_every_parameter(pbmc):
    block = _sweep(pbmc)
    assert len(block.records) == 3
    for r in (0.5, 0.8, 1.2):
        key = f"leiden_{r}"
        (rec,) = provenance.history(pbmc, key)
        p = rec.params
        assert (rec.key, rec.method, rec.function) == (key, "leiden", "scanpy.tl.leiden")
        assert (p.resolution, p.random_state, p.n_iterations) == (r, 0, 2)
        # The values that ran: igraph treats the graph as undirected, leidenalg as directed.
        assert (p.flavor, p.directed, p.use_weights, p.partition_type) == (
            FAST_FLAVOR,
            FAST_FLAVOR == "leidenalg",
            True,
            None,
        )
        # scanpy >= 1.10 defaults directed=None (resolved by the backend); 1.9 to True.
        assert p.passed == ({"directed": None} if SCANPY >= (1, 10) else {})
        assert (p.neighbors_key, p.obsp, p.restrict_to, p.key_added) == (None, None, None, key)
        assert p.clustering_args == {}
        assert rec.software.packages["scanpy"] == version("scanpy")
        assert "igraph" in rec.software.packages
        assert rec.started_at.tzinfo is not None and rec.started_at.utcoffset() == UTC.utcoffset(
            None
        )
        assert rec.started_at <= rec.finished_at
        assert rec.graph.obsp_key == "connectivities" and rec.graph.n_nodes == pbmc.n_obs
        assert rec.graph.digest.startswith("xxh3_128_v2:")
        assert rec.graph.neighbors_params is not None  # how the graph was made
        assert rec.result.n_clusters == len(pbmc.obs[key].cat.categories)
        assert sum(rec.result.cluster_sizes) == pbmc.n_obs
        assert rec.result.categories == list(pbmc.obs[key].cat.categories)
        # scanpy's own params are exactly what scanpy writes.
        assert pbmc.uns[key]["params"] == {"resolution": r, "random_state": 0, "n_iterations": 2}
        assert rec.digest == rec.expected_digest() and rec.previous is None
    # One graph, three different labelings.
    recs = [provenance.latest(pbmc, f"leiden_{r}") for r in (0.5, 0.8, 1.2)]
    assert len({r.graph.digest for r in recs}) == 1
    assert len({r.result.labels_digest for r in recs}) == 3


# Arguments scanpy hands on to the backend FAST runs (igraph's; leidenalg's on scanpy 1.9).
MOD_ARGS = (
    {"objective_function": "modularity", "beta": 0.02}
    if SCANPY >= (1, 10)
    else {"max_comm_size": 100}
)


def test_leidenalg_flavor_keeps_partition_type_and_extra_args(pbmc):
    import leidenalg

    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, resolution=0.05, key_added="cpm", **LEIDENALG,
                     partition_type=leidenalg.CPMVertexPartition, random_state=3,
                     n_iterations=2, max_comm_size=50)  # fmt: skip
        sc.tl.leiden(pbmc, key_added="mod", **FAST, **MOD_ARGS)
    cpm = provenance.latest(pbmc, "cpm")
    assert cpm.params.partition_type == "leidenalg.VertexPartition.CPMVertexPartition"
    assert cpm.params.clustering_args == {"max_comm_size": 50}
    # leidenalg runs directed=None (scanpy >= 1.10's default) as directed; 1.9 defaults to True.
    assert (cpm.params.flavor, cpm.params.random_state, cpm.params.directed) == (
        "leidenalg",
        3,
        True,
    )
    assert "leidenalg" in cpm.software.packages
    mod = provenance.latest(pbmc, "mod")
    assert mod.params.clustering_args == MOD_ARGS


def test_louvain_and_neighbors_key_and_obsp(pbmc):
    sc.pp.neighbors(pbmc, n_neighbors=8, key_added="nn8")
    with provenance.record(pbmc):
        sc.tl.louvain(pbmc, key_added="lv", flavor="igraph", neighbors_key="nn8")
        sc.tl.leiden(pbmc, key_added="ld", **FAST, obsp="nn8_connectivities")
    lv = provenance.latest(pbmc, "lv")
    assert lv.method == "louvain" and lv.params.method == "louvain"
    assert (lv.params.neighbors_key, lv.graph.neighbors_key, lv.graph.obsp_key) == (
        "nn8", "nn8", "nn8_connectivities")  # fmt: skip
    assert lv.graph.neighbors_params["n_neighbors"] == 8
    assert pbmc.uns["lv"]["params"] == {"resolution": None, "random_state": 0}
    ld = provenance.latest(pbmc, "ld")
    assert (ld.params.obsp, ld.graph.obsp_key) == ("nn8_connectivities", "nn8_connectivities")
    assert ld.graph.digest == lv.graph.digest
    default = provenance.latest(pbmc, "lv").graph.digest
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="d", **FAST)
    assert provenance.latest(pbmc, "d").graph.digest != default


def test_rerun_appends_a_version_and_identical_rerun_does_not(pbmc):
    key = "leiden_0.8"
    with provenance.record(pbmc):
        for seed in (0, 0, 1):
            sc.tl.leiden(pbmc, resolution=0.8, key_added=key, **FAST,
                         random_state=seed)  # fmt: skip
        sc.tl.leiden(pbmc, resolution=1.1, key_added=key, **FAST)
    hist = provenance.history(pbmc, key)
    assert [r.version for r in hist] == [1, 2, 3]
    assert [r.params.random_state for r in hist] == [0, 1, 0]
    assert [r.params.resolution for r in hist] == [0.8, 0.8, 1.1]
    assert hist[0].previous is None
    assert hist[1].previous == hist[0].digest and hist[2].previous == hist[1].digest
    assert len({r.id for r in hist}) == 3
    assert hist[-1].result.n_clusters == len(pbmc.obs[key].cat.categories)
    assert pbmc.uns[key]["params"]["resolution"] == 1.1


@pytest.mark.parametrize("fmt", ["h5ad", "zarr2", "zarr3"])
def test_file_round_trip_gives_equal_records(pbmc, tmp_path, fmt):
    import leidenalg

    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="a", **FAST)
        sc.tl.leiden(pbmc, key_added="a", **FAST, random_state=5)
        sc.tl.leiden(pbmc, key_added="b", **LEIDENALG, random_state=7,
                     partition_type=leidenalg.RBERVertexPartition, restrict_to=("a", ["0", "1"]))  # fmt: skip
        sc.tl.louvain(pbmc, key_added="c", flavor="igraph", random_state=np.random.RandomState(3))
    del pbmc.uns["c"]["params"]["random_state"]  # scanpy stored the object itself (not h5ad-safe)
    before = {k: provenance.history(pbmc, k) for k in ("a", "b", "c")}
    back = roundtrip(pbmc, tmp_path, fmt)
    for k, recs in before.items():
        assert provenance.history(back, k) == recs
        assert [r.digest for r in recs] == [
            r.expected_digest() for r in provenance.history(back, k)
        ]
    assert back.uns["a"]["params"] == {"resolution": 1.0, "random_state": 5, "n_iterations": 2}


def test_history_reads_as_plain_json_without_the_package(pbmc, tmp_path):
    import subprocess
    import sys

    _sweep(pbmc, resolutions=(0.8,))
    path = tmp_path / "plain.h5ad"
    pbmc.write_h5ad(path)
    code = f"""
import json, sys, h5py
with h5py.File({str(path)!r}) as f:
    hist = f["uns/leiden_0.8/provenance/history"][()]
    rec = json.loads(hist[0])
    print(json.dumps([rec["params"]["resolution"], rec["params"]["flavor"], rec["key"]]))
    assert "provenance" not in sys.modules and "scanpy" not in sys.modules
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert json.loads(out.stdout) == [0.8, FAST_FLAVOR, "leiden_0.8"]


def test_copy_true_records_on_the_returned_copy_only(pbmc):
    with provenance.record(pbmc) as block:
        out = sc.tl.leiden(pbmc, key_added="cp", **FAST, copy=True)
        # Copies returned inside the block are watched too.
        sc.tl.leiden(out, key_added="cp2", **FAST)
    assert "cp" not in pbmc.uns and "cp" not in pbmc.obs
    (rec,) = provenance.history(out, "cp")
    assert rec.params.copy_ is True and rec.key == "cp"
    assert provenance.latest(out, "cp2") is not None
    assert len(block.records) == 2


@pytest.mark.parametrize(("key_added", "written"), [("leiden", "leiden_R"), ("sub", "sub")])
def test_restrict_to_records_under_the_key_written(pbmc, key_added, written):
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="base", **FAST)
        sc.tl.leiden(pbmc, key_added=key_added, **FAST,
                     restrict_to=("base", ["0"]))  # fmt: skip
    rec = provenance.latest(pbmc, written)
    assert rec.key == written and rec.params.key_added == key_added
    assert rec.params.restrict_to.key == "base" and rec.params.restrict_to.categories == ["0"]
    assert rec.result.categories == list(pbmc.obs[written].cat.categories)
    if written != key_added:
        assert key_added not in pbmc.uns


class Boom(Exception):
    pass


def _partition_that_raises(exc):
    import leidenalg

    class Exploding(leidenalg.RBConfigurationVertexPartition):
        def __init__(self, *args, **kwargs):
            raise exc

    return Exploding


@pytest.mark.parametrize("exc", [Boom("partition failed"), KeyboardInterrupt()])
def test_failing_clustering_leaves_uns_and_obs_untouched(pbmc, exc):
    _sweep(pbmc, resolutions=(0.8,))
    key = "leiden_0.8"
    uns_before = pbmc.uns[key]
    history_before = provenance.history(pbmc, key)
    labels_before = pbmc.obs[key].copy()
    keys_before = list(pbmc.uns.keys())
    with pytest.raises(type(exc)), provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added=key, partition_type=_partition_that_raises(exc))
    assert pbmc.uns[key] is uns_before and list(pbmc.uns.keys()) == keys_before
    assert provenance.history(pbmc, key) == history_before
    assert pbmc.obs[key].equals(labels_before)
    assert sc.tl.leiden is LEIDEN and sc.tl.louvain is LOUVAIN


def test_functions_are_restored_after_each_block(pbmc):
    with provenance.record(pbmc):
        assert sc.tl.leiden is not LEIDEN
        with provenance.record():
            assert sc.tl.leiden is not LEIDEN
        assert sc.tl.leiden is not LEIDEN  # the outer block still records
    assert sc.tl.leiden is LEIDEN and sc.tl.louvain is LOUVAIN
    with pytest.raises(RuntimeError), provenance.record():
        raise RuntimeError
    assert sc.tl.leiden is LEIDEN and sc.tl.louvain is LOUVAIN


def test_wrapper_keeps_signature_and_passes_errors_through(pbmc):
    import inspect

    sig = inspect.signature(LEIDEN)
    with provenance.record(pbmc):
        assert inspect.signature(sc.tl.leiden) == sig
        assert sc.tl.leiden.__doc__ == LEIDEN.__doc__
        # scanpy >= 1.10 checks the flavor; 1.9 hands it on to leidenalg, which rejects it.
        error = ValueError if SCANPY >= (1, 10) else TypeError
        with pytest.raises(error, match="flavor"):
            sc.tl.leiden(pbmc, flavor="nope")
    assert "leiden" not in pbmc.uns


def test_record_adata_records_that_object_only(pbmc):
    other = pbmc.copy()
    with provenance.record(pbmc):
        # Not watched, so not recorded, and not silently: refused in strict mode.
        with pytest.raises(provenance.ProvenanceError, match="does not watch"):
            sc.tl.leiden(other, key_added="o", **FAST)
        sc.tl.leiden(pbmc, key_added="p", **FAST)
    assert "o" not in other.obs and "o" not in other.uns
    assert provenance.latest(pbmc, "p") is not None
    with provenance.record():
        sc.tl.leiden(other, key_added="o", **FAST)
    assert provenance.latest(other, "o") is not None


def test_calls_outside_a_block_are_not_recorded(pbmc):
    sc.tl.leiden(pbmc, key_added="plain", **FAST)
    assert provenance.history(pbmc, "plain") == []
    assert provenance.latest(pbmc, "plain") is None
    with pytest.raises(provenance.UnknownKeyError, match="'nope' is neither in obs nor in uns"):
        provenance.history(pbmc, "nope")


@pytest.mark.skipif(
    SCANPY < (1, 10), reason="scanpy 1.9 hands random_state to leidenalg, which takes only an int"
)
def test_random_state_object_is_stored_json_safe_and_files_write(pbmc, tmp_path):
    rs = np.random.RandomState(11)
    expected = rs.get_state(legacy=True)
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="rs", **FAST, random_state=rs)
    rec = provenance.latest(pbmc, "rs")
    stored = rec.params.random_state
    assert stored["$type"] == "numpy.random.RandomState"
    assert stored["state"]["key"] == [int(k) for k in expected[1]]  # the state *before* the call
    assert stored["state"]["pos"] == expected[2]
    # scanpy itself keeps the RandomState object in its params (not writable to h5ad);
    # without it the file writes, so nothing of ours blocks writing.
    assert isinstance(pbmc.uns["rs"]["params"]["random_state"], np.random.RandomState)
    del pbmc.uns["rs"]["params"]["random_state"]
    back = roundtrip(pbmc, tmp_path, "h5ad")
    assert provenance.latest(back, "rs") == rec


def test_recording_failure_keeps_result_and_warns(pbmc, monkeypatch):
    # A graph that cannot be fingerprinted makes recording fail after the clustering ran.
    import provenance._record.call as rec_mod

    def broken(*args, **kwargs):
        msg = "fingerprint exploded"
        raise ProvenanceError(msg)

    monkeypatch.setattr(rec_mod, "graph_info", broken)
    monkeypatch.setenv("PROVENANCE_STRICT", "0")
    with pytest.warns(ProvenanceWarning, match="was not recorded: fingerprint exploded"), \
            provenance.record(pbmc):  # fmt: skip
        sc.tl.leiden(pbmc, key_added="w", **FAST)
    assert "w" in pbmc.obs and pbmc.uns["w"]["params"]["n_iterations"] == 2
    monkeypatch.setenv("PROVENANCE_STRICT", "1")
    with pytest.raises(ProvenanceError, match="fingerprint exploded"), provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="w2", **FAST)
    assert "w2" in pbmc.obs  # strict raises, but the clustering result still stands
    with pytest.raises(ProvenanceError), provenance.record(pbmc, strict=True):
        sc.tl.leiden(pbmc, key_added="w3", **FAST)


def test_unreadable_history_is_kept_not_overwritten(pbmc, monkeypatch):
    _sweep(pbmc, resolutions=(0.8,))
    key = "leiden_0.8"
    pbmc.uns[key]["provenance"]["history"][0] = '{"truncated": '
    damaged = pbmc.uns[key]["provenance"]
    labels = pbmc.obs[key].copy()
    # Strict: refused before anything changes.
    with pytest.raises(ProvenanceError, match=r"uns\['leiden_0.8'\]\['provenance'\] cannot be read.*move it aside"), \
            provenance.record(pbmc):  # fmt: skip
        sc.tl.leiden(pbmc, key_added=key, **FAST, random_state=9)
    assert pbmc.uns[key]["provenance"] is damaged
    assert pbmc.uns[key]["params"]["random_state"] == 0
    assert pbmc.obs[key].equals(labels)
    # Not strict: the clustering runs, the unreadable history stays where it was.
    monkeypatch.setenv("PROVENANCE_STRICT", "0")
    with pytest.warns(ProvenanceWarning, match="kept unchanged"), provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added=key, **FAST, random_state=9)
    assert pbmc.uns[key]["provenance"] is damaged
    assert pbmc.uns[key]["params"]["random_state"] == 9


def test_records_are_frozen_and_reject_unknown_fields(pbmc):
    _sweep(pbmc, resolutions=(0.8,))
    rec = provenance.latest(pbmc, "leiden_0.8")
    with pytest.raises(Exception, match="frozen"):
        rec.key = "x"
    data = rec.model_dump(mode="json")
    data["surprise"] = 1
    with pytest.raises(Exception, match="Extra inputs are not permitted"):
        ClusteringRecord.model_validate(data)


def test_import_is_light():
    import subprocess
    import sys

    code = (
        "import sys, provenance\n"
        "heavy = [m for m in ('scanpy', 'anndata', 'h5py', 'zarr', 'IPython', 'rich') "
        "if m in sys.modules]\n"
        "print(','.join(heavy))"
    )
    out = subprocess.run([sys.executable, "-X", "importtime", "-c", code],
                         capture_output=True, text=True, check=True)  # fmt: skip
    if out.stdout.strip():
        chain = [
            ln for ln in out.stderr.splitlines() if any(m in ln for m in out.stdout.split(","))
        ]
        pytest.fail(f"import provenance loaded {out.stdout.strip()}:\n" + "\n".join(chain[:30]))
