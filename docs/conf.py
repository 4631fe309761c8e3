"""Sphinx configuration of the anndata-provenance documentation.

Build: ``make -C docs html`` (warnings are errors, cross-references nitpicky, the tutorial
notebook executed).
"""

from __future__ import annotations

import sys
from datetime import UTC, datetime
from pathlib import Path

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE / "_ext"))

import provenance  # noqa: E402

project = "anndata-provenance"
author = "anndata-provenance developers"
copyright = f"{datetime.now(UTC):%Y}, {author}"
release = provenance.__version__
version = release

extensions = [
    "myst_nb",
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
    "provenance_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "myst-nb"}
exclude_patterns = ["_build", "Thumbs.db", ".DS_Store", "**.ipynb_checkpoints", "jupyter_execute"]
templates_path = ["_templates"]

# --- MyST / myst-nb -------------------------------------------------------------------------
myst_enable_extensions = ["colon_fence", "deflist", "dollarmath", "attrs_inline"]
myst_heading_anchors = 3
# Run every notebook on every build; a cell that raises fails the build.
nb_execution_mode = "force"
nb_execution_raise_on_error = True
nb_execution_timeout = 600
nb_execution_show_tb = True
nb_merge_streams = True

# --- API reference --------------------------------------------------------------------------
autosummary_generate = True
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_typehints_format = "short"
autodoc_default_options = {"members": True, "undoc-members": False}
napoleon_google_docstring = False
napoleon_numpy_docstring = True
napoleon_use_rtype = False
napoleon_use_param = True
napoleon_custom_sections = [("Yields", "params_style")]

# Warnings are errors and every cross-reference must resolve. The documentation builds
# offline (no intersphinx inventories can be fetched), so references to types of Python and
# third-party packages cannot resolve: those, and only those, are ignored here. Known ones
# get a plain link to their documentation (see _ext/provenance_docs.py).
nitpicky = True
_ROLES = r"py:(class|obj|exc|func|meth|data|attr)"
_THIRD_PARTY = (
    "anndata pandas pd numpy np scipy pydantic pydantic_core annotated_types prov rocrate"
)
_STDLIB = "typing collections.abc contextlib datetime pathlib argparse types io weakref os"
_BARE = (
    # builtins and stdlib/third-party names as they appear in signatures
    "str int float bool None NoneType dict list tuple bytes object Exception UserWarning "
    "ValueError KeyError OSError ImportError TypeError AnnData DataFrame Path Iterator Callable "
    "Mapping Any Literal PathLike "
    # the export formats' documents (prov, rocrate), shown in signatures
    "ProvDocument ROCrate "
    "datetime TextIO JsonValue AwareDatetime BaseModel "
    # pydantic's constrained types and field metadata, shown in the models' field signatures
    "PositiveInt NonNegativeInt NonNegativeFloat MaxLen Field FieldInfo _PydanticGeneralMetadata "
    # type aliases of this package (explained in prose where they are used)
    "Digest Params Spec RandomStateValue Severity Status FindingCode NodeKind NodeStatus "
    "ResultKind EmbeddingKind StepRecord StepStatus"
)


def _any_of(names: str) -> str:
    return "(" + "|".join(n.replace(".", r"\.") for n in names.split()) + ")"


nitpick_ignore_regex = [
    (_ROLES, _any_of(_THIRD_PARTY) + r"\..*"),
    (_ROLES, _any_of(_STDLIB) + r"\..*"),
    (_ROLES, _any_of(_BARE)),
    # private base classes, shown by :show-inheritance:
    (
        "py:class",
        r"provenance\._schema\.(base\.(FrozenModel|RecordBase)"
        r"|v\d+_\d+(_params|_parts)?\.(_\w*ParamsBase|_Step|_Chain))",
    ),
    # the params union as autodoc prints it: Annotated[..., Tag("leiden")] with its callable
    # discriminator; the tags are strings, not classes
    ("py:class", r"provenance\._schema\.v\d+_\d+(_params)?\.(Annotated|_params_tag)"),
    # the record id's pattern-constrained string, as autodoc names the alias
    ("py:class", r"_Id"),
    ("py:class", r"(muon\.)?(leiden|louvain)"),
    # the results' base binding them to their renderers (provenance._render)
    ("py:class", r"provenance\._util\.display\.Displayable"),
    # a dataclass field's ``Mapping[str, X]`` as autodoc splits it (Seal.keys, Seal.steps)
    ("py:class", r"Mapping\[str"),
]

# --- HTML -----------------------------------------------------------------------------------
html_theme = "sphinx_book_theme"
html_title = "anndata-provenance"
html_static_path = ["_static"]
html_theme_options = {
    "show_toc_level": 2,
    "navigation_with_keys": False,
}
html_show_sourcelink = False
