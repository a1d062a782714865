"""Grader strength: every known-wrong version fails its grader, every correct-but-different one
passes (tests/catalogue/<exercise>.py), graded exactly as `kit check` grades a learner's file."""

from __future__ import annotations

import importlib

import pytest
from catalogue import Variant
from support import EXERCISES, solution_source

from transformer_kit import catalog as meta
from transformer_kit import check as grading
from transformer_kit.dev.checks import MIN_RIGHT, MIN_WRONG

CASES = [
    (exercise, variant)
    for exercise in EXERCISES
    for variant in importlib.import_module(f"catalogue.{exercise.name}").VARIANTS
]


def test_every_exercise_has_a_catalogue_of_both_kinds() -> None:
    for exercise in EXERCISES:
        variants = [v for e, v in CASES if e == exercise]
        assert sum(not v.passes for v in variants) >= MIN_WRONG, exercise.name
        assert sum(v.passes for v in variants) >= MIN_RIGHT, exercise.name


@pytest.mark.parametrize(
    ("exercise", "variant"),
    CASES,
    ids=[f"{e.name}-{'right' if v.passes else 'wrong'}-{v.name}" for e, v in CASES],
)
def test_variant_gets_its_verdict(
    exercise: meta.Exercise, variant: Variant, make_workspace
) -> None:
    root = make_workspace({exercise.name: variant.source(solution_source(exercise.name))})
    (result,) = grading.check(root, [exercise]).exercises
    failures = "\n\n".join(f"{t.name}: {t.message}" for t in result.tests if not t.passed)
    if variant.passes:
        assert result.passed, f"a correct version failed:\n{failures}"
        return
    assert not result.passed, "a wrong version passed every test"
    assert variant.message in failures, f"no failure says {variant.message!r}:\n{failures}"
