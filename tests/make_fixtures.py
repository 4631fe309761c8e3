"""Write the cross-version fixture files into ``tests/data/<env>/``.

Run it in each environment of the matrix whose files the others must read
(``python tests/make_fixtures.py legacy`` under scanpy 1.9.8 / anndata 0.10,
``python tests/make_fixtures.py stable-3.12`` under scanpy 1.12 / anndata 0.13), then commit
the directory. ``tests/test_compat.py`` reads every fixture under ``tests/data`` in every
session, so a file written under one scanpy/anndata is read, audited and verified under the
others.

Each environment writes ``recorded.h5ad`` and its zarr stores: ``recorded.zarr`` (v2) on
anndata <= 0.11, ``recorded.zarr2.zarr`` and ``recorded.zarr3.zarr`` on anndata >= 0.12. The
data: 200 cells of pbmc68k_reduced with 10 genes and a graph recomputed on them; a recorded
Leiden sweep (``leiden_0.8``, ``leiden_1.2``) and Louvain (``louvain_igraph``); the Louvain
scanpy left in the dataset (``obs/uns["louvain"]``, no record) and an unrecorded default-key
Leiden (``obs/uns["leiden"]``), both for ``provenance.adopt``. ``manifest.json`` lists the
versions that wrote the files.

On anndata >= 0.13 it also writes ``structured.zarr`` (zarr format 3): 100 cells with a
recorded Leiden (``leiden_s``) and ``sc.tl.rank_genes_groups`` on it, whose structured arrays
(``uns["rank_genes_groups"]["names"]``...) zarr 3.1 cannot parse. Write it alone with
``python tests/make_fixtures.py stable-3.12 --structured``.
"""

from __future__ import annotations

import json
import platform
import shutil
import sys
import warnings
from importlib.metadata import version
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE))

KEYS = ("leiden_0.8", "leiden_1.2", "louvain_igraph")
"""The recorded keys of every fixture."""
ADOPTABLE = ("louvain", "leiden")
"""Keys with scanpy's params and labels but no record."""


def build():
    """The fixture AnnData, made with the installed scanpy."""
    import numpy as np
    import scanpy as sc
    from conftest import FAST

    import provenance

    full = sc.datasets.pbmc68k_reduced()
    adata = full[::3][:200, :10].copy()
    adata.X = np.asarray(adata.X, dtype=np.float32)
    adata.obsm = {"X_pca": np.asarray(adata.obsm["X_pca"][:, :10], dtype=np.float32)}
    adata.raw = None
    adata.varm = {}
    adata.obsp = {}
    adata.obs = adata.obs[["louvain"]].copy()
    adata.obs["louvain"] = adata.obs["louvain"].cat.remove_unused_categories()
    adata.var = adata.var.iloc[:, :0].copy()
    adata.uns = {"louvain": full.uns["louvain"]}
    sc.pp.neighbors(adata, n_neighbors=10, use_rep="X_pca")
    del adata.obsm["X_pca"]  # the graph is what the records are checked against
    sc.tl.leiden(adata, **FAST)  # unrecorded, default key: uns["leiden"] belongs to obs["leiden"]
    with provenance.record(adata):
        for r in (0.8, 1.2):
            sc.tl.leiden(adata, resolution=r, key_added=f"leiden_{r}", **FAST)
        sc.tl.louvain(adata, key_added="louvain_igraph", flavor="igraph")
    return adata


STRUCTURED_KEY = "leiden_s"
"""The recorded key of ``structured.zarr``."""


def write_structured(env: str) -> None:
    """``structured.zarr``: a zarr v3 store with structured arrays in uns (anndata >= 0.13)."""
    import numpy as np
    import scanpy as sc
    from conftest import FAST, write_zarr

    import provenance

    out = HERE / "data" / env / "structured.zarr"
    shutil.rmtree(out, ignore_errors=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        full = sc.datasets.pbmc68k_reduced()
        adata = full[:100, :40].copy()
        adata.X = np.asarray(adata.X, dtype=np.float32)
        adata.raw = None
        adata.obsm = {}
        adata.varm = {}
        adata.obs = adata.obs[[]].copy()
        adata.var = adata.var.iloc[:, :0].copy()
        adata.uns = {}
        sc.pp.neighbors(adata, n_neighbors=10, use_rep="X")
        with provenance.record(adata):
            sc.tl.leiden(adata, key_added=STRUCTURED_KEY, resolution=0.5, **FAST)
        sc.tl.rank_genes_groups(adata, STRUCTURED_KEY, n_genes=5)
        write_zarr(adata, out, zarr_format=3)
    print(f"wrote {out}")


def main(env: str) -> None:
    from conftest import ANNDATA, write_zarr

    out = HERE / "data" / env
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # library notices; the files are what matters here
        adata = build()
    adata.write_h5ad(out / "recorded.h5ad")
    if ANNDATA < (0, 12):
        write_zarr(adata, out / "recorded.zarr", zarr_format=2)
    else:
        for fmt in (2, 3):
            write_zarr(adata, out / f"recorded.zarr{fmt}.zarr", zarr_format=fmt)
    names = ("scanpy", "anndata", "numpy", "pandas", "h5py", "zarr", "leidenalg", "igraph")
    manifest = {
        "env": env,
        "python": platform.python_version(),
        "packages": {n: version(n) for n in names},
        "recorded": list(KEYS),
        "adoptable": list(ADOPTABLE),
    }
    (out / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {out}")
    if ANNDATA >= (0, 13):
        write_structured(env)


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[2] == "--structured":
        write_structured(sys.argv[1])
    elif len(sys.argv) == 2:
        main(sys.argv[1])
    else:
        sys.exit("usage: python tests/make_fixtures.py ENV_NAME [--structured]")
