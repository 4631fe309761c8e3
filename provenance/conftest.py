"""The namespace of the doctests in this package (``pytest`` runs them: ``--doctest-modules``).

It lives here, not in ``tests/conftest.py``: a conftest applies to the files under its own
directory only. Not shipped in the wheel (``pyproject.toml``). Every example gets:

- ``adata``: a fresh copy of scanpy's ``pbmc68k_reduced`` (its unrecorded ``louvain`` as
  shipped) with recorded Leiden runs (igraph flavor, 2 iterations): ``leiden_0.5``,
  ``leiden_1.0`` (v1 ``random_state=1``, v2 ``random_state=0``) and ``leiden_0.8`` (v1
  ``random_state=0``, v2 ``random_state=1``);
- ``sc``, ``np``, ``pd``, ``provenance`` and ``Path``;
- a fresh working directory holding that object as ``pbmc.h5ad`` and ``pbmc.zarr``.

The examples that use the object need scanpy >= 1.10 (``flavor="igraph"``): under older
scanpy they are skipped.
"""

from __future__ import annotations

import os
import warnings
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from packaging.version import Version

if TYPE_CHECKING:
    from anndata import AnnData

# The examples run strict, as the suite does: a recording error raises instead of warning.
os.environ["PROVENANCE_STRICT"] = "1"

_SCANPY = Version(version("scanpy")).release[:2]
_RUNS = (("leiden_0.5", 0.5, 0), ("leiden_1.0", 1.0, 1), ("leiden_1.0", 1.0, 0))
_RUNS += (("leiden_0.8", 0.8, 0), ("leiden_0.8", 0.8, 1))


def _uses_data(item: pytest.Item) -> bool:
    """Whether a doctest works on the recorded object (or clusters one itself)."""
    examples = item.dtest.examples if isinstance(item, pytest.DoctestItem) and item.dtest else []
    return any(name in ex.source for ex in examples for name in ("adata", "pbmc", "sc."))


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if _SCANPY >= (1, 10):
        return
    skip = pytest.mark.skip(reason="the example clusters with scanpy >= 1.10 (flavor='igraph')")
    for item in items:
        if _uses_data(item):
            item.add_marker(skip)


@pytest.fixture(scope="session")
def _doctest_adata() -> AnnData:
    import scanpy as sc

    import provenance

    adata = sc.datasets.pbmc68k_reduced()
    with provenance.record(adata):
        for key, resolution, seed in _RUNS:
            sc.tl.leiden(
                adata,
                resolution=resolution,
                key_added=key,
                random_state=seed,
                flavor="igraph",
                n_iterations=2,
            )
    return adata


@pytest.fixture(scope="session")
def _doctest_files(_doctest_adata: AnnData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    files = tmp_path_factory.mktemp("doctest_files")
    _doctest_adata.write_h5ad(files / "pbmc.h5ad")
    with warnings.catch_warnings():
        # anndata's and zarr's notices about zarr formats concern the data, not the records
        # (tests/conftest.py write_zarr names them; here the file is only an example's input).
        warnings.simplefilter("ignore")
        _doctest_adata.write_zarr(files / "pbmc.zarr")
    return files


@pytest.fixture(autouse=True)
def _doctest_globals(
    request: pytest.FixtureRequest,
    doctest_namespace: dict[str, Any],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import shutil

    import numpy as np
    import pandas as pd
    import scanpy as sc

    import provenance

    namespace: dict[str, Any] = {"sc": sc, "np": np, "pd": pd, "provenance": provenance}
    if _uses_data(request.node):  # the recorded object is made once, for the examples using it
        files: Path = request.getfixturevalue("_doctest_files")
        for name in ("pbmc.h5ad", "pbmc.zarr"):
            src = files / name
            (shutil.copytree if src.is_dir() else shutil.copy)(src, tmp_path / name)
        monkeypatch.chdir(tmp_path)
        namespace["adata"] = request.getfixturevalue("_doctest_adata").copy()
    # What show() prints fits the terminal: the examples show it at a fixed width.
    monkeypatch.setenv("COLUMNS", "80")
    doctest_namespace.update(namespace, Path=Path)
