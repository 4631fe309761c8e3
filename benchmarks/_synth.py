"""Deterministic synthetic data for the benchmarks.

Everything here is vectorised numpy/scipy and seeded with ``numpy.random.default_rng``:
the same arguments give byte-identical arrays on the same numpy version.

* :func:`knn_graph` -- a scanpy-like connectivities matrix with planted communities.
* :func:`make_adata` -- an AnnData as ``sc.pp.neighbors`` would leave it (sparse ``X``,
  ``obsp["distances"]``, ``obsp["connectivities"]``, ``uns["neighbors"]``), plus the planted
  labels in ``obs["planted"]`` so clustering quality can be checked.
* :func:`write_files` -- ``.h5ad`` and ``.zarr`` copies of an AnnData.

How the graph mimics scanpy (``method="umap"``, ``n_neighbors=15``):

* every cell gets ``n_neighbors - 1`` distinct non-self neighbours (scanpy counts the cell
  itself among its ``n_neighbors`` and drops it from ``distances``); each is drawn from the
  cell's own community with probability ``1 - mixing`` and uniformly from all cells otherwise;
* distances are positive, larger for out-of-community neighbours;
* directed weights are umap-like, ``exp(-(d - rho_i) / sigma_i)`` with ``rho_i`` the nearest
  distance, so they lie in (0, 1] and the nearest neighbour has weight 1;
* connectivities are the umap fuzzy union ``W + W.T - W * W.T`` (default; ``"max"`` and
  ``"sum"`` are also available), so they are symmetric and, for the fuzzy union and max, in (0, 1];
* float32 data, int32 ``indices``/``indptr``, sorted indices, no duplicates, no self loops,
  no explicit zeros. nnz is between ``n_obs * (n_neighbors - 1)`` and twice that.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import numpy as np
import scipy.sparse as sp

__all__ = ["default_n_communities", "knn_graph", "knn_matrices", "make_adata", "write_files"]

Symmetrize = Literal["fuzzy", "max", "sum"]


def default_n_communities(n_obs: int) -> int:
    """~sqrt(n_obs)/10 communities (10 at 10k cells, 100 at 1M), each of >= ~200 cells."""
    return int(max(1, min(round(np.sqrt(n_obs) / 10), n_obs // 200)))


def _planted_labels(rng: np.random.Generator, n_obs: int, n_communities: int) -> np.ndarray:
    """Community of each cell: unequal sizes (Dirichlet(3) proportions), cells shuffled."""
    if n_communities == 1:
        return np.zeros(n_obs, dtype=np.int32)
    props = rng.dirichlet(np.full(n_communities, 3.0))
    sizes = rng.multinomial(n_obs, props)
    labels = np.repeat(np.arange(n_communities, dtype=np.int32), sizes)
    rng.shuffle(labels)
    return labels


def knn_matrices(
    n_obs: int,
    *,
    n_neighbors: int = 15,
    n_communities: int | None = None,
    mixing: float = 0.1,
    symmetrize: Symmetrize = "fuzzy",
    seed: int = 0,
) -> tuple[sp.csr_matrix, sp.csr_matrix, np.ndarray]:
    """Return ``(distances, connectivities, planted_labels)``.

    ``distances`` is the directed kNN matrix (``n_neighbors - 1`` entries per row, as
    scanpy stores it); ``connectivities`` is its symmetrised weight matrix.
    """
    if n_neighbors < 2:
        raise ValueError("n_neighbors must be >= 2 (it counts the cell itself, as in scanpy)")
    k = n_neighbors - 1
    if n_obs <= 2 * k:
        raise ValueError(f"n_obs={n_obs} is too small for n_neighbors={n_neighbors}")
    if n_obs >= 2**31 // (2 * k):
        raise ValueError("n_obs too large for int32 indices")
    if n_communities is None:
        n_communities = default_n_communities(n_obs)
    n_communities = int(max(1, min(n_communities, n_obs)))
    rng = np.random.default_rng(seed)

    labels = _planted_labels(rng, n_obs, n_communities)
    sizes = np.bincount(labels, minlength=n_communities)
    order = np.argsort(labels, kind="stable").astype(np.int32)
    starts = np.concatenate(([0], np.cumsum(sizes)[:-1]))

    def draw(cells: np.ndarray, global_only: bool) -> np.ndarray:
        """One neighbour for each entry of ``cells``."""
        out = rng.integers(0, n_obs, size=cells.size, dtype=np.int32)  # "other" neighbours
        if global_only:
            return out
        own = rng.random(cells.size) >= mixing
        c = labels[cells[own]]
        pos = starts[c] + (rng.random(c.size) * sizes[c]).astype(np.int64)
        out[own] = order[pos]
        return out

    rows = np.repeat(np.arange(n_obs, dtype=np.int32), k)
    nbr = draw(rows, False).reshape(n_obs, k)

    # Make every row k distinct non-self neighbours: redraw offenders until none are left
    # (only the rows that had a problem are re-sorted; after a few rounds draw globally so
    # cells of a tiny community cannot loop forever).
    nbr.sort(axis=1)
    todo = np.arange(n_obs, dtype=np.int32)
    for round_ in range(100):
        sub = nbr[todo]
        bad = sub == todo[:, None]
        bad[:, 1:] |= sub[:, 1:] == sub[:, :-1]
        hit = bad.any(axis=1)
        if not hit.any():
            break
        todo, sub, bad = todo[hit], sub[hit], bad[hit]
        r, c = np.nonzero(bad)
        sub[r, c] = draw(todo[r], round_ >= 5)
        sub.sort(axis=1)
        nbr[todo] = sub
    else:  # pragma: no cover - practically impossible
        raise RuntimeError("could not draw distinct neighbours")

    # Distances: in-community ~ 1 + Gamma(4, 0.25) (mean 2), others +1.5.
    nbr_flat = nbr.ravel()
    same = labels[nbr_flat] == labels[rows]
    dist = (1.0 + rng.gamma(4.0, 0.25, size=nbr_flat.size)).astype(np.float32)
    dist[~same] += np.float32(1.5)
    dist2 = dist.reshape(n_obs, k)

    # umap-like directed membership strengths in (0, 1].
    rho = dist2.min(axis=1, keepdims=True)
    gap = dist2 - rho
    sigma = gap.mean(axis=1, keepdims=True)
    sigma[sigma <= 0] = 1.0
    w = np.exp(-gap / sigma).astype(np.float32)
    np.clip(w, np.float32(1e-6), np.float32(1.0), out=w)
    del gap, rows, same

    indptr = np.arange(0, n_obs * k + 1, k, dtype=np.int32)
    shape = (n_obs, n_obs)
    distances = sp.csr_matrix((dist, nbr_flat, indptr), shape=shape)
    directed = sp.csr_matrix((w.ravel(), nbr_flat.copy(), indptr.copy()), shape=shape)
    distances.has_sorted_indices = True
    directed.has_sorted_indices = True

    transposed = directed.T.tocsr()
    if symmetrize == "fuzzy":
        conn = directed + transposed - directed.multiply(transposed)
    elif symmetrize == "max":
        conn = directed.maximum(transposed)
    elif symmetrize == "sum":
        conn = directed + transposed
    else:
        raise ValueError(f"unknown symmetrize={symmetrize!r}")
    del transposed, directed
    conn = sp.csr_matrix(conn)
    conn.eliminate_zeros()
    conn.sort_indices()
    conn = _as_scanpy_csr(conn)
    return distances, conn, labels


def _as_scanpy_csr(m: sp.csr_matrix) -> sp.csr_matrix:
    """float32 data, int32 indices/indptr, sorted, canonical."""
    out = sp.csr_matrix(
        (
            m.data.astype(np.float32, copy=False),
            m.indices.astype(np.int32, copy=False),
            m.indptr.astype(np.int32, copy=False),
        ),
        shape=m.shape,
    )
    out.has_sorted_indices = True
    out.has_canonical_format = True
    return out


def knn_graph(
    n_obs: int,
    *,
    n_neighbors: int = 15,
    n_communities: int | None = None,
    mixing: float = 0.1,
    symmetrize: Symmetrize = "fuzzy",
    seed: int = 0,
) -> sp.csr_matrix:
    """A symmetric scanpy-like connectivities matrix with planted communities.

    See the module docstring. ``n_communities`` defaults to :func:`default_n_communities`
    (10 at 10k cells, 100 at 1M); ``mixing`` is the share of neighbours drawn from anywhere.
    """
    return knn_matrices(
        n_obs,
        n_neighbors=n_neighbors,
        n_communities=n_communities,
        mixing=mixing,
        symmetrize=symmetrize,
        seed=seed,
    )[1]


def _sparse_counts(
    rng: np.random.Generator,
    n_obs: int,
    n_vars: int,
    density: float,
    chunk_rows: int,
) -> sp.csr_matrix:
    """log1p of count-like values in a float32 CSR matrix with ~``density`` nonzeros.

    Entry (i, j) is nonzero with probability ``s_i * q_j``: gene detection rates q_j are
    lognormal (a few genes in ~half the cells, many rare ones), cell depth factors s_i are
    lognormal clipped to [0.5, 2]. A nonzero count is ``1 + Geometric``-like with a mean that
    rises with q_j * s_i (overdispersed, as UMI counts are). Sampling: Bernoulli(q_j * s_max)
    on 16-bit random integers over a row chunk, then thinning by s_i / s_max -- cheap, and
    memory is ~chunk_rows * n_vars * 3 bytes on top of the result. Bits, thinning and values
    come from three separate streams, so the result does not depend on ``chunk_rows``.
    """
    s_max = 2.0
    s = np.clip(rng.lognormal(0.0, 0.3, size=n_obs), 0.5, s_max).astype(np.float32)
    target = density / float(s.mean())  # so that mean(s_i * q_j) ~= density
    q = rng.lognormal(0.0, 1.0, size=n_vars)
    q = np.minimum(q / q.mean() * target, 0.5)
    q *= target / q.mean()  # (approximately) restore the mean after clipping
    q = np.minimum(q, 1.0 / s_max)
    thr = np.clip(np.rint(q * s_max * 65536), 1, 65535).astype(np.uint16)
    keep_p = (s / s_max).astype(np.float32)
    mean_extra = (4.0 * q / q.max()).astype(np.float32)  # 0..4 extra counts on average

    bits, thin, vals_rng = rng.spawn(3)
    chunk_rows = max(4, chunk_rows - chunk_rows % 4)  # whole 64-bit draws per chunk
    indptr = np.zeros(n_obs + 1, dtype=np.int64)
    idx_chunks: list[np.ndarray] = []
    val_chunks: list[np.ndarray] = []
    for lo in range(0, n_obs, chunk_rows):
        hi = min(lo + chunk_rows, n_obs)
        n = hi - lo
        # 16-bit uniforms straight from the bit generator (4 per 64-bit draw).
        u = bits.bit_generator.random_raw(-(-n * n_vars // 4)).view(np.uint16)[: n * n_vars]
        mask = u.reshape(n, n_vars) < thr
        del u
        per_row = np.count_nonzero(mask, axis=1)
        flat = np.flatnonzero(mask)
        del mask
        r = np.repeat(np.arange(lo, hi, dtype=np.int64), per_row)
        c = flat - (r - lo) * n_vars
        keep = thin.random(flat.size, dtype=np.float32) < keep_p[r]
        r, c = r[keep], c[keep]
        indptr[lo + 1 : hi + 1] = np.bincount(r - lo, minlength=n)
        extra = np.floor(
            vals_rng.standard_exponential(r.size, dtype=np.float32) * mean_extra[c] * s[r]
        )
        vals = np.log1p(extra + np.float32(1.0), dtype=np.float32)
        idx_chunks.append(c.astype(np.int32))
        val_chunks.append(vals)
        del flat, keep, r, c, extra
    np.cumsum(indptr, out=indptr)
    if indptr[-1] >= 2**31:
        raise ValueError("X too large for int32 indices; lower density or n_obs")
    X = sp.csr_matrix(
        (np.concatenate(val_chunks), np.concatenate(idx_chunks), indptr.astype(np.int32)),
        shape=(n_obs, n_vars),
    )
    X.has_sorted_indices = True
    X.has_canonical_format = True
    return X


def make_adata(
    n_obs: int,
    *,
    n_vars: int = 2000,
    density: float = 0.05,
    n_neighbors: int = 15,
    n_communities: int | None = None,
    mixing: float = 0.1,
    seed: int = 0,
    chunk_rows: int = 4096,
):
    """An AnnData shaped like the output of ``sc.pp.neighbors`` on 2000 HVGs.

    ``X`` is CSR float32 log1p(counts) with ~``density`` nonzeros (0.05 -> 1M cells x 2000
    genes = ~100M nnz = ~0.8 GB in memory: realistic for HVG-subset single-cell data and small
    enough for a 24 GB machine). obs_names ``cell_0000000``..., var_names ``gene_0000``...,
    ``obs["planted"]`` categorical planted community.
    """
    import anndata as ad
    import pandas as pd

    distances, conn, labels = knn_matrices(
        n_obs, n_neighbors=n_neighbors, n_communities=n_communities, mixing=mixing, seed=seed
    )
    # Separate stream for X so the graph does not depend on the X parameters.
    rng = np.random.default_rng([seed, 1])
    X = _sparse_counts(rng, n_obs, n_vars, density, chunk_rows)

    w_obs = max(6, len(str(n_obs - 1)))
    w_var = max(4, len(str(n_vars - 1)))
    obs_names = pd.Index([f"cell_{i:0{w_obs}d}" for i in range(n_obs)], dtype=object)
    var_names = pd.Index([f"gene_{j:0{w_var}d}" for j in range(n_vars)], dtype=object)
    n_comm = int(labels.max()) + 1
    obs = pd.DataFrame(
        {"planted": pd.Categorical.from_codes(labels, categories=[str(c) for c in range(n_comm)])},
        index=obs_names,
    )
    adata = ad.AnnData(X=X, obs=obs, var=pd.DataFrame(index=var_names))
    adata.obsp["distances"] = distances
    adata.obsp["connectivities"] = conn
    adata.uns["neighbors"] = {
        "connectivities_key": "connectivities",
        "distances_key": "distances",
        "params": {
            "n_neighbors": n_neighbors,
            "method": "umap",
            "random_state": 0,
            "metric": "euclidean",
        },
    }
    return adata


def write_files(
    adata, directory, *, stem: str = "synth", zarr_format: int | None = None
) -> dict[str, Path]:
    """Write ``{stem}.h5ad`` and ``{stem}.zarr`` into ``directory``; return their paths.

    ``zarr_format`` (2 or 3) overrides ``anndata.settings.zarr_write_format`` for this call
    (anndata 0.12 defaults to 2 and warns that 3 will become the default). An existing
    ``{stem}.zarr`` is replaced.
    """
    import shutil
    from contextlib import nullcontext

    import anndata as ad

    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    paths = {"h5ad": directory / f"{stem}.h5ad", "zarr": directory / f"{stem}.zarr"}
    adata.write_h5ad(paths["h5ad"])
    if paths["zarr"].exists():
        shutil.rmtree(paths["zarr"])
    ctx = (
        nullcontext()
        if zarr_format is None
        else ad.settings.override(zarr_write_format=zarr_format)
    )
    with ctx:
        adata.write_zarr(paths["zarr"])
    return paths
