"""The audit's checks, in the order their findings are reported.

:data:`CHECKS` runs on every key (:func:`run_checks`); the findings keep this order, errors
first (a stable sort on severity). :func:`check_index` runs once per object, on
``uns["provenance_index"]``; ``legacy_params`` is found across keys by
:func:`provenance._audit.legacy.add_legacy`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._base.errors import ProvenanceError
from provenance._storage.history import has_history

from .catalogue import Finding
from .checks_data import check_graph, check_params, check_subset
from .checks_labels import check_labels
from .checks_parent import check_restricted
from .checks_records import check_chain, check_lost, check_records, check_unrecorded
from .checks_refs import check_parents

if TYPE_CHECKING:
    from collections.abc import Collection

    from provenance._storage.files import AnnDataSource, FileSource
    from provenance._storage.mudata import PartView

    from .context import Check, KeyContext

    Source = AnnDataSource | FileSource | PartView

__all__ = ["CHECKS", "check_index", "run_checks"]

CHECKS: tuple[Check, ...] = (
    check_records,  # the stored history readable (invalid_record, newer_schema, history_lost)
    check_chain,  # its hash chain, and its length against the index
    check_lost,  # a history the index knows of, gone
    check_unrecorded,  # labels or params without any record
    check_params,  # scanpy's uns[key]["params"] against the latest record
    check_subset,  # the cells clustered
    check_labels,  # each cell's label
    check_graph,  # the graph clustered on
    check_restricted,  # restrict_to: the parent labels the call read, against obs now
    check_parents,  # the neighbors record it names, in the object
)


def run_checks(ctx: KeyContext) -> tuple[Finding, ...]:
    """Every check's findings for one key, in :data:`CHECKS` order, errors first."""
    findings = [f for c in CHECKS for f in c(ctx)]
    findings.sort(key=lambda f: f.severity != "error")
    return tuple(findings)


def check_index(src: Source, steps: Collection[str] = ()) -> list[Finding]:
    """An index that cannot be read, or names keys that are gone (``index_unreadable``).

    The index is only a cross-check (it tells a wiped or emptied history), so the histories
    are audited either way; an index that cannot serve says so instead of going quiet. It
    indexes step keys too: ``steps``, the step keys audited, are not gone (a step re-run
    outside ``record()`` is that key's ``history_lost``).
    """
    from provenance._storage.index import INDEX_KEY, read_index

    if INDEX_KEY not in src.uns:
        return []
    where = f"uns[{INDEX_KEY!r}]"
    try:
        index = read_index(src.uns)
    except ProvenanceError as e:
        msg = (
            f"{e} Until then a history wiped or emptied outside provenance.record() cannot be "
            "told; the histories themselves are audited."
        )
        details: dict[str, Any] = {"reason": "unreadable"}
    else:
        columns = src.obs_columns()
        gone = [
            k
            for k in index
            if k not in columns
            and not has_history(src.uns.get(k))
            and k not in src.uns_errors
            and k not in steps
        ]
        if not gone:
            return []
        shown = ", ".join(map(repr, gone[:5])) + (
            f" and {len(gone) - 5} more" if len(gone) > 5 else ""
        )
        msg = (
            f"{where} names {shown}, which {'has' if len(gone) == 1 else 'have'} neither an obs "
            "column nor a history in uns: deleted since (a result or clustering removed by "
            "hand), or the index came with uns from another object (copied or concatenated). "
            "Nothing else depends on those entries, and every history is audited all the same. "
            f"To stop this warning, remove those entries from {where} (JSON, under 'keys'), or "
            "delete it as a whole: the next provenance.record() starts a new one, and until "
            "then a history wiped outside record() cannot be told for any key."
        )
        details = {"reason": "unknown_keys", "keys": gone}
    return [Finding("index_unreadable", INDEX_KEY, msg, details)]
