"""Synthetic counts with planted groups, built by the tests (no network, a few hundred cells).

Per-gene means are gamma-distributed with a long tail; each group raises a block of marker
genes; counts are Poisson around the means with a cell-specific library size, so the usual
pipeline (normalize_total -> log1p -> highly_variable_genes -> pca -> neighbors -> leiden)
recovers the groups.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from anndata import AnnData

__all__ = ["planted_counts"]


def planted_counts(
    n_cells: int = 360, n_genes: int = 240, *, n_groups: int = 3, seed: int = 0
) -> AnnData:
    """Counts (CSR float32) of ``n_cells`` cells in ``n_groups`` planted groups; the true
    group of each cell is ``obs['truth']`` (categorical), a batch in ``obs['batch']``."""
    import anndata as ad
    import numpy as np
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
