"""Everything the kit prints for people: the check report, the exercise list, hints.

All terminal styling lives here. Every line also reads without colour (NO_COLOR, piped output):
status is always spelled out in words, not only in colour.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.syntax import Syntax
from rich.table import Table
from rich.text import Text

from transformer_kit.meta import Exercise
from transformer_kit.results import CheckResult, ExerciseResult, TestResult
from transformer_kit.workspace import Record

DETAILED_FAILURES = 3  # failures per exercise shown with every field; the rest in one line
FIELD_WIDTH = 16


def console(stderr: bool = False) -> Console:
    return Console(stderr=stderr, highlight=False, soft_wrap=True)


CHECK_AGAIN = "Edit the failing file, then run `kit check` again; `kit hint NAME` gives a hint."
SAVE_AGAIN = "Save the file to check it again; `kit hint NAME` gives a hint."


BASIC_ISOLATION = (
    "isolation: basic — install bubblewrap for full isolation (see the README's "
    "'How grading stays honest')"
)


def check_report(out: Console, result: CheckResult, next_step: str = CHECK_AGAIN) -> None:
    for exercise in result.exercises:
        _exercise_block(out, exercise)
    if result.isolation != "full":
        out.print(f"[yellow]{escape(BASIC_ISOLATION)}[/]")
    passed = sum(e.passed for e in result.exercises)
    total = len(result.exercises)
    out.print()
    out.print(
        f"[bold]{passed} of {total} exercise{'s' if total != 1 else ''} passed[/] · "
        f"{_points(result.score)} of {_points(result.max_score)} points"
    )
    out.print(_bar(result.score, result.max_score))
    if not result.passed:
        out.print(next_step)


def _points(value: float) -> str:
    """Points with at most two decimals: 4, 1.71, 0.5."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def _exercise_block(out: Console, exercise: ExerciseResult) -> None:
    failed = [t for t in exercise.tests if not t.passed]
    status = "[green]passed[/]" if exercise.passed else "[red]failed[/]"
    mark = "[green]✓[/]" if exercise.passed else "[red]✗[/]"
    detail = (
        f"all {len(exercise.tests)} tests passed"
        if not failed
        else f"{len(failed)} of {len(exercise.tests)} tests failed"
    )
    out.print(
        f"{mark} [bold]{exercise.name}[/] {status}  {_points(exercise.score)}/"
        f"{_points(exercise.max_score)}"
        f" points  ({detail})  [dim]{escape(exercise.title)}[/]"
    )
    shown: set[str] = set()  # failure messages printed already: not repeated
    for test in failed:
        if test.message in shown:
            out.print(f"  [red]✗[/] {escape(test.name)}: [dim]the same failure as above[/]")
            continue
        _failure(out, test, detailed=len(shown) < DETAILED_FAILURES)
        shown.add(test.message)


def _failure(out: Console, test: TestResult, detailed: bool) -> None:
    out.print(f"  [red]✗[/] {escape(test.name)}: {escape(test.summary)}")
    if not detailed:
        return
    for label, text in test.fields:
        lines = text.splitlines() or [""]
        prefix = f"{label}:".ljust(FIELD_WIDTH) if label else " " * FIELD_WIDTH
        style = "yellow" if label == "likely mistake" else ""
        for number, line in enumerate(lines):
            lead = prefix if number == 0 else " " * FIELD_WIDTH
            body = f"[{style}]{escape(line)}[/]" if style else escape(line)
            out.print(f"      [dim]{lead}[/]{body}")


def _bar(done: float, total: float, width: int = 40) -> Text:
    """A progress bar that reads without colour: filled and empty cells differ in shape."""
    share = done / total if total else 0.0
    filled = round(share * width)
    bar = Text("█" * filled, style="green")
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" {share:.0%}")
    return bar


def exercise_list(
    out: Console, exercises: Sequence[Exercise], records: dict[str, Record], fresh: set[str]
) -> None:
    table = Table(title="Exercises", title_justify="left")
    table.add_column("#", justify="right")
    table.add_column("name", no_wrap=True)
    table.add_column("title", ratio=1)
    table.add_column("topic")
    table.add_column("status", no_wrap=True)
    table.add_column("best", justify="right", no_wrap=True)
    done = 0.0
    total = 0.0
    for number, exercise in enumerate(exercises, 1):
        record = records.get(exercise.name)
        best = record.best_score if record else 0.0
        done += best
        total += exercise.points
        table.add_row(
            str(number),
            exercise.name,
            escape(exercise.title),
            exercise.topic,
            _status(exercise.name, record, fresh),
            f"{best:g}/{exercise.points:g}",
        )
    out.print(table)
    out.print(_bar(done, total))


def _status(name: str, record: Record | None, fresh: set[str]) -> str:
    if record is not None and record.passed_at:
        return "[green]passed[/]"
    if name in fresh:
        return "not started"
    if record is not None and record.max_score:
        return "[yellow]in progress[/]"
    return "edited, not checked"


def hints(out: Console, exercise: Exercise, shown: Sequence[int]) -> None:
    """Print hints by their 0-based index, numbered as "hint 2 of 3"."""
    for index in shown:
        out.print(
            f"[bold]{exercise.name}[/], hint {index + 1} of {len(exercise.hints)}: "
            f"{escape(exercise.hints[index])}"
        )
    if shown and shown[-1] == len(exercise.hints) - 1:
        out.print("[dim]That was the last hint.[/]")


def source(out: Console, path: Path, title: str) -> None:
    """A Python file, syntax-highlighted (plain when colour is off)."""
    out.rule(title)
    out.print(Syntax(path.read_text(encoding="utf-8"), "python", line_numbers=True))


def next_exercise(out: Console, exercise: Exercise, path: Path) -> None:
    out.print(f"Next: [bold]{exercise.name}[/] — {escape(exercise.title)} ({exercise.topic})")
    if path.is_file():
        source(out, path, str(path))
    else:
        out.print(f"{path} is missing: `kit reset {exercise.name}` brings back the stub.")
    out.print(
        f"Edit {path.name}, then `kit check {exercise.name}`; `kit hint {exercise.name}` helps."
    )


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
    out.print(f"wrote {folder / 'grades.csv'}, {folder / 'summary.json'}, {folder / 'results'}/")
