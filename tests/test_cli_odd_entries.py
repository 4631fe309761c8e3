"""What is not a plain data file in a collection: a FIFO, a device, a directory named like a
file, a damaged HDF5 file, a name with control bytes in the HTML report; a zarr group's
members read in one order. Each is its own row and the run goes on (found by an outside
analyst: a FIFO hung every audit, a damaged file's row was HDF5's raw ``KeyError``, ``--html``
failed on a non-UTF-8 name and left an empty page)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import TYPE_CHECKING

import h5py
import pytest
from _audit_data import drop_unrecorded, sweep

from provenance._cli import main

if TYPE_CHECKING:
    from pathlib import Path


@pytest.fixture(scope="module")
def recorded(_pbmc_master, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("odd") / "clean.h5ad"
    drop_unrecorded(sweep(_pbmc_master.copy())).write_h5ad(path)
    return path


def _rows(d: Path, *extra: str) -> tuple[int, dict[str, dict[str, object]]]:
    # A process of its own, with a deadline: a FIFO once blocked the open forever.
    proc = subprocess.run(
        [sys.executable, "-m", "provenance", "verify", str(d), "--json", "-j", "1", *extra],
        capture_output=True,
        text=True,
        timeout=120,
    )
    doc = json.loads(proc.stdout)
    return proc.returncode, {os.path.basename(f["path"]): f for f in doc["files"]}


def test_what_is_not_a_regular_file_is_its_own_row(recorded, tmp_path):
    d = tmp_path / "data"
    d.mkdir()
    os.link(recorded, d / "clean.h5ad")
    os.mkfifo(d / "pipe.h5ad")  # opening it would wait for a writer
    (d / "device.h5ad").symlink_to("/dev/zero")  # would never end
    (d / "folder.h5ad").mkdir()  # named like a file: a row, not a directory searched
    (d / "folder.h5ad" / "x.h5ad").write_bytes(b"")
    code, rows = _rows(d)
    assert code == 2
    assert {n: r["status"] for n, r in rows.items()} == {
        "clean.h5ad": "ok",
        "device.h5ad": "unreadable",
        "folder.h5ad": "unreadable",
        "pipe.h5ad": "unreadable",
    }
    assert "a FIFO (named pipe), not an HDF5 (.h5ad) file" in str(rows["pipe.h5ad"]["error"])
    assert "a character device, not an HDF5" in str(rows["device.h5ad"]["error"])
    assert "a directory, not an HDF5 (.h5ad) file nor a zarr store" in str(
        rows["folder.h5ad"]["error"]
    )
    # Given alone, the FIFO is the same error at once, and the named directory too.
    for name in ("pipe.h5ad", "folder.h5ad"):
        proc = subprocess.run(
            [sys.executable, "-m", "provenance", "show", str(d / name)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert proc.returncode == 2 and "not an HDF5 (.h5ad) file" in proc.stderr


@pytest.mark.parametrize(
    ("element", "said"),
    [
        ("uns", "a damaged HDF5 (.h5ad) file: HDF5 cannot read part of it"),
        ("obs", "a damaged HDF5 file: its 'obs' element is listed but cannot be read"),
    ],
)
def test_a_damaged_hdf5_file_is_said_to_be_damaged(recorded, tmp_path, element, said):
    d = tmp_path / "damaged"
    d.mkdir()
    path = d / "broken.h5ad"
    data = bytearray(recorded.read_bytes())
    with h5py.File(recorded, "r") as f:  # the element's object header
        addr = h5py.h5o.get_info(f[element].id).addr
    data[addr : addr + 64] = b"\xff" * 64
    path.write_bytes(bytes(data))
    code, rows = _rows(d)
    row = rows["broken.h5ad"]
    assert code == 2 and row["status"] == "unreadable"
    assert row["error_type"] == "UnreadableFileError"  # not HDF5's KeyError or OSError
    assert str(row["error"]).startswith(f"{path}: {said}")  # not "not an AnnData file"
    assert "copy it again from its source" in str(row["error"])


def test_the_html_report_escapes_names_and_replaces_the_page_whole(recorded, tmp_path, capsys):
    d = tmp_path / "names"
    d.mkdir()
    for name in (os.fsdecode(b"bad\xff.h5ad"), "esc\x1b[31mred.h5ad", "new\nline.h5ad"):
        os.link(recorded, d / name)
    page = tmp_path / "report.html"
    assert main(["verify", str(d), "--html", str(page), "--json", "-j", "1"]) == 0
    doc = json.loads(capsys.readouterr().out)  # one document: the page did not fail
    assert doc["summary"]["ok"] == 3
    text = page.read_text(encoding="utf-8")
    for shown in ("bad\\xff.h5ad", "esc\\x1b[31mred.h5ad", "new\\nline.h5ad"):
        assert shown in text
    assert "\x1b" not in text and "new\nline" not in text
    # One file's page too (its title and headline), and no temporary file left beside it.
    one = tmp_path / "one.html"
    assert main(["verify", str(d / os.fsdecode(b"bad\xff.h5ad")), "--html", str(one)]) == 0
    assert "<title>Provenance audit of " in one.read_text(encoding="utf-8")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["names", "one.html", "report.html"]


def test_a_zarr_group_is_read_in_sorted_order(tmp_path):
    # A zarr store's listing need not come in one order (the analyst's JSON of one .zarr
    # changed from run to run); the members are read sorted.
    import zarr

    try:
        from anndata.io import write_elem
    except ImportError:  # anndata < 0.11
        from anndata.experimental import write_elem

    from provenance._storage.nodes import _read_plain

    g = zarr.open_group(str(tmp_path / "g.zarr"), mode="w")
    params = {"resolution": 1.0, "random_state": 0, "n_iterations": 2, "flavor": "igraph"}
    write_elem(g, "params", params)
    assert list(_read_plain(g["params"])) == sorted(params)


def test_one_directory_reached_from_two_locations_is_searched_once(recorded, tmp_path):
    # Within one walk a second way into a directory was named and not searched again; two
    # locations given on the command line now follow the same rule (they audited it twice).
    from provenance._cli.batch import entries

    (tmp_path / "a").mkdir()
    (tmp_path / "odd").mkdir()
    os.link(recorded, tmp_path / "a" / "x.h5ad")
    (tmp_path / "odd" / "alink").symlink_to("../a")
    a, alink = tmp_path / "a", tmp_path / "odd" / "alink"
    found = list(entries([a, alink, tmp_path, a]))
    assert [(e.location, e.status) for e in found] == [(a / "x.h5ad", None), (alink, "skipped")]
    assert str(found[1].message).endswith(f"the same directory as {a}, searched there: not "
                                          "searched again.")  # fmt: skip
