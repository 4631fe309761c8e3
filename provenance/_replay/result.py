"""The result of a replay (``provenance._render`` renders it)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from provenance._util.display import Displayable

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ReplayResult", "software_json"]


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
