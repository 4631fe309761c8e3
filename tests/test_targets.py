"""The targets registry: what is recorded is one module per function plus one registry line."""

from __future__ import annotations

import ast
import re
import sys
import types
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pandas as pd
import pytest
import scanpy as sc
from conftest import FAST, SCANPY

import provenance
from provenance._targets import registry
from provenance._targets.base import Target
from provenance._targets.scanpy_leiden import ScanpyLeiden

if TYPE_CHECKING:
    from collections.abc import Iterator

    from anndata import AnnData

PACKAGE = Path(provenance.__file__).parent


def test_every_registered_function_maps_back_to_its_target() -> None:
    assert registry.targets(), "nothing is registered"
    functions = [t.function for t in registry.targets()]
    assert len(functions) == len(set(functions))
    for t in registry.targets():
        assert isinstance(t, Target)
        assert registry.target_for_record(t.function, t.method) is t
        assert registry.target_for_record(t.function, t.method, exact=True) is t
        assert t.params_model.model_fields["method"].default == t.method
        assert registry.candidate_key(t.default_key.upper() + "_0.5")


def test_scanpy_records_map_back_to_their_targets(pbmc: AnnData) -> None:
    with provenance.record(pbmc):
        sc.tl.leiden(pbmc, key_added="lei", **FAST)
        sc.tl.louvain(pbmc, key_added="lou", flavor="igraph")
    for key, function in (("lei", "scanpy.tl.leiden"), ("lou", "scanpy.tl.louvain")):
        rec = provenance.latest(pbmc, key)
        target = registry.target_for_record(rec.function, rec.method, exact=True)
        assert target is not None and target.function == function == rec.function
        assert type(rec.params) is target.params_model
        assert f"{target.module}.{target.attr}" == f"scanpy.tools.{rec.method}"


def test_old_records_are_mapped_by_method_unless_exact() -> None:
    leiden = registry.target_for_record("scanpy.tl.leiden", "leiden")
    assert registry.target_for_record("scanpy.tools._leiden.leiden", "leiden") is leiden
    assert registry.target_for_record("scanpy.tools._leiden.leiden", "leiden", exact=True) is None
    assert registry.target_for_record("scanpy.tl.leiden", "nope") is None


def test_audit_and_adopt_lookups() -> None:
    assert registry.fixed_keys() == ("leiden", "louvain")
    assert registry.candidate_key("Leiden_0.5") and registry.candidate_key("louvain")
    assert not registry.candidate_key("cell_type") and not registry.candidate_key("my_leiden")
    adopt = registry.target_for_adopt
    assert adopt("clusters", {"n_iterations": -1}).function == "scanpy.tl.leiden"  # type: ignore[union-attr]
    assert adopt("louvain_r1", {"resolution": 1}).function == "scanpy.tl.louvain"  # type: ignore[union-attr]
    assert adopt("clusters", {"resolution": 1}) is None


def test_a_function_is_registered_once() -> None:
    with pytest.raises(ValueError, match="already recorded by"):
        registry.register(ScanpyLeiden())


# A toy target: a real function in another module, which clusters pbmc with scanpy's own
# leiden (the module function, not the attribute record() patches, so it is recorded once).
TOY_MODULE = "provenance_toy_clustering"


def _toy_cluster(
    adata: Any,
    resolution: float = 1.0,
    *,
    key_added: str = "toy",
    random_state: int = 0,
    n_iterations: int = 2,
    directed: bool | None = None,
    copy: bool = False,
) -> Any:
    from scanpy.tools._leiden import leiden

    flavor = {"flavor": "igraph"} if SCANPY >= (1, 10) else {}
    return leiden(
        adata,
        resolution=resolution,
        key_added=key_added,
        random_state=random_state,
        n_iterations=n_iterations,
        directed=directed,
        copy=copy,
        **flavor,  # type: ignore[arg-type]
    )


class ToyTarget(ScanpyLeiden):
    """Records ``provenance_toy_clustering.cluster``; scanpy's leiden does the work."""

    module = TOY_MODULE
    attr = "cluster"
    function = "provenance_toy_clustering.cluster"
    default_key = "toy"
    # flavor is not an argument of the toy: it runs the igraph flavor (leidenalg before 1.10).
    default_flavor = "igraph" if SCANPY >= (1, 10) else "leidenalg"


@pytest.fixture
def toy() -> Iterator[types.ModuleType]:
    module = types.ModuleType(TOY_MODULE)
    module.cluster = _toy_cluster  # type: ignore[attr-defined]
    sys.modules[TOY_MODULE] = module
    target = registry.register(ToyTarget())
    try:
        yield module
    finally:
        registry.unregister(target)
        del sys.modules[TOY_MODULE]


def test_a_registered_target_is_recorded_and_replayed(pbmc: AnnData, toy: Any) -> None:
    with provenance.record(pbmc) as block:
        toy.cluster(pbmc, 0.7, key_added="toy_0.7")
    assert toy.cluster is _toy_cluster  # restored when the block closed
    assert [(r.key, r.function) for r in block.records] == [
        ("toy_0.7", "provenance_toy_clustering.cluster")
    ]
    rec = provenance.latest(pbmc, "toy_0.7")
    assert rec.params.resolution == 0.7 and rec.params.n_iterations == 2
    assert rec.params.flavor == ToyTarget.default_flavor
    assert rec.result.n_clusters == pbmc.obs["toy_0.7"].nunique()
    assert registry.candidate_key("toy_0.7")
    assert provenance.replay(pbmc, "toy_0.7").identical
    assert provenance.audit(pbmc).ok


def test_an_unregistered_target_is_no_longer_patched(pbmc: AnnData, toy: Any) -> None:
    registry.unregister(registry.target_for_record(ToyTarget.function, "leiden", exact=True))  # type: ignore[arg-type]
    with provenance.record(pbmc) as block:
        assert toy.cluster is _toy_cluster
        toy.cluster(pbmc, key_added="toy_x")
    assert block.records == []


def test_legacy_params_flags_every_fixed_key(pbmc: AnnData) -> None:
    # Both fixed keys may hold another run's params: each is flagged, not only the first.
    pbmc.uns["leiden"] = {"params": {"resolution": 1.0, "n_iterations": -1}}
    pbmc.obs["leiden_other"] = pd.Categorical(pbmc.obs["louvain"].astype(str))
    pbmc.obs["louvain_other"] = pd.Categorical(pbmc.obs["louvain"].astype(str))
    report = provenance.audit(pbmc)
    flagged = {f.key for e in report.entries for f in e.findings if f.code == "legacy_params"}
    assert flagged == {"leiden", "louvain"}


_MACHINERY = [
    *sorted((PACKAGE / "_record").glob("*.py")),
    *sorted((PACKAGE / "_compare").glob("replay*.py")),
    PACKAGE / "_compare" / "adopt.py",
    PACKAGE / "_audit" / "legacy.py",
]
_METHODS = {"leiden", "louvain"}


def _names_method(node: ast.AST) -> bool:
    """``method``, ``x.method``, or a method's name as a string."""
    if isinstance(node, ast.Name | ast.Attribute):
        return (node.id if isinstance(node, ast.Name) else node.attr) == "method"
    return isinstance(node, ast.Constant) and node.value in _METHODS


@pytest.mark.parametrize("path", _MACHINERY, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_machinery_never_branches_on_the_method(path: Path) -> None:
    text = path.read_text()
    assert not re.search(r"\bmethod\s*[!=]=", text)
    assert "import re\n" not in text  # no regex guessing either
    for node in ast.walk(ast.parse(text)):
        if isinstance(node, ast.Compare):
            operands = [node.left, *node.comparators]
            assert not any(_names_method(o) for o in operands), ast.unparse(node)
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            # No method named in code (docstrings and messages may say "scanpy's leiden").
            assert node.value not in _METHODS, f"{path.name}:{node.lineno} {node.value!r}"


_LOWER = ("_base", "_util", "_schema", "_storage", "_targets")


@pytest.mark.parametrize("path", sorted((PACKAGE / "_targets").glob("*.py")), ids=lambda p: p.name)
def test_targets_import_only_lower_layers(path: Path) -> None:
    for node in ast.walk(ast.parse(path.read_text())):
        module = node.module if isinstance(node, ast.ImportFrom) and node.level == 0 else None
        if module and module.startswith("provenance."):
            assert module.split(".")[1] in _LOWER, module
