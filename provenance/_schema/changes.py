"""What differs between two clustering records, field by field.

The audit (what changed from one version to the next) and ``provenance.diff`` (two records
side by side) both read records through these functions, so they live with the schema.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from provenance._schema.models import ClusteringRecord

__all__ = ["SECTIONS", "DiffRow", "Section", "compare", "flatten_record", "record_changes"]

Section = Literal["params", "graph", "software", "result"]
SECTIONS: tuple[Section, ...] = ("params", "graph", "software", "result")

# Fields left out of "what changed" between versions: implied by the fields shown.
_NOISE = frozenset({"hash_algorithm", "labels_digest", "obs_names_digest", "canonicalized"})


def _flatten(value: Any, prefix: str, out: dict[str, Any]) -> None:
    if isinstance(value, Mapping) and value and "$type" not in value:
        for k in sorted(value):
            _flatten(value[k], f"{prefix}.{k}" if prefix else str(k), out)
    else:
        out[prefix] = value


def flatten_record(rec: ClusteringRecord) -> dict[Section, dict[str, Any]]:
    """The record's fields by section, nested mappings flattened to dotted names.

    ``params.passed`` is left out: :func:`compare` shows it as ``passed.<name>`` rows.
    """
    d = rec.model_dump(mode="json")
    params = {k: v for k, v in d["params"].items() if k != "passed"}
    out: dict[Section, dict[str, Any]] = {s: {} for s in SECTIONS}
    _flatten({"function": d["function"], "origin": d["origin"], **params}, "", out["params"])
    _flatten(d["graph"] or {}, "", out["graph"])
    _flatten(d["software"] or {}, "", out["software"])
    _flatten(d["result"], "", out["result"])
    return out


@dataclass(frozen=True)
class DiffRow:
    """One field of two records."""

    section: Section
    field: str
    a: Any
    b: Any
    in_effect: bool = True
    """``False`` when a different value here cannot have changed the result: an argument the
    backends of both records ignore, or an argument as passed (``passed.*``), whose
    effective value has its own row."""
    note: str | None = None
    """Why the row is not in effect, or that it is so in one record only."""

    @property
    def same(self) -> bool:
        """Whether both records hold the same value."""
        return bool(self.a == self.b)

    @property
    def differs(self) -> bool:
        """Whether the values differ where it matters (``in_effect``)."""
        return self.in_effect and not self.same

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "section": self.section,
            "field": self.field,
            "a": self.a,
            "b": self.b,
            "same": self.same,
            "in_effect": self.in_effect,
            "note": self.note,
        }


def compare(
    a: ClusteringRecord,
    b: ClusteringRecord,
    *,
    all: bool = False,
    sections: tuple[Section, ...] = SECTIONS,
) -> tuple[list[DiffRow], int]:
    """Rows comparing two records, section by section (``all``: also equal fields)."""
    fa, fb = flatten_record(a), flatten_record(b)
    ignored_a = set(a.params.not_in_effect)
    ignored_b = set(b.params.not_in_effect)
    rows, n = [], 0
    for s in sections:
        names = list(fa[s]) + [k for k in fb[s] if k not in fa[s]]
        for name in names:
            n += 1
            row = DiffRow(s, name, fa[s].get(name), fb[s].get(name))
            if s == "params":
                row = _effect(row, name.split(".")[0], ignored_a, ignored_b, a.key, b.key)
            if all or not row.same:
                rows.append(row)
        if s == "params":
            for row in _passed_rows(a, b):
                n += 1
                if all or not row.same:
                    rows.append(row)
    return rows, n


def _effect(
    row: DiffRow, arg: str, ignored_a: set[str], ignored_b: set[str], ka: str, kb: str
) -> DiffRow:
    """Mark an argument row by whether the backends of the two records used it."""
    if arg in ignored_a and arg in ignored_b:
        return replace(row, in_effect=False, note="not in effect: the backend ignores it")
    if arg in ignored_a or arg in ignored_b:
        which = "first" if arg in ignored_a else "second"
        return replace(
            row, note=f"not in effect in the {which} record ({ka if which == 'first' else kb})"
        )
    return row


def _passed_rows(a: ClusteringRecord, b: ClusteringRecord) -> list[DiffRow]:
    """Arguments as passed where either record resolved one to another value.

    An argument absent from ``passed`` was passed as the value that ran.
    """
    pa, pb = a.params.model_dump(mode="json"), b.params.model_dump(mode="json")
    names = sorted(set(pa["passed"]) | set(pb["passed"]))
    return [
        DiffRow(
            "params",
            f"passed.{name}",
            pa["passed"].get(name, pa.get(name)),
            pb["passed"].get(name, pb.get(name)),
            in_effect=False,
            note="as passed; the value that ran is compared above",
        )
        for name in names
    ]


def record_changes(prev: ClusteringRecord, rec: ClusteringRecord) -> list[DiffRow]:
    """What changed in parameters, graph and result from one version to the next."""
    rows, _ = compare(prev, rec, sections=("params", "graph", "result"))
    # How an argument was spelled is not a change; one the backend ignores still is, and its
    # row says so (``note``).
    return [r for r in rows if not r.field.startswith("passed.") and r.field not in _NOISE]
