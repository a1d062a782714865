"""numpy's floating-point warnings (overflow, divide by zero, invalid value) as a grader's verdict.

Where the contract says a function is "stable" or has "no overflow", a warning its learner's call
raises fails the test even when the value comes out right (a naive sigmoid gives 0 for -1000, after
an overflow). The worker records them around each call (sandbox/worker.py) and the grading process
raises them again as RuntimeWarnings (sandbox/client.py); a notebook's in-process student raises
them itself. Code can hide the habit (np.seterr inside the function), never a wrong value.
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np

from transformer_kit.grader.failures import Mismatch

MAX_WARNINGS = 3  # distinct messages kept per call
MAX_TEXT = 200  # characters kept per message
MARK = " encountered in "  # in every numpy floating-point warning ("overflow encountered in exp")

T = TypeVar("T")


class LearnersWarning(RuntimeWarning):
    """A floating-point warning of the learner's call in the worker, raised again in the grading
    process: seen by `assert_stable`, silent everywhere else (sandbox/client.py)."""


def is_floating_point(category: type[Warning], text: str) -> bool:
    return issubclass(category, RuntimeWarning) and MARK in text


@contextlib.contextmanager
def floating_point_warnings() -> Iterator[list[str]]:
    """The distinct floating-point warnings raised inside the block (at most MAX_WARNINGS, each
    cut to MAX_TEXT characters), numpy set to warn while it runs on overflow, division by zero
    and invalid values (not on underflow: a tiny number rounding to 0 is no mistake)."""
    found: list[str] = []
    errors = np.errstate(over="warn", divide="warn", invalid="warn", under="ignore")
    with errors, warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", RuntimeWarning)
        try:
            yield found
        finally:
            for warning in caught:
                text = str(warning.message)[:MAX_TEXT]
                new = text not in found and len(found) < MAX_WARNINGS
                if new and is_floating_point(warning.category, text):
                    found.append(text)


def assert_stable(run: Callable[[], T], *, call: str, mistake: str) -> T:
    """`run()`'s value, failing the test when the learner's call inside it raised a
    floating-point warning; `mistake` names what usually causes it."""
    with floating_point_warnings() as warned:
        value = run()
    if warned:
        raise Mismatch(
            f"{call} raised numpy's warning {warned[0]!r}: the contract asks for no overflow",
            call=call,
            got="; ".join(warned),
            diagnosis=mistake,
        )
    return value
