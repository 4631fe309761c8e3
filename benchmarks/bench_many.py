"""``provenance verify DIR`` on many small recorded files: ``-j 1`` against ``-j 2``.

The files: ``pbmc68k_reduced`` cut to its first 300 cells, with real scanpy calls recorded
inside ``provenance.record()``: ``sc.pp.neighbors`` and ``sc.tl.leiden(flavor="igraph",
n_iterations=2)`` at three resolutions (three distinct files); ``X`` and ``raw`` are dropped
(``verify`` never reads them), so a file is ~100 kB. They are copied round-robin into a
directory tree of N files (default 500; one in ten a ``.zarr`` store, in subdirectories of 100)
made once in a temporary directory (``--data-dir`` to keep it).

Rows, each a whole new process (``sys.executable -m provenance``), interleaved over the rounds
after an untimed warm-up round (median wall time; peak memory: the largest sum, sampled every
50 ms, over the run's process tree -- the command and every process below it -- of RSS, and of
PSS, which counts a page shared by k processes as 1/k in each, so forked workers that share
the imported modules are not counted twice):

* ``verify ONE_FILE`` -- the baseline: what each file costs when a script calls ``provenance
  verify`` once per file (start-up and imports every time); N of them is extrapolated as N x
  its median, not run;
* ``verify DIR -j 1`` -- every file in one process;
* ``verify DIR -j 2`` -- the command's process audits files and looks after one worker
  process, forked at the start (the default), sent files 16 at a time at first;
* ``-j 2 spawn``, ``-j 2 forkserver``, ``-j 2 1 per message`` -- the same pool with the worker
  spawned, or forked by a fork server, or sent one file per message (``--variants``; set in
  the command's process, not options of the CLI);
* ``verify DIR --dask ADDRESS`` -- a ``LocalCluster`` of 2 worker processes (1 thread each),
  started before the timing in a process of its own; its processes' memory is added to the
  command's (``--dask``; needs ``anndata-provenance[dask]``).

Reported: seconds, ms per file, peak RSS and PSS (MB), the speed-up of ``-j 2`` over ``-j 1``
and the memory ratio.

    python benchmarks/bench_many.py                 # 500 files, 3 rounds
    python benchmarks/bench_many.py --quick         # smoke run: 20 files, 1 round
    python benchmarks/bench_many.py --variants --dask --rounds 1 --warmup 0
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

RESOLUTIONS = (0.5, 1.0, 1.5)
N_CELLS = 300


def make_templates(directory: Path) -> list[Path]:
    """Three small recorded files: real scanpy calls on a pbmc68k_reduced subset."""
    import scanpy as sc

    import provenance

    directory.mkdir(parents=True, exist_ok=True)
    base = sc.datasets.pbmc68k_reduced()[:N_CELLS].copy()
    del base.obs["louvain"], base.uns["louvain"]  # unrecorded: would be a warning per file
    base.raw = None
    out = []
    for res in RESOLUTIONS:
        adata = base.copy()
        with provenance.record(adata, strict=True):
            sc.pp.neighbors(adata, n_neighbors=10, use_rep="X_pca", random_state=0)
            sc.tl.leiden(adata, resolution=res, flavor="igraph", n_iterations=2, key_added="L")
        assert provenance.audit(adata).ok
        adata.X = None
        path = directory / f"template_{res}.h5ad"
        adata.write_h5ad(path)
        zpath = path.with_suffix(".zarr")
        if zpath.exists():
            shutil.rmtree(zpath)
        adata.write_zarr(zpath)
        out += [path, zpath]
    return out


def ensure_tree(n: int, directory: Path) -> tuple[Path, Path, dict[str, Any]]:
    """``directory/tree_{n}`` with ``n`` files (made once), and one file of it."""
    root = directory / f"tree_{n}"
    done = root / ".complete"
    templates = make_templates(directory / "templates") if not done.exists() else []
    if not done.exists():
        if root.exists():
            shutil.rmtree(root)
        h5ad = [p for p in templates if p.suffix == ".h5ad"]
        zarr = [p for p in templates if p.suffix == ".zarr"]
        for i in range(n):
            sub = root / f"batch_{i // 100:02d}"
            sub.mkdir(parents=True, exist_ok=True)
            if i % 10 == 9:
                shutil.copytree(zarr[i % len(zarr)], sub / f"sample_{i:04d}.zarr")
            else:
                shutil.copy(h5ad[i % len(h5ad)], sub / f"sample_{i:04d}.h5ad")
        done.write_text("")  # hidden: never audited
    h5ad_bytes = [p.stat().st_size for p in root.rglob("*.h5ad")]
    info = {
        "n_files": n,
        "n_zarr": sum(1 for _ in root.rglob("*.zarr")),
        "h5ad_kb_median": statistics.median(h5ad_bytes) / 1e3,
        "n_obs": N_CELLS,
    }
    return root, root / "batch_00" / "sample_0000.h5ad", info


# The pool with another start method or batch size, for the variants: set in the command's
# own process before main() runs (they are not options of the CLI).
VARIANT = """import sys, multiprocessing as mp
import provenance._cli.batch_pool as pool
how = sys.argv.pop(1)
if how in ("spawn", "forkserver"):
    pool._context = lambda: mp.get_context(how)
elif how == "batch1":
    pool.MAX_BATCH = 1
from provenance._cli import main
sys.exit(main(sys.argv[1:]))
"""


def _tree(pids: list[int]) -> list[Any]:
    import psutil

    procs = []
    for pid in pids:
        try:
            p = psutil.Process(pid)
            procs += [p, *p.children(recursive=True)]
        except psutil.NoSuchProcess:
            pass
    return procs


def _memory(procs: list[Any]) -> tuple[float, float]:
    """Summed RSS and PSS (MB) of ``procs`` (those still there)."""
    import psutil

    rss = pss = 0
    for p in procs:
        try:
            m = p.memory_full_info()
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            continue
        rss, pss = rss + m.rss, pss + getattr(m, "pss", m.rss)
    return rss / 1e6, pss / 1e6


def run(cmd: list[str], *, also: list[int] = ()) -> tuple[float, float, float]:
    """Wall time and peak summed RSS, PSS (MB) of ``cmd``'s process tree (and of ``also``'s:
    a cluster's processes)."""
    t0 = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True)
        peak_rss = peak_pss = 0.0
        while proc.poll() is None:
            rss, pss = _memory(_tree([proc.pid, *also]))
            peak_rss, peak_pss = max(peak_rss, rss), max(peak_pss, pss)
            time.sleep(0.05)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            out.seek(0), err.seek(0)
            msg = f"{cmd} exited {proc.returncode}:\n{out.read()[-1500:]}\n{err.read()[-1500:]}"
            raise RuntimeError(msg)
    return wall, peak_rss, peak_pss


CLUSTER = """import sys, time
from distributed import LocalCluster
cluster = LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0")
print(cluster.scheduler_address, flush=True)
sys.stdin.read()  # until the benchmark closes our stdin
cluster.close()
"""


def start_cluster() -> tuple[subprocess.Popen[str], str]:
    proc = subprocess.Popen(
        [sys.executable, "-c", CLUSTER], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    address = proc.stdout.readline().strip()
    if not address.startswith("tcp://"):
        msg = f"the LocalCluster did not start (got {address!r})"
        raise RuntimeError(msg)
    return proc, address


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--files", type=int, default=500, help="number of files (default 500)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3)")
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed rounds first (default 1; --quick 0)"
    )
    p.add_argument("--data-dir", type=Path, default=None, help="keep the files here")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 files, 1 round")
    p.add_argument("--variants", action="store_true", help="also -j 2 spawn / fork / batch 1")
    p.add_argument("--dask", action="store_true", help="also --dask on a 2-worker LocalCluster")
    p.add_argument("--no-per-file", action="store_true", help="leave out one file per process")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.quick:
        args.files = 20
    rounds = args.rounds or (1 if args.quick else 3)
    C.quiet_warnings()
    load_start = C.loadavg()
    print(f"# verify of {args.files} files: -j 1, -j 2, --dask\n")
    print(f"load average at start: {load_start}\n")
    cluster = None
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        t0 = time.perf_counter()
        root, one, info = ensure_tree(args.files, data_dir)
        print(f"files ready in {time.perf_counter() - t0:.1f} s\n")
        py = [sys.executable, "-m", "provenance", "verify"]
        cmds: dict[str, list[str]] = {}
        if not args.no_per_file:
            cmds["one file per process"] = [*py, str(one)]
        cmds["-j 1"] = [*py, str(root), "-j", "1"]
        cmds["-j 2"] = [*py, str(root), "-j", "2"]
        if args.variants:
            variants = (
                ("spawn", "spawn"),
                ("forkserver", "forkserver"),
                ("batch1", "1 per message"),
            )
            for how, label in variants:
                cmds[f"-j 2 {label}"] = [sys.executable, "-c", VARIANT, how, "verify", str(root)]
                cmds[f"-j 2 {label}"] += ["-j", "2"]
        also: dict[str, list[int]] = {}
        if args.dask:
            cluster, address = start_cluster()
            cmds["--dask (LocalCluster, 2 workers)"] = [*py, str(root), "--dask", address]
            also["--dask (LocalCluster, 2 workers)"] = [cluster.pid]
            idle = _memory(_tree([cluster.pid]))
            print(f"LocalCluster idle: RSS {idle[0]:.0f} MB, PSS {idle[1]:.0f} MB\n")
        labels = list(cmds)
        times: dict[str, list[float]] = {k: [] for k in labels}
        mems: dict[str, list[tuple[float, float]]] = {k: [] for k in labels}
        warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
        try:
            for r in range(-warmup, rounds):  # negative rounds: warm-up, not timed
                shift = r % len(labels)
                for label in labels[shift:] + labels[:shift]:
                    wall, rss, pss = run(cmds[label], also=also.get(label, []))
                    print(f"  round {r}: {label}: {wall:.1f} s, RSS {rss:.0f} MB, PSS {pss:.0f} MB")
                    if r >= 0:
                        times[label].append(wall)
                        mems[label].append((rss, pss))
        finally:
            if cluster is not None:
                cluster.communicate(input="", timeout=60)
    load_end = C.loadavg()
    n = args.files
    rows = []
    for label in labels:
        med = statistics.median(times[label])
        rss = max(m[0] for m in mems[label])
        pss = max(m[1] for m in mems[label])
        total = med * n if label == "one file per process" else med  # extrapolated
        what = "one process per file (N x one, extrapolated)" if total != med else label
        rows.append(
            {
                "what": what if what != label else f"verify DIR {label}",
                "median_s": total,
                "ms_per_file": total / n * 1e3,
                "peak_rss_mb": rss,
                "peak_pss_mb": pss,
                "times_s": times[label],
            }
        )
    by = {r["what"]: r for r in rows}
    j1, j2 = by["verify DIR -j 1"], by["verify DIR -j 2"]
    speedup = j1["median_s"] / j2["median_s"]
    mem_ratio = j2["peak_rss_mb"] / j1["peak_rss_mb"]
    print(f"\n{n} files ({info['n_zarr']} .zarr), {N_CELLS} cells each, .h5ad median ", end="")
    print(f"{info['h5ad_kb_median']:.0f} kB; {rounds} round(s), median of whole processes\n")
    print("| command | seconds | ms per file | peak RSS (MB) | peak PSS (MB) |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print(
            f"| {row['what']} | {row['median_s']:.1f} | {row['ms_per_file']:.1f} | "
            f"{row['peak_rss_mb']:.0f} | {row['peak_pss_mb']:.0f} |"
        )
    print(f"\nspeed-up of -j 2 over -j 1: {speedup:.2f}x; peak RSS ratio {mem_ratio:.2f}x")
    targets = [
        C.target(
            f"verify {n} files: -j 2 faster than -j 1 (2 cores)",
            "> 1x",
            f"{speedup:.2f}x ({j1['median_s']:.1f} s vs {j2['median_s']:.1f} s)",
            None if args.quick else speedup > 1.0,
        ),
        C.target(
            f"verify {n} files: -j 2 peak memory against -j 1",
            "<= 2x (RSS of the process tree)",
            f"{mem_ratio:.2f}x ({j2['peak_rss_mb']:.0f} MB vs {j1['peak_rss_mb']:.0f} MB)",
            None if args.quick else mem_ratio <= 2.0,
        ),
    ]
    C.print_targets(targets)
    print(f"\nload average at end: {load_end}")
    C.write_json(
        args.json,
        {
            "info": {
                **C.machine_info(),
                **info,
                "rounds": rounds,
                "warmup": warmup,
                "load": [load_start, load_end],
            },
            "rows": rows,
            "speedup_j2": speedup,
            "memory_ratio_j2": mem_ratio,
            "targets": targets,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
