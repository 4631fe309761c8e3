"""``muon.pp.neighbors``: the weighted nearest neighbors (WNN) graph of a MuData's modalities.

It reads each modality's own ``sc.pp.neighbors`` result (``mod[m].uns[neighbor_keys[m] or
"neighbors"]``: its representation and distances) and writes one multimodal graph on the
MuData: ``mdata.obsp['connectivities']``/``['distances']`` with ``mdata.uns['neighbors']``, or
``<key_added>_connectivities``/``<key_added>_distances`` with ``mdata.uns[key_added]``, plus
each modality's weight per cell (``mdata.obs['<mod>:mod_weight']``). The record is a
:class:`NeighborsRecord` on the MuData, so a clustering of that graph
(``sc.tl.leiden(mdata, neighbors_key="wnn")``) names it as its neighbors parent.

The modalities' matrices are not the MuData's slots: ``reads`` is empty, and the graphs
``muon`` combined are the modalities' own neighbors records. muon 0.2 defines the function
in ``muon.pp``, 0.1.9 in ``muon._core.preproc``; like the multiplex clusterings, a session
without muon imported does not import it (a late ``import muon`` is patched on import).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

from provenance._schema.models import NeighborsRecord

from .muon_clustering import imported_module, load_muon
from .scanpy_neighbors import written_graphs
from .steps import StepTarget

if TYPE_CHECKING:
    from collections.abc import Mapping
    from types import ModuleType


__all__ = ["MuonNeighbors"]

_GRAPHS = (("connectivities", "connectivities_key"), ("distances", "distances_key"))


class MuonNeighbors(StepTarget):
    """``muon.pp.neighbors(mdata, n_neighbors, n_bandwidth_neighbors, n_multineighbors,
    neighbor_keys, metric, low_memory, key_added, weight_key, ..., copy, random_state)``."""

    module = "muon.pp"
    attr = "neighbors"
    function = "muon.pp.neighbors"
    kind = "neighbors"
    default_key = "neighbors"
    record_model = NeighborsRecord
    packages = ("muon", "mudata")
    defaults: ClassVar[Mapping[str, Any]] = {
        "n_neighbors": None,
        "n_bandwidth_neighbors": 20,
        "n_multineighbors": 200,
        "neighbor_keys": None,
        "metric": "euclidean",
        "low_memory": None,
        "key_added": None,
        "weight_key": "mod_weight",
        "add_weights_to_modalities": False,
        "eps": 0.0001,
        "copy": False,
        "random_state": 42,
    }

    def patch_module(self) -> ModuleType | None:
        # Never imports muon (~15 s); an already imported one is patched (and a later import,
        # by the recorder's import hook).
        return imported_module(self.attr, ("muon.pp", "muon._core.preproc"))

    def load(self) -> Any:
        return load_muon(self.patch_module(), "pp", self.attr)

    def records_call(self, data: Any) -> bool:
        return hasattr(data, "mod")

    def describe(
        self, out: Any, named: Mapping[str, Any], *, key: str, names_digest: str
    ) -> dict[str, Any]:
        # Several modalities' representations, none of the MuData's: no single one to name.
        return {"representation": None, "graphs": written_graphs(out, key)}
