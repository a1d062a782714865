"""The nbgrader export: one source notebook per exercise, graded by the kit's own graders.

A notebook holds an introduction (the stub's docstring), one solution cell per name the stub asks
for (its signature and docstring, the reference body between `### BEGIN SOLUTION` and
`### END SOLUTION`), a grader setup cell and one autograded test cell per test of `kit check`,
worth the points `kit check` gives it. The tests are not copied by hand: the setup cell carries
the grader's source (graders/test_<name>.py), its fixtures and the reference solution, inlined as
modules; the few visible tests get only the helpers and public fixtures they need, everything
else sits between `### BEGIN HIDDEN TESTS` and `### END HIDDEN TESTS` (one region per
notebook: nbgrader warns once for each cell whose hidden region it restores, jupyter/nbgrader#1961).

The visible part needs only numpy: it inlines the kit's comparisons, its handle on the learner's
names and the runner (`notebook_runtime`), so a learner does not install the kit. The hidden part
imports the runner from the kit, which is installed wherever nbgrader grades. Notebooks are built
with nbformat.
"""

from __future__ import annotations

import ast
import contextlib
import importlib.util
import itertools
import os
import re
import symtable
import textwrap
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformer_kit import __version__
from transformer_kit import catalog as meta

SCHEMA_VERSION = 3  # nbgrader's cell metadata schema
INSTALL = (
    "pip install 'transformer-kit[classroom]'  (in a clone of the kit: pip install '.[classroom]')"
)
CONFIG_FILE = "nbgrader_config.py"
ASSIGNMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")
MARKERS = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")
# kit modules a grader imports that the notebook carries inline: package -> folder in the kit
INLINED = {
    "transformer_kit.graders.fixtures": "graders/fixtures",
    "transformer_kit.graders.messages": "graders/messages",
    "transformer_kit.solutions": "solutions",
}
# inlined packages a visible test may read (what it reads of them is made public)
PUBLIC = ("transformer_kit.graders.fixtures", "transformer_kit.graders.messages")
RUNNER = "transformer_kit.classroom.nbgrader.runtime"  # runs a notebook's tests
# kit modules that need only numpy, inlined into every notebook's visible setup: module -> the
# setup cell's name for it, in the order they load
RUNTIME = {
    "transformer_kit.grader.failures": "_kit_failures",
    "transformer_kit.grader.compare": "_kit_compare",
    "transformer_kit.grader.checks": "_kit_checks",
    "transformer_kit.grader.memory": "_kit_memory",
    "transformer_kit.grader.student": "_kit_student",
    RUNNER: "_kit_runtime",
}
# what `import pytest` gives a notebook's visible grader (its tests only carry marks)
PYTEST_STAND_IN = "_kit_runtime.PYTEST_MARKS"

# The visible tests of each exercise: checks whose inputs and expected values the stub's docstring
# already gives away (shapes, errors, what a one-line rule computes), and whose helpers compute
# no answer (a grader's generator of classic mistakes is a solution with a switch: beam_search's
# greedy tests use one). The export refuses a visible test that reads the reference solution.
# An exercise not listed here (warmups: every test is an answer) has only hidden tests.
VISIBLE_TESTS: dict[str, tuple[str, ...]] = {
    "momentum_sgd": ("test_sgd_step_hand",),
    "backprop": ("test_gradient_shapes",),
    "attention": ("test_causal_mask_hand", "test_sdpa_shapes", "test_mha_shapes"),
    "positional_encoding": ("test_sinusoid_odd", "test_rope_odd", "test_learned_too_short"),
    "kv_cache": ("test_keys_values_shapes", "test_len"),
    "param_count": ("test_not_divisible", "test_adds_up"),
    "sampling": (
        "test_temperature_not_positive",
        "test_top_k_invalid",
        "test_top_p_invalid",
        "test_min_p_invalid",
    ),
    "grouped_attention": ("test_gqa_shapes", "test_latent_shapes", "test_gqa_indivisible_width"),
}

CONFIG_TEXT = f'''"""nbgrader configuration of this course.

Written by `kit nbgrader export` (transformer-kit {__version__}) because the course had none; it is
yours to edit: the export never overwrites it. The notebooks' test cells need the kit installed
where nbgrader runs them:
    {INSTALL}
"""

c = get_config()  # noqa: F821 (nbgrader defines get_config when it reads this file)
'''


class ExportError(Exception):
    """The kit's exercise cannot be exported as it is (a bug in the kit, not the course)."""


class CourseError(Exception):
    """The course folder or the assignment name does not allow the export; the message says why."""


# --- reading Python sources -------------------------------------------------------------------


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
        return _is_docstring(self.node)


def chunks(source: str) -> list[Chunk]:
    """The module's top-level statements in order (decorators belong to their definition)."""
    lines = source.splitlines(keepends=True)
    found, previous = [], 0
    for node in ast.parse(source).body:
        first, end = _first_line(node), node.end_lineno or node.lineno
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


# --- solution cells ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Answer:
    """A solution cell: `symbol` is the stub's name it defines."""

    symbol: str
    source: str


def answers(exercise: meta.Exercise) -> tuple[str, list[Answer]]:
    """The setup cell (imports and shared names) and the solution cells of an exercise."""
    stub_text = exercise.stub.read_text(encoding="utf-8")
    solution_text = exercise.solution.read_text(encoding="utf-8")
    stub, solution = chunks(stub_text), chunks(solution_text)
    reference = {name: chunk for chunk in solution for name in chunk.names}
    asked = {name for chunk in stub for name in chunk.names}
    helpers = [
        c for c in solution if not c.is_import and not c.is_docstring and not c.names & asked
    ]
    imports = [c.text for c in stub if c.is_import]
    known = {c.code for c in stub if c.is_import}
    imports += [c.text for c in solution if c.is_import and c.code not in known]
    notes = _notes_below(solution, solution_text)
    setup, cells = [], []
    for chunk in stub:
        node = chunk.node
        if chunk.is_docstring or chunk.is_import:
            continue
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            solved = _solved_definition(chunk, reference.get(node.name), helpers, exercise)
            cells.append(Answer(node.name, solved))
        elif _differs(chunk, reference):
            (name,) = chunk.names
            answer = reference[name].code + notes.get(reference[name], "")
            cells.append(Answer(name, chunk.text + _marked(answer, "")))
        else:
            setup.append(chunk.text)
    return "".join([*imports, *setup]).strip("\n") + "\n", cells


def _notes_below(parts: Sequence[Chunk], source: str) -> dict[Chunk, str]:
    """The comment lines right below each statement, up to a blank line (a warm-up answer's
    arithmetic)."""
    lines = source.splitlines(keepends=True)
    return {
        chunk: "".join(itertools.takewhile(_is_comment, lines[chunk.node.end_lineno or 0 :]))
        for chunk in parts
    }


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _differs(chunk: Chunk, reference: dict[str, Chunk]) -> bool:
    """A stub statement the solution writes differently (a warm-up answer left as None)."""
    return any(name in reference and reference[name].code != chunk.code for name in chunk.names)


def _solved_definition(
    stub: Chunk, solved: Chunk | None, helpers: Sequence[Chunk], exercise: meta.Exercise
) -> str:
    """The stub's def or class, each body after its docstring replaced by the marked solution."""
    name = getattr(stub.node, "name", "?")
    if solved is None or type(solved.node) is not type(stub.node):
        raise ExportError(f"{exercise.solution}: no {name} to match the stub's")
    stub_lines = stub.code.splitlines(keepends=True)
    pairs = _function_pairs(stub.node, solved.node, exercise)
    out, cursor = [], 1
    for stub_def, solved_def in pairs:
        start = _after_docstring(stub_def) - _first_line(stub.node) + 1
        end = (stub_def.end_lineno or stub_def.lineno) - _first_line(stub.node) + 1
        kept = [line for line in stub_lines[start - 1 : end] if _is_comment(line)]
        out += [*stub_lines[cursor - 1 : start - 1], *kept]
        out.append(_solution_body(solved, solved_def, helpers))
        cursor = end + 1
    out += stub_lines[cursor - 1 :]
    return stub.lead + "".join(out)


def _function_pairs(
    stub: ast.stmt, solved: ast.stmt, exercise: meta.Exercise
) -> list[tuple[ast.FunctionDef, ast.FunctionDef]]:
    """(stub function, solution function): the def itself, or every method of a class."""
    if isinstance(stub, ast.FunctionDef) and isinstance(solved, ast.FunctionDef):
        return [(stub, solved)]
    assert isinstance(stub, ast.ClassDef) and isinstance(solved, ast.ClassDef)
    stub_methods = [n for n in stub.body if isinstance(n, ast.FunctionDef)]
    members = {name: n for n in solved.body if not _is_docstring(n) for name in bound_names(n)}
    extra = sorted(set(members) - {m.name for m in stub_methods})
    if extra:
        raise ExportError(
            f"{exercise.solution}: class {solved.name} has members the stub lacks ({extra}); "
            "a solution cell keeps the stub's methods, so move them into those methods"
        )
    pairs = []
    for method in stub_methods:
        twin = members.get(method.name)
        if not isinstance(twin, ast.FunctionDef):
            raise ExportError(f"{exercise.solution}: class {solved.name} lacks {method.name}")
        pairs.append((method, twin))
    return pairs


def _is_docstring(node: ast.stmt) -> bool:
    return isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)


def _first_line(node: ast.stmt) -> int:
    decorators: list[ast.expr] = getattr(node, "decorator_list", [])
    return min([node.lineno, *(d.lineno for d in decorators)])


def _after_docstring(function: ast.FunctionDef) -> int:
    """The first line of a function's body after its docstring."""
    first = function.body[0]
    if _is_docstring(first):
        return (first.end_lineno or first.lineno) + 1
    return first.lineno


def _solution_body(chunk: Chunk, function: ast.FunctionDef, helpers: Sequence[Chunk]) -> str:
    """The reference body of `function` (in `chunk`), the helpers it calls nested in front."""
    lines = chunk.code.splitlines(keepends=True)
    offset = _first_line(chunk.node)
    start = _after_docstring(function)
    statements = [s for s in function.body if s.lineno >= start]
    if not statements:
        raise ExportError(f"{function.name} of the solution has no body after its docstring")
    indent = " " * statements[0].col_offset
    end = function.end_lineno or function.lineno
    body = "".join(lines[start - offset : end - offset + 1]).strip("\n") + "\n"
    whole = textwrap.dedent("".join(lines[_first_line(function) - offset : end - offset + 1]))
    needed = closure(helpers, used_names(whole))
    nested = "".join(textwrap.indent(c.code, indent) + "\n" for c in needed)
    return _marked(nested + body, indent)


def _marked(code: str, indent: str) -> str:
    return f"{indent}### BEGIN SOLUTION\n{code}{indent}### END SOLUTION\n"


# --- tests --------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GradedTest:
    """One test of `kit check`: `case` indexes its parametrize list; points as kit check gives."""

    function: str
    case: int | None
    case_id: str
    name: str
    points: float
    visible: bool

    def grade_id(self, exercise: str) -> str:
        case = f"-{_slug(self.case_id)}" if self.case_id else ""
        return f"{exercise}-{self.function}{case}"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "_", text).strip("_") or "case"


def graded_tests(exercises: Sequence[meta.Exercise]) -> dict[str, tuple[GradedTest, ...]]:
    """Every test of the exercises' graders, collected by `kit check`'s own pytest plugin, so that
    names and points are the ones kit check reports (a session without failures lists each test
    at its full share)."""
    import pytest

    from transformer_kit.grader import plugin

    kit_plugin = plugin.KitPlugin(exercises, {})
    args = [*plugin.pytest_arguments([e.grader for e in exercises]), "--collect-only"]
    with _no_plugin_autoload():
        status = plugin.run_pytest(args, kit_plugin)
    if kit_plugin.collection_errors or status != pytest.ExitCode.OK:
        problems = kit_plugin.collection_errors or [f"pytest exit status {status}"]
        raise ExportError("the kit's graders could not be collected:\n" + "\n".join(problems))
    found = {}
    for result in kit_plugin.results():
        items = kit_plugin.items.get(result.name, [])
        visible = VISIBLE_TESTS.get(result.name, ())
        found[result.name] = tuple(
            _graded_test(item, test.name, test.max_score, visible)
            for item, test in zip(items, result.tests, strict=True)
        )
    return found


def _graded_test(item: Any, name: str, points: float, visible: Sequence[str]) -> GradedTest:
    function = item.originalname
    callspec = getattr(item, "callspec", None)
    parametrized = list(item.iter_markers(name="parametrize"))
    arguments = set(callspec.params) if callspec is not None else set()
    others = sorted(set(item.fixturenames) - {"student", "request"} - arguments)
    if others or len(parametrized) > 1:
        problem = f"uses the pytest fixtures {others}" if others else "stacks parametrize marks"
        raise ExportError(f"{item.nodeid} {problem}: a notebook test cell cannot do that")
    case = None
    if callspec is not None:
        (case,) = set(callspec.indices.values())
    return GradedTest(
        function=function,
        case=case,
        case_id=callspec.id if callspec is not None else "",
        name=name,
        points=points,
        visible=function in visible,
    )


@contextlib.contextmanager
def _no_plugin_autoload() -> Iterator[None]:
    """No third-party pytest plugins (pytest-randomly would reorder the tests)."""
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"
    try:
        yield
    finally:
        if saved is None:
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved


# --- the grader's source, split into what learners may see and what they may not ---------------


@dataclass(frozen=True)
class GraderParts:
    """The setup cell's sources: the visible part and the hidden part."""

    public_modules: dict[str, str]  # alias -> source of the public part of a fixtures module
    public_grader: str  # helpers and visible tests, less their imports of the inlined runtime
    public_names: dict[str, str]  # name -> what binds it instead of those imports
    hidden_modules: dict[str, str]  # alias -> whole source of an inlined module
    hidden_grader: str  # the whole grader, less the imports of the inlined modules


def grader_parts(exercise: meta.Exercise, visible: Iterable[str]) -> GraderParts:
    """Split graders/test_<name>.py: the visible tests get only what they read."""
    parts = chunks(exercise.grader.read_text(encoding="utf-8"))
    inlined = {alias: (package, path) for c in parts for alias, package, path in _inlined(c)}
    own = [c for c in parts if not list(_inlined(c))]
    hidden_modules = {
        alias: path.read_text(encoding="utf-8") for alias, (_, path) in inlined.items()
    }
    wanted = list(visible)
    if not wanted:
        return GraderParts({}, "", {}, hidden_modules, "".join(c.text for c in own))
    needed = closure(own, wanted)
    missing = sorted(set(wanted) - {name for c in needed for name in c.names})
    if missing:
        raise ExportError(f"{exercise.grader}: no visible test named {missing}")
    public_modules = {}
    for alias, (package, path) in inlined.items():
        if not any(alias in c.uses for c in needed):
            continue
        if package not in PUBLIC:
            raise ExportError(
                f"{exercise.grader}: a visible test reads `{alias}` (the reference solution): "
                f"make it hidden in classroom.VISIBLE_TESTS"
            )
        attributes = _attributes_read(needed, alias, exercise)
        fixtures = chunks(path.read_text(encoding="utf-8"))
        text, names = without_runtime_imports(fixtures, closure(fixtures, attributes))
        if names:
            raise ExportError(f"{path}: an inlined module imports {sorted(names)} from the kit")
        public_modules[alias] = text
    public, names = without_runtime_imports(own, needed)
    return GraderParts(public_modules, public, names, hidden_modules, "".join(c.text for c in own))


def without_runtime_imports(
    parts: Sequence[Chunk], chosen: Sequence[Chunk]
) -> tuple[str, dict[str, str]]:
    """The chosen statements as a module without the kit's imports, and, for each name those
    imports bound, what binds it in a notebook (an inlined module's attribute); `import pytest`
    becomes the runtime's stand-in."""
    names: dict[str, str] = {}
    kept = []
    for chunk in chosen:
        bound = _runtime_names(chunk)
        if bound is None:
            kept.append(chunk)
        else:
            names |= bound
    return _module_text(parts, kept), names


def _runtime_names(chunk: Chunk) -> dict[str, str] | None:
    node = chunk.node
    if isinstance(node, ast.Import):
        modules = {alias.name for alias in node.names}
        if not modules & {"pytest", *RUNTIME} and not any(_is_kit(m) for m in modules):
            return None
        if [(a.name, a.asname) for a in node.names] == [("pytest", None)]:
            return {"pytest": PYTEST_STAND_IN}
        raise ExportError(f"a notebook cannot inline `{chunk.code.strip()}`: use `from ... import`")
    if not isinstance(node, ast.ImportFrom) or not (
        node.module == "pytest" or _is_kit(node.module or "")
    ):
        return None
    if node.module not in RUNTIME:
        raise ExportError(
            f"`{chunk.code.strip()}`: a notebook's visible part can only use the kit modules "
            f"{sorted(RUNTIME)}, which need only numpy: make the test hidden"
        )
    return {(a.asname or a.name): f"{RUNTIME[node.module]}.{a.name}" for a in node.names}


def _is_kit(module: str) -> bool:
    return module == "transformer_kit" or module.startswith("transformer_kit.")


def _inlined(chunk: Chunk) -> Iterator[tuple[str, str, Path]]:
    """(alias, package, file) for each kit module this import brings in."""
    node = chunk.node
    if isinstance(node, ast.ImportFrom) and node.module in INLINED:
        for alias in node.names:
            path = meta.PACKAGE / INLINED[node.module] / f"{alias.name}.py"
            yield alias.asname or alias.name, node.module, path


def _attributes_read(parts: Sequence[Chunk], alias: str, exercise: meta.Exercise) -> set[str]:
    """The `alias.NAME` the statements read; any other use of `alias` cannot be made public."""
    nodes = [node for chunk in parts for node in ast.walk(chunk.node)]
    reads = [n for n in nodes if isinstance(n, ast.Attribute) and _is_name(n.value, alias)]
    read_through = {id(n.value) for n in reads}
    if any(_is_name(n, alias) and id(n) not in read_through for n in nodes):
        raise ExportError(
            f"{exercise.grader}: a visible test uses `{alias}` other than as `{alias}.NAME`, "
            "so its public fixtures cannot be picked out: make the test hidden"
        )
    return {n.attr for n in reads}


def _is_name(node: ast.AST, name: str) -> bool:
    return isinstance(node, ast.Name) and node.id == name


def _module_text(parts: Sequence[Chunk], chosen: Sequence[Chunk]) -> str:
    """The chosen statements as a module, after its `from __future__` imports; a statement
    whose neighbour above was left out is set off by a blank line."""
    texts = [c.code for c in parts if c.is_future]
    previous = -1
    for chunk in chosen:
        index = parts.index(chunk)
        if not chunk.is_future:
            apart = index != previous + 1 and "\n" not in chunk.lead
            texts.append(("\n" if apart else "") + chunk.text)
        previous = index
    return "".join(texts)


# --- the notebook -------------------------------------------------------------------------------


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


def imports_id(exercise: str) -> str:
    """The grade_id of a notebook's imports cell (locked: the kit grades nbgrader's copy)."""
    return f"{exercise}-imports"


def solution_id(exercise: str, symbol: str) -> str:
    """The grade_id of the solution cell that defines `symbol`."""
    return f"{exercise}-solution-{symbol}"


def solution_ids(exercise: meta.Exercise) -> list[str]:
    """The grade_ids of an exercise's solution cells, in the notebook's order."""
    return [solution_id(exercise.name, a.symbol) for a in answers(exercise)[1]]


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
    return f"{points:.3g} point{'' if points == 1 else 's'}"


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
    call = f"_kit.check({test.function!r}{case}{'' if test.visible else ', hidden=True'})"
    return f"{comment}\n{call}\n"


def notebook_text(node: Any) -> str:
    """A notebook as nbformat writes it (validated on the way)."""
    import nbformat

    nbformat.validate(node)
    return str(nbformat.writes(node)) + "\n"


# --- the course folder --------------------------------------------------------------------------


@dataclass(frozen=True)
class Exported:
    """What `export` wrote: each notebook with its tests, and the course's config file."""

    notebooks: tuple[tuple[Path, tuple[GradedTest, ...]], ...]
    config: Path
    config_created: bool


def export(
    course: Path, exercises: Sequence[meta.Exercise], assignment: str, force: bool = False
) -> Exported:
    """Write source/<assignment>/<name>.ipynb for each exercise, and nbgrader_config.py if the
    course has none. A notebook that exists and differs is only replaced with `force`."""
    if not ASSIGNMENT_ID.fullmatch(assignment):
        raise CourseError(
            f"'{assignment}' cannot be an assignment name: use letters, digits, '_', '-' and '.'"
        )
    tests = graded_tests(exercises)
    folder = course / "source" / assignment
    texts = {e.name: notebook_text(notebook(e, tests[e.name])) for e in exercises}
    paths = {e.name: folder / f"{e.name}.ipynb" for e in exercises}
    changed = [
        str(path)
        for name, path in paths.items()
        if path.exists() and path.read_text(encoding="utf-8") != texts[name]
    ]
    if changed and not force:
        raise CourseError(
            "these notebooks exist and differ from the export (an instructor's edits?): "
            f"{', '.join(changed)}; pass --force to overwrite them"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        path.write_text(texts[name], encoding="utf-8")
    config = course / CONFIG_FILE
    created = not config.exists()
    if created:
        config.write_text(CONFIG_TEXT, encoding="utf-8")
    notebooks = tuple((paths[e.name], tests[e.name]) for e in exercises)
    return Exported(notebooks, config, created)
