"""``provenance.lineage``: graph → clustering → results, with the audit's verdict on each.

Real scanpy runs on pbmc68k_reduced, in memory and from ``.h5ad``/``.zarr`` files; the DOT
output is checked against a small grammar (no Graphviz binary needed).
"""

from __future__ import annotations

import io
import json
import re
import shutil
import warnings
from typing import TYPE_CHECKING

import h5py
import numpy as np
import pytest
import scanpy as sc
from conftest import FAST, SCANPY, write_zarr

import provenance
from provenance._cli import main

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

# scanpy's dendrogram calls pandas in ways pandas deprecates (1.12: set_index(inplace=True)
# on pandas 3.1; 1.9: groupby without observed=): scanpy's notices, not ours.
pytestmark = [
    pytest.mark.filterwarnings("ignore:The inplace keyword in DataFrame.set_index"),
    pytest.mark.filterwarnings("ignore:The default of observed=False is deprecated"),
]

# scanpy 1.9's filter_rank_genes_groups and paga fail on the legacy environment's pandas 2 and
# scipy (Series.nonzero, empty COO indices), with or without recording: left out there.
FULL = SCANPY >= (1, 10)
needs_full = pytest.mark.skipif(not FULL, reason="scanpy 1.9's paga/filter fail on pandas 2")

# The recorded workflow's edges, in the lineage's order (parents before children).
_EDGES = [
    ("neighbors", "L"),
    ("L", "rank_genes_groups"),
    ("L", "rank_genes_groups_filtered"),
    ("rank_genes_groups", "rank_genes_groups_filtered"),
    ("L", "dendrogram_L"),
    ("L", "paga"),
    ("neighbors", "paga"),
]
_LEFT_OUT = set() if FULL else {"rank_genes_groups_filtered", "paga"}
EDGES = [e for e in _EDGES if not _LEFT_OUT & set(e)]
RESULTS = tuple(
    k
    for k in ("rank_genes_groups", "rank_genes_groups_filtered", "dendrogram_L", "paga")
    if k not in _LEFT_OUT
)
_KINDS = {
    "neighbors": "neighbors",
    "L": "clustering",
    "rank_genes_groups": "rank_genes_groups",
    "rank_genes_groups_filtered": "filter_rank_genes_groups",
    "dendrogram_L": "dendrogram",
    "paga": "paga",
}
KINDS = {k: v for k, v in _KINDS.items() if k not in _LEFT_OUT}


def steps(adata: AnnData, *, filtered: bool = True) -> None:
    """neighbors → leiden → rank_genes_groups (→ filter) → dendrogram → paga, as scanpy runs them."""
    sc.pp.neighbors(adata, n_neighbors=10)
    sc.tl.leiden(adata, key_added="L", resolution=1.0, **FAST)
    sc.tl.rank_genes_groups(adata, "L", method="t-test", n_genes=20)
    if filtered and FULL:
        sc.tl.filter_rank_genes_groups(adata)
    sc.tl.dendrogram(adata, "L")
    if FULL:
        sc.tl.paga(adata, groups="L")


def recluster(adata: AnnData) -> None:
    """Re-run the clustering into other labels, leaving the results as they were."""
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="L", resolution=0.4, **FAST)


@pytest.fixture(scope="module")
def recorded(_pbmc_master) -> AnnData:
    adata = _pbmc_master.copy()
    with provenance.record(adata):
        steps(adata)
    return adata


@pytest.fixture(scope="module")
def stale(recorded) -> AnnData:
    adata = recorded.copy()
    recluster(adata)
    return adata


def _write(adata: AnnData, path: Path) -> Path:
    adata = adata.copy()
    # scanpy's filter leaves NaN among the gene names, which no writer accepts.
    adata.uns.pop("rank_genes_groups_filtered", None)
    if path.suffix == ".zarr":
        write_zarr(adata, path)
    else:
        adata.write_h5ad(path)
    return path


def _no_x(path: Path) -> None:
    """Make ``X`` unreadable: lineage must not need it."""
    if path.suffix == ".zarr":
        shutil.rmtree(path / "X")
        (path / "X").write_bytes(b"garbage")
        return
    with h5py.File(path, "r+") as f:
        del f["X"]
        f["X"] = np.frombuffer(b"\xde\xad\xbe\xef" * 8, dtype="u1")
        f["X"].attrs["encoding-type"] = "no-such-encoding"
        f["X"].attrs["encoding-version"] = "9.9.9"


# --- the recorded workflow --------------------------------------------------------------------


def test_recorded_workflow_edges_and_statuses(recorded):
    lin = provenance.lineage(recorded)
    assert lin.edges == EDGES
    assert lin.ok and not lin.stale
    for key, kind in KINDS.items():
        node = lin[key]
        assert (node.kind, node.status, node.version) == (kind, "ok", 1), node
    assert lin["neighbors"].function == "scanpy.pp.neighbors"
    assert lin["L"].function == "scanpy.tl.leiden"
    if FULL:
        assert lin["paga"].function == "scanpy.tl.paga"
        assert lin.parents("paga") == ["L", "neighbors"]
        assert lin.children("neighbors") == ["L", "paga"]
    # Parents come before children.
    order = [n.key for n in lin.nodes]
    assert all(order.index(p) < order.index(c) for p, c in lin.edges)
    # pbmc68k_reduced's own Louvain is there too, unrecorded and alone.
    assert lin["louvain"].status == "unrecorded"
    assert "louvain" not in {k for e in lin.edges for k in e}


def test_reclustering_makes_every_result_stale(stale):
    lin = provenance.lineage(stale)
    assert lin.edges == EDGES
    assert not lin.ok
    assert {n.key for n in lin.stale} == set(RESULTS)
    assert lin["L"].status == "ok" and lin["L"].version == 2
    assert lin["neighbors"].status == "ok"
    for key in RESULTS:
        assert "'L'" in lin[key].why or "obs['L']" in lin[key].why, lin[key].why
    text = lin.to_text(width=100)
    for key in RESULTS:
        line = next(x for x in text.splitlines() if re.search(rf"\b{key}  \[", x))
        assert "[stale]" in line, line
    n = len(RESULTS)
    assert "nothing stale" not in text and f"{n} stale" in text.splitlines()[0]
    assert repr(lin).endswith(f"{n} stale>")
    nodes = _parse_dot(lin.to_dot())[0]
    for key in RESULTS:
        assert nodes[key]["fillcolor"] == nodes[key]["fillcolor"] != nodes["L"]["fillcolor"]
        assert nodes[key]["color"] == "#cf222e"
    assert nodes["L"]["color"] == "#1a7f37"


@needs_full
def test_recomputing_the_results_clears_them(stale):
    adata = stale.copy()
    with provenance.record(adata):
        sc.tl.rank_genes_groups(adata, "L", method="t-test", n_genes=20)
        sc.tl.filter_rank_genes_groups(adata)
        sc.tl.dendrogram(adata, "L")
        sc.tl.paga(adata, groups="L")
    lin = provenance.lineage(adata)
    assert lin.ok and lin.edges == EDGES
    assert all(lin[k].version == 2 and lin[k].status == "ok" for k in RESULTS)


@pytest.mark.parametrize("suffix", [".h5ad", ".zarr"])
def test_from_a_file_without_reading_x(stale, tmp_path, suffix):
    path = _write(stale, tmp_path / f"stale{suffix}")
    _no_x(path)
    lin = provenance.lineage(path)
    want = [e for e in EDGES if "rank_genes_groups_filtered" not in e]
    assert lin.edges == want
    assert {n.key for n in lin.stale} == set(RESULTS) - {"rank_genes_groups_filtered"}
    assert lin.source == str(path)
    in_memory = provenance.lineage(_drop_filtered(stale))
    assert [n.to_dict() for n in lin.nodes] == [n.to_dict() for n in in_memory.nodes]


def _drop_filtered(adata: AnnData) -> AnnData:
    adata = adata.copy()
    adata.uns.pop("rank_genes_groups_filtered", None)
    return adata


# --- without record() -------------------------------------------------------------------------


@pytest.fixture(scope="module")
def plain(_pbmc_master) -> AnnData:
    adata = _pbmc_master.copy()
    steps(adata, filtered=False)
    return adata


def test_unrecorded_workflow_still_has_a_picture(plain, tmp_path):
    want = [("L", "rank_genes_groups"), ("L", "dendrogram_L"), ("L", "paga")][: 3 if FULL else 2]
    for source in (plain, _write(plain, tmp_path / "plain.h5ad")):
        lin = provenance.lineage(source)
        assert lin.edges == want
        for key in ("neighbors", "L", *(c for _, c in want)):
            assert (lin[key].kind, lin[key].status, lin[key].version) == (
                "unrecorded",
                "unrecorded",
                None,
            )
        assert not FULL or lin["paga"].function == "scanpy.tl.paga"
        assert lin["dendrogram_L"].function == "scanpy.tl.dendrogram"
        assert lin["neighbors"].function == "scanpy.pp.neighbors"
        assert lin.ok  # nothing contradicts a record: there is none
        assert "no record" in lin.to_text(width=80)


def test_unrecorded_results_of_other_labels_are_warnings(plain):
    adata = plain.copy()
    sc.tl.leiden(adata, key_added="L", resolution=0.3, **FAST)  # fewer clusters, no record
    lin = provenance.lineage(adata)
    for key in ("rank_genes_groups", "dendrogram_L", "paga")[: 3 if FULL else 2]:
        assert lin[key].status == "warning", lin[key]
        assert lin[key].kind == "unrecorded"
    assert lin.ok  # a suspicion, not a contradicted record: exit 0
    assert "[warning]" in lin.to_text(width=100)


@needs_full
def test_clustering_on_scanpys_default_graph_hangs_under_neighbors(pbmc):
    # pbmc68k_reduced's own graph, not recorded: the record says it was read through
    # uns["neighbors"] (scanpy's default), so the edge is drawn from that unrecorded node.
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="L", **FAST)
        sc.tl.paga(pbmc, groups="L")
    lin = provenance.lineage(pbmc)
    assert ("neighbors", "L") in lin.edges and ("neighbors", "paga") in lin.edges
    assert lin["neighbors"].status == "unrecorded" and lin["L"].status == "ok"


def test_mudata_modality_keys(pbmc, tmp_path):
    pytest.importorskip("mudata")
    from mudata import MuData

    rna = pbmc.copy()
    with provenance.record(rna):
        sc.tl.leiden(rna, key_added="L", **FAST)
        sc.tl.rank_genes_groups(rna, "L", method="t-test", n_genes=5)
    other = pbmc[:, :50].copy()
    other.var_names = [f"p_{v}" for v in other.var_names]
    other.uns.clear()
    del other.obs["louvain"]
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # mudata's notices about .update()
        mdata = MuData({"rna": rna, "prot": other})
        mdata.write(tmp_path / "m.h5mu")
    want = [("rna:neighbors", "rna:L"), ("rna:L", "rna:rank_genes_groups")]
    for source in (mdata, tmp_path / "m.h5mu"):
        lin = provenance.lineage(source)
        assert lin.edges == want
        assert lin["rna:rank_genes_groups"].status == "ok"


def test_pbmc_as_shipped_shows_its_markers_grouping(pbmc):
    # pbmc68k_reduced ships markers computed by scanpy long ago; their groupby is kept.
    groupby = pbmc.uns["rank_genes_groups"]["params"]["groupby"]
    lin = provenance.lineage(pbmc)
    assert (groupby, "rank_genes_groups") in lin.edges
    assert lin[groupby].status == "unrecorded"


# --- pictures ---------------------------------------------------------------------------------


@needs_full
def test_a_node_with_two_parents_is_drawn_once_naming_the_other(recorded):
    lin = provenance.lineage(recorded)
    text = lin.to_text(width=120)
    paga = [x for x in text.splitlines() if re.search(r"\bpaga  \[", x)]
    assert len(paga) == 1 and "also from neighbors" in paga[0], text
    # Under L (the deeper parent): indented below it.
    l_line = next(x for x in text.splitlines() if re.search(r"\bL  \[", x))
    assert paga[0].index("paga") > l_line.index("L")
    filt = [x for x in text.splitlines() if "rank_genes_groups_filtered  [" in x]
    assert len(filt) == 1 and "also from L" in filt[0]

    from rich.console import Console

    console = Console(file=io.StringIO(), width=120, color_system=None)
    console.print(lin)
    out = console.file.getvalue()
    assert out.count("paga  ok") == 1 and "also from neighbors" in out
    assert "└── " in out or "├── " in out


def test_text_fits_the_width_and_the_encoding(stale):
    lin = provenance.lineage(stale)
    for width in (40, 60, 100):
        assert max(map(len, lin.to_text(width=width).splitlines())) <= width
    ascii_text = lin.to_text(width=80, encoding="ascii")
    ascii_text.encode("ascii")
    assert "`-- " in ascii_text


def test_html_is_nested_lists_and_escapes_keys(pbmc):
    adata = pbmc.copy()
    adata.obs["<b>"] = adata.obs["louvain"]
    with provenance.record(adata):
        sc.tl.rank_genes_groups(adata, "<b>", method="t-test", n_genes=5, key_added="m&<i>")
    lin = provenance.lineage(adata)
    assert ("<b>", "m&<i>") in lin.edges
    page = lin._repr_html_()
    assert page.startswith('<div class="prov-audit prov-lineage">')
    assert "&lt;b&gt;" in page and "m&amp;&lt;i&gt;" in page
    body = page.split("</style>", 1)[1]
    assert "<b>" not in body and "<i>" not in body
    assert body.count("<ul") == body.count("</ul>") >= 2
    assert set(lin._repr_mimebundle_()) == {"text/plain", "text/html"}


# --- DOT --------------------------------------------------------------------------------------

_ID = r'"((?:[^"\\]|\\.)*)"'
_ATTR = rf"(\w+)=(?:{_ID}|(\w+))"
_NODE = re.compile(rf"^  {_ID} \[({_ATTR}(?:, {_ATTR})*)\];$")
_EDGE = re.compile(rf"^  {_ID} -> {_ID};$")
_GRAPH_ATTR = re.compile(rf"^  (?:{_ATTR}|node \[.*\]);$")


def _unq(text: str) -> str:
    """A quoted DOT string's text: ``\\"`` and ``\\\\`` undone, other escapes kept."""
    return re.sub(r'\\(["\\])', r"\1", text)


def _parse_dot(dot: str) -> tuple[dict[str, dict[str, str]], list[tuple[str, str]]]:
    """Nodes (id -> attributes) and edges of the DOT this package writes; fails on any line
    outside that grammar."""
    lines = dot.rstrip("\n").split("\n")
    assert lines[0] == "digraph lineage {" and lines[-1] == "}"
    nodes: dict[str, dict[str, str]] = {}
    edges = []
    for line in lines[1:-1]:
        if m := _EDGE.match(line):
            edges.append((_unq(m[1]), _unq(m[2])))
        elif m := _NODE.match(line):
            found = re.findall(_ATTR, m[2])
            nodes[_unq(m[1])] = {name: v or _unq(q) for name, q, v in found}
        else:
            assert _GRAPH_ATTR.match(line), line
    return nodes, edges


def test_dot_is_valid_with_shapes_by_kind(recorded):
    lin = provenance.lineage(recorded)
    nodes, edges = _parse_dot(lin.to_dot())
    assert edges == lin.edges
    assert set(nodes) == {n.key for n in lin.nodes}
    assert {p for e in edges for p in e} <= set(nodes)
    assert nodes["neighbors"]["shape"] == "ellipse"
    assert nodes["L"]["shape"] == "box"
    assert not FULL or nodes["paga"]["shape"] == "hexagon"
    assert nodes["louvain"]["style"] == "filled,dashed"  # unrecorded


def test_dot_quotes_awkward_keys(pbmc):
    adata = pbmc.copy()
    key = 'a "quoted" \\ key'
    adata.obs[key] = adata.obs["louvain"]
    sc.tl.dendrogram(adata, key, key_added="dendro\nline")
    lin = provenance.lineage(adata)
    assert (key, "dendro\nline") in lin.edges
    nodes, edges = _parse_dot(lin.to_dot())
    assert (key, "dendro\\nline") in edges  # a line break is DOT's \n escape, never raw
    assert key in nodes


# --- command line -----------------------------------------------------------------------------


def _run(capsys, *argv: object) -> tuple[int, str, str]:
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_cli_exit_codes_json_and_dot(recorded, stale, tmp_path, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "100")
    ok = _write(recorded, tmp_path / "ok.h5ad")
    bad = _write(stale, tmp_path / "stale.zarr")
    code, out, err = _run(capsys, "lineage", ok)
    assert code == 0, err
    assert "dendrogram_L" in out and "[ok]" in out
    code, out, _ = _run(capsys, "lineage", bad)
    assert code == 1 and "[stale]" in out
    code, out, _ = _run(capsys, "lineage", bad, "--json")
    d = json.loads(out)
    assert code == 1 and d["ok"] is False and d["n_stale"] == len(RESULTS) - FULL
    assert [tuple(e) for e in d["edges"]] == [
        e for e in EDGES if "rank_genes_groups_filtered" not in e
    ]
    assert {n["key"]: n["status"] for n in d["nodes"]}["dendrogram_L"] == "stale"
    code, out, _ = _run(capsys, "lineage", bad, "--dot")
    assert code == 1 and _parse_dot(out)[1]
    code, out, err = _run(capsys, "lineage", tmp_path / "missing.h5ad", "--json")
    assert code == 2 and json.loads(out)["error_type"] == "UnreadableFileError"
    with pytest.raises(SystemExit) as e:
        main(["lineage", str(ok), "--json", "--dot"])
    assert e.value.code == 2
