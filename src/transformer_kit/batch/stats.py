"""What a class's results say together: every test's pass rate and the class's likely mistakes,
counted from the results documents of `kit grade` (summary.json, report.html and the terminal
table are views of these).

Likely mistakes come from the graders' labelled fields only, never from message text, and the
diagnoses of a worker that died or broke the kit's channel (sandbox/client.py) are not a
learner's mistake: they are never counted.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from transformer_kit.results import CheckResult, ResultsError, TestResult
from transformer_kit.sandbox.client import CHANNEL_DIAGNOSES


@dataclass(frozen=True)
class PassRate:
    """How many of the students graded on one test passed it."""

    exercise: str
    test: str
    passed: int
    graded: int

    @property
    def rate(self) -> float:
        return self.passed / self.graded if self.graded else 0.0


@dataclass(frozen=True)
class Mistake:
    """One likely mistake of one exercise: the students whose tests named it, and those tests."""

    exercise: str
    line: str
    students: tuple[str, ...]  # sorted
    tests: tuple[str, ...]  # the distinct tests that named it, sorted

    @property
    def count(self) -> int:
        return len(self.students)


def graded(results: Mapping[str, dict[str, Any]]) -> dict[str, CheckResult]:
    """Each student's result read back from its structured fields; a student the kit could not
    grade (an `error`, or a document it cannot read) is left out."""
    read = {}
    for student in sorted(results):
        document = results[student]
        if "error" in document:
            continue
        try:
            read[student] = CheckResult.from_json(document)
        except ResultsError:
            continue
    return read


def pass_rates(results: Mapping[str, CheckResult]) -> list[PassRate]:
    """Every test's pass rate, the most failed first (then by exercise and test name)."""
    passed: dict[tuple[str, str], int] = {}
    seen: dict[tuple[str, str], int] = {}
    for result in results.values():
        for exercise in result.exercises:
            for test in exercise.tests:
                key = (exercise.name, test.name)
                seen[key] = seen.get(key, 0) + 1
                passed[key] = passed.get(key, 0) + test.passed
    rates = [PassRate(e, t, passed[(e, t)], count) for (e, t), count in seen.items()]
    return sorted(rates, key=lambda r: (r.rate, r.exercise, r.test))


def mistakes(results: Mapping[str, CheckResult]) -> list[Mistake]:
    """The class's likely mistakes, most frequent first: by the number of students, then by the
    number of distinct tests that named it, then alphabetically (exercise, then line)."""
    students: dict[tuple[str, str], set[str]] = {}
    tests: dict[tuple[str, str], set[str]] = {}
    for student, result in results.items():
        for exercise in result.exercises:
            for test in exercise.tests:
                for line in learner_mistakes(test):
                    key = (exercise.name, line)
                    students.setdefault(key, set()).add(student)
                    tests.setdefault(key, set()).add(test.name)
    found = [
        Mistake(exercise, line, tuple(sorted(names)), tuple(sorted(tests[(exercise, line)])))
        for (exercise, line), names in students.items()
    ]
    return sorted(found, key=lambda m: (-m.count, -len(m.tests), m.exercise, m.line))


def learner_mistakes(test: TestResult) -> tuple[str, ...]:
    """A test's likely mistakes that are about the learner's computation (not the process's)."""
    return tuple(line for line in test.likely_mistakes if line not in CHANNEL_DIAGNOSES)


def first_mistake(result: CheckResult) -> str:
    """The first likely mistake of a student's result, in report order ("" when none)."""
    lines = (line for e in result.exercises for t in e.tests for line in learner_mistakes(t))
    return next(iter(lines), "")


def of_exercise(found: Iterable[Mistake], exercise: str) -> list[Mistake]:
    return [m for m in found if m.exercise == exercise]
