"""``sc.external.pp`` integrations recorded where their packages are installed (the ``external``
extra, in the stable sessions): harmony and scanorama as transforms, bbknn as a neighbors
graph that a clustering names as its parent. Without the package nothing is patched.

pbmc68k_reduced with two planted batches (the first and the last 350 cells; scanorama needs
contiguous batches).
"""

from __future__ import annotations

import importlib.util
from typing import TYPE_CHECKING

import numpy as np
import pytest
import scanpy as sc
from conftest import LEIDENALG

import provenance
from provenance._record.patching import patches
from provenance._targets import registry
from provenance._targets.scanpy_external import ScanpyHarmonyIntegrate
from provenance._util.fingerprint import array_digest

if TYPE_CHECKING:
    from anndata import AnnData

MISSING = [p for p in ("harmonypy", "scanorama", "bbknn") if importlib.util.find_spec(p) is None]


def test_a_target_whose_package_is_missing_patches_nothing():
    class Absent(ScanpyHarmonyIntegrate):
        package = "provenance_no_such_package"

    saved = registry.recorded_functions()
    real = next(t for t in saved if type(t) is ScanpyHarmonyIntegrate)
    registry.unregister(real)
    absent = registry.register(Absent())
    try:
        original = sc.external.pp.harmony_integrate
        with provenance.record():
            assert sc.external.pp.harmony_integrate is original  # not patched, no error
            assert absent in patches.waiting()
        assert patches.waiting() == ()
    finally:
        registry._targets[:] = saved  # the registry as it was, in its order


needs_all = pytest.mark.skipif(
    bool(MISSING), reason=f"not installed: {MISSING} (the `external` extra, stable sessions)"
)


@pytest.fixture(scope="module")
def integrated(_pbmc_master: AnnData) -> AnnData:
    adata = _pbmc_master.copy()
    adata.obs["batch"] = np.where(np.arange(adata.n_obs) < 350, "a", "b")
    with provenance.record(adata, strict=True):
        sc.external.pp.harmony_integrate(adata, "batch", verbose=False)
        sc.external.pp.scanorama_integrate(adata, "batch", verbose=0)
        sc.external.pp.bbknn(adata, batch_key="batch", use_rep="X_pca_harmony", key_added="bb")
        sc.tl.leiden(adata, key_added="leiden", neighbors_key="bb", **LEIDENALG)
    return adata


@needs_all
@pytest.mark.parametrize(
    ("key", "written"),
    [("harmony_integrate", "X_pca_harmony"), ("scanorama_integrate", "X_scanorama")],
)
def test_an_integration_is_a_transform_of_the_pca_by_batch(integrated, key, written):
    rec = provenance.latest_step(integrated, key)
    assert (rec.kind, rec.function) == ("transform", f"scanpy.external.pp.{key}")
    assert sorted(rec.reads) == ["obs['batch']", "obsm['X_pca']"]
    assert list(rec.writes) == [f"obsm[{written!r}]"]
    assert rec.writes[f"obsm[{written!r}]"].digest == array_digest(integrated.obsm[written])
    assert rec.arguments["key"] == "batch"


@needs_all
def test_bbknn_is_a_neighbors_record_that_the_clustering_names(integrated):
    rec = provenance.latest_step(integrated, "bb")
    harmony = provenance.latest_step(integrated, "harmony_integrate")
    assert (rec.kind, rec.function) == ("neighbors", "scanpy.external.pp.bbknn")
    assert rec.representation.name == "X_pca_harmony" and rec.representation.n_dims == 50
    # It read what harmony wrote: the chain links by digest.
    assert rec.reads["obsm['X_pca_harmony']"] == harmony.writes["obsm['X_pca_harmony']"]
    assert set(rec.graphs) == {"connectivities", "distances"}
    assert rec.graphs["connectivities"].obsp_key == "bb_connectivities"
    leiden = provenance.latest(integrated, "leiden")
    assert leiden.neighbors is not None
    assert (leiden.neighbors.key, leiden.neighbors.digest) == ("bb", rec.digest)
    findings = [f for f in provenance.audit(integrated).findings if f.key != "louvain"]
    assert findings == []


@needs_all
def test_bbknn_rerun_with_other_arguments_makes_the_clustering_stale(integrated):
    adata = integrated.copy()
    with provenance.record(adata, strict=True):
        sc.external.pp.bbknn(
            adata, batch_key="batch", use_rep="X_pca_harmony", key_added="bb", trim=5
        )
    assert [r.version for r in provenance.step_history(adata, "bb")] == [1, 2]
    codes = {f.code for f in provenance.audit(adata).findings if f.key == "leiden"}
    assert codes & {"graph_changed", "stale_result", "stale_clustering"}, codes
