"""``verify DIR --dask ADDRESS`` when dask workers die: a ``LocalCluster`` of worker processes
whose workers are SIGKILLed (as the out-of-memory killer does) while they audit a file.

A worker killed once: its nanny starts a fresh one, dask runs the file again, and the rows,
JSON and exit status are those of ``-j 1``. A file whose worker is killed every time: after
dask's ``allowed-failures`` (1 here) it is its own ``crashed`` row, the run goes on and exits 2.
The workers are found as tests/test_cli_many_rows.py finds ``-j``'s: by a token in their
environment (the nanny's ``pre-spawn-environ``) and the .h5ad file /proc shows them holding.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from _audit_data import drop_unrecorded, sweep
from _procs import open_data_file, processes

from provenance._cli import main
from provenance._cli.batch_one import Task, audit_one

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

TOKEN = f"provenance-dask-kill-{os.getpid()}-{time.time_ns()}"
NAMES = [f"f{i}.h5ad" for i in range(6)]
DOOMED = "f3.h5ad"
BOUND = 120  # seconds a run may take before it is called a hang


@pytest.fixture(scope="module")
def collection(_pbmc_master: Any, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Six links to one recorded file and garbage named .h5ad: seven tasks, more than twice
    the cluster's threads, so that dask queues them and sends each worker one at a time."""
    d = tmp_path_factory.mktemp("dask_kill") / "data"
    d.mkdir()
    drop_unrecorded(sweep(_pbmc_master.copy())).write_h5ad(d / NAMES[0])
    for name in NAMES[1:]:
        os.link(d / NAMES[0], d / name)
    (d / "broken.h5ad").write_bytes(b"\x00not HDF5\n" * 10)
    return d


@pytest.fixture(scope="module")
def j1(collection: Path) -> tuple[int, dict[str, Any]]:
    import io
    from contextlib import redirect_stdout

    out = io.StringIO()
    with redirect_stdout(out):
        code = main(["verify", str(collection), "--json", "-j", "1"])
    return code, json.loads(out.getvalue())


@pytest.fixture(scope="module")
def cluster(collection: Path) -> Iterator[Any]:
    """Two worker processes (one thread each) under nannies. In the scheduler (this process):
    a task fails after its second worker dies (allowed-failures 1), and a worker holds one
    task at a time (worker-saturation 1.0), so that a death counts against its file alone."""
    import dask
    from distributed import Client, LocalCluster

    environ = dict(os.environ)  # the nannies set pre-spawn-environ here, before each spawn
    spawn_env = {**dask.config.get("distributed.nanny.pre-spawn-environ"), "KILL_ME": TOKEN}
    config = {
        "distributed.scheduler.allowed-failures": 1,
        "distributed.scheduler.worker-saturation": 1.0,
        "distributed.nanny.pre-spawn-environ": spawn_env,
        # LocalCluster closes a nanny whose worker is not back 15 s after it was lost: one
        # restarting then (killed again) would be gone for good.
        "distributed.deploy.lost-worker-timeout": "600s",
        # A worker killed just as it finished a file loses that row before it is fetched; the
        # scheduler's second try may then wait out the connect timeout (30 s) on the dead
        # worker's address before dask audits the file again. Here, 5 s.
        "distributed.comm.timeouts.connect": "5s",
    }
    try:
        # The config for the whole module: LocalCluster reads lost-worker-timeout as it goes.
        with (
            dask.config.set(config),
            LocalCluster(
                n_workers=2,
                threads_per_worker=1,
                processes=True,
                protocol="tcp",
                dashboard_address=":0",
            ) as cluster,
        ):
            with Client(cluster) as client:  # each worker's first audit imports the libraries
                client.run(audit_one, Task(collection / NAMES[0], None, "verify", {}, False))
            yield cluster
    finally:
        os.environ.clear()
        os.environ.update(environ)


def _workers() -> list[int]:
    """The dask worker processes (those with the token in their environment)."""
    return processes(TOKEN, but=os.getpid())


def _run_killing(
    argv: list[str], kill: Callable[[str, list[str]], bool]
) -> tuple[int | None, list[str], float]:
    """``main(argv)`` in a thread, while this one SIGKILLs each worker found holding a file
    for which ``kill(name, kills so far)`` says so. (exit status or None if it hung, the
    files whose workers were killed, seconds)."""
    result: list[int] = []
    run = threading.Thread(target=lambda: result.append(main(argv)), daemon=True)
    t0 = time.monotonic()
    run.start()
    kills: list[str] = []
    killed: set[int] = set()
    workers, looked = [], 0.0
    while run.is_alive() and time.monotonic() - t0 < BOUND:
        if time.monotonic() - looked > 0.05:
            workers, looked = [w for w in _workers() if w not in killed], time.monotonic()
        for pid in workers:
            name = open_data_file(pid)
            if name is not None and kill(name, kills):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(pid, signal.SIGKILL)
                    kills.append(name)
                killed.add(pid)
        workers = [w for w in workers if w not in killed]
        time.sleep(0.002)
    run.join(timeout=1)
    return (result[0] if result else None), kills, time.monotonic() - t0


def _both_workers_back(cluster: Any, warm: Path | None = None) -> None:
    """The nannies restarted the killed workers (each with the token, none left over); with
    ``warm``, each audits it once, so that the next test's kills find the libraries loaded."""
    from distributed import Client

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and len(cluster.scheduler_info["workers"]) < 2:
        time.sleep(0.1)
    assert len(cluster.scheduler_info["workers"]) == 2
    assert len(_workers()) == 2
    if warm is not None:
        with Client(cluster) as client:
            client.run(audit_one, Task(warm, None, "verify", {}, False))


def test_a_worker_killed_once_mid_file_is_retried(collection, cluster, j1, capsys):
    argv = ["verify", str(collection), "--json", "--dask", cluster.scheduler_address]
    code, kills, elapsed = _run_killing(argv, lambda name, kills: not kills)
    out = capsys.readouterr().out
    assert code is not None, f"no end after {elapsed:.0f} s"
    assert len(kills) == 1, kills  # the first file a worker opened, mid-audit
    # Run again on a fresh worker: the rows, JSON and exit status of -j 1.
    assert (code, json.loads(out)) == j1
    assert j1[0] == 2 and [f["status"] for f in j1[1]["files"]] == ["unreadable"] + ["ok"] * 6
    _both_workers_back(cluster, warm=collection / NAMES[0])


def test_a_file_whose_worker_dies_every_time_is_crashed(collection, cluster, j1, capsys):
    argv = ["verify", str(collection), "--json", "--dask", cluster.scheduler_address]
    code, kills, elapsed = _run_killing(argv, lambda name, _: name == DOOMED)
    out = capsys.readouterr().out
    assert code is not None, f"no end after {elapsed:.0f} s"
    assert kills == [DOOMED, DOOMED]  # allowed-failures 1: dask gives up after two deaths
    assert code == 2
    doc = json.loads(out)
    rows = {f["path"].rsplit("/", 1)[-1]: f for f in doc["files"]}
    assert list(rows) == ["broken.h5ad", *NAMES]  # every file its own row, in order
    crashed = rows.pop(DOOMED)
    assert crashed["status"] == "crashed" and crashed["exit_code"] == 2
    assert crashed["error_type"] == "WorkerCrashed"
    error = crashed["error"]
    assert error.startswith(f"{collection / DOOMED}: the dask worker auditing this file died")
    assert "(killed, as the out-of-memory killer does, or crashed), 2 times on 2 workers" in error
    assert "dask gave up on it (distributed.scheduler.allowed-failures = 1)" in error
    assert f"provenance verify {collection / DOOMED}" in error  # what to do
    assert "Attempted to run task" not in error and "audit_one-" not in error  # dask's raw text
    expected = {f["path"].rsplit("/", 1)[-1]: f for f in j1[1]["files"]}
    del expected[DOOMED]
    assert rows == expected  # the other files as -j 1 has them
    summary = doc["summary"]
    assert summary["crashed"] == 1 and summary["ok"] == 5 and summary["unreadable"] == 1
    assert summary["files"] == 7 and doc["exit_code"] == 2
    _both_workers_back(cluster)


def test_no_process_is_left_behind(cluster):
    # The CLI's client is gone (the scheduler sees none left), and closing the cluster ends
    # every worker, the restarted ones too.
    assert set(cluster.scheduler.clients) <= {"fire-and-forget"}  # dask's own, always there
    assert len(cluster.scheduler_info["workers"]) == len(_workers()) == 2
    cluster.close()
    deadline = time.monotonic() + 10
    while _workers() and time.monotonic() < deadline:
        time.sleep(0.1)
    assert _workers() == []
