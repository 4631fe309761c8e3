"""Recording muon's multiplex clustering (``mu.tl.leiden``/``mu.tl.louvain``) on a real MuData.

The MuData (two modalities of pbmc68k_reduced, each with its own neighbours graph) is built
once per module (``tests/_muon_data.py``); each test clusters a copy of it.
"""

from __future__ import annotations

import copy
import importlib.util

import pytest

if importlib.util.find_spec("muon") is None:
    pytest.skip(
        "muon is not installed: it is in the muon-3.11/muon-3.12 and louvain sessions only",
        allow_module_level=True,
    )

import scanpy as sc
from _muon_data import MODALITIES, build_mudata, import_muon, quiet_mudata

import provenance

mu = import_muon()
HAS_VTRAAG = importlib.util.find_spec("louvain") is not None
# muon 0.1.9 runs random_state=0 unseeded; 0.2.0 seeds it.
SEEDS_ZERO = tuple(int(p) for p in mu.__version__.split(".")[:2]) >= (0, 2)


@pytest.fixture(scope="module")
def built():
    return build_mudata()


@pytest.fixture
def mdata(built):
    with quiet_mudata():
        return built.copy()


def _fixed(mdata, name):
    return copy.deepcopy(dict(mdata.uns[name]))


def test_leiden_is_recorded_under_key_added_and_muons_fixed_key_is_put_back(built):
    with quiet_mudata():
        plain, recorded = built.copy(), built.copy()
    mu.tl.leiden(plain, key_added="wnn", resolution=1.0, random_state=1)
    with provenance.record(recorded) as block:
        mu.tl.leiden(recorded, key_added="wnn", resolution=1.0, random_state=1)
    # muon writes uns["leiden"] whatever key_added is; the recorder puts it back as it was
    # (absent), as it does for scanpy <= 1.9: the params are the record's, under "wnn".
    assert set(plain.uns) == {"leiden"}
    assert set(recorded.uns) == {"wnn", "provenance_index"}
    assert (recorded.obs["wnn"] == plain.obs["wnn"]).all()
    entry = recorded.uns["wnn"]
    assert entry["params"] == {"resolution": 1.0, "random_state": 1}  # as scanpy >= 1.10 writes
    (rec,) = block.records
    assert rec == provenance.latest(recorded, "wnn")
    assert (rec.function, rec.method, rec.key, rec.version) == (
        "muon.tl.leiden",
        "leiden",
        "wnn",
        1,
    )
    assert isinstance(rec.params, provenance.MuonLeidenParams)
    assert rec.params.seeded and rec.params.flavor == "leidenalg" and not rec.params.use_weights
    assert rec.graph is None
    assert rec.result.n_clusters == recorded.obs["wnn"].nunique()
    assert {"muon", "mudata", "leidenalg"} <= set(rec.software.packages)


def test_the_record_has_one_layer_per_modality_graph_with_its_fingerprint(mdata):
    with provenance.record(mdata):
        mu.tl.leiden(mdata, key_added="wnn", random_state=1)
        for m in MODALITIES:  # the same graph fingerprinted by a single-graph record
            sc.tl.leiden(
                mdata.mod[m], key_added="own", flavor="igraph", n_iterations=2, directed=False
            )
    rec = provenance.latest(mdata, "wnn")
    assert [lay.modality for lay in rec.layers] == list(mdata.mod) == list(MODALITIES)
    for lay in rec.layers:
        single = provenance.latest(mdata.mod[lay.modality], "own")
        assert lay.graph == single.graph
        assert lay.graph.n_edges == mdata.mod[lay.modality].obsp["connectivities"].nnz
        assert (lay.weight, lay.resolution) == (1.0, 1.0)  # resolution=None: partition default
    assert rec.layers[0].graph.digest != rec.layers[1].graph.digest  # two real graphs
    assert rec.params.resolution is None


def test_per_modality_weights_and_resolutions_are_recorded_as_they_ran(mdata):
    with provenance.record(mdata):
        mu.tl.leiden(
            mdata, key_added="w", resolution={"rest": 1.5, "rna": 0.5}, mod_weights=[2, 1],
            random_state=1,
        )  # fmt: skip
    rec = provenance.latest(mdata, "w")
    assert [(lay.modality, lay.weight, lay.resolution) for lay in rec.layers] == [
        ("rna", 2.0, 0.5),
        ("rest", 1.0, 1.5),
    ]
    assert rec.params.resolution == {"rest": 1.5, "rna": 0.5} and rec.params.mod_weights == [
        2.0,
        1.0,
    ]
    assert mdata.uns["w"]["params"]["resolution"] == {"rest": 1.5, "rna": 0.5}


def test_an_identical_rerun_adds_no_version_and_another_resolution_does(mdata):
    with provenance.record(mdata):
        mu.tl.leiden(mdata, key_added="wnn", random_state=1)
        mu.tl.leiden(mdata, key_added="wnn", random_state=1)
        assert len(provenance.history(mdata, "wnn")) == 1
        mu.tl.leiden(mdata, key_added="wnn", random_state=1, resolution=0.5)
    (v1, v2) = provenance.history(mdata, "wnn")
    assert v2.previous == v1.digest and v2.params.resolution == 0.5
    assert mdata.uns["wnn"]["params"]["resolution"] == 0.5


def test_a_modality_clustered_inside_record_mdata_is_recorded_not_warned_about(mdata):
    rna = mdata.mod["rna"]
    with provenance.record(mdata) as block:  # strict mode: a warning would be an error
        sc.tl.leiden(rna, key_added="x", flavor="igraph", n_iterations=2, directed=False)
        mu.tl.leiden(rna, key_added="via_muon", random_state=1)  # muon hands it to scanpy
    assert [(r.function, r.key) for r in block.records] == [
        ("scanpy.tl.leiden", "x"),
        ("scanpy.tl.leiden", "via_muon"),  # recorded once, by scanpy's target
    ]
    assert provenance.latest(rna, "x") == block.records[0]
    assert "x" not in mdata.uns and "via_muon" not in mdata.uns


@pytest.mark.parametrize("seed", [1, 0])
def test_replay_is_identical_for_a_seeded_run(mdata, seed):
    with provenance.record(mdata):
        mu.tl.leiden(mdata, key_added="wnn", random_state=seed)
    rec = provenance.latest(mdata, "wnn")
    before = copy.deepcopy(dict(mdata.uns))
    result = provenance.replay(mdata, "wnn")
    assert set(mdata.uns) == set(before) and "leiden" not in mdata.uns  # a scratch MuData
    if seed or SEEDS_ZERO:
        assert rec.params.seeded
        assert result.identical and result.deterministic and result.graph_matches
        assert result.reproduces_record
    else:  # muon 0.1.9: random_state=0 is unseeded, and the replay says so
        assert not rec.params.seeded and not result.deterministic
        assert any("did not seed" in n for n in result.notes)


def test_replay_refuses_a_changed_modality_graph(mdata):
    with provenance.record(mdata):
        mu.tl.leiden(mdata, key_added="wnn", random_state=1)
    g = mdata.mod["rest"].obsp["connectivities"].tolil()
    g[0, 1] = g[1, 0] = 0.5 if g[0, 1] == 0 else 0
    mdata.mod["rest"].obsp["connectivities"] = g.tocsr()
    with pytest.raises(provenance.ReplayError, match=r"mod\['rest'\]"):
        provenance.replay(mdata, "wnn")
    assert provenance.replay(mdata, "wnn", force=True).forced


def test_the_record_survives_h5mu(mdata, tmp_path):
    with provenance.record(mdata):
        mu.tl.leiden(mdata, key_added="wnn", resolution=[1.0, 0.8], random_state=1)
    rec = provenance.latest(mdata, "wnn")
    path = tmp_path / "m.h5mu"
    with quiet_mudata():
        mdata.write(path)
        back = mu.read_h5mu(path)
    assert provenance.latest(back, "wnn") == rec
    assert "leiden" not in back.uns  # muon's fixed key, put back as it was: absent
    assert provenance.replay(back, "wnn").identical


@pytest.mark.skipif(
    not HAS_VTRAAG, reason="muon's louvain needs the vtraag louvain package (louvain session)"
)
def test_louvain_is_recorded_too(built):
    with quiet_mudata():
        plain, recorded = built.copy(), built.copy()
    mu.tl.louvain(plain, key_added="wl", random_state=1)
    with provenance.record(recorded):
        mu.tl.louvain(recorded, key_added="wl", random_state=1)
    assert "louvain" in plain.uns and "louvain" not in recorded.uns  # put back: absent
    rec = provenance.latest(recorded, "wl")
    assert (rec.function, rec.method, rec.params.flavor) == ("muon.tl.louvain", "louvain", "vtraag")
    assert isinstance(rec.params, provenance.MuonLouvainParams) and len(rec.layers) == 2
    assert provenance.replay(recorded, "wl").identical


def test_a_mudata_clustered_inside_record_passes_verify_strict(built, tmp_path):
    from provenance._cli import main

    with quiet_mudata():
        m = built.copy()
    with provenance.record(m):
        mu.tl.leiden(m, random_state=1)  # the default key: muon's fixed key is its own
        before = _fixed(m, "leiden")
        mu.tl.leiden(m, key_added="wnn", resolution=0.5, random_state=1)
        mu.tl.leiden(m, key_added="wnn2", resolution=0.8, random_state=1)
    # muon wrote the later runs' params to uns["leiden"]; the recorder put the first run's
    # entry back, its history included, so uns["leiden"] still describes obs["leiden"].
    assert _fixed(m, "leiden") == before
    assert provenance.latest(m, "leiden").params.resolution is None
    report = provenance.audit(m)
    assert not report.findings, report.findings  # no legacy_params at muon's fixed key
    path = tmp_path / "m.h5mu"
    with quiet_mudata():
        m.write(str(path))
    assert main(["verify", "--strict", str(path)]) == 0
