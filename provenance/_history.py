"""Reading a key's history back from an AnnData object."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._codec import read_history
from ._errors import UnknownKeyError

if TYPE_CHECKING:
    from anndata import AnnData

    from ._models import ClusteringRecord

__all__ = ["history", "latest", "recorded_keys"]


def recorded_keys(adata: AnnData) -> list[str]:
    """Keys of ``uns`` that hold a provenance history."""
    return [k for k, v in adata.uns.items() if isinstance(v, dict) and "provenance" in v]


def history(adata: AnnData, key: str) -> list[ClusteringRecord]:
    """Every record of ``key``, oldest first.

    Parameters
    ----------
    adata
        The annotated data matrix.
    key
        The ``obs`` column / ``uns`` key of a clustering (``key_added``).

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
    if key not in adata.uns and key not in adata.obs:
        known = ", ".join(repr(k) for k in recorded_keys(adata)) or "none"
        msg = f"{key!r} is neither in obs nor in uns; keys with a provenance history: {known}."
        raise UnknownKeyError(msg)
    return read_history(adata.uns.get(key), key=key)


def latest(adata: AnnData, key: str) -> ClusteringRecord | None:
    """The newest record of ``key``, or ``None`` when it has none.

    Parameters
    ----------
    adata
        The annotated data matrix.
    key
        The ``obs`` column / ``uns`` key of a clustering (``key_added``).

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
