"""nbgrader submissions graded in the kit's sandbox: `kit nbgrader autograde`.

For each student, the code of every submitted notebook's solution cells (found by the `grade_id`s
`kit nbgrader export` wrote, after the imports cell nbgrader recorded) becomes that exercise's
file of a `batch.Submission`; the batch engine grades it as `kit grade` does, sandboxed; and each
autograded test cell's score goes into the course's gradebook through nbgrader's own API, with
an autograded notebook per submission (the test cells' outputs are the kit's messages), so that
`nbgrader export` and `nbgrader generate_feedback` work as after `nbgrader autograde`. Nothing in
a learner's notebook runs in this process: the notebooks are only read as JSON.

Deleted, reordered, renamed or unreadable cells and notebooks are noted for the student; what is
missing scores 0.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformer_kit import catalog as meta
from transformer_kit.classroom.nbgrader.export import (
    CONFIG_FILE,
    CourseError,
    GradedTest,
    graded_tests,
    imports_id,
    solution_ids,
)

if TYPE_CHECKING:
    from nbgrader.api import Gradebook

    from transformer_kit.batch.engine import Submission
    from transformer_kit.batch.executors import Executor
    from transformer_kit.sandbox.isolation import Level

SQLITE = "sqlite:///"
RESULTS_FOLDER = "kit_grades"  # COURSE_DIR/kit_grades/<assignment>/: the batch engine's files


@dataclass(frozen=True)
class Course:
    """A course folder as nbgrader sees it (its config read by nbgrader's own loader)."""

    root: Path
    db_url: str
    course_id: str

    def submitted(self, student: str, assignment: str) -> Path:
        return self.root / "submitted" / student / assignment

    def autograded(self, student: str, assignment: str) -> Path:
        return self.root / "autograded" / student / assignment

    @contextmanager
    def gradebook(self) -> Iterator[Gradebook]:
        """nbgrader's gradebook, without the SQLAlchemy warnings its `add_submission` raises
        about objects it builds before adding them to the session."""
        from nbgrader.api import Gradebook
        from sqlalchemy.exc import SAWarning

        with warnings.catch_warnings():
            warnings.filterwarnings("ignore", ".*not in session", SAWarning)
            with Gradebook(self.db_url, self.course_id) as gradebook:
                yield gradebook


@dataclass(frozen=True)
class Expected:
    """What `nbgrader generate_assignment` recorded of one exercise's notebook."""

    exercise: meta.Exercise
    imports: str  # the locked imports cell, as recorded (a learner's copy is not used)
    solutions: tuple[str, ...]  # grade_ids of the solution cells, in the notebook's order
    cells: dict[str, _SourceCell]  # grade_id -> nbgrader's record of the cell
    tests: tuple[GradedTest, ...]

    @property
    def name(self) -> str:
        return self.exercise.name


@dataclass(frozen=True)
class Extracted:
    """One student's submission: the files the kit grades, the notes, and the test cells
    (grade_ids) missing from each notebook, which score 0."""

    submission: Submission
    missing_tests: dict[str, frozenset[str]]  # exercise -> grade_ids
    notebooks: dict[str, Any]  # exercise -> the submitted notebook (nbformat), when readable


def open_course(root: Path) -> Course:
    """The course at `root`, with the gradebook its nbgrader_config.py names."""
    from nbgrader.coursedir import CourseDirectory
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    if not root.is_dir():
        raise CourseError(f"{root} is not a folder: give the course folder (nbgrader's root)")
    config = Config()
    if (root / CONFIG_FILE).is_file():
        try:
            config = PyFileConfigLoader(CONFIG_FILE, path=str(root)).load_config()
        except Exception as error:  # the course's own Python file: any error it raises
            raise CourseError(f"{root / CONFIG_FILE} cannot be read: {error}") from None
    coursedir = CourseDirectory(config=config)
    coursedir.root = str(root.resolve())
    database = coursedir.db_url.removeprefix(SQLITE)
    if coursedir.db_url.startswith(SQLITE) and not Path(database).is_file():
        raise CourseError(
            f"{root} has no gradebook ({database}): run `nbgrader generate_assignment` there first"
        )
    return Course(root, coursedir.db_url, coursedir.course_id)


def expected_notebooks(
    course: Course, assignment: str, exercises: Sequence[meta.Exercise]
) -> tuple[list[Expected], list[str]]:
    """The assignment's notebooks that are kit exercises, and the names of those that are not."""
    from nbgrader.api import MissingEntry

    by_name = {e.name: e for e in exercises}
    with course.gradebook() as gradebook:
        try:
            recorded = gradebook.find_assignment(assignment)
        except MissingEntry:
            raise CourseError(
                f"the gradebook of {course.root} has no assignment '{assignment}': run "
                f"`nbgrader generate_assignment {assignment}` in {course.root} first"
            ) from None
        notebooks = {n.name: n for n in recorded.notebooks}
        kit = [by_name[name] for name in notebooks if name in by_name]
        tests = graded_tests(kit) if kit else {}
        found = []
        for exercise in kit:
            record = notebooks[exercise.name]
            cells = {c.name: _SourceCell.of(c) for c in record.source_cells}
            for cell in record.grade_cells:
                cells[cell.name] = cells[cell.name].with_points(cell.max_score)
            imports = cells.get(imports_id(exercise.name))
            recorded_solutions = {c.name for c in record.solution_cells}
            exported = [i for i in solution_ids(exercise) if i in recorded_solutions]
            order = [*exported, *sorted(recorded_solutions - set(exported))]
            found.append(
                Expected(
                    exercise,
                    imports.source if imports is not None else "",
                    tuple(order),
                    cells,
                    tests[exercise.name],
                )
            )
        others = sorted(set(notebooks) - set(by_name))
    return found, others


@dataclass(frozen=True)
class _SourceCell:
    """nbgrader's record of a cell, detached from the database session."""

    name: str
    cell_type: str
    locked: bool
    source: str
    checksum: str | None
    points: float | None = None  # a grade cell's

    @classmethod
    def of(cls, cell: Any) -> _SourceCell:
        return cls(cell.name, cell.cell_type, cell.locked, cell.source or "", cell.checksum)

    def with_points(self, points: float) -> _SourceCell:
        return _SourceCell(
            self.name, self.cell_type, self.locked, self.source, self.checksum, points
        )


def submitted_students(course: Course, assignment: str, wanted: Sequence[str]) -> list[str]:
    """The students with a submitted/<student>/<assignment>/ folder (only `wanted` if given)."""
    folder = course.root / "submitted"
    present = (
        sorted(p.name for p in folder.glob("*") if (p / assignment).is_dir())
        if folder.is_dir()
        else []
    )
    if not wanted:
        if not present:
            raise CourseError(
                f"no submissions of '{assignment}' in {folder}/<student>/{assignment}/"
            )
        return present
    unknown = [s for s in wanted if s not in present]
    if unknown:
        raise CourseError(
            f"no submission of '{assignment}' for {', '.join(unknown)} "
            f"(looked for {folder}/<student>/{assignment}/)"
        )
    return list(dict.fromkeys(wanted))


def extract(
    course: Course, assignment: str, student: str, expected: Sequence[Expected]
) -> Extracted:
    """The student's submission: per exercise, the imports cell and the solution cells' code."""
    from transformer_kit.batch.engine import NOT_FOLLOWED, Submission

    folder = course.submitted(student, assignment)
    files: dict[str, bytes] = {}
    notes: list[str] = []
    missing: dict[str, frozenset[str]] = {}
    notebooks: dict[str, Any] = {}
    # submitted/<student>/<assignment> itself, or the student's folder, linked elsewhere
    linked = folder.is_symlink() or folder.parent.is_symlink()
    for notebook in expected:
        path = folder / f"{notebook.name}.ipynb"
        if linked:
            node, problem = None, f"{folder.relative_to(course.root)} is {NOT_FOLLOWED}"
        else:
            node, problem = _read(path)
        if node is None:
            notes.append(f"{problem}: every test of {notebook.name} scores 0")
            missing[notebook.name] = frozenset(_test_ids(notebook))
            continue
        notebooks[notebook.name] = node
        code, found, cell_notes = _code(node, notebook)
        files[notebook.name] = code.encode("utf-8")
        notes += [f"{notebook.name}.ipynb: {note}" for note in cell_notes]
        absent = frozenset(_test_ids(notebook)) - found
        if absent:
            notes.append(
                f"{notebook.name}.ipynb: {len(absent)} test cell(s) are missing (deleted, or their "
                f"nbgrader metadata changed), they score 0: {', '.join(sorted(absent))}"
            )
        missing[notebook.name] = absent
    return Extracted(Submission(student, files, tuple(notes)), missing, notebooks)


def _read(path: Path) -> tuple[Any, str]:
    import nbformat

    from transformer_kit.batch.engine import NOT_FOLLOWED

    if path.is_symlink():  # it could point at the instructor's source notebook
        return None, f"{path.name} is {NOT_FOLLOWED}"
    if not path.is_file():
        return None, f"no {path.name} was submitted"
    try:
        return nbformat.read(path, as_version=4), ""
    except Exception as error:  # whatever a damaged file makes nbformat or json raise
        return None, f"{path.name} is not a readable notebook ({type(error).__name__}: {error})"


def _test_ids(notebook: Expected) -> list[str]:
    return [t.grade_id(notebook.name) for t in notebook.tests]


def _grade_id(cell: Any) -> str | None:
    data = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = data.get("grade_id") if isinstance(data, Mapping) else None
    return grade_id if isinstance(grade_id, str) else None


def _code(node: Any, notebook: Expected) -> tuple[str, frozenset[str], list[str]]:
    """The module the kit grades, the grade_ids present, and notes on what was not as released."""
    present: dict[str, Any] = {}
    notes = []
    loose = 0
    for cell in node.get("cells", []):
        grade_id = _grade_id(cell)
        if grade_id is None:
            loose += cell.get("cell_type") == "code" and bool(_text(cell.get("source", "")).strip())
            continue
        if grade_id not in notebook.cells:
            notes.append(f"a cell has the unknown grade_id '{grade_id}' (renamed?): not graded")
        elif grade_id in present:
            notes.append(f"two cells have the grade_id '{grade_id}': the first is graded")
        else:
            present[grade_id] = cell
    parts = [notebook.imports]
    for grade_id in notebook.solutions:
        cell = present.get(grade_id)
        if cell is None or cell.get("cell_type") != "code":
            what = "is missing" if cell is None else "is not a code cell"
            notes.append(
                f"the solution cell '{grade_id}' {what}: what it should define is missing, so "
                "the tests that need it score 0"
            )
            continue
        parts.append(_text(cell.get("source", "")))
    if loose:
        notes.append(
            f"{loose} code cell(s) outside the solution cells are not graded: put your code, "
            "helpers too, in the solution cells"
        )
    order = [g for g in present if g in notebook.solutions]
    if order != [g for g in notebook.solutions if g in present]:
        notes.append("the solution cells were reordered: they are graded in the exercise's order")
    return "\n\n".join(parts) + "\n", frozenset(present), notes


def _text(source: Any) -> str:
    return "".join(source) if isinstance(source, list) else str(source)


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
        message = "" if result["passed"] else _shown(result.get("message", ""), test.visible)
        scores[grade_id] = (_share(notebook.cells[grade_id], result), message)
    for grade_id, cell in notebook.cells.items():
        if cell.points is not None and grade_id not in scores:
            scores[grade_id] = (0.0, "")  # the grader setup cell, worth 0
    return scores


def _share(cell: _SourceCell, result: Mapping[str, Any]) -> float:
    """The test's score on the cell's own points (the JSON rounds scores to a few digits, so a
    passed test gets exactly its cell's points and the cells add up to the notebook's)."""
    points = cell.points or 0.0
    if result["passed"]:
        return points
    maximum = float(result["max_score"])
    return points * float(result["score"]) / maximum if maximum > 0 else 0.0


def _shown(message: str, visible: bool) -> str:
    """A hidden test's message shows only its summary and likely mistake, as in the notebook."""
    if visible:
        return message
    lines = message.splitlines()
    return "\n".join(lines[:1] + [line for line in lines[1:] if line.startswith("likely mistake")])


def record(
    course: Course,
    assignment: str,
    student: str,
    scores: Mapping[str, Mapping[str, tuple[float, str]]],
    timestamp: str | None,
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


def timestamp_of(course: Course, assignment: str, student: str) -> str | None:
    """The submission's time, from nbgrader's timestamp.txt when the submission has one."""
    path = course.submitted(student, assignment) / "timestamp.txt"
    text = path.read_text(encoding="utf-8", errors="replace").strip() if path.is_file() else ""
    return text or None


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
        grade_id = _grade_id(cell)
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


def _as_recorded(cell: Any, record: _SourceCell, score: tuple[float, str] | None) -> Any:
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
        cell = make(_text(cell.get("source", "")), metadata=cell["metadata"])
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
    extracted = {s: extract(course, assignment, s, expected) for s in students}
    out = course.root / RESULTS_FOLDER / assignment
    outcome = batch.grade(
        [e.submission for e in extracted.values()],
        [n.exercise for n in expected],
        out,
        executor,
        level,
    )
    graded = []
    for student, taken in extracted.items():
        document = outcome.results.get(student, {})
        failed = "the kit could not grade this submission" if student in outcome.failed else ""
        error = str(document.get("error") or failed)
        if error:
            graded.append(Graded(student, 0.0, 0.0, taken.submission.notes, error))
            continue
        scores = {
            n.name: cell_scores(n, document, taken.missing_tests.get(n.name, frozenset()))
            for n in expected
        }
        record(course, assignment, student, scores, timestamp_of(course, assignment, student))
        for notebook in expected:
            if notebook.name in taken.notebooks:
                write_autograded(
                    course,
                    assignment,
                    student,
                    notebook,
                    taken.notebooks[notebook.name],
                    scores[notebook.name],
                )
        total = sum(score for cells in scores.values() for score, _ in cells.values())
        maximum = sum(n.exercise.points for n in expected)
        graded.append(Graded(student, total, maximum, taken.submission.notes))
    return graded, others
