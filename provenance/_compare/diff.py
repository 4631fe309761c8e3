"""``provenance.diff``: two clusterings (keys or versions) side by side.

The comparison itself (:func:`compare`, :class:`DiffRow`) lives in ``provenance._schema.changes``,
shared with the audit's "what changed"; ``provenance._render`` renders a :class:`Diff`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError, UnknownKeyError
from provenance._schema.changes import (
    SECTIONS,
    DiffRow,
    Section,
    compare,
    flatten_record,
    record_changes,
)
from provenance._util.display import Displayable

if TYPE_CHECKING:
    from collections.abc import Mapping

    import pandas as pd
    from anndata import AnnData

    from provenance._schema.models import ClusteringRecord

__all__ = [
    "SECTIONS",
    "Diff",
    "DiffRow",
    "Section",
    "compare",
    "diff",
    "flatten_record",
    "parse_spec",
    "record_changes",
]

Spec = str | tuple[str, int]


@dataclass(frozen=True, repr=False)
class Diff(Displayable):
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
        """One row per field: ``section``, ``field``, the two values (columns named by the
        records' labels, values as recorded), ``same``, ``in_effect`` (booleans) and ``note``."""
        import pandas as pd

        rows = self.rows
        return pd.DataFrame(
            {
                "section": pd.Series([r.section for r in rows], dtype=object),
                "field": pd.Series([r.field for r in rows], dtype=object),
                self.a: pd.Series([r.a for r in rows], dtype=object),
                self.b: pd.Series([r.b for r in rows], dtype=object),
                "same": pd.Series([r.same for r in rows], dtype=bool),
                "in_effect": pd.Series([r.in_effect for r in rows], dtype=bool),
                "note": pd.Series([r.note for r in rows], dtype=object),
            }
        )

    def __repr__(self) -> str:
        return f"<Diff {self.a} vs {self.b}: {len(self.differences)} of {self.n_compared} differ>"


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


def _key(spec: Spec) -> str:
    return spec[0] if isinstance(spec, tuple) and spec and isinstance(spec[0], str) else str(spec)


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


def diff(
    adata: AnnData | str | Any,
    a: Spec,
    b: Spec,
    *,
    all: bool = False,
    storage_options: Mapping[str, Any] | None = None,
) -> Diff:
    """Compare two recorded clusterings: parameters, graph, software and result.

    Parameters
    ----------
    adata
        An AnnData or MuData object, or the path of an ``.h5ad``/``.h5mu`` file or ``.zarr``
        store (only ``uns`` is read).
    a, b
        A key (its latest version; ``"<mod>:<key>"`` in a MuData's modality) or a
        ``(key, version)`` pair; versions count from 1, and
        negative versions from the end (``-1`` is the latest).
    all
        Show every field, not only those that differ.
    storage_options
        For a URL: the options of its fsspec filesystem, as :func:`~provenance.audit` takes.

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
    from provenance._storage.mudata import MuDataSource

    with open_source(adata, check_data=False, storage_options=storage_options) as src:
        if isinstance(src, MuDataSource):  # "<mod>:<key>" is read from that modality
            ra, rb = (_resolve((p := src.part_of(_key(s))).uns, p.obs_columns(), s) for s in (a, b))
        else:
            columns = src.obs_columns()
            ra = _resolve(src.uns, columns, a)
            rb = _resolve(src.uns, columns, b)
    rows, n = compare(ra, rb, all=all)
    # The key asked for, not the record's own: a modality's record names "leiden" for
    # "rna:leiden", and "rna:leiden" vs "prot:leiden" must not both read "leiden@v1".
    return Diff(
        a=f"{_key(a)}@v{ra.version}",
        b=f"{_key(b)}@v{rb.version}",
        rows=tuple(rows),
        n_compared=n,
        show_all=all,
    )
