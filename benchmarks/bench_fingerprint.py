"""How fast can a kNN graph be fingerprinted, relative to just copying it?

Builds the synthetic connectivities matrix of ``--n-obs`` cells (``_synth.knn_graph``) and
times, median of ``--repeats`` runs each:

* the baseline: ``np.copy`` of ``indptr``, ``indices`` and ``data`` (allocates, as a naive
  fingerprint that first materialises a canonical copy would); ``np.copyto`` into
  preallocated arrays is shown for reference (pure memory bandwidth);
* one hasher fed the three raw buffers in turn through ``memoryview(a).cast("B")`` (no
  copy): xxhash xxh3_64 / xxh3_128, blake3 on one thread and with
  ``max_threads=blake3.blake3.AUTO``, hashlib sha256 and blake2b;
* scipy's ``has_sorted_indices`` and ``has_canonical_format`` on a freshly constructed
  ``csr_matrix`` (so the cached flag is not reused);
* the project's own ``provenance._util.fingerprint.graph_fingerprint``, end to end: on a freshly
  constructed ``csr_matrix`` each run (so it pays scipy's ``has_sorted_indices`` check, as after
  reading a file), and on the same matrix object (flag cached, as on an AnnData in memory);
* ``graph_fingerprint`` on the same graph with the indices of every row reversed: then it must
  copy and sort the matrix first; the record says ``canonicalized=True`` and the digest equals
  that of the sorted graph.

Prints a markdown table: time, GB/s over the hashed bytes, and time / copy time.

    python benchmarks/bench_fingerprint.py               # 1M cells
    python benchmarks/bench_fingerprint.py --n-obs 100000 --repeats 11 --json out.json
    python benchmarks/bench_fingerprint.py --quick         # smoke run, 5000 cells
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import statistics
import sys
import time
from importlib.metadata import version
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import scipy.sparse as sp

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common
import _synth

if TYPE_CHECKING:
    from collections.abc import Callable


def _hasher(factory: Callable[[], object]) -> Callable[[list[np.ndarray]], bytes]:
    def run(arrays: list[np.ndarray]) -> bytes:
        h = factory()
        for a in arrays:
            h.update(memoryview(a).cast("B"))  # zero-copy view of the raw bytes
        return h.digest()

    return run


def _candidates() -> dict[str, Callable[[list[np.ndarray]], object]]:
    import xxhash

    rows = {
        "xxh3_64": _hasher(xxhash.xxh3_64),
        "xxh3_128": _hasher(xxhash.xxh3_128),
    }
    try:
        import blake3  # optional: not a dependency of the project
    except ImportError:
        print("note: blake3 is not installed; its rows are left out", file=sys.stderr)
    else:
        rows["blake3 (1 thread)"] = _hasher(lambda: blake3.blake3(max_threads=1))
        rows["blake3 (AUTO threads)"] = _hasher(
            lambda: blake3.blake3(max_threads=blake3.blake3.AUTO)
        )
    rows["sha256 (hashlib)"] = _hasher(hashlib.sha256)
    rows["blake2b (hashlib)"] = _hasher(hashlib.blake2b)
    return rows


def _median_s(fn: Callable[[], object], repeats: int, warmup: int = 1) -> tuple[float, list[float]]:
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter_ns()
        fn()
        times.append((time.perf_counter_ns() - t0) / 1e9)
    return statistics.median(times), times


def _median_flag(g: sp.csr_matrix, attr: str, repeats: int) -> tuple[float, list[float]]:
    """Time reading a cached-on-first-use flag, on a fresh matrix each repeat."""
    times = []
    for i in range(repeats + 1):
        m = sp.csr_matrix((g.data, g.indices, g.indptr), shape=g.shape)  # no copy, no flag
        assert not hasattr(m, "_has_sorted_indices") and not hasattr(m, "_has_canonical_format")
        t0 = time.perf_counter_ns()
        value = getattr(m, attr)
        dt = (time.perf_counter_ns() - t0) / 1e9
        assert value is True or value == True  # noqa: E712 - the synthetic graph is canonical
        if i:  # first one is warm-up
            times.append(dt)
    return statistics.median(times), times


def _reverse_rows(g: sp.csr_matrix) -> sp.csr_matrix:
    """The same matrix with the entries of every row in reverse order (unsorted indices)."""
    counts = np.diff(g.indptr)
    row_start = np.repeat(g.indptr[:-1], counts)
    row_end = np.repeat(g.indptr[1:], counts)
    pos = np.arange(g.nnz, dtype=np.int64)
    src = row_start + row_end - 1 - pos  # mirror each position within its row
    m = sp.csr_matrix((g.data[src], g.indices[src], g.indptr.copy()), shape=g.shape)
    assert not m.has_sorted_indices  # computed by scipy, not assumed
    return m


def _project_rows(g: sp.csr_matrix, repeats: int) -> tuple[list[dict], dict]:
    """``provenance._util.fingerprint.graph_fingerprint`` end to end, sorted and unsorted."""
    from provenance._util.fingerprint import graph_fingerprint

    rows = []
    fresh = lambda: sp.csr_matrix((g.data, g.indices, g.indptr), shape=g.shape)  # noqa: E731
    s, all_ = _median_s(lambda: graph_fingerprint(fresh()), repeats)
    rows.append(
        {
            "what": "provenance graph_fingerprint (fresh matrix: incl. sorted check)",
            "median_s": s,
            "times_s": all_,
            "project": "fresh",
        }
    )
    same = fresh()
    fp_sorted = graph_fingerprint(same)
    s, all_ = _median_s(lambda: graph_fingerprint(same), repeats)
    rows.append(
        {
            "what": "provenance graph_fingerprint (same matrix: flag cached)",
            "median_s": s,
            "times_s": all_,
            "project": "cached",
        }
    )
    unsorted = _reverse_rows(g)
    fp_unsorted = graph_fingerprint(unsorted)
    assert not unsorted.has_sorted_indices, "graph_fingerprint must not sort the caller's matrix"
    s, all_ = _median_s(lambda: graph_fingerprint(unsorted), repeats)
    rows.append(
        {
            "what": "provenance graph_fingerprint (unsorted indices: copy + sort)",
            "median_s": s,
            "times_s": all_,
            "project": "unsorted",
        }
    )
    facts = {
        "algorithm": fp_sorted.digest.split(":", 1)[0],
        "sorted_canonicalized": fp_sorted.canonicalized,
        "unsorted_canonicalized": fp_unsorted.canonicalized,
        "same_digest_sorted_and_unsorted": fp_sorted.digest == fp_unsorted.digest,
    }
    assert facts["sorted_canonicalized"] is False
    assert facts["unsorted_canonicalized"] is True
    assert facts["same_digest_sorted_and_unsorted"]
    return rows, facts


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n-obs", type=int, default=1_000_000)
    p.add_argument("--n-neighbors", type=int, default=15)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--repeats", type=int, default=9, help="timed runs per row (>= 7)")
    p.add_argument("--json", type=Path, help="also write the results here")
    p.add_argument("--quick", action="store_true", help="smoke run: 5000 cells, 7 repeats")
    args = p.parse_args(argv)
    if args.quick:
        args.n_obs, args.repeats = 5000, 7
    if args.repeats < 7:
        p.error("--repeats must be >= 7")
    load_start = _common.loadavg()

    t0 = time.perf_counter()
    g = _synth.knn_graph(args.n_obs, n_neighbors=args.n_neighbors, seed=args.seed)
    build_s = time.perf_counter() - t0
    arrays = [g.indptr, g.indices, g.data]
    nbytes = sum(a.nbytes for a in arrays)
    for a in arrays:
        assert a.flags.c_contiguous

    rows: list[dict] = []

    copy_s, copy_all = _median_s(lambda: [np.copy(a) for a in arrays], args.repeats)
    rows.append({"what": "np.copy (baseline)", "median_s": copy_s, "times_s": copy_all})
    dst = [np.empty_like(a) for a in arrays]
    s, all_ = _median_s(
        lambda: [np.copyto(d, a) for d, a in zip(dst, arrays, strict=True)], args.repeats
    )
    rows.append({"what": "np.copyto, preallocated", "median_s": s, "times_s": all_})

    for name, fn in _candidates().items():
        s, all_ = _median_s(lambda fn=fn: fn(arrays), args.repeats)
        rows.append({"what": name, "median_s": s, "times_s": all_})

    for attr in ("has_sorted_indices", "has_canonical_format"):
        s, all_ = _median_flag(g, attr, args.repeats)
        rows.append({"what": f"csr_matrix.{attr} (fresh)", "median_s": s, "times_s": all_})

    project_rows, facts = _project_rows(g, args.repeats)
    rows.extend(project_rows)

    index_bytes = g.indptr.nbytes + g.indices.nbytes  # what the flag checks read
    for r in rows:
        r["bytes"] = index_bytes if r["what"].startswith("csr_matrix.") else nbytes
        r["gb_per_s"] = r["bytes"] / r["median_s"] / 1e9
        r["ratio_to_copy"] = r["median_s"] / copy_s

    def pkg(name: str) -> str:
        try:
            return version(name)
        except Exception:
            return "?"

    info = {
        "n_obs": g.shape[0],
        "nnz": int(g.nnz),
        "bytes": {"indptr": g.indptr.nbytes, "indices": g.indices.nbytes, "data": g.data.nbytes},
        "total_bytes": nbytes,
        "dtypes": {
            "indptr": str(g.indptr.dtype),
            "indices": str(g.indices.dtype),
            "data": str(g.data.dtype),
        },
        "build_graph_s": build_s,
        "repeats": args.repeats,
        "cpu_count": os.cpu_count(),
        "python": platform.python_version(),
        "machine": platform.machine(),
        "versions": {n: pkg(n) for n in ("numpy", "scipy", "xxhash", "blake3")},
        "openssl": __import__("ssl").OPENSSL_VERSION,
    }

    print(f"# fingerprint throughput, {info['n_obs']:,} cells\n")
    print(
        f"- graph: nnz={info['nnz']:,}; indptr {g.indptr.dtype} {g.indptr.nbytes:,} B, "
        f"indices {g.indices.dtype} {g.indices.nbytes:,} B, data {g.data.dtype} "
        f"{g.data.nbytes:,} B; total {nbytes:,} B ({nbytes / 1e6:.1f} MB)"
    )
    print(
        f"- built in {build_s:.2f} s; median of {args.repeats} runs after 1 warm-up; "
        f"{info['cpu_count']} CPUs; python {info['python']}; "
        + ", ".join(f"{k} {v}" for k, v in info["versions"].items())
        + f"; {info['openssl']}\n"
    )
    print("| what | median ms | min–max ms | GB/s | time / np.copy |")
    print("|---|---:|---:|---:|---:|")
    for r in rows:
        print(
            f"| {r['what']} | {r['median_s'] * 1e3:.2f} | {min(r['times_s']) * 1e3:.2f}–"
            f"{max(r['times_s']) * 1e3:.2f} | {r['gb_per_s']:.2f} | {r['ratio_to_copy']:.2f} |"
        )
    print(
        "\nGB/s is over indptr+indices+data, except for the csr_matrix flag rows: over "
        "indptr+indices, the only arrays those checks read. time / np.copy compares with copying "
        "all three arrays."
    )

    # The target, measured once more in interleaved pairs against the copy (load changes
    # during a run; pairs see the same load).
    from provenance._util.fingerprint import graph_fingerprint

    def fresh_fp() -> object:
        return graph_fingerprint(sp.csr_matrix((g.data, g.indices, g.indptr), shape=g.shape))

    pair = _common.paired(lambda: [np.copy(a) for a in arrays], fresh_fp, max(args.repeats, 11))
    gbs = nbytes / pair["b_median_s"] / 1e9
    print(
        f"\nprovenance graph_fingerprint: algorithm {facts['algorithm']}; canonicalized=False on "
        "the sorted graph; on the row-reversed copy canonicalized="
        f"{facts['unsorted_canonicalized']}"
        f" (it copies and sorts; the record says so) and the digest equals the sorted graph's: "
        f"{facts['same_digest_sorted_and_unsorted']}. Interleaved pairs against np.copy "
        f"({pair['pairs']} pairs): {gbs:.2f} GB/s, time / np.copy = {pair['ratio_median']:.2f} "
        "(median of the per-pair ratios)."
    )
    targets = [
        _common.target(
            f"graph_fingerprint throughput, {info['n_obs']:,} cells",
            ">= 5 GB/s",
            f"{gbs:.2f} GB/s",
            gbs >= 5,
        ),
        _common.target(
            f"graph_fingerprint time / np.copy, {info['n_obs']:,} cells",
            "<= 2x",
            f"{pair['ratio_median']:.2f}x",
            pair["ratio_median"] <= 2,
        ),
        _common.target(
            "no copy unless indices are unsorted (then canonicalized=True)",
            "sorted: False, unsorted: True",
            f"sorted: {facts['sorted_canonicalized']}, unsorted: {facts['unsorted_canonicalized']}",
            not facts["sorted_canonicalized"] and facts["unsorted_canonicalized"],
        ),
    ]
    _common.print_targets(targets)
    load_end = _common.loadavg()
    print(f"\nload average: {load_start} at start, {load_end} at end")
    info.update(load_start=load_start, load_end=load_end, facts=facts)
    info["project_vs_copy_paired"] = {k: v for k, v in pair.items() if not k.endswith("times_s")}
    info["project_gb_per_s_paired"] = gbs
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(
            json.dumps({"info": info, "rows": rows, "targets": targets}, indent=2, default=str)
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
