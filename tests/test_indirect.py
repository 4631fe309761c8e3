"""Steps reached indirectly: a call that runs recorded functions (or their work) itself.

- ``sc.pp.recipe_*`` runs filter/normalize/log/scale steps, some through imports the recorder
  does not patch: one opaque record of the whole recipe, none of its inner steps.
- ``sc.pl.rank_genes_groups_dotplot(..., dendrogram=True)`` computes a missing dendrogram
  through ``scanpy.tools._dendrogram``: recorded (``ScanpyDendrogram.also_in``).
(The PCA that ``sc.pp.neighbors``/``sc.tl.tsne`` make without ``obsm['X_pca']``:
``tests/test_embeddings.py``.)
"""

from __future__ import annotations

import numpy as np
import pytest
import scanpy as sc
from anndata import AnnData

import provenance


@pytest.fixture
def counts() -> AnnData:
    rng = np.random.default_rng(0)
    means = rng.gamma(2.0, 1.0, size=(3, 200))  # three planted groups of 100 cells
    x = np.vstack([rng.poisson(means[g], size=(100, 200)) for g in range(3)])
    adata = AnnData(x.astype(np.float32))
    adata.obs_names = [f"c{i}" for i in range(adata.n_obs)]
    adata.var_names = [f"g{i}" for i in range(adata.n_vars)]
    return adata


# scanpy's own recipe calls its deprecated filter_genes_dispersion, each version warning in
# its words (and 1.9's groupby in pandas'): scanpy's notices about its own internals.
@pytest.mark.filterwarnings("ignore::FutureWarning")
def test_a_recipe_is_one_record_of_everything_it_did(counts):
    n_vars = counts.n_vars
    with provenance.record(counts, strict=True) as block:
        sc.pp.recipe_zheng17(counts, n_top_genes=50)
    (rec,) = block.records  # not its filter_genes, log1p, scale: they are part of it
    assert (rec.kind, rec.function, rec.key) == ("transform", "scanpy.pp.recipe_zheng17", rec.key)
    assert rec.key == "recipe_zheng17" and rec.arguments["n_top_genes"] == 50
    assert list(rec.reads) == ["X"]
    assert "X" in rec.writes and rec.writes["X"].shape == [counts.n_obs, 50]
    assert rec.before is not None and rec.before.n_vars == n_vars and rec.n_vars == 50
    assert [r.key for r in provenance.steps(counts)] == ["recipe_zheng17"]
    # After the recipe the recorder records its own calls again.
    with provenance.record(counts, strict=True):
        sc.pp.pca(counts, n_comps=10)
    pca = provenance.latest_step(counts, "pca")
    assert pca.reads["X"] == rec.writes["X"]  # the chain links by digest


# pandas' notices about scanpy's plotting and dendrogram code (pandas 3.1, and scanpy 1.9).
@pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.set_index")
@pytest.mark.filterwarnings("ignore:The previous implementation of stack is deprecated")
@pytest.mark.filterwarnings("ignore:The default of observed=False is deprecated")
@pytest.mark.filterwarnings("ignore:No data for colormapping provided via 'c'")  # scanpy 1.9
def test_a_plot_computing_a_dendrogram_is_recorded(counts):
    sc.pp.normalize_total(counts)
    sc.pp.log1p(counts)
    sc.pp.pca(counts, n_comps=10)
    counts.obs["group"] = np.repeat(["a", "b", "c"], 100)
    counts.obs["group"] = counts.obs["group"].astype("category")
    sc.tl.rank_genes_groups(counts, "group", method="t-test")
    import matplotlib

    matplotlib.use("agg")
    with provenance.record(counts, strict=True) as block:
        sc.pl.rank_genes_groups_dotplot(counts, n_genes=2, dendrogram=True, show=False)
    assert [(r.kind, r.key) for r in block.records] == [("dendrogram", "dendrogram_group")]
