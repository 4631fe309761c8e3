"""The audit of the whole pipeline, from counts to clusters (``_audit/chain.py``,
``_audit/checks_pipeline.py``): the chain of records, its gaps, and staleness through it.

The verdict table has a row for each change (``thing = "transform"``); here: what the findings
say (the root named, the re-run advised and runnable as printed), the order of the steps, and
where the chain is not linked (other cells, a file's ``X``).
"""

from __future__ import annotations

import warnings
from typing import TYPE_CHECKING, Any

import pytest
import scanpy as sc
from _counts import LEIDEN, STEPS, counts, run

import provenance
from provenance._cli import main

PAGA = "paga" in STEPS  # not on scanpy 1.9 (tests/_counts.py)

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

pytestmark = [
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.set_index"),
    pytest.mark.filterwarnings("ignore:The default of observed=False is deprecated"),
    pytest.mark.filterwarnings("ignore:In the future, the default backend for leiden"),
]


@pytest.fixture(scope="module")
def _recorded() -> AnnData:
    adata = counts()
    with provenance.record(adata):
        run(adata)
    return adata


@pytest.fixture
def piped(_recorded: AnnData) -> AnnData:
    return _recorded.copy()


def _findings(obj: Any) -> list[tuple[str, str, Any]]:
    return [(f.code, f.key, f.details.get("cause")) for f in provenance.audit(obj).findings]


def test_the_routine_pipeline_links_step_by_step(piped: AnnData) -> None:
    functions = [r.function.rpartition(".")[2] for r in provenance.steps(piped)]
    assert functions == [
        "filter_cells",
        "filter_genes",
        "normalize_total",
        "log1p",
        "highly_variable_genes",
        "scale",
        "pca",
        "neighbors",
        "umap",
        "leiden",
        "rank_genes_groups",
        "dendrogram",
        *(["paga"] if PAGA else []),
    ]
    report = provenance.audit(piped)
    assert report.findings == ()
    steps = {s.key: s for s in report.steps}
    # What each step read, and which record wrote it (None: the pipeline's input).
    assert steps["filter_cells"].reads_from == (("X", None),)
    assert steps["normalize_total"].reads_from == (("X", "filter_genes"),)
    assert steps["log1p"].reads_from == (("X", "normalize_total"),)
    assert dict(steps["pca"].reads_from) == {"X": "scale", "var['highly_variable']": "hvg"}
    assert steps["neighbors"].reads_from == (("obsm['X_pca']", "pca"),)
    text = str(report)
    assert "from X (normalize_total)" in text  # the Steps table names what a transform read
    assert "from -" not in text


def test_the_routine_pipeline_holds_read_back_from_h5ad(piped: AnnData, tmp_path: Path) -> None:
    import anndata as ad

    path = tmp_path / "piped.h5ad"
    piped.write_h5ad(path)
    back = ad.read_h5ad(path)  # in memory: what each transform wrote is compared too
    assert provenance.audit(back).findings == ()
    assert [r.function for r in provenance.steps(back)] == [
        r.function for r in provenance.steps(piped)
    ]


def test_a_pca_rerun_makes_everything_after_it_stale_naming_the_root(piped: AnnData) -> None:
    with provenance.record(piped):
        sc.pp.pca(piped, n_comps=10)
    report = provenance.audit(piped)
    stale = {f.key: f for f in report.findings if f.code == "stale_result"}
    assert set(stale) == {
        "neighbors",
        "umap",
        "leiden",
        "rank_genes_groups",
        "dendrogram_leiden",
        *(["paga"] if PAGA else []),
    }
    assert {f.code for f in report.findings} == {"stale_result"}
    for f in stale.values():
        assert f.details["because"] == {
            "key": "pca",
            "version": 2,
            "function": "scanpy.pp.pca",
            "slot": "obsm['X_pca']",
        }
        assert "sc.pp.pca(adata, n_comps=10" in f.message, f.message  # 1.9: svd_solver=
    assert stale["neighbors"].details["cause"] == "remade"
    rerun = stale["neighbors"].details["rerun"]  # scanpy 1.12 adds metric=, distances=
    assert rerun.startswith("sc.pp.neighbors(adata, n_neighbors=10"), rerun
    markers = stale["rank_genes_groups"]
    assert markers.details["cause"] == "upstream"
    assert markers.details["via"]["key"] == "leiden"
    assert markers.details["first"]["key"] == "neighbors"
    assert f"re-run {rerun} and what was made from it, then sc.tl.rank_genes_groups(" in (
        markers.message
    )
    # The advice, as printed, in the order the steps ran, makes the pipeline hold again.
    order = [r.key for r in provenance.steps(piped) if r.key in stale]
    with provenance.record(piped), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)
        for key in dict.fromkeys(order):
            exec(stale[key].details["rerun"], {"sc": sc, "adata": piped})
    assert provenance.audit(piped).findings == ()


def test_an_existing_stale_result_names_its_root_too(piped: AnnData) -> None:
    with provenance.record(piped):
        sc.tl.leiden(piped, key_added="leiden", resolution=3.0, **LEIDEN)
    found = [f for f in provenance.audit(piped).findings if f.code == "stale_result"]
    assert {f.key for f in found} == {"rank_genes_groups", "dendrogram_leiden"} | (
        {"paga"} if PAGA else set()
    )
    for f in found:
        assert f.details["cause"] == "reclustered"  # the per-key check's finding, kept
        assert f.details["because"] == {
            "key": "leiden",
            "version": 2,
            "function": "scanpy.tl.leiden",
            "slot": "obs['leiden']",
        }


def test_a_gene_subset_by_hand_is_one_gap() -> None:
    names = list(STEPS)
    adata = counts()
    with provenance.record(adata):
        run(adata, names[: names.index("scale")])
    adata = adata[:, adata.var["highly_variable"]].copy()  # as the pbmc3k tutorial does
    with provenance.record(adata):
        run(adata, names[names.index("scale") : names.index("pca") + 1])
    (f,) = provenance.audit(adata).findings  # one change, one finding: not one per slot
    assert (f.code, f.key, f.details["cause"]) == ("unrecorded_step", "scale", "between")
    assert f.details["writer"] == {
        "key": "hvg",
        "version": 1,
        "function": "scanpy.pp.highly_variable_genes",
    }
    assert f.details["reader"]["key"] == "scale"
    assert (f.details["n_vars_then"], f.details["n_vars_now"]) == (157, 80)
    assert f.message.startswith(
        "uns['scale']: the genes changed between sc.pp.highly_variable_genes (hvg version 1) "
        "and sc.pp.scale (scale version 1), by no recorded call (80 of 157 genes"
    ), f.message
    # The same subset after the last step: one finding on the last transform.
    piped = adata[:, :40].copy()
    assert _findings(piped) == [
        ("unrecorded_step", "scale", "between"),
        ("unrecorded_step", "pca", "after"),
    ]


def test_a_value_gap_is_named_between_its_two_steps() -> None:
    names = list(STEPS)
    adata = counts()
    with provenance.record(adata):
        run(adata, names[: names.index("scale")])
        adata.X = adata.X * 2
        run(adata, names[names.index("scale") : names.index("pca") + 1])
    (f,) = provenance.audit(adata).findings
    assert (f.code, f.key, f.details["cause"]) == ("unrecorded_step", "scale", "between")
    assert f.details["writer"] == {"key": "log1p", "version": 1, "function": "scanpy.pp.log1p"}
    assert f.message.startswith(
        "uns['scale']: X changed between sc.pp.log1p (log1p version 1) and sc.pp.scale "
        "(scale version 1), by no recorded call (X: other values)"
    ), f.message
    assert "Re-run from sc.pp.log1p inside provenance.record(adata)" in f.message


def test_an_edit_after_the_last_step_is_seen_in_memory_only(piped: AnnData, tmp_path: Path):
    piped.X[:3] = 0
    assert _findings(piped) == [("unrecorded_step", "scale", "after")]
    path = tmp_path / "edited.h5ad"
    piped.write_h5ad(path)
    assert _findings(str(path)) == []  # verify reads no X from a file (DESIGN: never X)
    assert main(["verify", str(path)]) == 0


def test_records_on_other_cells_are_not_linked_as_a_gap(piped: AnnData) -> None:
    sub = piped[: piped.n_obs // 2].copy()
    with provenance.record(sub):
        sc.pp.scale(sub)
    codes = {c for c, _, _ in _findings(sub)}
    assert "unrecorded_step" not in codes
    assert "subset_or_reordered" in codes  # the subset is said where it is judged


def test_a_subset_names_a_transforms_slots_and_a_file_lists_steps_in_run_order(
    piped: AnnData, tmp_path: Path
) -> None:
    sub = piped[: piped.n_obs // 2].copy()
    found = {f.key: f for f in provenance.audit(sub).findings if f.code == "subset_or_reordered"}
    assert "labels and graph" not in found["log1p"].message  # a transform has neither
    assert "what it read and wrote (X)" in found["log1p"].message, found["log1p"].message
    path = tmp_path / "piped.h5ad"
    piped.write_h5ad(path)  # h5py lists uns alphabetically: hvg before log1p
    keys = [s.key for s in provenance.audit(str(path)).steps]
    assert keys[:6] == ["filter_cells", "filter_genes", "normalize_total", "log1p", "hvg", "scale"]


def test_a_hand_edit_read_later_is_said_once_and_advice_names_the_transform() -> None:
    adata = counts()
    with provenance.record(adata):
        run(adata, ["normalize_total", "log1p"])
    adata.X.data[:10] = 0  # explicit zeros: sc.tl.rank_genes_groups drops them in place
    with provenance.record(adata):
        sc.tl.rank_genes_groups(adata, "group", method="t-test")
    gaps = [f for f in provenance.audit(adata).findings if f.code == "unrecorded_step"]
    assert [(f.key, f.details["cause"]) for f in gaps] == [("rank_genes_groups", "between")]
    adata.X.data[:10] = 5.0  # a second change, after every step
    gaps = [f for f in provenance.audit(adata).findings if f.code == "unrecorded_step"]
    assert len(gaps) == 2, [f.message for f in gaps]
    for f in gaps:
        assert "Re-run from sc.pp.log1p" in f.message, f.message
