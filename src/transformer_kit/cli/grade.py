"""`kit grade`: a class's submissions, graded in parallel (the work is in batch/: submissions.py,
engine.py, executors.py; this module parses, shows progress and renders)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from transformer_kit.batch.layouts import LAYOUTS  # light: the names, for --help

if TYPE_CHECKING:
    from transformer_kit.batch.engine import Outcome
    from transformer_kit.batch.executors import Executor
    from transformer_kit.batch.submissions import Submission
    from transformer_kit.catalog import Exercise
    from transformer_kit.sandbox.isolation import Level

INTERRUPTED = 130  # the shell's status for a run stopped by Ctrl-C


def default_jobs() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@click.command("grade")
@click.argument("submissions", nargs=-1, required=True, metavar="SUBMISSION...",
                type=click.Path(path_type=Path))  # fmt: skip
@click.option("--exercises", "exercise_list", metavar="NAME,...",
              help="Grade these exercises (prefixes work). Default: every exercise that any "
              "submission has a file for.")  # fmt: skip
@click.option("--out", type=click.Path(file_okay=False, path_type=Path), default=Path("grades"),
              show_default=True,
              help="Where grades.csv, results/, summary.json, report.html go.")  # fmt: skip
@click.option("-j", "--jobs", type=click.IntRange(min=1), default=None, metavar="N",
              help="Grading processes on this machine. Default: the number of CPUs.")  # fmt: skip
@click.option("--scheduler", metavar="ADDRESS",
              help="Send the work to a running Dask scheduler (tcp://HOST:PORT) instead; "
              "needs pip install 'transformer-kit[cluster]'.")  # fmt: skip
@click.option("--layout", type=click.Choice(LAYOUTS),
              help="How the submissions are laid out (default: detected): one folder per "
              "student; Canvas's flat download (login_userid_submissionid_file); Moodle's "
              "'Full Name_12345_assignsubmission_file_' folders; GitHub Classroom's "
              "'assignment-username' clones.")  # fmt: skip
@click.option("--roster", type=click.Path(dir_okay=False, path_type=Path), metavar="FILE",
              help="A CSV with the columns name (the platform's login, number or username) "
              "and student (the id to grade under).")  # fmt: skip
@click.option("--force", is_flag=True, help="Regrade every submission, even unchanged ones.")
@click.option("--json", "as_json", is_flag=True,
              help="Print one JSON document (the summary, with every student's totals) "
              "instead of the progress bar and table.")  # fmt: skip
@click.option("--allow-basic-isolation", is_flag=True,
              help="Grade even where bubblewrap is missing (students' code could then read "
              "each other's files).")  # fmt: skip
def grade(
    submissions: tuple[Path, ...],
    exercise_list: str | None,
    out: Path,
    jobs: int | None,
    scheduler: str | None,
    layout: str | None,
    roster: Path | None,
    force: bool,
    as_json: bool,
    allow_basic_isolation: bool,
) -> None:
    """Grade a class: one folder per student (the folder's name is the student id, with
    backslash escapes where it is not UTF-8 or does not print), holding exercises/NAME.py or
    NAME.py; or a folder of such folders.

    Every submission is graded as `kit check` grades, sandboxed, with full isolation. Results
    are written as they come: OUT/results/STUDENT.json (the `kit check --json` document plus
    student, submission_sha256 and notes on odd files), then OUT/grades.csv and
    OUT/summary.json (mean, median, passes and the most frequent likely mistakes per exercise,
    every test's pass rate) and OUT/report.html (the class report, one page for a browser).
    A rerun grades only the submissions that changed; Ctrl-C keeps finished results.

    \b
    Exit status: 0 when every submission was graded (whatever the scores), 1 when the kit
    could not grade some (their results say why), 2 on a usage error, 130 when interrupted.
    """
    from transformer_kit.batch import executors, layouts
    from transformer_kit.batch import submissions as finding
    from transformer_kit.cli import common as cli_errors

    level = batch_isolation(allow_basic_isolation)
    catalogue = cli_errors.catalogue()
    names = [e.name for e in catalogue]
    try:
        mapping = layouts.load_roster(roster) if roster else None
        found = layouts.read_class(submissions, names, out, layout, mapping)
    except finding.BatchError as error:
        raise click.UsageError(str(error)) from None
    except OSError as error:
        raise click.UsageError(finding.printable(str(error))) from None
    exercises = _exercises(exercise_list, catalogue, found)
    executor: Executor
    if scheduler:
        try:
            cluster = executors.DaskCluster(scheduler)
            cluster.check_workers(level)
        except executors.ClusterError as error:
            raise click.UsageError(str(error)) from None
        executor = cluster
    else:
        executor = executors.LocalPool(jobs or default_jobs())
    try:
        outcome = _run(found, exercises, out, executor, level, force, show=not as_json)
    except KeyboardInterrupt:
        _interrupted(out, force)
        raise SystemExit(INTERRUPTED) from None
    except OSError as error:
        raise click.ClickException(f"cannot write the results in {out}: {error}") from None
    if as_json:
        click.echo((out / "summary.json").read_text(encoding="utf-8"), nl=False)
    else:
        _print_summary(outcome, exercises, out)
    raise SystemExit(1 if outcome.failed else 0)


def _interrupted(out: Path, force: bool) -> None:
    """What Ctrl-C kept and how to grade the rest without regrading it (a rerun with --force
    would), wrapped between words at the terminal's width."""
    from rich.text import Text

    from transformer_kit.cli import render as report

    kept = len(list((out / "results").glob("*.json")))
    again = "the same command without --force" if force else "the same command again"
    report.console(stderr=True).print(Text(
        f"kit grade: interrupted; {kept} results are kept in {out / 'results'}. Run {again} to "
        "grade the rest: the kept results of unchanged submissions are reused."
    ))  # fmt: skip


def batch_isolation(allow_basic: bool) -> Level:
    """The isolation level a batch grades at: one that may grade a class, or another only when
    allowed (else a usage error saying how to get full isolation)."""
    from transformer_kit.sandbox import isolation

    try:
        level = isolation.choose()
    except isolation.IsolationUnavailable as error:
        raise click.UsageError(str(error)) from None
    if not level.grades_classes and not allow_basic:
        raise click.UsageError(
            "kit grade needs full isolation, so that no student's code can read another's files "
            "or the results: install bubblewrap (apt-get install -y bubblewrap; see the README's "
            "'How grading stays honest'), or pass --allow-basic-isolation"
        )
    return level


def _exercises(
    exercise_list: str | None, catalogue: Sequence[Exercise], found: Sequence[Submission]
) -> list[Exercise]:
    from transformer_kit.batch.submissions import exercises_submitted
    from transformer_kit.catalog import UnknownName, resolve

    if exercise_list is not None:
        words = [w.strip() for w in exercise_list.split(",") if w.strip()]
        if not words:
            raise click.UsageError("--exercises needs at least one exercise name")
        try:
            return resolve(words, catalogue)
        except UnknownName as error:
            raise click.UsageError(str(error)) from None
    submitted = exercises_submitted(found)
    chosen = [e for e in catalogue if e.name in submitted]
    if not chosen:
        raise click.UsageError(
            "no submission holds an exercise file (NAME.py or exercises/NAME.py); name the "
            "exercises with --exercises to grade them anyway (every one then scores 0)"
        )
    return chosen


def _run(
    found: Sequence[Submission],
    exercises: Sequence[Exercise],
    out: Path,
    executor: Executor,
    level: Level,
    force: bool,
    show: bool,
) -> Outcome:
    from rich.markup import escape
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    from transformer_kit.batch import engine as batch
    from transformer_kit.cli import render as report

    visible = _visible(exercises)

    columns = [
        TextColumn("grading"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        TextColumn("left"),
        TimeRemainingColumn(),
        TextColumn("{task.fields[last]}"),
    ]
    console = report.console(stderr=True)
    shown = show and console.is_terminal
    with Progress(*columns, console=console, disable=not shown, transient=True) as progress:
        bar = progress.add_task("grading", total=len(found), last="")

        def advance(student: str, document: dict[str, Any], reused: bool) -> None:
            state = "unchanged" if reused else "error" if "error" in document else "graded"
            progress.update(bar, advance=1, last=f"{escape(student)}: {state}")

        return batch.grade(found, exercises, out, executor, level, force, advance, visible)


def _visible(exercises: Sequence[Exercise]) -> dict[str, tuple[str, ...]]:
    """Each exercise's tests a student may see in full (as a released notebook shows them)."""
    from transformer_kit.classroom.nbgrader.grader_source import graded_tests
    from transformer_kit.classroom.nbgrader.sources import ExportError
    from transformer_kit.cli.common import KitBroken

    try:
        found = graded_tests(exercises)
    except ExportError as error:
        raise KitBroken(f"the kit's graders cannot be read: {error}") from None
    return {name: tuple(t.name for t in tests if t.visible) for name, tests in found.items()}


def _print_summary(outcome: Outcome, exercises: Sequence[Exercise], out: Path) -> None:
    import json

    from transformer_kit.batch import stats
    from transformer_kit.cli import render as report

    summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
    console = report.console()
    read = stats.graded(outcome.results)
    rows = [
        (student, r.score, r.max_score, sum(e.passed for e in r.exercises), len(r.exercises),
         stats.first_mistake(r))
        for student, r in read.items()
    ]  # fmt: skip
    report.student_table(console, rows)
    report.grade_summary(console, summary, len(outcome.graded), len(outcome.reused), out)
