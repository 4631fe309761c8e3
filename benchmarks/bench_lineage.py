"""What does ``provenance.record()`` add to ``sc.pp.neighbors`` and ``sc.tl.rank_genes_groups``?

The lineage records of issue 14: a neighbors record hashes the representation it read (the
whole ``obsm["X_pca"]``) and fingerprints both graphs it wrote; a markers record hashes the
labels it grouped by (partition and label-name digests) and never reads ``X``.

For each size, an AnnData with ``obsm["X_pca"]`` (50 float32 components around planted
community centres), a sparse ``X`` (``--n-vars`` genes, 10 % dense, counts raised in each
community's marker genes) and the planted communities in ``obs["groups"]`` is built by this
script. Then, in interleaved pairs (order alternating) with the same arguments:

* ``sc.pp.neighbors(adata, n_neighbors=15, use_rep="X_pca", random_state=0)`` bare and inside
  ``with provenance.record(adata):``;
* ``sc.tl.rank_genes_groups(adata, "groups", method="t-test", use_raw=False)`` bare and
  recorded.

Before every run, untimed, the step's ``uns`` entry (with its history), its graphs and
``uns["provenance_index"]`` are removed, so every recorded run writes a first version (a
repeat of an identical recorded run is deduplicated and would write nothing).

Reported: medians of bare and recorded times, of the per-pair ratios and differences; the
recorder's own work inside each recorded call (instrumented around the recorder's call
objects); the pieces alone (representation digest, graph fingerprints, label digests).

Above 4,096 cells scanpy (1.11 and 1.12) searches neighbours with pynndescent, whose
``csr_array`` result scanpy then calls ``getnnz`` on, which scipy >= 1.15 removed. The
neighbors calls here pass scanpy's own choice, ``PyNNDescentTransformer`` with the same
settings, as ``transformer=``, returning a ``csr_matrix`` (both runs alike).

    python benchmarks/bench_lineage.py                  # 100k cells
    python benchmarks/bench_lineage.py --sizes 10000 --pairs 3
    python benchmarks/bench_lineage.py --quick          # smoke run, tiny sizes
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

STEPS = ("neighbors", "rank_genes_groups")


def make_adata(n_obs: int, *, n_vars: int = 2000, n_groups: int = 12, seed: int = 0) -> Any:
    """Planted communities: clustered PCA coordinates and marker genes (see the docstring)."""
    import anndata as ad
    import numpy as np
    import pandas as pd
    import scipy.sparse as sp

    rng = np.random.default_rng(seed)
    groups = rng.integers(0, n_groups, size=n_obs)
    centres = rng.normal(0, 4, size=(n_groups, 50)).astype(np.float32)
    pca = centres[groups] + rng.normal(0, 1, size=(n_obs, 50)).astype(np.float32)
    x = sp.random(n_obs, n_vars, density=0.1, format="csr", dtype=np.float32, random_state=rng)
    x.data = np.log1p(x.data * 5).astype(np.float32)
    # Each community's 20 marker genes are raised in half of its cells.
    markers = rng.integers(0, n_vars, size=(n_groups, 20))
    cells = np.flatnonzero(rng.random(n_obs) < 0.5)
    rows = np.repeat(cells, 20)
    cols = markers[groups[cells]].ravel()
    bump = sp.csr_matrix(
        (np.full(len(rows), 2.0, dtype=np.float32), (rows, cols)), shape=(n_obs, n_vars)
    )
    adata = ad.AnnData(
        X=(x + bump).tocsr(),
        obs=pd.DataFrame(
            {"groups": pd.Categorical(groups.astype(str))},
            index=[f"cell{i}" for i in range(n_obs)],
        ),
        var=pd.DataFrame(index=[f"gene{i}" for i in range(n_vars)]),
    )
    adata.obsm["X_pca"] = pca
    return adata


def _reset(adata: Any, step: str) -> None:
    adata.uns.pop(step, None)
    adata.uns.pop("provenance_index", None)
    if step == "neighbors":
        for k in ("connectivities", "distances"):
            adata.obsp.pop(k, None)


def _calls(adata: Any, step: str) -> tuple[Any, Any]:
    import scanpy as sc

    import provenance

    if step == "neighbors":

        def run() -> None:
            sc.pp.neighbors(
                adata, n_neighbors=15, use_rep="X_pca", random_state=0, transformer=_nndescent()
            )
    else:

        def run() -> None:
            sc.tl.rank_genes_groups(adata, "groups", method="t-test", use_raw=False)

    def recorded() -> None:
        with provenance.record(adata, strict=True):
            run()

    return run, recorded


def _nndescent() -> Any:
    """scanpy's default search above 4,096 cells, returning what scanpy can read (see the
    module docstring)."""
    import scipy.sparse as sp
    from pynndescent import PyNNDescentTransformer

    class CsrMatrixNNDescent(PyNNDescentTransformer):  # type: ignore[misc]
        def fit_transform(self, X: Any, y: Any = None, **kw: Any) -> Any:
            return sp.csr_matrix(super().fit_transform(X, y, **kw))

        def transform(self, X: Any, **kw: Any) -> Any:
            return sp.csr_matrix(super().transform(X, **kw))

    return CsrMatrixNNDescent(n_neighbors=15, metric="euclidean", random_state=0)


def measure(adata: Any, step: str, pairs: int) -> dict[str, Any]:
    """Paired bare/recorded timings of one step, and the recorder's own work."""
    import provenance

    bare, recorded = _calls(adata, step)
    for fn in (bare, recorded):  # warm-up (numba compiles, caches)
        _reset(adata, step)
        fn()
    with _instrument() as own:
        res = C.paired(bare, recorded, pairs, setup=lambda: _reset(adata, step))
    assert len(own) == pairs, f"{len(own)} recorded calls instrumented, expected {pairs}"
    _reset(adata, step)
    recorded()
    rec = provenance.latest_step(adata, step)
    assert rec is not None and rec.version == 1, "the recorded run wrote no record"
    from provenance._storage.codec import encode_record

    return {
        "step": step,
        "n_obs": int(adata.n_obs),
        "record_bytes": len(encode_record(rec).encode()),
        **{k: v for k, v in res.items() if not k.endswith("times_s")},
        "bare_times_s": res["a_times_s"],
        "recorded_times_s": res["b_times_s"],
        "recorder_own_s": own,
        "recorder_own_median_s": statistics.median(own),
    }


def pieces(adata: Any, reps: int) -> dict[str, Any]:
    """The hashing a lineage record does, alone."""
    from provenance._util.fingerprint import (
        array_digest,
        graph_fingerprint,
        label_digests,
        label_names_digest,
        obs_names_digest,
    )

    names = obs_names_digest(adata.obs_names)
    labels = adata.obs["groups"]
    return {
        "array_digest(X_pca)": C.median_time(lambda: array_digest(adata.obsm["X_pca"]), reps),
        "graph_fingerprint x2": C.median_time(
            lambda: [graph_fingerprint(adata.obsp[k]) for k in ("connectivities", "distances")],
            reps,
        ),
        "label_digests + label_names_digest": C.median_time(
            lambda: (
                label_digests(labels, adata.obs_names, names_digest=names),
                label_names_digest(labels, names_digest=names),
            ),
            reps,
        ),
        "obs_names_digest": C.median_time(lambda: obs_names_digest(adata.obs_names), reps),
    }


@contextlib.contextmanager
def _instrument() -> Any:
    """Time the recorder's own work in each recorded call: ``__init__`` (bind, arguments,
    reading the history) plus ``finish`` (digests, record, encoding, writing) of every call
    class the recorder uses. Yields the list of per-call seconds."""
    from provenance._record import patching

    classes = {c for c in vars(patching).values() if isinstance(c, type) and hasattr(c, "finish")}
    classes |= {c for c in getattr(patching, "CALLS", {}).values() if isinstance(c, type)}
    own: list[float] = []
    pending: dict[int, float] = {}
    saved = [(c, c.__init__, c.finish) for c in classes]

    def wrap(orig_init: Any, orig_finish: Any) -> tuple[Any, Any]:
        def init(self: Any, *a: Any, **k: Any) -> None:
            t0 = time.perf_counter()
            orig_init(self, *a, **k)
            pending[id(self)] = time.perf_counter() - t0

        def finish(self: Any, *a: Any, **k: Any) -> Any:
            t0 = time.perf_counter()
            try:
                return orig_finish(self, *a, **k)
            finally:
                own.append(pending.pop(id(self), 0.0) + time.perf_counter() - t0)

        return init, finish

    for c, i, f in saved:
        c.__init__, c.finish = wrap(i, f)  # type: ignore[method-assign]
    try:
        yield own
    finally:
        for c, i, f in saved:
            c.__init__, c.finish = i, f  # type: ignore[method-assign]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--sizes", type=C.parse_sizes, default=[100_000])
    p.add_argument("--pairs", type=int, default=7, help="pairs per step and size")
    p.add_argument("--n-vars", type=int, default=2000)
    p.add_argument("--quick", action="store_true", help="smoke run: 2000 cells, 2 pairs")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.quick:
        args.sizes, args.pairs, args.n_vars = [2000], 2, 200
    C.quiet_warnings()
    load_start = C.loadavg()
    print("# recording overhead: sc.pp.neighbors and sc.tl.rank_genes_groups\n")
    print(f"load average at start: {load_start}\n")

    rows: list[dict[str, Any]] = []
    piece_rows: list[dict[str, Any]] = []
    for n in args.sizes:
        t0 = time.perf_counter()
        adata = make_adata(n, n_vars=args.n_vars)
        build = time.perf_counter() - t0
        for step in STEPS:
            r = measure(adata, step, args.pairs)
            r["build_s"] = build
            rows.append(r)
        piece_rows.append({"n_obs": n, "pieces": pieces(adata, max(3, args.pairs))})
        del adata

    print(
        "| step | cells | pairs | bare ms | recorded ms | ratio (median) | extra ms (median) "
        "| extra ms IQR | recorder's own ms | own / bare |"
    )
    print("|---|---:|---:|---:|---:|---:|---:|---|---:|---:|")
    for r in rows:
        print(
            f"| {r['step']} | {r['n_obs']:,} | {r['pairs']} | {C.fmt_ms(r['a_median_s'])} "
            f"| {C.fmt_ms(r['b_median_s'])} | {r['ratio_median']:.4f} "
            f"| {C.fmt_ms(r['diff_median_s'])} "
            f"| {C.fmt_ms(r['diff_q1_s'])} … {C.fmt_ms(r['diff_q3_s'])} "
            f"| {C.fmt_ms(r['recorder_own_median_s'])} "
            f"| {r['recorder_own_median_s'] / r['a_median_s'] * 100:.3f} % |"
        )
    print("\nThe hashing alone (median ms):\n")
    names = list(piece_rows[0]["pieces"]) if piece_rows else []
    print("| cells | " + " | ".join(names) + " |")
    print("|---:|" + "---:|" * len(names))
    for pr in piece_rows:
        cells = " | ".join(C.fmt_ms(pr["pieces"][k]["median_s"]) for k in names)
        print(f"| {pr['n_obs']:,} | {cells} |")

    targets = []
    for r in rows:
        if r["n_obs"] >= 100_000:
            pct = (r["ratio_median"] - 1) * 100
            own_pct = r["recorder_own_median_s"] / r["a_median_s"] * 100
            met = C.overhead_met(pct, r)
            targets.append(
                C.target(
                    f"record() overhead on {r['step']} at {r['n_obs']:,} cells",
                    "<= 1 %",
                    f"{pct:+.2f} % ({C.fmt_ms(r['diff_median_s'])} ms of "
                    f"{C.fmt_ms(r['a_median_s'])} ms; {r['pairs']} pairs); recorder's own work "
                    f"{C.fmt_ms(r['recorder_own_median_s'])} ms = {own_pct:.2f} %",
                    met,
                )
            )
    if not targets:
        targets.append(C.target("record() overhead at 100,000 cells", "<= 1 %", "-", None))
    C.print_targets(targets)
    load_end = C.loadavg()
    print(f"\nload average at end: {load_end}")
    C.write_json(
        args.json,
        {
            "info": {"load_start": load_start, "load_end": load_end, **C.machine_info()},
            "rows": rows,
            "pieces": piece_rows,
            "targets": targets,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
