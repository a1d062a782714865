"""Exercise metadata: one declarative file (exercises.toml), loaded into frozen dataclasses.

The file's order is the order exercises are listed, checked and suggested in.
"""

from __future__ import annotations

import difflib
import tomllib
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import transformer_kit

METADATA = Path(__file__).with_name("exercises.toml")
FORMAT_VERSION = 1
HINT_COUNT = 3


class MetadataError(Exception):
    """exercises.toml is not what the kit expects; the message names the entry and the fix."""


class UnknownName(LookupError):
    """A name on the command line that matches no exercise, or several."""


@dataclass(frozen=True)
class Exercise:
    name: str
    title: str
    topic: str
    points: float
    time_limit: float
    interview_minutes: int
    hints: tuple[str, ...]

    @property
    def stub(self) -> Path:
        """The fresh stub shipped with the kit (never the learner's copy)."""
        return transformer_kit.CONTENT / "exercises" / f"{self.name}.py"

    @property
    def solution(self) -> Path:
        return transformer_kit.CONTENT / "solutions" / f"{self.name}.py"

    @property
    def grader(self) -> Path:
        return transformer_kit.CONTENT / "graders" / f"test_{self.name}.py"


_FIELDS: dict[str, tuple[type | tuple[type, ...], str]] = {
    "name": (str, "a string"),
    "title": (str, "a string"),
    "topic": (str, "a string"),
    "points": ((int, float), "a number"),
    "time_limit": ((int, float), "a number of seconds"),
    "interview_minutes": (int, "a whole number of minutes"),
    "hints": (list, f"a list of {HINT_COUNT} strings"),
}


@cache
def load(path: Path = METADATA) -> tuple[Exercise, ...]:
    """Every exercise, in the file's order."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise MetadataError(f"{path}: cannot be read: {error}") from error
    if data.get("format_version") != FORMAT_VERSION:
        raise MetadataError(f"{path}: set `format_version = {FORMAT_VERSION}` at the top")
    entries = data.get("exercises")
    if not isinstance(entries, list) or not entries:
        raise MetadataError(f"{path}: add at least one [[exercises]] table")
    exercises = tuple(_exercise(path, i, entry) for i, entry in enumerate(entries, 1))
    names = [e.name for e in exercises]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise MetadataError(f"{path}: exercise names must be unique: {', '.join(duplicates)}")
    return exercises


def _exercise(path: Path, index: int, entry: Any) -> Exercise:
    where = f"{path}: [[exercises]] entry {index}"
    if not isinstance(entry, dict):
        raise MetadataError(f"{where} is not a table")
    where += f" ({entry.get('name', 'no name')})"
    for key, (kind, text) in _FIELDS.items():
        if not isinstance(entry.get(key), kind):
            raise MetadataError(f"{where}: set `{key}` ({text})")
    unknown = sorted(set(entry) - set(_FIELDS))
    if unknown:
        raise MetadataError(f"{where}: unknown keys {unknown}; allowed: {sorted(_FIELDS)}")
    hints = entry["hints"]
    if len(hints) != HINT_COUNT or not all(isinstance(h, str) and h.strip() for h in hints):
        raise MetadataError(f"{where}: `hints` must be {HINT_COUNT} non-empty strings")
    if entry["points"] <= 0 or entry["time_limit"] <= 0:
        raise MetadataError(f"{where}: `points` and `time_limit` must be positive")
    if isinstance(entry["interview_minutes"], bool) or entry["interview_minutes"] <= 0:
        raise MetadataError(f"{where}: `interview_minutes` must be a positive whole number")
    return Exercise(
        name=entry["name"],
        title=entry["title"],
        topic=entry["topic"],
        points=float(entry["points"]),
        time_limit=float(entry["time_limit"]),
        interview_minutes=entry["interview_minutes"],
        hints=tuple(hints),
    )


def resolve(words: Sequence[str], exercises: Sequence[Exercise]) -> list[Exercise]:
    """The exercises named by `words` (exact names or unambiguous prefixes, in any case), in file
    order."""
    chosen: list[Exercise] = []
    for word in words:
        folded = word.casefold()
        exact = [e for e in exercises if e.name.casefold() == folded]
        matches = exact or [e for e in exercises if e.name.casefold().startswith(folded)]
        if len(matches) != 1:
            raise UnknownName(_name_problem(word, matches, exercises))
        if matches[0] not in chosen:
            chosen.append(matches[0])
    order = {e.name: i for i, e in enumerate(exercises)}
    return sorted(chosen, key=lambda e: order[e.name])


def _name_problem(word: str, matches: Sequence[Exercise], exercises: Sequence[Exercise]) -> str:
    if matches:
        return f"'{word}' is ambiguous: it could be {', '.join(e.name for e in matches)}"
    close = difflib.get_close_matches(word, [e.name for e in exercises], n=3, cutoff=0.5)
    suggestion = f"; did you mean {' or '.join(close)}?" if close else ""
    known = ", ".join(e.name for e in exercises)
    return f"no exercise named '{word}'{suggestion}\nexercises: {known}"
