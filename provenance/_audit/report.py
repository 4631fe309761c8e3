"""The audit's report: one entry per clustering key and per step key (neighbors, markers,
dendrogram, PAGA), their findings, and their JSON/table forms."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from provenance._util.display import Displayable

from .catalogue import WARNINGS, Finding, FindingCode, Severity
from .catalogue_doc import findings_doc

if TYPE_CHECKING:
    import pandas as pd

    from provenance._schema.changes import DiffRow
    from provenance._schema.models import ClusteringRecord, StepRecord

    from .checked import Checks

__doc__ = f"{__doc__ or ''}\n\n{findings_doc()}"
__all__ = [
    "WARNINGS",
    "AuditEntry",
    "AuditReport",
    "Finding",
    "FindingCode",
    "Severity",
    "Status",
    "StepEntry",
]

Status = Literal["ok", "warning", "error"]


@dataclass(frozen=True, repr=False)
class AuditEntry(Displayable):
    """The audit of one clustering key."""

    key: str
    """The key: ``obs`` column and/or ``uns`` entry."""
    history: tuple[ClusteringRecord, ...]
    """Every record that could be read, oldest first."""
    n_stored: int
    """Number of entries stored in the history (readable or not)."""
    findings: tuple[Finding, ...]
    """Problems found, errors first."""
    scanpy_params: dict[str, Any] | None = None
    """``uns[key]["params"]`` as scanpy wrote it (JSON-safe), when present."""
    in_obs: bool = True
    """Whether ``obs`` has a column of this name."""
    checked: bool = False
    """Whether the labels and graph were compared with the record."""

    @property
    def status(self) -> Status:
        """``"error"`` if any finding is an error, else ``"warning"`` if any, else ``"ok"``."""
        return _status(self.findings)

    @property
    def latest(self) -> ClusteringRecord | None:
        """The newest readable record."""
        return self.history[-1] if self.history else None

    @property
    def changes(self) -> tuple[tuple[DiffRow, ...] | None, ...]:
        """Per version of :attr:`history`: what changed in parameters, graph and result from
        the version before (``None`` for the first)."""
        from provenance._schema.changes import record_changes

        return tuple(
            None if i == 0 else tuple(record_changes(self.history[i - 1], rec))
            for i, rec in enumerate(self.history)
        )

    @property
    def summary(self) -> dict[str, Any]:
        """The entry's row of :meth:`AuditReport.to_frame`, from the latest record (from
        scanpy's parameters when there is none); ``None`` where unknown.

        ``versions``, ``clusters``: int; ``resolution``: float; ``random_state``: as recorded
        (a seed, or a generator's state); ``graph``: the ``obsp`` key of the graph,
        ``graph_digest`` its digest; ``recorded``: when the run finished (else started), an
        aware datetime; ``findings``: the finding codes.
        """
        rec = self.latest
        row: dict[str, Any] = {"key": self.key, "status": self.status}
        if rec is not None:
            g, t = rec.graph, rec.finished_at or rec.started_at
            row |= {
                "method": rec.method,
                "versions": len(self.history),
                "resolution": _as_float(rec.params.resolution),
                "flavor": rec.params.flavor,
                "random_state": rec.params.random_state,
                "clusters": rec.result.n_clusters,
                "graph": g.obsp_key if g is not None else None,
                "graph_digest": g.digest if g is not None else None,
                "recorded": t,
            }
        else:
            sp = self.scanpy_params or {}
            row |= {
                "method": None,
                "versions": 0,
                "resolution": _as_float(sp.get("resolution")),
                "flavor": None,
                "random_state": sp.get("random_state"),
                "clusters": None,
                "graph": None,
                "graph_digest": None,
                "recorded": None,
            }
        return {**row, "findings": [f.code for f in self.findings]}

    def __repr__(self) -> str:
        codes = ", ".join(f.code for f in self.findings) or "no findings"
        return f"<AuditEntry {self.key!r}: {self.status}, {len(self.history)} versions, {codes}>"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, with the full history."""
        rec = self.latest
        return {
            "key": self.key,
            "status": self.status,
            "method": rec.method if rec else None,
            "versions": len(self.history),
            "stored_versions": self.n_stored,
            "in_obs": self.in_obs,
            "checked": self.checked,
            "scanpy_params": dict(self.scanpy_params) if self.scanpy_params is not None else None,
            "findings": [f.to_dict() for f in self.findings],
            "history": [r.model_dump(mode="json") for r in self.history],
        }


def _status(findings: tuple[Finding, ...]) -> Status:
    severities = {f.severity for f in findings}
    return "error" if "error" in severities else ("warning" if severities else "ok")


@dataclass(frozen=True)
class StepEntry:
    """The audit of one step key: a ``sc.pp.neighbors`` graph, or a result computed from
    clusterings (markers, dendrogram, PAGA), recorded or not.

    A lineage reads here what each step is made from (:attr:`uses`, :attr:`parents`) and
    whether it still holds (:attr:`status`, :attr:`stale`, :attr:`findings`).
    """

    key: str
    """The ``uns`` key the step wrote."""
    kind: str
    """``"neighbors"``, ``"rank_genes_groups"``, ``"filter_rank_genes_groups"``,
    ``"dendrogram"`` or ``"paga"`` (of an unrecorded one: told from what scanpy left)."""
    history: tuple[StepRecord, ...]
    """Every record that could be read, oldest first (empty: not recorded)."""
    n_stored: int
    """Number of entries stored in the history (readable or not)."""
    findings: tuple[Finding, ...]
    """Problems found, errors first."""
    uses: tuple[str, ...] = ()
    """The ``obs`` clustering keys it grouped by (the latest record's, else scanpy's
    ``groupby``/``groups``)."""
    parents: tuple[str, ...] = ()
    """The step keys it read (PAGA: its neighbors key; filtered markers: the markers' key)."""
    checked: bool = False
    """Whether the labels (and graph) it used were compared with the object."""
    reads_from: tuple[tuple[str, str | None], ...] = ()
    """What its latest record read (schema >= 1.6): ``(slot, key)`` pairs, the key of the
    record that wrote that slot's value, ``None`` for the pipeline's input (``X`` as loaded)."""

    @property
    def recorded(self) -> bool:
        """Whether the step has a history (``False``: only what scanpy left is known)."""
        return self.n_stored > 0

    @property
    def status(self) -> Status:
        """``"error"`` if any finding is an error, else ``"warning"`` if any, else ``"ok"``."""
        return _status(self.findings)

    @property
    def stale(self) -> bool:
        """Whether the result no longer describes the labels (or graph) it was computed from:
        a ``stale_result`` finding (``stale_result_suspected`` for an unrecorded one)."""
        return any(f.code in ("stale_result", "stale_result_suspected") for f in self.findings)

    @property
    def latest(self) -> StepRecord | None:
        """The newest readable record."""
        return self.history[-1] if self.history else None

    def __repr__(self) -> str:
        codes = ", ".join(f.code for f in self.findings) or "no findings"
        return (
            f"<StepEntry {self.key!r} ({self.kind}): {self.status}, {len(self.history)} "
            f"versions, {codes}>"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form, with the full history."""
        rec = self.latest
        return {
            "key": self.key,
            "kind": self.kind,
            "status": self.status,
            "function": rec.function if rec is not None else None,
            "versions": len(self.history),
            "stored_versions": self.n_stored,
            "recorded": self.recorded,
            "stale": self.stale,
            "uses": list(self.uses),
            "parents": list(self.parents),
            "reads_from": [list(p) for p in self.reads_from],
            "checked": self.checked,
            "findings": [f.to_dict() for f in self.findings],
            "history": [r.model_dump(mode="json") for r in self.history],
        }


@dataclass(frozen=True, repr=False)
class AuditReport(Displayable):
    """The audit of an AnnData object or file: one :class:`AuditEntry` per clustering key.

    Examples
    --------
    >>> report = provenance.audit("pbmc.h5ad")
    >>> report.ok, [e.key for e in report.entries if e.status != "ok"]
    (True, ['louvain'])
    >>> report.to_frame()  # doctest: +SKIP

    ``to_frame()`` has one row per key; ``to_dict()`` is the JSON form.
    """

    source: str
    """What was audited (a path, or a description of the object)."""
    n_obs: int | None
    """Number of observations of the object."""
    entries: tuple[AuditEntry, ...]
    """One entry per clustering key."""
    key: str | tuple[str, ...] | None = None
    """The key or keys asked for, if any (the renderings then show their full history)."""
    checked_data: bool = True
    """Whether labels and graphs were compared with the records (``show`` on a file does not)."""
    steps: tuple[StepEntry, ...] = ()
    """One entry per step key (neighbors graphs, and results computed from clusterings:
    markers, dendrograms, PAGA), recorded or left by scanpy, in ``uns`` order."""
    checks: Checks | None = None
    """What the audit checked (its trust policy and checks); ``None`` for a report built by
    hand."""

    @property
    def transposed(self) -> bool:
        """Whether the object is the transpose (``adata.T``) of the one recorded: its
        observations are genes, not cells (a finding's ``details["transposed"]`` says so)."""
        return any(f.details.get("transposed") for f in self.findings)

    @property
    def observations(self) -> str:
        """What the observations are, for a headline: ``"700 cells"``, or, transposed,
        ``"765 genes (transposed: adata.T)"``; ``""`` when unknown."""
        if self.n_obs is None:
            return ""
        if self.transposed:
            return f"{self.n_obs} genes (transposed: adata.T)"
        return f"{self.n_obs} cells"

    @property
    def findings(self) -> tuple[Finding, ...]:
        """All findings of all entries, the clustering keys' then the steps'."""
        steps = tuple(f for e in self.steps for f in e.findings)
        return tuple(f for e in self.entries for f in e.findings) + steps

    @property
    def clustering_keys(self) -> tuple[str, ...]:
        """The clustering keys audited: the entries less the ``provenance_index`` one."""
        from provenance._storage.index import INDEX_KEY

        return tuple(e.key for e in self.entries if e.key != INDEX_KEY)

    @property
    def errors(self) -> tuple[Finding, ...]:
        """Findings of severity ``"error"``."""
        return tuple(f for f in self.findings if f.severity == "error")

    @property
    def warnings(self) -> tuple[Finding, ...]:
        """Findings of severity ``"warning"``."""
        return tuple(f for f in self.findings if f.severity == "warning")

    @property
    def ok(self) -> bool:
        """True when no finding is an error (warnings allowed)."""
        return not self.errors

    def __getitem__(self, key: str) -> AuditEntry:
        for e in self.entries:
            if e.key == key:
                return e
        msg = f"no audit entry for {key!r}; entries: {', '.join(e.key for e in self.entries)}."
        if any(s.key == key for s in self.steps):
            msg += f" {key!r} is a step: report.step({key!r})."
        raise KeyError(msg)

    def step(self, key: str) -> StepEntry:
        """The entry of the step key ``key`` (``"neighbors"``, ``"rank_genes_groups"``, ...).

        Raises
        ------
        KeyError
            No step entry has that key.
        """
        for s in self.steps:
            if s.key == key:
                return s
        known = ", ".join(s.key for s in self.steps) or "none"
        msg = f"no step entry for {key!r}; step keys: {known}."
        raise KeyError(msg)

    def __repr__(self) -> str:
        return (
            f"<AuditReport {self.source}: {len(self.clustering_keys)} keys, "
            f"{'ok' if self.ok else 'NOT ok'}, {_count(len(self.errors), 'error')}, "
            f"{_count(len(self.warnings), 'warning')}>"
        )

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form (``provenance verify --json`` prints it)."""
        from provenance._version import __version__

        return {
            "source": self.source,
            "n_obs": self.n_obs,
            "ok": self.ok,
            "n_errors": len(self.errors),
            "n_warnings": len(self.warnings),
            "checked_data": self.checked_data,
            "key": list(self.key) if isinstance(self.key, tuple) else self.key,
            "anndata_provenance": __version__,
            "entries": [e.to_dict() for e in self.entries],
            "steps": [e.to_dict() for e in self.steps],
            "checks": None if self.checks is None else self.checks.to_dict(),
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per entry, indexed by key: :attr:`AuditEntry.summary` as typed columns.

        ``versions`` and ``clusters`` are ``Int64`` (``<NA>`` without a record), ``resolution``
        float, ``recorded`` a UTC datetime (``NaT`` without a record), ``findings`` a list of
        codes; the rest holds the values as recorded.
        """
        import pandas as pd

        rows = [e.summary for e in self.entries]

        def col(name: str) -> list[Any]:
            return [r[name] for r in rows]

        frame = pd.DataFrame(
            {
                "key": pd.Series(col("key"), dtype=object),
                "status": pd.Series(col("status"), dtype=object),
                "method": pd.Series(col("method"), dtype=object),
                "versions": pd.Series(col("versions"), dtype="Int64"),
                "resolution": pd.Series(col("resolution"), dtype="float64"),
                "flavor": pd.Series(col("flavor"), dtype=object),
                "random_state": pd.Series(col("random_state"), dtype=object),
                "clusters": pd.Series(col("clusters"), dtype="Int64"),
                "graph": pd.Series(col("graph"), dtype=object),
                "graph_digest": pd.Series(col("graph_digest"), dtype=object),
                "recorded": pd.to_datetime(pd.Series(col("recorded"), dtype=object), utc=True),
                "findings": pd.Series(col("findings"), dtype=object),
            }
        )
        return frame.set_index("key")


def _as_float(value: Any) -> float | None:
    """A resolution as a float: scanpy's JSON-safe params may hold it as a 1-element array
    or a non-finite float; ``None`` when it is none of these."""
    if isinstance(value, dict) and value.get("$type") == "ndarray":
        values = value.get("values")
        value = values[0] if isinstance(values, list) and len(values) == 1 else None
    elif isinstance(value, dict) and value.get("$type") == "float":
        value = value.get("value")
    if isinstance(value, bool) or not isinstance(value, int | float | str):
        return None
    try:
        return float(value)
    except ValueError:
        return None


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"
