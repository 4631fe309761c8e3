"""Pipeline replay: every recorded step from counts to clusters, re-run and compared by digest.

Synthetic counts with three planted groups (300 cells x 200 genes), the pipeline
normalize_total -> log1p -> highly_variable_genes -> pca -> neighbors -> leiden recorded,
then ``replay(adata, key, pipeline=True)`` in memory and ``provenance replay FILE KEY
--pipeline`` from a written ``.h5ad``; departures (an unrecorded edit of ``X``, an edited or
forged record), a filter, an object without counts (pbmc68k_reduced).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import numpy as np
import pytest
import scanpy as sc
from conftest import FAST

import provenance
from provenance import PipelineReplay, ReplayError
from provenance._cli import main
from provenance._storage.codec import decode_step, encode_record
from provenance._storage.slots import snapshot

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

# pandas deprecations raised in scanpy's own highly_variable_genes (the recorded calls', not
# this package's): 1.9.8's groupby and concat under pandas >= 2.1, 1.12's batch_key path's
# `sort_values(inplace=)` under pandas >= 3.1.
pytestmark = [
    pytest.mark.filterwarnings("ignore::FutureWarning:scanpy"),
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.sort_values"),
]

PIPELINE = [
    "scanpy.pp.normalize_total",
    "scanpy.pp.log1p",
    "scanpy.pp.highly_variable_genes",
    "scanpy.pp.pca",
    "scanpy.pp.neighbors",
    "scanpy.tl.leiden",
]


def _counts(*, keep_counts: bool = True) -> AnnData:
    """Poisson counts, 3 planted groups of 100 cells with their own gene means."""
    from anndata import AnnData

    rng = np.random.default_rng(0)
    means = rng.gamma(2.0, 1.0, size=(3, 200)) * 2
    x = rng.poisson(means[np.repeat([0, 1, 2], 100)]).astype(np.float32)
    adata = AnnData(x)
    adata.obs_names = [f"cell{i}" for i in range(300)]
    adata.var_names = [f"gene{i}" for i in range(200)]
    if keep_counts:
        adata.layers["counts"] = adata.X.copy()
    return adata


def _downstream(adata: AnnData) -> None:
    sc.pp.highly_variable_genes(adata, n_top_genes=100)
    sc.pp.pca(adata, n_comps=20)
    sc.pp.neighbors(adata)
    sc.tl.leiden(adata, key_added="L", **FAST, random_state=0)


@pytest.fixture(scope="module")
def piped() -> AnnData:
    """The whole pipeline recorded on synthetic counts. Do not modify: copy."""
    adata = _counts()
    with provenance.record(adata):
        sc.pp.normalize_total(adata)
        sc.pp.log1p(adata)
        _downstream(adata)
    return adata


def _edit_record(adata: AnnData, key: str, old: str, new: str, *, forge: bool = False) -> None:
    """Replace text in the stored JSON of ``uns[key]``'s latest record (``forge``: and
    recompute its digest, as a deliberate forger would)."""
    history = adata.uns[key]["provenance"]["history"]
    assert old in history[-1]
    text = history[-1].replace(old, new)
    if forge:
        rec = decode_step(text, key=key, index=len(history) - 1)
        text = encode_record(rec.model_copy(update={"digest": rec.expected_digest()}))
    history[-1] = text


def test_identical_in_memory(piped: AnnData) -> None:
    before = snapshot(piped)
    result = provenance.replay(piped, "L", pipeline=True)
    assert isinstance(result, PipelineReplay)
    assert [s.function for s in result.steps] == PIPELINE
    assert result.identical and result.complete
    assert (result.ari, result.nmi) == (1.0, 1.0)
    assert result.first_departure is None
    assert all(s.status == "identical" for s in result.steps)
    compared = [c for s in result.steps for c in s.compared]
    assert len(compared) >= 11 and all(c.equal for c in compared)
    # The first step read X: the object holds it in layers['counts'] (X is log data now).
    assert result.steps[0].inputs == ("X <- object's layers['counts']",)
    assert result.steps[3].inputs == (
        "X <- replay of 'log1p'",
        "var['highly_variable'] <- replay of 'hvg'",
    )
    assert result.start == "scanpy.pp.normalize_total ('normalize_total') from layers['counts']"
    assert "cannot show" not in " ".join(result.notes)  # counts: nothing left unshown
    assert snapshot(piped) == before  # the object is not modified
    text = str(result)
    assert "IDENTICAL: 6 steps replayed" in text and "layers['counts']" in text
    assert "Pipeline replay of &#x27;L&#x27;" in result._repr_html_()
    as_json = result.to_dict()
    assert as_json["identical"] and len(as_json["steps"]) == 6
    json.dumps(as_json)


def test_identical_from_file_cli(
    piped: AnnData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "piped.h5ad"
    piped.write_h5ad(path)
    assert main(["replay", str(path), "L", "--pipeline"]) == 0
    out = capsys.readouterr().out
    assert "IDENTICAL: 6 steps replayed" in out and "ARI 1.0000" in out
    assert main(["replay", str(path), "L", "--pipeline", "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["identical"] and got["ari"] == 1.0 and got["first_departure"] is None
    assert [s["function"] for s in got["steps"]] == PIPELINE
    assert all(c["equal"] for s in got["steps"] for c in s["compared"])
    # --force is the single replay's; the pipeline rebuilds the graph instead.
    assert main(["replay", str(path), "L", "--pipeline", "--force"]) == 2


def test_x_edited_between_steps_departs_there() -> None:
    adata = _counts()
    with provenance.record(adata):
        sc.pp.normalize_total(adata)
        sc.pp.log1p(adata)
        adata.X[0, 0] += 1.0  # by no recorded call
        _downstream(adata)
    result = provenance.replay(adata, "L", pipeline=True)
    assert not result.identical
    departure = result.departure
    assert departure is not None and result.first_departure == 2
    assert (departure.key, departure.status) == ("hvg", "departs")
    assert departure.reason is not None
    assert (
        "X changed between scanpy.pp.log1p ('log1p') and scanpy.pp.highly_variable_genes "
        "('hvg') by no recorded call" in departure.reason
    )
    # The steps before are as recorded; the replay goes on from the X the object holds.
    assert [s.status for s in result.steps[:2]] == ["identical", "identical"]
    assert departure.inputs == ("X <- object's X",)
    assert result.clustering is not None and result.clustering.identical
    assert "DEPARTS at step 3: scanpy.pp.highly_variable_genes ('hvg')" in str(result)


def test_edited_argument_departs_at_that_step(
    piped: AnnData, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    adata = piped.copy()
    _edit_record(adata, "pca", '"n_comps":20', '"n_comps":15')
    result = provenance.replay(adata, "L", pipeline=True)
    departure = result.departure
    assert departure is not None and departure.key == "pca"
    assert departure.status == "departs"
    assert departure.reason is not None and "fails its digest check" in departure.reason
    assert {c.name: c.equal for c in departure.compared} == {
        "obsm['X_pca']": False,
        "varm['PCs']": False,
    }
    assert [s.status for s in result.steps[:3]] == ["identical"] * 3
    # What follows departs with it: the graph is not the recorded one.
    neighbors = result.steps[4]
    assert neighbors.status == "departs"
    assert neighbors.reason is not None and "the departure before" in neighbors.reason
    path = tmp_path / "edited.h5ad"
    adata.write_h5ad(path)
    assert main(["replay", str(path), "L", "--pipeline"]) == 1
    assert "DEPARTS at step 4: scanpy.pp.pca ('pca')" in capsys.readouterr().out


def test_forged_argument_departs_or_is_inconclusive_by_versions(piped: AnnData) -> None:
    adata = piped.copy()
    _edit_record(adata, "pca", '"n_comps":20', '"n_comps":15', forge=True)
    departure = provenance.replay(adata, "L", pipeline=True).departure
    assert departure is not None and departure.key == "pca" and departure.status == "departs"
    assert departure.reason == "obsm['X_pca'], varm['PCs'] not as recorded"  # digest holds
    # The same difference under another scanpy than recorded proves nothing.
    installed = provenance.latest_step(adata, "pca").software.packages["scanpy"]  # type: ignore[union-attr]
    _edit_record(adata, "pca", f'"scanpy":"{installed}"', '"scanpy":"1.0.0"', forge=True)
    departure = provenance.replay(adata, "L", pipeline=True).departure
    assert departure is not None and departure.key == "pca"
    assert departure.status == "inconclusive"
    assert departure.software == {"scanpy": ("1.0.0", installed)}


def test_argument_recorded_as_digest_is_inconclusive(piped: AnnData) -> None:
    adata = piped.copy()
    digest = {"$type": "ndarray", "dtype": "float64", "shape": [300], "digest": "xxh3_128:00"}
    _edit_record(
        adata, "normalize_total", '"target_sum":null', f'"target_sum":{json.dumps(digest)}'
    )
    result = provenance.replay(adata, "L", pipeline=True)
    first = result.steps[0]
    assert first.status == "inconclusive" and first.compared == ()
    assert first.reason is not None and "target_sum" in first.reason
    assert "only a hash of this array was recorded" in first.reason
    assert result.first_departure == 0 and not result.identical


def test_unregistered_function_is_refused(piped: AnnData) -> None:
    adata = piped.copy()
    _edit_record(adata, "log1p", '"scanpy.pp.log1p"', '"os.system"')
    result = provenance.replay(adata, "L", pipeline=True)
    refused = result.steps[1]
    assert (refused.function, refused.status) == ("os.system", "not_run")
    assert refused.reason is not None
    assert refused.reason.startswith("refused: 'os.system' is no registered step's function")
    assert result.departure is refused
    # What log1p wrote is still in X: the steps after it replay from there.
    assert [s.status for s in result.steps[2:]] == ["identical"] * 4


def test_filter_then_start_where_the_input_is(tmp_path: Path) -> None:
    adata = _counts()
    adata.X[:5] = 0  # five empty cells for the filter
    adata.layers["counts"] = adata.X.copy()
    with provenance.record(adata):
        sc.pp.filter_cells(adata, min_genes=5)
        sc.pp.normalize_total(adata)
        sc.pp.log1p(adata)
        _downstream(adata)
    assert adata.n_obs == 295
    result = provenance.replay(adata, "L", pipeline=True)
    # The filter's input is the object before it filtered: gone. Its output is in counts.
    assert [s.status for s in result.steps] == ["not_run"] + ["identical"] * 6
    assert result.steps[0].reason is not None
    assert "X (300 x 200 float32) is in no slot of the object" in result.steps[0].reason
    assert result.identical and not result.complete
    assert result.start == "scanpy.pp.normalize_total ('normalize_total') from layers['counts']"
    assert result.notes[0].startswith("not replayed: scanpy.pp.filter_cells ('filter_cells')")
    assert "IDENTICAL: 6 of 7 steps replayed" in str(result)


def test_counts_gone_starts_later_and_says_so() -> None:
    adata = _counts(keep_counts=False)
    with provenance.record(adata):
        sc.pp.normalize_total(adata)
        sc.pp.log1p(adata)
        _downstream(adata)
    result = provenance.replay(adata, "L", pipeline=True)
    assert [s.status for s in result.steps] == ["not_run"] * 2 + ["identical"] * 4
    assert result.start == "scanpy.pp.highly_variable_genes ('hvg') from X"
    notes = " ".join(result.notes)
    assert "made by scanpy.pp.log1p ('log1p'), recorded but not replayed" in notes
    assert "cannot show that the clusters follow from counts" in notes


def test_pbmc68k_reduced_has_no_counts(pbmc: AnnData) -> None:
    with provenance.record(pbmc):
        sc.pp.pca(pbmc, n_comps=30)
        sc.pp.neighbors(pbmc)
        sc.tl.leiden(pbmc, key_added="L", **FAST, random_state=0)
    result = provenance.replay(pbmc, "L", pipeline=True)
    assert [s.function for s in result.steps] == PIPELINE[3:]
    assert result.identical
    assert result.start == "scanpy.pp.pca ('pca') from X"
    (note,) = result.notes
    assert note == (
        "the earliest recorded input is X, read by scanpy.pp.pca ('pca'); X does not hold "
        "counts (non-negative integers) and the steps that made it were not recorded, so this "
        "replay cannot show that the clusters follow from counts"
    )


def test_a_record_without_reads_cannot_be_followed(pbmc: AnnData) -> None:
    provenance.adopt(pbmc, keys=["louvain"])
    with pytest.raises(ReplayError, match="does not name the slots it read"):
        provenance.replay(pbmc, "louvain", pipeline=True)


def test_starts_from_raw_through_a_subset_and_a_batch_column() -> None:
    adata = _counts()
    adata.obs["batch"] = np.tile(["a", "b"], 150)  # hvg makes it categorical: a write
    with provenance.record(adata):
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
        adata.raw = adata
        sc.pp.highly_variable_genes(adata, n_top_genes=100, subset=True, batch_key="batch")
        sc.pp.scale(adata, max_value=10)
        sc.pp.pca(adata, n_comps=20)
        sc.pp.neighbors(adata)
        sc.tl.leiden(adata, key_added="L", **FAST, random_state=0)
    result = provenance.replay(adata, "L", pipeline=True)
    # The counts were subset with the object: the full ones are gone, the log data is in raw.
    assert [s.status for s in result.steps] == ["not_run"] * 2 + ["identical"] * 5
    hvg = result.steps[2]
    assert hvg.inputs == ("X <- object's raw.X", "obs['batch'] <- object's obs['batch']")
    assert "layers['counts']" not in {c.name for c in hvg.compared}  # subset, not carried
    assert all(c.equal for c in hvg.compared) and len(hvg.compared) >= 5
    assert result.identical and result.start == (
        "scanpy.pp.highly_variable_genes ('hvg') from raw.X"
    )


def test_an_older_version_and_edited_labels(piped: AnnData) -> None:
    adata = piped.copy()
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="L", **FAST, random_state=0, resolution=0.3)
    first = provenance.replay(adata, "L", pipeline=True, version=1)
    # Version 1 is replayed as recorded; obs['L'] holds version 2's labels: a note, no departure.
    assert first.identical and first.version == 1
    assert "obs['L'] holds the labels of version 2" in " ".join(first.notes)
    adata.obs.loc[adata.obs_names[:40], "L"] = adata.obs["L"].iloc[-1]  # by no recorded call
    latest = provenance.replay(adata, "L", pipeline=True)
    assert not latest.identical and latest.first_departure == len(latest.steps) - 1
    assert latest.departure is not None and latest.departure.reason is not None
    assert "which matches no recorded version (edited?)" in latest.departure.reason


def test_integer_counts_stand_for_the_floats_read(piped: AnnData) -> None:
    adata = piped.copy()
    adata.layers["counts"] = adata.layers["counts"].astype(np.int32)
    result = provenance.replay(adata, "L", pipeline=True)
    assert result.identical and result.complete
    assert result.steps[0].inputs == ("X <- object's layers['counts']",)


def _recluster(adata: AnnData, key: str) -> None:
    with provenance.record(adata):
        sc.pp.pca(adata, n_comps=10)
        sc.pp.neighbors(adata)
        sc.tl.leiden(adata, key_added=key, **FAST, random_state=0)


def test_concat_is_not_run_and_a_copy_of_its_counts_links(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import anndata as ad

    whole = _counts()
    whole.X = whole.X * 2  # X is not the counts: after concat, X = layers['counts'] below
    parts = [whole[:150].copy(), whole[150:].copy()]
    with provenance.record():
        adata = ad.concat(parts, label="sample", keys=["A", "B"])
    with provenance.record(adata):
        adata.X = adata.layers["counts"].copy()  # by no recorded call: a copy of a write
        sc.pp.normalize_total(adata)
        sc.pp.log1p(adata)
        _downstream(adata)
    result = provenance.replay(adata, "L", pipeline=True)
    concat = result.steps[0]
    assert (concat.function, concat.status) == ("anndata.concat", "not_run")
    assert concat.reason == (
        "its inputs are 2 other objects (A: 150 cells, B: 150 cells), not in this one: the "
        "replay starts from what it made"
    )
    # normalize_total read what concat wrote into layers['counts']: no gap, no departure.
    assert [s.status for s in result.steps[1:]] == ["identical"] * 6
    assert result.identical and result.first_departure is None
    assert result.start == "scanpy.pp.normalize_total ('normalize_total') from layers['counts']"
    path = tmp_path / "concat.h5ad"
    adata.write_h5ad(path)
    assert main(["replay", str(path), "L", "--pipeline"]) == 0
    assert "IDENTICAL: 6 of 7 steps replayed" in capsys.readouterr().out


def test_subsample_is_not_run_and_steps_on_other_cells_are_left_out(piped: AnnData) -> None:
    adata = piped.copy()
    with provenance.record(adata):
        sc.pp.subsample(adata, n_obs=200, random_state=0)
    _recluster(adata, "L2")
    result = provenance.replay(adata, "L2", pipeline=True)
    # hvg wrote var['highly_variable'] on the 300 cells before: not this object's step.
    assert [s.function for s in result.steps] == ["scanpy.pp.subsample", *PIPELINE[3:]]
    subsample = result.steps[0]
    assert subsample.status == "not_run" and subsample.reason is not None
    assert subsample.reason.startswith("its input is the object before it (300 x 200)")
    assert [s.status for s in result.steps[1:]] == ["identical"] * 3
    assert result.identical and result.first_departure is None
    assert result.start == "scanpy.pp.pca ('pca') from X"


def test_a_subset_replays_from_its_own_records(piped: AnnData) -> None:
    sub = piped[piped.obs["L"] != "0"].copy()
    _recluster(sub, "L")
    result = provenance.replay(sub, "L", pipeline=True)
    # normalize_total ... hvg were made on the parent's 300 cells: not replayed here.
    assert [(s.function, s.version) for s in result.steps] == [
        ("scanpy.pp.pca", 2),
        ("scanpy.pp.neighbors", 2),
        ("scanpy.tl.leiden", 2),
    ]
    assert all(s.status == "identical" for s in result.steps)
    assert result.identical and result.start == "scanpy.pp.pca ('pca') from X"
    assert (
        "it was made by scanpy.pp.log1p ('log1p' version 1) on the parent object (300 cells)"
        in " ".join(result.notes)
    )


def test_a_slot_copied_from_a_replayed_step_links_to_it() -> None:
    adata = _counts()
    adata.layers["kept"] = adata.X.copy()  # normalize_total below changes layers['counts']
    with provenance.record(adata):
        sc.pp.normalize_total(adata, layer="counts")
        adata.X = adata.layers["counts"].copy()  # by no recorded call: a copy of its write
        sc.pp.log1p(adata)
        _downstream(adata)
    result = provenance.replay(adata, "L", pipeline=True)
    assert result.steps[0].inputs == ("layers['counts'] <- object's layers['kept']",)
    assert result.steps[1].inputs == ("X <- replay of 'normalize_total' (its layers['counts'])",)
    assert result.identical and result.complete
