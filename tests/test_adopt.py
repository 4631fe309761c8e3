"""Adopting clusterings made without this package."""

from __future__ import annotations

import pytest
import scanpy as sc
from conftest import FAST, SCANPY, roundtrip

import provenance
from provenance import adopt

# scanpy 1.9 writes an unrecorded call's params to uns["leiden"] whatever key_added is;
# test_compat.py adopts that case.
needs_own_key = pytest.mark.skipif(
    SCANPY < (1, 10), reason="scanpy 1.9 writes params to uns['leiden'], not uns[key_added]"
)


def test_pbmc_old_louvain_is_adopted_as_reconstructed(pbmc, tmp_path):
    (rec,) = adopt(pbmc)
    assert (rec.key, rec.method, rec.origin) == ("louvain", "louvain", "adopted")
    assert (rec.params.resolution, rec.params.random_state) == (1.0, 0)
    assert "flavor" in rec.params.unknown and rec.params.flavor is None
    assert rec.software is None and rec.started_at is None and rec.graph is None
    assert rec.result.n_clusters == len(pbmc.obs["louvain"].cat.categories)
    assert rec.digest == rec.expected_digest()
    assert provenance.history(roundtrip(pbmc, tmp_path, "h5ad"), "louvain") == [rec]
    assert adopt(pbmc) == []  # a key with a history is left alone


@needs_own_key
def test_adopt_ignores_annotations_and_recorded_keys(pbmc):
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="rec", **FAST)
    sc.tl.leiden(pbmc, key_added="plain", **FAST)
    adopted = {r.key: r for r in adopt(pbmc)}
    assert set(adopted) == {"louvain", "plain"}  # not bulk_labels/phase, not the recorded key
    assert adopted["plain"].params.n_iterations == 2
    assert adopted["plain"].params.flavor is None
    # Adopting and then recording again continues the history.
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="plain", **FAST, random_state=3)
    hist = provenance.history(pbmc, "plain")
    assert [r.origin for r in hist] == ["adopted", "recorded"]
    assert hist[1].previous == hist[0].digest


def test_adopt_named_key_that_cannot_be_adopted(pbmc):
    with pytest.raises(provenance.ProvenanceError, match=r"cannot adopt \['bulk_labels'\]"):
        adopt(pbmc, keys=["bulk_labels"])


def test_cli_adopt_rewrites_a_file_made_without_the_package(pbmc, tmp_path):
    from provenance._cli import main

    path = tmp_path / "old.h5ad"
    pbmc.write_h5ad(path)
    before = provenance.audit(path)
    assert any(f.code == "no_record" for e in before.entries for f in e.findings)
    assert main(["adopt", str(path), "--in-place"]) == 0
    after = provenance.audit(path)
    (rec,) = provenance.history(__import__("anndata").read_h5ad(path), "louvain")
    assert rec.origin == "adopted"
    assert not any(
        f.code == "no_record" for e in after.entries if e.key == "louvain" for f in e.findings
    )
    assert not list(tmp_path.glob(".old.h5ad*"))  # the temporary file was moved over the original


def test_adopted_records_audit_with_an_unverifiable_graph_warning(pbmc):
    adopt(pbmc)
    report = provenance.audit(pbmc)
    (entry,) = [e for e in report.entries if e.key == "louvain"]
    assert [f.code for f in entry.findings] == ["graph_not_checkable"]
    assert "adopted" in entry.findings[0].message
    assert report.ok  # a warning, not an error
    pbmc.obs["louvain"] = pbmc.obs["louvain"].cat.rename_categories(lambda c: f"c{c}")
    codes = [
        f.code for e in provenance.audit(pbmc).entries if e.key == "louvain" for f in e.findings
    ]
    assert "labels_renamed" in codes  # the labels are still checked


@needs_own_key
def test_adopt_skips_what_cannot_be_validated_with_a_warning(pbmc):
    import numpy as np

    sc.tl.leiden(pbmc, key_added="nanres", **FAST)
    pbmc.uns["nanres"]["params"]["resolution"] = np.nan
    with pytest.warns(provenance.ProvenanceWarning, match="cannot adopt 'nanres'"):
        adopted = adopt(pbmc)
    assert [r.key for r in adopted] == ["louvain"]
    with pytest.raises(provenance.ProvenanceError, match="cannot adopt 'nanres'"):
        adopt(pbmc, keys=["nanres"])
