"""`kit repro`'s choice of call: the one the failure names, never one whose inputs hold an
earlier call's result (the reference's answer), never a method of an object."""

from __future__ import annotations

import numpy as np
import pytest

from transformer_kit.grader.student import Recorded
from transformer_kit.learner.repro import ReproError, chosen_call
from transformer_kit.results import TestResult


def failure(call: str) -> TestResult:
    return TestResult("fit", False, 0.0, 1.0, "the result is wrong", (("called", call),))


def test_the_call_the_failure_names_is_chosen() -> None:
    calls = [
        Recorded("step", "step(1.0)", (1.0,), {}, False, 0.5),
        Recorded("step", "step(2.0)", (2.0,), {}, False, 0.25),
    ]
    assert chosen_call(failure("step(2.0)"), calls) is calls[1]
    assert chosen_call(failure("step(w=2, as the grader words it)"), calls) is calls[0]


def test_inputs_holding_an_earlier_result_are_refused() -> None:
    first = np.array([0.5, -1.25])  # what the reference returned to the first call
    calls = [
        Recorded("step", "step(a)", (np.array([1.0, 2.0]),), {}, False, (first, 3.75)),
        Recorded("step", "step(b)", (np.array([9.0, 9.0]),), {"state": [first.copy()]}, False),
    ]
    with pytest.raises(ReproError, match="result of an earlier call"):
        chosen_call(failure("step(b)"), calls)
    later_float = Recorded("step", "step(c)", (3.75,), {}, False)  # the earlier float result
    with pytest.raises(ReproError, match="result of an earlier call"):
        chosen_call(failure("step(c)"), [*calls[:1], later_float])


def test_a_method_of_an_object_is_refused() -> None:
    calls = [Recorded("append", "append(k, v)", (), {}, True)]
    with pytest.raises(ReproError, match="method of an object"):
        chosen_call(failure("KVCache(2).append(k, v)"), calls)
