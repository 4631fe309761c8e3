"""``provenance show|verify`` on several files and directories: one table, one JSON document,
the worst exit status; -j 1 (in process) and -j 2 (worker processes) agree."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from typing import TYPE_CHECKING

import pytest
from _audit_data import RECORDED, drop_unrecorded, sweep
from conftest import write_zarr

from provenance._cli import main
from provenance._cli.batch import default_jobs, expand

if TYPE_CHECKING:
    from pathlib import Path

N_CLUSTERINGS = len(RECORDED)


@pytest.fixture(scope="module")
def tree(_pbmc_master, tmp_path_factory) -> dict[str, Path]:
    """A directory: a clean .h5ad, a .zarr whose labels were edited after recording (nested
    two levels down), garbage named .h5ad; plus hidden files and directories to be skipped.
    Beside it: pbmc68k_reduced as shipped (an unrecorded louvain: a warning), and a copy of the
    clean file."""
    root = tmp_path_factory.mktemp("many")
    d = root / "data"
    (d / "nested" / "deeper").mkdir(parents=True)
    adata = drop_unrecorded(sweep(_pbmc_master.copy()))
    paths = {
        "dir": d,
        "clean": d / "clean.h5ad",
        "edited": d / "nested" / "deeper" / "edited.zarr",
        "broken": d / "broken.h5ad",
        "shipped": root / "shipped.h5ad",
        "copy": root / "copy.h5ad",
    }
    adata.write_h5ad(paths["clean"])
    shutil.copy(paths["clean"], paths["copy"])
    labels = adata.obs["leiden_0.5"].copy()
    labels.iloc[:20] = labels.cat.categories[-1]  # reassigned by hand after recording
    adata.obs["leiden_0.5"] = labels
    write_zarr(adata, paths["edited"])
    paths["broken"].write_bytes(b"\x00garbage, not HDF5\n" * 10)
    _pbmc_master.write_h5ad(paths["shipped"])
    # Never searched: hidden directories, hidden files (macOS ._ droppings), other suffixes.
    (d / ".snapshots").mkdir()
    shutil.copy(paths["broken"], d / ".snapshots" / "old.h5ad")
    shutil.copy(paths["broken"], d / "nested" / "._clean.h5ad")
    (d / "nested" / "README.txt").write_text("notes\n")
    return paths


@pytest.fixture(autouse=True)
def _wide(monkeypatch):
    """Wide enough for tmp_path paths (the layout at a given width is tested below)."""
    monkeypatch.setenv("COLUMNS", "250")


def run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def table_rows(out: str) -> list[list[str]]:
    """The table's body rows (up to the first blank line), split on whitespace."""
    body = out.split("\n\n", 1)[0].splitlines()
    assert body[0].split() == ["path", "status", "clusterings", "steps", "errors", "warnings"]
    return [line.split() for line in body[1:]]


# --- which files ---------------------------------------------------------------------------------


def test_expand_recurses_sorted_and_skips_hidden(tree):
    found = expand([tree["dir"]])
    # .zarr is one store (not entered); hidden names and other suffixes are skipped.
    assert found == [tree["broken"], tree["clean"], tree["edited"]]
    # Given paths keep their order; a file also found in a directory is audited once; URLs
    # and missing paths pass through untouched (their audit says what is wrong).
    url = "https://example.org/x.h5ad"
    missing = tree["dir"] / "missing.h5ad"
    assert expand([tree["shipped"], url, missing, tree["dir"], tree["clean"]]) == [
        tree["shipped"],
        url,
        missing,
        tree["broken"],
        tree["clean"],
        tree["edited"],
    ]


def test_default_jobs_is_the_usable_cores_capped_by_files():
    assert default_jobs(1) == 1
    assert default_jobs(10_000) == len(os.sched_getaffinity(0))


# --- verify: table and exit status ---------------------------------------------------------------


def test_verify_directory_table_findings_and_totals(tree, capsys):
    code, out, err = run(capsys, "verify", tree["dir"], "-j", "1")
    assert code == 2, out  # the worst: one file is unreadable
    assert err == ""
    rows = table_rows(out)
    assert [r[0] for r in rows] == [str(tree[k]) for k in ("broken", "clean", "edited")]
    assert rows[0][1:] == ["unreadable", "-", "-", "-", "-"]
    assert rows[1][1:3] == ["ok", str(N_CLUSTERINGS)] and rows[1][4:] == ["0", "0"]
    assert int(rows[1][3]) > 0  # the steps: pbmc68k_reduced's neighbors graph and more
    assert rows[2][1] == "findings" and rows[2][2] == str(N_CLUSTERINGS) and rows[2][4] == "1"
    # What to open: the unreadable file's error, the edited file's findings, one line each.
    findings = out.split("Findings (details: provenance verify PATH):\n", 1)[1]
    assert f"{tree['broken']} (unreadable)" in findings
    assert "not an HDF5 (.h5ad) file" in findings
    assert f"{tree['edited']} (findings)" in findings
    assert "error    leiden_0.5  labels_changed: " in findings
    assert str(tree["clean"]) not in findings
    assert out.rstrip().endswith(
        f"3 files: 1 ok, 1 with findings, 1 unreadable; {2 * N_CLUSTERINGS} clusterings, "
        "1 error, 0 warnings."
    )
    assert ".snapshots" not in out and "._clean" not in out


@pytest.mark.parametrize(
    ("names", "expected"),
    [
        (("clean", "copy"), 0),
        (("clean", "edited"), 1),
        (("edited", "clean", "broken"), 2),
        (("clean", "shipped"), 0),  # a warning: not a failure without --strict
    ],
)
def test_exit_status_is_the_worst(tree, capsys, names, expected):
    code, out, _ = run(capsys, "verify", *(tree[n] for n in names), "-j", "1")
    assert code == expected, out
    assert [r[0] for r in table_rows(out)] == [str(tree[n]) for n in names]  # order as given


def test_strict_applies_per_file(tree, capsys):
    code, out, _ = run(capsys, "verify", tree["clean"], tree["shipped"], "--strict", "-j", "1")
    assert code == 1
    rows = table_rows(out)
    assert rows[0][1] == "ok" and rows[1][1:3] == ["findings", "1"]
    assert rows[1][4:] == ["0", "1"]
    assert "warning  louvain  no_record: " in out
    assert out.rstrip().endswith("--strict: warnings count as findings.")


def test_one_file_keeps_the_one_file_output(tree, capsys):
    code, out, _ = run(capsys, "verify", tree["clean"])
    assert code == 0 and out.startswith("Provenance audit — OK")
    # One directory is a table, even of one file.
    one = tree["dir"].parent / "one"
    one.mkdir(exist_ok=True)
    shutil.copy(tree["clean"], one / "only.h5ad")
    code, out, _ = run(capsys, "verify", one)
    assert code == 0
    assert [r[0] for r in table_rows(out)] == [str(one / "only.h5ad")]


def test_key_applies_to_each_file(tree, capsys):
    files = (tree["clean"], tree["edited"], tree["shipped"])
    code, out, _ = run(capsys, "verify", *files, "--key", "leiden_0.5", "-j", "1")
    assert code == 2  # shipped has no leiden_0.5: that file's error, not a crash
    rows = table_rows(out)
    assert [r[1:3] for r in rows[:2]] == [["ok", "1"], ["findings", "1"]]
    assert rows[2][1:3] == ["missing", "key"]
    assert "'leiden_0.5' is neither in obs nor in uns" in out


def test_missing_path_is_its_row_not_the_end(tree, capsys):
    missing = tree["dir"] / "nope.h5ad"
    code, out, err = run(capsys, "verify", tree["clean"], missing, "-j", "1")
    assert code == 2 and err == ""
    assert table_rows(out)[1][:2] == [str(missing), "unreadable"]
    assert "no such file or directory" in out


def test_directory_without_data_files_is_a_usage_error(tree, capsys):
    empty = tree["dir"].parent / "empty"
    (empty / ".hidden").mkdir(parents=True, exist_ok=True)
    shutil.copy(tree["clean"], empty / ".hidden" / "x.h5ad")  # hidden: not searched
    (empty / "notes.txt").write_text("x")
    code, out, err = run(capsys, "verify", tree["clean"], empty)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"provenance verify: error: {empty}: no .h5ad, .h5mu or .zarr" in err
    code, out, _ = run(capsys, "show", empty, "--json")
    assert code == 2
    assert json.loads(out)["error_type"] == "UsageError" and str(empty) in out


# --- JSON and parallel runs --------------------------------------------------------------------


def test_json_lists_every_file(tree, capsys):
    code, out, _ = run(capsys, "verify", tree["dir"], "--json", "-j", "1")
    assert code == 2
    doc = json.loads(out)
    assert doc["command"] == "verify" and doc["exit_code"] == 2 and doc["strict"] is False
    broken, clean, edited = doc["files"]
    assert broken == {
        "path": str(tree["broken"]),
        "ok": False,
        "exit_code": 2,
        "status": "unreadable",
        "error": broken["error"],
        "error_type": "UnreadableFileError",
    }
    assert "not an HDF5" in broken["error"]
    assert set(clean) == set(edited) == {"path", "ok", "exit_code", "status", "report"}
    assert (clean["status"], edited["status"]) == ("ok", "findings")
    assert clean["ok"] is True and clean["exit_code"] == 0
    assert clean["report"]["source"] == str(tree["clean"]) and clean["report"]["passed"]
    assert edited["ok"] is False and edited["exit_code"] == 1
    codes = {f["code"] for e in edited["report"]["entries"] for f in e["findings"]}
    assert "labels_changed" in codes
    assert doc["summary"] == {
        "files": 3,
        "ok": 1,
        "findings": 1,
        "skipped": 0,
        "missing_key": 0,
        "unreadable": 1,
        "access_denied": 0,
        "timed_out": 0,
        "crashed": 0,
        "clusterings": 2 * N_CLUSTERINGS,
        "steps": clean["report"]["steps"].__len__() * 2,
        "errors": edited["report"]["n_errors"],
        "warnings": 0,
    }


def test_j1_and_j2_give_the_same_results(tree, capsys):
    # No -j: the usable cores (2 here), in worker processes.
    table = [run(capsys, "verify", tree["dir"], tree["shipped"], *j) for j in (("-j", "1"), ())]
    assert table[0] == table[1] and table[0][0] == 2
    docs = [run(capsys, "verify", tree["dir"], "--json", "-j", j) for j in "12"]
    # Parsed: a dict's key order may differ between processes that read the file with or
    # without anndata loaded; the content and the order of the files may not.
    assert [(c, json.loads(out), err) for c, out, err in docs[:1]] == [
        (c, json.loads(out), err) for c, out, err in docs[1:]
    ]


def test_subprocess_with_worker_processes(tree, capsys):
    # The real command line, -j 2: spawned workers, results back in input order.
    args = [str(tree[k]) for k in ("edited", "shipped")] + [str(tree["dir"])]
    proc = subprocess.run(
        [sys.executable, "-m", "provenance", "verify", *args, "--json", "-j", "2"],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == ""  # no progress bar: stderr is not a terminal
    doc = json.loads(proc.stdout)
    expected = [tree[k] for k in ("edited", "shipped", "broken", "clean")]  # edited once
    assert [f["path"] for f in doc["files"]] == [str(p) for p in expected]
    assert [f["exit_code"] for f in doc["files"]] == [1, 0, 2, 0]
    assert json.loads(run(capsys, "verify", *args, "--json", "-j", "1")[1]) == doc


# --- show -----------------------------------------------------------------------------------------


def test_show_many_reads_uns_only_and_does_not_judge(tree, capsys):
    code, out, _ = run(capsys, "show", tree["clean"], tree["edited"], tree["shipped"], "-j", "1")
    assert code == 0  # show exits 0 on readable files, as for one file
    rows = table_rows(out)
    # Edited labels are a data check: show, reading uns alone, cannot see them.
    assert [r[1] for r in rows] == ["ok", "ok", "ok"]
    assert rows[2][2] == "1" and rows[2][4:] == ["0", "1"]
    assert "Findings" not in out
    assert "show reads uns alone" in out
    code, out, _ = run(capsys, "show", tree["dir"], "--json", "-j", "1")
    assert code == 2
    doc = json.loads(out)
    assert "strict" not in doc
    assert [f["report"]["checked_data"] for f in doc["files"][1:]] == [False, False]


# --- layout -------------------------------------------------------------------------------------


def test_table_fits_the_width(tree, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "70")
    _, out, _ = run(capsys, "verify", tree["dir"], "-j", "1")
    assert max(len(line) for line in out.splitlines()) <= 70
    names = [r[0] for r in table_rows(out)]
    # Long paths are cut at the start: the file names still tell the rows apart.
    assert all(n.startswith("…") for n in names)
    assert [n.rsplit("/", 1)[-1] for n in names] == ["broken.h5ad", "clean.h5ad", "edited.zarr"]


def test_rich_table_on_a_terminal(tree, capsys, monkeypatch):
    monkeypatch.setenv("TTY_COMPATIBLE", "1")
    monkeypatch.setenv("COLUMNS", "100")
    _, out, _ = run(capsys, "verify", tree["dir"], "-j", "1")
    assert "┏" in out and "\x1b[" in out  # a rich table, styled
    assert "unreadable" in out and "labels_changed" in out
    assert max(len(line) for line in _strip_ansi(out).splitlines()) <= 100


def _strip_ansi(text: str) -> str:
    import re

    return re.sub(r"\x1b\[[0-9;]*m", "", text)


def test_progress_bar_only_on_a_terminal(tree, monkeypatch):
    from provenance._cli import batch, batch_output

    master, replica = os.openpty()
    with os.fdopen(replica, "w") as tty, open(os.devnull, "w") as pipe:
        assert batch_output.Progress(3, stream=pipe).enabled is False
        assert batch_output.Progress(1, stream=tty).enabled is False  # one file: nothing to show
        monkeypatch.setattr(batch_output, "PROGRESS_AFTER_S", 0.0)  # show it at once
        bar = batch_output.Progress(3, stream=tty)
        assert bar.enabled
        tasks = [batch.Task(tree[k], None, "show", {}, False) for k in ("clean", "copy", "broken")]
        results = []
        batch._run_serial(tasks, lambda i, r: (results.append(r), bar(len(results))))
        bar.close()
        tty.flush()
    os.set_blocking(master, False)
    written = os.read(master, 65536).decode(errors="replace")
    os.close(master)
    assert "auditing" in written
    assert [r["exit_code"] for r in results] == [0, 0, 2]


def test_ctrl_c_stops_the_workers(tree, tmp_path):
    import signal
    import time

    d = tmp_path / "many"
    d.mkdir()
    for i in range(40):
        os.link(tree["clean"], d / f"f{i:02d}.h5ad")
    token = f"provenance-many-{os.getpid()}-{time.time_ns()}"
    env = {**os.environ, "PROVENANCE_TEST_TOKEN": token}
    # Python's own Ctrl-C handler, as in a terminal: a background job (CI, `cmd &`) inherits
    # SIGINT ignored, and Python then leaves it ignored.
    code = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler)\n"
        "from provenance._cli import main; sys.exit(main(sys.argv[1:]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "verify", str(d), "-j", "2"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    deadline = time.monotonic() + 120
    while not _carrying(token, but=proc.pid) and time.monotonic() < deadline:
        time.sleep(0.1)  # wait for the workers: then the run is under way
    assert _carrying(token, but=proc.pid), "no worker process started"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, (out, err)
    assert err.strip().splitlines()[-1] == "provenance: interrupted", err
    assert "Traceback" not in err and out == ""
    time.sleep(0.5)
    assert _carrying(token) == []  # no worker left behind


def _carrying(token: str, *, but: int | None = None) -> list[str]:
    """The processes with ``token`` in their environment (the run's and its workers)."""
    found = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            with open(f"/proc/{pid}/environ", "rb") as f:
                environ = f.read()
        except OSError:
            continue
        if token.encode() in environ and pid != str(but):
            found.append(pid)
    return found
