"""nbgrader submissions graded in the kit's sandbox: `kit nbgrader autograde`.

Each student's notebooks are read into a `batch.Submission` (submitted.py); the batch engine
grades them as `kit grade` does, sandboxed; and each autograded test cell's score goes into the
course's gradebook through nbgrader's own API, with an autograded notebook per submission (the
test cells' outputs are the kit's messages), so that `nbgrader export` and `nbgrader
generate_feedback` work as after `nbgrader autograde`. A student the kit could not read, grade or
write is that student's error; every other student is graded.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformer_kit import catalog as meta
from transformer_kit.classroom.nbgrader.course import (
    Course,
    Expected,
    SourceCell,
    expected_notebooks,
)
from transformer_kit.classroom.nbgrader.export import CourseError
from transformer_kit.classroom.nbgrader.submitted import (
    Extracted,
    cell_grade_id,
    cell_text,
    extract,
)
from transformer_kit.results import ResultsError, TestResult
from transformer_kit.untrusted import clean

if TYPE_CHECKING:
    from transformer_kit.batch.executors import Executor
    from transformer_kit.sandbox.isolation import Level

RESULTS_FOLDER = "kit_grades"  # COURSE_DIR/kit_grades/<assignment>/: the batch engine's files


# --- the gradebook ------------------------------------------------------------------------------


def cell_scores(
    notebook: Expected, document: Mapping[str, Any], missing: frozenset[str]
) -> dict[str, tuple[float, str]]:
    """grade_id -> (score, the kit's message) for every grade cell of the notebook."""
    results = {e["name"]: e for e in document.get("exercises", [])}
    tests = {t["name"]: t for t in results.get(notebook.name, {}).get("tests", [])}
    scores = {}
    for test in notebook.tests:
        grade_id = test.grade_id(notebook.name)
        result = tests.get(test.name)
        if grade_id in missing or result is None:
            scores[grade_id] = (0.0, "this test cell is missing from your notebook")
            continue
        message = "" if result["passed"] else _shown(result, test.visible)
        scores[grade_id] = (_share(notebook.cells[grade_id], result), message)
    for grade_id, cell in notebook.cells.items():
        if cell.points is not None and grade_id not in scores:
            scores[grade_id] = (0.0, "")  # the grader setup cell, worth 0
    return scores


def _share(cell: SourceCell, result: Mapping[str, Any]) -> float:
    """The test's score on the cell's own points (the JSON rounds scores to a few digits, so a
    passed test gets exactly its cell's points and the cells add up to the notebook's)."""
    points = cell.points or 0.0
    if result["passed"]:
        return points
    maximum = float(result["max_score"])
    return points * float(result["score"]) / maximum if maximum > 0 else 0.0


def _shown(result: Mapping[str, Any], visible: bool) -> str:
    """A hidden test's message shows only its summary and likely mistake, as in the notebook
    (from the result's labelled fields: text the learner's code wrote is never taken for one)."""
    try:
        return TestResult.from_json(result).shown(hidden=not visible)
    except ResultsError:
        return "the kit's result for this test cannot be read: grade the notebook again"


def record(
    course: Course,
    assignment: str,
    student: str,
    scores: Mapping[str, Mapping[str, tuple[float, str]]],
    timestamp: datetime | None,
) -> None:
    """Write one student's scores (exercise -> grade_id -> score) into the gradebook."""
    with course.gradebook() as gradebook:
        gradebook.update_or_create_student(student)
        extra = {"timestamp": timestamp} if timestamp else {}
        gradebook.update_or_create_submission(assignment, student, **extra)
        for name, cells in scores.items():
            for grade_id, (score, _) in cells.items():
                grade = gradebook.find_grade(grade_id, name, assignment, student)
                grade.auto_score = score
                grade.needs_manual_grade = grade.manual_score is not None
        gradebook.db.commit()


def write_autograded(
    course: Course,
    assignment: str,
    student: str,
    notebook: Expected,
    node: Any,
    scores: Mapping[str, tuple[float, str]],
) -> Path:
    """autograded/<student>/<assignment>/<name>.ipynb: the submission with nbgrader's records of
    its cells, the kit's message as each test cell's output, and no cell nbgrader does not know
    (what `nbgrader generate_feedback` reads)."""
    import nbformat
    from nbformat import v4

    cells = []
    seen: set[str] = set()
    for cell in node.get("cells", []):
        grade_id = cell_grade_id(cell)
        record = notebook.cells.get(grade_id or "")
        if record is None or grade_id in seen:
            cell.get("metadata", {}).pop("nbgrader", None)
            cells.append(cell)
            continue
        seen.add(record.name)
        cells.append(_as_recorded(cell, record, scores.get(record.name)))
    node["cells"] = cells
    target = course.autograded(student, assignment) / f"{notebook.name}.ipynb"
    target.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(v4.upgrade(node) if node.get("nbformat", 4) != 4 else node, str(target))
    return target


def _as_recorded(cell: Any, record: SourceCell, score: tuple[float, str] | None) -> Any:
    from nbformat import v4

    data = {
        "grade": record.points is not None,
        "grade_id": record.name,
        "locked": record.locked,
        "schema_version": 3,
        "solution": not record.locked,
        "task": False,
        "checksum": record.checksum,
    }
    if record.points is not None:
        data["points"] = record.points
    cell.setdefault("metadata", {})["nbgrader"] = data
    if cell.get("cell_type") != record.cell_type:
        make = v4.new_code_cell if record.cell_type == "code" else v4.new_markdown_cell
        cell = make(cell_text(cell.get("source", "")), metadata=cell["metadata"])
    if record.cell_type == "code":
        cell["outputs"] = [] if score is None else [_output(*score)]
    return cell


def _output(score: float, message: str) -> Any:
    from nbformat import v4

    if not message:
        return v4.new_output("stream", name="stdout", text=f"graded by transformer-kit: {score:g}")
    return v4.new_output(
        "error", ename="AssertionError", evalue=message, traceback=message.splitlines()
    )


# --- the whole run ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Graded:
    """One student's outcome: total score, notes, and the kit's error when it could not grade."""

    student: str
    score: float
    max_score: float
    notes: tuple[str, ...]
    error: str = ""


def autograde(
    course: Course,
    assignment: str,
    students: Sequence[str],
    exercises: Sequence[meta.Exercise],
    executor: Executor,
    level: Level,
) -> tuple[list[Graded], list[str]]:
    """Grade the students' submissions of `assignment` and write the gradebook; also the names
    of the assignment's notebooks that are not kit exercises (left to nbgrader)."""
    from transformer_kit.batch import engine as batch

    expected, others = expected_notebooks(course, assignment, exercises)
    if not expected:
        raise CourseError(
            f"the assignment '{assignment}' has no notebook of a kit exercise: export it with "
            "`kit nbgrader export` and run `nbgrader generate_assignment` again"
        )
    extracted = [extract(course, assignment, s, expected) for s in students]
    out = course.root / RESULTS_FOLDER / assignment
    outcome = batch.grade(
        [e.submission for e in extracted], [n.exercise for n in expected], out, executor, level
    )
    graded = []
    for student, taken in zip(students, extracted, strict=True):
        document = outcome.results[taken.submission.student]
        error = str(document.get("error", ""))
        if not error:
            try:
                graded.append(_write(course, assignment, student, expected, taken, document))
                continue
            except Exception as crash:  # the kit's own failure: this student's, not the class's
                error = clean(f"the kit could not write the grades: {type(crash).__name__}: "
                                  f"{crash}")  # fmt: skip
        graded.append(Graded(taken.submission.student, 0.0, 0.0, taken.submission.notes, error))
    return graded, others


def _write(
    course: Course,
    assignment: str,
    student: str,
    expected: Sequence[Expected],
    taken: Extracted,
    document: Mapping[str, Any],
) -> Graded:
    """One student's autograded notebooks, then their scores in the gradebook."""
    scores = {
        n.name: cell_scores(n, document, taken.missing_tests.get(n.name, frozenset()))
        for n in expected
    }
    for notebook in expected:
        if notebook.name in taken.notebooks:
            node = taken.notebooks[notebook.name]
            write_autograded(course, assignment, student, notebook, node, scores[notebook.name])
    record(course, assignment, student, scores, taken.timestamp)
    total = sum(score for cells in scores.values() for score, _ in cells.values())
    maximum = sum(n.exercise.points for n in expected)
    return Graded(taken.submission.student, total, maximum, taken.submission.notes)
