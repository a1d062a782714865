"""`kit interview`: timed mock-interview attempts (the logic: interview.py).

It parses, reads the clock once, calls the library and renders. The other commands ask this
module whether an attempt is running: `kit hint` and `kit solution` refuse its exercise, `kit
watch` grades its file, `kit list` shows the best interview times.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

import click

from transformer_kit.cli.common import KitBroken, catalogue

if TYPE_CHECKING:
    from transformer_kit.catalog import Exercise
    from transformer_kit.learner.interview import Running, Store
    from transformer_kit.learner.watch import Draw, Interview

MAX_MINUTES = 600
ACTIONS = ("status", "submit", "abandon", "history")  # at most one per command


@click.command()
@click.argument("name", required=False)
@click.option("--minutes", type=click.IntRange(1, MAX_MINUTES), metavar="M",
              help="Minutes for the attempt (default: the exercise's own, 20 to 60).")  # fmt: skip
@click.option("--status", is_flag=True,
              help="The running attempt: its file and the time left.")  # fmt: skip
@click.option("--submit", is_flag=True,
              help="Grade the running attempt and end it (late: marked overtime).")  # fmt: skip
@click.option("--abandon", is_flag=True,
              help="End the running attempt without a grade; its file stays.")  # fmt: skip
@click.option("--history", is_flag=True,
              help="Every finished attempt: exercise, date, minutes used, score.")  # fmt: skip
@click.pass_context
def interview(
    context: click.Context,
    name: str | None,
    minutes: int | None,
    status: bool,
    submit: bool,
    abandon: bool,
    history: bool,
    workspace: str | None,
) -> None:
    """Start a timed mock interview at NAME: a fresh stub in .kit/interview/NAME.py.

    Without NAME: an exercise you have not passed yet, else the one you passed longest ago.
    Your exercises/NAME.py is never touched. Until you submit, `kit hint` and `kit solution`
    refuse that exercise; `kit watch` re-grades the interview file on every save.

    Exit status: 0 done (a submitted attempt: it passed), 1 a submitted attempt failed, 2 usage
    error (also: an attempt already running, or none to submit or abandon).
    """
    from transformer_kit.cli import common
    from transformer_kit.learner import interview as attempts

    chosen = [a for a, on in zip(ACTIONS, (status, submit, abandon, history), strict=True) if on]
    if len(chosen) > 1:
        raise click.UsageError(f"give only one of --{', --'.join(ACTIONS)}")
    action = chosen[0] if chosen else None
    if action and (name or minutes):
        raise click.UsageError(f"--{action} takes no NAME or --minutes")
    root = common.workspace_root(context, workspace)
    now = attempts.clock()
    store = _store(root)
    try:
        if action == "history":
            _history(store)
        elif action == "status":
            _status(root, store.running, now)
        elif action == "abandon":
            _abandon(root, store, now)
        elif action == "submit":
            context.exit(_submit(root, store, now))
        else:
            _start(root, store, name, minutes, now)
    except attempts.InterviewError as error:
        raise click.UsageError(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"the interview could not be saved: {error}") from None


def _store(root: Path) -> Store:
    """The interview store, warning when a damaged one was set aside."""
    from transformer_kit.cli import common
    from transformer_kit.learner import interview as attempts

    try:
        store = attempts.load(root)
    except OSError as error:
        raise click.ClickException(f"the interview store cannot be read: {error}") from None
    common.warn(store.warning)
    return store


def _start(root: Path, store: Store, name: str | None, minutes: int | None, now: datetime) -> None:
    from transformer_kit.cli import common
    from transformer_kit.learner import interview as attempts

    if name:
        (exercise,) = common.select([name], everything_when_empty=False)
    else:
        exercise = attempts.choose(catalogue(), common.progress_of(root), store)
    allowed = minutes or exercise.interview_minutes
    backup = attempts.start(root, store, exercise, allowed, now)
    path = attempts.attempt_file(root, exercise.name)
    click.echo(f"Interview: {exercise.name} ({exercise.title}), {_minutes(allowed)}.")
    click.echo(f"Write it in {path} (a fresh stub; exercises/{exercise.name}.py is untouched).")
    deadline = store.require_running().deadline
    click.echo(f"The time is up at {_clock(deadline)}. No hints or solutions until you submit.")
    if backup is not None:
        click.echo(f"That file held an earlier attempt: it is saved as {backup}")
    click.echo(
        "`kit interview --status`: the time left · `kit watch`: grade it on every save · "
        "`kit interview --submit`: grade it and end the attempt"
    )


def _status(root: Path, running: Running | None, now: datetime) -> None:
    from transformer_kit.learner import interview as attempts

    if running is None:
        click.echo("No interview attempt is running. `kit interview [NAME]` starts one.")
        return
    path = attempts.attempt_file(root, running.exercise)
    click.echo(f"Interview: {running.exercise}, {_minutes(running.minutes)}, file {path}")
    left = running.deadline - now
    if left > timedelta(0):
        click.echo(f"Time left: {_span(left)} (until {_clock(running.deadline)}).")
    else:
        click.echo(f"Time is up: {_span(-left)} over; submitting still grades it, as overtime.")
    click.echo(f"When you are done: {attempts.SUBMIT}; {attempts.ABANDON}.")


def _abandon(root: Path, store: Store, now: datetime) -> None:
    from transformer_kit.learner import interview as attempts

    attempt = attempts.finish(store, None, now)
    path = attempts.attempt_file(root, attempt.exercise)
    click.echo(
        f"Abandoned the interview at {attempt.exercise} after {_minutes(attempt.minutes_used)}; "
        f"your file stays at {path}."
    )


def _submit(root: Path, store: Store, now: datetime) -> int:
    """Grade the running attempt and end it; the exit status, as `kit check`'s."""
    from transformer_kit.check import GraderError, check
    from transformer_kit.cli import common
    from transformer_kit.cli import render as report
    from transformer_kit.learner import interview as attempts

    running = store.require_running()
    exercise = _exercise(running)
    path = attempts.attempt_file(root, running.exercise)
    if not path.is_file():
        raise click.ClickException(
            f"{path} is missing: put your code back there and submit again; {attempts.ABANDON}"
        )
    level = common.isolation_level()
    try:
        result = check(root, [exercise], level=level, folder=attempts.folder(root))
    except GraderError as error:
        raise KitBroken(f"the kit's graders could not run:\n{error}") from None
    after = "The attempt is over: `kit interview --history` lists your attempts."
    report.check_report(report.console(), result, next_step=after)
    attempt = attempts.finish(store, result.exercises[0], now)
    if attempt.passed:  # a pass counts as one: `kit list`, `kit next`, `kit solution`
        common.save_progress(root, result.exercises)
    late = ", overtime" if attempt.overtime else ""
    click.echo(
        f"Interview at {attempt.exercise}: {attempt.minutes_used:g} of "
        f"{_minutes(attempt.minutes)}{late}, {'passed' if attempt.passed else 'not passed'}."
    )
    return 0 if attempt.passed else 1


def _history(store: Store) -> None:
    from transformer_kit.cli import render as report

    report.interview_history(report.console(), store.attempts)


def _exercise(running: Running) -> Exercise:
    from transformer_kit.learner import interview as attempts

    found = [e for e in catalogue() if e.name == running.exercise]
    if not found:
        raise click.UsageError(
            f"the running attempt's exercise {running.exercise} is not in this kit; "
            f"{attempts.ABANDON}"
        )
    return found[0]


def _clock(moment: datetime) -> str:
    """A moment in local time: 14:05, with the date when it is not today."""
    local = moment.astimezone()
    if local.date() == datetime.now().astimezone().date():
        return local.strftime("%H:%M")
    return local.strftime("%Y-%m-%d %H:%M")


def _minutes(count: float) -> str:
    return f"{count:g} minute" if count == 1 else f"{count:g} minutes"


def _span(length: timedelta) -> str:
    minutes, seconds = divmod(int(length.total_seconds()), 60)
    return f"{minutes} min {seconds:02d} s"


def running_attempt(root: Path) -> Running | None:
    """The attempt under way in this workspace, if any (a damaged store: none, with a warning)."""
    return _store(root).running


def refuse_during_attempt(root: Path, exercise: Exercise, what: str) -> None:
    """`kit hint` and `kit solution` stop here while an interview at `exercise` runs."""
    from transformer_kit.learner import interview as attempts

    running = running_attempt(root)
    if running is not None and running.exercise == exercise.name:
        raise click.UsageError(
            f"no {what} for {exercise.name} during its interview attempt: "
            f"{attempts.SUBMIT}, {attempts.ABANDON}"
        )


def best_times(root: Path) -> dict[str, float]:
    """Per exercise, the fewest minutes a passed interview attempt took."""
    from transformer_kit.learner import interview as attempts

    return attempts.best_minutes(_store(root).attempts)


def watched_attempt(root: Path, named: Exercise | None, draw: Draw) -> Interview | None:
    """What `kit watch` grades before exercises/: the running attempt (its exercise, folder and
    deadline; `draw` its report), when there is one and `kit watch` named no other exercise."""
    from transformer_kit.learner import interview as attempts
    from transformer_kit.learner.watch import Interview

    running = running_attempt(root)
    if running is None or (named is not None and named.name != running.exercise):
        return None

    def still_running() -> bool:
        try:
            return attempts.load(root).running == running
        except OSError:
            return False

    try:
        exercise, folder = _exercise(running), attempts.folder(root)
    except OSError as error:
        raise click.ClickException(str(error)) from None
    return Interview(exercise, folder, running.deadline, draw, still_running)
