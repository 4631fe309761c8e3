"""Recording the steps around a clustering (issue 14): neighbors, markers, dendrogram, PAGA.

Real scanpy on pbmc68k_reduced: neighbors -> leiden -> rank_genes_groups -> filter ->
dendrogram -> paga inside ``record()``, each key's history read back (in memory, ``.h5ad``,
``.zarr``) and compared with what the object holds.
"""

from __future__ import annotations

import inspect
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
import scanpy as sc
from conftest import FAST, SCANPY, roundtrip

import provenance
from provenance import ProvenanceWarning
from provenance._schema.models import NeighborsRecord, RecordRef, ResultRecord
from provenance._storage.codec import PROVENANCE_FIELD
from provenance._storage.history import recorded_keys, step_keys
from provenance._storage.index import read_index
from provenance._targets import registry
from provenance._util.fingerprint import (
    array_digest,
    graph_fingerprint,
    label_digests,
    label_names_digest,
    obs_names_digest,
)

if TYPE_CHECKING:
    from anndata import AnnData

# scanpy 1.9's filter_rank_genes_groups and paga fail on the scipy/pandas of the legacy
# environment, without recording too (a pandas mask indexing a sparse matrix; an empty COO).
RUNS = SCANPY >= (1, 10)
STEP_KEYS = {"neighbors", "rank_genes_groups", "dendrogram_L"}
STEP_KEYS |= {"rank_genes_groups_filtered", "paga"} if RUNS else set()

pytestmark = [
    # scanpy 1.12's dendrogram calls DataFrame.set_index(inplace=True), deprecated by pandas 3.1.
    pytest.mark.filterwarnings(
        "ignore:The inplace keyword in DataFrame.set_index:DeprecationWarning"
    ),
    # scanpy 1.9 groups categoricals without observed=, which pandas 2.1 deprecates.
    pytest.mark.filterwarnings("ignore:The default of observed=False is deprecated:FutureWarning"),
]
needs_all = pytest.mark.skipif(not RUNS, reason="scanpy 1.9's filter and paga fail in this env")


def _workflow(adata: AnnData, *, n_neighbors: int = 10) -> None:
    sc.pp.neighbors(adata, n_neighbors=n_neighbors)
    sc.tl.leiden(adata, key_added="L", **FAST)
    sc.tl.rank_genes_groups(adata, "L")
    sc.tl.dendrogram(adata, "L")
    if RUNS:
        sc.tl.filter_rank_genes_groups(adata)
        sc.tl.paga(adata, groups="L")


@pytest.fixture(scope="module")
def _recorded(_pbmc_master: AnnData) -> AnnData:
    adata = _pbmc_master.copy()
    with provenance.record(adata):
        _workflow(adata)
    return adata


@pytest.fixture
def recorded(_recorded: AnnData) -> AnnData:
    """pbmc68k_reduced after the whole workflow ran inside ``record()`` (a fresh copy)."""
    return _recorded.copy()


def _ref(adata: AnnData, key: str) -> RecordRef:
    rec = provenance.latest_step(adata, key) or provenance.latest(adata, key)
    assert rec is not None
    return RecordRef(key=key, version=rec.version, digest=rec.digest)


def _only(adata: AnnData, key: str) -> Any:
    (rec,) = provenance.step_history(adata, key)
    assert rec.key == key and rec.version == 1 and rec.previous is None
    assert rec.digest == rec.expected_digest()
    assert rec.n_obs == adata.n_obs and rec.obs_names_digest == obs_names_digest(adata.obs_names)
    assert rec.started_at <= rec.finished_at and rec.software.packages["scanpy"]
    return rec


def _bound(func: Any) -> set[str]:
    """Every parameter of the installed function but the data object and ``**kwargs``."""
    params = list(inspect.signature(func).parameters.values())[1:]
    return {p.name for p in params if p.kind is not inspect.Parameter.VAR_KEYWORD}


def _check_use(adata: AnnData, use: Any, key: str, ref: RecordRef | None) -> None:
    names = obs_names_digest(adata.obs_names)
    labels = label_digests(adata.obs[key], adata.obs_names)
    assert use.key == key and use.record == ref
    assert use.categories == list(adata.obs[key].cat.categories) == labels["categories"]
    assert use.n_clusters == len(use.categories)
    assert use.partition_digest == labels["partition_digest"]
    assert use.names_digest == label_names_digest(adata.obs[key], names_digest=names)
    assert use.obs_names_digest == names


def test_every_step_is_recorded_under_its_key(recorded: AnnData) -> None:
    adata = recorded
    assert set(step_keys(adata)) == STEP_KEYS
    assert recorded_keys(adata) == ["L"]
    assert STEP_KEYS | {"L"} <= set(read_index(adata.uns))

    nb = _only(adata, "neighbors")
    assert isinstance(nb, NeighborsRecord) and nb.kind == "neighbors"
    assert nb.function == "scanpy.pp.neighbors"
    assert set(nb.arguments) == _bound(sc.pp.neighbors)
    assert nb.arguments["n_neighbors"] == 10 and nb.arguments["key_added"] is None
    rep = nb.representation
    assert rep is not None and rep.name == "X_pca"
    assert (rep.n_obs, rep.n_dims) == adata.obsm["X_pca"].shape
    assert rep.digest == array_digest(adata.obsm["X_pca"])
    assert set(nb.graphs) == {"connectivities", "distances"}
    for role, info in nb.graphs.items():
        assert info.obsp_key == role and info.neighbors_key == "neighbors"
        assert info.digest == graph_fingerprint(adata.obsp[role]).digest

    # The clustering names the neighbors record whose graph it clustered.
    leiden = provenance.latest(adata, "L")
    assert leiden.neighbors == _ref(adata, "neighbors")
    assert leiden.graph.digest == nb.graphs["connectivities"].digest

    markers = _only(adata, "rank_genes_groups")
    assert isinstance(markers, ResultRecord) and markers.kind == "rank_genes_groups"
    assert set(markers.arguments) == _bound(sc.tl.rank_genes_groups)
    assert markers.arguments["groupby"] == "L" and markers.arguments["use_raw"] is None
    (use,) = markers.uses
    _check_use(adata, use, "L", _ref(adata, "L"))
    assert markers.source == "raw"  # use_raw=None with a .raw: scanpy ranks raw
    assert (markers.parents, markers.graph) == ([], None)

    if RUNS:
        filtered = _only(adata, "rank_genes_groups_filtered")
        assert filtered.kind == "filter_rank_genes_groups"
        assert set(filtered.arguments) == _bound(sc.tl.filter_rank_genes_groups)
        assert filtered.parents == [_ref(adata, "rank_genes_groups")]
        _check_use(adata, filtered.uses[0], "L", _ref(adata, "L"))
        assert filtered.source == "raw"

    dendro = _only(adata, "dendrogram_L")
    assert dendro.kind == "dendrogram" and dendro.source == "obsm['X_pca']"
    assert set(dendro.arguments) == _bound(sc.tl.dendrogram)
    _check_use(adata, dendro.uses[0], "L", _ref(adata, "L"))

    if not RUNS:
        return
    paga = _only(adata, "paga")
    assert paga.kind == "paga" and paga.source is None
    assert paga.arguments["groups"] == "L"
    assert paga.parents == [_ref(adata, "neighbors")]
    assert paga.graph is not None and paga.graph.digest == nb.graphs["connectivities"].digest
    _check_use(adata, paga.uses[0], "L", _ref(adata, "L"))


@needs_all
def test_the_filtered_markers_never_inherit_the_markers_history(recorded: AnnData) -> None:
    adata = recorded
    kinds = [r.kind for r in provenance.step_history(adata, "rank_genes_groups_filtered")]
    assert kinds == ["filter_rank_genes_groups"]
    # Recording fails (a key anndata cannot write): scanpy's copy of the markers' entry
    # still must not carry their history.
    with (
        pytest.warns(ProvenanceWarning, match="cannot be recorded"),
        provenance.record(adata, strict=False),
    ):
        sc.tl.filter_rank_genes_groups(adata, key_added="bad/key")
    assert "names" in adata.uns["bad/key"] and PROVENANCE_FIELD not in adata.uns["bad/key"]
    assert len(provenance.step_history(adata, "rank_genes_groups")) == 1


def test_rerun_neighbors_adds_a_version_and_the_history_survives(recorded: AnnData) -> None:
    adata = recorded
    v1 = provenance.latest_step(adata, "neighbors")
    with provenance.record(adata):
        sc.pp.neighbors(adata, n_neighbors=5)
    first, second = provenance.step_history(adata, "neighbors")
    assert first == v1
    assert (second.version, second.previous) == (2, v1.digest)
    assert (first.arguments["n_neighbors"], second.arguments["n_neighbors"]) == (10, 5)
    assert second.graphs["connectivities"].digest != first.graphs["connectivities"].digest
    assert read_index(adata.uns)["neighbors"] == {"version": 2, "digest": second.digest}
    # The clustering still names the version whose graph it clustered.
    assert provenance.latest(adata, "L").neighbors == RecordRef(
        key="neighbors", version=1, digest=v1.digest
    )


def test_recomputing_after_a_reclustering_adds_version_2(recorded: AnnData) -> None:
    adata = recorded
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="L", resolution=0.5, **FAST)
        sc.tl.rank_genes_groups(adata, "L")
        sc.tl.dendrogram(adata, "L")
        if RUNS:
            sc.tl.paga(adata, groups="L")
    assert provenance.latest(adata, "L").version == 2
    for key in ("rank_genes_groups", "dendrogram_L", "paga")[: 3 if RUNS else 2]:
        first, second = provenance.step_history(adata, key)
        assert (second.version, second.previous) == (2, first.digest)
        assert first.uses[0].record.version == 1
        assert second.uses[0].record == _ref(adata, "L")
        assert second.uses[0].partition_digest != first.uses[0].partition_digest


def test_an_identical_rerun_adds_no_version(recorded: AnnData) -> None:
    adata = recorded
    with provenance.record(adata) as block:
        sc.pp.neighbors(adata, n_neighbors=10)
        sc.tl.rank_genes_groups(adata, "L")
        sc.tl.dendrogram(adata, "L")
        if RUNS:
            sc.tl.filter_rank_genes_groups(adata)
            sc.tl.paga(adata, groups="L")
    assert block.records == []
    for key in STEP_KEYS:
        assert len(provenance.step_history(adata, key)) == 1, key


def test_a_category_reorder_is_used_but_names_no_record(recorded: AnnData) -> None:
    adata = recorded
    before = provenance.latest_step(adata, "rank_genes_groups").uses[0]
    cats = list(adata.obs["L"].cat.categories)
    adata.obs["L"] = adata.obs["L"].cat.reorder_categories(cats[::-1])
    with provenance.record(adata):
        sc.tl.rank_genes_groups(adata, "L")
    after = provenance.latest_step(adata, "rank_genes_groups").uses[0]
    # The same labels (names and partition), but not the recorded column's exact codes.
    assert (after.names_digest, after.partition_digest) == (
        before.names_digest,
        before.partition_digest,
    )
    assert after.record is None and after.categories == cats[::-1]


@pytest.mark.parametrize("fmt", ["h5ad", "zarr2", "zarr3"])
def test_step_histories_round_trip(recorded: AnnData, tmp_path: Any, fmt: str) -> None:
    # The filter leaves NaN for the genes it drops, which anndata cannot write as strings.
    names = recorded.uns.get("rank_genes_groups_filtered", {}).get("names")
    for field in () if names is None else names.dtype.names:
        names[field][pd.isna(names[field])] = ""
    back = roundtrip(recorded, tmp_path, fmt)
    assert set(step_keys(back)) == STEP_KEYS
    for key in STEP_KEYS:
        assert provenance.step_history(back, key) == provenance.step_history(recorded, key)
    assert provenance.latest(back, "L") == provenance.latest(recorded, "L")
    # Recording goes on from the file: the next version links to the one read back.
    with provenance.record(back):
        sc.pp.neighbors(back, n_neighbors=7)
    assert [r.version for r in provenance.step_history(back, "neighbors")] == [1, 2]


def test_dendrogram_inplace_false_records_nothing(recorded: AnnData) -> None:
    adata = recorded
    with provenance.record(adata) as block:
        out = sc.tl.dendrogram(adata, "L", key_added="dendro_ret", inplace=False)
    assert isinstance(out, dict) and "linkage" in out
    assert block.records == [] and "dendro_ret" not in adata.uns


def test_a_failing_step_leaves_uns_as_before(recorded: AnnData) -> None:
    adata = recorded
    entry = adata.uns["rank_genes_groups"]
    history = provenance.step_history(adata, "rank_genes_groups")
    # scanpy writes uns[key]["params"], then logistic regression refuses C.
    with pytest.raises(ValueError, match="'C' parameter"), provenance.record(adata):
        sc.tl.rank_genes_groups(adata, "L", method="logreg", C="bad")
    assert adata.uns["rank_genes_groups"] is entry
    assert provenance.step_history(adata, "rank_genes_groups") == history
    with pytest.raises(ValueError, match="C"), provenance.record(adata):
        sc.tl.rank_genes_groups(adata, "L", method="logreg", C="bad", key_added="new")
    assert "new" not in adata.uns


def test_copy_true_records_on_the_copy(recorded: AnnData) -> None:
    adata = recorded
    with provenance.record(adata):
        out = sc.tl.rank_genes_groups(adata, "L", key_added="rgg_copy", copy=True)
    assert "rgg_copy" not in adata.uns
    (rec,) = provenance.step_history(out, "rgg_copy")
    assert rec.arguments["copy"] is True and rec.uses[0].record == _ref(out, "L")


@needs_all
def test_neighbors_of_use_rep_and_a_named_key(recorded: AnnData) -> None:
    adata = recorded
    adata.obsm["X_small"] = adata.obsm["X_pca"][:, :10].copy()
    with provenance.record(adata):
        sc.pp.neighbors(adata, use_rep="X_small", key_added="nb_small")
        sc.tl.leiden(adata, key_added="L_small", neighbors_key="nb_small", **FAST)
        sc.tl.paga(adata, groups="L_small", neighbors_key="nb_small")
    nb = _only(adata, "nb_small")
    assert nb.representation.name == "X_small" and nb.representation.n_dims == 10
    assert nb.representation.digest == array_digest(adata.obsm["X_small"])
    assert nb.graphs["connectivities"].obsp_key == "nb_small_connectivities"
    assert provenance.latest(adata, "L_small").neighbors == _ref(adata, "nb_small")
    assert provenance.latest_step(adata, "paga").parents == [_ref(adata, "nb_small")]


def test_registry_lookups_about_clusterings_ignore_the_steps() -> None:
    steps = [t for t in registry.recorded_functions() if t.kind != "clustering"]
    assert {t.function for t in steps if t.kind not in ("transform", "concat")} == {
        "scanpy.pp.neighbors",
        "scanpy.tl.rank_genes_groups",
        "scanpy.tl.filter_rank_genes_groups",
        "scanpy.tl.dendrogram",
        "scanpy.tl.paga",
        "scanpy.tl.umap",
        "scanpy.tl.tsne",
        "scanpy.tl.draw_graph",
        "scanpy.tl.diffmap",
        "scanpy.external.pp.bbknn",
        "muon.pp.neighbors",
    }
    assert not set(steps) & set(registry.targets())
    assert not registry.candidate_key("neighbors") and not registry.candidate_key("paga")
    assert registry.target_for_record("scanpy.pp.neighbors", "neighbors") is None
