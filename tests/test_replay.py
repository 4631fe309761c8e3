"""Replay: re-run recorded clusterings on real pbmc68k_reduced data and compare."""

from __future__ import annotations

import copy
import dataclasses
import json
import random
import sys
from importlib.metadata import version
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd
import pytest
import scanpy as sc
from conftest import FAST, LEIDENALG, SCANPY, write_zarr
from scipy import sparse

import provenance
from provenance import ClusteringRecord, ReplayError, ReplayResult
from provenance._cli import main
from provenance._replay.replay import read_for_replay
from provenance._storage.codec import encode_history, history_texts
from provenance._util.agreement import adjusted_rand_index, agreement, normalized_mutual_info

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

LOUVAIN_SEED = 0  # python's `random`, which louvain(flavor="igraph") draws from


@pytest.fixture(scope="module")
def recorded(_pbmc_master: AnnData) -> AnnData:
    """pbmc68k_reduced with several recorded clusterings (fixed seeds). Do not modify."""
    import leidenalg

    adata = _pbmc_master.copy()
    with provenance.record(adata):
        sc.tl.leiden(adata, resolution=0.8, key_added="leiden_la", **LEIDENALG, random_state=1)
        sc.tl.leiden(adata, key_added="leiden_ig", **FAST, random_state=2)
        sc.tl.leiden(
            adata,
            resolution=0.05,
            key_added="leiden_cpm",
            partition_type=leidenalg.CPMVertexPartition,
            random_state=3,
        )
        random.seed(LOUVAIN_SEED)
        sc.tl.louvain(adata, key_added="louvain_ig", flavor="igraph")
        sc.tl.leiden(adata, key_added="rerun", **FAST, resolution=1.0)
        sc.tl.leiden(adata, key_added="rerun", **FAST, resolution=1.5)
        sc.tl.leiden(
            adata,
            restrict_to=("bulk_labels", ["CD14+ Monocyte", "Dendritic"]),
            **{**FAST, "n_iterations": -1},
        )
    assert [len(provenance.history(adata, k)) for k in ("leiden_la", "rerun", "leiden_R")] == [
        1,
        2,
        1,
    ]
    return adata


@pytest.fixture
def fresh(recorded: AnnData) -> AnnData:
    """A copy of ``recorded`` a test may modify."""
    return recorded.copy()


def _snapshot(adata: AnnData) -> tuple[Any, ...]:
    return (
        adata.obs.copy(deep=True),
        copy.deepcopy(dict(adata.uns)),
        {k: v.copy() for k, v in adata.obsp.items()},
    )


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, dict):
        return isinstance(b, dict) and a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray):
        return isinstance(b, np.ndarray) and a.dtype == b.dtype and np.array_equal(a, b)
    if isinstance(a, pd.DataFrame):
        return a.equals(b)
    return type(a) is type(b) and a == b


def _assert_unchanged(adata: AnnData, before: tuple[Any, ...]) -> None:
    obs, uns, obsp = before
    pd.testing.assert_frame_equal(adata.obs, obs)
    assert _same(dict(adata.uns), uns)
    assert adata.obsp.keys() == obsp.keys()
    for k, m in obsp.items():
        assert (adata.obsp[k] != m).nnz == 0
        assert adata.obsp[k].dtype == m.dtype


def _edit_record(adata: AnnData, key: str, index: int, edit: Any, *, redigest: bool) -> None:
    """Rewrite one stored record in place (a hand edit of the file)."""
    prov = adata.uns[key]["provenance"]
    texts = history_texts(prov, key=key)
    obj = json.loads(texts[index])
    edit(obj)
    if redigest:
        draft = ClusteringRecord.model_validate(obj)
        obj["digest"] = draft.expected_digest()
    texts[index] = json.dumps(obj, sort_keys=True, separators=(",", ":"))
    adata.uns[key]["provenance"] = encode_history(texts)


# --- replays that must be identical -------------------------------------------------------


@pytest.mark.parametrize(
    "key", ["leiden_la", "leiden_ig", "leiden_cpm", "louvain_ig", "rerun", "leiden_R"]
)
def test_replay_identical(recorded: AnnData, key: str) -> None:
    before = _snapshot(recorded)
    if key == "louvain_ig":
        random.seed(12345)  # the recorded state of `random` is restored, whatever it is now
    state = random.getstate()
    result = provenance.replay(recorded, key)
    assert random.getstate() == state  # and the caller's state is put back
    assert isinstance(result, ReplayResult)
    assert result.identical
    assert result.ari == 1.0
    assert result.nmi == pytest.approx(1.0)
    assert result.reproduces_record
    assert result.graph == "obsp['connectivities']"
    assert result.graph_matches
    assert not result.forced
    assert result.software == {}
    assert result.n_clusters_recorded == result.n_clusters_replayed
    assert result.n_clusters_recorded == recorded.obs[key].nunique()
    assert result.labels_version == result.version == result.n_versions
    assert (result.best_match["jaccard"] == 1.0).all()
    assert result.labels is not None
    assert result.labels.index.equals(recorded.obs_names)
    assert "IDENTICAL" in str(result)
    _assert_unchanged(recorded, before)
    assert "_provenance_replay" not in recorded.obs
    assert "_provenance_replay" not in recorded.uns


def test_replay_rebuilds_the_recorded_call(recorded: AnnData) -> None:
    assert "partition_type=leidenalg.VertexPartition.CPMVertexPartition" in (
        provenance.replay(recorded, "leiden_cpm").call
    )
    la = provenance.replay(recorded, "leiden_la")
    # scanpy 1.9 has no flavor argument: leidenalg is all it runs.
    assert ("flavor='leidenalg'" in la.call) == (SCANPY >= (1, 10))
    assert "resolution=0.8" in la.call
    assert "random_state=1" in la.call
    r = provenance.replay(recorded, "leiden_R")
    assert "restrict_to=('bulk_labels', ['CD14+ Monocyte', 'Dendritic'])" in r.call
    # scanpy renamed the restricted groups: the replay gives the same names too.
    assert list(r.contingency.index) == list(r.contingency.columns)
    assert any("restrict_to" in n for n in r.notes)


def test_louvain_igraph_replays_from_the_recorded_python_random_state(recorded: AnnData) -> None:
    rec = provenance.latest(recorded, "louvain_ig")
    random.seed(LOUVAIN_SEED)
    assert rec.params.python_random_state["state"] == [int(x) for x in random.getstate()[1]]
    assert provenance.replay(recorded, "louvain_ig").deterministic
    assert provenance.replay(recorded, "leiden_ig").deterministic
    # A record without that state (made before it was kept) is flagged as unseeded.
    texts = history_texts(recorded.uns["louvain_ig"]["provenance"], key="louvain_ig")
    old = json.loads(texts[-1])
    old["params"]["python_random_state"] = None
    adata = recorded.copy()
    adata.uns["louvain_ig"]["provenance"] = encode_history([json.dumps(old)])
    result = provenance.replay(adata, "louvain_ig", force=True)
    assert not result.deterministic
    assert any("Python's global `random`" in n for n in result.notes)


def test_replay_louvain_vtraag(pbmc: AnnData) -> None:
    louvain = pytest.importorskip("louvain")
    with provenance.record(pbmc):
        sc.tl.louvain(pbmc, key_added="louvain_v", flavor="vtraag", random_state=4)
        sc.tl.louvain(
            pbmc,
            key_added="louvain_cpm",
            flavor="vtraag",
            resolution=0.05,
            partition_type=louvain.CPMVertexPartition,
        )
    before = _snapshot(pbmc)
    for key in ("louvain_v", "louvain_cpm"):
        result = provenance.replay(pbmc, key)
        assert result.identical, str(result)
        assert result.ari == 1.0
        assert result.deterministic
    _assert_unchanged(pbmc, before)


@pytest.mark.skipif(
    SCANPY < (1, 10), reason="scanpy 1.9 hands random_state to leidenalg, which takes only an int"
)
def test_replay_random_state_object(pbmc: AnnData) -> None:
    # The igraph flavor takes a RandomState; the record keeps its full MT19937 state.
    with provenance.record(pbmc):
        sc.tl.leiden(
            pbmc,
            key_added="rs",
            **FAST,
            random_state=np.random.RandomState(11),
        )
    result = provenance.replay(pbmc, "rs")
    assert result.identical
    assert "random_state=<recorded RandomState>" in result.call


def test_replay_inside_record_block_is_not_recorded(recorded: AnnData) -> None:
    with provenance.record() as block:
        assert provenance.replay(recorded, "leiden_ig").identical
    assert block.records == []


def test_replay_leaves_the_callers_graph_byte_for_byte(fresh: AnnData) -> None:
    # The graph is handed to scanpy without a copy: it must come back untouched, also when
    # its indices are unsorted (scipy could sort them in place) and with restrict_to.
    m = fresh.obsp["connectivities"].copy()
    for i in range(m.shape[0]):
        lo, hi = m.indptr[i], m.indptr[i + 1]
        m.indices[lo:hi] = m.indices[lo:hi][::-1].copy()
        m.data[lo:hi] = m.data[lo:hi][::-1].copy()
    m.has_sorted_indices = False
    fresh.obsp["connectivities"] = m
    before = (m.data.copy(), m.indices.copy(), m.indptr.copy())
    for key in ("leiden_ig", "leiden_R", "louvain_ig"):
        assert provenance.replay(fresh, key).identical, key
        graph = fresh.obsp["connectivities"]
        assert graph is m
        for now, then in zip((graph.data, graph.indices, graph.indptr), before, strict=True):
            assert np.array_equal(now, then)


def test_original_unwraps_only_the_recorder() -> None:
    import scanpy.tools

    from provenance._replay.replay import _original
    from provenance._targets.registry import targets

    ADAPTERS = [t for t in targets() if t.module == "scanpy.tools"]
    plain = {a.attr: getattr(scanpy.tools, a.attr) for a in ADAPTERS}
    # scanpy's louvain carries its own decorator's __wrapped__: that must be kept.
    assert hasattr(plain["louvain"], "__wrapped__") or SCANPY < (1, 10)
    with provenance.record():
        for adapter in ADAPTERS:
            assert getattr(scanpy.tools, adapter.attr) is not plain[adapter.attr]
            assert _original(adapter) is plain[adapter.attr]
    for adapter in ADAPTERS:
        assert _original(adapter) is plain[adapter.attr]


def test_replay_adjacency_from_obsp(pbmc: AnnData) -> None:
    with provenance.record(pbmc):
        sc.tl.leiden(
            pbmc,
            key_added="adj",
            adjacency=pbmc.obsp["connectivities"],
            **FAST,
        )
    result = provenance.replay(pbmc, "adj")
    assert result.identical
    assert result.graph_matches


def test_replay_adjacency_not_in_obsp_needs_force(pbmc: AnnData) -> None:
    outside = sparse.csr_matrix(pbmc.obsp["connectivities"], copy=True)
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="adj", adjacency=outside, **FAST)
    with pytest.raises(ReplayError, match=r"adjacency=.*force=True"):
        provenance.replay(pbmc, "adj")
    result = provenance.replay(pbmc, "adj", force=True)
    assert result.forced
    assert not result.graph_matches
    assert result.identical  # the outside matrix was a copy of this one


# --- replays that differ or refuse --------------------------------------------------------


def test_replay_older_version_reports_differences(recorded: AnnData) -> None:
    before = _snapshot(recorded)
    result = provenance.replay(recorded, "rerun", version=1)
    assert result.version == 1
    assert result.n_versions == 2
    assert not result.identical
    assert result.ari < 1.0
    assert result.nmi < 1.0
    assert result.reproduces_record  # version 1 itself replays exactly
    assert result.labels_version == 2
    assert (result.best_match["jaccard"] < 1.0).any()
    text = str(result)
    assert "DIFFERS from obs['rerun']" in text
    assert "holds the labels of version 2, not of version 1" in text
    assert "resolution=1.0" in result.call
    assert int(result.contingency.to_numpy().sum()) == recorded.n_obs
    # Independent check of the reported agreement.
    old = provenance.history(recorded, "rerun")[0]
    assert result.n_clusters_replayed == old.result.n_clusters
    assert result.n_clusters_recorded == recorded.obs["rerun"].nunique()
    assert provenance.replay(recorded, "rerun", version=-2).ari == result.ari
    assert provenance.replay(recorded, "rerun", version=2).identical
    _assert_unchanged(recorded, before)


@pytest.mark.parametrize("version", [0, 3, -3])
def test_replay_bad_version(recorded: AnnData, version: int) -> None:
    with pytest.raises(ReplayError, match="version"):
        provenance.replay(recorded, "rerun", version=version)


@pytest.mark.parametrize("version", [True, False, 0, 3, -3, 1.0])
def test_replay_bad_version_names_key_and_range(recorded: AnnData, version: Any) -> None:
    with pytest.raises(ReplayError, match=r"'rerun'.*1\.\.2.*-1\.\.-2"):
        provenance.replay(recorded, "rerun", version=version)


def test_replay_unknown_or_unrecorded_key(recorded: AnnData) -> None:
    with pytest.raises(provenance.UnknownKeyError, match="nope"):
        provenance.replay(recorded, "nope")
    # pbmc68k_reduced ships an obs['louvain'] made without this package.
    with pytest.raises(ReplayError, match="no provenance record"):
        provenance.replay(recorded, "louvain")


def test_replay_refuses_a_recomputed_graph(fresh: AnnData) -> None:
    sc.pp.neighbors(fresh, n_neighbors=5)
    before = _snapshot(fresh)
    with pytest.raises(ReplayError) as info:
        provenance.replay(fresh, "leiden_ig")
    msg = str(info.value)
    assert "obsp['connectivities']" in msg
    recorded_digest = provenance.latest(fresh, "leiden_ig").graph.digest
    assert recorded_digest in msg
    assert "force=True" in msg
    assert "\n" not in msg
    result = provenance.replay(fresh, "leiden_ig", force=True)
    assert result.forced
    assert not result.graph_matches
    assert not result.reproduces_record
    assert "DIFFERS from the record" in str(result)
    _assert_unchanged(fresh, before)


def test_replay_missing_graph(fresh: AnnData) -> None:
    del fresh.obsp["connectivities"]
    with pytest.raises(ReplayError, match=r"obsp\['connectivities'\].*missing"):
        provenance.replay(fresh, "leiden_ig", force=True)


@pytest.mark.parametrize("name", ["os.system", "evil_module_xyz.Part"])
@pytest.mark.parametrize("force", [False, True])
def test_partition_type_outside_allowlist_is_never_imported(
    fresh: AnnData, name: str, force: bool
) -> None:
    def edit(obj: dict[str, Any]) -> None:
        obj["params"]["partition_type"] = name

    _edit_record(fresh, "leiden_la", -1, edit, redigest=False)
    assert provenance.latest(fresh, "leiden_la").params.partition_type == name
    with pytest.raises(ReplayError, match="not a known partition class") as info:
        provenance.replay(fresh, "leiden_la", force=force)
    assert name in str(info.value)
    assert "evil_module_xyz" not in sys.modules


def test_tagged_values_outside_allowlist_are_refused(fresh: AnnData) -> None:
    cases = [
        ({"$type": "class", "name": "evil_module_xyz.Part"}, "not a known partition class"),
        ({"$type": "callable", "name": "evil_module_xyz.run"}, "cannot be rebuilt"),
        ({"$type": "object", "class": "evil_module_xyz.Thing", "repr": "x"}, "cannot be rebuilt"),
        ({"$type": "ndarray", "dtype": "float64", "shape": [999], "sha256": "0"}, "hash"),
    ]
    for value, expected in cases:
        case = fresh.copy()

        def edit(obj: dict[str, Any], value: Any = value) -> None:
            obj["params"]["clustering_args"] = {"evil": value}

        _edit_record(case, "leiden_la", -1, edit, redigest=True)
        with pytest.raises(ReplayError, match=expected) as info:
            provenance.replay(case, "leiden_la")
        assert "clustering_args['evil']" in str(info.value)
    assert "evil_module_xyz" not in sys.modules


@pytest.mark.skipif(
    SCANPY < (1, 10), reason="beta is an argument of the igraph flavor (scanpy >= 1.10)"
)
def test_tagged_float_argument_round_trips(pbmc: AnnData) -> None:
    # beta=inf is stored as a tagged float; the replay passes the float back to igraph.
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="beta", **FAST, beta=float("inf"))
    rec = provenance.latest(pbmc, "beta")
    assert rec.params.clustering_args == {"beta": {"$type": "float", "value": "inf"}}
    result = provenance.replay(pbmc, "beta")
    assert result.identical
    assert "beta=inf" in result.call


def test_decode_argument_simple_values() -> None:
    from provenance._targets.decode import decode_argument as decode
    from provenance._targets.registry import partition_classes
    from provenance._util.jsonsafe import jsonable

    def decode_argument(value, *, what):
        return decode(value, what=what, classes=partition_classes())

    rs = np.random.RandomState(3)
    rs.random_sample(5)
    back = decode_argument(jsonable(rs), what="x")
    assert back.random_sample() == rs.random_sample()
    gen = np.random.default_rng(7)
    back = decode_argument(jsonable(gen), what="x")
    assert back.random() == gen.random()
    arr = np.arange(6, dtype=np.int32).reshape(2, 3)
    back = decode_argument(jsonable({"a": [arr, float("-inf"), None]}), what="x")
    assert back["a"][0].dtype == np.int32
    assert np.array_equal(back["a"][0], arr)
    assert back["a"][1] == float("-inf")
    assert back["a"][2] is None
    import leidenalg

    cls = jsonable(leidenalg.ModularityVertexPartition)
    assert decode_argument(cls, what="x") is leidenalg.ModularityVertexPartition


def test_edited_record_needs_force(fresh: AnnData) -> None:
    def edit(obj: dict[str, Any]) -> None:
        obj["params"]["resolution"] = 2.0

    _edit_record(fresh, "leiden_ig", -1, edit, redigest=False)
    with pytest.raises(ReplayError, match="digest check"):
        provenance.replay(fresh, "leiden_ig")
    result = provenance.replay(fresh, "leiden_ig", force=True)
    assert result.forced
    assert not result.identical
    assert any("digest" in n for n in result.notes)


def test_software_differences_are_reported(fresh: AnnData) -> None:
    def edit(obj: dict[str, Any]) -> None:
        obj["software"]["packages"]["scanpy"] = "1.8.2"  # installed in no session
        obj["software"]["python"] = "3.10.0"

    _edit_record(fresh, "rerun", 0, edit, redigest=True)
    result = provenance.replay(fresh, "rerun", version=1)
    installed = version("scanpy")
    assert result.software["scanpy"] == ("1.8.2", installed)
    assert result.software["python"][0] == "3.10.0"
    assert "leidenalg" not in result.software
    text = str(result)
    assert f"scanpy 1.8.2 -> {installed}" in text
    assert "installed versions differ from the recorded ones (python, scanpy)" in text


def test_result_is_frozen_and_serialisable(recorded: AnnData) -> None:
    result = provenance.replay(recorded, "rerun", version=1)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.identical = True  # type: ignore[misc]
    d = json.loads(json.dumps(result.to_dict()))
    assert d["identical"] is False
    assert d["version"] == 1
    assert d["ari"] == result.ari
    counts = np.array(d["contingency"]["counts"])
    assert counts.sum() == recorded.n_obs
    assert d["contingency"]["recorded"] == [str(x) for x in result.contingency.index]
    assert set(d["best_match"]) == set(recorded.obs["rerun"].cat.categories)
    html = result._repr_html_()
    assert "differs" in html
    assert "<table" in html


# --- agreement measures -------------------------------------------------------------------


def test_ari_nmi_hand_computed() -> None:
    # a = [0,0,1,1], b = [0,0,1,2]: index 1, row pairs 2, column pairs 1, 6 pairs in all:
    # ARI = (1 - 2/6) / (3/2 - 2/6) = 4/7. H(a) = ln 2, H(b) = 1.5 ln 2, MI = ln 2: NMI = 0.8.
    table = np.array([[2, 0, 0], [0, 1, 1]])
    assert adjusted_rand_index(table) == pytest.approx(4 / 7)
    assert normalized_mutual_info(table) == pytest.approx(0.8)
    # Every cell alone vs all together: no agreement beyond chance.
    assert adjusted_rand_index(np.ones((1, 4), dtype=int)) == 0.0
    assert normalized_mutual_info(np.ones((1, 4), dtype=int)) == 0.0
    same = agreement(pd.Series(list("aabbc")), pd.Series(list("xxyyz")))
    assert same.identical
    assert same.ari == 1.0
    assert same.nmi == 1.0
    merged = agreement(pd.Series(list("aabbc")), pd.Series(list("xxyyy")))
    assert not merged.identical
    assert merged.best_match.loc["c", "jaccard"] == pytest.approx(1 / 3)
    assert merged.best_match.loc["b", "best_match"] == "y"


def test_agreement_handles_missing_labels() -> None:
    a = pd.Series(pd.Categorical(["a", "a", None, "b"]))
    b = pd.Series(pd.Categorical(["x", "x", "y", "z"]))
    result = agreement(a, b)
    assert "<NA>" in result.contingency.index
    assert result.identical


def test_ari_nmi_match_scikit_learn() -> None:
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(0)
    for _ in range(100):
        n = int(rng.integers(2, 300))
        a = rng.integers(0, int(rng.integers(1, 8)), n)
        b = rng.integers(0, int(rng.integers(1, 8)), n)
        ours = agreement(pd.Series(a.astype(str)), pd.Series(b.astype(str)))
        assert ours.ari == pytest.approx(metrics.adjusted_rand_score(a, b), abs=1e-12)
        assert ours.nmi == pytest.approx(metrics.normalized_mutual_info_score(a, b), abs=1e-12)


# --- command line -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def h5ad_path(recorded: AnnData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("replay") / "recorded.h5ad"
    recorded.write_h5ad(path)
    return path


def test_cli_identical(h5ad_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(h5ad_path), "leiden_la"]) == 0
    out = capsys.readouterr().out
    assert "Replay of 'leiden_la' version 1 of 1" in out
    assert "IDENTICAL" in out


def test_cli_differs(h5ad_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["replay", str(h5ad_path), "rerun", "--version", "1"]) == 1
    out = capsys.readouterr().out
    assert "DIFFERS from obs['rerun']" in out
    assert "ARI 0." in out


def test_cli_cannot_replay(
    recorded: AnnData, h5ad_path: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    changed = recorded.copy()
    sc.pp.neighbors(changed, n_neighbors=5)
    path = tmp_path / "changed.h5ad"
    changed.write_h5ad(path)
    assert main(["replay", str(path), "leiden_ig"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("provenance replay: error: the graph obsp['connectivities'] changed")
    assert "--force" in err
    assert err.count("\n") == 1
    assert main(["replay", str(path), "leiden_ig", "--force"]) in (0, 1)
    assert "(forced)" in capsys.readouterr().out
    for argv in (
        ["replay", str(h5ad_path), "no_such_key"],
        ["replay", str(h5ad_path), "rerun", "--version", "7"],
        ["replay", str(tmp_path / "missing.h5ad"), "rerun"],
    ):
        assert main(argv) == 2
        err = capsys.readouterr().err
        assert err.startswith("provenance replay: error: ")
        assert err.count("\n") == 1


def test_cli_zarr(recorded: AnnData, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "recorded.zarr"
    write_zarr(recorded, path)
    assert main(["replay", str(path), "leiden_R"]) == 0
    assert "IDENTICAL" in capsys.readouterr().out


def test_read_for_replay_reads_only_what_it_needs(h5ad_path: Path) -> None:
    adata = read_for_replay(h5ad_path, "leiden_R")
    assert adata.n_vars == 0
    assert list(adata.obs.columns) == ["bulk_labels", "leiden_R"]
    assert set(adata.uns) == {"leiden_R", "neighbors"}
    assert set(adata.obsp) == {"connectivities"}
    assert len(adata.obsm) == 0
    assert provenance.replay(adata, "leiden_R").identical


@pytest.mark.parametrize("fmt", ["h5ad", "zarr"])
def test_future_schema_record_in_a_file_says_upgrade(
    fresh: AnnData, tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str
) -> None:
    def edit(obj: dict[str, Any]) -> None:
        obj["schema_version"] = "9.0"

    _edit_record(fresh, "leiden_ig", -1, edit, redigest=False)
    path = tmp_path / f"future.{fmt}"
    if fmt == "zarr":
        write_zarr(fresh, path)
    else:
        fresh.write_h5ad(path)
    # Both formats raise the record's own error, not a "not a readable store" relabel.
    with pytest.raises(provenance.NewerSchemaError, match="upgrade"):
        read_for_replay(path, "leiden_ig")
    assert main(["replay", str(path), "leiden_ig"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("provenance replay: error: ")
    assert "upgrade" in err and "'leiden_ig'" in err
    assert "not a readable" not in err


@pytest.mark.skipif(
    SCANPY < (1, 10), reason="scanpy 1.9 writes params to uns['leiden'], not uns[key_added]"
)
def test_adopted_record_needs_force(pbmc: AnnData) -> None:
    from provenance import adopt

    sc.tl.leiden(pbmc, key_added="old", **FAST)  # not recorded
    adopt(pbmc, keys=["old"])
    rec = provenance.latest(pbmc, "old")
    assert rec.origin == "adopted"
    with pytest.raises(ReplayError, match=r"adopted without knowing its arguments.*force"):
        provenance.replay(pbmc, "old")
    result = provenance.replay(pbmc, "old", force=True)
    assert result.forced
    assert any("installed defaults" in n for n in result.notes)
    assert "flavor=" not in result.call  # unknown: the installed default applies
