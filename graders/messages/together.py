"""Mistakes named together: those that give the same numbers on a grader's inputs (a match then
names every mistake that explains it, not only the first one listed), and many mistakes listed
lazily (pairs of them, for a result that no single one explains)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any

import numpy as np


def same_numbers(mistakes: Mapping[str, Any]) -> dict[str, Any]:
    """`mistakes` ({description: value}) with each value that equals an earlier one's (within the
    graders' tolerance) folded into it: "A; or B (both give these numbers)"."""
    merged: dict[str, Any] = {}
    for description, value in mistakes.items():
        twin = next((name for name, kept in merged.items() if _same(kept, value)), None)
        if twin is None:
            merged[description] = value
        else:
            merged[f"{twin}; or {description} (both give these numbers)"] = merged.pop(twin)
    return merged


def _same(first: Any, second: Any) -> bool:
    try:
        a, b = np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    with np.errstate(all="ignore"):
        return a.shape == b.shape and bool(np.allclose(a, b, rtol=1e-4, atol=1e-6))


class Lazily(Mapping[str, Any]):
    """{description: value} whose values are made only when read, in order: a grader can list
    many mistakes (every pair of them, say) at no cost to a learner whose result is right, and a
    wrong result makes them only up to the first that matches."""

    def __init__(self, makers: Iterable[tuple[str, Callable[[], Any]]]) -> None:
        self._makers = dict(makers)
        self._made: dict[str, Any] = {}

    def __getitem__(self, description: str) -> Any:
        if description not in self._made:
            with np.errstate(all="ignore"):
                self._made[description] = self._makers[description]()
        return self._made[description]

    def __iter__(self) -> Iterator[str]:
        return iter(self._makers)

    def __len__(self) -> int:
        return len(self._makers)
