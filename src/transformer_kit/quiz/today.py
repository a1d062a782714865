"""`kit today`: the day's plan from the quiz schedule, the progress store and the interview
history: the checks due, the next exercise not passed, and one passed exercise to redo from a
blank stub (the one passed longest ago, as `kit interview` picks), with an estimate in minutes."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from transformer_kit.catalog import Exercise
from transformer_kit.learner import interview
from transformer_kit.learner.workspace import Progress
from transformer_kit.quiz.bank import Check
from transformer_kit.quiz.schedule import Store

DAILY_CHECKS = 20  # at most this many checks in a day's plan
SECONDS_PER_CHECK = 45


@dataclass(frozen=True)
class Plan:
    due: int  # checks due now
    checks: int  # of them, today's share
    next_exercise: Exercise | None
    redo: Exercise | None

    @property
    def quiz_minutes(self) -> int:
        return math.ceil(self.checks * SECONDS_PER_CHECK / 60)

    @property
    def minutes(self) -> int:
        chosen = (e for e in (self.next_exercise, self.redo) if e is not None)
        return self.quiz_minutes + sum(e.interview_minutes for e in chosen)


def plan(
    checks: Sequence[Check],
    quiz: Store,
    exercises: Sequence[Exercise],
    progress: Progress,
    attempts: interview.Store,
    now: datetime,
) -> Plan:
    due = len(quiz.due(checks, now))
    passed = progress.passed() | {a.exercise for a in attempts.attempts if a.passed}
    pending = [e for e in exercises if e.name not in passed]
    done = [e for e in exercises if e.name in passed]
    return Plan(
        due=due,
        checks=min(due, DAILY_CHECKS),
        next_exercise=pending[0] if pending else None,
        redo=interview.choose(done, progress, attempts) if done else None,
    )
