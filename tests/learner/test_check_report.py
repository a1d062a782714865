"""The check report as a learner reads it: per function the first failure in full and one line
for each other, "N more", an untouched stub in one line, likely mistakes never hidden by
repeats, pictures stacked when the terminal is narrow; and the results' data behind it."""

from __future__ import annotations

import io

from rich.console import Console

from transformer_kit import results
from transformer_kit.cli import render
from transformer_kit.grader import failures
from transformer_kit.results import CheckResult, ExerciseResult, TestResult


def failed(name: str, call: str, summary: str, *fields: tuple[str, str]) -> TestResult:
    return TestResult(name, False, 0.0, 1.0, summary, (("called", call), *fields))


def shown(exercise: ExerciseResult, width: int = 80, details: bool = False) -> str:
    out = Console(file=io.StringIO(), width=width, no_color=True, force_terminal=False)
    render.check_report(out, CheckResult((exercise,), "full", "cgroup"), all_details=details)
    assert isinstance(out.file, io.StringIO)
    return out.file.getvalue()


def test_the_not_implemented_prefix_is_the_same_on_both_sides() -> None:
    assert results.NOT_IMPLEMENTED == failures.NOT_IMPLEMENTED
    raised = failures.StudentRaised("softmax(x)", ["NotImplementedError"], "")
    test = TestResult("t", False, 0.0, 1.0, raised.summary, tuple(raised.fields()))
    assert test.not_implemented and test.function == "softmax"


def test_a_function_is_read_from_the_call_or_from_an_answers_name() -> None:
    assert failed("t", "KVCache(4).append(k, v)", "wrong").function == "KVCache"
    answer = TestResult("GD_WEIGHTS: the weights", False, 0.0, 1.0, "wrong")
    assert answer.function == "GD_WEIGHTS"
    assert TestResult("the exercise file exists", False, 0.0, 1.0, "gone").function == ""


MISTAKE_A = "no 1/sqrt(d_k) scaling"
MISTAKE_B = "the warm-up is skipped"
MISTAKE_C = "clipping uses the wrong norm"


def adamw_like() -> ExerciseResult:
    """Five failures of one function: three repeats of mistake A, then B, then C; and a second
    function with two failures."""
    tests = [
        failed(f"step case {n}", f"step(w{n})", f"wrong {n}", ("likely mistake", MISTAKE_A))
        for n in range(3)
    ]
    tests.append(failed("step warm-up", "step(w3)", "wrong 3", ("likely mistake", MISTAKE_B)))
    tests.append(failed("step clipping", "step(w4)", "wrong 4", ("likely mistake", MISTAKE_C)))
    tests.append(failed("schedule start", "schedule(0)", "wrong 5", ("expected", "0.5")))
    tests.append(failed("schedule end", "schedule(9)", "wrong 6", ("expected", "0.1")))
    tests.append(TestResult("passes", True, 1.0, 1.0))
    return ExerciseResult("adamw", "AdamW", 8.0, tuple(tests))


def test_each_function_shows_its_first_failure_in_full_and_each_new_mistake() -> None:
    report = shown(adamw_like())
    lines = report.splitlines()
    assert lines[0].startswith("✗ adamw failed") and "7 of 8 tests failed" in lines[0]
    assert "called:         step(w0)" in report and "called:         schedule(0)" in report
    assert "step(w1)" not in report  # the other failures: one line, without their fields
    for mistake in (MISTAKE_B, MISTAKE_C):  # not hidden behind the repeats of A
        assert report.count(mistake) == 1
    assert report.count(MISTAKE_A) == 1
    assert "✗ schedule end: wrong 6" in report  # one line
    # step: 5 failures: case 0 in full, then B and C in a line each (new mistakes first, and
    # OTHER_FAILURES = 2 one-liners), so cases 1 and 2 (mistake A again) are the 2 left out
    assert "✗ step case 1" not in report and "✗ step case 2" not in report
    assert "2 more: kit check adamw --details" in report


def test_details_shows_every_failure_in_full() -> None:
    report = shown(adamw_like(), details=True)
    for call in ("step(w0)", "step(w1)", "step(w2)", "step(w3)", "step(w4)", "schedule(9)"):
        assert f"called:         {call}" in report
    assert "more: kit check" not in report


def test_an_untouched_stub_is_one_line() -> None:
    raised = [
        failures.StudentRaised(f"{f}(x)", ["NotImplementedError", "RuntimeError"], "")
        for f in ("softmax", "softmax", "causal_mask")
    ]
    tests = tuple(
        TestResult(f"test {n}", False, 0.0, 1.0, r.summary, tuple(r.fields()))
        for n, r in enumerate(raised)
    )
    report = shown(ExerciseResult("attention", "Scaled dot-product and multi-head " * 3, 10, tests))
    (header,) = [line for line in report.splitlines() if "attention" in line]
    assert "not started" in header and len(header) <= 80
    assert "softmax" not in report


def test_a_function_not_started_among_others_is_one_line() -> None:
    stub = failures.StudentRaised("causal_mask(3)", ["NotImplementedError"], "")
    tests = (
        failed("softmax sums to 1", "softmax(x)", "the result is wrong"),
        TestResult("mask a", False, 0.0, 1.0, stub.summary, tuple(stub.fields())),
        TestResult("mask b", False, 0.0, 1.0, stub.summary, tuple(stub.fields())),
    )
    report = shown(ExerciseResult("attention", "Attention", 3, tests))
    assert "causal_mask: not started (2 tests: it still raises NotImplementedError)" in report
    assert "mask a" not in report


PICTURE = [
    ("", "expected | got (* = wrong):"),
    *[("", f"  {'   12.0000' * 6}  |  {'   13.0000*' * 6}") for _ in range(2)],
]


def test_a_picture_too_wide_for_the_terminal_is_stacked() -> None:
    test = failed("weights", "f(x)", "the weights are wrong", *PICTURE)
    wide = shown(ExerciseResult("x", "X", 1, (test,)), width=200)
    assert "  |  " in wide
    narrow = shown(ExerciseResult("x", "X", 1, (test,)), width=80)
    assert "  |  " not in narrow
    assert max(len(line) for line in narrow.splitlines()) <= 80
    lines = [line.strip() for line in narrow.splitlines()]
    expected_at, got_at = lines.index("expected:"), lines.index("got (* = wrong):")
    assert lines[expected_at + 1].split() == ["12.0000"] * 6  # the expected rows first
    assert lines[got_at + 1].split() == ["13.0000*"] * 6  # then the got rows
