"""``provenance.diff``: two clusterings (keys or versions) side by side."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from provenance._base.errors import ProvenanceError, UnknownKeyError

if TYPE_CHECKING:
    import pandas as pd
    from anndata import AnnData

    from provenance._schema.models import ClusteringRecord

__all__ = ["Diff", "DiffRow", "diff", "parse_spec", "record_changes"]

Section = Literal["params", "graph", "software", "result"]
SECTIONS: tuple[Section, ...] = ("params", "graph", "software", "result")
Spec = str | tuple[str, int]

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
        return self.a == self.b

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


@dataclass(frozen=True, repr=False)
class Diff:
    """Two records side by side: parameters, graph, software and result.

    Examples
    --------
    >>> d = provenance.diff(adata, "leiden_0.8", ("leiden_0.8", 1))
    >>> [(r.field, r.a, r.b) for r in d.rows if r.section == "params"]
    [('random_state', 1, 0)]
    """

    a: str
    """Label of the first record, ``key@vN``."""
    b: str
    """Label of the second record."""
    rows: tuple[DiffRow, ...]
    """The fields compared (only the differing ones unless ``all=True``)."""
    n_compared: int
    """How many fields were compared."""
    show_all: bool = False
    """Whether equal fields are listed too (``all=True``)."""

    @property
    def differences(self) -> tuple[DiffRow, ...]:
        """The rows whose values differ where it matters (arguments in effect)."""
        return tuple(r for r in self.rows if r.differs)

    @property
    def identical(self) -> bool:
        """Whether no compared field differs."""
        return not self.differences

    def to_dict(self) -> dict[str, Any]:
        """JSON-safe form."""
        return {
            "a": self.a,
            "b": self.b,
            "n_compared": self.n_compared,
            "identical": self.identical,
            "rows": [r.to_dict() for r in self.rows],
        }

    def to_frame(self) -> pd.DataFrame:
        """One row per field: section, field, a, b, same."""
        import pandas as pd

        return pd.DataFrame(
            [
                {"section": r.section, "field": r.field, self.a: r.a, self.b: r.b, "same": r.same}
                for r in self.rows
            ]
        )

    def __repr__(self) -> str:
        return f"<Diff {self.a} vs {self.b}: {len(self.differences)} of {self.n_compared} differ>"

    def __str__(self) -> str:
        from provenance._render.core import terminal_width

        return self.to_text(width=terminal_width())

    def to_text(self, *, width: int = 80) -> str:
        """The comparison as a table fitted to ``width`` columns (long values are cut, notes
        wrapped onto their own lines)."""
        from provenance._render.core import fmt_value, wrap

        n = len(self.differences)
        head = f"{self.a}  vs  {self.b}: {n} of {self.n_compared} fields differ"
        if not self.rows:
            return "\n".join(wrap(head + (" (identical)" if not n else ""), width))
        w0 = max(len(f"  {r.field}") for r in self.rows)
        mark_w = 3 if self.show_all else 0
        # Two value columns share what the field names leave; never more than 40 each.
        vw = max(8, min(40, (width - w0 - 4 - mark_w) // 2))
        cells = [(f"  {r.field}", fmt_value(r.a, vw), fmt_value(r.b, vw), r) for r in self.rows]
        w1 = max(max(len(c[1]) for c in cells), len(self.a))
        lines = [*wrap(head, width), f"{'':<{w0}}  {self.a:<{w1}}  {self.b}".rstrip()]
        section = None
        for name, va, vb, r in cells:
            if r.section != section:
                section = r.section
                lines.append(section)
            mark = "  *" if r.differs and self.show_all else ""
            row = f"{name:<{w0}}  {va:<{w1}}  {vb}{mark}"
            if r.note and not r.same:
                if len(row) + len(r.note) + 4 <= width:
                    row += f"  ({r.note})"
                else:
                    lines.append(row)
                    row = "\n".join(wrap(f"({r.note})", width, first=" " * (w0 + 2)))
            lines.append(row)
        return "\n".join(lines)


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
    from dataclasses import replace

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


def parse_spec(text: str) -> Spec:
    """``"key"`` or ``"key@version"`` (version 1-based, or negative from the end)."""
    key, sep, version = text.rpartition("@")
    if sep and key:
        v = version[1:] if version[:1] in "vV" else version
        try:
            return key, int(v)
        except ValueError:
            pass
    return text


def _resolve(uns: Mapping[str, Any], columns: Any, spec: Spec) -> ClusteringRecord:
    from provenance._storage.codec import read_history
    from provenance._storage.history import select_version

    if isinstance(spec, str):
        key, version = spec, -1
    elif (
        isinstance(spec, tuple)
        and len(spec) == 2
        and isinstance(spec[0], str)
        and isinstance(spec[1], int)
    ):
        key, version = spec
    else:
        msg = f"expected a key or a (key, version) pair, got {spec!r}."
        raise TypeError(msg)
    if key not in uns and key not in columns:
        msg = f"{key!r} is neither in obs nor in uns."
        raise UnknownKeyError(msg)
    records = read_history(uns.get(key), key=key)
    if not records:
        msg = f"{key!r} has no provenance record to compare; provenance.audit() tells why."
        raise ProvenanceError(msg)
    return select_version(records, version, key=key)


def diff(adata: AnnData | str | Any, a: Spec, b: Spec, *, all: bool = False) -> Diff:
    """Compare two recorded clusterings: parameters, graph, software and result.

    Parameters
    ----------
    adata
        An AnnData object, or the path of an ``.h5ad`` file or ``.zarr`` store (only ``uns`` is
        read).
    a, b
        A key (its latest version) or a ``(key, version)`` pair; versions count from 1, and
        negative versions from the end (``-1`` is the latest).
    all
        Show every field, not only those that differ.

    Returns
    -------
    A :class:`Diff`; ``print()`` it for a table, ``to_dict()`` for JSON.

    Examples
    --------
    >>> d = provenance.diff(adata, "leiden_0.5", "leiden_1.0")
    >>> [(r.field, r.a, r.b) for r in d.rows if r.section == "params"]
    [('key_added', 'leiden_0.5', 'leiden_1.0'), ('resolution', 0.5, 1.0)]
    >>> provenance.diff(adata, ("leiden_1.0", 1), ("leiden_1.0", -1)).identical
    False
    """
    from provenance._storage.files import open_source

    with open_source(adata, check_data=False) as src:
        columns = src.obs_columns()
        ra = _resolve(src.uns, columns, a)
        rb = _resolve(src.uns, columns, b)
    rows, n = compare(ra, rb, all=all)
    return Diff(
        a=f"{ra.key}@v{ra.version}",
        b=f"{rb.key}@v{rb.version}",
        rows=tuple(rows),
        n_compared=n,
        show_all=all,
    )
