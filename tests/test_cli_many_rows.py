"""Every entry of a collection is its own row, whatever happens to it: a directory or a file
this user may not read, a worker killed mid-file (retried once, then ``crashed``), odd names
(escaped in the table, exact in the JSON), symlinked directories (followed once, loops named).
The trees are real: modes set with chmod, workers killed with SIGKILL, as the OOM killer does."""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from typing import TYPE_CHECKING

import pytest
from _audit_data import drop_unrecorded, sweep
from _procs import open_data_file, processes

from provenance._cli import main
from provenance._cli.batch import entries

if TYPE_CHECKING:
    from pathlib import Path

ODD = ("new\nline.h5ad", "esc\x1b[31mred.h5ad", "tab\there.h5ad")


@pytest.fixture(scope="module")
def recorded(_pbmc_master, tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("rows") / "clean.h5ad"
    drop_unrecorded(sweep(_pbmc_master.copy())).write_h5ad(path)
    return path


@pytest.fixture
def tree(recorded, tmp_path) -> dict[str, Path]:
    """data/: a clean file, odd names, a locked directory, a denied file, an empty .h5mu, a
    link to a directory outside (followed), a second link to it (named), a loop (named)."""
    d = tmp_path / "data"
    outside = tmp_path / "outside"
    for sub in (d / "locked", d / "sub", outside):
        sub.mkdir(parents=True)
    paths = {"dir": d, "clean": d / "clean.h5ad", "locked": d / "locked"}
    for name in ("clean.h5ad", "locked/hidden_inside.h5ad", "outside", *ODD):
        target = outside / "far.h5ad" if name == "outside" else d / name
        os.link(recorded, target)
    shutil.copy(recorded, d / "denied.h5ad")  # a copy: a link would share its mode
    (d / "empty.h5mu").write_bytes(b"")
    (d / "linked").symlink_to(outside)  # followed: outside is searched nowhere else
    (d / "sub" / "again").symlink_to(outside)  # a second way in: named, not searched again
    (d / "sub" / "loop").symlink_to(d)  # a directory above it: named, not followed
    (d / "denied.h5ad").chmod(0)
    paths["locked"].chmod(0)
    yield paths
    paths["locked"].chmod(0o755)  # so that pytest can remove the tree


def _as_an_ordinary_user() -> None:
    """Run as root may read anything: drop the capabilities that let it ignore file modes
    (CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH) from the bounding set, so the program exec'd
    next, and its workers, obey chmod like any owner. Not root: nothing to drop."""
    if os.geteuid() != 0:
        return
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in (1, 2):  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH
        if libc.prctl(24, cap, 0, 0, 0) != 0:  # PR_CAPBSET_DROP
            raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP) failed")


def cli(*argv: object, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "provenance", *map(str, argv)],
        capture_output=True,
        text=True,
        check=False,
        timeout=240,
        preexec_fn=_as_an_ordinary_user,  # no threads in the test process
        env={**os.environ, "COLUMNS": "250", **(env or {})},
    )


def test_every_entry_is_a_row(tree):
    d = tree["dir"]
    proc = cli("verify", d, "--json", "-j", "2")
    assert proc.returncode == 2, proc.stderr
    assert proc.stderr == ""
    doc = json.loads(proc.stdout)
    rows = {f["path"]: f for f in doc["files"]}
    # In sorted order, each entry once; the odd names exact, as found.
    expected = [
        "clean.h5ad",
        "denied.h5ad",
        "empty.h5mu",
        "esc\x1b[31mred.h5ad",
        "linked/far.h5ad",
        "locked",
        "new\nline.h5ad",
        "sub/again",
        "sub/loop",
        "tab\there.h5ad",
    ]
    assert list(rows) == [str(d / p) for p in expected]
    status = {p: rows[str(d / p)]["status"] for p in expected}
    assert status == {
        "clean.h5ad": "ok",
        "denied.h5ad": "access_denied",
        "empty.h5mu": "unreadable",
        "esc\x1b[31mred.h5ad": "ok",
        "linked/far.h5ad": "ok",
        "locked": "access_denied",
        "new\nline.h5ad": "ok",
        "sub/again": "skipped",
        "sub/loop": "skipped",
        "tab\there.h5ad": "ok",
    }
    error = {p: rows[str(d / p)].get("error", "") for p in expected}
    assert "permission denied: this user cannot read the file" in error["denied.h5ad"]
    assert "not an HDF5" not in error["denied.h5ad"]
    assert "an empty file (0 bytes): not an HDF5 (.h5mu) file" in error["empty.h5mu"]
    assert "cannot list the directory" in error["locked"]
    assert f"the same directory as {d / 'linked'}" in error["sub/again"]
    assert f"a symlink to {d}, a directory above it: a loop, not followed" in error["sub/loop"]
    assert [rows[str(d / p)]["exit_code"] for p in ("sub/loop", "locked")] == [0, 2]
    summary = doc["summary"]
    assert {k: summary[k] for k in ("files", "ok", "unreadable", "access_denied", "skipped")} == {
        "files": 10,
        "ok": 5,
        "unreadable": 1,
        "access_denied": 2,
        "skipped": 2,
    }
    assert summary["crashed"] == summary["findings"] == 0 and doc["exit_code"] == 2


def test_the_table_escapes_names_one_line_per_entry(tree, capsys, monkeypatch):
    # In this process: as root, the modes do not bind (that is the test above); the names do.
    monkeypatch.setenv("COLUMNS", "250")
    d = tree["dir"]
    assert main(["verify", str(d), "-j", "1"]) == 2
    out = capsys.readouterr().out
    table = out.split("\n\n", 1)[0].splitlines()[1:]
    listed = [str(e.location) for e in entries([d])]
    escaped = [p.replace("\n", "\\n").replace("\x1b", "\\x1b").replace("\t", "\\t") for p in listed]
    assert [line.split()[0] for line in table] == escaped
    assert "\x1b" not in out and "\t" not in out
    assert out.rstrip().endswith("0 errors, 0 warnings.")
    assert f"{len(listed)} entries: " in out  # entries, not all of them files


def test_the_listing_as_root_sees_what_root_may_read(tree):
    # In this process (root in CI: modes do not bind it) the same tree lists without a denial;
    # the loop and the second way in are named whoever runs it.
    found = {str(e.location.relative_to(tree["dir"])): e.status for e in entries([tree["dir"]])}
    assert found["sub/loop"] == found["sub/again"] == "skipped"
    if os.geteuid() == 0:
        assert found["locked/hidden_inside.h5ad"] is None
    else:
        assert found["locked"] == "access_denied"


def test_json_error_path_is_the_path_string(tmp_path, capsys):
    empty = tmp_path / "nothing here"
    empty.mkdir()
    assert main(["verify", str(empty), "--json"]) == 2
    doc = json.loads(capsys.readouterr().out)
    assert doc["path"] == str(empty) and doc["error_type"] == "UsageError"


def test_a_name_that_is_not_utf8(recorded, tmp_path, capsys):
    d = tmp_path / "names"
    d.mkdir()
    os.link(recorded, d / os.fsdecode(b"bad\xff.h5ad"))  # a byte no UTF-8 text holds
    os.link(recorded, d / "ok.h5ad")
    assert main(["show", str(d), "--json", "-j", "1"]) == 0
    out = capsys.readouterr().out
    assert '"path": "' + str(d) + '/bad\\udcff.h5ad"' in out  # valid JSON, escaped
    paths = [f["path"] for f in json.loads(out)["files"]]
    assert os.fsencode(paths[0]) == os.fsencode(d) + b"/bad\xff.h5ad"  # the exact name
    assert main(["show", str(d), "-j", "1"]) == 0
    assert "/bad\\xff.h5ad  ok" in capsys.readouterr().out  # escaped, as Python writes it


# --- a worker killed mid-file ------------------------------------------------------------------


def test_a_killed_worker_is_retried_once_then_reported_crashed(recorded, tmp_path):
    d = tmp_path / "many"
    d.mkdir()
    names = [f"f{i:02d}.h5ad" for i in range(12)]
    for name in names:
        os.link(recorded, d / name)
    token = f"provenance-kill-{os.getpid()}-{time.time_ns()}"
    out_file = tmp_path / "out.json"  # a file, not a pipe: a full pipe would stall the run
    with out_file.open("w") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "provenance", "verify", str(d), "--json", "-j", "3"],
            stdout=out,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PROVENANCE_TEST_TOKEN": token},
        )
    # SIGKILL workers (not the run itself, which audits files too) as the OOM killer would:
    # each of the two first workers on the first file it opens; the second file's retry (in
    # a fresh worker) once more; the first file's retry is left to succeed.
    kills: list[str] = []
    deadline, workers, looked = time.monotonic() + 180, [], 0.0
    while proc.poll() is None and time.monotonic() < deadline and len(kills) < 3:
        if time.monotonic() - looked > 0.05:
            workers, looked = processes(token, but=proc.pid), time.monotonic()
        for pid in workers:
            name = open_data_file(pid)
            targets = list(dict.fromkeys(kills))
            first_time = name not in kills and len(targets) < 2
            again = len(targets) == 2 and name == targets[1] and kills.count(name) == 1
            if name is None or not (first_time or again):
                continue
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
                kills.append(name)
            workers = [w for w in workers if w != pid]
        time.sleep(0.001)
    _, err = proc.communicate(timeout=120)
    assert len(kills) == 3 and kills[0] != kills[1] == kills[2], (kills, err)
    assert proc.returncode == 2, err
    doc = json.loads(out_file.read_text())
    rows = {f["path"].rsplit("/", 1)[-1]: f for f in doc["files"]}
    assert list(rows) == names  # every file a row, in order
    assert {n: r["status"] for n, r in rows.items()} == {
        **dict.fromkeys(names, "ok"),
        kills[1]: "crashed",
    }
    crashed = rows[kills[1]]
    assert crashed["error_type"] == "WorkerCrashed" and crashed["exit_code"] == 2
    assert "was killed by SIGKILL (as the out-of-memory killer does), twice" in crashed["error"]
    assert doc["summary"]["crashed"] == 1 and doc["summary"]["ok"] == len(names) - 1
    time.sleep(0.5)
    assert processes(token) == []  # no worker left behind


def test_workers_are_forked_only_from_a_single_threaded_process():
    import threading

    from provenance._cli import batch_pool

    stop = threading.Event()
    other = threading.Thread(target=stop.wait)  # as a BLAS pool or a progress bar would be
    other.start()
    try:
        assert batch_pool._threads() > 1 or sys.platform != "linux"
        assert batch_pool._context().get_start_method() == "spawn"
    finally:
        stop.set()
        other.join()
    # The command line, before it imports the audit: one thread, so fork (on Linux).
    code = (
        "import sys; from provenance._cli.commands import build_parser; build_parser()\n"
        "from provenance._cli import batch_output, batch_pool\n"
        "print('numpy' in sys.modules, batch_pool._context().get_start_method())"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "fork" if sys.platform == "linux" else "spawn"]


def test_thestatus_of_an_error():
    """How an exception raised by an audit becomes a row's status (remote reads classify
    their own errors through ``reason``)."""
    from provenance import UnknownKeyError, UnreadableFileError
    from provenance._cli.batch_one import status_of

    def raised(e: Exception, cause: BaseException | None = None) -> Exception:
        try:
            raise e from cause
        except Exception as caught:
            return caught

    assert status_of(UnreadableFileError("x: damaged")) == "unreadable"
    assert status_of(UnknownKeyError("no such key")) == "missing_key"
    assert status_of(PermissionError(13, "Permission denied")) == "access_denied"
    assert status_of(raised(UnreadableFileError("x"), PermissionError(13, "no"))) == "access_denied"
    assert status_of(raised(UnreadableFileError("x"), TimeoutError())) == "timed_out"
    told = UnreadableFileError("https://host/x.h5ad: 403")
    told.reason = "access_denied"  # type: ignore[attr-defined]
    assert status_of(told) == "access_denied"
    told.reason = "credentials"  # HTTP 401, S3 credentials missing or refused
    assert status_of(told) == "access_denied"
    told.reason = "not a status"  # type: ignore[attr-defined]
    assert status_of(told) == "unreadable"
