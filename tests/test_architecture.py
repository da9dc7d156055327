"""The house's shape, read from the source (nothing is imported): no import cycles among the
project's modules, layers that point one way, and modules short enough to read.

- Cycles: every `import` and `from ... import` of a project module counts, inside functions too
  (a deferred import still ties the two modules); imports under `if TYPE_CHECKING:` do not (they
  never run).
- Layers: `server -> schema -> channels -> gamification`, never upward. `server/settings.py` is
  the one leaf every layer may import, and it imports nothing of the project. The domain never
  imports strawberry or starlette.
- Settings: read from the environment by server/ only (the app factory, the CLI); the domain
  reads the ones it was given, through `gamification.program_settings`.
- Size: no production module over MAX_LINES lines unless its module docstring has a line that
  starts "Long because" and says why.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

ROOT: Final = Path(__file__).resolve().parent.parent
# Highest first: a module may import its own layer and the layers below it.
LAYERS: Final = ("server", "schema", "channels", "gamification")
SETTINGS: Final = "server.settings"
WEB_FRAMEWORKS: Final = ("strawberry", "starlette")
MAX_LINES: Final = 500


@dataclass(frozen=True, slots=True)
class Import:
    target: str  # a project module, or the dotted name as written for anything else
    line: int


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _project_files() -> dict[str, Path]:
    return {
        _module_name(path): path
        for layer in LAYERS
        for path in sorted((ROOT / layer).rglob("*.py"))
        if "__pycache__" not in path.parts
    }


MODULES: Final = _project_files()


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _import_nodes(node: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement under `node`, at any depth, except in `if TYPE_CHECKING:` bodies
    (their `else:` branch does run)."""
    for child in ast.iter_child_nodes(node):
        if isinstance(child, ast.Import | ast.ImportFrom):
            yield child
        elif isinstance(child, ast.If) and _is_type_checking(child.test):
            for branch in child.orelse:
                yield from _import_nodes(ast.Module(body=[branch], type_ignores=[]))
        else:
            yield from _import_nodes(child)


def _resolve(module: str, node: ast.ImportFrom) -> str:
    """The absolute module a `from` import names (relative imports resolved)."""
    if not node.level:
        return node.module or ""
    package = module.split(".")
    if MODULES[module].name != "__init__.py":
        package = package[:-1]
    base = package[: len(package) - (node.level - 1)]
    return ".".join([*base, *([node.module] if node.module else [])])


def imports_of(module: str) -> list[Import]:
    """What `module` imports: `from a import b` is the module `a.b` when there is one, else `a`."""
    tree = ast.parse(MODULES[module].read_text(encoding="utf-8"))
    found = []
    for node in _import_nodes(tree):
        if isinstance(node, ast.Import):
            found += [Import(alias.name, node.lineno) for alias in node.names]
            continue
        source = _resolve(module, node)
        for alias in node.names:
            submodule = f"{source}.{alias.name}"
            found.append(Import(submodule if submodule in MODULES else source, node.lineno))
    return found


def import_graph() -> dict[str, set[str]]:
    """Project module -> the project modules it imports (itself excluded)."""
    return {
        module: {i.target for i in imports_of(module) if i.target in MODULES} - {module}
        for module in MODULES
    }


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle per strongly connected component of more than one module (Tarjan), each as the
    path a -> b -> ... -> a."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[set[str]] = []

    def visit(start: str) -> None:
        # Iterative, so that a long chain of imports cannot hit the recursion limit.
        work = [(start, iter(sorted(graph[start])))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            for target in targets:
                if target not in index:
                    index[target] = low[target] = len(index)
                    stack.append(target)
                    on_stack.add(target)
                    work.append((target, iter(sorted(graph[target]))))
                    break
                if target in on_stack:
                    low[node] = min(low[node], index[target])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = set()
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.add(member)
                        if member == node:
                            break
                    if len(component) > 1:
                        components.append(component)

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return [_path_through(graph, component) for component in components]


def _path_through(graph: dict[str, set[str]], component: set[str]) -> list[str]:
    """A shortest cycle through the component's first module (breadth-first)."""
    start = min(component)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following = []
        for node in frontier:
            for target in sorted(graph[node] & component):
                if target == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if target not in came_from:
                    came_from[target] = node
                    following.append(target)
        frontier = following
    raise AssertionError(f"no cycle through {start}")  # a component always has one


def _layer(module: str) -> str:
    return module.split(".")[0]


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""


# --- The checks -------------------------------------------------------------------------------


def test_the_checks_find_what_they_look_for() -> None:
    # given: a made-up graph with one cycle of three and a self-standing module
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": set()}

    # when
    found = cycles(graph)

    # then
    assert found == [["a", "b", "c", "a"]]
    # and the project's own graph was read at all
    assert "gamification.causes.donations" in MODULES
    assert "gamification.causes.catalog" in import_graph()["gamification.causes.donations"]


def test_no_import_cycles() -> None:
    found = cycles(import_graph())

    assert not found, "import cycles:\n" + "\n".join(" -> ".join(cycle) for cycle in found)


def test_layers_point_one_way() -> None:
    # server -> schema -> channels -> gamification; settings is the shared leaf
    rank = {layer: len(LAYERS) - n for n, layer in enumerate(LAYERS)}
    upward = [
        f"{module}:{i.line} imports {i.target}"
        for module in MODULES
        for i in imports_of(module)
        if i.target in MODULES
        and i.target != SETTINGS
        and rank[_layer(i.target)] > rank[_layer(module)]
    ]

    assert not upward, "imports against server -> schema -> channels -> gamification:\n" + (
        "\n".join(upward)
    )


def test_settings_is_a_leaf() -> None:
    project = [i for i in imports_of(SETTINGS) if i.target.split(".")[0] in LAYERS]

    assert not project, f"{SETTINGS} imports the project: {project}"


def test_the_domain_knows_no_web_framework() -> None:
    found = [
        f"{module}:{i.line} imports {i.target}"
        for module in MODULES
        if _layer(module) == "gamification"
        for i in imports_of(module)
        if i.target.split(".")[0] in WEB_FRAMEWORKS
    ]

    assert not found, "the domain imports a web framework:\n" + "\n".join(found)


def test_long_modules_say_why() -> None:
    too_long = [
        f"{path.relative_to(ROOT)}: {lines} lines"
        for path in MODULES.values()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
        and not any(line.startswith("Long because") for line in _docstring(path).splitlines())
    ]

    assert not too_long, (
        f"over {MAX_LINES} lines without a 'Long because ...' line in the module's docstring "
        "(split it, or say why not):\n" + "\n".join(too_long)
    )


def test_settings_are_read_at_the_edges_only() -> None:
    # The environment is read by server/ (the app factory, the CLI); the other layers read the
    # settings they were given (gamification through gamification.program_settings).
    found = [
        f"{module}: calls get_settings()"
        for module, path in MODULES.items()
        if _layer(module) != "server"
        and any(
            isinstance(node, ast.Name) and node.id == "get_settings"
            for node in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]

    assert not found, "settings read from the environment away from the edges:\n" + "\n".join(found)


def test_domain_packages_name_their_modules_and_import_nothing() -> None:
    # An __init__ that imported its modules would run them whenever any one is imported, and
    # could close a cycle through the package; its docstring is the package's table of contents.
    wrong = []
    for init in sorted((ROOT / "gamification").glob("*/__init__.py")):
        if init.parent.name == "migrations":
            continue
        tree = ast.parse(init.read_text(encoding="utf-8"))
        doc = ast.get_docstring(tree) or ""
        if any(isinstance(node, (ast.Import, ast.ImportFrom)) for node in tree.body):
            wrong.append(f"{init.relative_to(ROOT)} imports")
        for module in sorted(init.parent.glob("*.py")):
            if module.stem != "__init__" and f"`{module.stem}`" not in doc:
                wrong.append(f"{init.relative_to(ROOT)} does not name `{module.stem}`")

    assert not wrong, "\n".join(wrong)
