"""The package's structure: no module of src/specct imports, directly or through others, a module
that imports it back (a layer never calls the layer above)."""
from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"


def module_graph(package: str = "specct") -> dict[str, set[str]]:
    """module -> the package's modules it imports (a child importing its own package is not counted)."""
    files = {}
    for path in (SRC / package).rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        files[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    graph: dict[str, set[str]] = {name: set() for name in files}
    for name, path in files.items():
        is_package = path.name == "__init__.py"
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = name.split(".")
                if node.level:
                    base = base[:len(base) - node.level + (1 if is_package else 0)]
                module = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module
                targets = [module] + [f"{module}.{alias.name}" for alias in node.names]
            else:
                continue
            graph[name] |= {t for t in targets if t in files and t != name and not name.startswith(t + ".")}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        for other in graph[node]:
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_cycle():
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_inside_the_package():
    graph = module_graph()
    assert "specct.systems" in graph and graph["specct.evaluate"] >= {"specct.systems"}
    assert cycles(graph) == [], "import cycles: " + "; ".join(" <-> ".join(c) for c in cycles(graph))


def test_one_dispatch_between_kinds():
    """Only specct.systems chooses between the kinds: no other module outside the baselines reads
    their name table or their saved file's name to decide what a model or a folder is."""
    telling = {"BASELINES", "MODEL_NAME", "is_baseline", "is_baseline_path"}
    readers = []
    for path in (SRC / "specct").rglob("*.py"):
        parts = path.relative_to(SRC / "specct").parts
        if parts[0] in ("baselines", "systems"):
            continue
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").endswith("baselines"):
                readers += [f"{path.name}: {a.name}" for a in node.names if a.name in telling]
            if isinstance(node, ast.Constant) and node.value == "model_best.skops":
                readers.append(f"{path.name}: 'model_best.skops'")
    assert readers == [], f"modules outside systems/ and baselines/ that tell the kinds apart: {readers}"
