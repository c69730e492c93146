"""The import rules of docs/architecture.md, checked over the import graph of ``wsss_lib``.

The graph is read from the source with :mod:`ast` (nothing is imported): every ``import`` and
``from ... import`` of a ``wsss_lib`` module, at module level, inside functions (a lazy import is
still a dependency) and under ``if TYPE_CHECKING:`` (a type-only import still ties the two modules
together for a reader and a type checker) alike. ``from pkg import name`` points at ``pkg.name``
when that is a module, else at ``pkg``. A package's ``__init__`` is the module named after the
package.

Two kinds of circle fail: one between modules, and one between layers (``report`` -> ``cli`` ->
``report`` is a circle even when no single module closes it).
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

#: Layers a newcomer can rely on: they never depend on studies, results, figures or the UI.
CORE = ("data", "models", "cam", "losses", "train", "postprocess", "metrics", "metric_inputs",
        "boundary")
#: What each layer may import besides itself (inside ``wsss_lib``); docs/architecture.md's table.
MAY_IMPORT: dict[str, tuple[str, ...]] = {
    "utils": (),
    **{layer: (*CORE, "utils") for layer in CORE},
    "stats": ("utils",),
    "paper": (),
    "profiles": (),
    "plots": ("data", "utils"),
    "studies": (*CORE, "utils", "profiles", "paper"),
    "results": (*CORE, "utils", "stats", "paper", "studies"),
}
#: The tools on top: they may import every layer (and each other).
TOOLS = ("pseudo_masks", "runs", "resources", "widgets", "report", "cli")


def _modules(root: Path, package: str) -> dict[str, Path]:
    """Dotted module name -> source file, for every ``.py`` file of ``root/package``."""
    found = {}
    for path in sorted((root / package).rglob("*.py")):
        parts = list(path.relative_to(root).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imported(name: str, path: Path, modules: dict[str, Path]) -> set[str]:
    """The modules of ``modules`` that module ``name`` (file ``path``) imports."""
    is_package = path.name == "__init__.py"
    targets: set[str] = set()

    def visit(node: ast.AST) -> None:
        for child in ast.iter_child_nodes(node):
            visit_one(child)  # ``if TYPE_CHECKING:`` blocks included

    def visit_one(node: ast.AST) -> None:
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative import
                parts = name.split(".") if is_package else name.split(".")[:-1]
                parts = parts[: len(parts) - (node.level - 1)]
                base = ".".join([*parts, base] if base else parts)
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                targets.add(candidate if candidate in modules else base)
        else:
            visit(node)

    visit(ast.parse(path.read_text(encoding="utf-8")))
    return {t for t in targets if t in modules and t != name}


def import_graph(root: Path, package: str) -> dict[str, set[str]]:
    """Module -> the modules of ``package`` it imports."""
    modules = _modules(root, package)
    return {name: _imported(name, path, modules) for name, path in modules.items()}


def import_loops(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components with more than one module (each holds a loop)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    loops: list[list[str]] = []

    def connect(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                connect(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                loops.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return loops


def layer_of(module: str) -> str:
    """``"wsss_lib.train.cache"`` -> ``"train"``; ``"wsss_lib"`` -> ``""``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def layer_graph(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    """Layer -> the other layers its modules import (the package root ``""`` left out)."""
    layers: dict[str, set[str]] = {}
    for module, imported in graph.items():
        layer = layer_of(module)
        if layer:
            layers.setdefault(layer, set()).update(
                other for other in map(layer_of, imported) if other and other != layer
            )
    return layers


def rule_violations(graph: dict[str, set[str]]) -> list[str]:
    """Every import that breaks :data:`MAY_IMPORT`, as ``"importer -> imported (rule)"``."""
    broken = []
    for module, imported in sorted(graph.items()):
        layer = layer_of(module)
        if layer not in MAY_IMPORT:
            continue
        for target in sorted(imported):
            other = layer_of(target)
            if other != layer and other not in MAY_IMPORT[layer]:
                allowed = ", ".join(MAY_IMPORT[layer]) or "nothing"
                broken.append(f"{module} -> {target} ({layer} imports only {allowed})")
    return broken


@pytest.fixture(scope="module")
def graph() -> dict[str, set[str]]:
    root = Path(__file__).resolve().parents[1]  # the checkout holding wsss_lib/
    return import_graph(root, "wsss_lib")


def test_the_graph_sees_the_library(graph):
    # Guards the checks below against passing on an empty or mis-read graph.
    assert "wsss_lib.train.paradigms.registry" in graph
    assert "wsss_lib.train.paradigms.base" in graph["wsss_lib.train.paradigms.single"]
    assert "wsss_lib.cam" in graph["wsss_lib.train.evaluate"]  # a lazy import inside a function


def test_no_import_loop_inside_wsss_lib(graph):
    assert import_loops(graph) == []


def test_no_import_loop_between_layers(graph):
    assert import_loops(layer_graph(graph)) == []


def test_layers_import_only_what_the_rules_allow(graph):
    assert rule_violations(graph) == []


def test_every_layer_has_a_rule(graph):
    # A new folder or top-level module must be placed in the table (and in docs/architecture.md).
    layers = {layer_of(module) for module in graph} - {""}
    assert layers - set(MAY_IMPORT) - set(TOOLS) == set()


def _write(root: Path, files: dict[str, str]) -> None:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")


def test_the_checks_catch_a_loop_and_forbidden_imports(tmp_path):
    _write(tmp_path, {
        "pkg/__init__.py": "",
        "pkg/train/__init__.py": "",
        "pkg/train/a.py": "def f():\n    from pkg.train import b\n",
        "pkg/train/b.py": "from . import a\nfrom pkg.widgets import ui\n",
        "pkg/widgets/__init__.py": "",
        "pkg/widgets/ui.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n"
                            "    from pkg.train import a\n",
        "pkg/plots/__init__.py": "",
        "pkg/plots/x.py": "import pkg.studies.study\n",
        "pkg/studies/__init__.py": "",
        "pkg/studies/study.py": "from pkg.widgets.ui import thing\n",
    })
    fake = import_graph(tmp_path, "pkg")
    assert import_loops(fake) == [["pkg.train.a", "pkg.train.b", "pkg.widgets.ui"]]
    assert fake["pkg.widgets.ui"] == {"pkg.train.a"}  # TYPE_CHECKING imports count
    assert import_loops(layer_graph(fake)) == [["train", "widgets"]]
    assert [v.split(" (")[0] for v in rule_violations(fake)] == [
        "pkg.plots.x -> pkg.studies.study",
        "pkg.studies.study -> pkg.widgets.ui",
        "pkg.train.b -> pkg.widgets.ui",
    ]


def test_one_module_constructs_train_configs():
    """Issue 22: every setting reaches a TrainConfig through studies/configs.py, the one builder
    (library, notebooks, benchmarks and scripts; tests may build their own)."""
    root = Path(__file__).resolve().parents[1]
    found = set()
    for folder in ("wsss_lib", "notebooks", "benchmarks", "scripts"):
        for path in (root / folder).rglob("*.py"):
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
                name = getattr(node, "func", None)
                name = getattr(name, "id", None) or getattr(name, "attr", None)
                if isinstance(node, ast.Call) and name == "TrainConfig":
                    found.add(path.relative_to(root).as_posix())
    assert found == {"wsss_lib/studies/configs.py"}
