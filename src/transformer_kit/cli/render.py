"""Everything the kit prints for people: the check report, the exercise list, hints.

All terminal styling lives here (an exercise's failures: failing.py; lines that wrap:
lines.py). Every line also reads without colour (NO_COLOR, piped output): status is always
spelled out in words, not only in colour.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from rich.console import Console, RenderableType
from rich.markup import escape
from rich.measure import Measurement
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from transformer_kit.catalog import Exercise
from transformer_kit.cli.failing import function_failures, not_started
from transformer_kit.cli.lines import count as _count
from transformer_kit.cli.lines import hanging as _hanging
from transformer_kit.cli.lines import output as _output
from transformer_kit.cli.lines import points as _points
from transformer_kit.cli.lines import wrapped as _wrapped
from transformer_kit.learner.interview import Attempt
from transformer_kit.learner.outline import Outline
from transformer_kit.learner.workspace import Record
from transformer_kit.results import CheckResult, ExerciseResult

BAR_WIDTH = 40


def console(stderr: bool = False) -> Console:
    """A console that wraps at the terminal's width (or $COLUMNS); piped output with no COLUMNS
    keeps every line whole, for grep and scripts."""
    out = Console(stderr=stderr, highlight=False)
    out.soft_wrap = not (out.is_terminal or os.environ.get("COLUMNS"))
    return out


CHECK_AGAIN = "Edit the failing file, then run `kit check` again; `kit hint NAME` gives a hint."
SAVE_AGAIN = "Save the file to check it again; `kit hint NAME` gives a hint."
SAVE_INTERVIEW = "Save the file to check it again (no hints during an interview)."


WATCHDOG_LIMITS = (
    "limits: enforced by the kit's watchdog (as root, where cgroups are mounted, the kernel "
    "enforces them)"
)


def _caveats(result: CheckResult) -> list[tuple[str, str]]:
    """(style, line): the isolation level when weaker than full, and what enforced the limits
    when it was not the kernel."""
    from transformer_kit.sandbox import cgroup, isolation

    level = isolation.LEVELS.get(result.isolation)
    caveats = [("yellow", level.caveat)] if level is not None and level.caveat else []
    return caveats + ([("dim", WATCHDOG_LIMITS)] if result.limits != cgroup.CGROUP else [])


def check_report(
    out: Console,
    result: CheckResult,
    next_step: str = CHECK_AGAIN,
    show_output: bool = False,
    all_details: bool = False,
) -> None:
    """The report of a check; `show_output`: what the learner's code printed, under each test;
    `all_details`: every failure with all its fields (else the first DETAILED_FAILURES)."""
    several = len(result.exercises) > 1
    for exercise in result.exercises:
        if several and exercise.untouched_bugs and not show_output:
            not_started(
                out, exercise, f"not started: {exercise.untouched_bugs} planted bugs to fix"
            )
        else:
            _exercise_block(out, exercise, show_output, all_details)
    printing = sum(bool(t.output) for e in result.exercises for t in e.tests)
    if printing and not show_output:
        out.print(
            f"[dim]Your code printed output during {_count(printing, 'test')}: "
            "`kit check --show-output` shows it.[/]"
        )
    for style, caveat in _caveats(result):
        out.print(f"[{style}]{escape(caveat)}[/]")
    passed = sum(e.passed for e in result.exercises)
    total = len(result.exercises)
    out.print()
    out.print(
        f"[bold]{passed} of {total} exercise{'s' if total != 1 else ''} passed[/] · "
        f"{_points(result.score)} of {_points(result.max_score)} points"
    )
    out.print(_bar(result.score, result.max_score, _bar_width(out)))
    if not result.passed:
        out.print(next_step)


def _exercise_block(
    out: Console, exercise: ExerciseResult, show_output: bool, all_details: bool
) -> None:
    failed = [t for t in exercise.tests if not t.passed]
    status = "[green]passed[/]" if exercise.passed else "[red]failed[/]"
    mark = "[green]✓[/]" if exercise.passed else "[red]✗[/]"
    total = len(exercise.tests)
    detail = f"{len(failed)} of {_count(total, 'test')} failed" if failed else (
        f"all {total} tests passed" if total != 1 else "its test passed"
    )  # fmt: skip
    if exercise.not_started and not show_output:
        not_started(out, exercise)
        return
    _hanging(
        out,
        2,
        f"{mark} [bold]{exercise.name}[/] {status}  {_points(exercise.score)}/"
        f"{_points(exercise.max_score)} points  ({detail})  [dim]{escape(exercise.title)}[/]",
    )
    if exercise.planted_bugs is not None:
        out.print(f"    {_planted_bugs(*exercise.planted_bugs)}")
    if show_output:
        for test in exercise.tests:
            if test.passed and test.output:
                _hanging(out, 4, f"  [green]✓[/] {escape(test.name)}")
                _output(out, test.output)
    hidden = 0
    for function, tests in exercise.failures_by_function().items():
        hidden += function_failures(out, function, tests, show_output, all_details)
    if hidden:
        out.print(f"    [dim]{hidden} more: kit check {exercise.name} --details[/]")


def _planted_bugs(remaining: int, total: int) -> str:
    """A debug exercise's progress: how many of its planted bugs its failed tests still show."""
    if not remaining:
        return f"[green]all {total} planted bugs fixed[/]"
    verb = "remains" if remaining == 1 else "remain"
    return f"[red]{remaining} of {total} planted bugs {verb}[/]"


def _bar_width(out: Console) -> int:
    return max(10, min(BAR_WIDTH, out.width - 6))  # room for " 100%"


def _bar(done: float, total: float, width: int = BAR_WIDTH) -> Text:
    """A progress bar that reads without colour: filled and empty cells differ in shape."""
    share = done / total if total else 0.0
    filled = round(share * width)
    bar = Text("█" * filled, style="green")
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" {share:.0%}")
    return bar


def exercise_list(
    out: Console,
    exercises: Sequence[Exercise],
    records: dict[str, Record],
    fresh: set[str],
    interviews: Mapping[str, float],
) -> None:
    """A table, one line per exercise, where it fits the width; else each exercise's title and
    topic go under its name and status, wrapped. `interviews`: per exercise, the minutes of its
    fastest passed interview attempt (a column only once there is one)."""
    rows = []
    done = 0.0
    for number, exercise in enumerate(exercises, 1):
        record = records.get(exercise.name)
        best = record.best_score if record else 0.0
        done += best
        status = _status(exercise.name, record, fresh)
        interview = ""
        if interviews:
            interview = f"{interviews[exercise.name]:g} min" if exercise.name in interviews else "—"
        rows.append((str(number), exercise, status, f"{best:g}/{exercise.points:g}", interview))
    out.print("[bold]Exercises[/]")
    table = _list_table(rows, bool(interviews))
    if _fits(out, table):
        out.print(table)
    else:
        _list_stacked(out, rows)
    out.print(_bar(done, sum(e.points for e in exercises), _bar_width(out)))


ListRow = tuple[str, Exercise, str, str, str]  # number, exercise, status, best score, interview


def _list_table(rows: Sequence[ListRow], interviews: bool) -> Table:
    table = Table(box=None, padding=(0, 1), pad_edge=False, header_style="bold")
    headings = ("#", "name", "title", "topic", "status", "best", "interview")
    for heading in headings if interviews else headings[:-1]:
        right = heading in ("#", "best", "interview")
        table.add_column(heading, no_wrap=True, justify="right" if right else "left")
    for number, exercise, status, best, interview in rows:
        cells = [number, exercise.name, escape(exercise.title), exercise.topic, status, best]
        table.add_row(*cells, *([interview] if interviews else []))
    return table


def _list_stacked(out: Console, rows: Sequence[ListRow]) -> None:
    digits = len(str(len(rows)))
    for number, exercise, status, best, interview in rows:
        title = f"[dim]{escape(exercise.title)} ({exercise.topic})[/]"
        timed = f"  interview {interview}" if interview and interview != "—" else ""
        body = Text.from_markup(f"[bold]{exercise.name}[/]  {status}  {best}{timed}\n{title}")
        _wrapped(out, Text(f"{number:>{digits}} "), body, digits + 1)


def _fits(out: Console, renderable: RenderableType) -> bool:
    """The renderable's natural width (measured without the console's limit) fits the console."""
    unlimited = out.options.update_width(10**4)
    return Measurement.get(out, unlimited, renderable).maximum <= out.width


def _status(name: str, record: Record | None, fresh: set[str]) -> str:
    if record is not None and record.passed_at:
        return "[green]passed[/]"
    if name in fresh:
        return "not started"
    if record is not None and record.max_score:
        return "[yellow]in progress[/]"
    return "edited, not checked"


def hints(out: Console, exercise: Exercise, shown: Sequence[int], last: bool) -> None:
    """Print hints by their 0-based index, numbered as "hint 2 of 3"; `last`: no hint is left."""
    for index in shown:
        out.print(
            f"[bold]{exercise.name}[/], hint {index + 1} of {len(exercise.hints)}: "
            f"{escape(exercise.hints[index])}"
        )
    if last:
        out.print("[dim]That was the last hint.[/]")


def source(out: Console, path: Path, title: str) -> None:
    """A Python file, syntax-highlighted (plain when colour is off)."""
    out.rule(title)
    out.print(Syntax(path.read_text(encoding="utf-8"), "python", line_numbers=True))


def next_exercise(out: Console, exercise: Exercise, path: Path, outline: Outline) -> None:
    """The exercise's title and summary, the names to write, its file and what to run."""
    out.print(f"Next: [bold]{exercise.name}[/] — {escape(exercise.title)} ({exercise.topic})")
    if outline.summary:
        _hanging(out, 2, f"  {escape(outline.summary)}")
    out.print("To write:")
    answers = [item.name for item in outline.items if item.signature == item.name]
    for item in outline.items:
        if item.signature != item.name:
            about = f" [dim]— {escape(item.summary)}[/]" if item.summary else ""
            _hanging(out, 4, f"  • {escape(item.signature)}{about}")
    if answers:
        _hanging(out, 4, f"  • the answers {escape(', '.join(answers))}")
    if path.is_file():
        _hanging(
            out, 0, f"In: {escape(str(path))} (its docstrings give the shapes and conventions)"
        )
    else:
        out.print(f"{path} is missing: `kit reset {exercise.name}` brings back the stub.")
    out.print(
        f"Edit it, then `kit check {exercise.name}` (or `kit watch`); `kit hint {exercise.name}` "
        "helps."
    )


def whats_next(out: Console, following: Exercise | None) -> None:
    """After a check that passed: the first exercise not passed yet."""
    if following is None:
        out.print("[green]Every exercise has passed.[/] Well done!")
    else:
        _hanging(
            out,
            0,
            f"Next: [bold]{following.name}[/] — {escape(following.title)}: `kit next` shows it, "
            "`kit watch` follows it.",
        )


def workspace_line(out: Console, root: Path) -> None:
    """Which workspace the command used (the kit's own checkout says so)."""
    import transformer_kit

    own = " (the kit's own checkout: `kit init DIR` makes a workspace of yours)"
    mine = "" if root.resolve() != transformer_kit.CONTENT.resolve() else own
    _hanging(out, 0, f"[dim]workspace: {escape(str(root))}{mine}[/]")


def grade_summary(
    out: Console, summary: dict[str, Any], graded: int, reused: int, folder: Path
) -> None:
    """`kit grade`'s closing table: per exercise the class's mean, median, passes and most
    frequent likely mistake; then what was graded and where the files are."""
    students = summary["students"]
    table = Table(title=f"{students} submission{'s' if students != 1 else ''}",
                  title_justify="left")  # fmt: skip
    table.add_column("exercise", no_wrap=True)
    table.add_column("mean", justify="right")
    table.add_column("median", justify="right")
    table.add_column("passed", justify="right", no_wrap=True)
    table.add_column("most frequent likely mistake", ratio=1)
    for name, entry in summary["exercises"].items():
        mistakes = entry["likely_mistakes"]
        top = f"{escape(mistakes[0]['line'])} ({mistakes[0]['count']})" if mistakes else "—"
        table.add_row(
            name,
            f"{entry['mean']:g}/{entry['max_score']:g}",
            f"{entry['median']:g}",
            f"{entry['passed']} of {students}",
            top,
        )
    out.print(table)
    out.print(f"graded {graded}, unchanged since the last run {reused}")
    if summary["failed"]:
        names = ", ".join(summary["failed"])
        out.print(f"[red]the kit could not grade {len(summary['failed'])}[/]: {escape(names)} "
                  "(their results say why; run again to retry)")  # fmt: skip
    files = ", ".join(str(folder / name) for name in ("grades.csv", "summary.json", "report.html"))
    out.print(f"wrote {files}, {folder / 'results'}/")


def student_table(out: Console, rows: Sequence[tuple[str, float, float, int, int, str]]) -> None:
    """`kit grade`'s per-student table: score, exercises passed, first likely mistake (rows of
    student, score, max_score, exercises passed, exercises, mistake)."""
    table = Table(title="Students", title_justify="left")
    table.add_column("student", overflow="fold", max_width=30)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("passed", justify="right", no_wrap=True)
    table.add_column("first likely mistake", ratio=1)
    for student, score, maximum, passed, exercises, mistake in rows:
        table.add_row(
            escape(student),
            f"{_points(score)}/{_points(maximum)}",
            f"{passed} of {exercises}",
            escape(mistake) if mistake else "—",
        )
    out.print(table)


def interview_history(out: Console, attempts: Sequence[Attempt]) -> None:
    """Every finished interview attempt, oldest first."""
    if not attempts:
        out.print("No interview attempts yet: `kit interview` starts one.")
        return
    table = Table(title="Interview attempts", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("exercise", no_wrap=True)
    table.add_column("started", no_wrap=True)
    table.add_column("minutes", justify="right", no_wrap=True)
    table.add_column("score", justify="right", no_wrap=True)
    table.add_column("result", no_wrap=True)
    for number, attempt in enumerate(attempts, 1):
        started = datetime.fromisoformat(attempt.started).astimezone()
        score = (
            "—"
            if attempt.score is None
            else f"{_points(attempt.score)}/{_points(attempt.max_score)}"
        )
        table.add_row(
            str(number),
            attempt.exercise,
            started.strftime("%Y-%m-%d %H:%M"),
            f"{attempt.minutes_used:g} of {attempt.minutes}",
            score,
            _outcome(attempt),
        )
    out.print(table)


def _outcome(attempt: Attempt) -> str:
    if attempt.score is None:
        words = "[dim]abandoned[/]"
    else:
        words = "[green]passed[/]" if attempt.passed else "[red]failed[/]"
    return f"{words}, [yellow]overtime[/]" if attempt.overtime else words
