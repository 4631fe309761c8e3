"""``provenance demo``: record a clustering sweep on pbmc68k_reduced and read it back."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TextIO

__all__ = ["run_demo"]

RESOLUTIONS = (0.5, 1.0, 1.5)


def run_demo(out_dir: Path | None = None, *, stream: TextIO | None = None) -> dict[str, Path]:
    """Sweep Leiden resolutions, run Louvain, re-run one key, write and read the files.

    Parameters
    ----------
    out_dir
        Where to write ``demo.h5ad`` and ``demo.zarr``; a temporary directory when ``None``.
    stream
        Where to print; standard output when ``None``.

    Returns
    -------
    The paths written, by format.
    """
    import sys
    import warnings

    import anndata as ad
    import scanpy as sc

    from provenance._record.recorder import record
    from provenance._storage.history import history, recorded_keys

    out = stream or sys.stdout
    directory = Path(out_dir) if out_dir is not None else Path(tempfile.mkdtemp(prefix="prov-"))
    directory.mkdir(parents=True, exist_ok=True)

    adata = sc.datasets.pbmc68k_reduced()
    print(f"pbmc68k_reduced: {adata.n_obs} cells, graph in obsp['connectivities']", file=out)
    with record(adata) as block:
        for r in RESOLUTIONS:
            sc.tl.leiden(
                adata, resolution=r, key_added=f"leiden_{r}", flavor="igraph", n_iterations=2
            )
        sc.tl.louvain(adata, key_added="louvain_igraph", flavor="igraph")
        # Re-running a key with new parameters adds a version instead of replacing the record.
        sc.tl.leiden(
            adata, resolution=1.0, key_added="leiden_1.0", flavor="igraph", n_iterations=-1,
            random_state=42,
        )  # fmt: skip
    print(f"recorded {len(block.records)} clusterings", file=out)

    paths = {"h5ad": directory / "demo.h5ad", "zarr": directory / "demo.zarr"}
    with warnings.catch_warnings():
        # anndata announces future zarr defaults; pbmc68k_reduced's own arrays trigger zarr
        # notices about data types. None of that concerns the records.
        warnings.simplefilter("ignore")
        adata.write_h5ad(paths["h5ad"])
        adata.write_zarr(paths["zarr"])
    for fmt, path in paths.items():
        back = ad.read_h5ad(path) if fmt == "h5ad" else ad.read_zarr(path)
        print(f"\n{path} ({fmt}):", file=out)
        for key in recorded_keys(back):
            records = history(back, key)
            assert records == history(adata, key), "round trip changed a record"
            for rec in records:
                p = rec.params
                graph = rec.graph.digest[:22] if rec.graph else "-"
                print(
                    f"  {key:<16} v{rec.version}  {rec.method:<7} flavor={p.flavor:<9} "
                    f"resolution={p.resolution} random_state={p.random_state} "
                    f"-> {rec.result.n_clusters} clusters  graph {graph}"
                    f"  at {rec.finished_at:%Y-%m-%d %H:%M:%S}Z",
                    file=out,
                )
    print(
        f"\nAudit the files: provenance show {paths['h5ad']}   |   "
        f"provenance verify {paths['zarr']}   |   provenance replay {paths['h5ad']} leiden_1.0",
        file=out,
    )
    return paths
