"""Rendering is a leaf: results hold data, one table binds them to their renderers.

Also what that changed for users: ``to_frame()`` columns are typed, and the HTML summary
table fits the width it is given (measured in a real browser when Chromium is installed).
"""

from __future__ import annotations

import ast
import html
import re
import shutil
import subprocess
from pathlib import Path

import pandas as pd
import pytest
from _audit_data import sweep

import provenance
from provenance._render.formats import RENDERERS, RESULT_TYPES
from provenance._render.html import fit_thresholds
from provenance._render.values import COLUMNS, ESSENTIAL, OPTIONAL, summary_rows
from provenance._util.display import Displayable, renderer, type_name

PKG = Path(provenance.__file__).parent
RESULTS = (provenance.AuditReport, provenance.AuditEntry, provenance.Diff, provenance.ReplayResult)
ESSENTIAL_H = {c.replace("_", " ") for c in ESSENTIAL}
_CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
RENDERING_NAMES = {
    "__str__",
    "__rich__",
    "__rich_console__",
    "_repr_html_",
    "_repr_mimebundle_",
    "to_text",
    "to_html",
    "to_rich",
}


@pytest.fixture(scope="module")
def adata(_pbmc_master):
    """A recorded sweep (leiden_1.0 has two versions) beside pbmc's own unrecorded Louvain."""
    return sweep(_pbmc_master.copy())


@pytest.fixture(scope="module")
def results(adata):
    report = provenance.audit(adata)
    replayed = provenance.replay(adata, "leiden_0.5")
    return {
        provenance.AuditReport: report,
        provenance.AuditEntry: report["leiden_1.0"],
        provenance.Diff: provenance.diff(adata, "leiden_0.5", "leiden_1.0"),
        provenance.ReplayResult: replayed,
    }


# --- results hold data -------------------------------------------------------------------


@pytest.mark.parametrize("cls", RESULTS, ids=lambda c: c.__name__)
def test_result_classes_define_no_rendering(cls):
    assert issubclass(cls, Displayable)
    assert not RENDERING_NAMES & set(vars(cls)), RENDERING_NAMES & set(vars(cls))
    for fmt in ("text", "html", "rich"):
        assert (type_name(cls), fmt) in RENDERERS


def test_the_table_names_the_real_types_and_renderers():
    # The table names types and renderers (imported on first use): each name is the class's.
    for name, qualified in RESULT_TYPES.items():
        module, _, attr = qualified.rpartition(".")
        cls = getattr(__import__(module, fromlist=[attr]), attr)
        assert attr == name and type_name(cls) == qualified
        assert cls is getattr(provenance, name, cls)
    assert {key[0] for key in RENDERERS} == set(RESULT_TYPES.values())
    for load in RENDERERS.values():
        assert callable(load())


def _imports(path: Path) -> set[str]:
    """Every module a file imports, at the top or inside a function."""
    out = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            out |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            out.add(node.module)
    return out


@pytest.mark.parametrize("layer", ["_util", "_schema", "_audit", "_compare"])
def test_layers_below_render_never_import_it_nor_a_display_library(layer):
    for path in sorted((PKG / layer).glob("*.py")):
        imported = _imports(path)
        bad = {m for m in imported if m.startswith("provenance._render")}
        bad |= {m for m in imported if m.split(".")[0] in ("rich", "IPython", "html")}
        assert not bad, f"{path.relative_to(PKG)} imports {sorted(bad)}"


def test_render_imports_results_one_way_only():
    render = {m for p in (PKG / "_render").glob("*.py") for m in _imports(p)}
    assert {"provenance._compare.diff", "provenance._audit.report"} <= render
    assert "provenance._render.core" not in render
    assert not (PKG / "_render" / "core.py").exists()
    for path in (PKG / "_render").glob("*.py"):
        assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, path.name


@pytest.mark.parametrize("cls", RESULTS, ids=lambda c: c.__name__)
def test_mimebundle_has_plain_text_and_html(results, cls):
    obj = results[cls]
    bundle = obj._repr_mimebundle_()
    assert set(bundle) == {"text/plain", "text/html"}
    assert bundle["text/plain"] == repr(obj)
    assert bundle["text/html"] == obj._repr_html_()
    assert bundle["text/html"].lstrip().startswith("<div")
    assert obj._repr_mimebundle_(include={"text/html"}).keys() == {"text/html"}
    assert obj._repr_mimebundle_(exclude={"text/html"}).keys() == {"text/plain"}
    # str() is the text renderer at the terminal's width; to_text takes another width.
    assert str(obj) == renderer(obj, "text")(obj)
    assert max(map(len, obj.to_text(width=60).splitlines())) <= 60


def test_rich_prints_every_result(results):
    import io

    from rich.console import Console

    for obj in results.values():
        console = Console(file=io.StringIO(), width=70, color_system=None)
        console.print(obj)
        out = console.file.getvalue()
        assert out.strip(), type(obj).__name__
        assert repr(obj) not in out  # the rendering, not the repr


def test_an_unregistered_result_says_how_to_register():
    class Orphan(Displayable):
        pass

    with pytest.raises(LookupError, match="no 'html' renderer is registered for Orphan"):
        Orphan()._repr_html_()


def test_history_changes_are_computed_by_the_audit(results):
    entry = results[provenance.AuditEntry]
    first, second = entry.changes
    assert first is None
    assert {r.field: (r.a, r.b) for r in second}["random_state"] == (0, 42)
    assert "random_state: 0 → 42" in entry.to_text(width=200)


# --- typed frames --------------------------------------------------------------------------


def test_report_frame_is_typed(results, adata):
    frame = results[provenance.AuditReport].to_frame()
    assert frame.index.name == "key"
    assert str(frame["versions"].dtype) == "Int64"
    assert str(frame["clusters"].dtype) == "Int64"
    assert frame["resolution"].dtype == "float64"
    assert isinstance(frame["recorded"].dtype, pd.DatetimeTZDtype)
    assert str(frame["recorded"].dtype.tz) == "UTC"
    rec = provenance.latest(adata, "leiden_1.0")
    row = frame.loc["leiden_1.0"]
    assert row["versions"] == 2 and row["clusters"] == rec.result.n_clusters
    assert row["resolution"] == 1.0 and row["random_state"] == 42
    assert row["recorded"] == pd.Timestamp(rec.finished_at)
    assert row["graph"] == "connectivities" and row["graph_digest"] == rec.graph.digest
    assert row["findings"] == []
    # pbmc68k_reduced's own Louvain: no record, so no count, no time; scanpy's resolution.
    louvain = frame.loc["louvain"]
    assert louvain["versions"] == 0 and louvain["clusters"] is pd.NA
    assert louvain["recorded"] is pd.NaT and louvain["resolution"] == 1.0
    assert louvain["findings"] == ["no_record"]


def test_empty_report_frame_keeps_its_columns():
    import anndata as ad
    import numpy as np

    frame = provenance.audit(ad.AnnData(np.zeros((3, 2), dtype="float32"))).to_frame()
    assert frame.empty and frame.index.name == "key"
    assert str(frame["clusters"].dtype) == "Int64"
    assert isinstance(frame["recorded"].dtype, pd.DatetimeTZDtype)


def test_diff_frame_is_typed(results):
    d = results[provenance.Diff]
    frame = d.to_frame()
    assert list(frame.columns) == ["section", "field", d.a, d.b, "same", "in_effect", "note"]
    assert frame["same"].dtype == bool and frame["in_effect"].dtype == bool
    row = frame.set_index("field").loc["resolution"]
    assert (row[d.a], row[d.b]) == (0.5, 1.0)


# --- the HTML table fits its width ---------------------------------------------------------


def test_html_table_may_wrap_scrolls_and_drops_optional_columns(results):
    report = results[provenance.AuditReport]
    page = report._repr_html_()
    css = page.split("<style>", 1)[1].split("</style>", 1)[0]
    assert "container: prov-audit / inline-size" in css
    assert re.search(r"\.prov-scroll \{[^}]*max-width: 100%; overflow-x: auto", css)
    assert re.search(r"table\.prov-table \{[^}]*max-width: 100%", css)
    assert "nowrap" not in css.split("table.prov-table th {", 1)[1].split("}", 1)[0]
    assert "prov-key { font-weight: 600; }" in css  # keys wrap rather than widen the table
    # Light and dark still come from CSS variables.
    assert "@media (prefers-color-scheme: dark)" in css and "var(--jp-border-color2" in css
    # Each optional column is hidden below its width, in priority order, and a note says so.
    limits = fit_thresholds(summary_rows(report))
    assert limits == sorted(limits) and len(limits) == len(OPTIONAL)
    for column, limit in zip(OPTIONAL, limits, strict=True):
        rule = f"@container prov-audit (max-width: {limit - 1}px) {{ .prov-fit-"
        assert rule in css and f".prov-c-{column} {{ display: none; }}" in css
    assert page.count('class="prov-c-graph') == len(report.entries) + 1
    # The documentation's content column (~700 px) keeps every essential column.
    assert limits[0] < 700 < limits[-1]


def _measure(page: str, width: int, tmp_path: Path) -> dict[str, str]:
    script = (
        '<script>window.addEventListener("load", () => { const t = document.querySelector('
        '"table.prov-summary"); const box = document.querySelector(".prov-scroll"); '
        "const shown = [...t.querySelectorAll('th')].filter(e => getComputedStyle(e).display "
        "!= 'none').map(e => e.textContent); const note = [...document.querySelectorAll("
        "'.prov-left-out')].filter(e => getComputedStyle(e).display != 'none').map(e => "
        "e.textContent); document.body.dataset.t = t.scrollWidth; document.body.dataset.b = "
        "box.clientWidth; document.body.dataset.shown = shown.join(','); "
        "document.body.dataset.note = note.join('|'); });</script>"
    )
    src = tmp_path / f"page{width}.html"
    src.write_text(
        f'<!doctype html><html><head><meta charset="utf-8"></head><body style="margin:0">'
        f'<div style="width:{width}px">{page}</div>{script}</body></html>',
        encoding="utf-8",
    )
    dom = subprocess.run(
        [_CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
         f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,900",
         "--virtual-time-budget=3000", "--dump-dom", src.as_uri()],
        capture_output=True, text=True, timeout=120, check=True,
    ).stdout  # fmt: skip
    body = dom.split("<body", 1)[1].split(">", 1)[0]
    return {k: html.unescape(v) for k, v in re.findall(r'data-(\w+)="([^"]*)"', body)}


@pytest.mark.skipif(_CHROMIUM is None, reason="needs a headless Chromium (Debian's chromium)")
@pytest.mark.parametrize("width", [520, 700, 800, 1200])
def test_html_table_fits_in_a_browser(results, width, tmp_path):
    got = _measure(results[provenance.AuditReport]._repr_html_(), width, tmp_path)
    assert int(got["t"]) <= int(got["b"]) <= width  # nothing cut, no scrollbar needed
    shown = got["shown"].split(",")
    assert [c.replace("_", " ") for c in ESSENTIAL] == [c for c in shown if c in ESSENTIAL_H]
    gone = [c for c in COLUMNS if c.replace("_", " ") not in shown]
    if gone:
        assert got["note"].startswith(f"({', '.join(gone)}: left out at this width")
    else:
        assert got["note"] == ""
    if width >= 1200:
        assert not gone


def test_replay_html_is_unchanged_by_the_move(adata):
    # The replay's HTML is what ReplayResult._repr_html_ wrote before the move.
    r = provenance.replay(adata, "leiden_1.0")
    page = r._repr_html_()
    assert page.startswith("<div style='color:var(--jp-content-font-color1, inherit)'>")
    assert f"Replay of {html.escape(repr('leiden_1.0'))} version 2 of 2" in page
    assert "identical" in page and "<table>" in page
