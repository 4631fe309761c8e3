"""The result of a replay and its text and HTML reports."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["ReplayResult"]

_MAX_TABLE = 20  # largest contingency table the report prints in full


@dataclass(frozen=True, eq=False)
class ReplayResult:
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
            "software": None
            if self.software is None
            else {k: {"recorded": r, "installed": i} for k, (r, i) in self.software.items()},
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

    def _verdict(self) -> str:
        if self.identical:
            return f"IDENTICAL to obs[{self.key!r}] (same partition up to label names)"
        return f"DIFFERS from obs[{self.key!r}]"

    def _graph_text(self) -> str:
        if self.graph_matches is None:
            return "unknown: not checked against the record (see the note)"
        return "digest matches the record" if self.graph_matches else "DIFFERS from the record"

    def _lines(self) -> list[tuple[str, str]]:
        """(label, text) rows shared by the text and HTML reports."""
        rows = [
            ("call", self.call),
            ("graph", f"{self.graph}: {self._graph_text()}" + (" (forced)" if self.forced else "")),
            ("result", self._verdict()),
            (
                "agreement",
                f"ARI {self.ari:.4f}  NMI {self.nmi:.4f}  clusters: "
                f"{self.n_clusters_recorded} in obs, {self.n_clusters_replayed} replayed",
            ),
            (
                "record",
                (
                    f"the replay reproduces the partition recorded for version {self.version}"
                    if self.reproduces_record
                    else f"the replay does NOT reproduce the partition recorded for version "
                    f"{self.version}"
                ),
            ),
        ]
        if self.labels_version is None:
            rows.append(("labels", f"obs[{self.key!r}] matches no recorded version (edited?)"))
        elif self.labels_version != self.version:
            rows.append(
                (
                    "labels",
                    f"obs[{self.key!r}] holds the labels of version {self.labels_version}, "
                    f"not of version {self.version} replayed",
                )
            )
        if self.software is None:
            rows.append(
                ("software", "unknown: the record holds no software versions to compare with")
            )
        elif self.software:
            changed = ", ".join(
                f"{k} {r or '-'} -> {i or '-'}" for k, (r, i) in self.software.items()
            )
            rows.append(("software", f"recorded -> installed: {changed}"))
        else:
            rows.append(("software", "installed versions match the record"))
        rows.extend(("note", n) for n in self.notes)
        return rows

    def __str__(self) -> str:
        from provenance._render.core import terminal_width

        return self.to_text(width=terminal_width())

    def to_text(self, *, width: int = 80) -> str:
        """The report with its lines wrapped to ``width`` columns."""
        from provenance._render.core import wrap

        head = f"Replay of {self.key!r} version {self.version} of {self.n_versions}"
        out = [head, "=" * len(head)]
        for label, text in self._lines():
            if label == "software" and self.software:
                out += _wrap_items(text, width, first=f"{label:<10} ", rest=" " * 11)
            else:
                out += wrap(text, width, first=f"{label:<10} ", rest=" " * 11)
        if not self.identical:
            worst = self.best_match[self.best_match["jaccard"] < 1]
            worst = worst.sort_values("jaccard", kind="stable").head(10)
            out.append("")
            out.append(f"clusters of obs[{self.key!r}] without an exact match (worst first):")
            out += [
                f"  {k!s:>12} ({int(r['size'])} cells) -> replayed {r['best_match']!s:<8} "
                f"Jaccard {r['jaccard']:.3f}"
                for k, r in worst.iterrows()
            ]
            if max(self.contingency.shape) <= _MAX_TABLE:
                out += ["", "contingency (rows: obs, columns: replayed):"]
                out += ["  " + line for line in self.contingency.to_string().splitlines()]
            if self.software:
                out.append("")
                out += wrap(
                    "installed versions differ from the recorded ones ("
                    + ", ".join(self.software)
                    + "); results may differ for that reason.",
                    width,
                )
        return "\n".join(out)

    def _repr_html_(self) -> str:
        color = (
            "var(--jp-success-color1, #2e7d32)"
            if self.identical
            else "var(--jp-error-color1, #c62828)"
        )
        cells = "".join(
            f"<tr><th style='text-align:left;padding-right:1em'>{html.escape(label)}</th>"
            f"<td style='text-align:left'>{html.escape(text)}</td></tr>"
            for label, text in self._lines()
        )
        table = ""
        if not self.identical and max(self.contingency.shape) <= _MAX_TABLE:
            table = (
                "<details><summary>contingency</summary>"
                + self.contingency.to_html()
                + "</details>"
            )
        return (
            "<div style='color:var(--jp-content-font-color1, inherit)'>"
            f"<strong>Replay of {html.escape(repr(self.key))} version {self.version} of "
            f"{self.n_versions}: <span style='color:{color}'>"
            f"{'identical' if self.identical else 'differs'}</span></strong>"
            f"<table>{cells}</table>{table}</div>"
        )


def _wrap_items(text: str, width: int, first: str, rest: str) -> list[str]:
    """Wrap a ``", "``-separated list between its items (``scanpy 1.8 -> 1.11`` stays whole)."""
    from provenance._render.core import cell_len, wrap

    head, _, tail = text.partition(": ")
    items = [f"{head}:", *(f"{i}," for i in tail.split(", "))]
    items[-1] = items[-1].rstrip(",")
    lines, cur, empty = [], first, True
    for item in items:
        if not empty and cell_len(f"{cur} {item}") > width:
            lines.append(cur)
            cur, empty = rest, True
        cur, empty = (cur + item if empty else f"{cur} {item}"), False
    lines.append(cur)
    return [piece for line in lines for piece in wrap(line.rstrip(), width, rest=rest)]
