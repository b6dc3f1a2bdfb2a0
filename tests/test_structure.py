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
    assert "specct.systems" in graph and graph["specct.stages.evaluate"] >= {"specct.systems"}
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


ARCHITECTURE = Path(__file__).resolve().parents[1] / "docs" / "architecture.md"


def layer_table(text: str) -> list[tuple[str, list[str]]]:
    """The rows ``| layer | `module` ... |`` of docs/architecture.md's layer table, lowest first."""
    rows = []
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) == 2 and cells[1].startswith("`specct"):
            rows.append((cells[0], [m.strip("`") for m in cells[1].split()]))
    return rows


def layer_of(module: str, rows: list[tuple[str, list[str]]]) -> int | None:
    """The row of a module: its exact name first, then the longest ``package.*`` (the package and its
    modules) or ``prefix_*`` covering it."""
    best, best_length = None, -1
    for index, (_, patterns) in enumerate(rows):
        for pattern in patterns:
            if pattern == module:
                return index
            covered = module.startswith(pattern[:-1]) or (pattern.endswith(".*") and module == pattern[:-2])
            if pattern.endswith("*") and covered and len(pattern) > best_length:
                best, best_length = index, len(pattern)
    return best


def upward_imports(graph: dict[str, set[str]], rows) -> list[str]:
    return sorted(f"{module} ({rows[layer_of(module, rows)][0]}) imports {other} ({rows[layer_of(other, rows)][0]})"
                  for module, others in graph.items() for other in others
                  if layer_of(module, rows) is not None and layer_of(other, rows) is not None
                  and layer_of(other, rows) > layer_of(module, rows))


def test_the_layer_check_finds_an_upward_import():
    rows = layer_table("| base | `specct.core.errors` `specct.models.*` |\n| top | `specct.study.engine` `specct.report.*` |")
    assert [name for name, _ in rows] == ["base", "top"]
    assert layer_of("specct.models.cct", rows) == 0 and layer_of("specct.report.facts", rows) == 1
    graph = {"specct.core.errors": {"specct.study.engine"}, "specct.study.engine": {"specct.core.errors"}}
    assert upward_imports(graph, rows) == ["specct.core.errors (base) imports specct.study.engine (top)"]


def test_every_module_has_a_layer_and_none_imports_upward():
    rows = layer_table(ARCHITECTURE.read_text())
    assert len(rows) >= 8, "docs/architecture.md lost its layer table"
    graph = module_graph()
    unplaced = sorted(m for m in graph if layer_of(m, rows) is None)
    assert unplaced == [], f"modules in no layer of docs/architecture.md: {unplaced}"
    assert upward_imports(graph, rows) == []


def test_the_folders_draw_the_layers():
    """specct's top holds packages only, and every module of a package sits in that package's layer
    (train/ alone has its entry point, train.py's stage, above its loop)."""
    top = sorted(p.name for p in (SRC / "specct").glob("*.py"))
    assert top == ["__init__.py", "__main__.py"], f"modules left at the top of src/specct: {top}"
    rows = layer_table(ARCHITECTURE.read_text())
    entry_points = {"specct.train", "specct.train.__main__"}
    mixed = {}
    for module in module_graph():
        parts = module.split(".")
        if len(parts) < 3 or module in entry_points:
            continue
        mixed.setdefault(parts[1], set()).add(rows[layer_of(module, rows)][0])
    assert {package: layers for package, layers in mixed.items() if len(layers) > 1} == {}


def test_kinds_are_told_apart_inside_systems_only():
    """No module outside systems/ asks which class of system it holds (a System method says)."""
    kinds = {"NetworkSystem", "BaselineSystem", "EnsembleSystem", "TrainedNetwork", "TrainedBaseline",
             "TrainedEnsemble"}
    found = []
    for path in (SRC / "specct").rglob("*.py"):
        if path.relative_to(SRC / "specct").parts[0] == "systems":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "isinstance"
                    and len(node.args) == 2):
                names = {n.id for n in ast.walk(node.args[1]) if isinstance(n, ast.Name)}
                found += [f"{path.name}: isinstance(..., {n})" for n in names & kinds]
    assert found == []
