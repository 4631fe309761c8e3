"""``verify DIR --dask ADDRESS``: the files of a collection audited on a dask.distributed
cluster (a ``LocalCluster`` here) give the rows, JSON and exit status of ``-j 1``; one file
goes to the cluster too and gives the one-file output. Whatever is at the address, the run
ends within its bounds: nothing listening (at once), a server that accepts and never speaks,
a scheduler without workers, a cluster that loses all its workers mid-run."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import socket
import threading
import time
from typing import TYPE_CHECKING, Any

import pytest
from _audit_data import drop_unrecorded, sweep

from provenance._cli import main

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path


@pytest.fixture(scope="module")
def collection(_pbmc_master, tmp_path_factory) -> Path:
    """A clean file, one whose labels were edited after recording, garbage named .h5ad."""
    d = tmp_path_factory.mktemp("dask") / "data"
    (d / "nested").mkdir(parents=True)
    adata = drop_unrecorded(sweep(_pbmc_master.copy()))
    adata.write_h5ad(d / "clean.h5ad")
    shutil.copy(d / "clean.h5ad", d / "nested" / "copy.h5ad")
    labels = adata.obs["leiden_0.5"].copy()
    labels.iloc[:20] = labels.cat.categories[-1]
    adata.obs["leiden_0.5"] = labels
    adata.write_h5ad(d / "nested" / "edited.h5ad")
    (d / "broken.h5ad").write_bytes(b"\x00not HDF5\n" * 10)
    return d


def _cluster(n_workers: int) -> Any:
    from distributed import LocalCluster

    return LocalCluster(
        n_workers=n_workers,
        threads_per_worker=1,
        processes=False,
        protocol="tcp",
        dashboard_address=":0",
    )


@pytest.fixture(scope="module")
def cluster() -> Iterator[Any]:

    # Two workers of one thread each, in this process: the tasks still travel through the
    # scheduler over TCP (pickled), without the seconds that starting worker processes costs
    # (benchmarks/bench_many.py runs the cluster with worker processes).
    with _cluster(2) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        yield cluster


@pytest.fixture(scope="module")
def scheduler(cluster: Any) -> str:
    return str(cluster.scheduler_address)


def test_dask_equals_j1(collection, scheduler, capsys):
    runs = {}
    for how in (("-j", "1"), ("--dask", scheduler)):
        code = main(["verify", str(collection), "--json", *how])
        runs[how[0]] = (code, json.loads(capsys.readouterr().out))
    assert runs["--dask"] == runs["-j"]
    code, doc = runs["--dask"]
    assert code == 2
    assert [f["status"] for f in doc["files"]] == ["unreadable", "ok", "ok", "findings"]
    # The table too.
    tables = [
        main(["verify", str(collection), *how]) for how in (("-j", "1"), ("--dask", scheduler))
    ]
    assert tables == [2, 2]
    out = capsys.readouterr().out
    half = len(out) // 2
    assert out[:half] == out[half:]


def test_one_file_goes_to_the_cluster(collection, cluster, scheduler, capsys):
    # As -j does with one file: the one-file output (report, error), here or on the cluster.
    assert "provenance-audit" not in cluster.scheduler.task_prefixes
    for name in ("clean.h5ad", "nested/edited.h5ad", "broken.h5ad"):
        runs = {}
        for how in (("-j", "1"), ("--dask", scheduler)):
            for form in ((), ("--json",)):
                code = main(["verify", str(collection / name), *form, *how])
                out, err = capsys.readouterr()
                runs[how[0], form] = (code, out, err)
        for form in ((), ("--json",)):
            assert runs["--dask", form] == runs["-j", form]
        code, out, _ = runs["--dask", ("--json",)]
        assert code == {"clean.h5ad": 0, "nested/edited.h5ad": 1, "broken.h5ad": 2}[name]
        assert json.loads(out)["path" if code == 2 else "source"].endswith(name)
    # Audited there: the one-file audits ran as tasks of the scheduler.
    assert "provenance-audit" in cluster.scheduler.task_prefixes


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def quick(monkeypatch):
    """Bounds of a second or two, not the 20 s (connect, first worker) and 30 s (no worker
    left) of a real run."""
    from provenance._cli import batch_dask

    monkeypatch.setattr(batch_dask, "CONNECT_SECONDS", 1.0)
    monkeypatch.setattr(batch_dask, "LOST_SECONDS", 1.5)
    return batch_dask


@pytest.mark.parametrize("one", [False, True], ids=["directory", "one file"])
def test_dask_usage_errors(collection, scheduler, one, capsys):
    path = str(collection / "clean.h5ad" if one else collection)
    code = main(["verify", path, "--dask", scheduler, "-j", "2"])
    assert code == 2
    assert "either -j (local processes) or --dask (a cluster)" in capsys.readouterr().err
    # Nothing listens: said at once (dask itself retries for its whole timeout, 20 s here).
    refused = f"tcp://127.0.0.1:{_free_port()}"
    t0 = time.monotonic()
    code = main(["show", path, "--dask", refused])
    assert code == 2 and time.monotonic() - t0 < 3
    err = capsys.readouterr().err
    assert f"--dask {refused}: cannot reach the dask scheduler (connection refused" in err
    # Not an address: never ignored (one file was audited here before), JSON too.
    code = main(["verify", path, "--dask", "nonsense", "--json"])
    out, err = capsys.readouterr()
    assert code == 2
    assert "--dask nonsense: not a scheduler address (missing port number" in err
    doc = json.loads(out)
    assert doc["error_type"] == "UsageError" and doc["path"] == path
    assert "not a scheduler address" in doc["error"]


@pytest.fixture
def silent() -> Iterator[str]:
    """A server that accepts TCP connections and never says a word."""
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.05)
    held: list[socket.socket] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            with contextlib.suppress(TimeoutError):
                held.append(server.accept()[0])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield f"tcp://127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    thread.join()
    for conn in held:
        conn.close()
    server.close()


def test_a_server_that_never_answers_is_given_up(collection, silent, quick, capsys):
    for argv, least in (
        (["verify", str(collection), "--dask", silent], 1.0),
        (["show", str(collection / "clean.h5ad"), "--dask", silent, "--timeout", "2"], 2.0),
    ):
        t0 = time.monotonic()
        code = main(argv)
        elapsed = time.monotonic() - t0
        assert code == 2
        assert least <= elapsed < least + 4  # the bound: 1 s here, or --timeout if longer
        err = capsys.readouterr().err
        assert f"--dask {silent}: cannot reach the dask scheduler (no dask handshake" in err


def test_a_cluster_without_workers_is_a_usage_error(collection, quick, capsys):
    with _cluster(0) as empty:
        address = empty.scheduler_address
        for path in (collection, collection / "clean.h5ad"):
            t0 = time.monotonic()
            code = main(["verify", str(path), "--dask", address])
            assert code == 2 and time.monotonic() - t0 < 5
            err = capsys.readouterr().err
            assert f"--dask {address}: the cluster has no workers (none joined within 1 s)" in err
            assert f"start workers (dask worker {address})" in err and "(-j N)" in err


def test_a_cluster_that_loses_all_its_workers_ends_the_run(collection, quick, capsys):
    lots = collection.parent / "lots"
    lots.mkdir()
    names = [f"f{i}.h5ad" for i in range(8)]
    for name in names:
        os.link(collection / "clean.h5ad", lots / name)
    with _cluster(1) as one:
        address = one.scheduler_address
        result: list[int] = []
        argv = ["verify", str(lots), "--json", "--dask", address]
        run = threading.Thread(target=lambda: result.append(main(argv)), daemon=True)
        t0 = time.monotonic()
        run.start()
        while not one.scheduler.tasks and time.monotonic() - t0 < 20:
            time.sleep(0.005)
        one.scale(0)  # the only worker goes, as when every worker is killed
        run.join(timeout=30)
        assert result == [2], f"no end after {time.monotonic() - t0:.0f} s"
    doc = json.loads(capsys.readouterr().out)
    rows = doc["files"]
    assert [r["path"] for r in rows] == [str(lots / n) for n in names]  # every file a row
    lost = [r for r in rows if r["status"] == "crashed"]
    assert lost and all(r["status"] == "ok" for r in rows if r not in lost)
    for row in lost:
        assert row["error_type"] == "NoWorkers" and row["exit_code"] == 2
        lost_all = f"{row['path']}: not audited: the cluster lost all its workers (none for 1.5 s"
        assert row["error"].startswith(lost_all)
        assert "Restart the workers" in row["error"] and "-j N" in row["error"]
    assert doc["summary"]["crashed"] == len(lost) and doc["exit_code"] == 2
