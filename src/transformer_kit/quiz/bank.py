"""The bank of checks: `bank/*.toml`, one file per topic, validated when loaded.

A file is checked against `schema.json` (jsonschema), then against what a schema cannot say: a
check's note and section exist in `bank/sources.toml`, its correct options exist, its formula is
registered and takes exactly its params, its prompt names exactly its params, no id repeats.
Any failure is a `BankError` naming the file and the check's id.
"""

from __future__ import annotations

import json
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import jsonschema

from transformer_kit.quiz.formulas import FORMULAS

HERE = Path(__file__).resolve().parent
BANK = HERE / "bank"
SOURCES = "sources.toml"
PLACEHOLDER = re.compile(r"\{([a-z_][a-z0-9_]*)\}")


class BankError(Exception):
    """A damaged bank file; the message names the file and the check."""


@dataclass(frozen=True)
class Note:
    id: str
    title: str
    sections: tuple[str, ...]


@dataclass(frozen=True)
class Check:
    """One check as declared. `options` are the choices, or for an ordering the steps in their
    right order; `correct` the indices of the right options."""

    id: str  # topic.local-id
    topic: str
    kind: str
    note: str
    section: str
    prompt: str
    explanation: str
    options: tuple[str, ...] = ()
    correct: frozenset[int] = frozenset()
    answer: float | None = None
    formula: str = ""
    params: Mapping[str, tuple[float, ...]] = field(default_factory=dict)
    tolerance: float = 0.0
    unit: str = ""


@dataclass(frozen=True)
class Topic:
    name: str
    title: str
    checks: tuple[Check, ...]


@dataclass(frozen=True)
class Bank:
    notes: Mapping[str, Note]
    topics: tuple[Topic, ...]

    @property
    def checks(self) -> tuple[Check, ...]:
        return tuple(check for topic in self.topics for check in topic.checks)

    def check(self, check_id: str) -> Check | None:
        return next((c for c in self.checks if c.id == check_id), None)

    def topic(self, name: str) -> Topic | None:
        return next((t for t in self.topics if t.name == name), None)


@cache
def load() -> Bank:
    """The kit's own bank (read once per process)."""
    return load_from(BANK)


def load_from(folder: Path) -> Bank:
    notes = _notes(folder / SOURCES)
    validator = jsonschema.Draft202012Validator(
        json.loads((HERE / "schema.json").read_text(encoding="utf-8"))
    )
    topics: list[Topic] = []
    seen: set[str] = set()
    for path in sorted(folder.glob("*.toml")):
        if path.name != SOURCES:
            topic = _topic(path, _read(path), validator, notes)
            for check in topic.checks:
                if check.id in seen:
                    raise BankError(f"{path.name}: check {check.id} is declared twice")
                seen.add(check.id)
            topics.append(topic)
    if not topics:
        raise BankError(f"{folder}: no topic files")
    return Bank(notes, tuple(topics))


def _read(path: Path) -> dict[str, Any]:
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise BankError(f"{path.name}: cannot be read: {error}") from None


def _notes(path: Path) -> dict[str, Note]:
    data = _read(path)
    try:
        notes = {
            str(n["id"]): Note(str(n["id"]), str(n["title"]), tuple(map(str, n["sections"])))
            for n in data["notes"]
        }
    except (KeyError, TypeError) as error:
        raise BankError(f"{path.name}: a note lacks its id, title or sections ({error})") from None
    return notes


def _topic(
    path: Path,
    data: dict[str, Any],
    validator: jsonschema.Draft202012Validator,
    notes: Mapping[str, Note],
) -> Topic:
    problem = jsonschema.exceptions.best_match(validator.iter_errors(data))
    if problem is not None:
        raise BankError(f"{path.name}: {_where(data, problem)}: {problem.message}")
    topic = data["topic"]
    checks = []
    for entry in data["checks"]:
        check = _check(topic, entry)
        mistake = _mistake(check, notes)
        if mistake:
            raise BankError(f"{path.name}: check {check.id}: {mistake}")
        checks.append(check)
    return Topic(topic, data["title"], tuple(checks))


def _where(data: dict[str, Any], problem: jsonschema.ValidationError) -> str:
    path = list(problem.absolute_path)
    if len(path) >= 2 and path[0] == "checks" and isinstance(path[1], int):
        entry = data["checks"][path[1]]
        name = entry.get("id") if isinstance(entry, dict) else None
        return f"check {data.get('topic', '?')}.{name}" if name else f"check number {path[1] + 1}"
    return "the file"


def _check(topic: str, entry: dict[str, Any]) -> Check:
    ordering = entry["kind"] == "order"
    options = entry.get("steps" if ordering else "options", [])
    return Check(
        id=f"{topic}.{entry['id']}",
        topic=topic,
        kind=entry["kind"],
        note=entry["note"],
        section=entry["section"],
        prompt=entry["prompt"].strip(),
        explanation=entry["explanation"].strip(),
        options=tuple(options),
        correct=frozenset(range(len(options)) if ordering else entry.get("correct", ())),
        answer=entry.get("answer"),
        formula=entry.get("formula", ""),
        params={name: tuple(values) for name, values in entry.get("params", {}).items()},
        tolerance=entry.get("tolerance", 0.0),
        unit=entry.get("unit", ""),
    )


def _mistake(check: Check, notes: Mapping[str, Note]) -> str:
    note = notes.get(check.note)
    if note is None:
        return f"note {check.note} is not in {SOURCES}"
    if check.section not in note.sections:
        return f"note {check.note} has no section {check.section!r}"
    if any(i >= len(check.options) for i in check.correct):
        return "a correct option is out of range"
    if check.kind == "multiple" and len(check.correct) == len(check.options):
        return "every option is correct: nothing to choose"
    if check.formula:
        return _formula_mistake(check)
    if PLACEHOLDER.search(check.prompt):
        return "the prompt has placeholders but the check has no params"
    return ""


def _formula_mistake(check: Check) -> str:
    if check.formula not in FORMULAS:
        return f"unknown formula {check.formula!r}"
    named = set(PLACEHOLDER.findall(check.prompt))
    if named != set(check.params):
        return f"the prompt names {sorted(named)} but the params are {sorted(check.params)}"
    if all(len(values) < 2 for values in check.params.values()):
        return "no param has two values to draw from: give it a fixed answer instead"
    try:
        FORMULAS[check.formula]({name: values[0] for name, values in check.params.items()})
    except KeyError as error:
        return f"formula {check.formula} needs param {error}"
    except (ArithmeticError, ValueError) as error:
        return f"formula {check.formula} fails on the first params: {error}"
    return ""
