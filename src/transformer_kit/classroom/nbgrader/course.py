"""A course folder as `kit nbgrader autograde` reads it: its nbgrader config and gradebook, the
notebooks `nbgrader generate_assignment` recorded for an assignment, and who submitted it."""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from transformer_kit import catalog as meta
from transformer_kit.classroom.nbgrader.answers import imports_id, solution_ids
from transformer_kit.classroom.nbgrader.export import CONFIG_FILE, CourseError
from transformer_kit.classroom.nbgrader.grader_source import GradedTest, graded_tests
from transformer_kit.classroom.nbgrader.notebooks import HIDDEN

if TYPE_CHECKING:
    from nbgrader.api import Gradebook

SQLITE = "sqlite:///"


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
    cells: dict[str, SourceCell]  # grade_id -> nbgrader's record of the cell
    tests: tuple[GradedTest, ...]

    @property
    def name(self) -> str:
        return self.exercise.name


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
            cells = {c.name: SourceCell.of(c) for c in record.source_cells}
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
                    _as_exported(tests[exercise.name], exercise.name, cells),
                )
            )
        others = sorted(set(notebooks) - set(by_name))
    return found, others


def _as_exported(
    tests: Sequence[GradedTest], name: str, cells: dict[str, SourceCell]
) -> tuple[GradedTest, ...]:
    """The tests as the recorded notebook shows them: visible unless its cell calls the runner
    with `hidden=True` (the export's --visible chose)."""
    return tuple(
        dataclasses.replace(t, visible=HIDDEN not in cells[t.grade_id(name)].source)
        if t.grade_id(name) in cells
        else t
        for t in tests
    )


@dataclass(frozen=True)
class SourceCell:
    """nbgrader's record of a cell, detached from the database session."""

    name: str
    cell_type: str
    locked: bool
    source: str
    checksum: str | None
    points: float | None = None  # a grade cell's

    @classmethod
    def of(cls, cell: Any) -> SourceCell:
        return cls(cell.name, cell.cell_type, cell.locked, cell.source or "", cell.checksum)

    def with_points(self, points: float) -> SourceCell:
        return SourceCell(
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
