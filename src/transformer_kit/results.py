"""What a check found: per test, per exercise, overall; and its `--json` form (cli.md)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformer_kit import __version__


@dataclass(frozen=True)
class TestResult:
    name: str
    passed: bool
    score: float
    max_score: float
    summary: str = ""
    fields: tuple[tuple[str, str], ...] = ()

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
            "score": round(self.score, 6),
            "max_score": round(self.max_score, 6),
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
        return round(sum(t.score for t in self.tests), 6)

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
    isolation: str = "basic"  # "full" (bubblewrap) or "basic" (isolation.py)

    @property
    def passed(self) -> bool:
        return all(e.passed for e in self.exercises)

    @property
    def score(self) -> float:
        return round(sum(e.score for e in self.exercises), 6)

    @property
    def max_score(self) -> float:
        return round(sum(e.max_score for e in self.exercises), 6)

    def to_json(self) -> dict[str, Any]:
        return {
            "kit_version": __version__,
            "isolation": self.isolation,
            "score": self.score,
            "max_score": self.max_score,
            "exercises": [e.to_json() for e in self.exercises],
        }
