"""``provenance show`` / ``provenance verify`` against reading the whole file with anndata.

The files: ``_synth.make_adata(n)`` (realistic sparse ``X``: 2000 genes, ~5 % nonzero;
``obsp["distances"]`` and ``obsp["connectivities"]``), clustered once with
``sc.tl.leiden(flavor="igraph", n_iterations=2)`` inside ``provenance.record()``, written as
``.h5ad`` and ``.zarr`` (anndata's default zarr format). They are cached under
``benchmarks/_data/`` (gitignored) and reused by later runs; ``--rebuild`` makes them anew.
A third file, ``.h5ad`` only, holds the same object with an ``X`` of twice the density, to
show that ``verify``'s memory does not follow ``X``.

Every command is a whole new process (``sys.executable``), so startup and imports count for
both sides:

* ``python -c "import anndata; anndata.read_h5ad(path)"`` (``read_zarr`` for ``.zarr``) -- the
  baseline;
* ``python -m provenance show path`` and ``python -m provenance verify path``;
* ``python -c "import anndata"``, ``"import numpy, h5py"``, ``"import numpy, zarr"`` -- the
  floors: starting python and importing what any reader of the file needs; the h5py floor
  bounds how much faster than ``read_h5ad`` any command reading the file with h5py can be.

Also ``show``'s own work: ``provenance._cli.main(["show", path])`` timed inside a process that
has already imported everything (median of a few calls after a warm-up).

Bytecode: Python caches compiled modules (``__pycache__``) on first import, and ``pip install``
compiles them at install time, so a user's commands run from cached bytecode. The commands run
that way here (``PYTHONDONTWRITEBYTECODE`` is cleared for them, so the warm-up round writes any
cache that is missing). For ``read_h5ad``, ``show`` and the h5py floor on ``.h5ad``, a second
set of rows runs with no usable cache (``PYTHONPYCACHEPREFIX`` set to an empty directory,
writing disabled): every module is compiled from source in every process, as on a machine that
sets ``PYTHONDONTWRITEBYTECODE=1`` over packages installed without bytecode (``uv pip``
compiles none unless asked).

Rounds are interleaved (each round runs every command once, in a rotating order) after one
untimed warm-up round, so the page cache is warm for all of them. Wall time: median; peak
memory: the largest "maximum resident set size" of that command over the rounds, from GNU
``/usr/bin/time`` (``%M``) around each command.

    python benchmarks/bench_cli.py                 # 1M cells, 5 rounds
    python benchmarks/bench_cli.py --quick         # smoke run: 2000 cells, 1 round
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import _synth

KEY = "leiden"
FILES_VERSION = 1  # bump when the way the files are made changes


def _matrix_bytes(m: Any) -> int:
    return int(m.data.nbytes + m.indices.nbytes + m.indptr.nbytes)


def ensure_files(n_obs: int, directory: Path, *, rebuild: bool) -> dict[str, Any]:
    """Make (or reuse) the recorded files for ``n_obs`` cells; return paths and sizes."""
    import json
    import shutil

    stem = f"cli_v{FILES_VERSION}_{n_obs}"
    meta_path = directory / f"{stem}.json"
    paths = {
        "h5ad": directory / f"{stem}.h5ad",
        "zarr": directory / f"{stem}.zarr",
        "h5ad_2x": directory / f"{stem}_x2.h5ad",
    }
    if not rebuild and meta_path.exists() and all(p.exists() for p in paths.values()):
        meta = json.loads(meta_path.read_text())
        meta["reused"] = True
        return meta | {"paths": {k: str(v) for k, v in paths.items()}}
    for p in paths.values():
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()

    import scanpy as sc

    import provenance

    t0 = time.perf_counter()
    adata = _synth.make_adata(n_obs)
    build_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    with provenance.record(adata, strict=True):
        sc.tl.leiden(adata, flavor="igraph", n_iterations=2, random_state=0, key_added=KEY)
    leiden_s = time.perf_counter() - t0
    assert provenance.latest(adata, KEY) is not None
    t0 = time.perf_counter()
    written = _synth.write_files(adata, directory, stem=stem)
    write_s = time.perf_counter() - t0
    assert written["h5ad"] == paths["h5ad"] and written["zarr"] == paths["zarr"]
    meta = {
        "n_obs": n_obs,
        "n_vars": int(adata.n_vars),
        "X_nnz": int(adata.X.nnz),
        "X_bytes": _matrix_bytes(adata.X),
        "obsp_bytes": {k: _matrix_bytes(m) for k, m in adata.obsp.items()},
        "build_s": build_s,
        "leiden_recorded_s": leiden_s,
        "write_s": write_s,
    }
    # Same object, X of twice the density: verify must not care.
    adata.X = _synth._sparse_counts(
        __import__("numpy").random.default_rng([0, 2]), n_obs, adata.n_vars, 0.10, 4096
    )
    adata.write_h5ad(paths["h5ad_2x"])
    meta["X2_bytes"] = _matrix_bytes(adata.X)
    del adata
    meta_path.write_text(json.dumps(meta, indent=2))
    meta["reused"] = False
    return meta | {"paths": {k: str(v) for k, v in paths.items()}}


TIME = Path("/usr/bin/time")


def run_process(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run ``cmd``; return wall seconds, its own peak RSS (bytes), exit code, output.

    Peak RSS comes from ``/usr/bin/time`` (GNU time, ``%M``), which forks the command from its
    own small process: Linux reports a child's maximum RSS over its whole life, including the
    part before ``exec`` when it was a copy of the parent, so ``os.wait4`` from this (large)
    Python process would report at least this process's size. Without GNU time, falls back to
    ``os.wait4`` and says so.
    """
    with (
        tempfile.TemporaryFile() as out,
        tempfile.TemporaryFile() as err,
        tempfile.NamedTemporaryFile("r", suffix=".time") as tf,
    ):
        use_time = TIME.exists()
        full = [str(TIME), "-f", "%M", "-o", tf.name, *cmd] if use_time else cmd
        t0 = time.perf_counter()
        proc = subprocess.Popen(full, stdout=out, stderr=err, env=env)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        code = os.waitstatus_to_exitcode(status)
        proc.returncode = code
        out.seek(0)
        err.seek(0)
        if use_time:
            lines = [ln for ln in Path(tf.name).read_text().splitlines() if ln.strip()]
            maxrss_kb = int(lines[-1])
        else:
            maxrss_kb = usage.ru_maxrss
        return {
            "wall_s": wall,
            "maxrss_bytes": maxrss_kb * 1024,  # kilobytes on Linux
            "rss_source": "GNU time %M" if use_time else "os.wait4 (includes parent at fork)",
            "returncode": code,
            "stdout": out.read().decode(errors="replace"),
            "stderr": err.read().decode(errors="replace"),
        }


NO_CACHE = " (no bytecode cache)"
H5_FLOOR = "python -c 'import numpy, h5py' (floor)"
READ_H5AD = "anndata.read_h5ad .h5ad"
SHOW_H5AD = "provenance show .h5ad"
# show validates every record with the pydantic models, so it cannot start faster than this.
MODELS_FLOOR = "python -c 'import numpy, h5py, provenance' (floor with the record models)"


def environments(empty_dir: str) -> dict[bool, dict[str, str]]:
    """``cached`` flag -> environment: Python's default bytecode caching, or none usable."""
    base = {
        k: v
        for k, v in os.environ.items()
        if k not in ("PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")
    }
    return {
        True: base,
        False: base | {"PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": empty_dir},
    }


def commands(paths: dict[str, str]) -> dict[str, tuple[list[str], int]]:
    """Label -> (argv, expected exit code); labels ending in ``NO_CACHE`` run without bytecode."""
    py = sys.executable
    quiet = "import warnings; warnings.simplefilter('ignore'); "
    out: dict[str, tuple[list[str], int]] = {
        "python -c 'import anndata' (floor)": ([py, "-c", quiet + "import anndata"], 0),
        H5_FLOOR: ([py, "-c", "import numpy, h5py"], 0),
        "python -c 'import numpy, zarr' (floor)": ([py, "-c", "import numpy, zarr"], 0),
        MODELS_FLOOR: ([py, "-c", "import numpy, h5py, provenance"], 0),
    }
    for fmt, reader in (("h5ad", "read_h5ad"), ("zarr", "read_zarr")):
        p = paths[fmt]
        code = quiet + f"import anndata; anndata.{reader}({p!r})"
        out[f"anndata.{reader} .{fmt}"] = ([py, "-c", code], 0)
        out[f"provenance show .{fmt}"] = ([py, "-m", "provenance", "show", p], 0)
        out[f"provenance verify .{fmt}"] = ([py, "-m", "provenance", "verify", p], 0)
    out["provenance verify .h5ad, X twice as dense"] = (
        [py, "-m", "provenance", "verify", paths["h5ad_2x"]],
        0,
    )
    for label in (H5_FLOOR, READ_H5AD, SHOW_H5AD):
        out[label + NO_CACHE] = out[label]
    return out


_IN_PROCESS = """
import contextlib, io, statistics, sys, time, warnings
warnings.simplefilter("ignore")
from provenance._cli import main
path, n = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(n + 1):  # the first call is a warm-up
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        code = main(["show", path])
        times.append(time.perf_counter() - t0)
    assert code == 0, code
print(statistics.median(times[1:]))
"""


def _show_in_process(paths: dict[str, str], n: int) -> dict[str, Any]:
    """Median seconds of ``show`` itself, in a process that has already imported everything."""
    out: dict[str, Any] = {"n": n}
    for fmt in ("h5ad", "zarr"):
        res = subprocess.run(
            [sys.executable, "-c", _IN_PROCESS, paths[fmt], str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        out[fmt] = float(res.stdout.strip().splitlines()[-1])
    return out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=C.parse_sizes, default=[1_000_000])
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5)")
    p.add_argument("--rebuild", action="store_true", help="make the cached files anew")
    p.add_argument("--data-dir", type=Path, default=C.DATA)
    p.add_argument(
        "--quick", action="store_true", help="smoke run: 2000 cells, 1 round, no warm-up round"
    )
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    warmup_rounds = 0 if args.quick else 1
    if args.quick:
        args.sizes = [2000]
    args.rounds = args.rounds or (1 if args.quick else 5)
    C.quiet_warnings()
    load_start = C.loadavg()
    print("# CLI: provenance show / verify against reading the file with anndata\n")
    print(f"load average at start: {load_start}\n")

    results = []
    targets = []
    empty = tempfile.TemporaryDirectory(prefix="no-pycache-")
    envs = environments(empty.name)
    for n in args.sizes:
        meta = ensure_files(n, args.data_dir, rebuild=args.rebuild)
        cmds = commands(meta["paths"])
        labels = list(cmds)
        runs: dict[str, list[dict[str, Any]]] = {k: [] for k in labels}
        for r in range(1 - warmup_rounds, args.rounds + 1):  # round 0: warm-up, untimed
            shift = r % len(labels)
            for label in labels[shift:] + labels[:shift]:
                argv_, expected = cmds[label]
                res = run_process(argv_, envs[not label.endswith(NO_CACHE)])
                if res["returncode"] != expected:
                    msg = (
                        f"{label} exited {res['returncode']} (expected {expected}):\n"
                        f"{res['stderr'][-2000:]}"
                    )
                    raise RuntimeError(msg)
                if r:
                    runs[label].append(res)
        own = _show_in_process(meta["paths"], max(3, args.rounds))
        obsp_total = sum(meta["obsp_bytes"].values())
        rows = []
        for label in labels:
            rs = runs[label]
            rows.append(
                {
                    "what": label,
                    "median_s": statistics.median(x["wall_s"] for x in rs),
                    "min_s": min(x["wall_s"] for x in rs),
                    "max_s": max(x["wall_s"] for x in rs),
                    "peak_rss_bytes": max(x["maxrss_bytes"] for x in rs),
                    "rounds": len(rs),
                }
            )
        by = {r["what"]: r for r in rows}
        for fmt, reader in (("h5ad", "read_h5ad"), ("zarr", "read_zarr")):
            base = by[f"anndata.{reader} .{fmt}"]["median_s"]
            for r in rows:
                if r["what"].endswith(NO_CACHE):
                    continue
                if r["what"].endswith(f".{fmt}") or (fmt == "h5ad" and "twice" in r["what"]):
                    r["ratio_to_read"] = r["median_s"] / base
        cold_base = by[READ_H5AD + NO_CACHE]["median_s"]
        for label in (READ_H5AD, SHOW_H5AD):
            by[label + NO_CACHE]["ratio_to_read"] = by[label + NO_CACHE]["median_s"] / cold_base
        floor = by["python -c 'import anndata' (floor)"]
        h5floor = by[H5_FLOOR]
        read_s = by[READ_H5AD]["median_s"]
        best = read_s / h5floor["median_s"]
        cold_floor = by[H5_FLOOR + NO_CACHE]["median_s"]
        models_best = read_s / by[MODELS_FLOOR]["median_s"]
        cold_best = cold_base / cold_floor
        sizes = {
            fmt: sum(f.stat().st_size for f in Path(meta["paths"][fmt]).rglob("*") if f.is_file())
            if Path(meta["paths"][fmt]).is_dir()
            else Path(meta["paths"][fmt]).stat().st_size
            for fmt in ("h5ad", "zarr", "h5ad_2x")
        }
        results.append(
            {
                "n_obs": n,
                "meta": meta,
                "file_bytes": sizes,
                "rows": rows,
                "show_in_process_s": own,
                "show_speedup_limit": best,
                "show_speedup_limit_no_bytecode_cache": cold_best,
                "show_speedup_limit_with_models": models_best,
            }
        )

        mb = 1e6
        print(
            f"## {n:,} cells: .h5ad {sizes['h5ad'] / mb:,.0f} MB, .zarr {sizes['zarr'] / mb:,.0f}"
            f" MB (X in memory {meta['X_bytes'] / mb:,.0f} MB; obsp in memory "
            + ", ".join(f"{k} {v / mb:,.0f} MB" for k, v in meta["obsp_bytes"].items())
            + f"; the X-twice-as-dense .h5ad {sizes['h5ad_2x'] / mb:,.0f} MB); files "
            + ("reused from the cache" if meta["reused"] else "made in this run")
            + f"; {args.rounds} rounds\n"
        )
        print("| command (whole process) | median s | min–max s | read time / this | peak RSS MB |")
        print("|---|---:|---:|---:|---:|")
        for r in rows:
            speed = f"{1 / r['ratio_to_read']:.1f}x" if "ratio_to_read" in r else "—"
            print(
                f"| {r['what']} | {r['median_s']:.2f} | {r['min_s']:.2f}–{r['max_s']:.2f} | "
                f"{speed} | {r['peak_rss_bytes'] / mb:,.0f} |"
            )
        print(
            f"\n'read time / this' is the median time of anndata's read of the same file divided "
            f"by the command's (higher is faster). The floor (start python, import anndata) is "
            f"{floor['median_s']:.2f} s and {floor['peak_rss_bytes'] / mb:,.0f} MB; a process "
            f"that only starts python and imports numpy and h5py takes {h5floor['median_s']:.2f} s,"
            f" so no command that reads the .h5ad with h5py can be more than {best:.1f}x faster "
            "than read_h5ad here; one that also imports pydantic and builds the record models, as "
            f"show does to validate each record, no more than {models_best:.1f}x. show's own "
            "work once imported (audit + rendering, in process, "
            "median of "
            f"{own['n']}): .h5ad {own['h5ad'] * 1e3:.0f} ms, .zarr {own['zarr'] * 1e3:.0f} ms. "
            f"Rows marked '{NO_CACHE.strip()}' compile every module from source in every process "
            f"(read time / this against read_h5ad run the same way; limit {cold_best:.1f}x); "
            "all other rows use cached bytecode, as any installed environment does."
        )
        show = by[SHOW_H5AD]
        speedup = 1 / show["ratio_to_read"]
        cold_show = by[SHOW_H5AD + NO_CACHE]
        targets.append(
            C.target(
                f"show vs read_h5ad, {n:,} cells",
                ">= 20x faster",
                f"{speedup:.1f}x ({show['median_s']:.2f} s vs "
                f"{read_s:.2f} s; limit set by starting "
                f"python + numpy + h5py: {best:.1f}x, + pydantic and the record models: "
                f"{models_best:.1f}x; show's own work "
                f"{own['h5ad'] * 1e3:.0f} ms; with no bytecode cache "
                f"{1 / cold_show['ratio_to_read']:.1f}x, {cold_show['median_s']:.2f} s vs "
                f"{cold_base:.2f} s, limit {cold_best:.1f}x)",
                speedup >= 20,
            )
        )
        limit = obsp_total + 300e6
        for label in ("provenance verify .h5ad", "provenance verify .zarr"):
            peak = by[label]["peak_rss_bytes"]
            targets.append(
                C.target(
                    f"{label} peak memory, {n:,} cells",
                    f"< obsp + 300 MB = {limit / mb:,.0f} MB",
                    f"{peak / mb:,.0f} MB",
                    peak < limit,
                )
            )
        v1 = by["provenance verify .h5ad"]["peak_rss_bytes"]
        v2 = by["provenance verify .h5ad, X twice as dense"]["peak_rss_bytes"]
        dx = meta["X2_bytes"] - meta["X_bytes"]
        targets.append(
            C.target(
                f"verify memory independent of X, {n:,} cells",
                f"X +{dx / mb:,.0f} MB: peak +<< that",
                f"{(v2 - v1) / mb:+,.0f} MB",
                (v2 - v1) < 0.1 * dx + 20e6,
            )
        )
    C.print_targets(targets)
    load_end = C.loadavg()
    print(f"\nload average at end: {load_end}")
    C.write_json(
        args.json,
        {
            "info": {"load_start": load_start, "load_end": load_end, **C.machine_info()},
            "results": results,
            "targets": targets,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
