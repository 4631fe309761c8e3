"""``muon.tl.leiden``: multiplex Leiden over every modality's graph of a MuData (leidenalg)."""

from __future__ import annotations

from provenance._schema.models import MuonLeidenParams

from .decode import vertex_partitions
from .muon_clustering import MuonClustering

__all__ = ["MuonLeiden"]


class MuonLeiden(MuonClustering):
    """``muon.tl.leiden(mdata, resolution, mod_weights, random_state, key_added, ...)``."""

    module = "muon.tl"
    attr = "leiden"
    function = "muon.tl.leiden"
    method = "leiden"
    params_model = MuonLeidenParams
    default_key = "leiden"
    fixed_key = "leiden"  # muon writes mdata.uns["leiden"] whatever key_added is
    partition_classes = vertex_partitions("leidenalg")
    backend = "leidenalg"
