"""What does ``provenance.record()`` add to a whole pipeline, from counts to markers?

The pipeline of issue 24, on realistic sparse counts made by :func:`make_counts`::

    sc.pp.normalize_total(adata, target_sum=1e4); sc.pp.log1p(adata)
    sc.pp.highly_variable_genes(adata, n_top_genes=2000); sc.pp.pca(adata, n_comps=50)
    sc.pp.neighbors(adata, n_neighbors=15); sc.tl.umap(adata)
    sc.tl.leiden(adata, flavor="igraph", n_iterations=2); sc.tl.rank_genes_groups(adata, "leiden")

run bare and inside one ``with provenance.record(adata):`` block, in interleaved pairs (the
order alternates from pair to pair), each run on a fresh object made, untimed, from the same
counts (``X`` and a ``layers["counts"]`` copy, as a user keeps them for a later replay; a
categorical ``obs["batch"]``, a text ``var["gene_ids"]``). Every step is timed inside both
runs, so the overhead is reported for the whole pipeline and for each step; the recorder's
own work in each recorded call is instrumented (the call objects' ``__init__`` + ``finish``),
and within it the slot snapshots (every slot digested before and after each call) apart from
the rest (the target's own description, the record, its encoding).

The counts: per-gene means log-normal (a long tail: a few genes take most of the counts),
planted cell groups with ~100 up-regulated marker genes each, log-normal library sizes, and
negative-binomial counts (shape 2) around those means, scaled so that ~7 % of the entries are
non-zero; CSR float32, int32 indices. Drawn by inverse CDF (a zero costs one uniform draw),
seeded, cached in ``benchmarks/_data/`` (``--rebuild`` draws them anew).

Above 4,096 cells scanpy searches neighbours with pynndescent; its ``csr_array`` result lacks
``getnnz`` under scipy >= 1.15 on some scanpy versions, so (as ``bench_lineage.py``) both runs
pass scanpy's own choice, ``PyNNDescentTransformer`` with scanpy's settings, as
``transformer=``.

    python benchmarks/bench_pipeline.py                       # 10k cells x 20k genes, 3 pairs
    python benchmarks/bench_pipeline.py --sizes 100000 --pairs 1
    python benchmarks/bench_pipeline.py --profile             # + where the recorder's time goes
    python benchmarks/bench_pipeline.py --quick               # smoke run, tiny data
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import pstats
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C

STEPS = (
    "normalize_total",
    "log1p",
    "highly_variable_genes",
    "pca",
    "neighbors",
    "umap",
    "leiden",
    "rank_genes_groups",
)
# The uns key each step's history is kept under (what the instrumented call objects name).
KEYS = {"hvg": "highly_variable_genes"}
LIMITS = {10_000: 5.0, 100_000: 2.0}  # the targets, % of the pipeline's own time


def make_counts(
    n_obs: int,
    n_vars: int = 20_000,
    *,
    n_groups: int = 12,
    density: float = 0.07,
    shape: float = 2.0,
    seed: int = 0,
) -> tuple[Any, Any]:
    """``(X, groups)``: realistic sparse counts (see the module docstring), CSR float32."""
    import numpy as np
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    mu = rng.lognormal(0.0, 1.8, size=n_vars)
    groups = rng.choice(n_groups, size=n_obs, p=rng.dirichlet(np.full(n_groups, 3.0)))
    fold = np.ones((n_groups, n_vars))
    for k in range(n_groups):
        markers = rng.choice(n_vars, min(100, n_vars), replace=False)
        fold[k, markers] = rng.lognormal(1.5, 0.5, size=len(markers))
    p = mu * fold
    p /= p.sum(axis=1, keepdims=True)
    lib = rng.lognormal(0.0, 0.5, size=n_obs)

    def zeros(scale: float) -> float:  # expected share of zeros, on the first 200 cells
        m = lib[:200, None] * scale * p[groups[:200]]
        return float(np.mean((shape / (shape + m)) ** shape))

    lo, hi = 1.0, 1e7  # library scale giving the density wanted (bisection, geometric)
    for _ in range(45):
        mid = (lo * hi) ** 0.5
        lo, hi = (mid, hi) if 1 - zeros(mid) < density else (lo, mid)
    libs = (lib * lo).astype(np.float32)
    pf = p.astype(np.float32)
    indptr, indices, data, nnz = [np.zeros(1, np.int64)], [], [], 0
    chunk = max(1, 20_000_000 // n_vars)
    for s in range(0, n_obs, chunk):
        e = min(s + chunk, n_obs)
        m = pf[groups[s:e]]
        m *= libs[s:e, None]
        p0 = (np.float32(shape) / (np.float32(shape) + m)) ** np.float32(shape)
        u = rng.random(m.shape, dtype=np.float32)
        rows, cols = np.nonzero(u >= p0)
        data.append(_nb_tail(m[rows, cols], u[rows, cols], shape))
        indices.append(cols.astype(np.int32))
        indptr.append(nnz + np.cumsum(np.bincount(rows, minlength=e - s)))
        nnz += len(rows)
    x = sp.csr_matrix(
        (np.concatenate(data), np.concatenate(indices), np.concatenate(indptr).astype(np.int32)),
        shape=(n_obs, n_vars),
    )
    return x, groups


def _nb_tail(mean: Any, u: Any, shape: float) -> Any:
    """The non-zero negative-binomial counts whose CDF first reaches ``u`` (float32)."""
    import numpy as np

    mean, u = mean.astype(np.float64), u.astype(np.float64)
    pk = (shape / (shape + mean)) ** shape  # P(0), then P(k)
    cdf, ratio = pk.copy(), mean / (shape + mean)
    out = np.zeros(len(mean), np.float32)
    active = np.arange(len(mean))
    k = 0
    while active.size:
        k += 1
        pk = pk * ((k - 1 + shape) / k) * ratio[active]
        cdf = cdf + pk
        done = (u[active] < cdf) | (k >= 5000)  # float rounding at u ~ 1: stop somewhere
        out[active[done]] = k
        keep = ~done
        active, pk, cdf = active[keep], pk[keep], cdf[keep]
    return out


def load_counts(n_obs: int, n_vars: int, *, rebuild: bool, cache: bool) -> tuple[Any, Any, float]:
    """:func:`make_counts`, cached in ``benchmarks/_data/``; ``(X, groups, seconds)``."""
    import numpy as np
    import scipy.sparse as sp

    path = C.DATA / f"pipeline_counts_{n_obs}x{n_vars}_v1.npz"
    t0 = time.perf_counter()
    if cache and path.exists() and not rebuild:
        with np.load(path) as f:
            x = sp.csr_matrix((f["data"], f["indices"], f["indptr"]), shape=tuple(f["shape"]))
            groups = f["groups"]
        return x, groups, time.perf_counter() - t0
    x, groups = make_counts(n_obs, n_vars)
    if cache:
        path.parent.mkdir(parents=True, exist_ok=True)
        arrays = {"data": x.data, "indices": x.indices, "indptr": x.indptr, "shape": x.shape}
        np.savez(path, groups=groups, **arrays)
    return x, groups, time.perf_counter() - t0


def fresh(x: Any, groups: Any) -> Any:
    """A new AnnData holding copies of the counts, as a user starts the pipeline."""
    import anndata as ad
    import numpy as np
    import pandas as pd

    n_obs, n_vars = x.shape
    obs = pd.DataFrame(
        {"batch": pd.Categorical(np.where(np.arange(n_obs) % 3 == 0, "b1", "b2"))},
        index=pd.Index([f"cell{i}" for i in range(n_obs)]),
    )
    var = pd.DataFrame(
        {"gene_ids": [f"ENSG{i:011d}" for i in range(n_vars)]},
        index=pd.Index([f"gene{i}" for i in range(n_vars)]),
    )
    adata = ad.AnnData(X=x.copy(), obs=obs, var=var)
    adata.layers["counts"] = x.copy()
    adata.uns["planted_groups"] = np.asarray(groups).size  # not a slot; marks the object
    return adata


def _nndescent(n_obs: int) -> Any:
    """scanpy's own search above 4,096 cells, returning a ``csr_matrix`` (module docstring)."""
    if n_obs <= 4096:
        return None
    import scipy.sparse as sp
    from pynndescent import PyNNDescentTransformer

    class CsrMatrixNNDescent(PyNNDescentTransformer):  # type: ignore[misc]
        def fit_transform(self, X: Any, y: Any = None, **kw: Any) -> Any:
            return sp.csr_matrix(super().fit_transform(X, y, **kw))

    return CsrMatrixNNDescent(n_neighbors=15, metric="euclidean", random_state=0)


def run_pipeline(adata: Any, *, record: bool, n_hvg: int) -> dict[str, float]:
    """Run the pipeline on ``adata``; seconds per step and ``"total"`` (incl. the block)."""
    import scanpy as sc

    import provenance

    calls = {
        "normalize_total": lambda: sc.pp.normalize_total(adata, target_sum=1e4),
        "log1p": lambda: sc.pp.log1p(adata),
        "highly_variable_genes": lambda: sc.pp.highly_variable_genes(adata, n_top_genes=n_hvg),
        "pca": lambda: sc.pp.pca(adata, n_comps=50, random_state=0),
        "neighbors": lambda: sc.pp.neighbors(
            adata, n_neighbors=15, random_state=0, transformer=_nndescent(adata.n_obs)
        ),
        "umap": lambda: sc.tl.umap(adata, random_state=0),
        "leiden": lambda: sc.tl.leiden(adata, flavor="igraph", n_iterations=2, random_state=0),
        "rank_genes_groups": lambda: sc.tl.rank_genes_groups(adata, "leiden", method="t-test"),
    }
    times: dict[str, float] = {}
    block = provenance.record(adata, strict=True) if record else contextlib.nullcontext()
    gc.collect()
    t0 = time.perf_counter()
    with block:
        for step in STEPS:
            s = time.perf_counter()
            calls[step]()
            times[step] = time.perf_counter() - s
    times["total"] = time.perf_counter() - t0
    return times


@contextlib.contextmanager
def instrument() -> Any:
    """Time the recorder's own work per recorded call (``__init__`` + ``finish`` of the call
    objects) and, within it, the slot snapshots. Yields ``{step: [[own_s, snapshot_s], ...]}``."""
    from provenance._record import call, history_call, step_call

    own: dict[str, list[list[float]]] = {}
    pending: dict[int, list[float]] = {}
    snap = [0.0]
    orig_snapshot = history_call.snapshot

    def snapshot(*a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        try:
            return orig_snapshot(*a, **k)
        finally:
            snap[0] += time.perf_counter() - t0

    saved = [(c, c.__init__, c.finish) for c in (call.Call, step_call.StepCall)]

    def wrap(orig_init: Any, orig_finish: Any) -> tuple[Any, Any]:
        def init(self: Any, *a: Any, **k: Any) -> None:
            snap[0] = 0.0
            t0 = time.perf_counter()
            orig_init(self, *a, **k)
            pending[id(self)] = [time.perf_counter() - t0, snap[0]]

        def finish(self: Any, *a: Any, **k: Any) -> Any:
            snap[0] = 0.0
            t0 = time.perf_counter()
            try:
                return orig_finish(self, *a, **k)
            finally:
                before = pending.pop(id(self), [0.0, 0.0])
                step = KEYS.get(self.key, self.key)
                own.setdefault(step, []).append(
                    [before[0] + time.perf_counter() - t0, before[1] + snap[0]]
                )

        return init, finish

    history_call.snapshot = snapshot  # type: ignore[assignment]
    for c, i, f in saved:
        c.__init__, c.finish = wrap(i, f)  # type: ignore[method-assign]
    try:
        yield own
    finally:
        history_call.snapshot = orig_snapshot  # type: ignore[assignment]
        for c, i, f in saved:
            c.__init__, c.finish = i, f  # type: ignore[method-assign]


def measure(x: Any, groups: Any, pairs: int, *, n_hvg: int, warmup: bool) -> dict[str, Any]:
    """Interleaved bare/recorded pipelines; per-step and total times, the recorder's own."""
    import provenance

    if warmup:  # numba compiles, caches: one of each, untimed, on a slice above 4,096 cells
        n = min(x.shape[0], 5000)
        for rec in (False, True):
            run_pipeline(fresh(x[:n], groups[:n]), record=rec, n_hvg=n_hvg)
    bare: list[dict[str, float]] = []
    recorded: list[dict[str, float]] = []
    with instrument() as own:
        for i in range(pairs):
            for rec in (False, True) if i % 2 == 0 else (True, False):
                adata = fresh(x, groups)
                times = run_pipeline(adata, record=rec, n_hvg=n_hvg)
                kind = "recorded" if rec else "bare"
                print(f"pair {i + 1}: {kind} {times['total']:.1f} s", file=sys.stderr, flush=True)
                (recorded if rec else bare).append(times)
                if rec:
                    kept = adata
                del adata
                gc.collect()
    steps = provenance.steps(kept)
    assert [KEYS.get(r.key, r.key) for r in steps] == list(STEPS), [r.key for r in steps]
    del kept
    rows = {}
    for what in (*STEPS, "total"):
        a = [t[what] for t in bare]
        b = [t[what] for t in recorded]
        diffs = [y - z for z, y in zip(a, b, strict=True)]
        rows[what] = {
            "a_median_s": statistics.median(a),
            "b_median_s": statistics.median(b),
            "diff_median_s": statistics.median(diffs),
            "diff_q1_s": C._quantile(diffs, 0.25),
            "diff_q3_s": C._quantile(diffs, 0.75),
            "ratio_median": statistics.median(y / z for z, y in zip(a, b, strict=True)),
            "a_times_s": a,
            "b_times_s": b,
        }
    own_rows = {
        step: {
            "own_median_s": statistics.median(o for o, _ in own.get(step, [[0.0, 0.0]])),
            "snapshot_median_s": statistics.median(s for _, s in own.get(step, [[0.0, 0.0]])),
            "n": len(own.get(step, [])),
        }
        for step in STEPS
    }
    per_run = [
        sum(own[s][i][0] for s in STEPS if s in own) for i in range(len(own.get(STEPS[0], [])))
    ]
    rows["total"]["recorder_own_median_s"] = statistics.median(per_run) if per_run else 0.0
    rows["total"]["recorder_own_s"] = per_run
    return {"pairs": pairs, "steps": rows, "own": own_rows}


def profile(x: Any, groups: Any, *, n_hvg: int, top: int) -> str:
    """cProfile of one recorded pipeline: the recorder's functions by cumulative time."""
    adata = fresh(x, groups)
    prof = cProfile.Profile()
    prof.enable()
    run_pipeline(adata, record=True, n_hvg=n_hvg)
    prof.disable()
    out = io.StringIO()
    stats = pstats.Stats(prof, stream=out).sort_stats("cumulative")
    stats.print_stats(r"provenance/(_record|_storage|_targets|_util)", top)
    return out.getvalue()


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=C.parse_sizes, default=[10_000])
    p.add_argument("--n-vars", type=int, default=20_000)
    p.add_argument("--pairs", type=int, default=3, help="bare/recorded pairs per size")
    p.add_argument(
        "--no-warmup", action="store_true", help="no untimed runs on a 5,000-cell slice first"
    )
    p.add_argument("--profile", action="store_true", help="+ cProfile of one recorded run")
    p.add_argument("--rebuild", action="store_true", help="draw the counts anew")
    p.add_argument("--quick", action="store_true", help="smoke run: 600 cells x 1000 genes")
    p.add_argument("--json", type=Path)
    p.add_argument(
        "--from-json", type=Path, nargs="+", help="print the tables of earlier runs' JSON again"
    )
    args = p.parse_args(argv)
    if args.from_json:
        return _render(args.from_json)
    if args.quick:  # no warm-up: the pair's first run compiles numba's functions
        args.sizes, args.n_vars, args.pairs, args.no_warmup = [600], 1000, 1, True
    C.quiet_warnings()
    load_start, git = C.loadavg(), C.git_commit()  # the code measured: at the start
    print("# recording overhead: the whole pipeline, counts to markers\n")
    print(f"load average at start: {load_start}\n")

    results: list[dict[str, Any]] = []
    for n in args.sizes:
        x, groups, build = load_counts(n, args.n_vars, rebuild=args.rebuild, cache=not args.quick)
        n_hvg = min(2000, args.n_vars // 4)
        r = measure(x, groups, args.pairs, n_hvg=n_hvg, warmup=not args.no_warmup)
        r.update(n_obs=n, n_vars=args.n_vars, nnz=int(x.nnz), build_s=build)
        r["density"] = x.nnz / (n * args.n_vars)
        if args.profile:
            r["profile"] = profile(x, groups, n_hvg=n_hvg, top=40)
        results.append(r)
        del x
        gc.collect()

    targets = _targets(results)
    load_end = C.loadavg()
    print(f"\nload average at end: {load_end}")
    C.write_json(
        args.json,
        {
            "info": {
                **C.machine_info(),
                "git": git,
                "load_start": load_start,
                "load_end": load_end,
            },
            "rows": results,
            "targets": targets,
        },
    )
    return 0


def _render(paths: list[Path]) -> int:
    """Print the tables and targets of earlier runs (``--json`` files) again."""
    import json

    for path in paths:
        run = json.loads(path.read_text())
        info = run["info"]
        print(f"`{path.name}`: git {info['git']}, load average {info['load_start']} at start\n")
        _targets(run["rows"])
        print(f"\nload average at end: {info['load_end']}\n")
    return 0


def _targets(results: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Print each size's table and the targets; the targets."""
    targets = []
    for r in results:
        _print(r)
        tot = r["steps"]["total"]
        pct = (tot["ratio_median"] - 1) * 100  # median of the pairs' ratios, as bench_overhead
        own_pct = tot["recorder_own_median_s"] / tot["a_median_s"] * 100
        same = _same_run(tot)
        limit = LIMITS.get(r["n_obs"])
        targets.append(
            C.target(
                f"record() overhead on the whole pipeline at {r['n_obs']:,} cells",
                f"<= {limit:g} %" if limit else "-",
                f"{pct:+.2f} % ({C.fmt_ms(tot['diff_median_s'])} ms of "
                f"{C.fmt_ms(tot['a_median_s'])} ms; {r['pairs']} pairs; paired extra IQR "
                f"{C.fmt_ms(tot['diff_q1_s'])} … {C.fmt_ms(tot['diff_q3_s'])} ms); recorder's own "
                f"work {C.fmt_ms(tot['recorder_own_median_s'])} ms = {own_pct:.2f} % of the bare "
                f"run, {same:.2f} % of the pipeline's own time in the same recorded run",
                C.overhead_met(pct, tot, limit_pct=limit) if limit else None,
            )
        )
    C.print_targets(targets)
    return targets


def _same_run(tot: dict[str, Any]) -> float:
    """The recorder's own work in % of the rest of the same recorded run (median over runs).

    Both parts are timed under the same load, which a bare run a few minutes away on a shared
    machine is not. Older JSON without the per-run figures: from the medians.
    """
    own = tot.get("recorder_own_s") or [tot["recorder_own_median_s"]]
    runs = tot["b_times_s"] if len(own) == len(tot["b_times_s"]) else [tot["b_median_s"]]
    return statistics.median(o / (t - o) * 100 for o, t in zip(own, runs, strict=True))


def _print(r: dict[str, Any]) -> None:
    print(
        f"## {r['n_obs']:,} cells x {r['n_vars']:,} genes, {r['nnz']:,} non-zero "
        f"({r['density'] * 100:.1f} %), {r['pairs']} pair(s); counts made or loaded in "
        f"{r['build_s']:.1f} s\n"
    )
    print(
        "| step | bare ms | recorded ms | extra ms (median) | extra ms IQR | extra / bare "
        "| recorder's own ms | of which snapshots ms |"
    )
    print("|---|---:|---:|---:|---|---:|---:|---:|")
    for what, s in r["steps"].items():
        own = r["own"].get(what)
        own_ms = own["own_median_s"] if own else s.get("recorder_own_median_s", 0.0)
        snap = C.fmt_ms(own["snapshot_median_s"]) if own else ""
        print(
            f"| {what} | {C.fmt_ms(s['a_median_s'])} | {C.fmt_ms(s['b_median_s'])} "
            f"| {C.fmt_ms(s['diff_median_s'])} | {C.fmt_ms(s['diff_q1_s'])} … "
            f"{C.fmt_ms(s['diff_q3_s'])} | {s['diff_median_s'] / s['a_median_s'] * 100:+.2f} % "
            f"| {C.fmt_ms(own_ms)} | {snap} |"
        )
    print(
        "\nextra: median over the pairs of (recorded - bare) per step; total includes entering "
        "and leaving the block. recorder's own: the recorder's work inside each recorded call "
        "(instrumented), and the part of it spent digesting every slot before and after the call."
    )
    if "profile" in r:
        print("\n<details><summary>cProfile of one recorded run (recorder functions)</summary>\n")
        print("```\n" + r["profile"].strip() + "\n```\n</details>\n")


if __name__ == "__main__":
    raise SystemExit(main())
