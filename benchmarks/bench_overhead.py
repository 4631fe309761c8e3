"""What does ``provenance.record()`` add to a Leiden clustering?

For each size, an AnnData from ``_synth.make_adata`` (scanpy-like kNN graph, 15 neighbours,
planted communities; ``X`` is small because neither path touches it) is clustered with
``sc.tl.leiden(adata, flavor="igraph", n_iterations=2, random_state=0)`` bare and inside
``with provenance.record(adata):``, in interleaved pairs (the order alternates within pairs)
with the same seed, so both runs compute the same partition. Before every run, untimed, the
key's ``obs`` column, ``uns`` entry and ``uns["provenance_index"]`` are removed, so every
recorded run writes a first version (a repeat of an identical recorded run is deduplicated
by the recorder and would write nothing, which would flatter the figure).

Reported: median bare time, median recorded time, median of the per-pair ratios and of the
per-pair differences; then the time of the provenance pieces alone (graph fingerprint, label
digests incl. the ``obs_names`` digest, record creation with validation and digest, JSON
encoding), so the extra time explains itself. The same on ``sc.datasets.pbmc68k_reduced()``
(700 cells), after a warm-up call of each kind in the process.

    python benchmarks/bench_overhead.py                       # 10k, 100k, 1M + pbmc68k
    python benchmarks/bench_overhead.py --sizes 10000 --pairs 5 --pbmc-pairs 50
    python benchmarks/bench_overhead.py --quick               # smoke run, tiny sizes
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import _synth

KEY = "bench_leiden"


def default_pairs(n_obs: int) -> int:
    """Fewer pairs where one clustering takes many seconds.

    At 100k cells one call takes ~4 s and varies by ~5 % run to run, so resolving a 1 % overhead
    in the median of the paired differences takes ~20 pairs (7 gave medians from -8 % to +4 %
    between runs). At 1M cells (~65 s a call) 5 pairs are what fits; there the recorder's own,
    instrumented work is the precise figure.
    """
    if n_obs >= 1_000_000:
        return 5
    if n_obs >= 100_000:
        return 21
    return 15


def _reset(adata: Any) -> None:
    if KEY in adata.obs:
        del adata.obs[KEY]
    adata.uns.pop(KEY, None)
    adata.uns.pop("provenance_index", None)


def measure(adata: Any, pairs: int, *, warmup: bool) -> dict[str, Any]:
    """Paired bare/recorded timings on ``adata`` and the provenance pieces alone."""
    import scanpy as sc

    import provenance
    from provenance._schema.models import ClusteringRecord
    from provenance._storage.codec import encode_record
    from provenance._util.fingerprint import graph_fingerprint, label_digests, obs_names_digest

    def bare() -> None:
        sc.tl.leiden(adata, flavor="igraph", n_iterations=2, random_state=0, key_added=KEY)

    def recorded() -> None:
        with provenance.record(adata, strict=True):
            sc.tl.leiden(adata, flavor="igraph", n_iterations=2, random_state=0, key_added=KEY)

    if warmup:
        for fn in (bare, recorded):
            _reset(adata)
            fn()
    with _instrument() as own:
        res = C.paired(bare, recorded, pairs, setup=lambda: _reset(adata))
    assert len(own) == pairs

    # Same partition both ways, and the recorded run really wrote a record.
    _reset(adata)
    bare()
    bare_codes = adata.obs[KEY].cat.codes.to_numpy().copy()
    _reset(adata)
    recorded()
    assert (adata.obs[KEY].cat.codes.to_numpy() == bare_codes).all()
    rec = provenance.latest(adata, KEY)
    assert rec is not None and rec.version == 1
    n_clusters = rec.result.n_clusters

    # The pieces alone.
    reps = max(3, min(25, pairs * 3))  # the pieces are quick: more repeats
    conn = adata.obsp["connectivities"]
    labels, names = adata.obs[KEY], adata.obs_names
    fields = {
        k: getattr(rec, k)
        for k in type(rec).model_fields
        if k not in ("id", "digest", "schema_version")
    }
    pieces = {
        "graph_fingerprint": C.median_time(lambda: graph_fingerprint(conn), reps),
        "label_digests (incl. obs_names)": C.median_time(
            lambda: label_digests(labels, names), reps
        ),
        "  of which obs_names_digest": C.median_time(lambda: obs_names_digest(names), reps),
        "ClusteringRecord.create": C.median_time(lambda: ClusteringRecord.create(**fields), reps),
        "encode_record (JSON)": C.median_time(lambda: encode_record(rec), reps),
        "record() enter + exit": C.median_time(_enter_exit(adata), reps),
    }
    counted = [v["median_s"] for k, v in pieces.items() if not k.startswith(" ")]
    return {
        "n_obs": int(adata.n_obs),
        "nnz": int(conn.nnz),
        "graph_bytes": int(conn.data.nbytes + conn.indices.nbytes + conn.indptr.nbytes),
        "n_clusters": n_clusters,
        "record_bytes": len(encode_record(rec).encode()),
        **{k: v for k, v in res.items() if not k.endswith("times_s")},
        "bare_times_s": res["a_times_s"],
        "recorded_times_s": res["b_times_s"],
        "pieces": pieces,
        "pieces_sum_s": sum(counted),
        "recorder_own_s": own,
        "recorder_own_median_s": statistics.median(own),
    }


def _enter_exit(adata: Any) -> Any:
    import provenance

    def run() -> None:
        with provenance.record(adata, strict=True):
            pass

    return run


@contextlib.contextmanager
def _instrument() -> Any:
    """Time the recorder's own work in each recorded call: the real ``_Call.__init__`` (bind,
    params, read the history) plus ``_Call.finish`` (fingerprints, record, encoding, writing).
    Yields the list of per-call seconds; the timers add microseconds."""
    from provenance._record import recorder as _recorder

    own: list[float] = []
    orig_init, orig_finish = _recorder._Call.__init__, _recorder._Call.finish
    pending: dict[int, float] = {}

    def init(self: Any, *a: Any, **k: Any) -> None:
        t0 = time.perf_counter()
        orig_init(self, *a, **k)
        pending[id(self)] = time.perf_counter() - t0

    def finish(self: Any, *a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return orig_finish(self, *a, **k)
        finally:
            own.append(pending.pop(id(self)) + time.perf_counter() - t0)

    _recorder._Call.__init__, _recorder._Call.finish = init, finish  # type: ignore[method-assign]
    try:
        yield own
    finally:
        _recorder._Call.__init__, _recorder._Call.finish = orig_init, orig_finish  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=C.parse_sizes, default=[10_000, 100_000, 1_000_000])
    p.add_argument("--pairs", type=int, default=None, help="pairs per size (default 15/21/5)")
    p.add_argument("--pbmc-pairs", type=int, default=60, help="pairs on pbmc68k_reduced")
    p.add_argument("--no-pbmc", action="store_true")
    p.add_argument("--quick", action="store_true", help="smoke run: 1000 cells, 2 pairs")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.pairs, args.pbmc_pairs = [1000], 2, 3
    C.quiet_warnings()
    load_start = C.loadavg()
    import scanpy as sc

    rows: list[dict[str, Any]] = []
    print("# recording overhead: sc.tl.leiden(flavor='igraph', n_iterations=2)\n")
    print(f"load average at start: {load_start}\n")

    pbmc = None
    if not args.no_pbmc:
        adata = sc.datasets.pbmc68k_reduced()
        pbmc = measure(adata, args.pbmc_pairs, warmup=True)
        pbmc["dataset"] = "pbmc68k_reduced"
        del adata

    for n in args.sizes:
        t0 = time.perf_counter()
        adata = _synth.make_adata(n, n_vars=50, density=0.1)
        build = time.perf_counter() - t0
        pairs = args.pairs or default_pairs(n)
        # A warm-up pair costs two extra clusterings: only where they are cheap.
        r = measure(adata, pairs, warmup=n < 1_000_000)
        r["dataset"] = f"synthetic {n:,}"
        r["build_s"] = build
        rows.append(r)
        del adata

    all_rows = ([pbmc] if pbmc else []) + rows
    print(
        "| data | cells | edges (nnz) | clusters | pairs | bare ms | recorded ms | "
        "ratio (median) | extra ms (median) | extra ms IQR | recorder's own ms (instrumented) "
        "| own / bare |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in all_rows:
        print(
            f"| {r['dataset']} | {r['n_obs']:,} | {r['nnz']:,} | {r['n_clusters']} | {r['pairs']} "
            f"| {C.fmt_ms(r['a_median_s'])} | {C.fmt_ms(r['b_median_s'])} "
            f"| {r['ratio_median']:.4f} | {C.fmt_ms(r['diff_median_s'])} "
            f"| {C.fmt_ms(r['diff_q1_s'])} … {C.fmt_ms(r['diff_q3_s'])} "
            f"| {C.fmt_ms(r['recorder_own_median_s'])} "
            f"| {r['recorder_own_median_s'] / r['a_median_s'] * 100:.3f} % |"
        )
    print(
        "\nratio and extra: medians over the pairs of (recorded / bare) and (recorded - bare), "
        "whole calls. recorder's own: the recorder's work inside each recorded call, timed "
        "around its two methods (everything it adds besides one wrapper call and entering/"
        "leaving the block, which is in the pieces below)."
    )
    print("\nThe provenance pieces alone (median ms):\n")
    names = list(all_rows[0]["pieces"]) if all_rows else []
    print("| data | " + " | ".join(n.strip() for n in names) + " | sum (excl. 'of which') |")
    print("|---|" + "---:|" * (len(names) + 1))
    for r in all_rows:
        cells = " | ".join(C.fmt_ms(r["pieces"][n]["median_s"]) for n in names)
        print(f"| {r['dataset']} | {cells} | {C.fmt_ms(r['pieces_sum_s'])} |")
    if all_rows:
        print(f"\nencoded record: {all_rows[-1]['record_bytes']:,} bytes.")

    targets = []
    for r in rows:
        if r["n_obs"] >= 100_000:
            pct = (r["ratio_median"] - 1) * 100
            targets.append(
                C.target(
                    f"record() overhead at {r['n_obs']:,} cells",
                    "<= 1 %",
                    f"{pct:+.2f} % ({C.fmt_ms(r['diff_median_s'])} ms of "
                    f"{C.fmt_ms(r['a_median_s'])} ms; {r['pairs']} pairs; paired extra IQR "
                    f"{C.fmt_ms(r['diff_q1_s'])} … {C.fmt_ms(r['diff_q3_s'])} ms); recorder's "
                    f"own work {C.fmt_ms(r['recorder_own_median_s'])} ms = "
                    f"{r['recorder_own_median_s'] / r['a_median_s'] * 100:.2f} %",
                    C.overhead_met(pct, r),
                )
            )
    if pbmc:
        targets.append(
            C.target(
                "record() extra time on pbmc68k_reduced",
                "<= 3 ms",
                f"{C.fmt_ms(pbmc['diff_median_s'])} ms (median of {pbmc['pairs']} pairs; "
                f"recorder's own work {C.fmt_ms(pbmc['recorder_own_median_s'])} ms + enter/exit "
                f"{C.fmt_ms(pbmc['pieces']['record() enter + exit']['median_s'])} ms)",
                pbmc["diff_median_s"] <= 0.003,
            )
        )
    C.print_targets(targets)
    load_end = C.loadavg()
    print(f"\nload average at end: {load_end}")
    C.write_json(
        args.json,
        {
            "info": {"load_start": load_start, "load_end": load_end, **C.machine_info()},
            "pbmc": pbmc,
            "rows": rows,
            "targets": targets,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
