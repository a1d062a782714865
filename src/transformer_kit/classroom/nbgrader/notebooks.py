"""An exercise's nbgrader source notebook: the introduction (the stub's docstring), the solution
cells (answers.py), a grader setup cell and one autograded test cell per test of `kit check`,
worth the points `kit check` gives it.

The setup cell carries the grader's source, its fixtures and the reference solution, inlined as
modules (grader_source.py); the visible tests get only the helpers and public fixtures they need,
everything else sits between `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS` (one region per
notebook: nbgrader warns once for each cell whose hidden region it restores, jupyter/nbgrader#1961).
The visible part needs only numpy: it inlines the kit's comparisons, its handle on the learner's
names and the runner (`runtime`), so a learner does not install the kit. The hidden part imports
the runner from the kit, which is installed wherever nbgrader grades. Built with nbformat.
"""

from __future__ import annotations

import ast
import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from transformer_kit import __version__
from transformer_kit import catalog as meta
from transformer_kit.classroom.nbgrader.answers import answers, imports_id, solution_id
from transformer_kit.classroom.nbgrader.grader_source import (
    RUNNER,
    RUNTIME,
    GradedTest,
    GraderParts,
    grader_parts,
    without_runtime_imports,
)
from transformer_kit.classroom.nbgrader.sources import ExportError, chunks

SCHEMA_VERSION = 3  # nbgrader's cell metadata schema
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
HIDDEN = ", hidden=True"  # how a hidden test's cell calls the runner (course.py reads it back)


def notebook(exercise: meta.Exercise, tests: Sequence[GradedTest]) -> Any:
    """The nbgrader source notebook of one exercise (an nbformat-v4 NotebookNode)."""
    from nbformat import v4

    setup, solution_cells = answers(exercise)
    visible = [t for t in tests if t.visible]
    parts = grader_parts(exercise, dict.fromkeys(t.function for t in visible))
    name = exercise.name
    made = [
        ("markdown", _introduction(exercise, tests), _metadata(f"{name}-intro", locked=True)),
        ("code", setup, _metadata(imports_id(name), locked=True)),
        *(
            ("code", a.source, _metadata(solution_id(name, a.symbol), solution=True))
            for a in solution_cells
        ),
        (
            "markdown",
            _tests_introduction(exercise, tests),
            _metadata(f"{name}-tests-intro", locked=True),
        ),
        ("code", _setup_source(exercise, parts), _metadata(f"{name}-grader-setup", points=0.0)),
        *(("code", _test_source(t), _metadata(t.grade_id(name), points=t.points)) for t in tests),
    ]
    ids = [metadata["nbgrader"]["grade_id"] for _, _, metadata in made]
    if len(set(ids)) != len(ids):
        raise ExportError(f"{name}: two cells would share a grade_id: {sorted(ids)}")
    new_cell = {"code": v4.new_code_cell, "markdown": v4.new_markdown_cell}
    cells = [
        new_cell[kind](source.strip("\n"), id=f"{name[:50]}-{index:03d}", metadata=metadata)
        for index, (kind, source, metadata) in enumerate(made, 1)
    ]
    return v4.new_notebook(
        cells=cells,
        metadata={
            "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
            "language_info": {"name": "python"},
        },
    )


def _metadata(
    grade_id: str, *, locked: bool = False, solution: bool = False, points: float | None = None
) -> dict[str, Any]:
    grade = points is not None
    nbgrader: dict[str, Any] = {
        "grade": grade,
        "grade_id": grade_id,
        "locked": locked or grade,
        "schema_version": SCHEMA_VERSION,
        "solution": solution,
        "task": False,
    }
    if grade:
        nbgrader["points"] = points
    return {"nbgrader": nbgrader}


def _introduction(exercise: meta.Exercise, tests: Sequence[GradedTest]) -> str:
    doc = ast.get_docstring(ast.parse(exercise.stub.read_text(encoding="utf-8"))) or ""
    visible = sum(t.visible for t in tests)
    return (
        f"# {exercise.title}\n\n"
        f"Topic: {exercise.topic} · {exercise.points:g} points · exercise `{exercise.name}` of "
        f"transformer-kit {__version__}\n\n"
        f"```text\n{doc}\n```\n\n"
        "**How to work.** Write your code in the cells below that hold a function, a class or an "
        "answer: replace `raise NotImplementedError()` and keep every name and signature. Then "
        f"run the test cells at the end. {_visibility(visible, len(tests))} They are the tests "
        f"of `kit check {exercise.name}` and score exactly as it does.\n\n"
        "The visible tests need only numpy: the comparisons of transformer-kit they use are in "
        "the grader setup cell. Printing and warnings in your code cost no points."
    )


def _visibility(visible: int, total: int) -> str:
    if not visible:
        return f"All {total} tests are hidden: they run when your notebook is graded."
    verb = "is" if visible == 1 else "are"
    return (
        f"{visible} of the {total} tests {verb} visible, so you can run them now; the others are "
        "hidden and run when your notebook is graded."
    )


def _tests_introduction(exercise: meta.Exercise, tests: Sequence[GradedTest]) -> str:
    visible = [t for t in tests if t.visible]
    shown = "".join(f"\n- {t.name} ({_points(t.points)})" for t in visible)
    return (
        f"## Tests\n\n{len(tests)} tests worth {exercise.points:g} points, one cell each; a test "
        "cell passes when it runs without an error. Run the setup cell first."
        + (f" The visible tests:\n{shown}" if visible else " All of them are hidden.")
    )


def _points(points: float) -> str:
    """Points as a learner reads them: at most two decimals (a test's share is 64ths)."""
    shown = f"{points:.2f}".rstrip("0").rstrip(".")
    return f"{shown} point{'' if points == 1 else 's'}"


def _setup_source(exercise: meta.Exercise, parts: GraderParts) -> str:
    """The grader setup cell: the inlined runtime and the visible tests, then the hidden part,
    which runs the whole grader with the installed kit's runner."""
    name = exercise.name
    lines = [
        f"# The grader of `kit check {name}`, run against the cells above. Its visible tests need",
        "# only numpy: the kit's comparisons, its handle on your code and its test runner are",
        "# inlined here.",
        INLINE_LOADER,
        *_runtime_modules(),
        f"_kit = _kit_runtime.NotebookGrader({name!r}, globals())",
    ]
    lines += [_load("module", alias, text) for alias, text in parts.public_modules.items()]
    if parts.public_grader:
        lines.append(_load("grader", None, parts.public_grader, parts.public_names))
    lines += [
        "### BEGIN HIDDEN TESTS",
        f"from {RUNNER} import NotebookGrader as _KitGrader",
        "",
        f"_kit = _KitGrader({name!r}, globals(), graded=True)",
    ]
    lines += [_load("module", alias, text) for alias, text in parts.hidden_modules.items()]
    lines.append(_load("grader", None, parts.hidden_grader))
    lines.append("### END HIDDEN TESTS")
    return "\n".join(lines) + "\n"


INLINE_LOADER = """import sys as _sys
import types as _types


def _kit_module(name, source, **names):
    \"\"\"Run `source` (a module of the kit) as a module of its own, `names` bound first.\"\"\"
    module = _types.ModuleType(f"_kit_notebook.{name}")
    _sys.modules[module.__name__] = module
    vars(module).update(names)
    exec(compile(source, f"<kit {name}>", "exec", dont_inherit=True), vars(module))
    return module

"""


def _runtime_modules() -> list[str]:
    """A `_kit_module` line per inlined kit module, its kit imports bound to the ones before;
    then the names its functions import from the kit (a cycle broken by a local import), bound
    once every module is there."""
    lines, late = [], []
    for module, variable in RUNTIME.items():
        spec = importlib.util.find_spec(module)
        if spec is None or spec.origin is None:
            raise ExportError(f"the kit's module {module} is missing")
        source, nested = _without_nested_imports(Path(spec.origin).read_text(encoding="utf-8"))
        parts = chunks(source)
        text, names = without_runtime_imports(parts, parts)
        bound = "".join(f", {name}={value}" for name, value in names.items())
        lines.append(
            f"{variable} = _kit_module({module.split('.')[-1]!r}, {_literal(text)}{bound})"
        )
        late += [f"{variable}.{name} = {value}" for name, value in nested.items()]
    return lines + late


def _without_nested_imports(source: str) -> tuple[str, dict[str, str]]:
    """The source without the imports of inlined kit modules inside its functions, and the
    names they bound (which the module's globals then provide)."""
    tree = ast.parse(source)
    top = {id(node) for node in tree.body}
    lines = source.splitlines(keepends=True)
    names: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and id(node) not in top and node.module in RUNTIME:
            names |= {(a.asname or a.name): f"{RUNTIME[node.module]}.{a.name}" for a in node.names}
            for index in range(node.lineno - 1, node.end_lineno or node.lineno):
                lines[index] = ""
    return "".join(lines), names


def _load(kind: str, alias: str | None, text: str, names: dict[str, str] | None = None) -> str:
    name = "" if alias is None else f"{alias!r}, "
    bound = "".join(f", {key}={value}" for key, value in (names or {}).items())
    return f"_kit.load_{kind}({name}{_literal(text)}{bound})"


def _literal(text: str) -> str:
    """Source text as a Python string literal that reads like the file it came from."""
    marker = next((m for m in MARKERS if m in text), None)
    if marker is not None:
        raise ExportError(f"a source the notebook carries contains nbgrader's marker {marker!r}")
    if "'''" in text or text.endswith("\\"):
        return repr(text)
    return f"r'''\n{text}'''"


def _test_source(test: GradedTest) -> str:
    comment = f"# {test.name} ({_points(test.points)}, {'visible' if test.visible else 'hidden'})"
    case = "" if test.case is None else f", case={test.case}"
    call = f"_kit.check({test.function!r}{case}{'' if test.visible else HIDDEN})"
    return f"{comment}\n{call}\n"


def notebook_text(node: Any) -> str:
    """A notebook as nbformat writes it (validated on the way)."""
    import nbformat

    nbformat.validate(node)
    return str(nbformat.writes(node)) + "\n"
