"""Which functions are recorded: the registry of targets, and the look-ups the machinery needs.

The machinery is the functions below; the registrations are the flat list at the end. Adding
a target is one module (a :class:`~provenance._targets.base.Target` subclass for a clustering,
a :class:`~provenance._targets.steps.StepTarget` subclass for a step around one) and one line
there. ``record()`` patches every registered function (:func:`recorded_functions`); the
look-ups about clusterings (:func:`targets`, :func:`target_for_record`, ...) consider the
clustering targets only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeVar

from .anndata_concat import AnndataConcat
from .base import Target
from .muon_leiden import MuonLeiden
from .muon_louvain import MuonLouvain
from .muon_neighbors import MuonNeighbors
from .scanpy_dendrogram import ScanpyDendrogram
from .scanpy_embeddings import ScanpyDiffmap, ScanpyDrawGraph, ScanpyTsne
from .scanpy_external import ScanpyBbknn, ScanpyHarmonyIntegrate, ScanpyScanoramaIntegrate
from .scanpy_leiden import ScanpyLeiden
from .scanpy_louvain import ScanpyLouvain
from .scanpy_markers import ScanpyFilterRankGenesGroups, ScanpyRankGenesGroups
from .scanpy_neighbors import ScanpyNeighbors
from .scanpy_paga import ScanpyPaga
from .scanpy_pp import (
    ScanpyCombat,
    ScanpyFilterCells,
    ScanpyFilterGenes,
    ScanpyHighlyVariableGenes,
    ScanpyLog1p,
    ScanpyNormalizeTotal,
    ScanpyPca,
    ScanpyRegressOut,
    ScanpyScale,
    ScanpySubsample,
)
from .scanpy_recipes import ScanpyRecipeSeurat, ScanpyRecipeWeinreb17, ScanpyRecipeZheng17
from .scanpy_umap import ScanpyUmap
from .steps import StepTarget

if TYPE_CHECKING:
    from collections.abc import Mapping

    from .base import RecordedFunction

__all__ = [
    "candidate_key",
    "fixed_keys",
    "partition_classes",
    "recorded_functions",
    "register",
    "step_target",
    "target_for_adopt",
    "target_for_record",
    "targets",
    "unregister",
]

_targets: list[RecordedFunction] = []
_T = TypeVar("_T", bound="RecordedFunction")


def register(target: _T) -> _T:
    """Add ``target`` (after the others); ``record()`` blocks opened from now on patch it.

    Raises
    ------
    ValueError
        Another registered target records under the same ``function`` name.
    """
    clash = next((t for t in _targets if t.function == target.function), None)
    if clash is not None:
        msg = f"{target.function!r} is already recorded by {clash!r}; unregister it first."
        raise ValueError(msg)
    _targets.append(target)
    return target


def unregister(target: RecordedFunction) -> None:
    """Remove ``target``; a no-op when it is not registered."""
    if target in _targets:
        _targets.remove(target)


def recorded_functions() -> tuple[RecordedFunction, ...]:
    """Every registered function, clusterings and steps, in registration order: what
    ``record()`` patches."""
    return tuple(_targets)


def targets() -> tuple[Target, ...]:
    """The registered clustering targets, in registration order."""
    return tuple(t for t in _targets if isinstance(t, Target) and t.kind == "clustering")


def target_for_record(function: str, method: str, *, exact: bool = False) -> Target | None:
    """The target of a record, by its ``function`` (and ``method``).

    A record naming no registered function (an old record, a target no longer registered) is
    mapped to the first target of its ``method``, unless ``exact``.
    """
    for t in targets():
        if t.function == function and t.method == method:
            return t
    if exact:
        return None
    return next((t for t in targets() if t.method == method), None)


def step_target(function: str) -> StepTarget | None:
    """The registered step target recording ``function`` (``"scanpy.tl.paga"``), else ``None``."""
    return next((t for t in _targets if isinstance(t, StepTarget) and t.function == function), None)


def target_for_adopt(key: str, params: Mapping[str, Any]) -> Target | None:
    """The first target that recognizes ``uns[key]["params"]`` left without a record."""
    return next((t for t in targets() if t.recognizes(key, params)), None)


def fixed_keys() -> tuple[str, ...]:
    """The ``uns`` keys some target's library writes params to whatever ``key_added`` was."""
    return tuple(dict.fromkeys(t.fixed_key for t in targets() if t.fixed_key))


def candidate_key(name: str) -> bool:
    """Whether ``name`` starts with a registered default key (case-insensitive)."""
    low = name.lower()
    return any(low.startswith(t.default_key.lower()) for t in targets())


def partition_classes() -> dict[str, tuple[str, str]]:
    """Every class any target's replay may import: qualified name -> (package, attribute)."""
    out: dict[str, tuple[str, str]] = {}
    for t in targets():
        out.update(t.partition_classes)
    return out


# The registrations. Order matters where targets overlap: adopt takes the first that
# recognizes a key, and an old record goes to the first target of its method.
for _target in (
    ScanpyLeiden(),
    ScanpyLouvain(),
    MuonLeiden(),
    MuonLouvain(),
    ScanpyNeighbors(),
    ScanpyRankGenesGroups(),
    ScanpyFilterRankGenesGroups(),
    ScanpyDendrogram(),
    ScanpyPaga(),
    ScanpyUmap(),
    ScanpyFilterCells(),
    ScanpyFilterGenes(),
    ScanpyNormalizeTotal(),
    ScanpyLog1p(),
    ScanpyHighlyVariableGenes(),
    ScanpyScale(),
    ScanpyRegressOut(),
    ScanpyCombat(),
    ScanpyPca(),
    ScanpySubsample(),
    AnndataConcat(),
    ScanpyTsne(),
    ScanpyDrawGraph(),
    ScanpyDiffmap(),
    ScanpyHarmonyIntegrate(),
    ScanpyScanoramaIntegrate(),
    ScanpyBbknn(),
    MuonNeighbors(),
    ScanpyRecipeZheng17(),
    ScanpyRecipeSeurat(),
    ScanpyRecipeWeinreb17(),
):
    register(_target)
