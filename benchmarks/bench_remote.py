"""``show``/``verify`` over HTTP: bytes fetched and time, against downloading the file.

The files: ``_synth.make_adata(n)`` (sparse ``X`` of 2000 genes, ~5 % nonzero; a kNN graph
in ``obsp``), clustered once inside ``provenance.record()``, written as ``.h5ad`` and
``.zarr`` (anndata's default zarr format) and cached under ``--data-dir``
(``benchmarks/_data/``, gitignored; ``--rebuild`` makes them anew). They are served by
``_http.RangeServer`` (a local threaded HTTP server with ``Range`` support, counting the body
bytes it sends) with ``--latency-ms`` of delay added to every response, a stand-in for a
network round trip (localhost has none).

Two parts:

1. **Block size of HDF5 range reads.** ``show`` and ``verify`` of the ``.h5ad`` in this
   process (everything imported, one untimed warm-up), for each fsspec cache type and block
   size: bytes served, requests and wall time (median of ``--rounds``). The block size and
   cache ``provenance._storage.remote`` uses were chosen from this table.
2. **Commands, as a user runs them.** Each a whole new process: ``provenance show``/``verify``
   on the local file and on its URL, and downloading the whole file (every file of the
   ``.zarr`` store) with ``urllib``; bytes served and wall time, as ratios against the
   download measured in the same run.

    python benchmarks/bench_remote.py                  # 1M cells
    python benchmarks/bench_remote.py --n-obs 200000   # smaller files
    python benchmarks/bench_remote.py --quick          # smoke run: 2000 cells, 1 round
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import _http
import _synth

KEY = "leiden"
FILES_VERSION = 1  # bump when the way the files are made changes
BLOCK_SIZES = (16 << 10, 64 << 10, 256 << 10, 1 << 20, 5 << 20)
# (name, whether the datasets about to be read are prefetched exactly, or every read goes
# through the block cache and the run read-ahead)
MODES = (("blocks", True), ("blocks", False))
_NO_PREFETCH = 1 << 62  # a prefetch threshold no dataset reaches


def ensure_files(n_obs: int, directory: Path, *, rebuild: bool) -> dict[str, Path]:
    """Make (or reuse) the recorded ``.h5ad`` and ``.zarr`` of ``n_obs`` cells."""
    import shutil

    stem = f"remote_v{FILES_VERSION}_{n_obs}"
    paths = {"h5ad": directory / f"{stem}.h5ad", "zarr": directory / f"{stem}.zarr"}
    done = directory / f"{stem}.done"
    if not rebuild and done.exists() and all(p.exists() for p in paths.values()):
        return paths
    for p in paths.values():
        if p.is_dir():
            shutil.rmtree(p)
        elif p.exists():
            p.unlink()
    import scanpy as sc

    import provenance

    adata = _synth.make_adata(n_obs)
    with provenance.record(adata, strict=True):
        sc.tl.leiden(adata, flavor="igraph", n_iterations=2, random_state=0, key_added=KEY)
    written = _synth.write_files(adata, directory, stem=stem)
    assert written == paths
    done.write_text("ok\n")
    return paths


def size_of(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _in_process(server: Any, argv: list[str], rounds: int) -> dict[str, Any]:
    """``main(argv)`` timed in this process: median wall, bytes and requests of one call."""
    import contextlib
    import io

    from provenance._cli import main

    def once() -> tuple[float, int, int]:
        server.reset()
        with contextlib.redirect_stdout(io.StringIO()):
            t0 = time.perf_counter()
            code = main(argv)
            wall = time.perf_counter() - t0
        assert code == 0, (argv, code)
        return wall, server.bytes_served, server.requests

    once()  # warm-up: imports, fsspec's session
    runs = [once() for _ in range(rounds)]
    return {
        "wall_s": statistics.median(r[0] for r in runs),
        "bytes": runs[-1][1],
        "requests": runs[-1][2],
    }


def block_sizes(
    server: Any, h5ad: str, rounds: int, sizes: tuple[int, ...], modes: tuple[tuple[str, bool], ...]
) -> list[dict]:
    """Part 1: every (mode, block size) on ``show`` and ``verify`` of the ``.h5ad``."""
    from provenance._storage import remote_h5 as remote

    chosen = (remote.H5_BLOCK_SIZE, remote._PREFETCH_MIN)
    rows = []
    try:
        for cache, direct in modes:
            for bs in sizes:
                # The module's own settings, set for this measurement and restored after.
                remote.H5_BLOCK_SIZE = bs
                remote._PREFETCH_MIN = chosen[1] if direct else _NO_PREFETCH
                for cmd in ("show", "verify"):
                    r = _in_process(server, [cmd, server.url(h5ad), "--json"], rounds)
                    rows.append(
                        {"cache": _mode(cache, direct), "block_size": bs, "command": cmd, **r}
                    )
    finally:
        remote.H5_BLOCK_SIZE, remote._PREFETCH_MIN = chosen
    return rows


def _mode(cache: str, direct: bool) -> str:
    return f"{cache} + datasets prefetched" if direct else f"{cache} + runs read ahead"


_DOWNLOAD = """
import sys, urllib.request
total = 0
for url in sys.argv[1:]:
    with urllib.request.urlopen(url) as r:
        while chunk := r.read(1 << 20):
            total += len(chunk)
print(total)
"""


def commands(server: Any, files: dict[str, Path], rounds: int, *, local: bool) -> list[dict]:
    """Part 2: show/verify local and over HTTP, and the download, each as a new process."""
    py = sys.executable
    rows = []
    for fmt, path in files.items():
        name = path.name
        url = server.url(name)
        if path.is_dir():
            members = sorted(p.relative_to(path.parent).as_posix() for p in path.rglob("*"))
            urls = [server.url(m) for m in members if (path.parent / m).is_file()]
        else:
            urls = [url]
        cases = {
            "download (urllib, whole file)": [py, "-c", _DOWNLOAD, *urls],
            "show, local": [py, "-m", "provenance", "show", str(path), "--json"],
            "show, HTTP": [py, "-m", "provenance", "show", url, "--json"],
            "verify, local": [py, "-m", "provenance", "verify", str(path), "--json"],
            "verify, HTTP": [py, "-m", "provenance", "verify", url, "--json"],
        }
        for label, cmd in cases.items():
            if not local and label.endswith("local"):
                continue
            walls, served, requests = [], 0, 0
            for _ in range(rounds):
                server.reset()
                t0 = time.perf_counter()
                proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
                walls.append(time.perf_counter() - t0)
                if proc.returncode != 0:
                    msg = f"{label} {fmt} exited {proc.returncode}: {proc.stderr[-2000:]}"
                    raise SystemExit(msg)
                served, requests = server.bytes_served, server.requests
            rows.append(
                {
                    "format": fmt,
                    "what": label,
                    "wall_s": statistics.median(walls),
                    "bytes": served,
                    "requests": requests,
                    "file_bytes": size_of(path),
                }
            )
    return rows


def _mb(n: int) -> str:
    return f"{n / 1e6:,.2f} MB" if n >= 10_000 else f"{n / 1e3:,.1f} kB"


def report(info: dict[str, Any], sweep: list[dict], cmds: list[dict]) -> list[dict]:
    """Print the markdown section; return the targets."""
    from provenance._storage import remote_h5 as remote

    print(f"## Remote reads over HTTP ({info['n_obs']:,} cells)\n")
    print(
        f"Files: `.h5ad` {_mb(info['sizes']['h5ad'])}, `.zarr` {_mb(info['sizes']['zarr'])}; "
        f"served from localhost with {info['latency_ms']} ms added to each response. "
        f"Medians of {info['rounds']} round(s).\n"
    )
    print("### Block size of HDF5 range reads (`.h5ad`, in-process)\n")
    print("| cache | block | show: bytes | requests | ms | verify: bytes | requests | ms |")
    print("|---|---|---|---|---|---|---|---|")
    by = {(r["cache"], r["block_size"], r["command"]): r for r in sweep}
    used = _mode("blocks", True)
    for cache in dict.fromkeys(r["cache"] for r in sweep):
        for bs in sorted({r["block_size"] for r in sweep}):
            s, v = by[cache, bs, "show"], by[cache, bs, "verify"]
            mark = " (used)" if (bs, cache) == (remote.H5_BLOCK_SIZE, used) else ""
            print(
                f"| {cache}{mark} | {bs >> 10} kB | {_mb(s['bytes'])} | {s['requests']} | "
                f"{C.fmt_ms(s['wall_s'])} | {_mb(v['bytes'])} | {v['requests']} | "
                f"{C.fmt_ms(v['wall_s'])} |"
            )
    print("\n### Commands as processes, against downloading the file\n")
    print("| file | command | bytes served | of the file | requests | ms | time / download |")
    print("|---|---|---|---|---|---|---|")
    targets = []
    for fmt in ("h5ad", "zarr"):
        rows = [r for r in cmds if r["format"] == fmt]
        base = next(r for r in rows if r["what"].startswith("download"))
        for r in rows:
            share = r["bytes"] / r["file_bytes"]
            print(
                f"| .{fmt} | {r['what']} | {_mb(r['bytes'])} | {share:.2%} | {r['requests']} | "
                f"{C.fmt_ms(r['wall_s'])} | {r['wall_s'] / base['wall_s']:.2f}x |"
            )
        show = next(r for r in rows if r["what"] == "show, HTTP")
        share = show["bytes"] / show["file_bytes"]
        targets.append(
            C.target(
                f"show over HTTP, .{fmt}: share of the file fetched",
                "< 1 %",
                f"{share:.3%}",
                share < 0.01,
            )
        )
    print()
    C.print_targets(targets)
    return targets


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n-obs", type=int, default=1_000_000)
    p.add_argument("--rounds", type=int, default=3)
    p.add_argument("--latency-ms", type=float, default=5.0, help="added to each response")
    p.add_argument(
        "--block-sizes",
        type=lambda t: tuple(int(x) << 10 for x in t.split(",")),
        default=BLOCK_SIZES,
        help="kB, comma-separated (default 16,64,256,1024,5120)",
    )
    p.add_argument("--rebuild", action="store_true", help="make the cached files anew")
    p.add_argument("--data-dir", type=Path, default=C.DATA)
    p.add_argument("--quick", action="store_true", help="smoke run: 2000 cells, 1 round")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    C.quiet_warnings()
    if args.quick:
        args.n_obs, args.rounds = 2000, 1
    # The smoke run: the mode in use at one block size, and no local commands.
    sizes = (64 << 10,) if args.quick else args.block_sizes
    modes = MODES[:1] if args.quick else MODES
    files = ensure_files(args.n_obs, args.data_dir, rebuild=args.rebuild)
    with _http.serve(args.data_dir, latency=args.latency_ms / 1000) as server:
        sweep = block_sizes(server, files["h5ad"].name, args.rounds, sizes, modes)
        cmds = commands(server, files, args.rounds, local=not args.quick)
    info = {
        "n_obs": args.n_obs,
        "rounds": args.rounds,
        "latency_ms": args.latency_ms,
        "sizes": {k: size_of(v) for k, v in files.items()},
    }
    targets = report(info, sweep, cmds)
    C.write_json(
        args.json,
        {
            "info": {**C.machine_info(), **info},
            "rows": [*({"part": "block_size", **r} for r in sweep), *cmds],
            "targets": targets,
        },
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
