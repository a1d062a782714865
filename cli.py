"""The `kit` command: parse, call the library, render. No grading logic lives here.

Installed as `transformer_kit.cli`; heavy modules (pytest, numpy, rich) are imported inside the
commands so that `kit --help` and `kit check` start fast.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from transformer_kit import __version__
from transformer_kit.cli_errors import KitBroken, catalogue
from transformer_kit.cli_grade import grade
from transformer_kit.cli_gradescope import gradescope
from transformer_kit.cli_interview import interview
from transformer_kit.cli_nbgrader import nbgrader

if TYPE_CHECKING:
    from transformer_kit.meta import Exercise
    from transformer_kit.workspace import Progress

workspace_option = click.option(
    "--workspace",
    "-w",
    metavar="DIR",
    help="The workspace folder (the one holding exercises/). Default: $KIT_WORKSPACE, else the "
    "current folder or the nearest folder above it that holds exercises/.",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="kit")
@workspace_option
@click.pass_context
def main(context: click.Context, workspace: str | None) -> None:
    """Practise transformer internals by writing them; `kit check` grades your code.

    \b
    A workspace holds exercises/NAME.py, one stub per exercise. Edit a stub, then:
      kit next                the first exercise you have not passed, and its file
      kit check attention     grade one exercise (any unambiguous prefix works: kit check att)
      kit check               grade every exercise
      kit watch               re-check on every save, moving on as exercises pass
      kit hint attention      the next hint (of three)
      kit solution attention  the reference solution, once you have passed
      kit reset attention     restore the stub (your file is kept as a backup)
      kit list                every exercise and your progress
      kit init DIR            make a new workspace with fresh stubs
      kit interview [NAME]    a timed mock interview from a fresh stub, without hints
      kit nbgrader export DIR the exercises as nbgrader source notebooks, for a course
      kit nbgrader autograde DIR ID   grade a course's submitted notebooks, sandboxed
      kit grade FOLDER        grade a class's submissions (instructors)
      kit gradescope build    a Gradescope autograder zip, for a course

    Your code runs in a separate, limited process: it cannot change a grade.
    """
    _replace_what_the_terminal_cannot_show()
    context.obj = workspace


def _replace_what_the_terminal_cannot_show() -> None:
    """An output encoding without ✓ or █ (PYTHONIOENCODING=ascii, LANG=C) gets `?` for them,
    not a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


def _workspace_root(context: click.Context, option: str | None) -> Path:
    from transformer_kit.workspace import WorkspaceError, find

    try:
        return find(option or context.obj)
    except WorkspaceError as error:
        raise click.UsageError(str(error)) from None


def _select(words: Sequence[str], everything_when_empty: bool = True) -> list[Exercise]:
    from transformer_kit.meta import UnknownName, resolve

    exercises = catalogue()
    if not words and everything_when_empty:
        return list(exercises)
    try:
        return resolve(words, exercises)
    except UnknownName as error:
        raise click.UsageError(str(error)) from None


def _internal_error(message: str) -> NoReturn:
    raise KitBroken(message)


def _warn(message: str) -> None:
    if message:
        click.echo(f"kit: warning: {message}", err=True)


def _progress(root: Path) -> Progress:
    """The workspace's progress store, warning when a damaged one was set aside."""
    from transformer_kit.workspace import load_progress

    progress = load_progress(root)
    _warn(progress.warning)
    return progress


@main.command("list")
@workspace_option
@click.pass_context
def list_command(context: click.Context, workspace: str | None) -> None:
    """Every exercise with its title, topic and your status."""
    from transformer_kit import report
    from transformer_kit.cli_interview import best_times
    from transformer_kit.workspace import is_fresh

    root = _workspace_root(context, workspace)
    exercises = catalogue()
    progress = _progress(root)
    fresh = {e.name for e in exercises if is_fresh(root, e)}
    interviews = best_times(root)
    report.exercise_list(report.console(), exercises, progress.records, fresh, interviews)


@main.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document to stdout instead of the report.")  # fmt: skip
@click.option("--show-output", is_flag=True,
              help="Show what your code printed, under each test (its first lines).")  # fmt: skip
@click.option("--details", "all_details", is_flag=True,
              help="Show every failure in full (by default only the first 3 of each exercise "
              "are; the others get one line).")  # fmt: skip
@workspace_option
@click.pass_context
def check(context: click.Context, names: tuple[str, ...], as_json: bool, show_output: bool,
          all_details: bool, workspace: str | None) -> None:  # fmt: skip
    """Grade the named exercises (all when none is named).

    A NAME is an exercise's name or any unambiguous prefix of it, in any case (att, Attention).
    Your code runs in a sandboxed worker: full isolation (bubblewrap) where `bwrap` works, else
    basic, which the report then says. KIT_ISOLATION=full or =basic chooses.

    Exit status: 0 when every test passed, 1 when any failed, 2 on a usage error, 3 when the
    kit's own installation is broken (reinstall it).
    """
    root = _workspace_root(context, workspace)
    exercises = _select(names)
    level = _isolation_level()
    result = _grade(root, exercises, level, show_progress=not as_json and len(exercises) > 1)
    _save_progress(root, result.exercises)
    if as_json:
        import json

        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        from transformer_kit import report

        out = report.console()
        report.check_report(out, result, show_output=show_output, all_details=all_details)
    context.exit(0 if result.passed else 1)


def _isolation_level() -> str:
    """full or basic (isolation.py); a KIT_ISOLATION this system cannot honour is a usage error."""
    from transformer_kit import isolation

    try:
        return isolation.level()
    except isolation.IsolationUnavailable as error:
        raise click.UsageError(str(error)) from None


def _grade(root: Path, exercises: Sequence[Exercise], level: str, show_progress: bool) -> Any:
    from transformer_kit.grading import GraderError, check

    announce: Callable[[str], None] | None = None
    status: Any = None
    if show_progress and sys.stderr.isatty():
        from transformer_kit import report

        status = report.console(stderr=True).status("grading ...")
        status.start()
        names = [e.name for e in exercises]

        def announce(name: str) -> None:
            status.update(f"grading {name} ({names.index(name) + 1} of {len(names)}) ...")

    try:
        return check(root, exercises, on_exercise=announce, level=level)
    except GraderError as error:
        _internal_error(f"the kit's graders could not run:\n{error}")
    finally:
        if status is not None:
            status.stop()


def _save_progress(root: Path, results: Sequence[Any]) -> None:
    from transformer_kit.workspace import record_results

    for warning in record_results(root, results):
        _warn(warning)


@main.command()
@click.argument("name")
@click.option("--all", "show_all", is_flag=True, help="Also repeat the hints already shown.")
@workspace_option
@click.pass_context
def hint(context: click.Context, name: str, show_all: bool, workspace: str | None) -> None:
    """The next hint for an exercise (three per exercise, from a nudge to nearly the answer)."""
    from transformer_kit import report
    from transformer_kit.cli_interview import refuse_during_attempt

    root = _workspace_root(context, workspace)
    (exercise,) = _select([name], everything_when_empty=False)
    refuse_during_attempt(root, exercise, "hints")
    progress = _progress(root)
    record = progress.record(exercise.name)
    shown = min(record.hints_shown, len(exercise.hints))
    following = min(shown, len(exercise.hints) - 1)
    indices = [*range(shown), following] if show_all else [following]
    report.hints(report.console(), exercise, sorted(set(indices)))
    record.hints_shown = max(record.hints_shown, following + 1)
    for warning in progress.save_or_warn():
        _warn(
            f"{warning}\nso the kit could not record that you saw hint {following + 1}: the next "
            f"`kit hint {exercise.name}` shows it again (make the workspace writable to go on)"
        )


@main.command("next")
@workspace_option
@click.pass_context
def next_command(context: click.Context, workspace: str | None) -> None:
    """Name the first exercise you have not passed yet and show its file."""
    from transformer_kit import report
    from transformer_kit.workspace import exercise_file

    root = _workspace_root(context, workspace)
    progress = _progress(root)
    passed = progress.passed()
    pending = [e for e in catalogue() if e.name not in passed]
    out = report.console()
    if not pending:
        out.print("Every exercise has passed. Well done!")
        return
    report.next_exercise(out, pending[0], exercise_file(root, pending[0]))


@main.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Show it even though the exercise has not passed.")
@workspace_option
@click.pass_context
def solution(context: click.Context, name: str, force: bool, workspace: str | None) -> None:
    """The reference solution of NAME, once your code has passed it."""
    from transformer_kit import report
    from transformer_kit.cli_interview import refuse_during_attempt

    root = _workspace_root(context, workspace)
    (exercise,) = _select([name], everything_when_empty=False)
    refuse_during_attempt(root, exercise, "solution")
    progress = _progress(root)
    if exercise.name not in progress.passed():
        if not force and not sys.stdin.isatty():
            raise click.UsageError(
                f"{exercise.name} has not passed yet: pass --force to see its solution anyway"
            )
        question = f"{exercise.name} has not passed yet. Show the reference solution anyway?"
        if not force and not click.confirm(question, default=False):
            return
    report.source(report.console(), exercise.solution, f"reference solution of {exercise.name}")


@main.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Make a new workspace in DIRECTORY with a fresh stub of every exercise."""
    from transformer_kit.workspace import WorkspaceError
    from transformer_kit.workspace import init as make_workspace

    try:
        written = make_workspace(directory, catalogue())
    except WorkspaceError as error:
        raise click.UsageError(str(error)) from None
    except OSError as error:
        raise click.UsageError(f"cannot create a workspace in {directory}: {error}") from None
    first = catalogue()[0].name
    click.echo(f"Made a workspace in {directory.resolve()} with {len(written)} exercises.")
    click.echo(f"In it, `kit next` shows the first one, {first}; `kit check {first}` grades it.")


@main.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "reset_all", is_flag=True, help="Restore every exercise's stub.")
@workspace_option
@click.pass_context
def reset(context: click.Context, names: tuple[str, ...], reset_all: bool,
          workspace: str | None) -> None:  # fmt: skip
    """Restore the stub of NAME; your file is kept in .kit/backups/ first."""
    from transformer_kit.workspace import WorkspaceError
    from transformer_kit.workspace import reset as restore

    if not names and not reset_all:
        raise click.UsageError("name an exercise to reset (or pass --all)")
    if names and reset_all:
        raise click.UsageError("give either names or --all, not both")
    root = _workspace_root(context, workspace)
    for exercise in _select(names):
        try:
            backup = restore(root, exercise)
        except WorkspaceError as error:
            raise click.ClickException(str(error)) from None
        except OSError as error:
            raise click.ClickException(
                f"{exercise.name}: the stub could not be restored ({error}); your file is unchanged"
            ) from None
        if backup is None:
            click.echo(f"{exercise.name}: restored the stub (there was nothing to keep).")
        else:
            click.echo(f"{exercise.name}: restored the stub; your file is saved as {backup}")


@main.command()
@click.argument("name", required=False)
@click.option("--poll", is_flag=True,
              help="Poll the file for changes instead of waiting for file events (for network "
              "file systems; chosen automatically on the usual ones).")  # fmt: skip
@workspace_option
@click.pass_context
def watch(context: click.Context, name: str | None, poll: bool, workspace: str | None) -> None:
    """Re-check NAME each time you save it; with no NAME, follow your first unfinished exercise.

    The report is redrawn after every save. With no NAME, saving any other exercise checks that
    one. Ctrl-C stops watching. While an interview attempt runs (`kit interview`), its file is
    watched instead, without ending the attempt.
    """
    from transformer_kit import report
    from transformer_kit.cli_interview import watched_attempt
    from transformer_kit.grading import GraderError
    from transformer_kit.watch import watch_loop

    root = _workspace_root(context, workspace)
    exercises = _select([name] if name else [])
    _isolation_level()  # a bad KIT_ISOLATION stops here, not at the first save
    attempt = watched_attempt(root, exercises[0] if name else None)
    folder = None
    if attempt is not None:  # a running interview: its file, not exercises/
        exercises, folder = [attempt[0]], attempt[1]
    follow = name is None and attempt is None
    try:
        status = watch_loop(root, exercises, follow, poll, report.console(), folder=folder)
    except GraderError as error:
        _internal_error(f"the kit's graders could not run:\n{error}")
    context.exit(status)


main.add_command(nbgrader)
main.add_command(grade)
main.add_command(workspace_option(interview))
main.add_command(gradescope)

if __name__ == "__main__":
    main()
