"""What a check found: per test, per exercise, overall; its `--json` form (cli.md), which keeps
each failed test's summary and labelled fields, and that form read back (`from_json`)."""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from transformer_kit import __version__

UNIT = 64  # points are kept in 64ths: binary floats hold them exactly, so a sum of them in any
# order (the kit's, nbgrader's gradebook, a spreadsheet's) is exact, where hundredths gave
# 19.999999999999986 for 20 points
LIKELY_MISTAKE = "likely mistake"  # grader/failures.py labels diagnoses so (it may not import this:
# notebooks inline it); tests/engine/test_engine_units.py holds the two equal
NOT_IMPLEMENTED = "not implemented yet"  # how grader/failures.py begins a NotImplementedError's
# summary (tests/learner/test_report.py holds the two equal)
CALLED = "called"  # the label of the call a failed test made
_FUNCTION = re.compile(r"([A-Za-z_]\w*)")  # the name a `called` field begins with
_ANSWER = re.compile(r"([A-Z][A-Z0-9_]*):")  # a test of an answer (a warm-up's) is named so


class ResultsError(ValueError):
    """A stored results document is not one the kit writes (missing or mistyped fields)."""


def shares(points: float, weights: Sequence[float]) -> list[float]:
    """`points` split in proportion to `weights` into 64ths that add up to exactly `points`
    (the largest remainders get the spare 64ths, the earlier test on a tie)."""
    whole, total = round(points * UNIT), sum(Fraction(w) for w in weights)
    if not total:
        return [0.0] * len(weights)
    exact = [whole * Fraction(w) / total for w in weights]
    units = [math.floor(x) for x in exact]
    spare = whole - sum(units)
    for index in sorted(range(len(exact)), key=lambda i: units[i] - exact[i])[:spare]:
        units[index] += 1
    return [u / UNIT for u in units]


def add_points(values: Iterable[float]) -> float:
    """A sum of points (64ths, so exact; fsum keeps any other value as close as it can)."""
    return math.fsum(values)


@dataclass(frozen=True)
class TestResult:
    name: str
    passed: bool
    score: float
    max_score: float
    summary: str = ""
    fields: tuple[tuple[str, str], ...] = ()  # (label, text) in report order; "" unlabelled
    output: str = ""  # what the learner's code printed during the test (cleaned, bounded)
    bugs: tuple[str, ...] = ()  # a debug exercise's planted bugs this test detects (its marker)

    @property
    def message(self) -> str:
        """The failure as plain text: summary, then `label: text` lines."""
        return _text(self.summary, self.fields)

    @property
    def likely_mistakes(self) -> tuple[str, ...]:
        """The grader's diagnoses (its "likely mistake" fields), never text the learner wrote."""
        return tuple(text for label, text in self.fields if label == LIKELY_MISTAKE)

    @property
    def function(self) -> str:
        """The name of the function (or class) of the learner's the test called, from its
        `called` field ("" when it names none)."""
        call = next((text for label, text in self.fields if label == CALLED), "")
        found = _FUNCTION.match(call) or _ANSWER.match(self.name)
        return found.group(1) if found else ""

    @property
    def not_implemented(self) -> bool:
        """Failed because the learner's function still raises NotImplementedError."""
        return not self.passed and self.summary.startswith(NOT_IMPLEMENTED)

    def shown(self, hidden: bool) -> str:
        """The message a student may see: a hidden test keeps its summary and likely mistakes,
        never the inputs or expected values that the other fields give."""
        if not hidden:
            return self.message
        return _text(self.summary, [(LIKELY_MISTAKE, text) for text in self.likely_mistakes])

    def to_json(self) -> dict[str, Any]:
        data: dict[str, Any] = {
            "name": self.name,
            "passed": self.passed,
            "score": self.score,
            "max_score": self.max_score,
            "message": self.message,
        }
        if not self.passed:
            data["summary"] = self.summary
            data["fields"] = [{"label": label, "text": text} for label, text in self.fields]
        if self.bugs:
            data["bugs"] = list(self.bugs)
        return data

    @classmethod
    def from_json(cls, data: Any) -> TestResult:
        """The test of a stored document, from its structured fields (its `message` is derived
        from them, never read)."""
        try:
            passed = _typed(data["passed"], bool)
            stored = [] if passed else _typed(data["fields"], list)
            fields = tuple((_typed(f["label"], str), _typed(f["text"], str)) for f in stored)
            bugs = tuple(_typed(b, str) for b in _typed(data.get("bugs", []), list))
            return cls(
                name=_typed(data["name"], str),
                passed=passed,
                score=float(_typed(data["score"], int | float)),
                max_score=float(_typed(data["max_score"], int | float)),
                summary="" if passed else _typed(data["summary"], str),
                fields=fields,
                bugs=bugs,
            )
        except (KeyError, TypeError) as error:
            raise ResultsError(f"a stored test result lacks or mistypes {error}") from None


def _text(summary: str, fields: Iterable[tuple[str, str]]) -> str:
    lines = [summary] if summary else []
    lines += [f"{label}: {text}" if label else text for label, text in fields]
    return "\n".join(lines)


def _typed(value: Any, kind: Any) -> Any:
    """`value` when it is a `kind`, else a TypeError naming it."""
    if not isinstance(value, kind):
        raise TypeError(repr(value)[:80])
    return value


@dataclass(frozen=True)
class ExerciseResult:
    name: str
    title: str
    max_score: float
    tests: tuple[TestResult, ...] = field(default_factory=tuple)

    @property
    def passed(self) -> bool:
        return bool(self.tests) and all(t.passed for t in self.tests)

    @property
    def score(self) -> float:
        return add_points(t.score for t in self.tests)

    @property
    def not_started(self) -> bool:
        """Every test failed at a NotImplementedError: the stub is untouched, in effect."""
        return bool(self.tests) and all(t.not_implemented for t in self.tests)

    def failures_by_function(self) -> dict[str, list[TestResult]]:
        """The failed tests grouped by the function they called, in the order first met ("" for
        those that name none)."""
        groups: dict[str, list[TestResult]] = {}
        for test in self.tests:
            if not test.passed:
                groups.setdefault(test.function, []).append(test)
        return groups

    @property
    def planted_bugs(self) -> tuple[int, int] | None:
        """A debug exercise's (remaining, total) planted bugs: every bug a test declares, and those
        declared by a failed test; None for an exercise whose tests declare none."""
        declared = {bug for test in self.tests for bug in test.bugs}
        if not declared:
            return None
        remaining = {bug for test in self.tests if not test.passed for bug in test.bugs}
        return len(remaining), len(declared)

    @property
    def untouched_bugs(self) -> int:
        """How many bugs a debug exercise planted when its failed tests still show every one
        (its program untouched, in effect, as `not_started` says of a stub); else 0."""
        bugs = self.planted_bugs
        return bugs[1] if bugs is not None and bugs[0] == bugs[1] else 0

    def to_json(self) -> dict[str, Any]:
        data = {
            "name": self.name,
            "title": self.title,
            "passed": self.passed,
            "score": self.score,
            "max_score": self.max_score,
            "tests": [t.to_json() for t in self.tests],
        }
        if self.planted_bugs is not None:
            remaining, total = self.planted_bugs
            data["planted_bugs"] = {"remaining": remaining, "total": total}
        return data

    @classmethod
    def from_json(cls, data: Any) -> ExerciseResult:
        try:
            return cls(
                name=_typed(data["name"], str),
                title=_typed(data["title"], str),
                max_score=float(_typed(data["max_score"], int | float)),
                tests=tuple(TestResult.from_json(t) for t in _typed(data["tests"], list)),
            )
        except (KeyError, TypeError) as error:
            raise ResultsError(f"a stored exercise result lacks or mistypes {error}") from None


@dataclass(frozen=True)
class CheckResult:
    exercises: tuple[ExerciseResult, ...]
    isolation: str = "basic"  # the level's name: "full" (bubblewrap) or "basic" (isolation.py)
    limits: str = "watchdog"  # what enforced the limits: "cgroup" (the kernel) or "watchdog"

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.exercises)

    @property
    def score(self) -> float:
        return add_points(e.score for e in self.exercises)

    @property
    def max_score(self) -> float:
        return add_points(e.max_score for e in self.exercises)

    def to_json(self) -> dict[str, Any]:
        return {
            "kit_version": __version__,
            "isolation": self.isolation,
            "limits": self.limits,
            "score": self.score,
            "max_score": self.max_score,
            "exercises": [e.to_json() for e in self.exercises],
        }

    @classmethod
    def from_json(cls, data: Any) -> CheckResult:
        """A stored `--json` document read back (its scores and messages derived again)."""
        try:
            exercises = _typed(data["exercises"], list)
            isolation = _typed(data["isolation"], str)
            limits = _typed(data.get("limits", "watchdog"), str)  # an older kit's: not the kernel
        except (KeyError, TypeError) as error:
            raise ResultsError(f"a stored result lacks or mistypes {error}") from None
        return cls(tuple(ExerciseResult.from_json(e) for e in exercises), isolation, limits)
