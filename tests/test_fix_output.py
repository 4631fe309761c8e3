"""``provenance adopt`` on files a newer anndata/zarr wrote, and text output fitted to COLUMNS."""

from __future__ import annotations

import hashlib
import shutil
from pathlib import Path

import pytest

import provenance
from provenance._cli import main

DATA = Path(__file__).parent / "data" / "stable-3.12"
NEWER_H5AD = DATA / "recorded.h5ad"  # anndata 0.13 + pandas 3: nullable-string obs index
STRUCTURED = DATA / "structured.zarr"  # zarr v3 struct arrays in uns["rank_genes_groups"]


def _digest(path: Path) -> str:
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    h = hashlib.sha256()
    for f in files:
        h.update(f.relative_to(path.parent).as_posix().encode())
        h.update(f.read_bytes())
    return h.hexdigest()


def _leftovers(directory: Path) -> list[str]:
    return sorted(p.name for p in directory.iterdir() if "adopt-" in p.name)


def test_adopt_a_newer_h5ad_keeps_its_data(tmp_path, capsys):
    """anndata 0.12 reads pandas 3's nullable strings but will not write them back: adopt
    writes only the uns entries it changes, so the output is the input plus the records."""
    before = _digest(NEWER_H5AD)
    out = tmp_path / "o.h5ad"
    code = main(["adopt", str(NEWER_H5AD), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert "2 key(s) adopted" in captured.out
    assert _digest(NEWER_H5AD) == before
    report = provenance.audit(out)
    for key in ("leiden", "louvain"):
        assert report[key].checked, report[key].findings
        assert report[key].latest.origin == "adopted"
    # What was there is kept: the records written before, every obs column and the matrix.
    assert report["leiden_0.8"].status == "ok"
    import h5py

    with h5py.File(NEWER_H5AD) as a, h5py.File(out) as b:
        assert sorted(a["obs"]) == sorted(b["obs"])
        assert a["obs"].attrs["encoding-type"] == b["obs"].attrs["encoding-type"]
        assert (a["X"][()] == b["X"][()]).all() if hasattr(a["X"], "shape") else True
    assert _leftovers(tmp_path) == []


def test_adopt_in_place_on_a_newer_h5ad(tmp_path, capsys):
    path = tmp_path / "m.h5ad"
    shutil.copyfile(NEWER_H5AD, path)
    assert main(["adopt", str(path), "--in-place", "--key", "louvain"]) == 0, capsys.readouterr()
    report = provenance.audit(path)
    assert report["louvain"].latest.origin == "adopted" and report["louvain"].checked
    assert report["leiden"].latest is None
    assert _leftovers(tmp_path) == []


def _zarr_reads_the_store() -> bool:
    import anndata as ad

    try:
        ad.read_zarr(STRUCTURED)
    except Exception:  # this anndata/zarr cannot read the element
        return False
    return True


@pytest.mark.parametrize("mode", ["--out", "--in-place"])
def test_adopt_names_the_zarr_element_and_versions_it_cannot_read(tmp_path, capsys, mode):
    """zarr 3.1 cannot parse zarr v3 ``struct`` arrays: one line naming the element, the
    installed versions and what to do; no output written, the input untouched."""
    if _zarr_reads_the_store():
        pytest.skip("this anndata/zarr reads zarr v3 structured arrays")
    from importlib.metadata import version

    store = tmp_path / "s.zarr"
    shutil.copytree(STRUCTURED, store)
    before = _digest(store)
    out = tmp_path / "o.zarr"
    args = ["adopt", str(store), *([mode, str(out)] if mode == "--out" else [mode])]
    assert main(args) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1, err
    assert f"zarr {version('zarr')}" in err and f"anndata {version('anndata')}" in err
    assert "run provenance adopt with that anndata/zarr" in err
    if int(version("zarr").split(".")[0]) >= 3:
        assert "/uns/rank_genes_groups/" in err, err
    assert _digest(store) == before
    assert not out.exists() and _leftovers(tmp_path) == []
