"""muon's WNN graph (``mu.pp.neighbors``) recorded as a neighbors record on the MuData: the
clustering of that graph (``sc.tl.leiden(mdata, neighbors_key="wnn")``) names it as its parent.
"""

from __future__ import annotations

import importlib.util

import pytest

if importlib.util.find_spec("muon") is None:
    pytest.skip(
        "muon is not installed: it is in the muon-3.11/muon-3.12 and louvain sessions only",
        allow_module_level=True,
    )

import scanpy as sc
from _muon_data import build_mudata, import_muon, quiet_mudata

import provenance

mu = import_muon()


def test_the_wnn_graph_is_the_parent_of_its_clustering():
    mdata = build_mudata()
    with provenance.record(mdata, strict=True), quiet_mudata():
        mu.pp.neighbors(mdata, key_added="wnn")
        sc.tl.leiden(
            mdata, neighbors_key="wnn", key_added="wnn_leiden", flavor="igraph", n_iterations=2
        )
    wnn = provenance.latest_step(mdata, "wnn")
    assert (wnn.kind, wnn.function, wnn.representation) == ("neighbors", "muon.pp.neighbors", None)
    assert {g.obsp_key for g in wnn.graphs.values()} == {"wnn_connectivities", "wnn_distances"}
    assert "obsp['wnn_connectivities']" in wnn.writes
    assert {"obs['rna:mod_weight']", "obs['rest:mod_weight']"} <= set(wnn.writes)
    leiden = provenance.latest(mdata, "wnn_leiden")
    assert leiden.neighbors is not None
    assert (leiden.neighbors.key, leiden.neighbors.digest) == ("wnn", wnn.digest)
    assert leiden.graph.obsp_key == "wnn_connectivities"
    assert provenance.audit(mdata).findings == ()
