"""How a check report shows one exercise's failures: per function the first in full and one
line for each other, likely mistakes never hidden by repeats, pictures that fit the width."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.text import Text

from transformer_kit.cli.lines import INDENT, count, field, hanging, output, points, wrapped
from transformer_kit.results import LIKELY_MISTAKE, ExerciseResult, TestResult

NOT_STARTED = "it still raises NotImplementedError"
SAME = "the same failure as above"


def not_started(
    out: Console, exercise: ExerciseResult, why: str = "not started (not implemented yet)"
) -> None:
    """An exercise whose every test stopped at NotImplementedError (or an unanswered warm-up), or
    a debug exercise in a report of several with every planted bug left: one line, its title
    cut to fit."""
    line = Text.from_markup(
        f"[red]✗[/] [bold]{exercise.name}[/] [red]failed[/]  0/{points(exercise.max_score)}  "
        f"{escape(why)}  [dim]{escape(exercise.title)}[/]"
    )
    if not out.soft_wrap:
        line.truncate(out.width, overflow="ellipsis")
    out.print(line, soft_wrap=True)


OTHER_FAILURES = 2  # one-line failures per function after its first, unless --details


def function_failures(
    out: Console,
    function: str,
    tests: Sequence[TestResult],
    show_output: bool,
    all_details: bool,
) -> int:
    """One function's failures: the first in full, then one line for each other (those naming
    a likely mistake not named yet first), at most OTHER_FAILURES of them and none that says
    what was said already (the same summary, no new mistake), unless `all_details` (then each
    in full); returns how many were left out. A function not implemented yet is one line."""
    if function and not all_details and all(t.not_implemented for t in tests):
        many = count(len(tests), "test")
        hanging(out, 4, f"  [red]✗[/] {escape(function)}: not started ({many}: {NOT_STARTED})")
        return 0
    first, *others = tests
    named = set(first.likely_mistakes)  # likely mistakes shown already
    shown: set[str] = set()  # messages shown already
    said: set[str] = set()  # summaries shown already
    hidden = 0
    for test in [first, *sorted(others, key=lambda t: not set(t.likely_mistakes) - named)]:
        new = [m for m in test.likely_mistakes if m not in named]
        if all_details and test.message in shown:
            hanging(out, 4, f"  [red]✗[/] {escape(test.name)}: [dim]{SAME}[/]")
            continue
        repeated = test.message in shown or (test.summary in said and not new)
        if not all_details and (repeated or not (new or len(shown) <= OTHER_FAILURES)):
            hidden += 1
            continue
        if all_details or test is first:
            _failure(out, test, detailed=True)
        else:
            _one_line(out, test, new)
        shown.add(test.message)
        said.add(test.summary)
        named.update(test.likely_mistakes)
        if show_output and test.output:
            output(out, test.output)
    return hidden


def _one_line(out: Console, test: TestResult, mistakes: Sequence[str]) -> None:
    """A failure in one line (wrapped): its name, summary and any likely mistake not yet named."""
    also = "".join(f" [yellow]· likely mistake: {escape(m)}[/]" for m in mistakes)
    hanging(out, 4, f"  [red]✗[/] {escape(test.name)}: {escape(test.summary)}{also}")


def _failure(out: Console, test: TestResult, detailed: bool) -> None:
    hanging(out, 4, f"  [red]✗[/] {escape(test.name)}: {escape(test.summary)}")
    if not detailed:
        return
    width = out.width - INDENT if not out.soft_wrap else 10**6
    for label, text, picture in _fitted(test.fields, width):
        if picture:  # a matrix's rows: the whole width, not the fields' column
            wrapped(out, Text(" " * INDENT), Text(text), INDENT)
            continue
        style = "yellow" if label == LIKELY_MISTAKE else "none"
        lines = [f"[{style}]{escape(line)}[/]" for line in text.splitlines()]
        field(out, f"{label}:" if label else "", lines)


SIDE_BY_SIDE = "  |  "  # between the expected and the got half of a picture's row (compare.py)


def _fitted(fields: Sequence[tuple[str, str]], width: int) -> list[tuple[str, str, bool]]:
    """The fields as (label, text, is a picture's line); a side-by-side picture ("expected |
    got:" and its rows) wider than `width` is stacked: the expected rows, then the got rows."""
    fitted: list[tuple[str, str, bool]] = []
    index = 0
    while index < len(fields):
        label, text = fields[index]
        picture = not label and " | " in text and text.endswith(":")
        rows = _picture_rows(fields[index + 1 :]) if picture else []
        index += 1 + len(rows)
        if not rows:
            fitted.append((label, text, False))
        elif max(len(r) for r in rows) <= width:
            fitted += [("", line, True) for line in (text, *rows)]
        else:
            left, right = text.rstrip(":").split(" | ", 1)
            halves = [r.split(SIDE_BY_SIDE, 1) for r in rows]
            fitted += [("", f"{left}:", True), *(("", f"  {h[0].strip()}", True) for h in halves)]
            fitted += [("", f"{right}:", True), *(("", f"  {h[1].rstrip()}", True) for h in halves)]
    return fitted


def _picture_rows(fields: Sequence[tuple[str, str]]) -> list[str]:
    """The rows of a side-by-side picture at the start of `fields`."""
    rows = []
    for label, text in fields:
        if label or SIDE_BY_SIDE not in text:
            break
        rows.append(text)
    return rows
