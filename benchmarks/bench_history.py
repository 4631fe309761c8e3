"""History scaling: appending version 1 vs version 500 of a key, and reading 1000 versions.

A 200-cell synthetic kNN graph (``_synth.make_adata``, 4 planted communities) is clustered
``--versions`` times (default 1000) inside ``provenance.record()`` under one key, each call a
real ``sc.tl.leiden(flavor="igraph", n_iterations=2)`` with its own ``random_state`` and a
resolution cycling over a few values, so every call is a new record (the recorder skips an
identical repeat). For every call it measures:

* the recorder's own work, timed around the real ``_Call.__init__`` (bind the arguments,
  build the params, read the existing history: its length and its last record) and
  ``_Call.finish`` (fingerprints, record creation, encoding, writing the history and the
  index) -- the clustering itself excluded;
* what it encodes and writes: the JSON bytes of the new record, how many of the earlier
  history strings are *not* the very same ``str`` objects as before (re-encoded; must be 0),
  and the length of the new history array (a new object array of references, 8 bytes each).

Then ``provenance.history(adata, key)`` of all versions, in memory and after an ``.h5ad``
round trip (median of 5), against the baseline of ``json.loads`` of the same strings.

    python benchmarks/bench_history.py
    python benchmarks/bench_history.py --quick     # 40 versions
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import itertools

import _common as C
import _synth

KEY = "sweep"
RESOLUTIONS = (0.5, 0.8, 1.0, 1.2, 1.5)


def _window(values: list[float], lo: int, hi: int) -> float:
    """Median of ``values`` for versions ``lo..hi`` (1-based, inclusive)."""
    return statistics.median(values[lo - 1 : hi])


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--versions", type=int, default=1000)
    p.add_argument("--n-obs", type=int, default=200)
    p.add_argument("--quick", action="store_true", help="smoke run: 40 versions")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    if args.quick:
        args.versions = 40
    if args.versions < 40:
        p.error("--versions must be >= 40")
    C.quiet_warnings()
    load_start = C.loadavg()

    import anndata as ad
    import scanpy as sc

    import provenance
    from provenance._record import recorder as _recorder
    from provenance._storage.codec import history_texts

    # The recorder's own work per call, timed around the real methods.
    spent: dict[str, float] = {}
    orig_init, orig_finish = _recorder._Call.__init__, _recorder._Call.finish

    def init(self: Any, *a: Any, **k: Any) -> None:
        t0 = time.perf_counter()
        orig_init(self, *a, **k)
        spent["init"] = time.perf_counter() - t0

    def finish(self: Any, *a: Any, **k: Any) -> Any:
        t0 = time.perf_counter()
        out = orig_finish(self, *a, **k)
        spent["finish"] = time.perf_counter() - t0
        return out

    _recorder._Call.__init__, _recorder._Call.finish = init, finish  # type: ignore[method-assign]

    adata = _synth.make_adata(args.n_obs, n_vars=20, n_communities=4, density=0.2)
    per: dict[str, list[float]] = {"recorder_s": [], "call_s": [], "record_bytes": []}
    reencoded: list[int] = []
    lengths: list[int] = []
    prev: list[str] = []
    t_build = time.perf_counter()
    try:
        with provenance.record(adata, strict=True):
            for i in range(args.versions):
                t0 = time.perf_counter()
                sc.tl.leiden(
                    adata,
                    flavor="igraph",
                    n_iterations=2,
                    random_state=i,
                    resolution=RESOLUTIONS[i % len(RESOLUTIONS)],
                    key_added=KEY,
                )
                per["call_s"].append(time.perf_counter() - t0)
                per["recorder_s"].append(spent.pop("init") + spent.pop("finish"))
                arr = adata.uns[KEY]["provenance"]["history"]
                if len(arr) != i + 1:
                    msg = f"call {i + 1} left {len(arr)} versions (expected a new record)"
                    raise RuntimeError(msg)
                # Identity, not equality: an earlier string re-encoded would be a new object.
                reencoded.append(sum(a is not b for a, b in zip(arr[:-1], prev, strict=True)))
                per["record_bytes"].append(len(arr[-1].encode()))
                lengths.append(len(arr))
                prev = list(arr)
    finally:
        _recorder._Call.__init__, _recorder._Call.finish = orig_init, orig_finish  # type: ignore[method-assign]
    build_s = time.perf_counter() - t_build
    n = args.versions

    def window(lo: int) -> tuple[int, int]:
        return lo, min(lo + 19, n)

    mid = n // 2
    windows = {"first": window(1), "middle": window(mid - 9), "last": window(n - 19)}
    append = {
        name: {
            "versions": f"{lo}–{hi}",
            "recorder_ms": _window(per["recorder_s"], lo, hi) * 1e3,
            "call_ms": _window(per["call_s"], lo, hi) * 1e3,
            "record_bytes": _window(per["record_bytes"], lo, hi),
            "reencoded": max(reencoded[lo - 1 : hi]),
            "history_len": lengths[hi - 1],
        }
        for name, (lo, hi) in windows.items()
    }
    growth = append["middle"]["recorder_ms"] / append["first"]["recorder_ms"]

    # Reading all versions back.
    texts = history_texts(adata.uns[KEY]["provenance"], key=KEY)
    assert len(texts) == n
    reps = 5
    baseline = C.median_time(lambda: [json.loads(t) for t in texts], reps)
    in_memory = C.median_time(lambda: provenance.history(adata, KEY), reps)
    records = provenance.history(adata, KEY)
    assert [r.version for r in records] == list(range(1, n + 1))
    assert all(b.previous == a.digest for a, b in itertools.pairwise(records))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "history.h5ad"
        adata.write_h5ad(path)
        back = ad.read_h5ad(path)
        from_file = C.median_time(lambda: provenance.history(back, KEY), reps)
        assert [r.digest for r in provenance.history(back, KEY)] == [r.digest for r in records]
        file_bytes = path.stat().st_size

    hist_bytes = sum(len(t.encode()) for t in texts)
    print(f"# history scaling: {n} versions of one key ({args.n_obs}-cell graph)\n")
    print(f"load average at start: {load_start}; building the history took {build_s:.1f} s\n")
    print(
        "| versions | recorder work ms (median) | whole recorded call ms | new record bytes | "
        "earlier strings re-encoded | history array length |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for a in append.values():
        print(
            f"| {a['versions']} | {a['recorder_ms']:.2f} | {a['call_ms']:.2f} | "
            f"{a['record_bytes']:,.0f} | {a['reencoded']} | {a['history_len']:,} |"
        )
    print(
        f"\nappend at versions {append['middle']['versions']} / at "
        f"{append['first']['versions']}: {growth:.2f}x (recorder work). What each append encodes "
        "is the new record only; the earlier JSON strings are reused as they are (identity "
        "checked on every append) and only the array of references to them is rebuilt "
        "(8 bytes per version)."
    )
    print(
        f"\nreading {n} versions ({hist_bytes / 1e6:.2f} MB of JSON; the .h5ad is "
        f"{file_bytes / 1e6:.2f} MB):\n"
    )
    print("| what | median ms | ratio to json.loads |")
    print("|---|---:|---:|")
    for what, r in (
        ("json.loads of every string (baseline)", baseline),
        ("provenance.history(), in memory", in_memory),
        ("provenance.history(), after an .h5ad round trip", from_file),
    ):
        print(
            f"| {what} | {r['median_s'] * 1e3:.1f} | {r['median_s'] / baseline['median_s']:.2f} |"
        )

    targets = [
        C.target(
            f"append cost O(1): version {append['middle']['versions']} vs "
            f"{append['first']['versions']}",
            "no growth; 0 earlier strings re-encoded",
            f"{growth:.2f}x time; bytes {append['first']['record_bytes']:,.0f} vs "
            f"{append['middle']['record_bytes']:,.0f}; re-encoded "
            f"{max(reencoded)}",
            max(reencoded) == 0 and growth < 1.5,
        ),
        C.target(
            f"history() of {n} versions",
            "< 0.5 s",
            f"{in_memory['median_s'] * 1e3:.0f} ms in memory, "
            f"{from_file['median_s'] * 1e3:.0f} ms after .h5ad round trip",
            max(in_memory["median_s"], from_file["median_s"]) < 0.5,
        ),
    ]
    C.print_targets(targets)
    load_end = C.loadavg()
    print(f"\nload average at end: {load_end}")
    C.write_json(
        args.json,
        {
            "info": {
                "load_start": load_start,
                "load_end": load_end,
                "versions": n,
                "n_obs": args.n_obs,
                "build_s": build_s,
                "history_json_bytes": hist_bytes,
                "h5ad_bytes": file_bytes,
                **C.machine_info(),
            },
            "append": append,
            "growth": growth,
            "read": {"json_loads": baseline, "in_memory": in_memory, "from_h5ad": from_file},
            "per_version": per,
            "targets": targets,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
