"""The kit's lines of text in a terminal: counts and points in words, a line that wraps with a
hanging indent, a labelled field, the learner's printing (all styling stays with the callers)."""

from __future__ import annotations

from collections.abc import Sequence

from rich.console import Console
from rich.markup import escape
from rich.text import Text

FIELD_WIDTH = 16
INDENT = 6  # a failure's fields, under its line
OUTPUT_LINES = 20  # lines of the learner's printing shown per test with --show-output


def count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def points(value: float) -> str:
    """Points with at most two decimals: 4, 1.71, 0.5."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


def output(out: Console, text: str) -> None:
    """The learner's printing during one test, its first OUTPUT_LINES lines."""
    lines = text.splitlines()
    more = len(lines) - OUTPUT_LINES
    tail = [f"[dim]… ({count(more, 'more line')})[/]"] if more > 0 else []
    field(out, "your output:", [escape(line) for line in lines[:OUTPUT_LINES]] + tail)


def field(out: Console, label: str, lines: Sequence[str]) -> None:
    """`label` and its lines of markup in two columns under a failure."""
    lead = Text(" " * INDENT + label.ljust(FIELD_WIDTH), style="dim")
    wrapped(out, lead, Text.from_markup("\n".join(lines) or " "), INDENT + FIELD_WIDTH)


def hanging(out: Console, indent: int, markup: str) -> None:
    """One line of markup whose first `indent` cells lead it; when it wraps, its further lines
    are indented as far."""
    text = Text.from_markup(markup)
    wrapped(out, text[:indent], text[indent:], indent)


def wrapped(out: Console, lead: Text, body: Text, indent: int) -> None:
    """`lead` then `body`, wrapped at the console's width (none when the width is unknown:
    `console`), further lines `indent` cells in; no trailing spaces."""
    width = max(out.width - indent, 20) if not out.soft_wrap else 10**6
    for number, line in enumerate(body.wrap(out, width, overflow="fold")):
        line.rstrip()
        out.print(Text.assemble(lead if number == 0 else " " * indent, line), soft_wrap=True)
