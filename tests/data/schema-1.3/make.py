"""Write ``lineage.h5ad``: a file of schema 1.3 (neighbors, two Leiden versions, markers).

Run with an anndata-provenance that writes 1.3 (the release before signed records, commit
dbee4c8): ``python tests/data/schema-1.3/make.py``. tests/test_signing.py reads it with the
current package and checks it audits as it did.
"""

from __future__ import annotations

import json
from importlib.metadata import version
from pathlib import Path

import scanpy as sc

import provenance

HERE = Path(__file__).parent

if __name__ == "__main__":
    assert provenance.SCHEMA_VERSION == "1.3", provenance.SCHEMA_VERSION
    full = sc.datasets.pbmc68k_reduced()
    adata = full[:200, :10].copy()
    adata.uns.clear()
    del adata.raw  # a small file: markers from the 10 genes of X
    del adata.obsp["connectivities"], adata.obsp["distances"]
    adata.obs = adata.obs[[]]
    adata.obsm = {"X_pca": adata.obsm["X_pca"]}
    adata.varm.clear()
    with provenance.record(adata):
        sc.pp.neighbors(adata, n_neighbors=10)
        sc.tl.leiden(adata, key_added="L", flavor="igraph", n_iterations=2, random_state=0)
        sc.tl.leiden(adata, key_added="L", flavor="igraph", n_iterations=2, random_state=1)
        sc.tl.rank_genes_groups(adata, "L", method="t-test")
    adata.write_h5ad(HERE / "lineage.h5ad")
    pkgs = ("scanpy", "anndata", "anndata-provenance", "igraph")
    manifest = {"schema_version": "1.3", "packages": {p: version(p) for p in pkgs}}
    (HERE / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
