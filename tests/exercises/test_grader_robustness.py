"""Graders must give a verdict, never crash, whatever a learner's function returns.

For every exercise, a module where each name of the stub returns (or is) one odd value: None, a
string, a number, an empty list, a dict, a nested ragged list, an object, a huge-looking shape.
Every test must fail with a message for the learner, not with "the grader failed".
"""

from __future__ import annotations

import ast
import textwrap

import pytest
from support import EXERCISES

from transformer_kit import check as grading

ODD_VALUES = {
    "None": "None",
    "a string": "'42'",
    "a number": "42",
    "an empty list": "[]",
    "a dict": "{'w1': 1}",
    "a ragged list": "[[1.0, 2.0], [3.0]]",
    "an object": "object()",
    "a complex array": "np.ones((2, 2), complex)",
    "a zero-size array": "np.zeros((0, 3))",
    "a nan": "float('nan')",
}


def odd_module(stub: str, value: str) -> str:
    """The stub's names, each function, method and property returning `value`."""
    lines = ["import numpy as np", f"ODD = lambda: {value}"]
    for node in ast.parse(stub).body:
        if isinstance(node, ast.FunctionDef):
            lines.append(f"def {node.name}(*args, **kwargs):\n    return ODD()")
        elif isinstance(node, ast.ClassDef):
            lines.append(_odd_class(node))
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            lines += [f"{t.id} = ODD()" for t in targets if isinstance(t, ast.Name)]
    return "\n\n".join(lines) + "\n"


def _odd_class(node: ast.ClassDef) -> str:
    members = []
    for item in node.body:
        if not isinstance(item, ast.FunctionDef) or item.name == "__init__":
            continue
        is_property = any(getattr(d, "id", "") == "property" for d in item.decorator_list)
        decorator = "    @property\n" if is_property else ""
        members.append(
            f"{decorator}    def {item.name}(self, *args, **kwargs):\n        return ODD()"
        )
    body = "\n".join(members) or "    pass"
    return f"class {node.name}:\n    def __init__(self, *args, **kwargs):\n        pass\n{body}"


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.name for e in EXERCISES])
def test_graders_give_a_verdict_for_any_returned_value(exercise, make_workspace) -> None:
    stub = exercise.stub.read_text(encoding="utf-8")
    crashes = []
    for label, value in ODD_VALUES.items():
        root = make_workspace({exercise.name: odd_module(stub, value)})
        (result,) = grading.check(root, [exercise]).exercises
        crashes += [
            f"{label}: {t.name}: {t.message}"
            for t in result.tests
            if "the grader failed" in t.message or "bug in the kit" in t.message
        ]
        assert not result.passed, f"returning {label} passed"
    assert not crashes, "\n\n".join(crashes)


def test_odd_module_is_what_it_claims() -> None:
    stub = textwrap.dedent(
        """
        X = None
        def f(a): raise NotImplementedError
        class C:
            def __init__(self, n): pass
            @property
            def keys(self): raise NotImplementedError
            def append(self, k): raise NotImplementedError
        """
    )
    namespace: dict = {}
    exec(odd_module(stub, "7"), namespace)
    assert namespace["X"] == 7 and namespace["f"](1, b=2) == 7
    instance = namespace["C"](3)
    assert instance.keys == 7 and instance.append(1) == 7
