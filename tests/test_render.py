"""Renderings of the audit report: HTML (parsed), plain text, rich, and how show() picks one."""

from __future__ import annotations

import io
import os
import threading
from html.parser import HTMLParser

import pytest
import scanpy as sc
from _audit_data import RECORDED, sweep
from rich.console import Console

import provenance
from provenance._render.show import display

HOSTILE = 'louvain_<img src=x onerror="alert(1)">&'


@pytest.fixture(scope="module")
def adata(_pbmc_master):
    """A recorded sweep with one error (merged clusters), pbmc's own warning and a hostile key
    name.

    The hostile key is an unrecorded Louvain column without its own params, as scanpy <= 1.9
    left them, so uns["louvain"]["params"] is flagged as legacy and names it.
    """
    a = sweep(_pbmc_master.copy())
    col = a.obs["leiden_0.5"]
    a.obs["leiden_0.5"] = col.astype(str).replace({"1": "0"}).astype("category")
    a.obs[HOSTILE] = a.obs["louvain"].copy()
    return a


class _Collect(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tags: set[str] = set()
        self.attrs: list[tuple[str, str | None]] = []
        self.text: list[str] = []

    def handle_starttag(self, tag, attrs):
        self.tags.add(tag)
        self.attrs.extend(attrs)

    def handle_data(self, data):
        self.text.append(data)


def parse(html: str) -> _Collect:
    p = _Collect()
    p.feed(html)
    p.close()
    return p


def test_html_parses_and_holds_every_key_and_finding(adata):
    report = provenance.audit(adata)
    parsed = parse(report._repr_html_())
    text = "\n".join(parsed.text)
    for entry in report.entries:
        assert entry.key in text  # the parser unescapes: the hostile name comes back intact
        assert entry.status in text
    for f in report.findings:
        assert f.code in text
        assert f.message in text
    assert {"labels_changed", "no_record", "legacy_params"} <= {f.code for f in report.findings}
    # The hostile key is text, never markup.
    assert "img" not in parsed.tags and "script" not in parsed.tags
    assert all(name == "class" for name, _ in parsed.attrs)
    assert "NOT OK" in text


def test_html_follows_the_notebook_theme(adata):
    html = provenance.audit(adata)._repr_html_()
    for var in ("--jp-content-font-color1", "--vscode-editor-foreground", "--jp-error-color1",
                "--vscode-errorForeground", "--jp-border-color2"):  # fmt: skip
        assert f"var({var}" in html
    assert "@media (prefers-color-scheme: dark)" in html
    assert "background: #" not in html  # the page's background shows through


def test_html_one_key_shows_its_history(adata):
    parsed = parse(provenance.audit(adata, "leiden_1.0")._repr_html_())
    text = "\n".join(parsed.text)
    assert "History of" in text and "leiden_1.0" in text
    assert "n_iterations: 2 → -1" in text and "random_state: 0 → 42" in text
    assert "nothing" not in text  # v2 did change something


def test_plain_text(adata):
    report = provenance.audit(adata)
    text = str(report)
    assert "\x1b" not in text
    assert text.startswith("Provenance audit — NOT OK: AnnData object, 700 cells: 5 clustering")
    for key in (*RECORDED, "louvain", HOSTILE):
        assert key in text
    assert "[error] leiden_0.5: labels_changed:" in text
    assert text.index("[error]") < text.index("[warning]")
    assert repr(report) == ("<AuditReport AnnData object: 5 keys, NOT ok, 1 error, 3 warnings>")


def test_rich_rendering(adata):
    console = Console(file=io.StringIO(), width=200, record=True, color_system="standard")
    console.print(provenance.audit(adata, "leiden_1.0"))
    out = console.export_text()
    assert "leiden_1.0" in out and "History of leiden_1.0" in out
    assert "n_iterations: 2 → -1" in out


def test_show_prints_plain_text_when_not_a_tty(adata, capsys):
    provenance.show(adata)
    out = capsys.readouterr().out
    assert out == str(provenance.audit(adata)) + "\n"


def _through_a_pty(obj, env: dict[str, str], monkeypatch) -> str:
    for k, v in env.items():
        if v is None:
            monkeypatch.delenv(k, raising=False)
        else:
            monkeypatch.setenv(k, v)
    master, slave = os.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with open(slave, "w", encoding="utf-8", closefd=True) as tty:
        assert tty.isatty()
        display(obj, file=tty)
    reader.join(timeout=10)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_show_uses_rich_on_a_terminal(adata, monkeypatch):
    report = provenance.audit(adata)
    out = _through_a_pty(report, {"NO_COLOR": None, "TERM": "xterm-256color"}, monkeypatch)
    assert "\x1b[" in out  # styled by rich
    assert "leiden_1.0" in out


def test_no_color_gives_plain_text_on_a_terminal(adata, monkeypatch):
    report = provenance.audit(adata)
    out = _through_a_pty(report, {"NO_COLOR": "1", "TERM": "xterm-256color"}, monkeypatch)
    assert "\x1b" not in out
    assert out.replace("\r\n", "\n") == str(report) + "\n"


def test_show_on_a_path_reads_uns_only(adata, tmp_path, capsys):
    path = tmp_path / "a.h5ad"
    a = adata.copy()
    del a.obs[HOSTILE]  # a name with "/" or odd characters is the file format's business
    sc.pp.neighbors(a, n_neighbors=5)  # changed graph: only verify can tell
    a.write_h5ad(path)
    provenance.show(path)
    out = capsys.readouterr().out
    assert "graph_changed" not in out
    assert "only uns was read" in out
    assert provenance.audit(path).errors  # while the full audit sees it


def test_empty_report_renders(tmp_path):
    import anndata as ad
    import numpy as np

    report = provenance.audit(ad.AnnData(np.zeros((3, 2), dtype="float32")))
    assert report.entries == () and report.ok
    assert "No clustering found" in str(report)
    assert "No clustering found" in "\n".join(parse(report._repr_html_()).text)
