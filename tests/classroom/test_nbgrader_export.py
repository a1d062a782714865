"""The nbgrader export without nbgrader: notebook structure and metadata, points, markers, the
runner inside the notebook, and the `kit nbgrader export` command (tests/test_nbgrader_roundtrip.py
runs the real nbgrader)."""

from __future__ import annotations
import __future__

import importlib
import json
import re
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import nbformat
import pytest
from click.testing import CliRunner
from support import EXERCISES, solution_source

from transformer_kit import check as grading
from transformer_kit.catalog import Exercise
from transformer_kit.classroom.nbgrader import export as classroom
from transformer_kit.classroom.nbgrader import grader_source, sources
from transformer_kit.classroom.nbgrader import notebooks as building
from transformer_kit.classroom.nbgrader import runtime as notebook_runtime
from transformer_kit.cli.nbgrader import nbgrader

GRADE_ID = re.compile(r"^[a-zA-Z0-9_\-]+$")  # nbgrader's schema 3
CELL_ID = re.compile(r"^[a-zA-Z0-9_\-]{1,64}$")  # nbformat 4.5

pytestmark = pytest.mark.usefixtures("isolated_environment")


@pytest.fixture(scope="module")
def tests() -> dict[str, tuple[grader_source.GradedTest, ...]]:
    return grader_source.graded_tests(EXERCISES)


@pytest.fixture(scope="module")
def notebooks(tests: dict[str, tuple[grader_source.GradedTest, ...]]) -> dict[str, dict[str, Any]]:
    return {e.name: building.notebook(e, tests[e.name]) for e in EXERCISES}


def nbgrader_data(cell: dict[str, Any]) -> dict[str, Any]:
    return cell["metadata"]["nbgrader"]


def text(cell: dict[str, Any]) -> str:
    return "".join(cell["source"])


def kind(cell: dict[str, Any]) -> str:
    """solution, test, setup or other."""
    data = nbgrader_data(cell)
    if data["solution"]:
        return "solution"
    if data["grade"]:
        return "setup" if data["grade_id"].endswith("-grader-setup") else "test"
    return "other"


def cleared(source: str) -> str:
    """A solution cell as nbgrader generate_assignment releases it."""
    lines, inside = [], False
    for line in source.splitlines():
        if "BEGIN SOLUTION" in line:
            inside = True
            lines += [line.replace("### BEGIN SOLUTION", "raise NotImplementedError()")]
        elif "END SOLUTION" in line:
            inside = False
        elif not inside:
            lines.append(line)
    return "\n".join(lines)


def run_cells(notebook: dict[str, Any], solutions: list[str] | None = None) -> dict[str, bool]:
    """Every code cell in order, in one namespace, as a kernel would (IPython keeps the imports
    cell's `from __future__ import annotations` for the cells after it): grade_id -> passed for
    the test cells. `solutions` replaces the solution cells' sources."""
    flags = __future__.annotations.compiler_flag
    namespace: dict[str, Any] = {"__name__": "__main__"}
    replacements = iter(solutions) if solutions is not None else None
    passed = {}
    for cell in notebook["cells"]:
        if cell["cell_type"] != "code":
            continue
        source = text(cell)
        if kind(cell) == "solution" and replacements is not None:
            source = next(replacements)
        try:
            exec(compile(source, nbgrader_data(cell)["grade_id"], "exec", flags), namespace)
        except Exception:
            ok = False
        else:
            ok = True
        if kind(cell) == "test":
            passed[nbgrader_data(cell)["grade_id"]] = ok
    return passed


def spread(module: str, notebook: dict[str, Any], name: str) -> list[str]:
    """A module's statements over the solution cells, each in the cell of the stub's name it
    defines (the statements after it follow in the same cell), so that running the cells runs
    the module in its order. `from __future__` imports are left to the imports cell."""
    cells = [c for c in notebook["cells"] if kind(c) == "solution"]
    prefix = f"{name}-solution-"
    where = {nbgrader_data(c)["grade_id"].removeprefix(prefix): i for i, c in enumerate(cells)}
    parts: list[list[str]] = [[] for _ in cells]
    current = 0
    for chunk in sources.chunks(module):
        if not chunk.is_future:
            current = max([current, *(where[n] for n in chunk.names if n in where)])
            parts[current].append(chunk.text)
    return ["".join(part) for part in parts]


# --- structure and metadata ---------------------------------------------------------------------


def test_test_cells_are_kit_checks_tests_with_the_same_points(
    notebooks: dict[str, dict[str, Any]], solved_workspace: Path
) -> None:
    checked = grading.check(solved_workspace, EXERCISES)
    for exercise, result in zip(EXERCISES, checked.exercises, strict=True):
        cells = [c for c in notebooks[exercise.name]["cells"] if kind(c) == "test"]
        names = [text(c).splitlines()[0] for c in cells]
        expected = [f"# {t.name} (" for t in result.tests]
        assert [n[: len(e)] for n, e in zip(names, expected, strict=True)] == expected
        points = [nbgrader_data(c)["points"] for c in cells]
        assert points == pytest.approx([t.max_score for t in result.tests], abs=1e-6)
        assert sum(points) == pytest.approx(exercise.points, abs=1e-6)


def test_metadata_follows_nbgrader_schema_3(notebooks: dict[str, dict[str, Any]]) -> None:
    for name, notebook in notebooks.items():
        assert (notebook["nbformat"], notebook["nbformat_minor"]) == (4, 5)
        assert notebook["metadata"]["kernelspec"]["name"] == "python3"
        cells = notebook["cells"]
        assert len({c["id"] for c in cells}) == len(cells)
        grade_ids = [nbgrader_data(c)["grade_id"] for c in cells]
        assert len(set(grade_ids)) == len(grade_ids), name
        for cell, grade_id in zip(cells, grade_ids, strict=True):
            data = nbgrader_data(cell)
            assert CELL_ID.match(cell["id"]) and GRADE_ID.match(grade_id), grade_id
            assert grade_id.startswith(f"{name}-") and data["schema_version"] == 3
            assert data["grade"] == ("points" in data)
            assert data["locked"] != data["solution"]
            if cell["cell_type"] == "code":
                assert cell["outputs"] == [] and cell["execution_count"] is None
        kinds = [kind(c) for c in cells]
        assert kinds.count("setup") == 1 and kinds.index("setup") > max(
            i for i, k in enumerate(kinds) if k == "solution"
        )


def test_metadata_passes_nbgrader_and_nbformat_validation(
    notebooks: dict[str, dict[str, Any]],
) -> None:
    nbformat = pytest.importorskip("nbformat", reason="nbformat comes with the classroom extra")
    validator = pytest.importorskip("nbgrader.nbgraderformat").MetadataValidator()
    for notebook in notebooks.values():
        node = nbformat.from_dict(json.loads(building.notebook_text(notebook)))
        nbformat.validate(node)
        validator.validate_nb(node)


def test_solution_cells_keep_the_stub_and_mark_only_the_reference(
    notebooks: dict[str, dict[str, Any]],
) -> None:
    for exercise in EXERCISES:
        stub = exercise.stub.read_text(encoding="utf-8")
        for cell in notebooks[exercise.name]["cells"]:
            source = text(cell)
            if kind(cell) != "solution":
                assert "SOLUTION" not in source
                continue
            assert source.count("### BEGIN SOLUTION") == source.count("### END SOLUTION") >= 1
            compile(source, "source", "exec")
            compile(cleared(source), "released", "exec")
            outside = [line for line in cleared(source).splitlines() if line.strip()]
            missing = [
                line for line in outside if line not in stub and "NotImplemented" not in line
            ]
            assert not missing, f"{exercise.name}: not from the stub: {missing}"


def test_one_hidden_region_per_notebook_in_the_grader_setup(
    notebooks: dict[str, dict[str, Any]],
) -> None:
    """nbgrader restores a hidden region by overwriting its cell and warns that the cell's
    checksum changed (jupyter/nbgrader#1961): one region per notebook, one warning."""
    for notebook in notebooks.values():
        for cell in notebook["cells"]:
            source = text(cell)
            regions = source.count("### BEGIN HIDDEN TESTS")
            assert regions == source.count("### END HIDDEN TESTS")
            assert regions == int(kind(cell) == "setup")


def test_every_code_cell_compiles(notebooks: dict[str, dict[str, Any]]) -> None:
    for name, notebook in notebooks.items():
        for cell in notebook["cells"]:
            if cell["cell_type"] == "code":
                compile(text(cell), f"{name} {nbgrader_data(cell)['grade_id']}", "exec")


def test_visible_tests_get_a_part_of_the_grader_and_fixtures() -> None:
    for exercise in EXERCISES:
        visible = grader_source.visible_tests(exercise)
        parts = grader_source.grader_parts(exercise, visible)
        compile(parts.public_grader, "public grader", "exec")
        for name in visible:
            assert f"def {name}(" in parts.public_grader
        hidden = set(re.findall(r"^def (test\w*)\(", parts.hidden_grader, re.M)) - set(visible)
        assert hidden and not [n for n in hidden if f"def {n}(" in parts.public_grader]
        for alias, public in parts.public_modules.items():
            hidden = parts.hidden_modules[alias].splitlines()
            assert set(public.splitlines()) <= set(hidden)  # all of it: read by getattr


def _reads_fixtures(exercise: Exercise, test: str) -> bool:
    """Whether the test function's own text (decorators included) names the fixtures alias of
    its grader's `from transformer_kit.graders.fixtures import X as ALIAS` line."""
    text = exercise.grader.read_text(encoding="utf-8")
    match = re.search(r"^from transformer_kit\.graders\.fixtures import \w+ as (\w+)$", text, re.M)
    if match is None:
        return False
    blocks = re.split(r"\n(?=@|def |class |[A-Z_]+ = )", text)
    start = next(i for i, b in enumerate(blocks) if b.startswith(f"def {test}("))
    while start > 0 and blocks[start - 1].startswith("@"):
        start -= 1
    body = "".join(
        blocks[
            start : next(i for i in range(start, len(blocks)) if blocks[i].startswith("def ")) + 1
        ]
    )
    return re.search(rf"\b{match[1]}\b", body) is not None


def test_hand_visibility_shows_the_tests_that_read_the_hand_fixtures(
    tests: dict[str, tuple[grader_source.GradedTest, ...]],
) -> None:
    """The default (--visible hand): a notebook shows each test that reads the hand-computed
    fixtures and can run with numpy alone; the graders' old marks stay out of the notebook."""
    by_name = {e.name: e for e in EXERCISES}
    for exercise in EXERCISES:
        shown = {t.function for t in tests[exercise.name] if t.visible}
        assert all(_reads_fixtures(exercise, name) for name in shown), (exercise.name, shown)
        assert "mark.visible" not in grader_source.grader_source(exercise.grader)
    # read off the graders: the three that take fixtures.SOFTMAX_* and fixtures.CAUSAL_MASK_3
    assert grader_source.visible_tests(by_name["attention"]) == (
        "test_softmax_hand", "test_softmax_stable", "test_causal_mask_hand",
    )  # fmt: skip
    # getattr(fixtures, ...) in all four: their whole fixtures module is public
    assert len(grader_source.visible_tests(by_name["backprop"])) == 4
    assert grader_source.visible_tests(by_name["warmups"]) == ()  # SHOW_ANSWERS = False
    assert {t.function for t in tests["momentum_sgd"] if t.visible} == {"test_sgd_step_hand"}


def test_visible_all_none_and_named(tmp_path: Path) -> None:
    (attention,) = [e for e in EXERCISES if e.name == "attention"]
    hand = set(grader_source.visible_tests(attention))
    everything = set(grader_source.visible_tests(attention, "all"))
    assert hand < everything  # e.g. the shape checks, which read no fixture
    assert "test_mha_shapes" in everything - hand
    assert grader_source.visible_tests(attention, "none") == ()
    named = frozenset({"test_mha_shapes", "test_sgd_step_hand"})  # one of each exercise
    assert grader_source.visible_tests(attention, named) == ("test_mha_shapes",)
    runner = CliRunner()
    bad = runner.invoke(nbgrader, ["export", str(tmp_path / "c"), "attention", "--visible", "nope"])
    assert bad.exit_code == 2 and "nope is not one of them" in bad.output
    done = runner.invoke(
        nbgrader, ["export", str(tmp_path / "c"), "attention", "--visible", "none"]
    )
    assert done.exit_code == 0, done.output
    assert "all hidden" in done.output


def test_a_visible_mark_with_arguments_is_refused(tmp_path: Path) -> None:
    (exercise,) = [e for e in EXERCISES if e.name == "momentum_sgd"]
    grader = tmp_path / "test_momentum_sgd.py"
    text = exercise.grader.read_text(encoding="utf-8")
    grader.write_text(text.replace("@pytest.mark.visible\n", "@pytest.mark.visible(1)\n", 1))
    with pytest.raises(sources.ExportError, match="without arguments"):
        grader_source.grader_source(grader)  # the notebook's copy leaves the marks out


def test_a_visible_test_that_reads_the_reference_is_refused() -> None:
    (exercise,) = [e for e in EXERCISES if e.name == "momentum_sgd"]
    with pytest.raises(sources.ExportError, match="reference solution"):
        grader_source.grader_parts(exercise, ["test_fit_line_hand"])


# --- running the notebook's cells ---------------------------------------------------------------


def test_the_source_notebook_passes_and_the_release_fails(
    notebooks: dict[str, dict[str, Any]],
) -> None:
    for name, notebook in notebooks.items():
        assert all(run_cells(notebook).values()), name
        solutions = [cleared(text(c)) for c in notebook["cells"] if kind(c) == "solution"]
        assert not any(run_cells(notebook, solutions).values()), name


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.name for e in EXERCISES])
def test_a_wrong_version_fails_the_same_tests_as_in_kit_check(
    exercise: Exercise,
    notebooks: dict[str, dict[str, Any]],
    tests: dict[str, tuple[grader_source.GradedTest, ...]],
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    variants = importlib.import_module(f"catalogue.{exercise.name}").VARIANTS
    variant = next(v for v in variants if not v.passes)
    module = variant.source(solution_source(exercise.name))
    (result,) = grading.check(make_workspace({exercise.name: module}), [exercise]).exercises
    notebook = notebooks[exercise.name]
    passed = run_cells(notebook, spread(module, notebook, exercise.name))
    by_name = {t.name: t.passed for t in result.tests}
    assert not all(by_name.values())
    assert {t.name: passed[t.grade_id(exercise.name)] for t in tests[exercise.name]} == by_name


# --- the runner inside a notebook -----------------------------------------------------------------


def momentum_grader(learner: dict[str, Any]) -> notebook_runtime.NotebookGrader:
    (exercise,) = [e for e in EXERCISES if e.name == "momentum_sgd"]
    parts = grader_source.grader_parts(exercise, [])
    grader = notebook_runtime.NotebookGrader("momentum_sgd", learner, graded=True)
    for alias, source in parts.hidden_modules.items():
        grader.load_module(alias, source)
    grader.load_grader(parts.hidden_grader)
    return grader


def ema_step(w: Any, grad: Any, velocity: Any, lr: float, momentum: float) -> tuple[Any, Any]:
    v_new = momentum * velocity + (1 - momentum) * grad
    return w - lr * v_new, v_new


def test_hidden_failures_name_the_mistake_but_not_the_expected_values() -> None:
    grader = momentum_grader({"sgd_momentum_step": ema_step})
    with pytest.raises(AssertionError) as hidden:
        grader.check("test_momentum_step_hand", hidden=True)
    message = str(hidden.value)
    assert message.startswith("the w_new (first result) is wrong")
    assert "likely mistake: the EMA form" in message
    for label in ("expected", "got:", "differs most", "called"):
        assert label not in message
    assert "0.471" not in message  # the hidden expected w_new
    with pytest.raises(AssertionError) as visible:
        grader.check("test_momentum_step_hand")
    assert "expected: 0.471" in str(visible.value) and "likely mistake" in str(visible.value)


def test_parametrized_cases_get_their_arguments() -> None:
    grader = momentum_grader({"sgd_step": lambda w, grad, lr: w - lr * grad})
    for case in range(3):
        grader.check("test_sgd_step_random", case, hidden=True)
    with pytest.raises(IndexError):
        grader.check("test_sgd_step_random", 3, hidden=True)


def test_a_missing_function_or_an_unknown_test_fails_clearly() -> None:
    grader = momentum_grader({})
    with pytest.raises(AssertionError, match="does not define `sgd_step`"):
        grader.check("test_sgd_step_hand")
    with pytest.raises(AssertionError, match="run the grader setup cell first"):
        grader.check("test_nothing")


def test_printing_warning_and_exiting_learner_code(capfd: pytest.CaptureFixture[str]) -> None:
    import os
    import sys

    def noisy_step(w: Any, grad: Any, lr: float) -> Any:
        print("debugging", w)
        print("on stderr", file=sys.stderr)
        os.write(1, b"fd 1\n")
        os.write(2, b"fd 2\n")
        warnings.warn("careful", stacklevel=1)
        return w - lr * grad

    def exiting_step(w: Any, grad: Any, lr: float) -> Any:
        sys.exit(0)

    momentum_grader({"sgd_step": noisy_step}).check("test_sgd_step_hand")
    with pytest.raises(AssertionError, match="your code exited"):
        momentum_grader({"sgd_step": exiting_step}).check("test_sgd_step_hand")
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


# --- the command --------------------------------------------------------------------------------


def export(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(nbgrader, ["export", *args], catch_exceptions=False)
    return result.exit_code, result.output


def test_export_writes_the_course_and_keeps_instructor_edits(tmp_path: Path) -> None:
    course = tmp_path / "course"
    code, out = export(str(course), "mom", "att", "--assignment", "week1")
    assert code == 0, out
    folder = course / "source" / "week1"
    assert sorted(p.name for p in folder.iterdir()) == ["attention.ipynb", "momentum_sgd.ipynb"]
    assert "Exported 2 notebooks (16 points)" in out and "Created" in out
    for written in folder.iterdir():
        nbformat.validate(nbformat.read(written, as_version=4))
    config = course / classroom.CONFIG_FILE
    compile(config.read_text(), str(config), "exec")
    notebook = folder / "attention.ipynb"
    assert export(str(course), "att", "--assignment", "week1")[0] == 0  # unchanged: fine
    notebook.write_text(notebook.read_text().replace("Scaled", "Scaled (edited)"))
    config.write_text("c = get_config()  # mine\n")
    edited = notebook.read_text()
    code, out = export(str(course), "att", "--assignment", "week1")
    assert code == 2 and "--force" in out and str(notebook) in out
    assert notebook.read_text() == edited
    code, out = export(str(course), "att", "--assignment", "week1", "--force")
    assert code == 0 and "Kept the existing" in out
    assert "(edited)" not in notebook.read_text()
    assert config.read_text() == "c = get_config()  # mine\n"


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["--assignment", "week 1"], "cannot be an assignment name"),
        (["--assignment", "a+b"], "cannot be an assignment name"),
        (["atention"], "did you mean attention"),
    ],
)
def test_export_usage_errors(tmp_path: Path, args: list[str], phrase: str) -> None:
    code, out = export(str(tmp_path / "course"), *args)
    assert code == 2 and phrase in out
    assert not (tmp_path / "course").exists()


def test_export_says_how_to_get_nbgrader_when_it_is_missing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(
        importlib.util, "find_spec", lambda name, *a: None if name == "nbgrader" else real(name, *a)
    )
    code, out = export(str(tmp_path / "course"), "warm")
    assert code == 0 and classroom.INSTALL in out and "all hidden" in out


def test_export_errors_say_whose_problem_it_is(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    course = tmp_path / "course"
    course.mkdir()
    (course / "source").write_text("not a folder")
    code, out = export(str(course), "warm")
    assert code == 2 and "cannot write the course" in out

    def broken(exercises: Any, visibility: Any) -> Any:
        raise sources.ExportError("graders/test_warmups.py stacks parametrize marks")

    monkeypatch.setattr(classroom, "graded_tests", broken)
    code, out = export(str(tmp_path / "other"), "warm")
    assert code == 3 and "stacks parametrize marks" in out and "pip install ." in out
