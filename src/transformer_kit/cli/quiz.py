"""`kit quiz` and `kit today` (the logic: transformer_kit/quiz/).

Everything shown comes from the kit's own bank, but it is printed without rich markup all the
same: a prompt like "softmax([1, 2, 3])" must not be read as a style tag.
"""

from __future__ import annotations

import difflib
import json
from collections.abc import Sequence
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from transformer_kit import __version__
from transformer_kit.cli.common import (
    KitBroken,
    catalogue,
    progress_of,
    warn,
    workspace_option,
    workspace_root,
)

if TYPE_CHECKING:
    from rich.console import Console

    from transformer_kit.quiz.answers import Shown
    from transformer_kit.quiz.bank import Bank, Check
    from transformer_kit.quiz.schedule import Store

SESSION = 10  # checks asked by `kit quiz` without --count
INTERRUPTED = 130  # the shell's status for a run stopped by Ctrl-C
RIGHT, WRONG, NOT_AN_ANSWER = 0, 1, 2


@click.command()
@click.argument("topic", required=False)
@click.option("--count", type=click.IntRange(1, 10_000), metavar="N",
              help=f"Ask at most N due checks (default {SESSION}; --json: all due).")  # fmt: skip
@click.option("--stats", is_flag=True, help="Per topic: checks, seen, right, due.")
@click.option("--list", "list_topics", is_flag=True, help="The topics.")
@click.option("--json", "as_json", is_flag=True,
              help="JSON: the due checks, no answers (with --answer: the verdict).")  # fmt: skip
@click.option("--answer", nargs=2, metavar="ID VALUE",
              help="Grade one answer: a number, a letter, 'a,c', an order 'c,a,b'.")  # fmt: skip
@workspace_option
@click.pass_context
def quiz(
    context: click.Context,
    topic: str | None,
    count: int | None,
    stats: bool,
    list_topics: bool,
    as_json: bool,
    answer: tuple[str, str] | None,
    workspace: str | None,
) -> None:
    """Concept checks from the interview notes, on a spaced-repetition schedule (FSRS).

    Asks the due checks one at a time (of TOPIC only, if given), grades each, explains it and
    schedules it again: soon when you missed it, later and later while you get it right.
    Ctrl-C stops; every answer given is kept.

    Exit status: 0 every answer right (or nothing to ask), 1 some answer wrong, 2 usage error
    (also --answer with an unknown id or an answer not of the check's kind), 130 stopped by
    Ctrl-C.
    """
    actions = [
        name
        for name, on in (("--stats", stats), ("--list", list_topics), ("--answer", answer))
        if on
    ]
    if len(actions) > 1 or (as_json and actions and actions != ["--answer"]):
        raise click.UsageError(
            "give only one of --stats, --list, --answer (--json goes with --answer or alone)"
        )
    bank = _bank()
    if list_topics:
        _list(bank)
        return
    checks = _checks(bank, topic)
    root = workspace_root(context, workspace)
    store = _store(root)
    now = _now()
    if stats:
        _stats(bank, store, now)
    elif answer:
        context.exit(_answer(bank, store, answer, as_json, now))
    elif as_json:
        _due_json(store, store.due(checks, now)[:count])
    else:
        context.exit(_session(bank, store, store.due(checks, now)[: count or SESSION]))


@click.command()
@workspace_option
@click.pass_context
def today(context: click.Context, workspace: str | None) -> None:
    """The day's plan: the concept checks due, the next exercise, a redo from a blank stub."""
    from transformer_kit.learner import interview
    from transformer_kit.quiz.today import plan

    root = workspace_root(context, workspace)
    store = _store(root)
    attempts = interview.load(root)
    warn(attempts.warning)
    day = plan(_bank().checks, store, catalogue(), progress_of(root), attempts, _now())
    out = _console()
    _say(out, f"Today: about {day.minutes} minutes.", "bold")
    if day.checks:
        quiz_line = f"{day.checks} of the {day.due} checks due, about {day.quiz_minutes} min"
        _say(out, f"- Quiz: {quiz_line}: kit quiz --count {day.checks}")
    else:
        _say(out, "- Quiz: nothing due.")
    if day.next_exercise:
        e = day.next_exercise
        where = f"exercises/{e.name}.py, then kit check {e.name}"
        _say(
            out, f"- Next exercise: {e.name} ({e.title}), about {e.interview_minutes} min: {where}"
        )
    else:
        _say(out, "- Every exercise has passed.")
    if day.redo:
        r = day.redo
        redo = f"{r.name}, about {r.interview_minutes} min: kit interview {r.name}"
        _say(out, f"- Redo from a blank stub: {redo}")


def _say(out: Console, text: str, style: str = "") -> None:
    out.print(text, style=style or None, markup=False, highlight=False)


def _bank() -> Bank:
    from transformer_kit.quiz.bank import BankError, load

    try:
        return load()
    except BankError as error:
        raise KitBroken(f"the kit's quiz bank is broken: {error}") from None


def _checks(bank: Bank, topic: str | None) -> Sequence[Check]:
    if topic is None:
        return bank.checks
    chosen = bank.topic(topic)
    if chosen is None:
        names = [t.name for t in bank.topics]
        close = difflib.get_close_matches(topic, names, n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        raise click.UsageError(f"no topic {topic!r}{hint}; the topics: {', '.join(names)}")
    return chosen.checks


def _store(root: Path) -> Store:
    from transformer_kit.quiz import schedule

    try:
        store = schedule.load(root)
    except NotADirectoryError as error:
        raise click.UsageError(str(error)) from None
    warn(store.warning)
    return store


def _now() -> datetime:
    from transformer_kit.quiz.schedule import clock

    return clock()


def _console() -> Console:
    from transformer_kit.cli import render

    return render.console()


def _list(bank: Bank) -> None:
    out = _console()
    for topic in bank.topics:
        _say(out, f"{topic.name:<16} {len(topic.checks):>3} checks  {topic.title}")


def _stats(bank: Bank, store: Store, now: datetime) -> None:
    from rich.table import Table

    table = Table("topic", "checks", "seen", "right", "due")
    rows = store.stats([(t.name, t.checks) for t in bank.topics], now)
    for row in rows:
        table.add_row(row.topic, *(str(n) for n in (row.checks, row.seen, row.right, row.due)))
    total = [sum(getattr(r, f) for r in rows) for f in ("checks", "seen", "right", "due")]
    table.add_row("all", *map(str, total), style="bold")
    _console().print(table)


def _due_json(store: Store, checks: Sequence[Check]) -> None:
    from transformer_kit.quiz.answers import show

    shown = [show(check, store.instance(check.id)) for check in checks]
    document = {"kit_version": __version__, "checks": [_public(s) for s in shown]}
    click.echo(json.dumps(document, indent=2, ensure_ascii=False))


def _public(shown: Shown) -> dict[str, Any]:
    """What a script may see of a check before answering: never the answer."""
    check = shown.check
    return {
        "id": check.id,
        "topic": check.topic,
        "kind": check.kind,
        "prompt": shown.prompt,
        "options": list(shown.options),
        "answer_format": shown.answer_format,
        "unit": check.unit,
        "tolerance": check.tolerance if check.kind == "numeric" else None,
        "note": check.note,
        "section": check.section,
    }


def _answer(bank: Bank, store: Store, answer: tuple[str, str], as_json: bool, now: datetime) -> int:
    from transformer_kit.quiz.answers import AnswerError, grade, show

    check_id, text = answer
    check = bank.check(check_id)
    if check is None:
        close = difflib.get_close_matches(check_id, [c.id for c in bank.checks], n=3)
        hint = f" (did you mean {', '.join(close)}?)" if close else ""
        click.echo(
            f"kit: no check {check_id!r}{hint}; `kit quiz --json` lists the due ones", err=True
        )
        return NOT_AN_ANSWER
    shown = show(check, store.instance(check.id))
    try:
        right = grade(shown, text)
    except AnswerError as error:
        click.echo(f"kit: {check.id} wants {shown.answer_format}: {error}", err=True)
        return NOT_AN_ANSWER
    _keep(store, check.id, right, now)
    if as_json:
        verdict = {
            "id": check.id,
            "right": right,
            "expected": shown.expected,
            **_source(bank, check),
        }
        click.echo(
            json.dumps({**verdict, "explanation": check.explanation}, indent=2, ensure_ascii=False)
        )
    else:
        _verdict(_console(), bank, shown, right)
    return RIGHT if right else WRONG


def _session(bank: Bank, store: Store, checks: Sequence[Check]) -> int:
    """Ask each check in turn; 130 when stopped by Ctrl-C (or the end of input)."""
    from transformer_kit.quiz.answers import show

    out = _console()
    if not checks:
        _say(out, "Nothing is due now. `kit quiz --stats` shows where you stand.")
        return RIGHT
    wrong = 0
    for number, check in enumerate(checks, 1):
        shown = show(check, store.instance(check.id))
        _ask(out, shown, number, len(checks))
        right = _read_until_graded(out, shown)
        if right is None:
            _say(out, f"\nStopped. {number - 1} answer(s) kept; the rest stay due.")
            return INTERRUPTED
        _keep(store, check.id, right, _now())
        _verdict(out, bank, shown, right)
        wrong += not right
    _say(out, f"\n{len(checks) - wrong} of {len(checks)} right.", "bold")
    return WRONG if wrong else RIGHT


def _ask(out: Console, shown: Shown, number: int, total: int) -> None:
    _say(out, f"\n[{number}/{total}] {shown.check.id}", "bold")
    _say(out, shown.prompt)
    for letter, option in zip("abcdefg", shown.options, strict=False):
        _say(out, f"  {letter}) {option}")
    _say(out, f"Answer with {shown.answer_format}.", "dim")


def _read_until_graded(out: Console, shown: Shown) -> bool | None:
    """The verdict on the first answer of the check's kind; None on Ctrl-C or end of input."""
    from transformer_kit.quiz.answers import AnswerError, grade

    while True:
        try:
            text = input("> ")
        except (KeyboardInterrupt, EOFError):
            return None
        if not text.strip():
            continue
        try:
            return grade(shown, text)
        except AnswerError as error:
            _say(out, f"Not an answer: {error}. Try again (Ctrl-C stops).", "yellow")


def _keep(store: Store, check_id: str, right: bool, now: datetime) -> None:
    try:
        store.record(check_id, right, now)
    except OSError as error:
        warn(f"could not save the quiz store {store.path}: {error}")


def _verdict(out: Console, bank: Bank, shown: Shown, right: bool) -> None:
    if right:
        _say(out, f"Right: {shown.expected}.", "green")
    else:
        _say(out, f"Wrong: the answer is {shown.expected}.", "red")
    _say(out, shown.check.explanation)
    source = _source(bank, shown.check)
    _say(out, f"(From note {source['note']}, {source['note_title']}: {source['section']})", "dim")


def _source(bank: Bank, check: Check) -> dict[str, str]:
    return {
        "note": check.note,
        "note_title": bank.notes[check.note].title,
        "section": check.section,
    }
