"""The list of findings in a module docstring, from :data:`~.catalogue.CATALOGUE`."""

from __future__ import annotations

from .catalogue import CATALOGUE

__all__ = ["findings_doc"]


def findings_doc() -> str:
    """The list of findings for a module docstring: code, severity, meaning, what to do."""
    import textwrap

    lines = [
        "Findings, from ``catalogue.CATALOGUE`` (docs/findings.md has the cause and remedy of "
        "each):",
        "",
    ]
    for s in CATALOGUE:
        item = f"- ``{s.code}`` ({s.severity}): {s.meaning} To do: {s.remedy}"
        lines.append(textwrap.fill(item, width=96, subsequent_indent="  ", break_on_hyphens=False))
    return "\n".join(lines) + "\n"
