"""Shared fixtures: real pbmc68k_reduced data, strict recording, file round trips."""

from __future__ import annotations

import os
import warnings
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

# The suite runs strict: a recording error raises instead of warning.
os.environ["PROVENANCE_STRICT"] = "1"


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
        if hasattr(ad.settings, "zarr_write_format"):
            with ad.settings.override(zarr_write_format=zarr_format):
                adata.write_zarr(path)
        else:
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
