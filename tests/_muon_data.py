"""A real two-modality MuData built from pbmc68k_reduced, for the muon target's tests.

pbmc68k_reduced ships one view of 700 cells (765 genes). Two honest modalities are made by
splitting its genes along scanpy's own ``var["highly_variable"]`` flag: ``rna`` holds the 309
highly variable genes, ``rest`` the 456 other genes. The two feature sets are disjoint, so each
modality gets its own PCA (20 components) and its own ``sc.pp.neighbors`` graph (15 neighbors),
and the two graphs really differ: this is the multiplex ``mu.tl.leiden``/``mu.tl.louvain``
cluster (muon reads ``mdata.mod[m].obsp`` through each modality's ``uns["neighbors"]``; it
needs no WNN graph, ``mu.pp.neighbors`` is not run). It is not protein data, and is not named so.

The ``var["highly_variable"]`` column is dropped from both modalities: ``sc.pp.pca`` would
otherwise use it as a mask and find no feature in ``rest``. pbmc68k_reduced's shipped
``obs["louvain"]`` / ``uns["louvain"]`` (made without this package) stay in ``rna`` only with
``shipped_louvain=True``.

Building takes ~1-2 s once numba has compiled scanpy's neighbors (~10 s the first time in a
process); ``import muon`` itself takes ~13 s on a 2-core machine.
"""

from __future__ import annotations

import warnings
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from collections.abc import Iterator

    from mudata import MuData

MODALITIES = ("rna", "rest")
"""The modality names, in ``mdata.mod`` order (muon's multiplex follows this order)."""


def import_muon():
    """Import muon with the notices that are not ours silenced (they are errors in the suite).

    umap (imported by muon) warns that TensorFlow is missing (ImportWarning); muon 0.1.9 reads
    ``scanpy.__version__``, which scanpy 1.11 deprecates (FutureWarning).
    """
    with warnings.catch_warnings():
        warnings.filterwarnings(
            "ignore", message="Tensorflow not installed", category=ImportWarning
        )
        warnings.filterwarnings(
            "ignore", message="`__version__` is deprecated", category=FutureWarning
        )
        import muon

    return muon


@contextmanager
def quiet_mudata() -> Iterator[None]:
    """Silence mudata's own notices about its API and pandas 3.1 (not ours; errors in the suite).

    mudata 0.3 warns on every ``update()`` (also inside ``MuData()``, ``read_h5mu``,
    ``write``) that 0.4 will stop pulling modality columns; mudata 0.4.1 calls
    ``DataFrame.drop(inplace=True)``, which pandas 3.1 deprecates.
    """
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="From 0.4 .update", category=FutureWarning)
        warnings.filterwarnings(
            "ignore", message="The inplace keyword in DataFrame.drop", category=DeprecationWarning
        )
        yield


def build_mudata(*, shipped_louvain: bool = False, n_neighbors: int = 15) -> MuData:
    """Two modalities of pbmc68k_reduced (``rna``: 309 highly variable genes, ``rest``: 456 others).

    Each modality has its own ``X_pca`` (20 comps) and ``sc.pp.neighbors`` graph in
    ``obsp["connectivities"]``/``obsp["distances"]`` with ``uns["neighbors"]``. The MuData's
    own ``obs``/``uns``/``obsp`` start empty (no muon run, no WNN graph).

    Parameters
    ----------
    shipped_louvain
        Keep pbmc68k_reduced's old ``obs["louvain"]`` and ``uns["louvain"]["params"]`` in the
        ``rna`` modality (a scanpy fixed-key leftover inside a modality).
    n_neighbors
        ``n_neighbors`` of each modality's ``sc.pp.neighbors``.
    """
    import scanpy as sc

    mu = import_muon()
    base = sc.datasets.pbmc68k_reduced()
    hv = base.var["highly_variable"].to_numpy(dtype=bool)
    mods = {}
    for name, mask in zip(MODALITIES, (hv, ~hv), strict=True):
        m = base[:, mask].copy()
        del m.var["highly_variable"]
        del m.obsm["X_pca"], m.obsm["X_umap"], m.varm["PCs"]
        del m.obsp["connectivities"], m.obsp["distances"]
        keep = shipped_louvain and name == "rna"
        for k in list(m.uns):
            if not (keep and k in {"louvain", "louvain_colors"}):
                del m.uns[k]
        if not keep:
            del m.obs["louvain"]
        sc.pp.pca(m, n_comps=20)
        sc.pp.neighbors(m, n_neighbors=n_neighbors)
        mods[name] = m
    with quiet_mudata():
        return mu.MuData(mods)


if __name__ == "__main__":  # a check that it builds and that muon clusters it
    import sys
    import time

    t = time.perf_counter()
    mu = import_muon()
    print(f"import muon {mu.__version__}: {time.perf_counter() - t:.1f}s")
    t = time.perf_counter()
    mdata = build_mudata()
    print(f"build: {time.perf_counter() - t:.1f}s", mdata.shape, list(mdata.mod))
    for fn in ("leiden", "louvain"):
        t = time.perf_counter()
        try:
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message="The function louvain is deprecated")
                getattr(mu.tl, fn)(mdata, key_added=f"wnn_{fn}", resolution=1.0, random_state=1)
        except ImportError as e:
            print(f"mu.tl.{fn}: {type(e).__name__}: {e}")
            continue
        n = mdata.obs[f"wnn_{fn}"].nunique()
        print(
            f"mu.tl.{fn}: {time.perf_counter() - t:.2f}s, {n} clusters, uns[{fn!r}] =",
            dict(mdata.uns[fn]),
        )
    print("mdata.uns keys:", list(mdata.uns), "obs:", list(mdata.obs.columns))
    sys.exit(0)
