"""The ``provenance`` command line on real .h5ad/.zarr files: show, verify, diff, exit codes."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import anndata as ad
import h5py
import numpy as np
import pytest
import scanpy as sc
from _audit_data import RECORDED, drop_unrecorded, sweep
from conftest import write_zarr

from provenance._cli import main

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def files(_pbmc_master, tmp_path_factory) -> dict[str, Path]:
    """A clean recorded file, the same with the graph recomputed, and pbmc as shipped."""
    d = tmp_path_factory.mktemp("cli")
    adata = drop_unrecorded(sweep(_pbmc_master.copy()))
    paths = {
        "clean": d / "clean.h5ad",
        "zarr": d / "clean.zarr",
        "regraphed": d / "regraphed.h5ad",
        "shipped": d / "shipped.h5ad",
    }
    adata.write_h5ad(paths["clean"])
    write_zarr(adata, paths["zarr"])
    sc.pp.neighbors(adata, n_neighbors=5)
    adata.write_h5ad(paths["regraphed"])
    _pbmc_master.write_h5ad(paths["shipped"])
    return paths


def run(capsys, *argv: str) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def assert_one_line_error(err: str, *needles: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    for n in needles:
        assert n in lines[0]


# --- verify exit codes -----------------------------------------------------------------------


@pytest.mark.parametrize("which", ["clean", "zarr"])
def test_verify_clean_file_exits_0(files, capsys, which):
    code, out, err = run(capsys, "verify", files[which])
    assert code == 0, out
    assert out.startswith("Provenance audit — OK")
    assert err == ""
    assert run(capsys, "verify", files[which], "--strict")[0] == 0


def test_verify_recomputed_graph_exits_1(files, capsys):
    code, out, err = run(capsys, "verify", files["regraphed"])
    assert code == 1
    assert "NOT OK" in out and out.count("graph_changed") == len(RECORDED)
    assert err == ""
    code, out, _ = run(capsys, "verify", files["regraphed"], "--key", "leiden_0.5")
    assert code == 1 and out.count("graph_changed") == 1


def test_verify_strict_fails_on_warnings(files, capsys):
    # pbmc68k_reduced as shipped: an unrecorded louvain clustering is a warning.
    assert run(capsys, "verify", files["shipped"])[0] == 0
    code, out, _ = run(capsys, "verify", files["shipped"], "--strict")
    assert code == 1
    assert "verify --strict: 1 warning count as failures." in out


def test_verify_json(files, capsys):
    code, out, _ = run(capsys, "verify", files["regraphed"], "--json")
    assert code == 1
    d = json.loads(out)
    assert d["ok"] is False and d["passed"] is False and d["n_errors"] == len(RECORDED)
    assert {e["key"] for e in d["entries"]} == set(RECORDED)
    assert d["source"] == str(files["regraphed"])


def test_unreadable_inputs_exit_2(files, tmp_path, capsys):
    text = tmp_path / "notes.h5ad"
    text.write_text("not an AnnData file\n")
    other = tmp_path / "other.h5"
    with h5py.File(other, "w") as f:
        f["data"] = np.arange(3)
    empty_dir = tmp_path / "empty.zarr"
    empty_dir.mkdir()
    cases = {
        tmp_path / "missing.h5ad": "no such file",
        text: "not an HDF5",
        other: "not an AnnData file",
        empty_dir: "empty.zarr",
    }
    for path, needle in cases.items():
        for cmd in ("verify", "show"):
            code, out, err = run(capsys, cmd, path)
            assert code == 2, (path, out, err)
            assert out == ""
            assert_one_line_error(err, f"provenance {cmd}: error:", str(path), needle)


def test_unknown_key_exits_2(files, capsys):
    code, _, err = run(capsys, "verify", files["clean"], "--key", "nope")
    assert code == 2
    assert_one_line_error(err, "'nope' is neither in obs nor in uns", "'leiden_0.5'")


def test_debug_shows_the_traceback(files):
    with pytest.raises(Exception, match="no such file"):
        main(["--debug", "verify", str(files["clean"].with_name("missing.h5ad"))])


def test_usage_error_exits_2(capsys):
    with pytest.raises(SystemExit) as e:
        main(["verify"])
    assert e.value.code == 2
    assert "usage:" in capsys.readouterr().err


# --- show: uns only --------------------------------------------------------------------------


def _spoil(path: Path, names: tuple[str, ...]) -> None:
    """Replace elements of an .h5ad with garbage that anndata cannot read."""
    with h5py.File(path, "r+") as f:
        for name in names:
            del f[name]
            f[name] = np.frombuffer(b"\xde\xad\xbe\xef" * 8, dtype="u1")
            f[name].attrs["encoding-type"] = "no-such-encoding"
            f[name].attrs["encoding-version"] = "9.9.9"


def test_show_works_when_x_is_unreadable(files, tmp_path, capsys):
    path = tmp_path / "spoiled.h5ad"
    shutil.copy(files["clean"], path)
    _spoil(path, ("X",))
    with pytest.raises(Exception, match="no-such-encoding"):
        ad.read_h5ad(path)  # anndata itself can no longer load the file
    code, out, err = run(capsys, "show", path)
    assert code == 0, err
    for key in RECORDED:
        assert key in out
    assert "only uns was read" in out


def test_show_reads_nothing_but_uns(files, tmp_path, capsys):
    path = tmp_path / "uns_only.h5ad"
    shutil.copy(files["clean"], path)
    # Everything but uns and obs's column list is garbage: obs data, obsp, X, obsm, layers.
    with h5py.File(path, "r") as f:
        obs_data = tuple(f"obs/{c}" for c in f["obs"])
    _spoil(path, ("X", "obsm/X_pca", "obsp/connectivities", "obsp/distances", *obs_data))
    code, out, err = run(capsys, "show", path, "--json")
    assert code == 0, err
    d = json.loads(out)
    assert d["checked_data"] is False
    assert [e["key"] for e in d["entries"]] == list(RECORDED)


def test_verify_reads_only_obs_columns_names_and_recorded_graphs(files, tmp_path, capsys):
    path = tmp_path / "partial.h5ad"
    shutil.copy(files["clean"], path)
    # Not needed by verify: X, obsm, the distances graph, unrelated obs columns.
    _spoil(path, ("X", "obsm/X_pca", "obsm/X_umap", "obsp/distances", "obs/n_genes", "obs/phase"))
    code, out, err = run(capsys, "verify", path)
    assert code == 0, out + err
    # ...and it does read the recorded graph: spoil that and verify can no longer run.
    _spoil(path, ("obsp/connectivities",))
    code, _, err = run(capsys, "verify", path)
    assert code == 2
    assert_one_line_error(err, "obsp['connectivities']")


def test_verify_zarr_without_x(files, tmp_path, capsys):
    path = tmp_path / "nox.zarr"
    shutil.copytree(files["zarr"], path)
    shutil.rmtree(path / "X")
    (path / "X").write_bytes(b"garbage")
    assert run(capsys, "verify", path)[0] == 0


# --- show / diff output ----------------------------------------------------------------------


def test_show_one_key_prints_its_history(files, capsys):
    code, out, _ = run(capsys, "show", files["clean"], "--key", "leiden_1.0")
    assert code == 0
    assert "History of leiden_1.0 (2 versions" in out
    assert "v1 " in out and "v2 " in out
    assert "changed: n_iterations: 2 → -1; random_state: 0 → 42" in out
    assert "leiden_0.5" not in out


def test_diff_command(files, capsys):
    code, out, _ = run(capsys, "diff", files["clean"], "leiden_1.0@1", "leiden_1.0@-1")
    assert code == 0
    assert out.startswith("leiden_1.0@v1  vs  leiden_1.0@v2:")
    assert "n_iterations" in out and "random_state" in out and "resolution" not in out
    code, out, _ = run(capsys, "diff", files["zarr"], "leiden_0.5", "leiden_1.0", "--json")
    d = json.loads(out)
    assert d["a"] == "leiden_0.5@v1"
    row = {"section": "params", "field": "resolution", "a": 0.5, "b": 1.0, "same": False}
    assert {**row, "in_effect": True, "note": None} in d["rows"]


def test_diff_bad_version_exits_2(files, capsys):
    code, out, err = run(capsys, "diff", files["clean"], "leiden_1.0@7", "leiden_0.5")
    assert code == 2 and out == ""
    assert_one_line_error(err, "'leiden_1.0' has 2 versions; version 7 does not exist")


@pytest.mark.parametrize("which", ["clean", "zarr"])
def test_show_does_not_import_anndata(files, which):
    # show reads uns with h5py/zarr alone: anndata (about a second to import) is not needed.
    import subprocess
    import sys

    code = (
        "import sys\nfrom provenance._cli import main\n"
        f"rc = main(['show', {str(files[which])!r}])\n"
        "print('LOADED', [m for m in ('anndata', 'pandas', 'scanpy') if m in sys.modules], rc)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "LOADED [] 0"
    assert all(k in out.stdout for k in RECORDED)
