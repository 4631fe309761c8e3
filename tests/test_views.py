"""Seeing the pipeline: every call in order with what it read (from which call, by digest) and
wrote, in text, rich and an SVG picture; the lineage's whole DAG; ``adata.provenance``."""

from __future__ import annotations

import subprocess
import sys
import warnings
import xml.etree.ElementTree as ET
from typing import TYPE_CHECKING

import pytest
from _counts import planted_counts
from conftest import ANNDATA, FAST

import provenance
from provenance._compare.pipeline import key_edges, pipeline_of

if TYPE_CHECKING:
    from anndata import AnnData

CHAIN = [
    ("normalize_total", "log1p"),
    ("log1p", "hvg"),
    ("hvg", "pca"),
    ("pca", "neighbors"),
    ("neighbors", "umap"),
    ("leiden", "rank_genes_groups"),
]
# scanpy 1.11's umap rewrites the graph in place (leiden then reads umap's), 1.12's does not.
GRAPH_WRITERS = {("umap", "leiden"), ("neighbors", "leiden")}


@pytest.fixture(scope="module")
def piped() -> AnnData:
    import scanpy as sc

    adata = planted_counts(180, 120)
    with provenance.record(adata):
        sc.pp.filter_cells(adata, min_genes=1)  # the counts have empty cells
        sc.pp.filter_genes(adata, min_cells=1)
        sc.pp.normalize_total(adata, target_sum=1e4)
        sc.pp.log1p(adata)
        sc.pp.highly_variable_genes(adata, n_top_genes=60)
        sc.pp.pca(adata, n_comps=15)
        sc.pp.neighbors(adata, n_neighbors=10)
        sc.tl.umap(adata, maxiter=30)
        sc.tl.leiden(adata, key_added="leiden", **FAST)
        sc.tl.rank_genes_groups(adata, "leiden", method="t-test")
    return adata


@pytest.fixture(scope="module")
def rerun(piped: AnnData) -> AnnData:
    """The pipeline, then PCA re-run with other arguments, then X edited by hand and markers
    made again."""
    import scanpy as sc

    adata = piped.copy()
    with provenance.record(adata):
        sc.pp.pca(adata, n_comps=10)
    adata.X = adata.X * 2  # no recorded call
    with provenance.record(adata):
        sc.tl.rank_genes_groups(adata, "leiden", method="t-test", key_added="markers2")
    return adata


def test_the_pipeline_lists_every_call_in_order_linked_by_digest(piped):
    p = pipeline_of(provenance.audit(piped))
    assert [s.label for s in p.steps] == [
        "filter_cells v1",
        "filter_genes v1",
        "normalize_total v1",
        "log1p v1",
        "hvg v1",
        "pca v1",
        "neighbors v1",
        "umap v1",
        "leiden v1",
        "rank_genes_groups v1",
    ]
    assert p.inputs == ("X",)
    assert all(lk.status == "ok" for lk in p.links)
    into_pca = {
        (lk.slot, p.steps[lk.writer].key) for lk in p.links_into(5) if lk.writer is not None
    }
    assert into_pca == {("X", "log1p"), ("var['highly_variable']", "hvg")}
    assert dict(p.steps[5].arguments)["n_comps"] == 15
    assert p.steps[5].writes == ("obsm['X_pca']", "varm['PCs']")
    assert [(lk.writer, lk.slot) for lk in p.links_into(1)] == [(0, "X")]  # filtered cells
    edges = key_edges(p)
    assert set(CHAIN) <= set(edges) and len(GRAPH_WRITERS & set(edges)) == 1


def test_a_rerun_pca_marks_the_link_stale_and_an_unrecorded_edit_a_gap(rerun):
    p = pipeline_of(provenance.audit(rerun))
    labels = [s.label for s in p.steps]
    pca1, nb = labels.index("pca v1"), labels.index("neighbors v1")
    assert p.steps[pca1].status == "superseded"
    (link,) = p.links_into(nb)
    assert (link.writer, link.status) == (pca1, "stale")
    assert link.note == "pca v2 rewrote obsm['X_pca']"
    gap = next(lk for lk in p.links_into(labels.index("markers2 v1")) if lk.slot == "X")
    assert gap.status == "gap" and p.steps[gap.writer].key == "log1p"
    assert "changed between log1p v1 and markers2 v1, by no recorded call" in gap.note


def test_show_prints_the_pipeline_and_what_a_transform_read(rerun):
    text = provenance.audit(rerun).to_text(width=100)
    assert "Pipeline: 12 calls in the order they ran" in text and "1 gap, 1 stale link" in text
    assert "read obsm['X_pca'] from pca v1 [stale: pca v2 rewrote obsm['X_pca']]" in text
    assert "scanpy.pp.pca(n_comps=10" in text
    assert all(len(line) <= 100 for line in text.splitlines())
    one_key = provenance.audit(rerun, "leiden").to_text(width=100)
    assert "Pipeline:" not in one_key  # one key's report shows its history instead

    from rich.console import Console

    console = Console(record=True, width=90, force_terminal=True)
    console.print(provenance.audit(rerun))
    out = console.export_text()
    assert "Pipeline: 12 calls" in out and "[stale: pca v2 rewrote obsm['X_pca']]" in out


def test_the_html_report_draws_the_pipeline(rerun):
    page = provenance.audit(rerun)._repr_html_()
    start = page.index('<svg class="prov-dag"')
    svg = ET.fromstring(page[start : page.index("</svg>", start) + 6])  # well-formed
    ns = "{http://www.w3.org/2000/svg}"
    boxes = [g for g in svg.iter(f"{ns}g") if "prov-n" in g.get("class", "").split()]
    assert len(boxes) == 13  # the input X and 12 calls
    classes = {g.get("class") for g in boxes}
    assert {"prov-n prov-n-input", "prov-n prov-n-superseded"} <= classes
    paths = [
        p.get("class") for p in svg.iter(f"{ns}path") if p.get("class", "").startswith("prov-e")
    ]
    assert "prov-e prov-e-stale" in paths and "prov-e prov-e-gap" in paths
    assert 'class="prov-table prov-pipeline"' in page and "X from log1p v1" in page


def test_lineage_draws_the_whole_dag(piped):
    lin = provenance.lineage(piped)
    assert [e for e in lin.edges if e in CHAIN] == CHAIN
    assert len(GRAPH_WRITERS & set(lin.edges)) == 1
    assert lin["pca"].kind == "transform" and lin["pca"].function == "scanpy.pp.pca"
    keys = [n.key for n in lin.nodes]
    assert keys.index("normalize_total") < keys.index("pca") < keys.index("rank_genes_groups")
    assert '"log1p" -> "hvg";' in lin.to_dot()
    html = lin._repr_html_()
    assert '<svg class="prov-dag"' in html and ">normalize_total</text>" in html
    text = lin.to_text(width=100)
    assert "└── log1p  [ok]  transform v1" in text


@pytest.mark.skipif(ANNDATA < (0, 12), reason="register_anndata_namespace is anndata >= 0.12")
def test_the_accessor_calls_the_functions(piped):
    import anndata as ad

    from provenance._accessor import register

    ns = piped.provenance
    assert isinstance(ns, provenance.ProvenanceAccessor)
    assert [r.key for r in ns.steps()] == [r.key for r in provenance.steps(piped)]
    assert [r.version for r in ns.history("pca")] == [1]
    assert ns.history("leiden")[0].kind == "clustering"
    assert ns.audit().ok and ns.audit("leiden").key == "leiden"
    assert ns.lineage().edges == provenance.lineage(piped).edges
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        register(ad)  # again: nothing happens, nothing warns


def test_the_accessor_is_registered_when_anndata_is_imported_later():
    code = (
        "import sys, warnings; warnings.simplefilter('error')\n"
        "import provenance\n"
        "assert 'anndata' not in sys.modules\n"
        "import anndata, numpy as np\n"
        "a = anndata.AnnData(np.ones((2, 2), dtype=np.float32))\n"
        "print(hasattr(anndata, 'register_anndata_namespace'), hasattr(a, 'provenance'))\n"
        "print(a.provenance.steps() if hasattr(a, 'provenance') else '-')\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.split()
    can = str(ANNDATA >= (0, 12))
    assert out == [can, can, "[]" if can == "True" else "-"]


def test_a_wide_layer_is_drawn_as_rows_of_four():
    from provenance._render.svg import SvgEdge, SvgNode, dag_svg

    nodes = [SvgNode("g", "neighbors", "", "ok")]
    nodes += [SvgNode(f"l{i}", f"leiden_{i}", "<&>", "stale") for i in range(10)]
    edges = [SvgEdge("g", f"l{i}", label="obsp['connectivities']") for i in range(10)]
    svg = ET.fromstring(dag_svg(nodes, edges, title="a sweep"))
    ys = [r.get("y") for r in svg.iter("{http://www.w3.org/2000/svg}rect")]
    assert sorted(ys.count(y) for y in set(ys)) == [1, 2, 4, 4]  # neighbors, then 4 + 4 + 2
    labels = [t.text for t in svg.iter("{http://www.w3.org/2000/svg}text")]
    assert labels.count("obsp['connectivities']") == 1 and "<&>" in labels  # once; escaped


def test_verify_writes_the_report_as_an_html_page(rerun, tmp_path, capsys):
    from provenance._cli import main

    path, page = tmp_path / "rerun.h5ad", tmp_path / "report.html"
    rerun.write_h5ad(path)
    expected = 0 if provenance.audit(path).ok else 1  # the stale graph: 1 once it is a finding
    assert main(["verify", str(path), "--html", str(page)]) == expected
    html = page.read_text(encoding="utf-8")
    assert html.startswith("<!doctype html>") and html.count('<svg class="prov-dag"') == 1
    assert f"<title>Provenance audit of {path}</title>" in html
    assert "Pipeline: 12 calls" in capsys.readouterr().out  # the terminal report as before
