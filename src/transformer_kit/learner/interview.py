"""Timed mock interviews: one exercise from a fresh stub, against the clock, without hints.

An attempt's file is `.kit/interview/NAME.py` (the learner's `exercises/NAME.py` is never
touched); the worker that grades it sees only that folder of `.kit/`. The store
`.kit/interview.json` holds the running attempt and every finished one; it is written like the
progress store (atomically; a damaged one is set aside with a warning).

The time comes from `clock()` alone, which the kit's tests replace: nothing here sleeps.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from transformer_kit.catalog import Exercise
from transformer_kit.learner.outline import without_walkthrough
from transformer_kit.learner.workspace import Progress, keep_backup, real_folder, state_folder
from transformer_kit.results import ExerciseResult
from transformer_kit.storage import atomic_write, load_versioned, save_versioned, set_aside

FOLDER = "interview"  # inside .kit/: the attempts' files
STORE = "interview.json"  # inside .kit/: the attempts
STORE_VERSION = 1
SUBMIT = "`kit interview --submit` grades it"
ABANDON = "`kit interview --abandon` ends it without a grade"


def clock() -> datetime:
    """Now, with its time zone (UTC)."""
    return datetime.now(UTC)


class InterviewError(Exception):
    """A request that does not fit the attempt's state; the message says what to do instead."""


@dataclass(frozen=True)
class Running:
    """The attempt under way."""

    exercise: str
    started: str  # ISO 8601 with its offset
    minutes: int  # allowed

    @property
    def deadline(self) -> datetime:
        return datetime.fromisoformat(self.started) + timedelta(minutes=self.minutes)

    def minutes_used(self, now: datetime) -> float:
        """Since the start; 0 if the clock was set back past it."""
        seconds = (now - datetime.fromisoformat(self.started)).total_seconds()
        return round(max(seconds, 0.0) / 60, 1)


@dataclass(frozen=True)
class Attempt:
    """A finished attempt; an abandoned one has no score."""

    exercise: str
    started: str
    minutes: int
    minutes_used: float
    score: float | None
    max_score: float
    passed: bool
    overtime: bool


@dataclass
class Store:
    path: Path
    running: Running | None = None
    attempts: list[Attempt] = field(default_factory=list)
    warning: str = ""

    def save(self) -> None:
        data = {
            "running": asdict(self.running) if self.running else None,
            "attempts": [asdict(a) for a in self.attempts],
        }
        state_folder(self.path.parent.parent).mkdir(exist_ok=True)
        save_versioned(self.path, STORE_VERSION, data)

    def require_running(self) -> Running:
        if self.running is None:
            raise InterviewError(
                "no interview attempt is running: start one with `kit interview [NAME]`"
            )
        return self.running


def folder(root: Path) -> Path:
    """Where the attempts' files are; a symbolic link there is refused, as for `.kit/`."""
    return real_folder(state_folder(root) / FOLDER, "interview files")


def attempt_file(root: Path, name: str) -> Path:
    return folder(root) / f"{name}.py"


def load(root: Path) -> Store:
    """The store; a missing one is empty, a damaged one is set aside with a warning."""
    path = state_folder(root) / STORE
    if not path.exists():
        return Store(path)
    try:
        running, attempts = _parse(load_versioned(path, STORE_VERSION))
    except (OSError, ValueError, TypeError, KeyError) as error:
        aside = set_aside(path)
        return Store(
            path,
            warning=f"the interview store {path} could not be read ({error}); it was moved to "
            f"{aside.name} and no attempt is running now (your files in {folder(root)} are "
            "untouched)",
        )
    return Store(path, running, attempts)


def _parse(data: Any) -> tuple[Running | None, list[Attempt]]:
    running = None if data["running"] is None else Running(**data["running"])
    attempts = [Attempt(**entry) for entry in data["attempts"]]
    if running is not None and not _valid_running(running):
        raise ValueError("the running attempt has values of the wrong kind")
    if not all(_valid_attempt(a) for a in attempts):
        raise ValueError("an attempt has values of the wrong kind")
    return running, attempts


def _valid_running(running: Running) -> bool:
    return (
        isinstance(running.exercise, str)
        and _is_time(running.started)
        and _is_positive_int(running.minutes)
    )


def _valid_attempt(attempt: Attempt) -> bool:
    numbers = [attempt.minutes_used, attempt.max_score]
    if attempt.score is not None:
        numbers.append(attempt.score)
    return (
        _valid_running(Running(attempt.exercise, attempt.started, attempt.minutes))
        and all(isinstance(n, int | float) and not isinstance(n, bool) and n >= 0 for n in numbers)
        and isinstance(attempt.passed, bool)
        and isinstance(attempt.overtime, bool)
    )


def _is_time(text: Any) -> bool:
    try:
        return isinstance(text, str) and datetime.fromisoformat(text).tzinfo is not None
    except ValueError:
        return False


def _is_positive_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def start(root: Path, store: Store, exercise: Exercise, minutes: int, now: datetime) -> Path | None:
    """Begin an attempt: a fresh stub in the attempt's file (its docstrings, without the
    practice stub's step-by-step TODO comments), then the store saved. An earlier
    attempt's file there is kept in .kit/backups/ first; returns that backup."""
    if store.running is not None:
        running = store.running
        raise InterviewError(
            f"an interview attempt at {running.exercise} is already running "
            f"({attempt_file(root, running.exercise)}): {SUBMIT}, {ABANDON}"
        )
    path = attempt_file(root, exercise.name)
    stub = without_walkthrough(exercise.stub.read_text(encoding="utf-8")).encode()
    backup = None
    if path.exists() and path.read_bytes() != stub:
        backup = keep_backup(root, path, f"interview-{exercise.name}")
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, stub)
    store.running = Running(exercise.name, now.isoformat(timespec="seconds"), minutes)
    store.save()
    return backup


def finish(store: Store, result: ExerciseResult | None, now: datetime) -> Attempt:
    """End the running attempt with its grade (None: abandoned) and remember it."""
    running = store.require_running()
    used = running.minutes_used(now)
    attempt = Attempt(
        exercise=running.exercise,
        started=running.started,
        minutes=running.minutes,
        minutes_used=used,
        score=None if result is None else result.score,
        max_score=0.0 if result is None else result.max_score,
        passed=result is not None and result.passed,
        overtime=now > running.deadline,
    )
    store.attempts.append(attempt)
    store.running = None
    store.save()
    return attempt


def best_minutes(attempts: Iterable[Attempt]) -> dict[str, float]:
    """Per exercise, the fewest minutes a passed attempt took."""
    best: dict[str, float] = {}
    for attempt in attempts:
        if attempt.passed:
            earlier = best.get(attempt.exercise, attempt.minutes_used)
            best[attempt.exercise] = min(earlier, attempt.minutes_used)
    return best


def choose(exercises: Sequence[Exercise], progress: Progress, store: Store) -> Exercise:
    """The first exercise never passed (by `kit check` or in an interview), else the one whose
    latest pass is the oldest."""
    latest: dict[str, datetime] = {}
    for name, record in progress.records.items():
        if record.passed_at:
            latest[name] = _local_time(record.passed_at)
    for attempt in store.attempts:
        if attempt.passed:
            when = datetime.fromisoformat(attempt.started)
            latest[attempt.exercise] = max(latest.get(attempt.exercise, when), when)
    never = [e for e in exercises if e.name not in latest]
    return never[0] if never else min(exercises, key=lambda e: latest[e.name])


def _local_time(text: str) -> datetime:
    """A progress store time (local, no offset, maybe only a date) with its offset."""
    try:
        return datetime.fromisoformat(text).astimezone()
    except ValueError:
        return datetime.min.replace(tzinfo=UTC)  # unreadable: counts as the oldest pass
