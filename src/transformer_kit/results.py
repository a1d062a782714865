"""What a check found: per test, per exercise, overall; and its `--json` form (cli.md)."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from transformer_kit import __version__

CENTS = 100  # points are kept in hundredths: shares and sums are exact, never 5.999999999999998


def shares(points: float, weights: Sequence[float]) -> list[float]:
    """`points` split in proportion to `weights` into hundredths that add up to exactly `points`
    (the largest remainders get the spare hundredths, the earlier test on a tie)."""
    whole, total = round(points * CENTS), sum(Fraction(w) for w in weights)
    if not total:
        return [0.0] * len(weights)
    exact = [whole * Fraction(w) / total for w in weights]
    cents = [math.floor(x) for x in exact]
    spare = whole - sum(cents)
    for index in sorted(range(len(exact)), key=lambda i: cents[i] - exact[i])[:spare]:
        cents[index] += 1
    return [c / CENTS for c in cents]


def add_points(values: Iterable[float]) -> float:
    """A sum of points, exact in hundredths."""
    return round(math.fsum(values), 2)


@dataclass(frozen=True)
class TestResult:
    name: str
    passed: bool
    score: float
    max_score: float
    summary: str = ""
    fields: tuple[tuple[str, str], ...] = ()
    output: str = ""  # what the learner's code printed during the test (cleaned, bounded)

    @property
    def message(self) -> str:
        """The failure as plain text: summary, then `label: text` lines."""
        lines = [self.summary] if self.summary else []
        lines += [f"{label}: {text}" if label else text for label, text in self.fields]
        return "\n".join(lines)

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "score": self.score,
            "max_score": self.max_score,
            "message": self.message,
        }


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

    def to_json(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "passed": self.passed,
            "score": self.score,
            "max_score": self.max_score,
            "tests": [t.to_json() for t in self.tests],
        }


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
