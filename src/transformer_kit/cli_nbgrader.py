"""`kit nbgrader`: the exercises as nbgrader assignments (the work: classroom/nbgrader_export.py).

Writing the notebooks needs no nbgrader; generating, releasing and grading them does, so the
command says how to get it when it is missing.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import TYPE_CHECKING

import click

from transformer_kit.cli_errors import KitBroken

if TYPE_CHECKING:
    from transformer_kit.classroom.nbgrader_export import Exported
    from transformer_kit.meta import Exercise

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
def export(course_dir: Path, names: tuple[str, ...], assignment: str, force: bool) -> None:
    """Write the named exercises (all when none is named) as nbgrader notebooks.

    COURSE_DIR/source/ID/NAME.ipynb holds the exercise's text, one solution cell per function
    with the reference between nbgrader's solution markers, and one autograded test cell per
    test of `kit check NAME`, worth the same points, most of them hidden. The export creates
    COURSE_DIR/nbgrader_config.py if there is none. Then, in COURSE_DIR:

    \b
      nbgrader generate_assignment ID
    """
    from transformer_kit.classroom import nbgrader_export as classroom

    exercises = _exercises(names)
    try:
        exported = classroom.export(course_dir, exercises, assignment, force)
    except classroom.CourseError as error:
        raise click.UsageError(str(error)) from None
    except classroom.ExportError as error:
        raise KitBroken(f"the kit's exercises cannot be exported: {error}") from None
    except OSError as error:
        raise click.UsageError(f"cannot write the course in {course_dir}: {error}") from None
    _report(exported, course_dir, assignment)


def _exercises(names: tuple[str, ...]) -> list[Exercise]:
    from transformer_kit import meta

    try:
        catalogue = meta.load()
    except meta.MetadataError as error:
        raise KitBroken(f"the kit's exercise metadata is broken: {error}") from None
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
        from transformer_kit.classroom.nbgrader_export import INSTALL

        click.echo(f"nbgrader is not installed here: {INSTALL}")
