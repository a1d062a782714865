"""Twins that cannot drift: every stub (exercises/NAME.py) and its solution (solutions/NAME.py)
offer the same public names, with the same signatures and docstrings, read with `ast`. The stub is
all a learner sees, so a solution edited alone (a new parameter, a changed convention in its
docstring) fails here instead of failing learners.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from support import EXERCISES, REPO

STUBS = [REPO / "exercises" / f"{e.name}.py" for e in EXERCISES]


def public_face(path: Path) -> dict[str, str]:
    """What a learner relies on in a module: its docstring and, per public name, the signature
    and docstring of a function or class (and of a class's public and dunder methods), or just
    that a public constant exists."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    face = {"<module docstring>": ast.get_docstring(tree) or ""}
    for node in tree.body:
        face.update(_describe(node, prefix=""))
    return face


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


def test_every_exercise_has_both_twins_and_no_file_lacks_an_exercise() -> None:
    for folder in ("exercises", "solutions"):
        files = {p.name for p in (REPO / folder).glob("*.py")} - {"__init__.py"}
        assert files == {p.name for p in STUBS}, folder


@pytest.mark.parametrize("stub", STUBS, ids=[p.stem for p in STUBS])
def test_the_stub_and_its_solution_have_the_same_public_face(stub: Path) -> None:
    solution = REPO / "solutions" / stub.name
    mine, theirs = public_face(stub), public_face(solution)
    assert sorted(mine) == sorted(theirs), "public names differ"
    drifted = [name for name in mine if mine[name] != theirs[name]]
    assert not drifted, "\n\n".join(
        f"{name}:\n--- stub\n{mine[name]}\n--- solution\n{theirs[name]}" for name in drifted
    )


def test_the_comparison_sees_a_drifted_docstring_and_signature(tmp_path: Path) -> None:
    """The test above can fail: a changed parameter, docstring or new public name is seen."""
    stub = REPO / "exercises" / "momentum_sgd.py"
    original = public_face(stub)
    text = stub.read_text(encoding="utf-8")
    edits = {
        "signature": text.replace("def sgd_step(w:", "def sgd_step(weights:", 1),
        "docstring": text.replace("returns w - lr * grad.", "returns w + lr * grad.", 1),
        "new name": text + "\n\ndef helper(x):\n    return x\n",
    }
    for what, edited in edits.items():
        assert edited != text, what
        changed = tmp_path / f"{what.replace(' ', '_')}.py"
        changed.write_text(edited, encoding="utf-8")
        assert public_face(changed) != original, what
