"""Mistakes that give the same numbers on a grader's inputs, named together: a match then names
every mistake that explains it, not only the first one listed."""

from __future__ import annotations

from collections.abc import Mapping
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
