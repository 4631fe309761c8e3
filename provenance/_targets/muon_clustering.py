"""What muon's multiplex clustering functions share (``muon.tl.leiden``/``muon.tl.louvain``).

On a MuData, muon clusters the graphs of every modality in ``mdata.mod`` order as one
multiplex partition (leidenalg's or louvain's optimiser, unweighted edges), writes the labels
to ``mdata.obs[key_added]`` and its params to the FIXED key ``mdata.uns["leiden"]`` /
``["louvain"]`` whatever ``key_added`` is. The record goes to ``mdata.uns[key_added]`` with
``params`` as scanpy >= 1.10 writes them; muon's fixed key is put back as it was before the
call (as the recorder does for scanpy <= 1.9), so nothing there belongs to another run.
On an AnnData muon calls ``sc.tl.leiden``/``sc.tl.louvain``, whose target records it.
"""

from __future__ import annotations

import contextlib
import sys
import warnings
from collections.abc import Mapping, Sequence
from importlib.util import find_spec
from typing import TYPE_CHECKING, Any, ClassVar

from provenance._base.errors import ProvenanceError, ReplayError
from provenance._schema.models import LayerInfo
from provenance._util.jsonsafe import jsonable, qualname

from .base import Target, _version
from .decode import decode_argument, resolve_class

if TYPE_CHECKING:
    import inspect
    from types import ModuleType

    from provenance._schema.models import ClusteringRecord, Params

__all__ = ["MuonClustering", "imported_module", "load_muon"]


def imported_module(attr: str, names: Sequence[str]) -> ModuleType | None:
    """The first of the modules ``names`` that is imported and has ``attr`` (muon >= 0.2
    defines its functions in ``muon.tl``/``muon.pp``, 0.1.9 in ``muon._core``); never imports
    one."""
    for name in names:
        module = sys.modules.get(name)
        if module is not None and hasattr(module, attr):
            return module
    return None


def load_muon(module: ModuleType | None, public: str, attr: str) -> Any:
    """``module.attr``, else ``muon.<public>.<attr>`` imported now; ``None`` without muon."""
    if module is not None:
        return getattr(module, attr, None)
    try:
        import muon
    except ImportError:
        return None
    return getattr(getattr(muon, public), attr, None)


_OWN = (
    "data", "resolution", "mod_weights", "random_state", "key_added", "neighbors_key",
    "directed", "partition_type", "partition_kwargs",
)  # fmt: skip


class MuonClustering(Target):
    """A muon multiplex clustering function (see the module docstring)."""

    fixed_key_package = "muon"
    backend: ClassVar[str]
    """The package of the optimiser (``leidenalg``, ``louvain``)."""

    def patch_module(self) -> ModuleType | None:
        # ``import muon`` takes ~15 s (it imports umap): not for a session without MuData.
        # muon >= 0.2 defines the functions in ``muon.tl``, 0.1.9 in ``muon._core.tools``.
        # A session that already works with MuData (mudata imported) gets muon imported here,
        # so a muon imported later inside the block is still patched.
        if "muon" not in sys.modules and "mudata" in sys.modules and find_spec("muon"):
            with contextlib.suppress(ImportError):
                import muon  # noqa: F401
        return imported_module(self.attr, ("muon.tl", "muon._core.tools"))

    def load(self) -> Any:
        return load_muon(self.patch_module(), "tl", self.attr)

    def records_call(self, data: Any) -> bool:
        return hasattr(data, "mod")  # an AnnData goes on to scanpy's (recorded) function

    def backends(self, flavor: str | None) -> tuple[str, ...]:
        return ("muon", "mudata", self.backend, "igraph")

    def partition_packages(self, flavor: str | None) -> tuple[str, ...]:
        # muon builds each layer's igraph graph with scanpy's get_igraph_from_adjacency and
        # seeds the optimiser's own generator; mudata only holds the data.
        return ("muon", "scanpy", self.backend, "igraph")

    def writes_fixed_key(self) -> bool:
        return True  # every muon version writes uns["leiden"]/["louvain"]

    # -- record ----------------------------------------------------------------------------

    def record_params(self, named: dict[str, Any], var_kw: dict[str, Any]) -> Params:
        pt = named.get("partition_type")
        rs = named.get("random_state")
        # muon 0.1.9 seeds only a truthy random_state ("if random_state:"), >= 0.2 any non-None.
        seeded = (rs is not None) if _version("muon") >= (0, 2) else bool(rs)
        return self.params_model(  # type: ignore[return-value]
            resolution=_per_mod(named.get("resolution")),
            mod_weights=_per_mod(named.get("mod_weights")),
            random_state=jsonable(rs),
            seeded=seeded,
            key_added=named["key_added"],
            neighbors_key=named.get("neighbors_key"),
            directed=bool(named.get("directed", True)),
            partition_type=None if pt is None else qualname(pt),
            partition_kwargs=jsonable(dict(named.get("partition_kwargs") or {})),
            optimiser_kwargs=jsonable(dict(var_kw)),
            other_args={k: jsonable(v) for k, v in named.items() if k not in _OWN},
        )

    def graph_args(self, named: Mapping[str, Any]) -> dict[str, Any]:
        return {"adjacency": None, "obsp": None, "neighbors_key": named.get("neighbors_key")}

    def layers(self, out: Any, named: Mapping[str, Any], params: Any) -> list[LayerInfo]:
        from provenance._storage.graph import graph_info

        mods = list(out.mod)
        weights = _effective(params.mod_weights, mods, default=1.0, what="mod_weights")
        default = 1.0 if params.partition_type is None else None  # RBConfiguration's default
        res = _effective(params.resolution, mods, default=default, what="resolution")
        return [
            LayerInfo(
                modality=m,
                graph=graph_info(out.mod[m], **self.graph_args(named)),
                weight=w if w is not None else 1.0,
                resolution=r,
            )
            for m, w, r in zip(mods, weights, res, strict=True)
        ]

    def uns_entry(self, out: Any, key: str, params: Any) -> dict[str, Any] | None:
        if key == self.fixed_key:
            return None  # muon's own write is this key's entry
        written = {"resolution": params.resolution, "random_state": params.random_state}
        written.update({k: v for k, v in params.optimiser_kwargs.items() if k == "n_iterations"})
        # anndata cannot write None to .h5ad/.h5mu: an unset value is left out, as scanpy does.
        return {"params": {k: v for k, v in written.items() if v is not None}}

    # -- replay ----------------------------------------------------------------------------

    def replay_kwargs(
        self, params: Any, *, parameters: Mapping[str, inspect.Parameter], where: str
    ) -> dict[str, Any]:
        p = params
        classes = self.partition_classes
        kwargs: dict[str, Any] = {
            "resolution": p.resolution,
            "mod_weights": p.mod_weights,
            "random_state": decode_argument(
                p.random_state, what="params.random_state", classes=classes
            ),
            "neighbors_key": p.neighbors_key,
            "directed": p.directed,
            "partition_type": None
            if p.partition_type is None
            else resolve_class(p.partition_type, what="params.partition_type", classes=classes),
            "partition_kwargs": decode_argument(
                p.partition_kwargs, what="params.partition_kwargs", classes=classes
            ),
        }
        for name, value in {**p.other_args, **p.optimiser_kwargs}.items():
            if name in kwargs:
                msg = f"{where}: optimiser_kwargs {name!r} collides with a named argument."
                raise ReplayError(msg)
            kwargs[name] = decode_argument(value, what=f"params.{name}", classes=classes)
        return kwargs

    def replay_stage(
        self, data: Any, rec: ClusteringRecord, kwargs: dict[str, Any], *, force: bool, where: str
    ) -> tuple[Any, str, bool | None, bool, str | None]:
        """A scratch MuData holding each modality's recorded graph, checked against its layer."""
        import pandas as pd
        from anndata import AnnData

        from provenance._storage.graph import CurrentGraph

        layers = rec.layers or []
        if not hasattr(data, "mod") or [lay.modality for lay in layers] != list(data.mod):
            msg = (
                f"{where} clustered the modalities {[lay.modality for lay in layers]}, but the "
                "object passed has other modalities (or none); replay the MuData it was made on."
            )
            raise ReplayError(msg)
        mods, names, matches, bad = {}, [], True, []
        nk = rec.params.neighbors_key or "neighbors"
        for lay in layers:
            mod = data.mod[lay.modality]
            key = lay.graph.obsp_key or "connectivities"
            name = f"mod[{lay.modality!r}].obsp[{key!r}]"
            names.append(name)
            if key not in mod.obsp:
                msg = f"{where} clustered {name}, which is missing now."
                raise ReplayError(msg)
            check = CurrentGraph(mod.obsp[key], name=name).check(lay.graph)
            if not check.matches:
                matches = False
                bad.append(f"{name}: {check.detail}")
            mods[lay.modality] = AnnData(
                obs=pd.DataFrame(index=mod.obs_names.copy()),
                obsp={key: mod.obsp[key]},
                uns={nk: {"connectivities_key": key, "distances_key": "distances"}},
            )
        if not matches and not force:
            msg = (
                f"the graphs of {where} changed since it was recorded ({'; '.join(bad)}); "
                "replay(..., force=True) or --force replays on the graphs as they are now."
            )
            raise ReplayError(msg)
        import mudata

        with warnings.catch_warnings():
            # mudata's own notices on building a MuData (0.3: its API; 0.4.1: pandas 3.1's
            # inplace deprecation), about a scratch object the user never sees.
            warnings.filterwarnings("ignore", message="From 0.4 .update", category=FutureWarning)
            warnings.filterwarnings(
                "ignore",
                message="The inplace keyword in DataFrame.drop",
                category=DeprecationWarning,
            )
            scratch = mudata.MuData(mods)
        return scratch, ", ".join(names), matches, not matches, None

    # -- adopt -----------------------------------------------------------------------------

    def recognizes(self, key: str, params: Mapping[str, Any]) -> bool:
        # Only muon keeps the multiplex optimiser's partition_improvement.
        return key == self.fixed_key and "partition_improvement" in params

    def adopt_params(self, key: str, known: Mapping[str, Any]) -> Params:
        msg = (
            f"uns[{key!r}] holds muon's params of an unrecorded run, without its key_added, "
            "mod_weights or graphs: it cannot be adopted. Re-run it inside "
            "`provenance.record(mdata)`."
        )
        raise ProvenanceError(msg)


def _per_mod(value: Any) -> Any:
    """A per-modality argument as passed, JSON-safe: a float, ``{mod: float}``, a list, None."""
    if value is None:
        return None
    if isinstance(value, Mapping):
        return {str(k): float(v) for k, v in value.items()}
    if isinstance(value, Sequence) and not isinstance(value, str):
        return [float(v) for v in value]
    return float(value)


def _effective(value: Any, mods: list[str], *, default: float | None, what: str) -> list[Any]:
    """One value per modality, resolved as muon does; falsy (None, 0, empty) -> ``default``."""
    if not value:
        return [default] * len(mods)
    if isinstance(value, Mapping):
        if what == "mod_weights":
            return [float(value.get(m, 1.0)) for m in mods]
        missing = [m for m in mods if m not in value]
        if missing:
            msg = f"{what} names no value for the modalities {missing}"
            raise ProvenanceError(msg)
        return [float(value[m]) for m in mods]
    if isinstance(value, list):
        if len(value) != len(mods):
            msg = f"{what} has {len(value)} values for {len(mods)} modalities"
            raise ProvenanceError(msg)
        return [float(v) for v in value]
    return [float(value)] * len(mods)
