"""The grader's side of a notebook: its tests as `kit check` collects them (names, points, which
are visible), and its source split into what learners may see and what they may not.

Which tests are visible is chosen here, in one place (`visible_tests`: by default the tests that
read the hand-computed fixtures); the inlined modules are the grader's fixtures, messages and the
reference.
"""

from __future__ import annotations

import ast
import contextlib
import os
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import transformer_kit
from transformer_kit import catalog as meta
from transformer_kit.classroom.nbgrader.sources import Chunk, ExportError, chunks, closure

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
    "transformer_kit.grader.warned": "_kit_warned",
    "transformer_kit.grader.memory": "_kit_memory",
    "transformer_kit.grader.student": "_kit_student",
    RUNNER: "_kit_runtime",
}
# what `import pytest` gives a notebook's visible grader (its tests only carry marks)
PYTEST_STAND_IN = "_kit_runtime.PYTEST_MARKS"

VISIBLE = "pytest.mark.visible"  # graders' marks of old (grader/plugin.py): a notebook omits them


HAND = "hand"  # the tests that read the hand-computed fixtures (the default)
VISIBILITIES = (HAND, "all", "none")  # what --visible takes besides test names
Visibility = str | frozenset[str]  # one of VISIBILITIES, or the names of the tests to show
FIXTURES = "transformer_kit.graders.fixtures"  # the hand fixtures' package
SECRET = "SHOW_ANSWERS"  # a grader that sets it False keeps its expected values from learners


def visible_tests(exercise: meta.Exercise, visibility: Visibility = HAND) -> tuple[str, ...]:
    """The tests of the exercise's grader a released notebook shows, and Gradescope and the class
    report show in full. `hand`: every test that reads the hand-computed fixtures (`fixtures.NAME`
    in its body or its parametrize list), the checks with the arithmetic written down; `all`:
    every test; `none`: none; a set of names: those of them this grader has. Only tests that
    can be shown are chosen: a released notebook runs them with numpy alone, so a test that reads
    the reference solution (a grader's generator of classic mistakes is a solution with a
    switch) or the kit's other modules stays hidden, and so does every test of a grader whose
    fixtures are the answers (`SHOW_ANSWERS = False`: warmups' pen-and-paper problems). Named
    tests are shown or refused."""
    tests = _test_functions(exercise.grader)
    if visibility == "none":
        return ()
    if isinstance(visibility, frozenset):
        return tuple(name for name in tests if name in visibility)
    if _keeps_answers(exercise.grader):
        return ()
    aliases = _fixture_aliases(exercise.grader)
    chosen = [n for n, node in tests.items() if visibility == "all" or _reads(node, aliases)]
    while True:  # drop what cannot be shown beside the others, until nothing more drops
        kept = [name for name in chosen if _showable(exercise, name, chosen)]
        if kept == chosen:
            return tuple(kept)
        chosen = kept


def _test_functions(grader: Path) -> dict[str, ast.FunctionDef]:
    tree = ast.parse(grader.read_text(encoding="utf-8"), filename=str(grader))
    return {
        node.name: node
        for node in tree.body
        if isinstance(node, ast.FunctionDef) and node.name.startswith("test")
    }


def _keeps_answers(grader: Path) -> bool:
    """Whether the grader declares its expected values secret (`SHOW_ANSWERS = False`)."""
    tree = ast.parse(grader.read_text(encoding="utf-8"), filename=str(grader))
    return any(
        isinstance(node, ast.Assign)
        and [ast.unparse(t) for t in node.targets] == [SECRET]
        and ast.unparse(node.value) == "False"
        for node in tree.body
    )


def _fixture_aliases(grader: Path) -> set[str]:
    """The names the grader binds to hand-fixture modules (`... import attention as fixtures`)."""
    tree = ast.parse(grader.read_text(encoding="utf-8"), filename=str(grader))
    return {
        alias.asname or alias.name
        for node in tree.body
        if isinstance(node, ast.ImportFrom) and node.module == FIXTURES
        for alias in node.names
    }


def _reads(test: ast.FunctionDef, aliases: set[str]) -> bool:
    """Whether the test (its body or decorators) reads one of `aliases`."""
    return any(isinstance(n, ast.Name) and n.id in aliases for n in ast.walk(test))


def _showable(exercise: meta.Exercise, name: str, beside: Sequence[str]) -> bool:
    try:
        grader_parts(exercise, [name], beside)
    except ExportError:
        return False
    return True


def test_names(exercises: Sequence[meta.Exercise]) -> set[str]:
    """Every test function of the exercises' graders (what --visible NAME,... may name)."""
    return {name for e in exercises for name in _test_functions(e.grader)}


def grader_source(grader: Path) -> str:
    """The grader's source without its visible marks: a notebook says what is visible through its
    test cells, so the tests it carries are the ones `kit check` runs, unmarked."""
    lines = grader.read_text(encoding="utf-8").splitlines(keepends=True)
    for _, mark in _visible_marks(grader):
        for index in range(mark.lineno - 1, mark.end_lineno or mark.lineno):
            lines[index] = ""
    return "".join(lines)


def _visible_marks(grader: Path) -> list[tuple[ast.FunctionDef, ast.expr]]:
    """(test, its visible mark) for each marked test; a mark with arguments is refused."""
    tree = ast.parse(grader.read_text(encoding="utf-8"), filename=str(grader))
    found = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef):
            continue
        for decorator in node.decorator_list:
            text = ast.unparse(decorator)
            if text.startswith(f"{VISIBLE}("):
                raise ExportError(f"{grader}: write @{VISIBLE} without arguments")
            if text == VISIBLE:
                found.append((node, decorator))
    return found


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


def graded_tests(
    exercises: Sequence[meta.Exercise], visibility: Visibility = HAND
) -> dict[str, tuple[GradedTest, ...]]:
    """Every test of the exercises' graders, collected by `kit check`'s own pytest plugin, so that
    names and points are the ones kit check reports (a session without failures lists each test
    at its full share); the visible ones chosen by `visibility` (visible_tests)."""
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
    for exercise, result in zip(exercises, kit_plugin.results(), strict=True):
        items = kit_plugin.items.get(result.name, [])
        visible = visible_tests(exercise, visibility)
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


@dataclass(frozen=True)
class GraderParts:
    """The setup cell's sources: the visible part and the hidden part."""

    public_modules: dict[str, str]  # alias -> source of the public part of a fixtures module
    public_grader: str  # helpers and visible tests, less their imports of the inlined runtime
    public_names: dict[str, str]  # name -> what binds it instead of those imports
    hidden_modules: dict[str, str]  # alias -> whole source of an inlined module
    hidden_grader: str  # the whole grader, less the imports of the inlined modules


def grader_parts(
    exercise: meta.Exercise, visible: Iterable[str], shown: Iterable[str] | None = None
) -> GraderParts:
    """Split graders/test_<name>.py: the visible tests get only what they read (`shown`: every
    test the notebook shows, when more than `visible`)."""
    parts = chunks(grader_source(exercise.grader))
    inlined = {alias: (package, path) for c in parts for alias, package, path in _inlined(c)}
    own = [c for c in parts if not list(_inlined(c))]
    hidden_modules = {
        alias: path.read_text(encoding="utf-8") for alias, (_, path) in inlined.items()
    }
    wanted = list(visible)
    every = {*wanted, *(shown or ())}
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
                "leave it out of --visible"
            )
        fixtures = chunks(path.read_text(encoding="utf-8"))
        chosen = _public_part(fixtures, needed, alias, exercise, every)
        text, names = without_runtime_imports(fixtures, chosen)
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
            path = transformer_kit.CONTENT / INLINED[node.module] / f"{alias.name}.py"
            yield alias.asname or alias.name, node.module, path


def _public_part(
    fixtures: Sequence[Chunk],
    needed: Sequence[Chunk],
    alias: str,
    exercise: meta.Exercise,
    shown: set[str],
) -> Sequence[Chunk]:
    """What the notebook shows of an inlined fixtures module: what the visible tests read of it,
    or all of it when they read it by computed names (`getattr(fixtures, ...)`) and every test
    that reads it is visible (then it holds no hidden test's answer)."""
    try:
        return closure(fixtures, _attributes_read(needed, alias, exercise))
    except ExportError:
        readers = {
            n for n, node in _test_functions(exercise.grader).items() if _reads(node, {alias})
        }
        if readers <= shown:
            return fixtures
        raise


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
