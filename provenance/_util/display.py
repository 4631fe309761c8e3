"""How results show themselves: one table of renderers, bound to results by one mixin.

Results (the audit report, a diff, a replay) hold data only. ``provenance._render`` registers,
in one table, a function per (result type, format), imported when first used;
:class:`Displayable` looks them up, so a result class carries no rendering code and the layers
below ``_render`` never import it.
Reaching any public name of ``provenance`` imports ``provenance._render`` (as does the command
line), so the table is filled before any result exists.

Formats:

- ``"text"``: ``f(result, *, width=None, encoding=None) -> str`` (``width`` in terminal
  columns, by default the terminal's; characters ``encoding`` cannot write become ASCII);
- ``"html"``: ``f(result) -> str``, for Jupyter and VS Code;
- ``"rich"``: ``f(result) -> renderable``, laid out for the console it is printed on;
- ``"dot"``: ``f(result) -> str``, a Graphviz DOT graph (the results that are graphs).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from collections.abc import Callable, Container, Mapping

__all__ = ["FORMATS", "Displayable", "Format", "register", "renderer", "type_name"]

Format = Literal["text", "html", "rich", "dot"]

FORMATS: dict[tuple[str, Format], Callable[[], Callable[..., Any]]] = {}
"""(result type's qualified name, format) -> a function returning its renderer; filled by
``provenance._render``. Renderers are imported on first use, not when the table is filled."""


def type_name(cls: type) -> str:
    """A type's key in :data:`FORMATS`: ``"provenance._audit.report.AuditReport"``."""
    return f"{cls.__module__}.{cls.__qualname__}"


def register(table: Mapping[tuple[str, Format], Callable[[], Callable[..., Any]]]) -> None:
    """Add renderers to :data:`FORMATS` (a later registration for a pair replaces one before)."""
    FORMATS.update(table)


def renderer(obj: object, fmt: Format) -> Callable[..., Any]:
    """The renderer of ``fmt`` for ``obj``'s type (or its nearest base class that has one)."""
    for cls in type(obj).__mro__:
        load = FORMATS.get((type_name(cls), fmt))
        if load is not None:
            return load()
    msg = (
        f"no {fmt!r} renderer is registered for {type(obj).__name__}; "
        "`import provenance` registers them (provenance._render)."
    )
    raise LookupError(msg)


class Displayable:
    """Binds a result to its registered renderers: ``str()``, rich, Jupyter's display.

    The class holds no rendering of its own: every method looks its format up in
    :data:`FORMATS`.
    """

    __slots__ = ()

    def to_text(self, *, width: int | None = None, encoding: str | None = None) -> str:
        """Plain text fitted to ``width`` terminal columns (default: the terminal's width).

        Parameters
        ----------
        width
            Columns every line must fit in; by default ``COLUMNS``, else the terminal's, else 80.
        encoding
            The output's encoding: characters it cannot write are replaced by ASCII.
        """
        text: str = renderer(self, "text")(self, width=width, encoding=encoding)
        return text

    def __str__(self) -> str:
        return self.to_text()

    def __rich__(self) -> Any:
        return renderer(self, "rich")(self)

    def _repr_html_(self) -> str:
        html: str = renderer(self, "html")(self)
        return html

    def _repr_mimebundle_(
        self,
        include: Container[str] | None = None,
        exclude: Container[str] | None = None,
        **kwargs: Any,
    ) -> dict[str, str]:
        # text/plain stays the short repr, as for any Python object; notebooks show the HTML.
        makers: dict[str, Callable[[], str]] = {
            "text/plain": lambda: repr(self),
            "text/html": self._repr_html_,
        }
        return {
            mime: make()
            for mime, make in makers.items()
            if (include is None or mime in include) and (exclude is None or mime not in exclude)
        }
