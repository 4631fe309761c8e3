"""The one table binding each result type and format to its renderer.

:class:`~provenance._util.display.Displayable` (the results' base) looks renderers up here:
``str(result)`` and ``result.to_text()`` are ``"text"``, rich's console ``"rich"``, Jupyter's
display (``_repr_mimebundle_``, ``_repr_html_``) ``"html"``. A new result type is a new block
of lines; a new format a new column of them. Types and renderers are named, not imported: a
command that prints one report (``provenance show``) imports the one renderer it uses, and
none of the other results' modules.
"""

from __future__ import annotations

from functools import cache
from importlib import import_module
from typing import TYPE_CHECKING, Any

from provenance._util.display import register

if TYPE_CHECKING:
    from collections.abc import Callable

    from provenance._util.display import Format

__all__ = ["RENDERERS", "RESULT_TYPES"]

RESULT_TYPES = {
    "AuditReport": "provenance._audit.report.AuditReport",
    "AuditEntry": "provenance._audit.report.AuditEntry",
    "Diff": "provenance._compare.diff.Diff",
    "ReplayResult": "provenance._replay.result.ReplayResult",
    "PipelineReplay": "provenance._replay.result.PipelineReplay",
    "Lineage": "provenance._compare.lineage.Lineage",
}
"""Each result type's qualified name (``tests/test_render_leaf.py`` checks them)."""


def _lazy(spec: str, *, as_rich_text: bool = False) -> Callable[[], Callable[..., Any]]:
    """A loader of ``"module:function"`` (under ``provenance._render``); ``as_rich_text``: a
    rich renderer printing what that text renderer makes."""

    @cache
    def load() -> Callable[..., Any]:
        module, name = spec.split(":")
        fn: Callable[..., Any] = getattr(import_module(f"provenance._render.{module}"), name)
        if as_rich_text:
            from .rich import as_text

            fn = as_text(fn)
        return fn

    return load


def _table() -> dict[tuple[str, Format], Callable[[], Callable[..., Any]]]:
    t = RESULT_TYPES
    return {
        (t["AuditReport"], "text"): _lazy("text:to_text"),
        (t["AuditReport"], "html"): _lazy("html:to_html"),
        (t["AuditReport"], "rich"): _lazy("rich:to_rich"),
        (t["AuditEntry"], "text"): _lazy("text:entry_text"),
        (t["AuditEntry"], "html"): _lazy("html:entry_html"),
        (t["AuditEntry"], "rich"): _lazy("text:entry_text", as_rich_text=True),
        (t["Diff"], "text"): _lazy("compare:diff_text"),
        (t["Diff"], "html"): _lazy("html:diff_html"),
        (t["Diff"], "rich"): _lazy("compare:diff_text", as_rich_text=True),
        (t["ReplayResult"], "text"): _lazy("compare:replay_text"),
        (t["ReplayResult"], "html"): _lazy("html:replay_html"),
        (t["ReplayResult"], "rich"): _lazy("compare:replay_text", as_rich_text=True),
        (t["PipelineReplay"], "text"): _lazy("replay_pipeline:pipeline_text"),
        (t["PipelineReplay"], "html"): _lazy("replay_pipeline:pipeline_html"),
        (t["PipelineReplay"], "rich"): _lazy("replay_pipeline:pipeline_text", as_rich_text=True),
        (t["Lineage"], "text"): _lazy("lineage:lineage_text"),
        (t["Lineage"], "html"): _lazy("lineage:lineage_html"),
        (t["Lineage"], "rich"): _lazy("lineage:lineage_rich"),
        (t["Lineage"], "dot"): _lazy("lineage:lineage_dot"),
    }


RENDERERS = _table()
"""(result type's qualified name, format) -> loader of its renderer."""

register(RENDERERS)
