"""Python sources read as statements: the nbgrader export's way to take a stub, a solution or a
grader apart and to keep only what a cell needs (the names a statement binds and reads, by
Python's own scoping)."""

from __future__ import annotations

import ast
import symtable
from collections.abc import Iterable, Sequence
from dataclasses import dataclass


class ExportError(Exception):
    """The kit's exercise cannot be exported as it is (a bug in the kit, not the course)."""


MAIN_GUARDS = ("__name__ == '__main__'", "'__main__' == __name__")


@dataclass(frozen=True)
class Chunk:
    """A top-level statement of a module, with the comment and blank lines above it."""

    node: ast.stmt
    lead: str
    code: str

    @property
    def text(self) -> str:
        return self.lead + self.code

    @property
    def names(self) -> frozenset[str]:
        return frozenset(bound_names(self.node))

    @property
    def uses(self) -> frozenset[str]:
        return frozenset(used_names(self.code))

    @property
    def is_import(self) -> bool:
        return isinstance(self.node, (ast.Import, ast.ImportFrom))

    @property
    def is_future(self) -> bool:
        return isinstance(self.node, ast.ImportFrom) and self.node.module == "__future__"

    @property
    def is_docstring(self) -> bool:
        return is_docstring(self.node)

    @property
    def is_main_guard(self) -> bool:
        """`if __name__ == "__main__":`, a script's entry point (a debug exercise's program)."""
        return isinstance(self.node, ast.If) and ast.unparse(self.node.test) in MAIN_GUARDS


def chunks(source: str) -> list[Chunk]:
    """The module's top-level statements in order (decorators belong to their definition)."""
    lines = source.splitlines(keepends=True)
    found, previous = [], 0
    for node in ast.parse(source).body:
        first, end = first_line(node), node.end_lineno or node.lineno
        found.append(
            Chunk(node, "".join(lines[previous : first - 1]), _joined(lines[first - 1 : end]))
        )
        previous = end
    return found


def _joined(lines: Sequence[str]) -> str:
    text = "".join(lines)
    return text if text.endswith("\n") else text + "\n"


def bound_names(node: ast.stmt) -> set[str]:
    """The module-level names a statement binds."""
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        return {node.name}
    if isinstance(node, ast.ImportFrom) and node.module == "__future__":
        return set()
    if isinstance(node, (ast.Import, ast.ImportFrom)):
        return {(alias.asname or alias.name).split(".")[0] for alias in node.names}
    return {
        n.id for n in ast.walk(node) if isinstance(n, ast.Name) and isinstance(n.ctx, ast.Store)
    }


def used_names(code: str) -> set[str]:
    """The module-level names a statement reads, by Python's own scoping (symtable)."""
    names: set[str] = set()

    def visit(table: symtable.SymbolTable, top: bool) -> None:
        for symbol in table.get_symbols():
            if symbol.is_referenced() and (top or symbol.is_global()):
                names.add(symbol.get_name())
        for child in table.get_children():
            visit(child, False)

    visit(symtable.symtable(code, "<chunk>", "exec"), True)
    return names


def closure(parts: Sequence[Chunk], wanted: Iterable[str]) -> list[Chunk]:
    """The statements that define `wanted` and everything they read, in module order."""
    binders: dict[str, list[int]] = {}
    for index, chunk in enumerate(parts):
        for name in chunk.names:
            binders.setdefault(name, []).append(index)
    chosen: set[int] = set()
    pending = list(wanted)
    while pending:
        for index in binders.get(pending.pop(), []):
            if index not in chosen:
                chosen.add(index)
                pending.extend(parts[index].uses)
    return [chunk for index, chunk in enumerate(parts) if index in chosen]


def is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def first_line(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])
