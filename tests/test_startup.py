"""A command that starts fast: what ``provenance show`` imports and builds, and that the
shortcuts taken for it (models built on first use, one reading of the field docstrings, one
tag's validator, display widths without rich) change nothing a user sees."""

from __future__ import annotations

import argparse
import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from conftest import FAST
from pydantic import BaseModel, TypeAdapter, ValidationError

import provenance
from provenance._schema import (
    models,
    v1_0,
    v1_1,
    v1_2,
    v1_3,
    v1_4,
    v1_5,
    v1_6,
    v1_6_params,
    v1_6_parts,
)

if TYPE_CHECKING:
    from anndata import AnnData

DATA = Path(__file__).parent / "data"
VERSIONS = (v1_0, v1_1, v1_2, v1_3, v1_4, v1_5, v1_6, v1_6_params, v1_6_parts)

# Run ``provenance show PATH`` as ``python -m provenance`` does, then report what it imported
# and which record models it built.
_SHOW = """
import json, runpy, sys
sys.argv = ["provenance", "show", sys.argv[1]]
try:
    runpy.run_module("provenance", run_name="__main__", alter_sys=True)
except SystemExit as e:
    status = e.code
heavy = ("anndata", "pandas", "scanpy", "scipy", "zarr", "fsspec", "rich", "matplotlib",
         # what other commands and results need: remote reads, HTML, other results' renderers
         "provenance._storage.remote_io", "provenance._render.html", "provenance._render.svg",
         "provenance._render.lineage", "provenance._replay.result", "provenance._compare.diff",
         # the older schema versions' models
         *(f"provenance._schema.v1_{i}" for i in range(6)))
imported = [m for m in heavy if m in sys.modules]
from provenance._schema import models
built = sorted(tag for tag, m in models._TAGGED.items() if m.__pydantic_complete__)
print(json.dumps({"status": status, "imported": imported, "built": built}), file=sys.stderr)
"""


@pytest.fixture(scope="module")
def recorded_h5ad(_pbmc_master: AnnData, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small file holding a current record (a clustering on pbmc68k_reduced's own graph)."""
    import scanpy as sc

    adata = _pbmc_master.copy()
    with provenance.record(adata):
        sc.tl.leiden(adata, key_added="leiden", **FAST)
    path = tmp_path_factory.mktemp("startup") / "small.h5ad"
    adata.write_h5ad(path)
    return path


def _show(path: Path) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, "-c", _SHOW, str(path)], capture_output=True, text=True, check=True
    )
    assert "Provenance audit" in out.stdout
    result: dict[str, object] = json.loads(out.stderr.strip().splitlines()[-1])
    return result


def test_show_imports_no_anndata_and_builds_only_the_file_s_version(recorded_h5ad: Path):
    # h5py, numpy and pydantic are what reading and validating the records needs; plain text
    # (not a terminal) needs no rich. Of the record models, only 1.6's clustering is built:
    # not every schema version's, as at import before.
    seen = _show(recorded_h5ad)
    assert seen["status"] == 0
    assert seen["imported"] == []
    assert seen["built"] == ["1.6:clustering"]


def test_an_older_version_is_built_when_a_file_holds_it():
    seen = _show(DATA / "effective" / "leiden-1.12-schema-1.0.h5ad")
    # The older versions' modules are imported for it, and nothing heavy.
    assert seen["status"] == 0
    assert seen["imported"] == [f"provenance._schema.v1_{i}" for i in range(6)]
    # The 1.0 record is validated as 1.0 and upgraded through each version to 1.6.
    assert seen["built"] == ["1.0", "1.1", "1.2", "1.3:clustering", "1.4:clustering",
                             "1.5:clustering", "1.6:clustering"]  # fmt: skip


def _models() -> list[type[BaseModel]]:
    return [
        cls
        for module in VERSIONS
        for cls in vars(module).values()
        if isinstance(cls, type)
        and issubclass(cls, BaseModel)
        and cls.__module__ == module.__name__
    ]


def test_field_descriptions_are_pydantic_s_attribute_docstrings():
    # base._field_docstrings reads each module once; pydantic's own reader (what
    # use_attribute_docstrings=True runs per class) must find the same docstrings.
    from pydantic._internal._docs_extraction import extract_docstrings_from_cls

    checked = 0
    for cls in _models():
        own = extract_docstrings_from_cls(cls, use_inspect=True)
        for name, info in cls.model_fields.items():
            if name in own and name in cls.__annotations__:
                assert info.description == own[name], (cls, name)
                checked += 1
    assert checked > 200
    # and they reach the JSON Schema: an inherited field keeps its parent's description.
    schema = provenance.ClusteringRecord.model_json_schema()
    assert schema["properties"]["params"]["description"] == "Every argument of the call."


def _invalid_records() -> list[dict[str, object]]:
    """For each tag, a record of that version and kind with wrong fields."""
    out = []
    for tag in models._TAGGED:
        version, _, kind = tag.partition(":")
        obj: dict[str, object] = {"schema_version": version, "id": 3, "params": {"x": 1}}
        if kind:
            obj["kind"] = {"result": "rank_genes_groups", "embedding": "umap"}.get(kind, kind)
        out.append(obj)
    out.append({"schema_version": "1.6", "kind": "nonsense"})  # an unknown tag
    out.append({"schema_version": "1.6"})  # no kind from 1.3 on: no tag
    return out


@pytest.mark.parametrize("obj", _invalid_records(), ids=lambda o: f"{o['schema_version']}")
def test_one_tag_s_validator_fails_as_the_union_does(obj: dict[str, object]):
    union = TypeAdapter(models.AnyClusteringRecord)
    with pytest.raises(ValidationError) as whole:
        union.validate_python(obj)
    with pytest.raises(ValidationError) as one:
        models.validate_any(obj)
    assert one.value.errors(include_url=False) == whole.value.errors(include_url=False)


def test_display_widths_without_rich_are_rich_s():
    from rich.cells import cell_len as rich_len

    from provenance._render.terminal import _ONE_CELL, cell_len

    texts = ["plain ASCII ~!", "audit — OK: 1 → 2 … ≥ ≤ × ‘’ “”", "".join(sorted(_ONE_CELL))]
    texts += ["クラスター", "e\u0301", "tab\there", "mixed é and 中"]
    for text in texts:
        assert cell_len(text) == rich_len(text), text


def test_every_public_name_is_imported_on_first_use():
    # provenance/__init__.py lists each public name twice: in the imports for type checkers
    # and in _EXPORTS, which imports it when first reached. A name added to one only fails here.
    tree = ast.parse(Path(provenance.__file__).read_text(encoding="utf-8"))
    (checking,) = [
        n for n in tree.body if isinstance(n, ast.If) and ast.unparse(n.test) == "TYPE_CHECKING"
    ]
    typed = {
        (("." * node.level) + (node.module or ""), alias.name)
        for node in checking.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }
    lazy = {(module, name) for module, names in provenance._EXPORTS.items() for name in names}
    assert typed == lazy
    assert {name for _, name in lazy} | {"__version__"} == set(provenance.__all__)
    for name in provenance.__all__:
        assert getattr(provenance, name) is not None


def _subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    action = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(action.choices)


def test_the_command_being_run_gets_the_parser_the_whole_one_has():
    # `provenance show` builds only show's parser (argparse's per-argument help formatters
    # were most of its start-up); its help, options and defaults are the whole parser's.
    from provenance._cli.commands import build_parser

    whole = _subcommands(build_parser())
    assert {"show", "verify", "export", "keygen", "seal"} <= set(whole)
    for name, full in whole.items():
        one = _subcommands(build_parser(only=name))
        assert list(one) == [name]
        assert one[name].format_help() == full.format_help()
        assert one[name]._defaults == full._defaults
    # Not a command (a typo, a path): the whole parser, whose error lists every command.
    assert _subcommands(build_parser(only="shwo")).keys() == whole.keys()
