"""What an exercise asks for, read from the kit's own stub (parsed, never imported): its
summary and the names to write, for `kit next`; and the stub of an interview attempt, which
keeps every docstring (the contract) but not the step-by-step TODO comments."""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from pathlib import Path

WALKTHROUGH = re.compile(r"\s*# TODO\(")  # a stub's step-by-step comment begins so


@dataclass(frozen=True)
class Item:
    """A function, class or answer (a module-level name) the learner writes."""

    name: str
    signature: str  # `name(q, k, v, mask=None)`, or the name alone for an answer
    summary: str  # its docstring's first line, or ""


@dataclass(frozen=True)
class Outline:
    summary: str  # the module docstring's first line
    items: tuple[Item, ...]


def outline(stub: Path) -> Outline:
    """The summary and the items of a stub of the kit's."""
    tree = ast.parse(stub.read_text(encoding="utf-8"))
    doc = ast.get_docstring(tree) or ""
    items = []
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.ClassDef) and not node.name.startswith("_"):
            items.append(Item(node.name, _signature(node), _first_line(ast.get_docstring(node))))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names = [t.id for t in targets if isinstance(t, ast.Name) and t.id.isupper()]
            items += [Item(name, name, "") for name in names]
    return Outline(_first_line(doc), tuple(items))


def _signature(node: ast.FunctionDef | ast.ClassDef) -> str:
    if isinstance(node, ast.ClassDef):
        init = next(
            (n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"),
            None,
        )
        return f"{node.name}({_parameters(init.args, skip=1)})" if init else node.name
    return f"{node.name}({_parameters(node.args)})"


def _parameters(arguments: ast.arguments, skip: int = 0) -> str:
    """The parameters with their defaults, without annotations: `q, k, v, mask=None`."""
    positional = [*arguments.posonlyargs, *arguments.args]
    defaults = [None] * (len(positional) - len(arguments.defaults)) + list(arguments.defaults)
    parts = [
        a.arg if d is None else f"{a.arg}={ast.unparse(d)}"
        for a, d in zip(positional, defaults, strict=True)
    ][skip:]
    if arguments.vararg:
        parts.append(f"*{arguments.vararg.arg}")
    elif arguments.kwonlyargs:
        parts.append("*")
    for a, d in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        parts.append(a.arg if d is None else f"{a.arg}={ast.unparse(d)}")
    if arguments.kwarg:
        parts.append(f"**{arguments.kwarg.arg}")
    return ", ".join(parts)


def _first_line(doc: str | None) -> str:
    return (doc or "").strip().split("\n\n")[0].replace("\n", " ").strip()


def without_walkthrough(source: str) -> str:
    """A stub without its `# TODO(NAME): ...` comments (and the comment lines that continue
    one): the docstrings, signatures and `raise NotImplementedError` stay."""
    kept: list[str] = []
    in_todo = False
    for line in source.splitlines(keepends=True):
        stripped = line.lstrip()
        if WALKTHROUGH.match(line):
            in_todo = True
            continue
        if in_todo and stripped.startswith("#"):
            continue
        in_todo = False
        kept.append(line)
    return "".join(kept)
