"""Exact points (issue 21): every exercise's tests, as `kit check` scores them and as the
nbgrader export writes its cells' points, add up to exactly the points exercises.toml declares, in
whatever order they are added (nbgrader's gradebook adds floats one by one). Hundredths did not:
momentum_sgd's 17 tests (0.28, 0.29, 0.57) added up to 6.000000000000002, bpe's 32 to
9.999999999999995.
"""

from __future__ import annotations

from fractions import Fraction

import pytest
from support import EXERCISES

from transformer_kit import results as kit
from transformer_kit.classroom.nbgrader.grader_source import graded_tests

UNEVEN = ("momentum_sgd", "bpe")  # exercises whose hundredths did not add up


def _added(values: list[float]) -> float:
    total = 0.0
    for value in values:
        total += value  # one by one, as SQL's sum and a spreadsheet add
    return total


@pytest.fixture(scope="module")
def cells() -> dict[str, list[float]]:
    return {name: [t.points for t in tests] for name, tests in graded_tests(EXERCISES).items()}


def test_every_exercise_s_test_cells_add_up_exactly_in_any_order(cells) -> None:
    assert set(UNEVEN) <= set(cells)
    for exercise in EXERCISES:
        points = cells[exercise.name]
        assert _added(points) == exercise.points, exercise.name
        assert _added(points[::-1]) == exercise.points, exercise.name
        assert all((p * kit.UNIT).is_integer() for p in points), exercise.name


def test_a_partial_score_is_the_exact_sum_of_the_passed_tests(cells) -> None:
    """Every other test of momentum_sgd passed: the total is the rational sum of their points."""
    points = cells["momentum_sgd"]
    tests = tuple(
        kit.TestResult(f"t{i}", i % 2 == 0, p if i % 2 == 0 else 0.0, p)
        for i, p in enumerate(points)
    )
    result = kit.CheckResult((kit.ExerciseResult("momentum_sgd", "M", 6.0, tests),))
    assert Fraction(result.score) == sum(Fraction(p) for p in points[::2])
    assert result.max_score == 6.0


def test_shares_split_in_64ths_by_weight() -> None:
    """10 points by weights 1, 1, 1: 640 64ths are 213.33 each, so 214 + 213 + 213 (the spare
    64th to the earlier test)."""
    assert kit.shares(10, [1, 1, 1]) == [214 / 64, 213 / 64, 213 / 64]
    assert sum(kit.shares(10, [1, 1, 1])) == 10
