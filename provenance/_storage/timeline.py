"""Every record an object holds, in the order the calls ran: :func:`steps`."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from .codec import read_history, read_steps
from .history import has_history, is_step_entry

if TYPE_CHECKING:
    from anndata import AnnData

    from provenance._schema.models import ClusteringRecord, StepRecord

__all__ = ["steps"]

_NEVER = datetime.min.replace(tzinfo=UTC)


def steps(adata: AnnData) -> list[ClusteringRecord | StepRecord]:
    """Every record in ``adata``, clusterings and the steps around them, in the order the calls
    ran (by ``started_at``; each key's versions in their order).

    A MuData's modality records come with the root's, their ``key`` read as
    ``"<mod>:<key>"`` in :func:`~provenance.audit`. A damaged history is left out here and
    reported by :func:`~provenance.audit`.

    Parameters
    ----------
    adata
        The annotated data matrix, or a MuData.

    Returns
    -------
    The records, oldest call first.

    Examples
    --------
    >>> with provenance.record(adata):
    ...     sc.pp.pca(adata); sc.pp.neighbors(adata)
    ...     sc.tl.leiden(adata, key_added="L", flavor="igraph", n_iterations=2, directed=False)
    >>> [r.function for r in provenance.steps(adata)][-3:]
    ['scanpy.pp.pca', 'scanpy.pp.neighbors', 'scanpy.tl.leiden']
    """
    from provenance._base.errors import ProvenanceError

    from .mudata import is_mudata

    parts: list[Any] = [adata]
    if is_mudata(adata):
        parts += list(adata.mod.values())
    out: list[tuple[datetime, int, int, Any]] = []
    order = 0
    for part in parts:
        for key, entry in part.uns.items():
            if not has_history(entry):
                continue
            try:
                if is_step_entry(entry):
                    records: list[Any] = read_steps(entry, key=str(key))
                else:
                    records = list(read_history(entry, key=str(key)))
            except ProvenanceError:
                continue
            for i, rec in enumerate(records):
                out.append((rec.started_at or _NEVER, order, i, rec))
            order += 1
    out.sort(key=lambda t: (t[0], t[1], t[2]))
    return [t[3] for t in out]
