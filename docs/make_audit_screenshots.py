"""Render the audit report's and a lineage's HTML in headless Chromium: docs/_static/*.png.

Run: ``python docs/make_audit_screenshots.py`` (needs Debian's ``chromium``). With
``--tutorial``, after ``make -C docs html``, it also shoots the built tutorial page:
``tutorial-page.png`` (its top) and ``tutorial-audit.png`` (section 3, the audit report).

The light page is a bare browser page (the report's own defaults); the dark page sets the
JupyterLab dark theme's CSS variables, as a notebook would, so the report follows them.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import warnings
from pathlib import Path
from typing import Any

OUT = Path(__file__).parent / "_static"

# A subset of JupyterLab's dark theme (variables.css of @jupyterlab/theme-dark-extension).
JUPYTER_DARK = """
:root {
  --jp-layout-color0: #111111; --jp-content-font-color1: rgba(255, 255, 255, 1);
  --jp-content-font-color2: rgba(255, 255, 255, 0.7); --jp-border-color2: #424242;
  --jp-success-color1: #4caf50; --jp-warn-color1: #ffa726; --jp-error-color1: #ef5350;
}
body { background: var(--jp-layout-color0); }
"""


def build_report() -> tuple[Any, Any]:
    import scanpy as sc

    import provenance

    adata = sc.datasets.pbmc68k_reduced()
    with provenance.record(adata):
        for r in (0.5, 1.0, 1.5):
            sc.tl.leiden(
                adata, resolution=r, key_added=f"leiden_{r}", flavor="igraph", n_iterations=2
            )
        sc.tl.louvain(adata, key_added="louvain_igraph", flavor="igraph")
        sc.tl.leiden(
            adata,
            resolution=1.0,
            key_added="leiden_1.0",
            flavor="igraph",
            n_iterations=-1,
            random_state=42,
        )
    # Two things a reviewer should catch: hand-merged clusters and renamed ones.
    col = adata.obs["leiden_1.5"]
    adata.obs["leiden_1.5"] = col.astype(str).replace({"1": "0"}).astype("category")
    col = adata.obs["leiden_0.5"]
    adata.obs["leiden_0.5"] = col.cat.rename_categories([f"T{c}" for c in col.cat.categories])
    return provenance.audit(adata), provenance.audit(adata, "leiden_1.0")


def build_lineage() -> Any:
    """A recorded workflow whose results a re-clustering made stale."""
    import scanpy as sc

    import provenance

    adata = sc.datasets.pbmc68k_reduced()
    with provenance.record(adata):
        sc.pp.neighbors(adata, n_neighbors=15, use_rep="X_pca", random_state=0)
        sc.tl.leiden(adata, key_added="clusters", flavor="igraph", n_iterations=2)
        sc.tl.rank_genes_groups(adata, "clusters", method="t-test")
        sc.tl.dendrogram(adata, "clusters")
        sc.tl.paga(adata, groups="clusters")
        sc.tl.leiden(adata, resolution=1.2, key_added="clusters", flavor="igraph", n_iterations=2)
    return provenance.lineage(adata)


def build_pipeline() -> str:
    """From counts to clusters on synthetic counts, then PCA re-run under the graph: the
    pipeline view of the audit (its picture and table) as HTML."""
    import anndata as ad
    import numpy as np
    import scanpy as sc
    import scipy.sparse as sp

    import provenance
    from provenance._compare.pipeline import pipeline_of
    from provenance._render.css import CSS
    from provenance._render.pipeline import pipeline_html
    from provenance._render.svg import SVG_CSS

    rng = np.random.default_rng(0)
    blocks = []
    for t in range(4):
        mean = rng.gamma(1.5, 0.6, 400)
        mean[t * 40 : (t + 1) * 40] *= 6
        blocks.append(rng.poisson(mean, (150, 400)))
    blocks.append(rng.poisson(0.05, (12, 400)))
    adata = ad.AnnData(sp.csr_matrix(np.vstack(blocks).astype(np.float32)))
    adata.obs_names = [f"cell{i}" for i in range(adata.n_obs)]
    adata.var_names = [f"gene{i}" for i in range(adata.n_vars)]
    with provenance.record(adata):
        sc.pp.filter_cells(adata, min_genes=100)
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
        sc.pp.highly_variable_genes(adata, n_top_genes=200)
        sc.pp.pca(adata, n_comps=30)
        sc.pp.neighbors(adata, n_neighbors=15, random_state=0)
        sc.tl.umap(adata, random_state=0)
        sc.tl.leiden(adata, key_added="leiden", flavor="igraph", n_iterations=2)
        sc.tl.rank_genes_groups(adata, "leiden", method="t-test")
        sc.pp.pca(adata, n_comps=20)
    body = "\n".join(pipeline_html(pipeline_of(provenance.audit(adata))))
    return f'<div class="prov-audit"><style>{CSS}{SVG_CSS}</style>{body}</div>'


def page(body: str, *, dark: bool) -> str:
    style = JUPYTER_DARK if dark else "body { background: #ffffff; }"
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<style>body {{ margin: 24px; }} {style}</style></head><body>{body}</body></html>"
    )


def screenshot(html: str, png: Path, *, height: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "page.html"
        src.write_text(html, encoding="utf-8")
        shoot(src.as_uri(), png, height=height)


def _chromium() -> str:
    return shutil.which("chromium") or "/usr/bin/chromium"


def shoot(url: str, png: Path, *, height: int, width: int = 1200) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                _chromium(),
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-quic",
                "--no-first-run",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--hide-scrollbars",
                f"--user-data-dir={tmp}/profile",
                f"--screenshot={png}",
                f"--window-size={width},{height}",
                url,
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def tutorial(html_dir: Path = Path(__file__).parent / "_build" / "html") -> None:
    """Shoot the built tutorial: its top, and section 3 cropped out of a tall page.

    Headless Chromium ignores a URL fragment when it takes a screenshot, so the page is shot
    tall and cropped at the section heading's offset, read from the page by ``--dump-dom``.
    """
    from PIL import Image

    page_path = html_dir / "tutorial.html"
    if not page_path.exists():
        raise SystemExit(f"{page_path} is missing: build the docs first (make -C docs html)")
    shoot(page_path.as_uri(), OUT / "tutorial-page.png", height=2000, width=1280)
    probe = html_dir / "_offset_probe.html"
    script = (
        '<script>window.addEventListener("load", () => {const r = document.getElementById('
        '"3-the-audit-report").getBoundingClientRect(); document.body.dataset.y = '
        "Math.round(r.top + window.scrollY);});</script></body>"
    )
    probe.write_text(page_path.read_text(encoding="utf-8").replace("</body>", script))
    try:
        dom = subprocess.run(
            [_chromium(), "--headless", "--no-sandbox",
             "--disable-gpu", "--no-first-run", "--window-size=1280,1500",
             "--virtual-time-budget=3000", "--dump-dom", probe.as_uri()],
            check=True, capture_output=True, text=True, timeout=120,
        ).stdout  # fmt: skip
    finally:
        probe.unlink()
    y = int(dom.split('data-y="', 1)[1].split('"', 1)[0]) - 60  # keep a margin above
    with tempfile.TemporaryDirectory() as tmp:
        tall = Path(tmp) / "tall.png"
        shoot(page_path.as_uri(), tall, height=y + 1500, width=1280)
        Image.open(tall).crop((0, y, 1280, y + 1500)).save(OUT / "tutorial-audit.png")


def main() -> None:
    import sys

    if "--tutorial" in sys.argv[1:]:
        tutorial()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report, one_key = build_report()
        lineage = build_lineage()
        pipeline = build_pipeline()
    OUT.mkdir(exist_ok=True)
    screenshot(page(lineage._repr_html_(), dark=False), OUT / "lineage-stale.png", height=560)
    screenshot(page(pipeline, dark=False), OUT / "pipeline-view.png", height=1000)
    screenshot(page(report._repr_html_(), dark=False), OUT / "audit-report.png", height=560)
    screenshot(page(report._repr_html_(), dark=True), OUT / "audit-report-dark.png", height=560)
    screenshot(page(one_key._repr_html_(), dark=True), OUT / "audit-history-dark.png", height=420)
    shots = [*OUT.glob("audit-*.png"), *OUT.glob("lineage-*.png"), *OUT.glob("pipeline-*.png")]
    print("\n".join(str(p) for p in sorted(shots)))


if __name__ == "__main__":
    main()
