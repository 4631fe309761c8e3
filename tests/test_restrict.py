"""``restrict_to``: the lineage links a sub-clustering to its parent, and the verdicts on it
follow the parent's labels (stale_result; deep verify's unverified, never replay_differs
for a parent that changed).

Real scanpy runs on pbmc68k_reduced: ``leiden`` (FAST, random_state=0), then
``sc.tl.leiden(adata, restrict_to=("leiden", ["0", "1"]), key_added="sub")``. The verdict
table's ``restrict_to`` rows (``tests/verdict_cases.py``) hold the verdicts on the routine
workflow; here: what scanpy writes, the lineage's outputs, the advice run as printed, files,
louvain, and a child whose own labels were edited.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import pytest
import scanpy as sc
from conftest import FAST

import provenance
from provenance._util.restrict import parent_read

if TYPE_CHECKING:
    from pathlib import Path

    from anndata import AnnData

RESTRICT = ("leiden", ["0", "1"])


@pytest.fixture(scope="module")
def made(_pbmc_master: AnnData) -> AnnData:
    adata = _pbmc_master.copy()
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="leiden", random_state=0, **FAST)
        sc.tl.leiden(adata, restrict_to=RESTRICT, key_added="sub", random_state=0, **FAST)
    return adata


@pytest.fixture
def adata(made: AnnData) -> AnnData:
    return made.copy()


def findings(obj: Any, key: str = "sub", *, deep: bool = False) -> list[tuple[str, Any]]:
    """``(code, cause)`` of every finding on ``key``."""
    report = provenance.audit(obj, deep=deep)
    return [(f.code, f.details.get("cause")) for f in report[key].findings]


def recluster_parent(adata: AnnData) -> None:
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="leiden", random_state=1, resolution=0.6, **FAST)


def rerun(adata: AnnData, call: str) -> None:
    """The advice, executed as printed."""
    with provenance.record(adata):
        eval(call, {"sc": sc, "adata": adata})


def test_sub_labels_tell_what_the_call_read(made):
    """scanpy's labels of a restricted cell are '<categories joined by ->,<n>' and the
    parent's label elsewhere: what the check reads is what scanpy wrote."""
    sub, leiden = made.obs["sub"].astype(str), made.obs["leiden"].astype(str)
    inside = leiden.isin(RESTRICT[1])
    assert sub[inside].str.startswith("0-1,").all()
    assert (sub[~inside] == leiden[~inside]).all()
    assert parent_read(made.obs["sub"], made.obs["leiden"], RESTRICT[1]).state == "same"


def test_lineage_links_the_parent(made):
    lin = provenance.lineage(made)
    assert lin.parents("sub") == ["neighbors", "leiden"]
    assert lin["sub"].status == "ok"
    text = lin.to_text(width=120)
    # Drawn under its deeper parent, naming the other.
    assert "└── sub  [ok]  clustering v1  (also from neighbors)" in text
    assert '"leiden" -> "sub";' in lin.to_dot()
    assert ["leiden", "sub"] in lin.to_dict()["edges"]
    html = lin._repr_html_()
    leiden_item = html[html.index('<code class="prov-key">leiden</code>') :]
    assert leiden_item.index('<ul class="prov-tree">') < leiden_item.index(
        '<code class="prov-key">sub</code>'
    )


def test_parent_reclustered_under_record(adata):
    r = provenance.replay(adata, "sub")
    assert r.identical and any("as the recorded call did" in n for n in r.notes)
    recluster_parent(adata)
    r = provenance.replay(adata, "sub")
    assert any("re-clustered or edited since the recorded call read it" in n for n in r.notes)
    report = provenance.audit(adata)
    (f,) = report["sub"].findings
    assert (f.code, f.details["cause"]) == ("stale_result", "reclustered")
    assert (f.details["version_used"], f.details["version_now"]) == (1, 2)
    assert f.details["clustering_key"] == "leiden"
    assert "obs['leiden']" in f.message and "re-clustered (version 2" in f.message
    assert f.details["rerun"] in f.message
    assert "restrict_to=('leiden', ['0', '1'])" in f.details["rerun"]
    assert provenance.lineage(adata)["sub"].status == "stale"
    # Deep: the honest record is not called forged; the cause is named.
    deep = findings(adata, deep=True)
    assert ("unverified", "parent_changed") in deep
    assert all(code != "replay_differs" for code, _ in deep)
    # The advice runs as printed and makes the sub-clustering current.
    rerun(adata, f.details["rerun"])
    assert findings(adata, deep=True) == []


def test_parent_edited_outside_record(adata):
    col = adata.obs["leiden"].copy()
    col.iloc[:40] = "2"
    adata.obs["leiden"] = col
    deep = findings(adata, deep=True)
    assert ("stale_result", "changed") in deep
    assert ("unverified", "parent_changed") in deep
    assert all(code != "replay_differs" for code, _ in deep)


def test_parent_renamed(adata):
    adata.obs["leiden"] = adata.obs["leiden"].cat.rename_categories(lambda c: f"T{c}")
    report = provenance.audit(adata, deep=True)
    # The sub-clustering still holds (the same cells, the same split) under label strings
    # that embed the old names: a warning, as the parent's own rename.
    stale = [f for f in report["sub"].findings if f.code == "labels_renamed"]
    assert [f.details["cause"] for f in stale] == ["renamed"]
    assert stale[0].details["mapping"]["2"] == "T2"
    assert "restrict_to=('leiden', ['T0', 'T1'])" in stale[0].details["rerun"]
    deep = [(f.code, f.details.get("cause")) for f in report["sub"].findings]
    assert ("unverified", "parent_changed") in deep
    rerun(adata, stale[0].details["rerun"])
    assert findings(adata) == []
    assert adata.obs["sub"].astype(str).str.startswith("T0-T1,").any()


def test_no_change_no_finding(adata):
    """A reorder of the parent's categories, an unused category, or a re-run of the parent
    that gives the same partition: nothing the call read changed."""
    cats = list(adata.obs["leiden"].cat.categories)
    adata.obs["leiden"] = adata.obs["leiden"].cat.reorder_categories(cats[::-1])
    adata.obs["leiden"] = adata.obs["leiden"].cat.add_categories(["unused"])
    assert findings(adata, deep=True) == []
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="leiden", random_state=0, **FAST)
    assert findings(adata, deep=True) == []


def test_child_edited_parent_reclustered(adata):
    """The child's labels no longer tell what was read; the parent's history still does."""
    col = adata.obs["sub"].copy()
    col.iloc[:5] = col.iloc[100]
    adata.obs["sub"] = col
    assert findings(adata) == [("labels_changed", None)]
    recluster_parent(adata)
    assert ("stale_result", "reclustered") in findings(adata)


def test_from_a_file(adata, tmp_path: Path):
    recluster_parent(adata)
    path = tmp_path / "sub.h5ad"
    adata.write_h5ad(path)
    assert findings(str(path), deep=True) == [
        ("stale_result", "reclustered"),
        ("unverified", "parent_changed"),
    ]
    # Reading uns alone, the parent's history still tells.
    report = provenance.audit(str(path), check_data=False)
    assert [(f.code, f.details["cause"]) for f in report["sub"].findings] == [
        ("stale_result", "reclustered")
    ]
    del adata.obs["leiden"]
    adata.write_h5ad(path)
    assert ("unverified", "parent_changed") in findings(str(path), deep=True)
    lin = provenance.lineage(str(path))
    assert lin.parents("sub") == ["neighbors", "leiden"]


def test_louvain_restrict_to(pbmc):
    adata = pbmc
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="leiden", random_state=0, **FAST)
        sc.tl.louvain(adata, restrict_to=RESTRICT, key_added="lsub", flavor="igraph")
    assert provenance.lineage(adata).parents("lsub") == ["neighbors", "leiden"]
    assert findings(adata, "lsub") == []
    col = adata.obs["leiden"].copy()
    col.iloc[:40] = "2"
    adata.obs["leiden"] = col
    assert findings(adata, "lsub") == [("stale_result", "changed")]


def test_export_links_the_parent_version_read(adata):
    """PROV and RO-Crate say which version of the parent the sub-clustering used."""
    from provenance._export.collect import collect

    recluster_parent(adata)
    runs = {r.id: r for r in collect(adata).runs}
    assert "leiden/v1/labels" in runs["sub/v1"].used
    assert "leiden/v2/labels" not in runs["sub/v1"].used


def test_unrecorded_parent(pbmc):
    """A parent without a record (pbmc68k_reduced's own bulk_labels): its labels still tell."""
    cats = ["CD14+ Monocyte", "Dendritic"]
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, restrict_to=("bulk_labels", cats), key_added="sub", **FAST)
    lin = provenance.lineage(pbmc)
    assert lin.parents("sub") == ["neighbors", "bulk_labels"]
    assert lin["bulk_labels"].status == "unrecorded"
    assert findings(pbmc, deep=True) == []
    col = pbmc.obs["bulk_labels"].copy()
    col.iloc[:20] = "Dendritic"
    pbmc.obs["bulk_labels"] = col
    (f,) = provenance.audit(pbmc)["sub"].findings
    assert (f.code, f.details["cause"], f.details["version_used"]) == (
        "stale_result",
        "changed",
        None,
    )
    assert "changed outside provenance.record()" in f.message
