"""The house's rules (transformer_kit/__init__.py): which package may import which, no import
cycle, no module over 400 lines. Read from the source with `ast`, so a rule broken anywhere (even
inside a function) fails here; imports under `if TYPE_CHECKING:` are for the type checker only."""

from __future__ import annotations

import ast
from pathlib import Path

from support import REPO

PACKAGE = REPO / "src" / "transformer_kit"
MAX_LINES = 400
# a package (or top-level module) -> the kit's packages and modules it must not import
FORBIDDEN = {
    "catalog": {"grader", "sandbox", "check", "learner", "batch", "classroom", "cli", "dev"},
    "results": {"grader", "sandbox", "check", "learner", "batch", "classroom", "cli", "dev"},
    "untrusted": {"grader", "sandbox", "check", "learner", "batch", "classroom", "cli", "dev"},
    "storage": {"grader", "sandbox", "check", "learner", "batch", "classroom", "cli", "dev"},
    "grader": {"sandbox", "check", "learner", "batch", "classroom", "cli", "dev"},
    "sandbox": {"check", "learner", "batch", "classroom", "cli", "dev"},
    "check": {"learner", "batch", "classroom", "cli", "dev"},
    "learner": {"batch", "classroom", "cli", "dev"},
    "batch": {"learner", "classroom", "cli", "dev"},
    "classroom": {"learner", "cli", "dev"},
    "dev": {"cli"},
    "quiz": {"grader", "sandbox", "check", "batch", "classroom", "cli", "dev"},
}


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def kit_imports(path: Path) -> set[str]:
    """The kit's modules `path` imports (`from transformer_kit.x import y`: x.y when that is a
    module, else x), outside `if TYPE_CHECKING:` blocks."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skipped = {
        id(child)
        for node in ast.walk(tree)
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test)
        for statement in node.body
        for child in ast.walk(statement)
    }
    found: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in skipped:
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names if a.name.startswith("transformer_kit")}
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("transformer_kit"):
            base = node.module or ""
            for alias in node.names:
                candidate = f"{base}.{alias.name}"
                found.add(candidate if candidate in MODULES else base)
    return found - {"transformer_kit"}


SOURCES = sorted(PACKAGE.rglob("*.py"))
MODULES = {module_name(path): path for path in SOURCES}
GRAPH = {name: kit_imports(path) for name, path in MODULES.items()}


def top(module: str) -> str:
    """transformer_kit.sandbox.client -> sandbox."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def test_no_package_imports_what_its_layer_may_not() -> None:
    broken = [
        f"{module} imports {target}"
        for module, targets in GRAPH.items()
        for target in targets
        if top(target) in FORBIDDEN.get(top(module), set())
    ]
    assert not broken, broken


def test_only_the_cli_imports_click() -> None:
    users = [
        module_name(path)
        for path in SOURCES
        if top(module_name(path)) != "cli"
        and any(
            (isinstance(n, ast.Import) and any(a.name == "click" for a in n.names))
            or (isinstance(n, ast.ImportFrom) and n.module == "click")
            for n in ast.walk(ast.parse(path.read_text(encoding="utf-8")))
        )
    ]
    assert not users


def test_there_is_no_import_cycle() -> None:
    cycles: list[list[str]] = []
    done: set[str] = set()

    def visit(module: str, path: list[str]) -> None:
        for target in sorted(GRAPH.get(module, ())):
            if target in path:
                cycles.append([*path[path.index(target) :], target])
            elif target not in done and target in GRAPH:
                visit(target, [*path, target])
        done.add(module)

    for module in sorted(GRAPH):
        visit(module, [module])
    assert not cycles, cycles


def test_no_module_is_over_400_lines() -> None:
    long = {
        module: lines
        for module, path in MODULES.items()
        if (lines := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES
    }
    assert not long, long


def test_the_rules_see_imports_inside_functions_too() -> None:
    """A rule that cannot fail proves nothing: cli/ imports the learner package inside its
    command functions, and the graph must see that."""
    assert any(top(target) == "learner" for target in GRAPH["transformer_kit.cli.learner"])
