"""``provenance adopt`` on files a newer anndata/zarr wrote, and text output fitted to COLUMNS."""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import scanpy as sc
from conftest import FAST

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
    if int(version("zarr").split(".")[0]) < 3:
        assert f"zarr {version('zarr')} cannot read; install zarr >= 3" in err, err
    else:
        assert f"zarr {version('zarr')}" in err and f"anndata {version('anndata')}" in err
        assert "run provenance adopt with that anndata/zarr" in err
        assert "/uns/rank_genes_groups/" in err, err
    assert _digest(store) == before
    assert not out.exists() and _leftovers(tmp_path) == []


# --- diff and replay fitted to COLUMNS -------------------------------------------------------

ROOT = Path(provenance.__file__).resolve().parents[1]


def _cli(*args: object, columns: int) -> subprocess.CompletedProcess:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "PYTHONIOENCODING")
    }
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    env["COLUMNS"] = str(columns)
    return subprocess.run(
        [sys.executable, "-m", "provenance", *map(str, args)],
        capture_output=True,
        env=env,
        check=False,
        text=True,
        encoding="utf-8",
    )


@pytest.fixture(scope="module")
def two_runs(_pbmc_master, tmp_path_factory) -> Path:
    a = _pbmc_master.copy()
    with provenance.record(a):
        sc.tl.leiden(a, key_added="leiden_a", resolution=0.5, **FAST)
        sc.tl.leiden(a, key_added="leiden_b", resolution=1.5, **FAST)
    path = tmp_path_factory.mktemp("fit") / "two.h5ad"
    a.write_h5ad(path)
    return path


def _fits(text: str, columns: int) -> None:
    from provenance._render.terminal import cell_len

    wide = [line for line in text.splitlines() if cell_len(line) > columns]
    assert not wide, f"{len(wide)} line(s) wider than {columns}: {wide}"


@pytest.mark.parametrize("columns", [60, 80])
def test_diff_fits_the_terminal(two_runs, columns):
    proc = _cli("diff", two_runs, "leiden_a", "leiden_b", "--all", columns=columns)
    assert proc.returncode == 0, proc.stderr
    _fits(proc.stdout, columns)
    rows = {line.split()[0]: line.split()[1:] for line in proc.stdout.splitlines()[2:] if line}
    assert rows["resolution"][:2] == ["0.5", "1.5"]
    assert rows["labels_digest"][0].startswith("xxh3_128:")


@pytest.mark.parametrize("columns", [60, 80])
def test_replay_report_fits_the_terminal(two_runs, columns):
    proc = _cli("replay", two_runs, "leiden_b", columns=columns)
    assert proc.returncode == 0, proc.stderr
    _fits(proc.stdout, columns)
    # Wrapped, not cut: the whole call is there, its lines indented under the label.
    rec = provenance.audit(two_runs)["leiden_b"].latest
    assert f"resolution={rec.params.resolution}" in proc.stdout
    text = " ".join(proc.stdout.split())
    assert "key_added='leiden_b')" in text
    assert "software " in proc.stdout
    call = [line for line in proc.stdout.splitlines() if line.startswith("call ")]
    assert len(call) == 1
