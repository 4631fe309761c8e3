"""``representation_changed``: the matrix a recorded neighbors graph was computed from, checked
only when asked (``audit(check_representation=True)``, ``verify --representation``)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import scanpy as sc
from conftest import FAST, write_zarr

import provenance
from provenance._cli import main


@pytest.fixture
def recorded(pbmc):
    with provenance.record(pbmc):
        sc.pp.neighbors(pbmc, n_neighbors=10, use_rep="X_pca", random_state=0)
        sc.tl.leiden(pbmc, key_added="L", **FAST)
    return pbmc


def _codes(report, key="neighbors"):
    return [f.code for f in report.step(key).findings]


def test_an_unchanged_representation_holds_and_is_read_only_when_asked(recorded):
    assert provenance.audit(recorded, check_representation=True).ok
    # A PCA re-run after the neighbors: by default the audit reads no obsm and says nothing.
    sc.pp.pca(recorded, n_comps=30)
    assert provenance.audit(recorded).ok
    report = provenance.audit(recorded, check_representation=True)
    assert not report.ok and _codes(report) == ["representation_changed"]
    f = report.step("neighbors").findings[0]
    assert f.severity == "error" and f.details["cause"] == "changed"
    assert "obsm['X_pca']" in f.message and "sc.pp.neighbors" in f.message
    assert (
        f.details["recorded"] == provenance.latest_step(recorded, "neighbors").representation.digest
    )
    # Re-running the neighbors inside record() makes it hold again (a second version).
    with provenance.record(recorded):
        sc.pp.neighbors(recorded, n_neighbors=10, use_rep="X_pca", random_state=0)
    assert len(provenance.step_history(recorded, "neighbors")) == 2
    assert _codes(provenance.audit(recorded, check_representation=True)) == []


def test_a_missing_representation_is_named(recorded):
    del recorded.obsm["X_pca"]
    f = provenance.audit(recorded, check_representation=True).step("neighbors").findings[0]
    assert (f.code, f.details["cause"]) == ("representation_changed", "missing")
    assert "is gone" in f.message


def test_x_as_the_representation(pbmc):
    with provenance.record(pbmc):
        sc.pp.neighbors(pbmc, n_neighbors=10, use_rep="X", random_state=0)
    assert provenance.latest_step(pbmc, "neighbors").representation.name == "X"
    assert provenance.audit(pbmc, check_representation=True).ok
    pbmc.X[0, 0] += 1.0  # one value of the expression matrix
    assert _codes(provenance.audit(pbmc, check_representation=True)) == ["representation_changed"]


@pytest.mark.parametrize("fmt", ["h5ad", "zarr"])
def test_verify_representation_from_files(recorded, tmp_path, fmt, capsys):
    recorded.obsm["X_pca"] = np.ascontiguousarray(recorded.obsm["X_pca"][:, ::-1])
    path = tmp_path / f"rep.{fmt}"
    if fmt == "zarr":
        write_zarr(recorded, path)
    else:
        recorded.write_h5ad(path)
    assert main(["verify", str(path)]) == 0  # obsm not read, nothing to say
    capsys.readouterr()
    assert main(["verify", "--representation", "--json", str(path)]) == 1
    out = json.loads(capsys.readouterr().out)
    step = next(s for s in out["steps"] if s["key"] == "neighbors")
    assert [f["code"] for f in step["findings"]] == ["representation_changed"]
