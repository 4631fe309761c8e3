"""Sphinx directives that generate reference pages from the code, so they cannot drift.

- ``provenance-cli``: one section per subcommand of ``provenance._cli.build_parser()``.
- ``provenance-schema``: field tables of ``schemas/<kind>-record-<version>.schema.json``.
- ``provenance-findings``: the table of audit findings from ``provenance._audit.catalogue``;
  warns (an error under ``-W``) when the page lacks a ``(finding-<code>)=`` section for a code.
- ``provenance-verdicts``: the verdict table from ``provenance._audit.verdicts``.
- ``provenance-threats``: the threat model (attacks x levels of trust) from
  ``provenance._audit.threats``.
- Links for the few external types the API mentions (the build runs offline, without
  intersphinx inventories).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import TYPE_CHECKING, Any

from docutils import nodes
from docutils.statemachine import StringList
from sphinx.util import logging
from sphinx.util.docutils import SphinxDirective
from sphinx.util.nodes import nested_parse_with_titles

if TYPE_CHECKING:
    from sphinx.application import Sphinx

logger = logging.getLogger(__name__)
ROOT = Path(__file__).resolve().parents[2]

EXTERNAL = {
    "AnnData": "https://anndata.readthedocs.io/en/stable/generated/anndata.AnnData.html",
    "anndata.AnnData": "https://anndata.readthedocs.io/en/stable/generated/anndata.AnnData.html",
    "pandas.DataFrame": "https://pandas.pydata.org/docs/reference/api/pandas.DataFrame.html",
    "DataFrame": "https://pandas.pydata.org/docs/reference/api/pandas.DataFrame.html",
    "pandas.Series": "https://pandas.pydata.org/docs/reference/api/pandas.Series.html",
    "pydantic.BaseModel": "https://docs.pydantic.dev/latest/api/base_model/",
}


class _Generated(SphinxDirective):
    """Parse generated reStructuredText in place (sections allowed)."""

    def _parse(self, rst: str) -> list[nodes.Node]:
        if type(self.state).__module__.startswith("myst_parser"):
            # On a MyST page nested text is read as Markdown (a list-table or code-block came
            # out as raw text): MyST's eval-rst reads it as reST.
            rst = f"````{{eval-rst}}\n{rst}\n````"
        container = nodes.section() if "\n---" in rst or "\n===" in rst else nodes.container()
        lines = StringList(rst.splitlines(), source=f"<{self.name}>")
        nested_parse_with_titles(self.state, lines, container)
        self._note_names(container)
        return list(container.children)

    def _note_names(self, container: nodes.Element) -> None:
        """Make the labels and section names of the generated text known to the page.

        MyST's eval-rst parses into a document of its own and passes on only the names of its
        top-level nodes: a label further down (``.. _schema-graphinfo:`` at the end of the
        first table's section) would stay unknown to the page, so a ``:ref:`` to it would be
        undefined. On a reST page the names are known already and nothing is done.
        """
        doc = self.state.document
        for node in container.findall(nodes.Element):
            if not node["names"] or any(name in doc.nameids for name in node["names"]):
                continue
            if isinstance(node, nodes.section):
                doc.note_implicit_target(node, node)
            elif isinstance(node, nodes.target) and not node.get("refuri"):
                doc.note_explicit_target(node, node)


def _indent(text: str, n: int = 3) -> str:
    return "\n".join((" " * n + line) if line.strip() else "" for line in text.splitlines())


class CliDirective(_Generated):
    """The CLI reference: ``--help`` of the program and of every subcommand."""

    def run(self) -> list[nodes.Node]:
        import argparse

        from provenance._cli.commands import build_parser

        parser = build_parser()
        parser.formatter_class = argparse.RawDescriptionHelpFormatter
        out = [".. code-block:: text", "", _indent(_help(parser)), ""]
        sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
        helps = {c.dest: c.help for c in sub._choices_actions}
        for name, p in sub.choices.items():
            title = f"provenance {name}"
            out += [f".. _cli-{name}:", "", title, "-" * len(title), ""]
            if helps.get(name):
                out += [_rst_escape(helps[name][0].upper() + helps[name][1:]) + ".", ""]
            out += [".. code-block:: text", "", _indent(_help(p)), ""]
        return self._parse("\n".join(out))


def _help(parser: Any) -> str:
    import os

    # A fixed width so the page does not depend on the terminal of whoever builds it.
    old = os.environ.get("COLUMNS")
    os.environ["COLUMNS"] = "90"
    try:
        return parser.format_help()
    finally:
        if old is None:
            del os.environ["COLUMNS"]
        else:
            os.environ["COLUMNS"] = old


def _rst_escape(text: str) -> str:
    return re.sub(r"([*`|_\\])", r"\\\1", text)


def _type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f":ref:`{name} <schema-{name.lower()}>`"
    if "anyOf" in prop or "oneOf" in prop:
        parts = [_type(p) for p in prop.get("anyOf", prop.get("oneOf", []))]
        return " | ".join(dict.fromkeys(parts))
    if "const" in prop:
        return f"``{json.dumps(prop['const'])}``"
    if "enum" in prop:
        return " | ".join(f"``{json.dumps(v)}``" for v in prop["enum"])
    t = prop.get("type", "any")
    if t == "array":
        return f"array of {_type(prop.get('items', {}))}"
    if t == "object" and "additionalProperties" in prop:
        ap = prop["additionalProperties"]
        return f"object of {_type(ap) if isinstance(ap, dict) and ap else 'JSON values'}"
    if t == "string" and prop.get("format"):
        return f"string ({prop['format']})"
    return str(t) if t else "any"


def _constraints(prop: dict[str, Any]) -> str:
    keys = ("pattern", "minimum", "exclusiveMinimum", "maxLength")
    parts = [f"{k}: ``{prop[k]}``" for k in keys if k in prop]
    if "default" in prop:
        parts.append(f"default: ``{json.dumps(prop['default'])}``")
    return "; ".join(parts)


def _table(name: str, model: dict[str, Any]) -> list[str]:
    required = set(model.get("required", []))
    out = [f".. _schema-{name.lower()}:", "", name, "-" * len(name), ""]
    if model.get("description"):
        out += [_rst_escape_desc(model["description"]), ""]
    if not model.get("properties"):  # e.g. JsonValue, which is {}: any JSON value
        return [*out, "Any JSON value." if not model else f"Type: {_type(model)}.", ""]
    out += [
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 18 22 8 52",
        "",
        "   * - field",
        "     - type",
        "     - required",
        "     - description",
    ]
    for field, prop in model.get("properties", {}).items():
        desc = _rst_escape_desc(prop.get("description", ""))
        extra = _constraints(prop)
        out += [
            f"   * - ``{field}``",
            f"     - {_type(prop)}",
            f"     - {'yes' if field in required else 'no'}",
            f"     - {desc}{' (' + extra + ')' if extra else ''}",
        ]
    return [*out, ""]


def _rst_escape_desc(text: str) -> str:
    # Field docstrings are written in reST already (``code``); keep them, flatten newlines.
    return " ".join(text.split())


class SchemaDirective(_Generated):
    """Field tables of the committed JSON Schemas of the current version: the clustering
    record, then the steps' records; each shared model (``GraphInfo``) once."""

    def run(self) -> list[nodes.Node]:
        from provenance._schema.jsonschema import schema_file
        from provenance._schema.models import STEP_MODELS

        out: list[str] = []
        defs: dict[str, Any] = {}
        for kind in ("clustering", *STEP_MODELS):
            path = ROOT / "schemas" / schema_file(kind=kind)
            self.env.note_dependency(str(path))
            schema = json.loads(path.read_text(encoding="utf-8"))
            out += _table(schema.get("title", kind), schema)
            defs.update(schema.get("$defs", {}))
        for name, model in sorted(defs.items()):
            out += _table(name, model)
        return self._parse("\n".join(out))


class FindingsDirective(_Generated):
    """Table of the audit's findings, rendered from the catalogue.

    Every code must have a ``(finding-<code>)=`` section on the page; a missing one is a
    warning, which fails the build (``-W``).
    """

    def run(self) -> list[nodes.Node]:
        from provenance._audit.catalogue import CATALOGUE

        source = Path(self.env.doc2path(self.env.docname)).read_text(encoding="utf-8")
        missing = [s.code for s in CATALOGUE if f"(finding-{s.code})=" not in source]
        if missing:
            logger.warning(
                "audit finding codes without a section on this page: %s",
                ", ".join(missing),
                location=self.get_location(),
            )
        out = [
            ".. list-table::",
            "   :header-rows: 1",
            "   :widths: 22 10 38 30",
            "",
            "   * - code",
            "     - severity",
            "     - meaning",
            "     - what to do",
        ]
        for s in CATALOGUE:
            out += [
                f"   * - :ref:`{s.code} <finding-{s.code}>`",
                f"     - {s.severity}",
                f"     - {_first_upper(s.meaning)}",
                f"     - {_first_upper(s.remedy)}",
            ]
        return self._parse("\n".join(out))


class VerdictsDirective(_Generated):
    """The verdict table, rendered from ``provenance._audit.verdicts.VERDICTS`` (the rows
    ``tests/test_verdicts.py`` runs)."""

    def run(self) -> list[nodes.Node]:
        from provenance._audit.verdicts import verdicts_doc

        return self._parse(verdicts_doc())


class ThreatsDirective(_Generated):
    """The threat model, rendered from ``provenance._audit.threats.THREATS`` (the attacks
    ``tests/test_threats.py`` performs)."""

    def run(self) -> list[nodes.Node]:
        from provenance._audit.threats import threats_doc

        return self._parse(threats_doc())


def _first_upper(text: str) -> str:
    return text[:1].upper() + text[1:]


def _public_name(target: str) -> str | None:
    """``provenance.X`` for a reference to ``provenance._private.module.X`` when X is public.

    Signatures name types by the private module that defines them (``provenance._schema.v1_0
    .GraphInfo``); the documentation has them under their public name only.
    """
    import provenance

    name = target.rsplit(".", 1)[-1]
    if target.startswith("provenance._") and name in provenance.__all__:
        return f"provenance.{name}"
    return None


def _external(app: Sphinx, env: Any, node: Any, contnode: nodes.Node) -> nodes.Node | None:
    if node.get("refdomain") != "py":
        return None
    target = node.get("reftarget", "")
    name = _public_name(target)
    if name is not None:
        py = env.get_domain("py")
        return py.resolve_xref(
            env, node["refdoc"], app.builder, node["reftype"], name, node, contnode
        )
    url = EXTERNAL.get(target) or EXTERNAL.get(target.replace("pd.", "pandas."))
    if url is None:
        return None
    ref = nodes.reference("", "", internal=False, refuri=url)
    ref += contnode
    return ref


def _no_inline_attribute_types(
    app: Sphinx, what: str, name: str, obj: Any, options: Any, lines: list[str]
) -> None:
    """Keep napoleon from reading ``"The key: ..."`` as ``type: description``.

    napoleon takes what precedes a colon on the first line of an attribute docstring as its
    type. This project puts types in signatures only, so such a colon is always prose; a
    leading empty comment (``..``) makes napoleon treat the whole docstring as description.
    """
    if what in ("attribute", "property") and lines and ":" in lines[0]:
        lines[:0] = ["..", ""]


def setup(app: Sphinx) -> dict[str, Any]:
    # Before napoleon (priority 500), which rewrites the docstring lines.
    app.connect("autodoc-process-docstring", _no_inline_attribute_types, priority=400)
    app.add_directive("provenance-cli", CliDirective)
    app.add_directive("provenance-schema", SchemaDirective)
    app.add_directive("provenance-findings", FindingsDirective)
    app.add_directive("provenance-verdicts", VerdictsDirective)
    app.add_directive("provenance-threats", ThreatsDirective)
    app.connect("missing-reference", _external)
    return {"parallel_read_safe": True, "parallel_write_safe": True, "version": "1"}
