"""What does deep verification cost, and do worker processes help?

``provenance.audit(adata, deep=True)`` re-runs the latest record of every clustering key on its
recorded graph. Its floor is the clusterings themselves, so the baseline, measured in the same
run, is the bare sum of the same ``sc.tl.leiden``/``sc.tl.louvain`` calls (no ``record()``).

Data:

* pbmc68k_reduced (700 cells, its own graph) with 10 recorded keys: Leiden igraph flavor at 5
  resolutions, Leiden leidenalg flavor at 3, Louvain igraph flavor twice (it takes no
  resolution, and draws from Python's ``random``, whose recorded state the replay restores);
* a synthetic 100,000-cell kNN graph (``_synth.make_adata``, 15 neighbours, planted
  communities) with 3 keys: Leiden igraph flavor, Leiden leidenalg flavor, Louvain igraph.

Rows, medians over ``--rounds`` rounds whose order rotates (each round runs every row once):

* ``bare clusterings``: the calls one after another, unrecorded (the floor);
* ``audit``: the ordinary audit (graphs fingerprinted, labels compared);
* ``audit deep jobs=1``: the re-runs in this process;
* ``audit deep jobs=2``: the re-runs in 2 worker processes (a fork server that imported
  scanpy; its start-up, paid once per Python process, is in ``first jobs=2 call`` of the first
  data set; the second data set's first call is warm);
* ``audit path deep jobs=1``: the same from the ``.h5ad`` (only labels, graph and ``uns``
  read).

``deep / (audit + bare)`` near 1 means deep costs one clustering per key and little else.

    python benchmarks/bench_deep.py            # pbmc68k_reduced + 100k cells, 3 rounds
    python benchmarks/bench_deep.py --quick    # pbmc68k_reduced + 2,000 cells, 1 round
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

PBMC_KEYS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    *((f"ig_{r}", "leiden", {"flavor": "igraph", "n_iterations": 2, "resolution": r})
      for r in (0.3, 0.5, 0.8, 1.0, 1.5)),
    *((f"la_{r}", "leiden", {"flavor": "leidenalg", "resolution": r}) for r in (0.5, 1.0, 1.5)),
    *((f"lv_{i}", "louvain", {"flavor": "igraph"}) for i in (1, 2)),
)  # fmt: skip
SYNTH_KEYS: tuple[tuple[str, str, dict[str, Any]], ...] = (
    ("ig", "leiden", {"flavor": "igraph", "n_iterations": 2}),
    ("la", "leiden", {"flavor": "leidenalg"}),
    ("lv", "louvain", {"flavor": "igraph"}),
)


def _cluster(adata: Any, keys: tuple[tuple[str, str, dict[str, Any]], ...]) -> None:
    import random
    import warnings

    import scanpy as sc

    random.seed(0)  # louvain's igraph flavor draws from Python's random
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # scanpy's notice about future defaults
        warnings.filterwarnings("ignore", message="The `igraph` implementation")
        for key, fn, kwargs in keys:
            getattr(sc.tl, fn)(adata, key_added=key, random_state=0, **kwargs)


def measure(
    name: str, adata: Any, keys: tuple[tuple[str, str, dict[str, Any]], ...], rounds: int
) -> dict[str, Any]:
    import provenance

    bare = adata.copy()
    with provenance.record(adata):
        _cluster(adata, keys)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "deep.h5ad"
        adata.write_h5ad(path)
        first = time.perf_counter()
        report = provenance.audit(adata, deep=True, jobs=2)
        first_s = time.perf_counter() - first
        assert report.ok, report.findings  # every key replays identically
        deep_keys = [e.key for e in report.entries if e.latest is not None]
        assert len(deep_keys) == len(keys), deep_keys
        rows: dict[str, Any] = {
            "bare clusterings": lambda: _cluster(bare, keys),
            "audit": lambda: provenance.audit(adata),
            "audit deep jobs=1": lambda: provenance.audit(adata, deep=True, jobs=1),
            "audit deep jobs=2": lambda: provenance.audit(adata, deep=True, jobs=2),
            "audit path deep jobs=1": lambda: provenance.audit(path, deep=True, jobs=1),
        }
        times: dict[str, list[float]] = {k: [] for k in rows}
        names = list(rows)
        for i in range(rounds):
            for row in names[i % len(names) :] + names[: i % len(names)]:
                times[row].append(C.timed(rows[row]))
    med = {k: statistics.median(v) for k, v in times.items()}
    floor = med["audit"] + med["bare clusterings"]
    return {
        "data": name,
        "n_obs": int(adata.n_obs),
        "n_keys": len(keys),
        "rounds": rounds,
        "times_s": times,
        "median_s": med,
        "first_jobs2_s": first_s,
        "deep_over_floor_jobs1": med["audit deep jobs=1"] / floor,
        "deep_over_floor_jobs2": med["audit deep jobs=2"] / floor,
        "speedup_jobs2": med["audit deep jobs=1"] / med["audit deep jobs=2"],
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n-obs", type=int, default=100_000, help="cells of the synthetic graph")
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--quick", action="store_true", help="smoke run: 2,000 cells, 1 round")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    n_obs, rounds = (2000, 1) if args.quick else (args.n_obs, args.rounds)

    import scanpy as sc
    from _synth import make_adata

    load_start = C.loadavg()
    print("# deep verification: audit(deep=True) against the bare clusterings\n")
    print(f"load average at start: {load_start}\n")
    pbmc = sc.datasets.pbmc68k_reduced()
    del pbmc.obs["louvain"], pbmc.uns["louvain"]  # shipped unrecorded: not part of the test
    print(
        "| data | cells | keys | bare clusterings s | audit s | deep jobs=1 s | deep jobs=2 s "
        "| first jobs=2 call s | from .h5ad deep jobs=1 s | deep / (audit + bare), jobs=1 "
        "| jobs=2 | jobs=1 / jobs=2 |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|", flush=True)
    results = []
    for name, adata, keys in (
        ("pbmc68k_reduced", pbmc, PBMC_KEYS),
        ("synthetic kNN", make_adata(n_obs, n_vars=200), SYNTH_KEYS),
    ):
        r = measure(name, adata, keys, rounds)
        results.append(r)
        m = r["median_s"]
        print(
            f"| {r['data']} | {r['n_obs']:,} | {r['n_keys']} | {m['bare clusterings']:.2f} "
            f"| {m['audit']:.2f} | {m['audit deep jobs=1']:.2f} | {m['audit deep jobs=2']:.2f} "
            f"| {r['first_jobs2_s']:.1f} | {m['audit path deep jobs=1']:.2f} "
            f"| {r['deep_over_floor_jobs1']:.2f} | {r['deep_over_floor_jobs2']:.2f} "
            f"| {r['speedup_jobs2']:.2f} |",
            flush=True,
        )
    load_end = C.loadavg()
    print(f"\nMedians of {rounds} round(s). load average at end: {load_end}")
    big = results[-1]
    targets = [
        C.target(
            f"deep jobs=1 / (audit + bare clusterings), {r['data']} {r['n_keys']} keys",
            "<= 1.5",
            f"{r['deep_over_floor_jobs1']:.2f}",
            None if args.quick else r["deep_over_floor_jobs1"] <= 1.5,
        )
        for r in results
    ]
    targets.append(
        C.target(
            f"jobs=2 faster than jobs=1, {big['n_obs']:,} cells {big['n_keys']} keys",
            "speed-up > 1",
            f"{big['speedup_jobs2']:.2f}x",
            None if args.quick else big["speedup_jobs2"] > 1,
        )
    )
    C.write_json(
        args.json,
        {
            "info": C.machine_info(),
            "rows": results,
            "targets": targets,
            "load": [load_start, load_end],
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
