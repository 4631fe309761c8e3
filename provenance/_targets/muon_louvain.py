"""``muon.tl.louvain``: multiplex Louvain over every modality's graph (vtraag louvain)."""

from __future__ import annotations

from provenance._schema.models import MuonLouvainParams

from .decode import vertex_partitions
from .muon_clustering import MuonClustering

__all__ = ["MuonLouvain"]


class MuonLouvain(MuonClustering):
    """``muon.tl.louvain(mdata, resolution, mod_weights, random_state, key_added, ...)``."""

    module = "muon.tl"
    attr = "louvain"
    function = "muon.tl.louvain"
    method = "louvain"
    params_model = MuonLouvainParams
    default_key = "louvain"
    fixed_key = "louvain"  # muon writes mdata.uns["louvain"] whatever key_added is
    partition_classes = vertex_partitions("louvain")
    backend = "louvain"
