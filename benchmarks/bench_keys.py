"""``provenance show`` / ``verify`` against the number of ``uns`` keys (1, 100, 10,000).

The files: pbmc68k_reduced with one recorded ``sc.tl.leiden(flavor="igraph",
n_iterations=2)``, written by anndata (``.h5ad``, and ``.zarr`` in anndata's default zarr
format), plus N extra ``uns`` entries as anndata encodes them: half a dict of a number and a
string, half a string. The extras are added with h5py (``.h5ad``) or by copying one entry's
directory written by anndata (``.zarr``, whose consolidated metadata is then rebuilt with
``zarr.consolidate_metadata``): anndata itself takes minutes to write 10,000 entries.

Rows, every one a whole new process, interleaved over the rounds (median):

* ``python -c "import numpy, h5py"`` (``zarr`` for ``.zarr``) -- the process floor;
* ``h5py: list uns`` -- opening the file and listing the ``uns`` keys with h5py
  (``zarr.open_group`` and the listing for ``.zarr``): a plain read of what ``show`` must at
  least look at;
* ``provenance show`` and ``provenance verify``.

The cost per key: (median at N keys - median at 1 key) / (N - 1), for each command, against
the target of 0.05 ms per key beyond the process floor; also ``show``'s own work in a process
that has imported everything (median of several calls), where process start-up noise is gone.

    python benchmarks/bench_keys.py              # 1, 100, 10,000 keys; 5 rounds
    python benchmarks/bench_keys.py --quick      # 1 and 100 keys, 1 round
"""

from __future__ import annotations

import argparse
import json
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
from bench_cli import run_process

KEY = "leiden"
FILES_VERSION = 1
TARGET_MS_PER_KEY = 0.05


def _base(directory: Path) -> dict[str, Path]:
    import anndata as ad
    import scanpy as sc

    import provenance

    adata = sc.datasets.pbmc68k_reduced()
    with provenance.record(adata, strict=True):
        sc.tl.leiden(adata, flavor="igraph", n_iterations=2, random_state=0, key_added=KEY)
    adata.uns["extra_template"] = {"value": 1, "note": "x"}
    paths = {"h5ad": directory / "base.h5ad", "zarr": directory / "base.zarr"}
    adata.write_h5ad(paths["h5ad"])
    adata.write_zarr(paths["zarr"])
    del ad
    return paths


def _with_keys_h5ad(base: Path, out: Path, n: int) -> None:
    import h5py

    shutil.copy(base, out)
    str_dt = h5py.string_dtype()
    with h5py.File(out, "r+") as f:
        uns = f["uns"]
        del uns["extra_template"]
        for i in range(n):
            name = f"extra_{i}"
            if i % 2:
                g = uns.create_group(name)
                g.attrs.update({"encoding-type": "dict", "encoding-version": "0.1.0"})
                v = g.create_dataset("value", data=i)
                v.attrs.update({"encoding-type": "numeric-scalar", "encoding-version": "0.2.0"})
                s = g.create_dataset("note", data="x", dtype=str_dt)
                s.attrs.update({"encoding-type": "string", "encoding-version": "0.2.0"})
            else:
                s = uns.create_dataset(name, data=f"s{i}", dtype=str_dt)
                s.attrs.update({"encoding-type": "string", "encoding-version": "0.2.0"})


def _with_keys_zarr(base: Path, out: Path, n: int) -> None:
    import zarr

    if out.exists():
        shutil.rmtree(out)
    shutil.copytree(base, out)
    uns = out / "uns"
    template = uns / "extra_template"
    note = template / "note"
    for i in range(n):
        dest = uns / f"extra_{i}"
        if i % 2:
            shutil.copytree(template, dest)
        else:
            shutil.copytree(note, dest)  # a string entry of its own
    shutil.rmtree(template)
    zarr.consolidate_metadata(str(out))


def ensure_files(sizes: list[int], directory: Path) -> dict[int, dict[str, str]]:
    directory.mkdir(parents=True, exist_ok=True)
    stamp = directory / f"keys_v{FILES_VERSION}.json"
    made = json.loads(stamp.read_text()) if stamp.exists() else {}
    base = {"h5ad": directory / "base.h5ad", "zarr": directory / "base.zarr"}
    if not all(p.exists() for p in base.values()):
        base = _base(directory)
        made = {}
    out = {}
    for n in sizes:
        paths = {fmt: directory / f"keys_{n}.{fmt}" for fmt in ("h5ad", "zarr")}
        if str(n) not in made or not all(p.exists() for p in paths.values()):
            _with_keys_h5ad(base["h5ad"], paths["h5ad"], n)
            _with_keys_zarr(base["zarr"], paths["zarr"], n)
            made[str(n)] = True
        out[n] = {k: str(v) for k, v in paths.items()}
    stamp.write_text(json.dumps(made))
    return out


def commands(paths: dict[str, str], fmt: str) -> dict[str, list[str]]:
    py = sys.executable
    p = paths[fmt]
    if fmt == "h5ad":
        floor = "import numpy, h5py"
        plain = f"import h5py; f = h5py.File({p!r}, 'r'); list(f['uns'])"
    else:
        floor = "import numpy, zarr"
        plain = f"import zarr; g = zarr.open_group({p!r}, mode='r'); list(g['uns'])"
    return {
        "floor": [py, "-c", floor],
        "plain": [py, "-W", "ignore", "-c", plain],
        "show": [py, "-m", "provenance", "show", p],
        "verify": [py, "-m", "provenance", "verify", p],
    }


LABELS = {
    "floor": "python -c 'import numpy, h5py' (zarr for .zarr) (floor)",
    "plain": "open + list uns with h5py (zarr for .zarr)",
    "show": "provenance show",
    "verify": "provenance verify",
}

_IN_PROCESS = """
import contextlib, io, statistics, sys, time, warnings
warnings.simplefilter("ignore")
from provenance._cli import main
path, n = sys.argv[1], int(sys.argv[2])
times = []
for _ in range(n + 1):
    with contextlib.redirect_stdout(io.StringIO()):
        t0 = time.perf_counter()
        assert main(["show", path]) == 0
        times.append(time.perf_counter() - t0)
print(statistics.median(times[1:]))
"""


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=C.parse_sizes, default=[1, 100, 10_000])
    p.add_argument("--rounds", type=int, default=None, help="timed rounds (default 5)")
    p.add_argument("--data-dir", type=Path, default=C.DATA / "keys")
    p.add_argument("--quick", action="store_true", help="smoke run: 1 and 100 keys, 1 round")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes = [1, 100]
    args.rounds = args.rounds or (1 if args.quick else 5)
    C.quiet_warnings()
    load_start = C.loadavg()
    print("# show / verify against the number of uns keys\n")
    print(f"load average at start: {load_start}\n")
    t0 = time.perf_counter()
    files = ensure_files(sorted(set(args.sizes)), args.data_dir)
    print(f"files ready in {time.perf_counter() - t0:.1f} s\n")

    cmds = {
        (fmt, n, what): argv_
        for fmt in ("h5ad", "zarr")
        for n in files
        for what, argv_ in commands(files[n], fmt).items()
    }
    labels = list(cmds)
    runs: dict[Any, list[float]] = {k: [] for k in labels}
    with tempfile.TemporaryDirectory():
        for r in range(0 if args.quick else -1, args.rounds):  # round -1: warm-up
            shift = r % len(labels)
            for label in labels[shift:] + labels[:shift]:
                res = run_process(cmds[label])
                expected = 0
                if res["returncode"] != expected:
                    msg = f"{label} exited {res['returncode']}:\n{res['stderr'][-2000:]}"
                    raise RuntimeError(msg)
                if r >= 0:
                    runs[label].append(res["wall_s"])
    med = {k: statistics.median(v) for k, v in runs.items()}
    own = {}
    for fmt in ("h5ad", "zarr"):
        for n in files:
            out = subprocess.run(
                [sys.executable, "-c", _IN_PROCESS, files[n][fmt], str(max(3, args.rounds))],
                capture_output=True,
                text=True,
                check=True,
            )
            own[(fmt, n)] = float(out.stdout.strip().splitlines()[-1])

    rows, targets = [], []
    lo, hi = min(files), max(files)
    for fmt in ("h5ad", "zarr"):
        print(f"## .{fmt}, {args.rounds} rounds (median seconds of whole processes)\n")
        head = " | ".join(f"{n:,} keys" for n in files)
        print(f"| command | {head} | ms per key ({lo:,} → {hi:,}) |")
        print("|---|" + "---:|" * (len(files) + 1))
        for what in ("floor", "plain", "show", "verify"):
            per_key = (med[(fmt, hi, what)] - med[(fmt, lo, what)]) / (hi - lo) * 1e3
            cells = " | ".join(f"{med[(fmt, n, what)]:.3f}" for n in files)
            print(f"| {LABELS[what]} | {cells} | {per_key:.4f} |")
            rows.append(
                {
                    "format": fmt,
                    "what": what,
                    "median_s": {str(n): med[(fmt, n, what)] for n in files},
                    "ms_per_key": per_key,
                }
            )
        own_cells = " | ".join(f"{own[(fmt, n)] * 1e3:.1f} ms" for n in files)
        own_per_key = (own[(fmt, hi)] - own[(fmt, lo)]) / (hi - lo) * 1e3
        print(f"| show's own work, in process | {own_cells} | {own_per_key:.4f} |")
        rows.append(
            {
                "format": fmt,
                "what": "show in process",
                "median_s": {str(n): own[(fmt, n)] for n in files},
                "ms_per_key": own_per_key,
            }
        )
        print(
            "\nshow / the plain open-and-list: "
            + ", ".join(
                f"{med[(fmt, n, 'show')] / med[(fmt, n, 'plain')]:.2f}x at {n:,} keys"
                for n in files
            )
            + "\n"
        )
        for what in ("show", "verify"):
            per_key = next(
                r["ms_per_key"] for r in rows if r["format"] == fmt and r["what"] == what
            )
            targets.append(
                C.target(
                    f"{what} cost per uns key, .{fmt} ({lo:,} → {hi:,} keys)",
                    f"< {TARGET_MS_PER_KEY} ms",
                    f"{per_key:.4f} ms (show in process {own_per_key:.4f} ms)"
                    if what == "show"
                    else f"{per_key:.4f} ms",
                    per_key < TARGET_MS_PER_KEY if not args.quick else None,
                )
            )
    C.print_targets(targets)
    load_end = C.loadavg()
    print(f"\nload average at end: {load_end}")
    C.write_json(
        args.json,
        {
            "info": {"load_start": load_start, "load_end": load_end, **C.machine_info()},
            "sizes": list(files),
            "rows": rows,
            "targets": targets,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
