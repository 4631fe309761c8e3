"""Bytes fetched over HTTP by ``show``, ``verify`` and ``verify --deep`` against the bytes
they need.

The file: ``_synth.make_adata(n)`` clustered once inside ``provenance.record()`` and written
as ``.h5ad`` (``bench_remote.ensure_files``, cached under ``--data-dir``), served by
``_http.RangeServer``, which counts the body bytes it sends. Each command runs in this
process (one untimed warm-up first).

"Needed" is measured, not assumed: the reader h5py reads through is watched, and the bytes
of the file h5py asked for (the union of its reads: the datasets' data, the strings' heap,
and the metadata that leads to them) are what a perfect range reader would fetch. The sum
of the storage sizes of the datasets the command reads is printed beside it.

    python benchmarks/bench_remote_bytes.py                 # 200,000 cells
    python benchmarks/bench_remote_bytes.py --n-obs 20000   # quicker
"""

from __future__ import annotations

import argparse
import contextlib
import io
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
import _common as C
import _http
import bench_remote

COMMANDS = (["show"], ["verify"], ["verify", "--deep"])


def _union(reads: list[tuple[int, int]]) -> int:
    total, lo, hi = 0, -1, -1
    for a, b in sorted(reads):
        if a > hi:
            total += hi - lo
            lo, hi = a, b
        else:
            hi = max(hi, b)
    return total + hi - lo


def dataset_bytes(path: Path, command: list[str]) -> int:
    """The storage size of the datasets the command reads (uns entries, and for verify the
    recorded labels, obs_names with its strings, and the recorded graph)."""
    import h5py
    import numpy as np

    with h5py.File(path, "r") as f:
        names: list[str] = []
        f["uns"].visititems(
            lambda n, o: names.append(f"uns/{n}") if isinstance(o, h5py.Dataset) else None
        )
        if command[0] == "verify":
            names += [f"obs/{bench_remote.KEY}/codes", f"obs/{bench_remote.KEY}/categories"]
            names += ["obs/_index"] + [
                f"obsp/connectivities/{m}" for m in ("data", "indices", "indptr")
            ]
        total = sum(f[n].id.get_storage_size() for n in names)
        index = f["obs/_index"]
        if command[0] == "verify" and index.dtype.kind == "O":
            # The strings live in the global heap: each object a 16-byte header and its
            # bytes padded to 8.
            lengths = np.array([len(s.encode()) for s in index.asstr()[()]])
            total += int((16 + 8 * np.ceil(lengths / 8)).sum())
    return total


def measure(server: Any, name: str, command: list[str]) -> dict[str, Any]:
    from provenance._cli import main
    from provenance._storage import remote_h5 as remote_io

    reads: list[tuple[int, int]] = []
    original = remote_io.RangeReader.readinto

    def watched(self: Any, buffer: Any) -> int:
        pos = self.tell()
        n = original(self, buffer)
        reads.append((pos, pos + n))
        return n

    def once() -> None:
        reads.clear()
        server.reset()
        with contextlib.redirect_stdout(io.StringIO()):
            code = main([*command, server.url(name), "--json"])
        assert code == 0, (command, code)

    remote_io.RangeReader.readinto = watched  # type: ignore[method-assign]
    try:
        once()  # warm-up: imports, fsspec's session
        once()
    finally:
        remote_io.RangeReader.readinto = original  # type: ignore[method-assign]
    log = server.settled_log()
    return {
        "command": " ".join(command),
        "fetched": sum(n for _, _, n in log),
        "requests": len(log),
        "needed": _union(reads),
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--n-obs", type=int, default=200_000)
    p.add_argument("--data-dir", type=Path, default=C.DATA)
    p.add_argument("--rebuild", action="store_true")
    p.add_argument("--json", type=Path)
    args = p.parse_args(argv)
    C.quiet_warnings()
    files = bench_remote.ensure_files(args.n_obs, args.data_dir, rebuild=args.rebuild)
    h5ad = files["h5ad"]
    with _http.serve(args.data_dir) as server:
        rows = [measure(server, h5ad.name, c) for c in COMMANDS]
    for r, c in zip(rows, COMMANDS, strict=True):
        r["datasets"] = dataset_bytes(h5ad, c)
    mb = bench_remote._mb
    print(f"## Bytes fetched over HTTP ({args.n_obs:,} cells, `.h5ad` {mb(h5ad.stat().st_size)})\n")
    print(
        "| command | fetched | requests | needed (h5py's reads) | fetched / needed "
        "| datasets read |"
    )
    print("|---|---|---|---|---|---|")
    for r in rows:
        ratio = r["fetched"] / r["needed"]
        print(
            f"| {r['command']} | {mb(r['fetched'])} | {r['requests']} | {mb(r['needed'])} | "
            f"{ratio:.3f} | {mb(r['datasets'])} |"
        )
    verify = next(r for r in rows if r["command"] == "verify")
    deep = next(r for r in rows if r["command"] == "verify --deep")
    targets = [
        C.target(
            "verify: fetched / needed",
            "<= 1.10",
            f"{verify['fetched'] / verify['needed']:.3f}",
            verify["fetched"] <= 1.10 * verify["needed"],
        ),
        C.target(
            "verify --deep: fetched / verify's",
            "<= 1.05 (each graph once)",
            f"{deep['fetched'] / verify['fetched']:.3f}",
            deep["fetched"] <= 1.05 * verify["fetched"],
        ),
    ]
    print()
    C.print_targets(targets)
    C.write_json(
        args.json,
        {"info": {**C.machine_info(), "n_obs": args.n_obs}, "rows": rows, "targets": targets},
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
