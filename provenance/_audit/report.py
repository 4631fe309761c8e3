"""The audit's report: one entry per clustering key, its findings, and their JSON/table forms.

Findings (``code``: severity; docs/findings.md has cause and remedy of each):

- ``no_record`` (warning): labels or scanpy parameters without a provenance record.
- ``legacy_params`` (warning): parameters at scanpy's fixed key ``uns["leiden"]`` /
  ``uns["louvain"]`` that may belong to another run (scanpy <= 1.9 wrote them there whatever
  ``key_added`` was).
- ``graph_not_checkable`` (warning): the record cannot be compared with a graph in the object.
- ``index_unreadable`` (warning): ``uns["provenance_index"]`` cannot be read, or names keys
  with neither an ``obs`` column nor a history; the histories are audited all the same.
- ``graph_changed``, ``graph_missing``, ``labels_missing``, ``invalid_record``,
  ``newer_schema`` (errors).
- ``labels_changed`` (error): the label string of some cell differs from the record. A rename
  (same partition; the old→new mapping proven from cell membership) is told from a
  reassignment. Category bookkeeping (reordered categories, unused ones added or removed) is
  not a change: no finding.
- ``subset_or_reordered`` (error): other cells than were clustered (checked from the length of
  the ``obs`` index alone when data are not checked); more cells names concatenation.
- ``params_mismatch`` (error): scanpy's ``uns[key]["params"]`` (or ``["modularity"]``)
  contradict the latest record on a field both hold, compared type-aware; a field one side
  lacks (a deleted ``params``) is not compared.
- ``broken_chain`` (error): the history's hash chain does not hold, or it holds fewer entries
  than ``uns["provenance_index"]`` says were recorded (an emptied history included).
- ``history_lost`` (error): the key had a history that is gone: ``uns["provenance_index"]``
  says so but ``uns[key]`` holds none (scanpy re-clustered the key outside ``record()``), or
  ``uns[key]["provenance"]`` kept only its ``schema_version`` (``ad.concat`` merged objects).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    import pandas as pd

    from provenance._schema.models import ClusteringRecord

__all__ = ["WARNINGS", "AuditEntry", "AuditReport", "Finding", "FindingCode", "Severity", "Status"]

Severity = Literal["warning", "error"]
Status = Literal["ok", "warning", "error"]
FindingCode = Literal[
    "no_record",
    "legacy_params",
    "graph_not_checkable",
    "graph_changed",
    "graph_missing",
    "labels_changed",
    "labels_missing",
    "subset_or_reordered",
    "params_mismatch",
    "invalid_record",
    "broken_chain",
    "newer_schema",
    "history_lost",
    "index_unreadable",
]
WARNINGS: frozenset[str] = frozenset(
    {"no_record", "legacy_params", "graph_not_checkable", "index_unreadable"}
)


@dataclass(frozen=True)
class Finding:
    """One problem found for one key."""

    code: FindingCode
    """What kind of problem (see the module docstring)."""
    key: str
    """The clustering key (``obs`` column / ``uns`` key) concerned."""
    message: str
    """What was found and what to do, in one sentence or two."""
    details: dict[str, Any] = field(default_factory=dict)
    """JSON-safe facts behind the message (e.g. cluster counts then and now)."""

    @property
    def severity(self) -> Severity:
        """``"warning"`` for what cannot be checked, ``"error"`` for what contradicts a record."""
        return "warning" if self.code in WARNINGS else "error"

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "code": self.code,
            "severity": self.severity,
            "key": self.key,
            "message": self.message,
            "details": dict(self.details),
        }


@dataclass(frozen=True, repr=False)
class AuditEntry:
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
        severities = {f.severity for f in self.findings}
        return "error" if "error" in severities else ("warning" if severities else "ok")

    @property
    def latest(self) -> ClusteringRecord | None:
        """The newest readable record."""
        return self.history[-1] if self.history else None

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


@dataclass(frozen=True, repr=False)
class AuditReport:
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

    @property
    def findings(self) -> tuple[Finding, ...]:
        """All findings of all entries."""
        return tuple(f for e in self.entries for f in e.findings)

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
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per entry: key, status, method, parameters, result and finding codes."""
        import pandas as pd

        from provenance._render.core import summary_rows

        rows = summary_rows(self)
        return pd.DataFrame(rows).set_index("key") if rows else pd.DataFrame(rows)

    def __str__(self) -> str:
        from provenance._render.core import to_text

        return to_text(self)

    def __rich__(self) -> Any:
        from provenance._render.core import to_rich

        return to_rich(self)

    def _repr_html_(self) -> str:
        from provenance._render.core import to_html

        return to_html(self)


def _count(n: int, word: str) -> str:
    return f"{n} {word}{'s' * (n != 1)}"
