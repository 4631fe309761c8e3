"""Render the audit report's HTML in headless Chromium: docs/_static/audit-report*.png.

Run: ``python docs/make_audit_screenshots.py`` (needs Debian's ``chromium``).

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


def page(body: str, *, dark: bool) -> str:
    style = JUPYTER_DARK if dark else "body { background: #ffffff; }"
    return (
        '<!doctype html><html><head><meta charset="utf-8">'
        f"<style>body {{ margin: 24px; }} {style}</style></head><body>{body}</body></html>"
    )


def screenshot(html: str, png: Path, *, height: int) -> None:
    chromium = shutil.which("chromium") or "/usr/bin/chromium"
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "page.html"
        src.write_text(html, encoding="utf-8")
        subprocess.run(
            [
                chromium,
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
                f"--window-size=1200,{height}",
                src.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )


def main() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report, one_key = build_report()
    OUT.mkdir(exist_ok=True)
    screenshot(page(report._repr_html_(), dark=False), OUT / "audit-report.png", height=560)
    screenshot(page(report._repr_html_(), dark=True), OUT / "audit-report-dark.png", height=560)
    screenshot(page(one_key._repr_html_(), dark=True), OUT / "audit-history-dark.png", height=420)
    print("\n".join(str(p) for p in sorted(OUT.glob("audit-*.png"))))


if __name__ == "__main__":
    main()
