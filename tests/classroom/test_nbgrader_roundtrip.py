"""A real nbgrader round trip: `kit nbgrader export`, `nbgrader generate_assignment`, submissions
made from the released notebooks, `nbgrader autograde`, and the gradebook's scores against
`kit check --json` on the same code, test by test.

The submissions fill the released notebooks' solution cells with: the source notebook's solution
cells (the reference), the same with printing and warnings everywhere, the stubs, the untouched
release, and known-wrong versions from tests/catalogue. The kit's score of a submission is
`kit check --json` on a module made of the notebook's code cells above the tests.
"""

from __future__ import annotations

import copy
import importlib
import importlib.util
import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from catalogue import Variant
from click.testing import CliRunner
from support import EXERCISES, kit_executable, solution_source
from test_nbgrader_export import kind, spread, text

from transformer_kit.classroom.nbgrader import grader_source, notebooks
from transformer_kit.classroom.nbgrader.answers import answers as exercise_answers
from transformer_kit.cli.nbgrader import nbgrader

api = pytest.importorskip(
    "nbgrader.api", reason="nbgrader is not installed: pip install '.[classroom]' to run this"
)

ASSIGNMENT = "ps1"
WRONG_PER_EXERCISE = 1  # per exercise; the catalogue's are all graded in test_catalogue
TIMEOUT = 1800  # seconds for the whole autograde step
TOLERANCE = 1e-6
EXERCISES_BY_NAME = {e.name: e for e in EXERCISES}
# Wraps every function the learner defined so that each call prints, warns and writes to stderr
# (through sys.stderr and through file descriptor 2) before doing its work.
NOISE = """

import functools as _functools
import os as _os
import sys as _sys
import warnings as _warnings


def _noisy(function):
    @_functools.wraps(function)
    def noisy(*args, **kwargs):
        print("debugging", function.__name__, args)
        print("a message on stderr", file=_sys.stderr)
        _os.write(2, b"a write to file descriptor 2\\n")
        _warnings.warn("a warning from the learner's code", stacklevel=1)
        return function(*args, **kwargs)

    return noisy


_made_noisy = 0
for _name, _value in list(globals().items()):
    if callable(_value) and getattr(_value, "__module__", "") == __name__ and _name[0] != "_":
        globals()[_name] = _noisy(_value)
        _made_noisy += 1
print(f"made {_made_noisy} functions noisy")
"""


@dataclass
class RoundTrip:
    course: Path
    release: dict[str, dict[str, Any]]  # exercise -> released notebook
    kit: dict[str, dict[str, Any]]  # student -> `kit check --json`
    gradebook: dict[str, dict[str, Any]]  # student -> exercise -> {score, max_score, grades}


def solution_cells(notebook: dict[str, Any]) -> list[dict[str, Any]]:
    return [cell for cell in notebook["cells"] if kind(cell) == "solution"]


def with_solutions(release: dict[str, Any], sources: list[str]) -> dict[str, Any]:
    notebook = copy.deepcopy(release)
    cells = solution_cells(notebook)
    assert len(cells) == len(sources)
    for cell, written in zip(cells, sources, strict=True):
        cell["source"] = written.strip("\n").splitlines(keepends=True) or ["# (written above)\n"]
    return notebook


def reference_cells(source_notebook: dict[str, Any]) -> list[str]:
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    return [
        "".join(line for line in cell["source"] if line.strip() not in markers)
        for cell in solution_cells(source_notebook)
    ]


def as_module(notebook: dict[str, Any]) -> str:
    """The code a submission runs before its tests, as one module for `kit check`."""
    above = []
    for cell in notebook["cells"]:
        if kind(cell) in ("setup", "test"):
            break
        if cell["cell_type"] == "code":
            above.append(text(cell))
    return "\n\n".join(above) + "\n"


def wrong_variants(name: str) -> list[Variant]:
    variants = importlib.import_module(f"catalogue.{name}").VARIANTS
    wrong = [v for v in variants if not v.passes and "torch" not in v.code]
    return wrong[:: max(1, len(wrong) // WRONG_PER_EXERCISE)][:WRONG_PER_EXERCISE]


def submissions(
    release: dict[str, Any], source_notebook: dict[str, Any], name: str
) -> dict[str, dict[str, Any]]:
    """student -> submitted notebook for one exercise."""
    solved = reference_cells(source_notebook)
    noisy = [*solved[:-1], solved[-1] + NOISE]
    stub = EXERCISES_BY_NAME[name].stub.read_text(encoding="utf-8")
    made = {
        "solved": with_solutions(release, solved),
        "noisy": with_solutions(release, noisy),
        "stubs": with_solutions(release, spread(stub, release, name)),
    }
    for number, variant in enumerate(wrong_variants(name), 1):
        module = variant.source(solution_source(name))
        made[f"wrong{number}"] = with_solutions(release, spread(module, release, name))
    return made


def environment(root: Path) -> dict[str, str]:
    """nbgrader and its kernels in this Python, away from the user's Jupyter and IPython setup."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("JUPYTER", "IPYTHON"))}
    env |= {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}",
        "JUPYTER_CONFIG_DIR": str(root / "jupyter-config"),
        "JUPYTER_DATA_DIR": str(root / "jupyter-data"),
        "IPYTHONDIR": str(root / "ipython"),
        "OPENBLAS_NUM_THREADS": "1",
        "OMP_NUM_THREADS": "1",
        "PYTHONHASHSEED": "0",
    }
    return env


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        command, cwd=cwd, env=env, capture_output=True, text=True, timeout=TIMEOUT
    )
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"
    return done


def read_gradebook(course: Path, students: list[str]) -> dict[str, dict[str, Any]]:
    scores: dict[str, dict[str, Any]] = {}
    with api.Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:
        for student in students:
            submission = gradebook.find_submission(ASSIGNMENT, student)
            scores[student] = {
                notebook.name: {
                    "score": notebook.score,
                    "max_score": notebook.max_score,
                    "grades": {g.name: (g.score, g.max_score) for g in notebook.grades},
                }
                for notebook in submission.notebooks
            }
    return scores


def kit_check(workspace: Path) -> dict[str, Any]:
    done = subprocess.run(
        [kit_executable(), "check", "--json", "--workspace", str(workspace)],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode in (0, 1), done.stderr
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def round_trip(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RoundTrip]:
    root = tmp_path_factory.mktemp("nbgrader")
    course = root / "course"
    env = environment(root)
    run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3"], root, env)
    exported = CliRunner().invoke(
        nbgrader, ["export", str(course), "--assignment", ASSIGNMENT], catch_exceptions=False
    )
    assert exported.exit_code == 0, exported.output
    run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT], course, env)
    release, modules = {}, {}
    for exercise in EXERCISES:
        file = f"{ASSIGNMENT}/{exercise.name}.ipynb"
        release[exercise.name] = json.loads((course / "release" / file).read_text("utf-8"))
        source_notebook = json.loads((course / "source" / file).read_text("utf-8"))
        made = submissions(release[exercise.name], source_notebook, exercise.name)
        for student, notebook in made.items():
            target = course / "submitted" / student / file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(notebook, indent=1), encoding="utf-8")
            modules.setdefault(student, {})[exercise.name] = as_module(notebook)
    started = time.perf_counter()
    run([sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT], course, env)
    seconds = time.perf_counter() - started
    kit = {}
    for student, files in modules.items():
        workspace = root / "workspaces" / student
        (workspace / "exercises").mkdir(parents=True)
        for name, module in files.items():
            (workspace / "exercises" / f"{name}.py").write_text(module, encoding="utf-8")
        kit[student] = kit_check(workspace)
    notebooks = sum(len(files) for files in modules.values())
    print(f"\nnbgrader autograde: {notebooks} notebooks in {seconds:.1f} s (shown with -s)")
    yield RoundTrip(course, release, kit, read_gradebook(course, list(modules)))


def module_text(module: str) -> str:
    spec = importlib.util.find_spec(module)
    assert spec is not None and spec.origin is not None, module
    return Path(spec.origin).read_text(encoding="utf-8")


def hidden_only_lines(exercise: Any) -> set[str]:
    """Lines of the hidden tests and the reference that appear nowhere public."""
    tests = grader_source.graded_tests([exercise])[exercise.name]
    parts = grader_source.grader_parts(exercise, [t.function for t in tests if t.visible])
    hidden = [*parts.hidden_modules.values(), parts.hidden_grader]
    setup, answers = exercise_answers(exercise)
    public = [*parts.public_modules.values(), parts.public_grader, setup]
    public += [module_text(module) for module in grader_source.RUNTIME]
    public.append(exercise.stub.read_text(encoding="utf-8"))
    hidden += [answer.source for answer in answers]
    known = {line.strip() for text in public for line in text.splitlines()}
    return {
        line.strip()
        for text in hidden
        for line in text.splitlines()
        if len(line.strip()) >= 12 and line.strip() not in known
    }


def test_released_notebooks_hide_solutions_and_hidden_tests(round_trip: RoundTrip) -> None:
    for exercise in EXERCISES:
        cells = round_trip.release[exercise.name]["cells"]
        released = "\n".join(text(cell) for cell in cells)
        for marker in notebooks.MARKERS:
            assert marker not in released, f"{exercise.name}: {marker} left in the release"
        assert "load_module('reference'" not in released and "graded=True" not in released
        lines = {line.strip() for line in released.splitlines()}
        leaked = sorted(hidden_only_lines(exercise) & lines)
        assert not leaked, f"{exercise.name}: the release shows hidden lines: {leaked[:5]}"


def test_reference_scores_full_marks_and_stubs_zero(round_trip: RoundTrip) -> None:
    for exercise in EXERCISES:
        for student in ("solved", "noisy"):
            graded = round_trip.gradebook[student][exercise.name]
            assert graded["score"] == pytest.approx(exercise.points, abs=TOLERANCE), student
            assert graded["max_score"] == pytest.approx(exercise.points, abs=TOLERANCE)
        assert round_trip.gradebook["stubs"][exercise.name]["score"] == 0


def test_printing_and_warning_code_was_really_noisy(round_trip: RoundTrip) -> None:
    for exercise in EXERCISES:
        if exercise.name == "warmups":
            continue  # no functions to wrap
        file = round_trip.course / "autograded" / "noisy" / ASSIGNMENT / f"{exercise.name}.ipynb"
        outputs = [
            o for c in json.loads(file.read_text("utf-8"))["cells"] for o in c.get("outputs", [])
        ]
        printed = "".join("".join(o.get("text", "")) for o in outputs)
        assert "made 0 " not in printed and "functions noisy" in printed, exercise.name


def test_nbgrader_scores_equal_kit_check_test_by_test(round_trip: RoundTrip) -> None:
    tests = grader_source.graded_tests(EXERCISES)
    for student, document in round_trip.kit.items():
        for result in document["exercises"]:
            name = result["name"]
            graded = round_trip.gradebook[student][name]
            assert graded["score"] == pytest.approx(result["score"], abs=TOLERANCE), (student, name)
            by_name = {t["name"]: t for t in result["tests"]}
            for test in tests[name]:
                score, max_score = graded["grades"][test.grade_id(name)]
                assert max_score == pytest.approx(by_name[test.name]["max_score"], abs=TOLERANCE)
                passed = score == pytest.approx(max_score, abs=TOLERANCE) and max_score > 0
                assert passed == by_name[test.name]["passed"], (student, name, test.name)


def test_wrong_versions_lose_points(round_trip: RoundTrip) -> None:
    for exercise in EXERCISES:
        for student in round_trip.gradebook:
            if student.startswith("wrong"):
                assert round_trip.gradebook[student][exercise.name]["score"] < exercise.points
