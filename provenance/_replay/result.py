"""The result of a replay (``provenance._render`` renders it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from provenance._util.display import Displayable

if TYPE_CHECKING:
    import pandas as pd

__all__ = [
    "PipelineReplay",
    "PipelineStep",
    "ReplayResult",
    "SlotComparison",
    "StepStatus",
    "software_json",
]


@dataclass(frozen=True, eq=False)
class ReplayResult(Displayable):
    """What replaying one recorded clustering gave, compared with the labels in ``obs[key]``.

    "Recorded" below means the labels now in ``obs[key]`` (rows of the contingency table);
    "replayed" the labels the rebuilt call produced (columns).

    Examples
    --------
    >>> result = provenance.replay(adata, "leiden_0.8")
    >>> result.identical, result.ari
    (True, 1.0)
    >>> print(result)  # doctest: +SKIP

    ``print`` shows the readable report; ``result.contingency`` is a DataFrame.
    """

    key: str
    """The ``obs`` column / ``uns`` key replayed."""
    version: int
    """The record version replayed (1-based)."""
    n_versions: int
    """How many versions the key's history holds."""
    call: str
    """The rebuilt call, readable."""
    identical: bool
    """The replay gave the same partition as ``obs[key]``, up to label names."""
    ari: float
    """Adjusted Rand index of ``obs[key]`` and the replayed labels."""
    nmi: float
    """Normalised mutual information (arithmetic mean) of the two."""
    n_clusters_recorded: int
    """Clusters in ``obs[key]``."""
    n_clusters_replayed: int
    """Clusters the replay found."""
    contingency: pd.DataFrame
    """Cells per (label in ``obs[key]``, replayed label)."""
    best_match: pd.DataFrame
    """Per cluster of ``obs[key]``: size, the replayed cluster of highest Jaccard, that Jaccard."""
    reproduces_record: bool
    """The replayed partition equals the one the record describes (its partition digest)."""
    labels_version: int | None
    """The history version whose labels ``obs[key]`` holds now; ``None`` if none matches."""
    graph: str
    """The graph the replay ran on, e.g. ``obsp['connectivities']``."""
    graph_matches: bool | None
    """That graph has the digest the record names; ``None`` when the record names no graph
    it can be checked against (adopted records, a matrix passed as ``adjacency=``)."""
    forced: bool
    """``force=True`` was needed to run (graph changed or unknown, or record edited)."""
    deterministic: bool
    """The recorded call fixes every source of randomness, so a replay should be identical."""
    software: dict[str, tuple[str | None, str | None]] | None
    """``{name: (recorded, installed)}`` for the software whose version differs; ``None`` when
    the record holds no software versions (adopted records): whether they match is unknown."""
    notes: tuple[str, ...] = ()
    """Anything else the reader should know."""
    labels: pd.Series | None = field(default=None, repr=False)
    """The replayed labels, indexed by ``obs_names``."""

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary (the contingency table as rows, columns and counts)."""
        table = self.contingency
        return {
            "key": self.key,
            "version": self.version,
            "n_versions": self.n_versions,
            "call": self.call,
            "identical": self.identical,
            "ari": self.ari,
            "nmi": self.nmi,
            "n_clusters_recorded": self.n_clusters_recorded,
            "n_clusters_replayed": self.n_clusters_replayed,
            "reproduces_record": self.reproduces_record,
            "labels_version": self.labels_version,
            "graph": self.graph,
            "graph_matches": self.graph_matches,
            "forced": self.forced,
            "deterministic": self.deterministic,
            "software": software_json(self.software),
            "contingency": {
                "recorded": [str(x) for x in table.index],
                "replayed": [str(x) for x in table.columns],
                "counts": table.to_numpy().tolist(),
            },
            "best_match": {
                str(k): {
                    "size": int(row["size"]),
                    "replayed": str(row["best_match"]),
                    "jaccard": float(row["jaccard"]),
                }
                for k, row in self.best_match.iterrows()
            },
            "notes": list(self.notes),
        }


def software_json(
    software: dict[str, tuple[str | None, str | None]] | None,
) -> dict[str, dict[str, str | None]] | None:
    """``software`` (name -> (recorded, installed)) as JSON; ``None`` stays ``None`` (unknown)."""
    if software is None:
        return None
    return {k: {"recorded": r, "installed": i} for k, (r, i) in software.items()}


StepStatus = Literal["identical", "departs", "inconclusive", "not_run"]
"""What replaying one step of a pipeline gave: every slot it wrote as recorded; a slot (or
what it read) differs under the recorded versions; differs under other versions, or cannot
be told; not run (its input is gone, or it cannot be called from its record)."""


@dataclass(frozen=True)
class SlotComparison:
    """One slot a step wrote: its recorded digest and the replay's."""

    name: str
    """The slot (``"X"``, ``"obsm['X_pca']"``)."""
    recorded: str
    """Digest in the record's ``writes``."""
    replayed: str | None
    """Digest of the slot the replay left (``None``: the replay did not write it)."""

    @property
    def equal(self) -> bool:
        """The replay wrote what the record says."""
        return self.recorded == self.replayed


@dataclass(frozen=True)
class PipelineStep:
    """One recorded step of a pipeline replay."""

    key: str
    """The key of the step's history (``"pca"``, ``"neighbors"``, the clustering's)."""
    version: int
    """The record version replayed."""
    function: str
    """The function the record names (``"scanpy.pp.pca"``)."""
    status: StepStatus
    """What the replay gave (see :data:`StepStatus`)."""
    inputs: tuple[str, ...] = ()
    """Where each slot it read came from (``"X <- layers['counts']"``)."""
    compared: tuple[SlotComparison, ...] = ()
    """The slots it wrote, recorded against replayed."""
    reason: str | None = None
    """Why it is not identical, or not run."""
    software: dict[str, tuple[str | None, str | None]] | None = None
    """``{name: (recorded, installed)}`` for what differs; ``None``: the record names none."""

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe."""
        return {
            "key": self.key,
            "version": self.version,
            "function": self.function,
            "status": self.status,
            "inputs": list(self.inputs),
            "compared": [
                {"slot": c.name, "recorded": c.recorded, "replayed": c.replayed, "equal": c.equal}
                for c in self.compared
            ],
            "reason": self.reason,
            "software": software_json(self.software),
        }


@dataclass(frozen=True, eq=False)
class PipelineReplay(Displayable):
    """What re-running every recorded step a clustering depends on gave.

    Examples
    --------
    >>> with provenance.record(adata):
    ...     sc.pp.pca(adata); sc.pp.neighbors(adata)
    ...     sc.tl.leiden(adata, key_added="L", flavor="igraph", n_iterations=2, directed=False)
    >>> result = provenance.replay(adata, "L", pipeline=True)
    >>> result.identical, result.ari, [s.function for s in result.steps]
    (True, 1.0, ['scanpy.pp.pca', 'scanpy.pp.neighbors', 'scanpy.tl.leiden'])
    """

    key: str
    """The clustering replayed."""
    version: int
    """Its record version."""
    steps: tuple[PipelineStep, ...]
    """Every step of the chain, in the order they ran; the clustering last."""
    start: str | None
    """Where the replay started: the first step run and the slot it read from the object."""
    first_departure: int | None
    """Index in :attr:`steps` of the first step not identical (``None``: none)."""
    clustering: ReplayResult | None
    """The replayed clustering compared with ``obs[key]`` (``None``: it could not be run)."""
    notes: tuple[str, ...] = ()
    """Anything else the reader should know (steps not replayed, where the records begin)."""

    @property
    def identical(self) -> bool:
        """Every step replayed from the start is as recorded (every digest equal) and, while
        ``obs[key]`` holds the labels of the version replayed, gives the same partition."""
        return self.first_departure is None and self.clustering is not None

    @property
    def complete(self) -> bool:
        """Every step of the chain was replayed (none left out for an input that is gone)."""
        return all(s.status != "not_run" for s in self.steps)

    @property
    def ari(self) -> float | None:
        """ARI of ``obs[key]`` and the replayed labels (``None``: not replayed)."""
        return None if self.clustering is None else self.clustering.ari

    @property
    def nmi(self) -> float | None:
        """NMI of ``obs[key]`` and the replayed labels (``None``: not replayed)."""
        return None if self.clustering is None else self.clustering.nmi

    @property
    def departure(self) -> PipelineStep | None:
        """The first step not identical."""
        return None if self.first_departure is None else self.steps[self.first_departure]

    def to_dict(self) -> dict[str, Any]:
        """A JSON-safe summary."""
        return {
            "key": self.key,
            "version": self.version,
            "pipeline": True,
            "identical": self.identical,
            "complete": self.complete,
            "ari": self.ari,
            "nmi": self.nmi,
            "start": self.start,
            "first_departure": self.first_departure,
            "steps": [s.to_dict() for s in self.steps],
            "clustering": None if self.clustering is None else self.clustering.to_dict(),
            "notes": list(self.notes),
        }
