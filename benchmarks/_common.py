"""Helpers shared by the benchmark scripts: timing, machine facts, output.

Every script prints a markdown section and, with ``--json PATH``, writes its figures as JSON
(``{"info": {...}, "rows": [...], "targets": [...]}``) that ``run_all.py`` turns into
``RESULTS.md``. A target row is ``{"what", "target", "measured", "met": bool | None}``
(``None``: not measured in this run).
"""

from __future__ import annotations

import gc
import json
import os
import platform
import statistics
import subprocess
import sys
import time
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
DATA = HERE / "_data"  # gitignored cache of generated files

PACKAGES = (
    "anndata-provenance",
    "scanpy",
    "anndata",
    "numpy",
    "scipy",
    "pandas",
    "igraph",
    "leidenalg",
    "h5py",
    "zarr",
    "xxhash",
    "blake3",
    "pydantic",
)


def pkg_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


def loadavg() -> str:
    """The 1, 5 and 15 minute load averages, as in /proc/loadavg."""
    try:
        return " ".join(Path("/proc/loadavg").read_text().split()[:3])
    except OSError:
        return "?"


def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "?"


def ram_gb() -> float | None:
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                return int(line.split()[1]) / 1024**2
    except OSError:
        pass
    return None


def git_commit() -> str:
    try:
        out = subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=REPO,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "?"


def machine_info() -> dict[str, Any]:
    return {
        "nproc": os.cpu_count(),
        "affinity": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None,
        "cpu": cpu_model(),
        "ram_gb": ram_gb(),
        "python": platform.python_version(),
        "platform": platform.platform(),
        "packages": {p: pkg_version(p) for p in PACKAGES},
        "git": git_commit(),
        "OPENBLAS_CORETYPE": os.environ.get("OPENBLAS_CORETYPE"),
    }


def timed(fn: Callable[[], Any]) -> float:
    """Seconds one call of ``fn`` takes (``perf_counter``), after a ``gc.collect()``."""
    gc.collect()
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


def median_time(fn: Callable[[], Any], repeats: int, *, warmup: int = 1) -> dict[str, Any]:
    """Median, min and max seconds of ``repeats`` calls after ``warmup`` untimed ones."""
    for _ in range(warmup):
        fn()
    times = [timed(fn) for _ in range(repeats)]
    return {
        "median_s": statistics.median(times),
        "min_s": min(times),
        "max_s": max(times),
        "n": repeats,
    }


def paired(
    a: Callable[[], Any],
    b: Callable[[], Any],
    pairs: int,
    *,
    setup: Callable[[], Any] | None = None,
) -> dict[str, Any]:
    """Interleaved paired timing of ``a`` (baseline) and ``b``.

    Pair i runs ``a`` then ``b`` when i is even and ``b`` then ``a`` when odd, so neither
    always runs first (warm caches, the garbage collector, a neighbour's CPU burst). ``setup``
    runs before every single call and is not timed. Returns medians of the times, of the
    per-pair ratios ``b / a`` and of the per-pair differences ``b - a``.
    """
    ta: list[float] = []
    tb: list[float] = []
    for i in range(pairs):
        order = (("a", a), ("b", b)) if i % 2 == 0 else (("b", b), ("a", a))
        for name, fn in order:
            if setup is not None:
                setup()
            (ta if name == "a" else tb).append(timed(fn))
    ratios = [y / x for x, y in zip(ta, tb, strict=True)]
    diffs = [y - x for x, y in zip(ta, tb, strict=True)]
    return {
        "pairs": pairs,
        "a_median_s": statistics.median(ta),
        "b_median_s": statistics.median(tb),
        "ratio_median": statistics.median(ratios),
        "diff_median_s": statistics.median(diffs),
        "diff_q1_s": _quantile(diffs, 0.25),
        "diff_q3_s": _quantile(diffs, 0.75),
        "a_times_s": ta,
        "b_times_s": tb,
    }


def _quantile(xs: list[float], q: float) -> float:
    if len(xs) < 2:
        return xs[0]
    return statistics.quantiles(xs, n=4, method="inclusive")[round(q * 4) - 1]


def write_json(path: Path | None, payload: dict[str, Any]) -> None:
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(payload, indent=2, default=str))


def parse_sizes(text: str) -> list[int]:
    """``"10000,100000,1e6"`` -> ``[10000, 100000, 1000000]``."""
    return [int(float(s)) for s in text.split(",") if s.strip()]


def fmt_ms(s: float) -> str:
    ms = s * 1e3
    return f"{ms:.3f}" if abs(ms) < 1 else f"{ms:.2f}" if abs(ms) < 100 else f"{ms:.0f}"


Met = bool | None | Literal["noise"]
"""``True``/``False``; ``None``: not measured; ``"noise"``: the figure misses the goal but the
measurement cannot tell the two sides apart (see the script's docstring)."""


def overhead_met(pct: float, r: dict[str, Any], *, limit_pct: float = 1.0) -> Met:
    """Whether a recording overhead of ``pct`` % on whole calls meets ``<= limit_pct`` %.

    ``"noise"`` when it misses but cannot be told from zero (the paired differences' IQR spans
    it, see :func:`paired`) and the recorder's own work is within the limit.
    """
    if pct <= limit_pct:
        return True
    own = r["recorder_own_median_s"] / r["a_median_s"]
    return "noise" if r["diff_q1_s"] < 0 < r["diff_q3_s"] and own * 100 <= limit_pct else False


def target(what: str, goal: str, measured: str, met: Met) -> dict[str, Any]:
    return {"what": what, "target": goal, "measured": measured, "met": met}


def met_label(met: Met) -> str:
    return {True: "yes", False: "**no**", None: "not measured", "noise": "within noise"}[met]


def print_targets(targets: list[dict[str, Any]]) -> None:
    print("\n| target | goal | measured | met |")
    print("|---|---|---|---|")
    for t in targets:
        met = met_label(t["met"])
        print(f"| {t['what']} | {t['target']} | {t['measured']} | {met} |")


def quiet_warnings() -> None:
    """Benchmarks are not tests: silence library notices that would clutter the output."""
    import warnings

    warnings.simplefilter("ignore")


def python() -> str:
    return sys.executable
