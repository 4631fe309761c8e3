"""The benchmark scripts still run and report what RESULTS.md is made from.

Each script runs as its own process in ``--quick`` mode on tiny data (two at a time, to
keep the wall time down); the assertions check the structure and the invariants of the
output, not the timings, which mean nothing on tiny data.
"""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pytest
from conftest import SCANPY

# The benchmarks measure the igraph flavor, which scanpy < 1.10 does not have.
pytestmark = pytest.mark.skipif(
    SCANPY < (1, 10), reason="benchmarks run sc.tl.leiden(flavor='igraph')"
)

BENCH = Path(__file__).resolve().parent.parent / "benchmarks"
SCRIPTS = (
    "overhead",
    "fingerprint",
    "cli",
    "history",
    "keys",
    "lineage",
    "remote",
    "many",
    "deep",
    "startup",
)
TARGET_KEYS = {"what", "target", "measured", "met"}


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict]:
    tmp = tmp_path_factory.mktemp("bench")

    def run(name: str) -> tuple[str, subprocess.CompletedProcess[str]]:
        extra = ["--data-dir", str(tmp / name)] if name in ("cli", "keys", "remote", "many") else []
        cmd = [sys.executable, str(BENCH / f"bench_{name}.py"), "--quick", *extra]
        cmd += ["--json", str(tmp / f"{name}.json")]
        # subprocess.run kills the script and closes its pipes if it times out.
        return name, subprocess.run(cmd, capture_output=True, text=True, timeout=900)

    # Two at a time, one per core: nine at once on two cores (beside another CI lane) made
    # each script many times slower than alone.
    with ThreadPoolExecutor(max_workers=2) as pool:
        done = dict(pool.map(run, SCRIPTS))
    out = {}
    for name, proc in done.items():
        assert proc.returncode == 0, f"bench_{name}.py failed:\n{proc.stderr[-3000:]}"
        out[name] = {
            "stdout": proc.stdout,
            "json": json.loads((tmp / f"{name}.json").read_text()),
        }
    return out


def _targets(run: dict) -> list[dict]:
    targets = run["json"]["targets"]
    assert targets, "every benchmark states its targets"
    for t in targets:
        assert set(t) == TARGET_KEYS
        assert t["met"] in (True, False, None)
    return targets


def test_overhead(runs: dict[str, dict]) -> None:
    run = runs["overhead"]
    assert "| data | cells |" in run["stdout"] and "load average at end" in run["stdout"]
    pbmc, rows = run["json"]["pbmc"], run["json"]["rows"]
    assert pbmc["n_obs"] == 700 and pbmc["pairs"] == 3
    assert [r["n_obs"] for r in rows] == [1000]
    for r in [pbmc, *rows]:
        assert len(r["bare_times_s"]) == len(r["recorded_times_s"]) == r["pairs"]
        assert r["a_median_s"] > 0 and r["b_median_s"] > 0 and r["ratio_median"] > 0
        assert r["n_clusters"] >= 1 and r["record_bytes"] > 500
        assert {"graph_fingerprint", "ClusteringRecord.create", "encode_record (JSON)"} <= set(
            r["pieces"]
        )
    assert any("pbmc68k_reduced" in t["what"] for t in _targets(run))


def test_fingerprint(runs: dict[str, dict]) -> None:
    run = runs["fingerprint"]
    info, rows = run["json"]["info"], run["json"]["rows"]
    assert info["n_obs"] == 5000 and info["facts"]["algorithm"] == "xxh3_128_v2"
    assert info["facts"]["unsorted_canonicalized"] is True
    assert info["facts"]["sorted_canonicalized"] is False
    assert info["facts"]["same_digest_sorted_and_unsorted"] is True
    whats = [r["what"] for r in rows]
    assert whats[0] == "np.copy (baseline)" and rows[0]["ratio_to_copy"] == 1.0
    assert sum(w.startswith("provenance graph_fingerprint") for w in whats) == 3
    assert all(r["gb_per_s"] > 0 for r in rows)
    assert [t["met"] for t in _targets(run)][-1] is True  # no copy unless unsorted


def test_cli(runs: dict[str, dict]) -> None:
    run = runs["cli"]
    (res,) = run["json"]["results"]
    assert res["n_obs"] == 2000
    whats = {r["what"]: r for r in res["rows"]}
    for cmd in ("provenance show .h5ad", "provenance verify .zarr", "anndata.read_h5ad .h5ad"):
        assert whats[cmd]["median_s"] > 0
        assert whats[cmd]["peak_rss_bytes"] > 10e6  # a python process at least
    assert whats["anndata.read_h5ad .h5ad"]["ratio_to_read"] == 1.0
    assert len(_targets(run)) == 4
    assert "| command (whole process) |" in run["stdout"]


def test_history(runs: dict[str, dict]) -> None:
    run = runs["history"]
    data = run["json"]
    assert data["info"]["versions"] == 40
    assert len(data["per_version"]["recorder_s"]) == 40
    assert all(a["reencoded"] == 0 for a in data["append"].values())
    assert data["append"]["last"]["history_len"] == 40
    assert data["read"]["in_memory"]["median_s"] > 0
    assert _targets(run)[0]["measured"].endswith("re-encoded 0")


def test_keys(runs: dict[str, dict]) -> None:
    run = runs["keys"]
    data = run["json"]
    assert data["sizes"] == [1, 100]
    whats = {(r["format"], r["what"]) for r in data["rows"]}
    for fmt in ("h5ad", "zarr"):
        assert {(fmt, w) for w in ("floor", "plain", "show", "verify", "show in process")} <= whats
    assert all(v > 0 for r in data["rows"] for v in r["median_s"].values())
    assert len(_targets(run)) == 4
    assert "ms per key" in run["stdout"]


def test_remote(runs: dict[str, dict]) -> None:
    run = runs["remote"]
    data = run["json"]
    assert data["info"]["n_obs"] == 2000
    sweep = [r for r in data["rows"] if r.get("part") == "block_size"]
    assert {r["command"] for r in sweep} == {"show", "verify"}
    cmds = {(r["format"], r["what"]): r for r in data["rows"] if "format" in r}
    for fmt in ("h5ad", "zarr"):
        download = cmds[fmt, "download (urllib, whole file)"]
        assert download["bytes"] == download["file_bytes"] > 0  # the server counted it all
        show, verify = cmds[fmt, "show, HTTP"], cmds[fmt, "verify, HTTP"]
        assert 0 < show["bytes"] < verify["bytes"] < download["bytes"]
    assert len(_targets(run)) == 2
    assert "| cache | block |" in run["stdout"]


def test_run_all_renders(runs: dict[str, dict]) -> None:
    spec = importlib.util.spec_from_file_location("run_all", BENCH / "run_all.py")
    assert spec is not None and spec.loader is not None
    run_all = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(run_all)
    results = [
        {
            "name": n,
            "cmd": [sys.executable, str(BENCH / f"bench_{n}.py"), "--quick"],
            "wall_s": 1.0,
            "markdown": runs[n]["stdout"],
            "json": runs[n]["json"],
        }
        for n in SCRIPTS
    ]
    md = run_all.render(
        results,
        command="python benchmarks/run_all.py --quick",
        started="x",
        load=("1 1 1", "2 2 2"),
    )
    assert md.startswith("# Benchmark results")
    assert "`nproc` " in md and "load average (1, 5, 15 min): 1 1 1 at start, 2 2 2 at end" in md
    n_targets = sum(len(r["json"]["targets"]) for r in results)
    assert (
        md.count("\n| overhead |")
        + md.count("\n| fingerprint |")
        + md.count("\n| cli |")
        + md.count("\n| history |")
        + md.count("\n| keys |")
        + md.count("\n| lineage |")
        + md.count("\n| remote |")
        + md.count("\n| many |")
        + md.count("\n| deep |")
        + md.count("\n| startup |")
        == n_targets
    )
    assert "\n# " not in md.split("# Benchmark results", 1)[1]  # script headings demoted


def test_lineage(runs: dict[str, dict]) -> None:
    run = runs["lineage"]
    assert "| step | cells |" in run["stdout"] and "load average at end" in run["stdout"]
    rows = run["json"]["rows"]
    assert [r["step"] for r in rows] == ["neighbors", "rank_genes_groups"]
    for r in rows:
        assert r["n_obs"] == 2000 and r["pairs"] == 2
        assert len(r["bare_times_s"]) == len(r["recorded_times_s"]) == 2
        # The recorder's own work was instrumented in every recorded call, and is part of it.
        assert len(r["recorder_own_s"]) == 2
        assert 0 < r["recorder_own_median_s"] < r["b_median_s"]
        assert r["record_bytes"] > 500
    assert {"array_digest(X_pca)", "graph_fingerprint x2"} <= set(
        run["json"]["pieces"][0]["pieces"]
    )
    # Quick mode measures no 100k-cell target: it says so instead of claiming one.
    assert [t["met"] for t in _targets(run)] == [None]


def test_many(runs: dict[str, dict]) -> None:
    run = runs["many"]
    data = run["json"]
    assert data["info"]["n_files"] == 20 and data["info"]["n_zarr"] == 2
    whats = [r["what"] for r in data["rows"]]
    assert whats == [
        "one process per file (N x one, extrapolated)",
        "verify DIR -j 1",
        "verify DIR -j 2",
    ]
    assert all(r["median_s"] > 0 and r["ms_per_file"] > 0 for r in data["rows"])
    assert all(r["peak_rss_mb"] >= r["peak_pss_mb"] > 0 for r in data["rows"])
    assert data["speedup_j2"] > 0 and data["memory_ratio_j2"] > 0
    # Quick mode claims no speed-up or memory target on 20 files.
    assert [t["met"] for t in _targets(run)] == [None, None]
    assert "speed-up of -j 2 over -j 1:" in run["stdout"]


def test_deep(runs: dict[str, dict]) -> None:
    run = runs["deep"]
    assert "| data | cells | keys |" in run["stdout"] and "load average at end" in run["stdout"]
    rows = run["json"]["rows"]
    assert [(r["data"], r["n_obs"], r["n_keys"]) for r in rows] == [
        ("pbmc68k_reduced", 700, 10),
        ("synthetic kNN", 2000, 3),
    ]
    for r in rows:
        assert set(r["median_s"]) == {
            "bare clusterings",
            "audit",
            "audit deep jobs=1",
            "audit deep jobs=2",
            "audit path deep jobs=1",
        }
        assert all(len(t) == r["rounds"] == 1 for t in r["times_s"].values())
        # deep re-runs every key: it cannot be cheaper than the ordinary audit
        assert r["median_s"]["audit deep jobs=1"] > r["median_s"]["audit"]
        assert r["deep_over_floor_jobs1"] > 0 and r["speedup_jobs2"] > 0
    # Quick mode claims no target: the figures on tiny data mean nothing.
    assert [t["met"] for t in _targets(run)] == [None, None, None]


def test_pipeline_counts() -> None:
    # bench_pipeline.py runs the whole pipeline (umap's numba compile alone takes ~20 s), too
    # slow for this suite: its counts, which every figure in RESULTS.md rests on, are checked.
    spec = importlib.util.spec_from_file_location("bench_pipeline", BENCH / "bench_pipeline.py")
    assert spec is not None and spec.loader is not None
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    x, groups = bench.make_counts(400, 2000, n_groups=4)
    assert x.format == "csr" and x.dtype == "float32" and x.indices.dtype == "int32"
    assert x.has_sorted_indices and (x.data == x.data.round()).all() and x.data.min() >= 1
    assert 0.06 < x.nnz / (400 * 2000) < 0.08  # ~7 % non-zero
    totals = np.sort(np.asarray(x.sum(axis=0)).ravel())[::-1]
    assert totals[:20].sum() > 0.2 * totals.sum()  # a long tail: 1 % of genes, > 20 % of counts

    # Planted groups: two halves of one group's cells are more alike than the group and another.
    def profile(cells: np.ndarray) -> np.ndarray:
        return np.log1p(np.asarray(x[cells].mean(axis=0)).ravel())

    first = np.flatnonzero(groups == 0)
    within = np.corrcoef(profile(first[::2]), profile(first[1::2]))[0, 1]
    between = [np.corrcoef(profile(first), profile(groups == g))[0, 1] for g in (1, 2, 3)]
    assert within > max(between) + 0.05, (within, between)
    again, _ = bench.make_counts(400, 2000, n_groups=4)
    assert (again != x).nnz == 0  # seeded


def test_startup(runs: dict[str, dict]) -> None:
    run = runs["startup"]
    (res,) = run["json"]["results"]
    whats = [r["what"] for r in res["rows"]]
    assert whats[:2] == ["python -c 'import numpy, h5py' (floor)", "provenance show"]
    assert all(r["median_s"] > 0 and r["cpu_s"] > 0 for r in res["rows"])
    assert res["rows"][0]["x_floor"] == 1.0 and res["ratio_median"] > 1  # show does more
    (target,) = _targets(run)
    assert target["met"] is None  # a smoke run measures nothing
    assert "| command (whole process) |" in run["stdout"]
