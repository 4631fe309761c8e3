"""What the renderings print: recorded values and report parts as short strings.

Shared by the text, rich and HTML renderings. Everything here formats what the results hold;
nothing is computed from records (the audit and compare layers did that).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from provenance._schema.changes import flatten_record

from .checked import signature_word
from .terminal import printable

if TYPE_CHECKING:
    from datetime import datetime

    from provenance._audit.checked import Checks
    from provenance._audit.report import AuditEntry, AuditReport, Finding
    from provenance._schema.changes import DiffRow
    from provenance._schema.models import ClusteringRecord

__all__ = [
    "COLUMNS",
    "ESSENTIAL",
    "NO_CLUSTERING",
    "OPTIONAL",
    "UNCHECKED",
    "fmt_value",
    "headline",
    "history_items",
    "ordered",
    "plural",
    "summary_rows",
]

# The overview table's columns (``findings`` only in ``to_frame``).
COLUMNS = (
    "key",
    "status",
    "method",
    "versions",
    "resolution",
    "flavor",
    "random_state",
    "clusters",
    "graph",
    "recorded",
)
# The columns by priority when the width is short: a table keeps the essential ones and adds
# the others in this order while they fit. The displayed order stays that of COLUMNS.
ESSENTIAL = ("key", "status", "method", "resolution", "flavor", "clusters")
OPTIONAL = ("versions", "random_state", "recorded", "graph")

UNCHECKED = (
    "Labels and graphs were not compared with the records (only uns was read); "
    "run `provenance verify` for that."
)
NO_CLUSTERING = "No clustering found (no Leiden/Louvain labels, params or records)."

_HIDDEN_PARAMS = {"method", "copy", "key_added", "function", "origin"}


def fmt_value(value: Any, width: int = 60) -> str:
    """A compact one-line form of a JSON value."""
    if value is None:
        text = "-"
    elif isinstance(value, str):
        text = value
    elif isinstance(value, float):
        text = f"{value:g}"
    elif isinstance(value, dict) and value.get("$type") == "ndarray" and "values" in value:
        return fmt_value(value["values"], width)  # scanpy's 1-element arrays in old params
    elif isinstance(value, dict) and value.get("$type") == "float":
        text = str(value.get("value"))
    elif isinstance(value, dict) and value.get("$type") in ("class", "callable"):
        text = str(value.get("name"))
    elif isinstance(value, list) and all(isinstance(v, int | float | str) for v in value):
        text = " ".join(map(str, value))
    else:
        text = json.dumps(value, sort_keys=True, separators=(",", ":"))
    return text if len(text) <= width else text[: width - 1] + "…"


def _short(digest: str | None, n: int = 8) -> str:
    return digest.split(":", 1)[-1][:n] if digest else "-"


def _time(t: datetime | None) -> str:
    return f"{t:%Y-%m-%d %H:%M:%S}Z" if t is not None else "-"


def plural(n: int, noun: str) -> str:
    return f"{n} {noun}{'s' * (n != 1)}"


def summary_rows(report: AuditReport) -> list[dict[str, Any]]:
    """One dict per entry: the overview table's cells, from :attr:`AuditEntry.summary`."""
    rows = []
    for e in report.entries:
        s = e.summary
        graph = "-"
        if s["graph_digest"] is not None:
            where = f"obsp[{s['graph']}]" if s["graph"] else "adjacency"
            graph = f"{where} {_short(s['graph_digest'])}"
        rows.append(
            {
                **s,
                "random_state": fmt_value(s["random_state"], 20),
                "graph": graph,
                "recorded": _time(s["recorded"]),
            }
        )
    return rows


def ordered(report: AuditReport) -> list[Finding]:
    """Findings, errors first, in entry order otherwise."""
    return sorted(report.findings, key=lambda f: f.severity != "error")


def headline(report: AuditReport) -> str:
    n_err, n_warn = len(report.errors), len(report.warnings)
    verdict = "OK" if report.ok else "NOT OK"
    cells = f", {report.observations}" if report.observations else ""
    return (
        f"{verdict}: {printable(str(report.source))}{cells}: "
        f"{plural(len(report.clustering_keys), 'clustering key')}, "
        f"{n_err} error{'s' * (n_err != 1)}, {n_warn} warning{'s' * (n_warn != 1)}"
    )


def _params_text(rec: ClusteringRecord, key: str) -> str:
    params = flatten_record(rec)["params"]
    parts = [
        f"{k}={fmt_value(v, 40)}"
        for k, v in params.items()
        if k not in _HIDDEN_PARAMS and v not in (None, {}, [])
    ]
    if params.get("key_added") not in (None, key):
        parts.append(f"key_added={params['key_added']}")
    return " ".join(parts)


def _graph_text(rec: ClusteringRecord) -> str:
    g = rec.graph
    if g is None:
        return "unknown"
    where = f"obsp[{g.obsp_key!r}]" if g.obsp_key else "adjacency= argument"
    made = ""
    if g.neighbors_params:
        made = " from " + " ".join(
            f"{k}={fmt_value(v, 20)}" for k, v in sorted(g.neighbors_params.items())
        )
    return f"{where}{made}; {g.n_nodes} nodes, {g.n_edges} edges, {g.digest[:30]}…"


def _sizes_text(rec: ClusteringRecord) -> str:
    r = rec.result
    mod = f", modularity {r.modularity:.4g}" if r.modularity is not None else ""
    return f"sizes {fmt_value(r.cluster_sizes, 60)}{mod}"


def _signed_text(rec: ClusteringRecord, entry: AuditEntry, checks: Checks | None) -> str:
    """Who signed the record, and whether that was checked (``--trusted-key``) and held."""
    sig = getattr(rec, "signature", None)  # None as well on records upgraded from < 1.4
    if sig is None:
        return ""
    word = signature_word(rec, entry, checks)
    return f", signed by {sig.key_id}" + (f" ({word})" if word else "")


def _parent_text(rec: ClusteringRecord) -> str:
    """Where a version made on another object than the one before it came from (schema 1.6
    ``parent``: a subset, a concatenation)."""
    parent = getattr(rec, "parent", None)
    if parent is None:
        return ""
    ref = parent.record
    of = f", {ref.key} v{ref.version}" if ref is not None else ""
    if parent.n_obs == rec.result.n_obs and parent.obs_names_digest == rec.result.obs_names_digest:
        return f"; first on this object (parent: its record{of})"
    return f"; first on a subset: {rec.result.n_obs} of the parent's {parent.n_obs} cells{of}"


def _change_text(r: DiffRow, *, same_cells: bool = True) -> str:
    if r.field == "partition_digest":
        if not same_cells:  # the partitions are of other cells: no grouping to compare
            return "partition: of other cells (the versions were made on different cells)"
        return "partition: different cells grouped together"
    if r.section == "graph" and r.field == "digest":
        return f"graph: {_short(r.a)} → {_short(r.b)}"
    return f"{r.field}: {fmt_value(r.a, 30)} → {fmt_value(r.b, 30)}"


def history_items(entry: AuditEntry, checks: Checks | None = None) -> list[dict[str, Any]]:
    """One dict per version of the entry's history, oldest first: the history's cells.
    ``checks``: the report's, which say whether a signature was checked."""
    items = []
    prev = None
    for rec, changes in zip(entry.history, entry.changes, strict=True):
        same = prev is None or prev.result.obs_names_digest == rec.result.obs_names_digest
        prev = rec
        items.append(
            {
                "version": rec.version,
                "when": _time(rec.finished_at or rec.started_at),
                "function": rec.function
                + (f" ({rec.origin})" if rec.origin != "recorded" else "")
                + _signed_text(rec, entry, checks)
                + _parent_text(rec),
                "duration": f"{rec.duration_s:.2f} s" if rec.duration_s is not None else "-",
                "params": _params_text(rec, entry.key),
                "graph": _graph_text(rec),
                "result": f"{rec.result.n_clusters} clusters ({_sizes_text(rec)})",
                "result_head": f"{rec.result.n_clusters} clusters",
                "result_tail": _sizes_text(rec),
                "changes": None
                if changes is None
                else [_change_text(r, same_cells=same) for r in changes],
            }
        )
    return items
