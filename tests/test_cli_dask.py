"""``verify DIR --dask ADDRESS``: the files of a collection audited on a dask.distributed
cluster (a ``LocalCluster`` here) give the rows, JSON and exit status of ``-j 1``."""

from __future__ import annotations

import json
import shutil
from typing import TYPE_CHECKING

import pytest
from _audit_data import drop_unrecorded, sweep

from provenance._cli import main

if TYPE_CHECKING:
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


@pytest.fixture(scope="module")
def scheduler() -> str:
    from distributed import LocalCluster

    # Two workers of one thread each, in this process: the tasks still travel through the
    # scheduler over TCP (pickled), without the seconds that starting worker processes costs
    # (benchmarks/bench_many.py runs the cluster with worker processes).
    with LocalCluster(
        n_workers=2, threads_per_worker=1, processes=False, protocol="tcp", dashboard_address=":0"
    ) as cluster:
        assert cluster.scheduler_address.startswith("tcp://")
        yield cluster.scheduler_address


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


def test_dask_usage_errors(collection, scheduler, capsys, monkeypatch):
    from provenance._cli import batch_dask

    monkeypatch.setattr(batch_dask, "CONNECT_TIMEOUT", "1s")  # the default waits 20 s
    code = main(["verify", str(collection), "--dask", scheduler, "-j", "2"])
    assert code == 2
    assert "either -j (local processes) or --dask (a cluster)" in capsys.readouterr().err
    code = main(["show", str(collection), "--dask", "tcp://127.0.0.1:9"])  # nothing listens
    assert code == 2
    err = capsys.readouterr().err
    assert "--dask tcp://127.0.0.1:9: cannot reach the dask scheduler" in err
