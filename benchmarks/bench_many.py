"""``provenance verify DIR`` on many small recorded files: ``-j 1`` against ``-j 2``.

The files: ``pbmc68k_reduced`` cut to its first 300 cells, with real scanpy calls recorded
inside ``provenance.record()``: ``sc.pp.neighbors`` and ``sc.tl.leiden(flavor="igraph",
n_iterations=2)`` at three resolutions (three distinct files); ``X`` and ``raw`` are dropped
(``verify`` never reads them), so a file is ~100 kB. They are copied round-robin into a
directory tree of N files (default 500; one in ten a ``.zarr`` store, in subdirectories of 100)
made once in a temporary directory (``--data-dir`` to keep it).

Rows, each a whole new process (``sys.executable -m provenance``), interleaved over the rounds
after an untimed warm-up round (median wall time):

* ``verify ONE_FILE`` -- the baseline: what each file costs when a script calls ``provenance
  verify`` once per file (start-up and imports every time); N of them is extrapolated as N x
  its median, not run;
* ``verify DIR -j 1`` -- every file in one process;
* ``verify DIR -j 2`` -- two worker processes (spawned: each imports the audit once).

Reported: seconds, ms per file, the speed-up of ``-j 2`` over ``-j 1`` and of one process over
one process per file.

    python benchmarks/bench_many.py                 # 500 files, 3 rounds
    python benchmarks/bench_many.py --quick         # smoke run: 20 files, 1 round
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


def run(cmd: list[str]) -> float:
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    wall = time.perf_counter() - t0
    if proc.returncode != 0:
        msg = f"{cmd} exited {proc.returncode}:\n{proc.stdout[-1500:]}\n{proc.stderr[-1500:]}"
        raise RuntimeError(msg)
    return wall


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--files", type=int, default=500, help="number of files (default 500)")
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 3)")
    p.add_argument(
        "--warmup", type=int, default=None, help="untimed rounds first (default 1; --quick 0)"
    )
    p.add_argument("--data-dir", type=Path, default=None, help="keep the files here")
    p.add_argument("--quick", action="store_true", help="smoke run: 20 files, 1 round")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.quick:
        args.files = 20
    rounds = args.rounds or (1 if args.quick else 3)
    C.quiet_warnings()
    load_start = C.loadavg()
    print(f"# verify of {args.files} files: -j 1 against -j 2\n")
    print(f"load average at start: {load_start}\n")
    with tempfile.TemporaryDirectory() as tmp:
        data_dir = args.data_dir or Path(tmp)
        t0 = time.perf_counter()
        root, one, info = ensure_tree(args.files, data_dir)
        print(f"files ready in {time.perf_counter() - t0:.1f} s\n")
        py = [sys.executable, "-m", "provenance", "verify"]
        cmds = {
            "one file per process": [*py, str(one)],
            "-j 1": [*py, str(root), "-j", "1"],
            "-j 2": [*py, str(root), "-j", "2"],
        }
        labels = list(cmds)
        times: dict[str, list[float]] = {k: [] for k in labels}
        warmup = args.warmup if args.warmup is not None else (0 if args.quick else 1)
        for r in range(-warmup, rounds):  # negative rounds: warm-up, not timed
            shift = r % len(labels)
            for label in labels[shift:] + labels[:shift]:
                wall = run(cmds[label])
                if r >= 0:
                    times[label].append(wall)
    load_end = C.loadavg()
    med = {k: statistics.median(v) for k, v in times.items()}
    n = args.files
    per_process = med["one file per process"] * n  # extrapolated, see the docstring
    speedup = med["-j 1"] / med["-j 2"]
    rows = [
        {
            "what": "one process per file (N x one, extrapolated)",
            "median_s": per_process,
            "ms_per_file": per_process / n * 1e3,
            "times_s": times["one file per process"],
        },
        *(
            {
                "what": f"verify DIR {j}",
                "median_s": med[j],
                "ms_per_file": med[j] / n * 1e3,
                "times_s": times[j],
            }
            for j in ("-j 1", "-j 2")
        ),
    ]
    print(f"{n} files ({info['n_zarr']} .zarr), {N_CELLS} cells each, .h5ad median ", end="")
    print(f"{info['h5ad_kb_median']:.0f} kB; {rounds} round(s), median of whole processes\n")
    print("| command | seconds | ms per file |")
    print("|---|---:|---:|")
    for row in rows:
        print(f"| {row['what']} | {row['median_s']:.2f} | {row['ms_per_file']:.1f} |")
    print(f"\nspeed-up of -j 2 over -j 1: {speedup:.2f}x")
    print("speed-up of one process (-j 1) over one process per file: ", end="")
    print(f"{per_process / med['-j 1']:.1f}x")
    targets = [
        C.target(
            f"verify {n} files: -j 2 against -j 1 (2 cores)",
            ">= 1.5x faster",
            f"{speedup:.2f}x ({med['-j 1']:.1f} s vs {med['-j 2']:.1f} s)",
            None if args.quick else speedup >= 1.5,
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
            "targets": targets,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
