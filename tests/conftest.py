"""Shared fixtures: real pbmc68k_reduced data, strict recording, file round trips."""

from __future__ import annotations

import os
import warnings
from importlib.metadata import version
from typing import TYPE_CHECKING

import pytest
from packaging.version import Version

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

# The suite runs strict: a recording error raises instead of warning.
os.environ["PROVENANCE_STRICT"] = "1"

SCANPY = Version(version("scanpy")).release[:2]
"""The installed scanpy as ``(major, minor)``."""
ANNDATA = Version(version("anndata")).release[:2]
"""The installed anndata as ``(major, minor)``."""

# The single source of truth for a fast leiden call. scanpy < 1.10 has no ``flavor`` argument
# (it would reach leidenalg as a partition argument) and always runs leidenalg.
FAST_FLAVOR = "igraph" if SCANPY >= (1, 10) else "leidenalg"
"""The flavor ``sc.tl.leiden(adata, **FAST)`` runs and records."""
FAST: dict[str, object] = (
    {"flavor": "igraph", "n_iterations": 2} if SCANPY >= (1, 10) else {"n_iterations": 2}
)
"""Keyword arguments for a fast ``sc.tl.leiden`` on every supported scanpy."""
LEIDENALG: dict[str, object] = {"flavor": "leidenalg"} if SCANPY >= (1, 10) else {}
"""Keyword arguments that select the leidenalg flavor on every supported scanpy."""


@pytest.fixture(scope="session")
def _pbmc_master() -> AnnData:
    import scanpy as sc

    return sc.datasets.pbmc68k_reduced()


@pytest.fixture
def pbmc(_pbmc_master: AnnData) -> AnnData:
    """A fresh copy of pbmc68k_reduced (ships with scanpy; its graph is in obsp)."""
    return _pbmc_master.copy()


def write_zarr(adata: AnnData, path: Path, *, zarr_format: int = 3) -> None:
    """Write ``adata`` as zarr, silencing only the notices that are not ours.

    anndata 0.12 warns that its zarr defaults will change (v3, sharding), and zarr 3 warns
    that pbmc68k_reduced's fixed-width string arrays have no v3 spec yet. Neither concerns
    the records, which are variable-length strings.
    """
    import anndata as ad

    settings = getattr(ad, "settings", None)  # anndata 0.10 has none
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*will be the default", category=UserWarning)
        warnings.filterwarnings("ignore", message="Writing zarr v2 data", category=UserWarning)
        warnings.filterwarnings("ignore", message="Consolidated metadata", category=UserWarning)
        try:
            from zarr.errors import UnstableSpecificationWarning
        except ImportError:  # zarr 2
            pass
        else:
            warnings.filterwarnings("ignore", category=UnstableSpecificationWarning)
        # anndata 0.13 deprecates the setting (even reading it): v3 is its default, and the
        # v2 files it still writes on request are what other labs' files look like.
        warnings.filterwarnings(
            "ignore",
            message=".*This setting .*will be removed in 0.14",
            category=DeprecationWarning,
        )
        if getattr(settings, "zarr_write_format", zarr_format) == zarr_format:
            # anndata 0.10 has no settings and writes v2 only; 0.13 writes v3 by default.
            adata.write_zarr(path)
        else:
            with settings.override(zarr_write_format=zarr_format):
                adata.write_zarr(path)


def roundtrip(adata: AnnData, tmp_path: Path, fmt: str) -> AnnData:
    """Write ``adata`` to ``tmp_path`` in ``fmt`` ("h5ad", "zarr2", "zarr3") and read it back."""
    import anndata as ad

    if fmt == "h5ad":
        path = tmp_path / "rt.h5ad"
        adata.write_h5ad(path)
        return ad.read_h5ad(path)
    path = tmp_path / f"rt.{fmt}.zarr"
    write_zarr(adata, path, zarr_format=int(fmt[-1]))
    return ad.read_zarr(path)
