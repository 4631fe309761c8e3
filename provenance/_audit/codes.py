"""The finding codes and severities, as types (the catalogue's rows say what each means).

Written out, not built from :data:`~provenance._audit.catalogue.CATALOGUE`: a type checker
reads a ``Literal`` statically. ``tests/test_findings_catalogue`` asserts that
:data:`FindingCode`'s arguments are the catalogue's codes, in its order.
"""

from __future__ import annotations

from typing import Literal

__all__ = ["FindingCode", "Severity"]

Severity = Literal["warning", "error"]
FindingCode = Literal[
    "no_record",
    "legacy_params",
    "graph_not_checkable",
    "subset_or_reordered",
    "labels_renamed",
    "index_unreadable",
    "stale_result_suspected",
    "unsigned",
    "not_replayable",
    "graph_changed_by_step",
    "replay_inconclusive",
    "unrecorded_step",
    "graph_changed",
    "graph_missing",
    "labels_changed",
    "labels_missing",
    "params_mismatch",
    "invalid_record",
    "broken_chain",
    "newer_schema",
    "history_lost",
    "parent_missing",
    "stale_result",
    "representation_changed",
    "output_changed",
    "signature_invalid",
    "untrusted_signer",
    "signature_missing",
    "replay_differs",
    "unverified",
    "rolled_back",
    "not_sealed",
]
