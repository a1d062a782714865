"""`kit gradescope`: a Gradescope autograder that grades with the kit (the work: classroom/
gradescope/build.py builds the zip, classroom/gradescope/run.py runs inside it)."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from transformer_kit.classroom import HIDDEN_VISIBILITY, VISIBILITIES
from transformer_kit.cli.nbgrader import exercises_named

if TYPE_CHECKING:
    from transformer_kit.classroom.gradescope.build import Built


@click.group()
def gradescope() -> None:
    """Grade on Gradescope: an autograder zip that runs the kit's sandboxed grading."""


@gradescope.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option(
    "--out",
    default="autograder.zip",
    show_default=True,
    type=click.Path(dir_okay=False, path_type=Path),
    help="The zip to write (an existing file there is replaced).",
)
@click.option(
    "--hidden-visibility",
    type=click.Choice(VISIBILITIES),
    default=HIDDEN_VISIBILITY,
    show_default=True,
    help="When students see the hidden tests (Gradescope's visibility); visible tests always are.",
)
@click.option(
    "--allow-basic-isolation",
    is_flag=True,
    help="Grade even where bubblewrap cannot run on Gradescope (learner code then sees the "
    "grading machine's files). Without it such a run gives 0 points and says why.",
)
def build(
    names: tuple[str, ...], out: Path, hidden_visibility: str, allow_basic_isolation: bool
) -> None:
    """Write a Gradescope autograder for the named exercises (all when none is named).

    The zip holds setup.sh, run_autograder, this kit as a wheel and kit-autograder.json. Upload
    it as the assignment's autograder ("Zip file upload"). Students then submit NAME.py files
    (at the top, in exercises/ or in any folder); each test of `kit check` becomes one
    Gradescope test worth the same points. Hidden tests show only what went wrong and the
    likely mistake, never the expected values.
    """
    from transformer_kit.classroom.gradescope import build as gradescope_build

    exercises = exercises_named(names)
    if not out.parent.is_dir():
        raise click.UsageError(f"--out {out}: the folder {out.parent} does not exist")
    try:
        built = gradescope_build.build(out, exercises, hidden_visibility, allow_basic_isolation)
    except gradescope_build.BuildError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.UsageError(f"cannot write {out}: {error}") from None
    _report(built)


@gradescope.command()
@click.option(
    "--root",
    type=click.Path(file_okay=False, path_type=Path),
    help="The autograder's folder. Default: $KIT_AUTOGRADER_ROOT, else /autograder.",
)
def run(root: Path | None) -> None:
    """Grade ROOT/submission and write ROOT/results/results.json (what run_autograder does).

    A results.json is written whatever happens: when the submission cannot be graded it says
    why, with 0 points. The exit status is 0 once it is written.
    """
    from transformer_kit.classroom.gradescope import run as classroom

    results = classroom.autograde(root or classroom.root_from_environment())
    _log(results)


def _log(results: Mapping[str, Any]) -> None:
    """The autograder's log (Gradescope shows it to the instructor): this student's tests, each
    with its status and points, then the score."""
    tests = results["tests"]
    for test in tests:
        points = f"{test['score']:g}/{test['max_score']:g}"
        click.echo(f"{test['status']:<6} {points:>11}  {test['name']}")
    maximum = sum(t["max_score"] for t in tests)
    click.echo(f"score {results['score']:g} of {maximum:g}; {len(tests)} tests in results.json")


def _report(built: Built) -> None:
    config = built.config
    visible = sum(len(tests) for tests in config.visible_tests.values())
    click.echo(
        f"Wrote {built.zip}: {len(config.exercises)} exercises, {built.test_count} tests "
        f"({visible} visible, the others {config.hidden_visibility}), graded by {built.wheel}."
    )
    click.echo("Upload it on Gradescope: the assignment's Configure Autograder page, zip upload.")
