"""`kit nbgrader`: the exercises as nbgrader assignments, and their submissions graded in the
kit's sandbox (the work: classroom/nbgrader/: export.py, course.py, submitted.py, grading.py).

Writing the notebooks needs only nbformat; generating, releasing and grading them needs nbgrader,
so the commands say how to get it when it is missing.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from transformer_kit.cli.common import KitBroken

if TYPE_CHECKING:
    from transformer_kit.catalog import Exercise
    from transformer_kit.classroom.nbgrader.export import Exported
    from transformer_kit.classroom.nbgrader.grading import Graded

DEFAULT_ASSIGNMENT = "transformer_kit"


@click.group()
def nbgrader() -> None:
    """Give the exercises to nbgrader: notebooks graded by the tests of `kit check`."""


@nbgrader.command()
@click.argument("course_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option(
    "--assignment",
    default=DEFAULT_ASSIGNMENT,
    show_default=True,
    metavar="ID",
    help="The nbgrader assignment the notebooks go to: COURSE_DIR/source/ID/.",
)
@click.option("--force", is_flag=True, help="Replace notebooks that were edited since the export.")
@click.option(
    "--visible",
    "visible",
    default="hand",
    show_default=True,
    metavar="hand|all|none|TEST,...",
    help="The tests a released notebook shows and runs with numpy alone: hand (those that read "
    "the hand-computed fixtures), all (every one that can be shown), none, or test functions "
    "by name (test_softmax_hand,...). The others are hidden until graded.",
)
def export(
    course_dir: Path, names: tuple[str, ...], assignment: str, force: bool, visible: str
) -> None:
    """Write the named exercises (all when none is named) as nbgrader notebooks.

    COURSE_DIR/source/ID/NAME.ipynb holds the exercise's text, one solution cell per function
    with the reference between nbgrader's solution markers, and one autograded test cell per
    test of `kit check NAME`, worth the same points, most of them hidden. The export creates
    COURSE_DIR/nbgrader_config.py if there is none. Then, in COURSE_DIR:

    \b
      nbgrader generate_assignment ID
    """
    from transformer_kit.classroom.nbgrader import export as classroom
    from transformer_kit.classroom.nbgrader.sources import ExportError

    if importlib.util.find_spec("nbformat") is None:
        raise click.UsageError(f"writing notebooks needs nbformat: {classroom.INSTALL}")
    exercises = exercises_named(names)
    try:
        visibility = _visibility(visible, exercises)
        exported = classroom.export(course_dir, exercises, assignment, force, visibility)
    except classroom.CourseError as error:
        raise click.UsageError(str(error)) from None
    except ExportError as error:
        if isinstance(visibility, frozenset):  # a test named that a notebook cannot show
            raise click.UsageError(f"--visible {visible}: {error}") from None
        raise KitBroken(f"the kit's exercises cannot be exported: {error}") from None
    except OSError as error:
        raise click.UsageError(f"cannot write the course in {course_dir}: {error}") from None
    _report(exported, course_dir, assignment)


def _visibility(text: str, exercises: Sequence[Exercise]) -> str | frozenset[str]:
    """--visible as the export takes it; a usage error for a test no grader has."""
    from transformer_kit.classroom.nbgrader.grader_source import VISIBILITIES, test_names

    if text in VISIBILITIES:
        return text
    wanted = frozenset(word.strip() for word in text.split(",") if word.strip())
    known = test_names(exercises)
    unknown = sorted(wanted - known)
    if unknown or not wanted:
        raise click.UsageError(
            f"--visible takes {', '.join(VISIBILITIES)} or test functions of the exercises' "
            f"graders (graders/test_NAME.py); {', '.join(unknown) or 'no name'} is not one of them"
        )
    return wanted


def exercises_named(names: tuple[str, ...]) -> list[Exercise]:
    """The exercises `names` name (all when none); a usage error for an unknown name."""
    from transformer_kit import catalog as meta
    from transformer_kit.cli.common import catalogue as load_catalogue

    catalogue = load_catalogue()
    if not names:
        return list(catalogue)
    try:
        return meta.resolve(names, catalogue)
    except meta.UnknownName as error:
        raise click.UsageError(str(error)) from None


def _report(exported: Exported, course_dir: Path, assignment: str) -> None:
    total = sum(t.points for _, tests in exported.notebooks for t in tests)
    folder = course_dir / "source" / assignment
    count = len(exported.notebooks)
    noun = "notebook" if count == 1 else "notebooks"
    click.echo(f"Exported {count} {noun} ({total:g} points) to {folder}:")
    width = max(len(path.name) for path, _ in exported.notebooks)
    for path, tests in exported.notebooks:
        visible = sum(t.visible for t in tests)
        points = sum(t.points for t in tests)
        shown = f"{visible} visible" if visible else "all hidden"
        click.echo(f"  {path.name:<{width}}  {points:4g} points  {len(tests):3d} tests ({shown})")
    verb = "Created" if exported.config_created else "Kept the existing"
    click.echo(f"{verb} {exported.config}.")
    click.echo(f"Next, in {course_dir}: nbgrader generate_assignment {assignment}")
    if importlib.util.find_spec("nbgrader") is None:
        from transformer_kit.classroom.nbgrader.export import INSTALL

        click.echo(f"nbgrader is not installed here: {INSTALL}")


@nbgrader.command()
@click.argument("course_dir", type=click.Path(file_okay=False, path_type=Path))
@click.argument("assignment")
@click.option(
    "--student",
    "students",
    multiple=True,
    metavar="ID",
    help="Grade only this student's submission (repeat for more). Default: every student.",
)
@click.option(
    "-j",
    "--jobs",
    type=click.IntRange(min=1),
    default=None,
    help="Parallel workers (default: the number of CPUs).",
)
@click.option(
    "--allow-basic-isolation",
    is_flag=True,
    help="Grade even where bubblewrap is missing (as `kit grade`: students' code could then "
    "read each other's files).",
)
def autograde(
    course_dir: Path,
    assignment: str,
    students: tuple[str, ...],
    jobs: int | None,
    allow_basic_isolation: bool,
) -> None:
    """Grade submitted notebooks in the kit's sandbox and write nbgrader's gradebook.

    The code of the solution cells of each COURSE_DIR/submitted/STUDENT/ASSIGNMENT/NAME.ipynb
    (notebooks from `kit nbgrader export`) is graded as `kit grade` grades files: in a
    sandboxed worker, never in this process. Each test cell's score goes into the course's
    gradebook and each notebook, with the kit's messages as the test cells' outputs, into
    COURSE_DIR/autograded/; the kit's own result files go to COURSE_DIR/kit_grades/ASSIGNMENT/.
    Afterwards, in COURSE_DIR:

    \b
      nbgrader export                         # grades.csv
      nbgrader generate_feedback ASSIGNMENT   # feedback/ for the students

    Exit status: 0 every submission was graded, 1 some could not be, 2 usage error.
    """
    if importlib.util.find_spec("nbgrader") is None:
        from transformer_kit.classroom.nbgrader.export import INSTALL

        raise click.UsageError(f"grading nbgrader submissions needs nbgrader: {INSTALL}")
    from transformer_kit.batch import executors
    from transformer_kit.classroom.nbgrader import course as courses
    from transformer_kit.classroom.nbgrader import grading
    from transformer_kit.classroom.nbgrader.export import CourseError
    from transformer_kit.classroom.nbgrader.sources import ExportError
    from transformer_kit.cli.grade import batch_isolation, default_jobs

    level = batch_isolation(allow_basic_isolation)
    exercises = exercises_named(())
    try:
        course = courses.open_course(course_dir)
        chosen = courses.submitted_students(course, assignment, students)
        executor = executors.LocalPool(jobs or default_jobs())
        graded, others = grading.autograde(course, assignment, chosen, exercises, executor, level)
    except CourseError as error:
        raise click.UsageError(str(error)) from None
    except ExportError as error:
        raise KitBroken(f"the kit's graders cannot be read: {error}") from None
    except OSError as error:
        raise click.ClickException(f"cannot write the grades of {course_dir}: {error}") from None
    for name in others:
        click.echo(f"{name}.ipynb is not a kit exercise: left to nbgrader autograde")
    _report_grades(graded, course_dir, assignment)
    if any(g.error for g in graded):
        raise SystemExit(1)


def _report_grades(graded: list[Graded], course_dir: Path, assignment: str) -> None:
    width = max(len(g.student) for g in graded)
    for result in graded:
        if result.error:
            click.echo(f"{result.student:<{width}}  not graded: {result.error}")
        else:
            click.echo(
                f"{result.student:<{width}}  {result.score:g} of {result.max_score:g} points"
            )
        for note in result.notes:
            click.echo(f"{'':<{width}}  note: {note}")
    done = sum(not g.error for g in graded)
    click.echo(f"Wrote {done} of {len(graded)} submissions into the gradebook of {course_dir}.")
    click.echo(f"Next, in {course_dir}: nbgrader export, nbgrader generate_feedback {assignment}")
