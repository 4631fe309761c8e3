"""The one table binding each result type and format to its renderer.

:class:`~provenance._util.display.Displayable` (the results' base) looks renderers up here:
``str(result)`` and ``result.to_text()`` are ``"text"``, rich's console ``"rich"``, Jupyter's
display (``_repr_mimebundle_``, ``_repr_html_``) ``"html"``. A new result type is a new block
of lines; a new format a new column of them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from provenance._audit.report import AuditEntry, AuditReport
from provenance._compare.diff import Diff
from provenance._compare.lineage import Lineage
from provenance._replay.result import PipelineReplay, ReplayResult
from provenance._util.display import register

from .compare import diff_text, replay_text
from .html import diff_html, entry_html, replay_html, to_html
from .lineage import lineage_dot, lineage_html, lineage_rich, lineage_text
from .replay_pipeline import pipeline_html, pipeline_text
from .rich import as_text, to_rich
from .text import entry_text, to_text

if TYPE_CHECKING:
    from collections.abc import Callable

    from provenance._util.display import Format

__all__ = ["RENDERERS"]

RENDERERS: dict[tuple[type, Format], Callable[..., Any]] = {
    (AuditReport, "text"): to_text,
    (AuditReport, "html"): to_html,
    (AuditReport, "rich"): to_rich,
    (AuditEntry, "text"): entry_text,
    (AuditEntry, "html"): entry_html,
    (AuditEntry, "rich"): as_text(entry_text),
    (Diff, "text"): diff_text,
    (Diff, "html"): diff_html,
    (Diff, "rich"): as_text(diff_text),
    (ReplayResult, "text"): replay_text,
    (ReplayResult, "html"): replay_html,
    (ReplayResult, "rich"): as_text(replay_text),
    (PipelineReplay, "text"): pipeline_text,
    (PipelineReplay, "html"): pipeline_html,
    (PipelineReplay, "rich"): as_text(pipeline_text),
    (Lineage, "text"): lineage_text,
    (Lineage, "html"): lineage_html,
    (Lineage, "rich"): lineage_rich,
    (Lineage, "dot"): lineage_dot,
}

register(RENDERERS)
