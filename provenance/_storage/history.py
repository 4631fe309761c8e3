"""Reading a key's history back from an AnnData object."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from provenance._base.errors import UnknownKeyError, UnknownVersionError

from .codec import PROVENANCE_FIELD, entry_kind, read_history, read_steps

if TYPE_CHECKING:
    from collections.abc import Sequence

    from anndata import AnnData

    from provenance._schema.models import ClusteringRecord, StepRecord

__all__ = [
    "has_history",
    "history",
    "is_step_entry",
    "latest",
    "latest_step",
    "part_of",
    "recorded_keys",
    "select_version",
    "step_history",
    "step_keys",
]


def has_history(entry: Any) -> bool:
    """Whether an ``uns`` entry holds a provenance history (readable or not)."""
    return isinstance(entry, Mapping) and PROVENANCE_FIELD in entry


def is_step_entry(entry: Any) -> bool:
    """Whether an ``uns`` entry holds the history of a step (neighbors, markers, ...), not of a
    clustering. An unreadable history counts as a clustering's (the audit reports it)."""
    kind = entry_kind(entry)
    return kind is not None and kind != "clustering"


def recorded_keys(adata: AnnData) -> list[str]:
    """Keys of ``uns`` that hold a clustering's provenance history (of a MuData: also
    ``"<mod>:<key>"``). The steps around clusterings are :func:`step_keys`."""
    from .mudata import SEP, is_mudata

    keys = [k for k, v in adata.uns.items() if has_history(v) and not is_step_entry(v)]
    if is_mudata(adata):
        mods: Any = adata.mod
        keys += [m + SEP + k for m, a in mods.items() for k in recorded_keys(a)]
    return keys


def step_keys(adata: AnnData) -> list[str]:
    """Keys of ``uns`` that hold the history of a step around a clustering (neighbors,
    markers, dendrogram, PAGA), in ``uns`` order."""
    return [k for k, v in adata.uns.items() if has_history(v) and is_step_entry(v)]


def step_history(adata: AnnData, key: str) -> list[StepRecord]:
    """Every record of the step that wrote ``uns[key]``, oldest first.

    Raises
    ------
    UnknownKeyError
        ``uns[key]`` holds no step history.
    InvalidRecordError
        A stored record is damaged, or is a clustering's (read it with :func:`history`).

    Examples
    --------
    >>> with provenance.record(adata):
    ...     sc.tl.rank_genes_groups(adata, "leiden_0.8")
    ...     sc.tl.rank_genes_groups(adata, "leiden_0.5")
    >>> [(r.version, r.uses[0].key) for r in provenance.step_history(adata, "rank_genes_groups")]
    [(1, 'leiden_0.8'), (2, 'leiden_0.5')]
    """
    entry = adata.uns.get(key)
    if not has_history(entry):
        known = ", ".join(repr(k) for k in step_keys(adata)) or "none"
        msg = f"uns[{key!r}] holds no recorded step; recorded steps: {known}."
        raise UnknownKeyError(msg)
    return read_steps(entry, key=key)


def latest_step(adata: AnnData, key: str) -> StepRecord | None:
    """The newest record of the step that wrote ``uns[key]``; ``None`` when there is none.

    Examples
    --------
    >>> with provenance.record(adata):
    ...     sc.tl.rank_genes_groups(adata, "leiden_0.8")
    >>> rec = provenance.latest_step(adata, "rank_genes_groups")
    >>> rec.kind, rec.source, rec.uses[0].key, rec.uses[0].record.version
    ('rank_genes_groups', 'raw', 'leiden_0.8', 2)
    """
    entry = adata.uns.get(key)
    if not has_history(entry) or not is_step_entry(entry):
        return None
    records = read_steps(entry, key=key)
    return records[-1] if records else None


def history(adata: AnnData, key: str) -> list[ClusteringRecord]:
    """Every record of ``key``, oldest first.

    Parameters
    ----------
    adata
        The annotated data matrix, or a MuData.
    key
        The ``obs`` column / ``uns`` key of a clustering (``key_added``); of a MuData's
        modality, ``"<mod>:<key>"`` (``"rna:leiden"``).

    Returns
    -------
    The validated records; empty when the key has no record.

    Raises
    ------
    UnknownKeyError
        The key is neither in ``obs`` nor in ``uns``.
    InvalidRecordError
        A stored record cannot be decoded or validated (the message names which and why).

    Examples
    --------
    >>> [r.params.resolution for r in provenance.history(adata, "leiden_0.8")]
    [0.8, 0.8]
    """
    part, local = part_of(adata, key)
    if local not in part.uns and local not in part.obs:
        known = ", ".join(repr(k) for k in recorded_keys(adata)) or "none"
        msg = f"{key!r} is neither in obs nor in uns; keys with a provenance history: {known}."
        raise UnknownKeyError(msg)
    return read_history(part.uns.get(local), key=key)


def part_of(adata: Any, key: str) -> tuple[Any, str]:
    """The object ``key`` lives in and its key there: ``mdata.mod["rna"]`` for ``"rna:leiden"``
    of a MuData, else ``adata`` itself."""
    from .mudata import is_mudata, split_key

    if not is_mudata(adata):
        return adata, key
    mod, local = split_key(key, adata.mod)
    return (adata, key) if mod is None else (adata.mod[mod], local)


def latest(adata: AnnData, key: str) -> ClusteringRecord | None:
    """The newest record of ``key``, or ``None`` when it has none.

    Parameters
    ----------
    adata
        The annotated data matrix, or a MuData.
    key
        The ``obs`` column / ``uns`` key of a clustering; ``"<mod>:<key>"`` in a modality.

    Returns
    -------
    The last record of :func:`history`, or ``None`` when the key has no record.

    Raises
    ------
    UnknownKeyError
        The key is neither in ``obs`` nor in ``uns``.
    InvalidRecordError
        A stored record cannot be decoded or validated (the message names which and why).

    Examples
    --------
    >>> provenance.latest(adata, "leiden_0.8").params.flavor
    'igraph'
    """
    records = history(adata, key)
    return records[-1] if records else None


def select_version(
    records: Sequence[ClusteringRecord], version: int, *, key: str
) -> ClusteringRecord:
    """One record of a key's history by version number.

    Parameters
    ----------
    records
        The key's history, oldest first (as :func:`history` returns it).
    version
        1-based, or negative from the end as in Python (``-1``: the latest). ``0`` and
        booleans are refused.
    key
        The key the records belong to, named in the error message.

    Returns
    -------
    The selected record.

    Raises
    ------
    UnknownVersionError
        ``version`` is not a non-zero int, or outside ``1..n`` / ``-n..-1``.

    Examples
    --------
    >>> select_version(provenance.history(adata, "leiden_0.8"), -1, key="leiden_0.8").version
    2
    """
    n = len(records)
    valid = f"use 1..{n}, or -1..-{n} counting back from the latest" if n else "it has none"
    if isinstance(version, bool) or not isinstance(version, int) or version == 0:
        msg = f"version of {key!r} must be a non-zero int ({valid}), got {version!r}."
        raise UnknownVersionError(msg)
    if not -n <= version <= n:
        msg = (
            f"{key!r} has {n} version{'s' * (n != 1)}; version {version} does not exist ({valid})."
        )
        raise UnknownVersionError(msg)
    return records[version - 1 if version > 0 else version]
