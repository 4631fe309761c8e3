"""The params of schema 1.6's clustering records (scanpy's and muon's ``leiden``/``louvain``).

With ``v1_6_parts.py``: the parts of the current records, which import no older version, so
that reading current records defines no older version's models (those are imported only when
a file holds an older record, ``models.py``). The older versions that hold the same parts
(1.1's and 1.2's params) import them from here. Frozen with the version, as every version
module is: a later version that changes a part defines its own.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import ConfigDict, Discriminator, Field, JsonValue, Tag

from .base import FrozenModel, RandomStateValue

__all__ = [
    "LeidenParams",
    "LouvainParams",
    "MuonLeidenParams",
    "MuonLouvainParams",
    "Params",
    "RestrictTo",
]


class RestrictTo(FrozenModel):
    """The ``restrict_to=(obs_key, categories)`` argument."""

    key: str
    """The ``obs`` column whose categories were re-clustered."""
    categories: list[str]
    """The categories that were re-clustered, as strings."""


class _ParamsBase(FrozenModel):
    resolution: float | None
    """Resolution parameter (``None`` when the partition type takes none)."""
    random_state: RandomStateValue
    """The seed: an int, ``None``, or the tagged JSON form of a RandomState/Generator."""
    restrict_to: RestrictTo | None
    """Restriction of the clustering to some categories of an ``obs`` column."""
    key_added: str
    """The ``key_added`` argument as passed (the key written may carry ``_R``)."""
    adjacency: str | None
    """``None``, or a short description of the matrix passed as ``adjacency``."""
    directed: bool | None
    """Whether the backend treated the graph as directed, as it resolved it (``None``: not
    known, in adopted records)."""
    use_weights: bool | None
    """Whether edge weights were used (``None``: not known, in adopted records)."""
    partition_type: str | None
    """Qualified class name of the partition type, ``None`` for the backend default."""
    neighbors_key: str | None
    """``neighbors_key`` argument: which ``pp.neighbors`` result was used."""
    obsp: str | None
    """``obsp`` argument: which ``obsp`` matrix was used."""
    copy_: bool | None = Field(alias="copy")
    """Whether scanpy returned a copy instead of modifying the object in place."""
    flavor: str | None
    """Backend that ran (``"leidenalg"``/``"igraph"``, ``"vtraag"``/``"igraph"``), as the
    function resolved it: scanpy 1.12's ``flavor=None`` runs ``"leidenalg"`` (``None``: not
    known, in adopted records)."""
    other_args: dict[str, JsonValue] = {}
    """Arguments of the called function unknown to this schema (newer scanpy versions)."""
    unknown: list[str] = []
    """Arguments whose value is not known (adopted records): their fields hold ``None``."""
    passed: dict[str, JsonValue] = {}
    """Arguments as passed, only where the function resolved them to another value (the
    fields above hold the values that ran), e.g. ``{"flavor": None, "directed": None}``."""
    not_in_effect: list[str] = []
    """Arguments the backend ignores, so their values had no effect on the result, e.g.
    ``resolution`` and ``random_state`` for ``louvain(flavor="igraph")``."""
    python_random_state: dict[str, JsonValue] | None = None
    """State of Python's ``random`` module before the call, kept for backends that draw from
    it instead of ``random_state`` (``louvain(flavor="igraph")``), so a replay can restore it."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class LeidenParams(_ParamsBase):
    """Every argument of ``scanpy.tl.leiden``, defaults filled in."""

    method: Literal["leiden"] = "leiden"
    """Discriminator."""
    n_iterations: int | None
    """Number of iterations; -1 runs until the partition is stable."""
    clustering_args: dict[str, JsonValue] = {}
    """Extra keyword arguments passed on to the backend (``**clustering_args``)."""


class LouvainParams(_ParamsBase):
    """Every argument of ``scanpy.tl.louvain``, defaults filled in."""

    method: Literal["louvain"] = "louvain"
    """Discriminator."""
    partition_kwargs: dict[str, JsonValue] = {}
    """The ``partition_kwargs`` argument."""


PerModality = float | dict[str, float] | list[float] | None


class _MuonParamsBase(FrozenModel):
    library: Literal["muon"] = "muon"
    """Tells muon's params from scanpy's of the same method."""
    resolution: PerModality
    """``resolution`` as passed: one float, one per modality (mapping or list), or ``None``
    (the effective value of each layer is in ``layers``)."""
    mod_weights: PerModality
    """``mod_weights`` as passed (the effective weight of each layer is in ``layers``)."""
    random_state: RandomStateValue
    """The ``random_state`` argument as passed."""
    seeded: bool
    """Whether the optimiser was seeded: muon 0.1.9 seeds only a truthy ``random_state`` (its
    default 0 runs unseeded), muon >= 0.2 any ``random_state`` that is not ``None``."""
    key_added: str
    """The ``key_added`` argument (the ``obs`` column written)."""
    neighbors_key: str | None
    """``neighbors_key``: which ``pp.neighbors`` result of every modality was used."""
    directed: bool
    """Whether the graphs were treated as directed (muon's default is ``True``)."""
    use_weights: Literal[False] = False
    """muon builds its partitions without edge weights: the graphs are clustered unweighted."""
    partition_type: str | None
    """Qualified class name of the partition type, ``None`` for muon's default."""
    partition_kwargs: dict[str, JsonValue] = {}
    """The ``partition_kwargs`` argument (passed to every layer's partition)."""
    optimiser_kwargs: dict[str, JsonValue] = {}
    """Extra keyword arguments, passed to ``Optimiser.optimise_partition_multiplex``."""
    other_args: dict[str, JsonValue] = {}
    """Arguments of the called function unknown to this schema (newer muon versions)."""
    unknown: list[str] = []
    """Arguments whose value is not known (adopted records): their fields hold ``None``."""
    passed: dict[str, JsonValue] = {}
    """Arguments as passed, where the function resolved them to another value."""
    not_in_effect: list[str] = []
    """Arguments the backend ignores."""
    python_random_state: dict[str, JsonValue] | None = None
    """Always ``None``: muon's backends draw from ``random_state`` only."""

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class MuonLeidenParams(_MuonParamsBase):
    """Every argument of ``muon.tl.leiden`` on a MuData, defaults filled in."""

    method: Literal["leiden"] = "leiden"
    """The clustering method."""
    flavor: Literal["leidenalg"] = "leidenalg"
    """muon runs leidenalg's multiplex optimiser."""


class MuonLouvainParams(_MuonParamsBase):
    """Every argument of ``muon.tl.louvain`` on a MuData, defaults filled in."""

    method: Literal["louvain"] = "louvain"
    """The clustering method."""
    flavor: Literal["vtraag"] = "vtraag"
    """muon runs the ``louvain`` package's multiplex optimiser."""


def _params_tag(value: Any) -> str | None:
    """``"leiden"``, ``"louvain"``, ``"muon.leiden"``, ``"muon.louvain"``: read, never tried."""
    if isinstance(value, dict):
        method, library = value.get("method"), value.get("library")
    else:
        method, library = getattr(value, "method", None), getattr(value, "library", None)
    if not isinstance(method, str):
        return None
    return f"muon.{method}" if library == "muon" else method


Params = Annotated[
    Annotated[LeidenParams, Tag("leiden")]
    | Annotated[LouvainParams, Tag("louvain")]
    | Annotated[MuonLeidenParams, Tag("muon.leiden")]
    | Annotated[MuonLouvainParams, Tag("muon.louvain")],
    Discriminator(_params_tag),
]
