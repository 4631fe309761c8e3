"""``provenance show`` of a small recorded ``.h5ad`` as a whole process, against the floor.

The floor is ``python -c "import numpy, h5py"``: starting python and importing what any reader
of an ``.h5ad`` needs. The goal (issue 26) is ``show`` within 2.0x of it. The file is
pbmc68k_reduced (700 cells, ships with scanpy) with one ``sc.tl.leiden(flavor="igraph")``
recorded, written to a temporary directory.

The two commands alternate (pair i runs the floor first when i is even, ``show`` first when
odd) after one untimed round; the ratio is the median of the per-pair ratios, the paired
figure. The machine is shared, so CPU time (user + system of the child process, from
``getrusage``) is given beside the wall time: it moves less with the load. Further rows,
timed in the same rounds, place the figure: ``import numpy, h5py, pydantic`` with one model
defined and used; numpy, h5py, the record models and validating the file's records (what any
``show`` that validates the records as pydantic models costs at least); ``import provenance``.
Every command runs with ``PYDANTIC_DISABLE_PLUGINS=__all__``, as the command line sets it.

Bytecode: as in ``bench_cli.py``, ``PYTHONDONTWRITEBYTECODE`` is cleared for the commands, so
the untimed round writes any missing ``__pycache__`` and every timed command runs from cached
bytecode, as an installed environment does. Standard output is a pipe, not a terminal, so
``show`` prints plain text (on a terminal it prints a rich table, which imports rich).

    python benchmarks/bench_startup.py              # 21 pairs
    python benchmarks/bench_startup.py --quick      # smoke run: 2 pairs
"""

from __future__ import annotations

import argparse
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

GOAL = 2.0
PYDANTIC_FLOOR = (
    "import numpy, h5py, pydantic\nclass M(pydantic.BaseModel):\n    a: int\nM(a=1).model_dump()"
)
# The least any ``show`` that validates the records as pydantic models costs: the record models
# as ``show`` defines them (every readable schema version: the current ones subclass the older)
# and the file's records validated, without audit, command line or rendering.
RECORDS_FLOOR = (
    "import json, sys, h5py\n"
    "from provenance._schema.models import validate_any\n"
    "with h5py.File(sys.argv[1], 'r') as f:\n"
    "    for text in f['uns/leiden/provenance/history'][()]:\n"
    "        validate_any(json.loads(text))\n"
)


def make_file(directory: Path) -> Path:
    """pbmc68k_reduced with one recorded leiden clustering, as ``small.h5ad``."""
    import scanpy as sc

    import provenance

    adata = sc.datasets.pbmc68k_reduced()
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="leiden", flavor="igraph", n_iterations=2)
    path = directory / "small.h5ad"
    adata.write_h5ad(path)
    return path


def run(cmd: list[str], env: dict[str, str]) -> tuple[float, float]:
    """(wall seconds, CPU seconds) of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    t0 = time.perf_counter()
    subprocess.run(cmd, env=env, stdout=subprocess.DEVNULL, check=True)
    wall = time.perf_counter() - t0
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu


def _quartiles(xs: list[float]) -> list[float]:
    return statistics.quantiles(xs, n=4, method="inclusive") if len(xs) > 1 else xs * 3


def measure(path: Path, pairs: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(C.REPO), env.get("PYTHONPATH")]))
    # As the command line runs (it sets this unless it is set): no pydantic plugins are looked for.
    env.setdefault("PYDANTIC_DISABLE_PLUGINS", "__all__")
    py = sys.executable
    floor = [py, "-c", "import numpy, h5py"]
    show = [py, "-m", "provenance", "show", str(path)]
    others = {
        "python -c 'import numpy, h5py, pydantic' + one model": [py, "-c", PYDANTIC_FLOOR],
        "python -c 'import provenance'": [py, "-c", "import provenance"],
        "numpy, h5py + the record models + validating the file's records": [
            py,
            "-c",
            RECORDS_FLOOR,
            str(path),
        ],
    }
    for cmd in (floor, show, *others.values()):  # writes bytecode caches, warms the page cache
        run(cmd, env)
    times: dict[str, list[tuple[float, float]]] = {"floor": [], "show": []}
    times.update({name: [] for name in others})
    for i in range(pairs):
        order = [("floor", floor), ("show", show)]
        for name, cmd in order if i % 2 == 0 else order[::-1]:
            times[name].append(run(cmd, env))
        for name, cmd in others.items():
            times[name].append(run(cmd, env))
    ratios = [s[0] / f[0] for f, s in zip(times["floor"], times["show"], strict=True)]
    cpu_ratios = [s[1] / f[1] for f, s in zip(times["floor"], times["show"], strict=True)]
    rows = []
    labels = {"floor": "python -c 'import numpy, h5py' (floor)", "show": "provenance show"}
    for name, ts in times.items():
        wall = statistics.median(t[0] for t in ts)
        cpu = statistics.median(t[1] for t in ts)
        rows.append({"what": labels.get(name, name), "median_s": wall, "cpu_s": cpu})
    floor_wall, floor_cpu = rows[0]["median_s"], rows[0]["cpu_s"]
    for row in rows:
        row["x_floor"] = row["median_s"] / floor_wall
        row["cpu_x_floor"] = row["cpu_s"] / floor_cpu
    return {
        "pairs": pairs,
        "ratio_median": statistics.median(ratios),
        "ratio_q1": _quartiles(ratios)[0],
        "ratio_q3": _quartiles(ratios)[2],
        "cpu_ratio_median": statistics.median(cpu_ratios),
        "rows": rows,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--pairs", type=int, default=21, help="interleaved pairs (default 21)")
    p.add_argument("--quick", action="store_true", help="smoke run: 2 pairs")
    p.add_argument("--json", type=Path, default=None, help="write the figures here")
    args = p.parse_args(argv)
    pairs = 2 if args.quick else args.pairs
    load_start = C.loadavg()
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        res = measure(make_file(Path(tmp)), pairs)
    load_end = C.loadavg()
    ratio = res["ratio_median"]
    measured = (
        f"{ratio:.2f}x wall (median of {pairs} paired ratios, IQR {res['ratio_q1']:.2f}"
        f"–{res['ratio_q3']:.2f}; {res['rows'][1]['median_s']:.3f} s vs "
        f"{res['rows'][0]['median_s']:.3f} s); CPU {res['cpu_ratio_median']:.2f}x"
    )
    targets = [
        {
            "what": "provenance show start-up / python -c 'import numpy, h5py'",
            "target": f"<= {GOAL}x",
            "measured": measured,
            "met": None if args.quick else ratio <= GOAL,
        }
    ]
    print("## provenance show start-up against the floor\n")
    print(f"load average at start: {load_start}; at end: {load_end}\n")
    print("| command (whole process) | wall median s | x floor | CPU median s | CPU x floor |")
    print("|---|---|---|---|---|")
    for r in res["rows"]:
        print(
            f"| {r['what']} | {r['median_s']:.3f} | {r['x_floor']:.2f} | {r['cpu_s']:.3f} | "
            f"{r['cpu_x_floor']:.2f} |"
        )
    print(
        f"\nPaired: show / floor = {ratio:.2f}x (median of {pairs} per-pair ratios, IQR "
        f"{res['ratio_q1']:.2f}–{res['ratio_q3']:.2f}); CPU time {res['cpu_ratio_median']:.2f}x."
    )
    C.print_targets(targets)
    C.write_json(
        args.json,
        {
            "info": {**C.machine_info(), "load_start": load_start, "load_end": load_end},
            "results": [res],
            "targets": targets,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
