"""Small synthetic counts with planted groups, and the whole pipeline from counts to clusters.

:func:`planted_counts` makes counts with a few empty cells and unseen genes for the filters.

:func:`counts` makes the data (a few hundred cells x genes, three groups, each with its own
up-regulated genes, overlapping enough for PAGA to find edges between them); :data:`STEPS`
are the calls of the routine pipeline by name, so a test can run a part of it, change
something, and run the rest (:func:`run`).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np
import scanpy as sc
from conftest import LEIDENALG, SCANPY

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from anndata import AnnData

__all__ = ["STEPS", "counts", "planted_counts", "run"]


def counts(n_obs: int = 240, n_vars: int = 160, *, seed: int = 0) -> AnnData:
    """Poisson counts (CSR, float32) of three planted groups; ``obs['group']`` holds them."""
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    rng = np.random.default_rng(seed)
    groups = rng.integers(0, 3, n_obs)
    base = rng.gamma(2.0, 1.0, n_vars)
    mu = np.tile(base, (3, 1))
    for g in range(3):
        mu[g, 15 * g : 15 * (g + 1)] *= 4
    x = rng.poisson(mu[groups]).astype(np.float32)
    x[0, :] = 0  # one empty cell, and genes seen in few cells, for the filters to remove
    x[:, -3:] = 0
    x[:2, -3:] = 1
    obs = pd.DataFrame(
        {"group": pd.Categorical(groups.astype(str))},
        index=[f"cell{i}" for i in range(n_obs)],
    )
    var = pd.DataFrame(index=[f"gene{i}" for i in range(n_vars)])
    return ad.AnnData(sparse.csr_matrix(x), obs=obs, var=var)


LEIDEN: dict[str, Any] = {"random_state": 0, **LEIDENALG}


def _keep_counts(adata: AnnData) -> None:
    adata.layers["counts"] = adata.X.copy()


def _raw(adata: AnnData) -> None:
    adata.raw = adata


STEPS: dict[str, Callable[[AnnData], Any]] = {
    "filter_cells": lambda a: sc.pp.filter_cells(a, min_genes=5),
    "filter_genes": lambda a: sc.pp.filter_genes(a, min_cells=3),
    "counts_layer": _keep_counts,  # by hand, as tutorials do: no record
    "normalize_total": lambda a: sc.pp.normalize_total(a, target_sum=1e4),
    "log1p": lambda a: sc.pp.log1p(a),  # looked up at the call: record() patches sc.pp
    "raw": _raw,  # by hand: no record
    "hvg": lambda a: sc.pp.highly_variable_genes(a, n_top_genes=80),
    "scale": lambda a: sc.pp.scale(a, max_value=10),
    "pca": lambda a: sc.pp.pca(a, n_comps=15),
    "neighbors": lambda a: sc.pp.neighbors(a, n_neighbors=10),
    "umap": lambda a: sc.tl.umap(a),
    "leiden": lambda a: sc.tl.leiden(a, key_added="leiden", **LEIDEN),
    "rank_genes_groups": lambda a: sc.tl.rank_genes_groups(a, "leiden", method="t-test"),
    "dendrogram": lambda a: sc.tl.dendrogram(a, groupby="leiden"),
    "paga": lambda a: sc.tl.paga(a, groups="leiden"),
}
"""The routine pipeline, in order; ``counts_layer`` and ``raw`` are the unrecorded assignments
tutorials make (``layers['counts']``, ``adata.raw``)."""
if SCANPY < (1, 10):  # scanpy 1.9's sc.tl.paga fails on the legacy pins, recorded or not
    del STEPS["paga"]

DOWNSTREAM = tuple(STEPS)[tuple(STEPS).index("neighbors") :]
"""The steps after PCA."""


def run(adata: AnnData, names: Iterable[str] | None = None) -> AnnData:
    """Run the steps ``names`` (every step when ``None``) on ``adata``, in place, in order.

    The caller wraps it in ``provenance.record(adata)``. scanpy 1.9's ``sc.pp.scale`` of a
    sparse matrix warns that it densifies it: the warning is scanpy's.
    """
    import warnings

    for name in STEPS if names is None else names:
        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", "zero-centering a sparse", UserWarning)
            STEPS[name](adata)
    return adata


def planted_counts(
    n_cells: int = 360, n_genes: int = 240, *, n_groups: int = 3, seed: int = 0
) -> AnnData:
    """Counts (CSR float32) of ``n_cells`` cells in ``n_groups`` planted groups; the true
    group of each cell is ``obs['truth']`` (categorical), a batch in ``obs['batch']``."""
    import anndata as ad
    import pandas as pd
    from scipy import sparse

    rng = np.random.default_rng(seed)
    truth = np.arange(n_cells) % n_groups
    base = rng.gamma(0.6, 1.0, n_genes)
    means = np.tile(base, (n_groups, 1))
    block = n_genes // (2 * n_groups)
    for g in range(n_groups):
        means[g, g * block : (g + 1) * block] *= 8.0
    library = rng.lognormal(0.0, 0.3, n_cells)[:, None]
    counts = rng.poisson(means[truth] * library).astype(np.float32)
    counts[:5, :] = 0  # a few empty cells for filter_cells to remove
    counts[:, -4:] = 0  # and genes seen in no cell for filter_genes
    obs = pd.DataFrame(
        {
            "truth": pd.Categorical([f"g{t}" for t in truth]),
            "batch": pd.Categorical(np.where(np.arange(n_cells) % 2 == 0, "a", "b")),
        },
        index=[f"cell{i}" for i in range(n_cells)],
    )
    var = pd.DataFrame(index=[f"gene{j}" for j in range(n_genes)])
    return ad.AnnData(sparse.csr_matrix(counts), obs=obs, var=var)
