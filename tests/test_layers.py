"""The package's layers: each subpackage imports only its own layer and the layers below it.

The order is the architecture (docs/concepts.md): what a layer may not import it must not
know about. Imports are read from the source (``ast``), lazy imports inside functions
included, so a layer cannot reach upward by importing late.
"""

from __future__ import annotations

import ast
from pathlib import Path

import provenance

PACKAGE = Path(provenance.__file__).parent

# Lowest first. ``provenance/_version.py`` belongs to the base layer.
LAYERS = (
    "_base",
    "_util",
    "_schema",
    "_storage",
    "_targets",
    "_record",
    "_replay",
    "_audit",
    "_compare",
    "_export",
    "_render",
    "_cli",
)
_RANK = {name: i for i, name in enumerate(LAYERS)}
_RANK["_version"] = 0


def _layer_of_module(dotted: str) -> str | None:
    parts = dotted.split(".")
    if parts[0] != "provenance" or len(parts) < 2:
        return None
    return parts[1]


def _type_only(tree: ast.Module) -> set[int]:
    """Ids of the import nodes inside ``if TYPE_CHECKING:`` blocks (never run)."""
    out: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            out |= {id(n) for stmt in node.body for n in ast.walk(stmt)}
    return out


def _imports(path: Path, root: Path, *, runtime: bool = False) -> list[tuple[int, str]]:
    """(line, imported provenance module) for every import in ``path`` (a module under ``root``).

    Lazy imports inside functions count; with ``runtime``, imports under ``TYPE_CHECKING``
    do not.
    """
    package = ".".join(("provenance", *path.relative_to(root).parent.parts))
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _type_only(tree) if runtime else set()
    out = []
    for node in ast.walk(tree):
        if id(node) in skip:
            continue
        if isinstance(node, ast.Import):
            out += [(node.lineno, a.name) for a in node.names if a.name.startswith("provenance")]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                module = ".".join([*base, node.module] if node.module else base)
            else:
                module = node.module or ""
            if not module.startswith("provenance"):
                continue
            if module.count(".") == 0:  # ``from provenance import _x``
                out += [(node.lineno, f"provenance.{a.name}") for a in node.names]
            else:
                out.append((node.lineno, module))
    return out


def _violations(root: Path) -> list[str]:
    bad = []
    for path in sorted(root.rglob("*.py")):
        rel = path.relative_to(root)
        if len(rel.parts) < 2:  # __init__.py, __main__.py, _version.py sit above the layers
            continue
        own = rel.parts[0]
        for line, module in _imports(path, root):
            layer = _layer_of_module(module)
            if layer is None or layer == own:
                continue
            if layer not in _RANK or _RANK[layer] > _RANK[own]:
                bad.append(f"{rel}:{line} ({own}) imports {module} ({layer})")
    return bad


def test_every_subpackage_is_a_known_layer():
    found = {p.name for p in PACKAGE.iterdir() if p.is_dir() and (p / "__init__.py").exists()}
    assert found == set(LAYERS)


def test_each_layer_imports_only_layers_below_it():
    assert _violations(PACKAGE) == []


def test_an_upward_import_is_caught(tmp_path):
    # The checker itself: a copy of the package with one import against the order fails.
    copy = tmp_path / "provenance"
    for path in PACKAGE.rglob("*.py"):
        target = copy / path.relative_to(PACKAGE)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    errors = copy / "_base" / "errors.py"
    errors.write_text(
        errors.read_text(encoding="utf-8")
        + "\n\ndef _late():\n    from provenance._cli import main\n",
        encoding="utf-8",
    )
    (bad,) = _violations(copy)
    assert bad.startswith("_base/errors.py:") and "imports provenance._cli (_cli)" in bad


def _module_name(path: Path, root: Path) -> str:
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(["provenance", *parts])


def _cycle(root: Path) -> list[str] | None:
    """One import cycle among the package's modules, else None.

    Every import that runs counts, lazy ones inside functions too: a cycle broken only by
    importing late is still a cycle. Imports for type checkers alone do not run.
    """
    modules = {_module_name(p, root): p for p in root.rglob("*.py")}
    graph = {
        name: sorted(
            {m for _, m in _imports(path, root, runtime=True) if m in modules and m != name}
        )
        for name, path in modules.items()
        if name != "provenance"  # the package re-exports everything: it is the top, not a node
    }
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        stack.append(node)
        for nxt in graph.get(node, ()):
            if state.get(nxt) == 1:
                return [*stack[stack.index(nxt) :], nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        stack.pop()
        state[node] = 2
        return None

    for node in graph:
        if node not in state and (found := visit(node)):
            return found
    return None


def test_no_import_cycle():
    assert _cycle(PACKAGE) is None


def test_no_module_above_400_lines():
    long = {
        str(p.relative_to(PACKAGE)): n
        for p in PACKAGE.rglob("*.py")
        if (n := len(p.read_text(encoding="utf-8").splitlines())) > 420
    }
    assert long == {}
