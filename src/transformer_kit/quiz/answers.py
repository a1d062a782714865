"""One shown instance of a check, and grading a typed answer against it.

An instance is fixed by the check's id and a number (how often the learner has answered it): the
numbers drawn for a parameterised check and the order of the options both come from a random
generator seeded with that pair, so the prompt `kit quiz --json` shows and the one
`kit quiz --answer` grades are the same, and the next time brings new ones.
"""

from __future__ import annotations

import math
import random
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from transformer_kit.quiz.bank import PLACEHOLDER, Check
from transformer_kit.quiz.formulas import FORMULAS
from transformer_kit.untrusted import clean

LETTERS = "abcdefg"
ECHO = 40  # at most this much of a refused answer is shown back
THOUSANDS = re.compile(r"^[+-]?\d{1,3}(,\d{3})+(\.\d*)?([eE][+-]?\d+)?$")


class AnswerError(Exception):
    """An answer that is not of the check's kind (not a number, no such option, ...)."""


@dataclass(frozen=True)
class Shown:
    """What the learner sees, and what grades their answer."""

    check: Check
    instance: int
    prompt: str
    options: tuple[str, ...]  # in the order shown, lettered a, b, ...
    key: str  # the right letters ("b", "a,c", an order "c,a,b"), or "" for a number
    value: float | None  # the right number
    values: Mapping[str, float] = field(default_factory=dict)  # the numbers drawn

    @property
    def expected(self) -> str:
        if self.value is None:
            return self.key
        unit = f" {self.check.unit}" if self.check.unit else ""
        return f"{_number(self.value)}{unit}"

    @property
    def answer_format(self) -> str:
        last = LETTERS[len(self.options) - 1] if self.options else ""
        return {
            "numeric": f"a number{_unit(self.check)} (within {self.check.tolerance * 100:g}%)",
            "single": f"one letter, a to {last}",
            "multiple": f"every right letter, comma-separated (a to {last})",
            "order": f"all {len(self.options)} letters in order, comma-separated (e.g. "
            f"{','.join(reversed(LETTERS[: len(self.options)]))})",
        }[self.check.kind]


def show(check: Check, instance: int) -> Shown:
    draw = random.Random(f"{check.id}#{instance}")
    if check.kind == "numeric":
        return _numeric(check, instance, draw)
    order = list(range(len(check.options)))
    draw.shuffle(order)
    options = tuple(check.options[i] for i in order)
    if check.kind == "order":
        key = ",".join(LETTERS[order.index(i)] for i in range(len(order)))
    else:
        key = ",".join(LETTERS[n] for n, i in enumerate(order) if i in check.correct)
    return Shown(check, instance, check.prompt, options, key, None)


def _numeric(check: Check, instance: int, draw: random.Random) -> Shown:
    if not check.formula:
        return Shown(check, instance, check.prompt, (), "", check.answer)
    values = {name: draw.choice(choices) for name, choices in sorted(check.params.items())}
    prompt = PLACEHOLDER.sub(lambda m: _number(values[m.group(1)]), check.prompt)
    return Shown(check, instance, prompt, (), "", FORMULAS[check.formula](values), values)


def grade(shown: Shown, text: str) -> bool:
    """Whether `text` is right; AnswerError when it is not an answer of the check's kind."""
    if shown.value is not None:
        return _close(parse_number(text), shown.value, shown.check.tolerance)
    letters = parse_letters(text, len(shown.options))
    kind = shown.check.kind
    if kind == "single" and len(letters) != 1:
        raise AnswerError("give exactly one letter")
    if kind == "order":
        if sorted(letters) != list(LETTERS[: len(shown.options)]):
            raise AnswerError(f"give every letter a to {LETTERS[len(shown.options) - 1]} once")
        return ",".join(letters) == shown.key
    if len(set(letters)) != len(letters):
        raise AnswerError("a letter is given twice")
    return sorted(letters) == shown.key.split(",")


def parse_number(text: str) -> float:
    cleaned = text.strip().replace("_", "").replace(" ", "")
    if THOUSANDS.match(cleaned):
        cleaned = cleaned.replace(",", "")
    try:
        number = float(cleaned)
    except ValueError:
        typed = clean(text.strip(), ECHO)
        raise AnswerError(f"'{typed}' is not a number (e.g. 0.25, 3e9, 1,024)") from None
    if not math.isfinite(number):
        raise AnswerError("give a finite number")
    return number


def parse_letters(text: str, count: int) -> list[str]:
    words = [w for w in re.split(r"[\s,]+", text.strip().lower()) if w]
    if len(words) == 1 and len(words[0]) > 1 and set(words[0]) <= set(LETTERS[:count]):
        words = list(words[0])  # "cab" for "c,a,b"
    if not words:
        raise AnswerError("give an option letter")
    for word in words:
        if word not in LETTERS[:count]:
            shown = word if word.isprintable() and len(word) < 20 else "that"
            raise AnswerError(
                f"there is no option {shown!r}: the options are a to {LETTERS[count - 1]}"
            )
    return words


def _close(given: float, right: float, tolerance: float) -> bool:
    return math.isclose(given, right, rel_tol=tolerance, abs_tol=1e-12)


def _number(value: float) -> str:
    """A number as a person writes it: 4,096; 0.125; 3e+21; 7.5."""
    if float(value).is_integer() and abs(value) < 1e15:
        return f"{int(value):,}"
    if abs(value) >= 1e6 or abs(value) < 1e-3:
        return f"{value:.4g}"
    return f"{value:.6g}"


def _unit(check: Check) -> str:
    return f" in {check.unit}" if check.unit else ""
