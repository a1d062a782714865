"""`kit`'s commands for one learner's workspace: list, check, hint, next, solution, init,
reset, watch (interviews: interview.py)."""

from __future__ import annotations

import sys
from functools import partial
from pathlib import Path

import click

from transformer_kit.cli.common import (
    catalogue,
    grade_workspace,
    internal_error,
    isolation_level,
    progress_of,
    save_progress,
    select,
    warn,
    workspace_option,
    workspace_root,
)


@click.command("list")
@workspace_option
@click.pass_context
def list_command(context: click.Context, workspace: str | None) -> None:
    """Every exercise with its title, topic and your status."""
    from transformer_kit.cli import render as report
    from transformer_kit.cli.interview import best_times
    from transformer_kit.learner.workspace import is_fresh

    root = workspace_root(context, workspace)
    exercises = catalogue()
    progress = progress_of(root)
    fresh = {e.name for e in exercises if is_fresh(root, e)}
    interviews = best_times(root)
    out = report.console()
    report.workspace_line(out, root)
    report.exercise_list(out, exercises, progress.records, fresh, interviews)


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document to stdout instead of the report.")  # fmt: skip
@click.option("--show-output", is_flag=True,
              help="Show what your code printed, under each test (its first lines).")  # fmt: skip
@click.option("--details", "all_details", is_flag=True,
              help="Show every failure in full (by default each function's first failure is "
              "in full, a few others get one line each, and the rest are counted).")  # fmt: skip
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
    root = workspace_root(context, workspace)
    exercises = select(names)
    level = isolation_level()
    many = not as_json and len(exercises) > 1
    result = grade_workspace(root, exercises, level, show_progress=many)
    save_progress(root, result.exercises)
    if as_json:
        import json

        click.echo(json.dumps(result.to_json(), indent=2))
    else:
        from transformer_kit.cli import render as report

        out = report.console()
        report.check_report(out, result, show_output=show_output, all_details=all_details)
        if result.passed:
            passed = progress_of(root).passed()
            report.whats_next(out, next((e for e in catalogue() if e.name not in passed), None))
        report.workspace_line(out, root)
    context.exit(0 if result.passed else 1)


@click.command()
@click.argument("name")
@click.option("--all", "show_all", is_flag=True, help="Also repeat the hints already shown.")
@workspace_option
@click.pass_context
def hint(context: click.Context, name: str, show_all: bool, workspace: str | None) -> None:
    """The next hint for an exercise (three per exercise, from a nudge to nearly the answer);
    one about the function that failed at your last check comes first."""
    from transformer_kit.cli import render as report
    from transformer_kit.cli.interview import refuse_during_attempt

    root = workspace_root(context, workspace)
    (exercise,) = select([name], everything_when_empty=False)
    refuse_during_attempt(root, exercise, "hints")
    progress = progress_of(root)
    record = progress.record(exercise.name)
    following = record.next_hint(exercise.hints)
    seen = {i for i in record.seen() if i < len(exercise.hints)}
    indices = sorted(seen | {following}) if show_all else [following]
    report.hints(
        report.console(), exercise, indices, last=len(seen | {following}) == len(exercise.hints)
    )
    record.see_hint(following)
    for warning in progress.save_or_warn():
        warn(
            f"{warning}\nso the kit could not record that you saw hint {following + 1}: the next "
            f"`kit hint {exercise.name}` shows it again (make the workspace writable to go on)"
        )


@click.command("next")
@workspace_option
@click.pass_context
def next_command(context: click.Context, workspace: str | None) -> None:
    """The first exercise you have not passed yet: what it asks for and its file."""
    from transformer_kit.cli import render as report
    from transformer_kit.learner.outline import outline
    from transformer_kit.learner.workspace import exercise_file

    root = workspace_root(context, workspace)
    progress = progress_of(root)
    passed = progress.passed()
    pending = [e for e in catalogue() if e.name not in passed]
    out = report.console()
    report.workspace_line(out, root)
    if not pending:
        report.whats_next(out, None)
        return
    stub = outline(pending[0].stub)
    report.next_exercise(out, pending[0], exercise_file(root, pending[0]), stub)


@click.command()
@click.argument("name")
@click.option("--force", is_flag=True, help="Show it even though the exercise has not passed.")
@workspace_option
@click.pass_context
def solution(context: click.Context, name: str, force: bool, workspace: str | None) -> None:
    """The reference solution of NAME, once your code has passed it."""
    from transformer_kit.cli import render as report
    from transformer_kit.cli.interview import refuse_during_attempt

    root = workspace_root(context, workspace)
    (exercise,) = select([name], everything_when_empty=False)
    refuse_during_attempt(root, exercise, "solution")
    progress = progress_of(root)
    if exercise.name not in progress.passed():
        if not force and not sys.stdin.isatty():
            raise click.UsageError(
                f"{exercise.name} has not passed yet: pass --force to see its solution anyway"
            )
        question = f"{exercise.name} has not passed yet. Show the reference solution anyway?"
        if not force and not click.confirm(question, default=False):
            return
    report.source(report.console(), exercise.solution, f"reference solution of {exercise.name}")


@click.command()
@click.argument("directory", type=click.Path(file_okay=False, path_type=Path))
def init(directory: Path) -> None:
    """Make a new workspace in DIRECTORY with a fresh stub of every exercise."""
    from transformer_kit.learner.workspace import WorkspaceError
    from transformer_kit.learner.workspace import init as make_workspace

    try:
        written = make_workspace(directory, catalogue())
    except WorkspaceError as error:
        raise click.UsageError(str(error)) from None
    except OSError as error:
        raise click.UsageError(f"cannot create a workspace in {directory}: {error}") from None
    first = catalogue()[0].name
    click.echo(f"Made a workspace in {directory.resolve()} with {len(written)} exercises.")
    click.echo(f"In it, `kit next` shows the first one, {first}; `kit check {first}` grades it.")


@click.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@click.option("--all", "reset_all", is_flag=True, help="Restore every exercise's stub.")
@workspace_option
@click.pass_context
def reset(context: click.Context, names: tuple[str, ...], reset_all: bool,
          workspace: str | None) -> None:  # fmt: skip
    """Restore the stub of NAME; your file is kept in .kit/backups/ first."""
    from transformer_kit.learner.workspace import WorkspaceError
    from transformer_kit.learner.workspace import reset as restore

    if not names and not reset_all:
        raise click.UsageError("name an exercise to reset (or pass --all)")
    if names and reset_all:
        raise click.UsageError("give either names or --all, not both")
    root = workspace_root(context, workspace)
    for exercise in select(names):
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


@click.command()
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
    watched first, with the time left; once it is submitted, your exercises again.
    """
    from transformer_kit.check import GraderError
    from transformer_kit.cli import render as report
    from transformer_kit.cli.interview import watched_attempt
    from transformer_kit.learner.watch import watch_loop

    root = workspace_root(context, workspace)
    exercises = select([name] if name else [])
    isolation_level()  # a bad KIT_ISOLATION stops here, not at the first save
    during = partial(report.check_report, next_step=report.SAVE_INTERVIEW)
    attempt = watched_attempt(root, exercises[0] if name else None, during)
    try:
        draw = partial(report.check_report, next_step=report.SAVE_AGAIN)
        out = report.console()
        status = watch_loop(root, exercises, name is None, poll, out, draw, interview=attempt)
    except GraderError as error:
        internal_error(f"the kit's graders could not run:\n{error}")
    context.exit(status)
