"""When each check is due: FSRS (the `fsrs` package) over the store `.kit/quiz.json`.

The store keeps, per check answered at least once, its FSRS card and how often it was answered
and answered right. It is written whole after every answer (so an interrupted session keeps all
it graded); a damaged one is set aside with a warning, as the progress store is. A check never
answered is new: due at once, after the reviews that are due.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fsrs import Card, Rating, Scheduler

from transformer_kit.learner.workspace import state_folder
from transformer_kit.quiz.bank import Check
from transformer_kit.storage import load_versioned, save_versioned, set_aside

STORE = "quiz.json"  # inside .kit/
STORE_VERSION = 1
SCHEDULER = Scheduler(enable_fuzzing=False)


def clock() -> datetime:
    return datetime.now(UTC)


@dataclass
class Entry:
    card: Card
    seen: int = 0
    right: int = 0


@dataclass(frozen=True)
class TopicStats:
    topic: str
    checks: int
    seen: int
    right: int
    due: int


@dataclass
class Store:
    path: Path
    entries: dict[str, Entry] = field(default_factory=dict)
    warning: str = ""

    def instance(self, check_id: str) -> int:
        """Which instance of the check is on show: how often it has been answered."""
        entry = self.entries.get(check_id)
        return entry.seen if entry else 0

    def is_due(self, check_id: str, now: datetime) -> bool:
        entry = self.entries.get(check_id)
        return entry is None or entry.card.due <= now

    def due(self, checks: Iterable[Check], now: datetime) -> list[Check]:
        """The due checks: reviews first, the most overdue first, then new ones in bank order."""
        due = [c for c in checks if self.is_due(c.id, now)]
        reviews = sorted((c for c in due if c.id in self.entries), key=self._due_time)
        return reviews + [c for c in due if c.id not in self.entries]

    def _due_time(self, check: Check) -> datetime:
        return self.entries[check.id].card.due

    def record(self, check_id: str, right: bool, now: datetime) -> None:
        """Schedule the check after an answer and save the store."""
        entry = self.entries.get(check_id) or Entry(Card())
        rating = Rating.Good if right else Rating.Again
        entry.card, _ = SCHEDULER.review_card(entry.card, rating, review_datetime=now)
        entry.seen += 1
        entry.right += int(right)
        self.entries[check_id] = entry
        self.save()

    def save(self) -> None:
        data = {
            "checks": {
                check_id: {"card": e.card.to_dict(), "seen": e.seen, "right": e.right}
                for check_id, e in sorted(self.entries.items())
            }
        }
        state_folder(self.path.parent.parent).mkdir(exist_ok=True)
        save_versioned(self.path, STORE_VERSION, data)

    def stats(
        self, topics: Sequence[tuple[str, Sequence[Check]]], now: datetime
    ) -> list[TopicStats]:
        rows = []
        for name, checks in topics:
            entries = [self.entries[c.id] for c in checks if c.id in self.entries]
            rows.append(
                TopicStats(
                    topic=name,
                    checks=len(checks),
                    seen=sum(1 for _ in entries),
                    right=sum(1 for e in entries if e.right),
                    due=sum(1 for c in checks if self.is_due(c.id, now)),
                )
            )
        return rows


def load(root: Path) -> Store:
    """The workspace's quiz store; a missing one is empty, a damaged one is set aside."""
    path = state_folder(root) / STORE
    if not path.exists():
        return Store(path)
    try:
        entries = _entries(load_versioned(path, STORE_VERSION))
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as error:
        aside = set_aside(path)
        return Store(
            path,
            warning=f"the quiz store {path} could not be read ({error}); it was moved to "
            f"{aside.name} and the quiz schedule starts afresh",
        )
    return Store(path, entries)


def _entries(data: dict[str, Any]) -> dict[str, Entry]:
    if not isinstance(data["checks"], dict):
        raise ValueError("its checks are not a table")
    entries = {}
    for check_id, item in data["checks"].items():
        seen, right = item["seen"], item["right"]
        counts = (seen, right)
        if not all(isinstance(n, int) and not isinstance(n, bool) and n >= 0 for n in counts):
            raise ValueError(f"the counts of {check_id} are not whole numbers")
        if right > seen:
            raise ValueError(f"{check_id} was answered right more often than it was seen")
        card = Card.from_dict(item["card"])
        if not isinstance(card.due, datetime) or card.due.tzinfo is None:
            raise ValueError(f"the due time of {check_id} is unreadable")
        entries[str(check_id)] = Entry(card, seen, right)
    return entries
