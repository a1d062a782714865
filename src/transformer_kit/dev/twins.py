"""Twins that cannot drift: a stub (exercises/NAME.py) and its solution (solutions/NAME.py) offer
the same public names, with the same signatures and docstrings, read with `ast`. The stub is all a
learner sees, so a solution edited alone (a new parameter, a changed convention in its docstring)
is caught here instead of failing learners.
"""

from __future__ import annotations

import ast
from pathlib import Path


def public_face(path: Path) -> dict[str, str]:
    """What a learner relies on in a module: its docstring and, per public name, the signature
    and docstring of a function or class (and of a class's public and dunder methods), or just
    that a public constant exists."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    face = {"<module docstring>": ast.get_docstring(tree) or ""}
    for node in tree.body:
        face.update(_describe(node, prefix=""))
    return face


def differences(stub: Path, solution: Path) -> list[str]:
    """What differs between the public faces of a stub and its solution, one line per name."""
    mine, theirs = public_face(stub), public_face(solution)
    problems = [f"{name} is in the stub only" for name in sorted(set(mine) - set(theirs))]
    problems += [f"{name} is in the solution only" for name in sorted(set(theirs) - set(mine))]
    problems += [
        f"{name} differs:\n--- stub\n{mine[name]}\n--- solution\n{theirs[name]}"
        for name in mine
        if name in theirs and mine[name] != theirs[name]
    ]
    return problems


def _describe(node: ast.stmt, prefix: str) -> dict[str, str]:
    if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and _public(node.name):
        returns = f" -> {ast.unparse(node.returns)}" if node.returns else ""
        signature = f"def {node.name}({ast.unparse(node.args)}){returns}"
        decorators = "".join(f"@{ast.unparse(d)}\n" for d in node.decorator_list)
        return {prefix + node.name: f"{decorators}{signature}\n{ast.get_docstring(node) or ''}"}
    if isinstance(node, ast.ClassDef) and _public(node.name):
        bases = ", ".join(ast.unparse(b) for b in [*node.bases, *node.keywords])
        decorators = "".join(f"@{ast.unparse(d)}\n" for d in node.decorator_list)
        face = {prefix + node.name: f"{decorators}class {node.name}({bases})\n"
                f"{ast.get_docstring(node) or ''}"}  # fmt: skip
        for member in node.body:
            face.update(_describe(member, prefix=f"{prefix}{node.name}."))
            if isinstance(member, ast.AnnAssign) and isinstance(member.target, ast.Name):
                face[f"{prefix}{node.name}.{member.target.id}"] = ast.unparse(member.annotation)
        return face
    if prefix == "" and isinstance(node, ast.Assign | ast.AnnAssign):
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = [t.id for t in targets if isinstance(t, ast.Name) and _public(t.id)]
        return {name: "a module-level name" for name in names}
    return {}


def _public(name: str) -> bool:
    return not name.startswith("_") or (name.startswith("__") and name.endswith("__"))
