"""Measure: the share of known-wrong catalogue variants whose FIRST failing test names their
mistake (its message contains the variant's `message`), per exercise and in all.

    python tests/benchmarks/bench_first_failure.py [EXERCISE ...] [--misses]

Grades every wrong variant of tests/catalogue/ exactly as `kit check` does (one workspace per
round, holding the next wrong variant of each exercise). Variants without a `message` are counted
apart. --misses lists each variant whose first failure does not name it, with that failure.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from catalogue import Variant
from support import EXERCISES, solution_source

from transformer_kit import check as grading
from transformer_kit.catalog import Exercise
from transformer_kit.results import ExerciseResult


def wrong_variants(exercise: Exercise) -> list[Variant]:
    variants = importlib.import_module(f"catalogue.{exercise.name}").VARIANTS
    return [v for v in variants if not v.passes and v.message]


def first_failure(result: ExerciseResult) -> str:
    """The first failed test's name and message ('' when every test passed)."""
    failed = next((t for t in result.tests if not t.passed), None)
    return f"{failed.name}: {failed.message}" if failed else ""


def grade_round(exercises: Sequence[Exercise], variants: Sequence[Variant]) -> list[str]:
    """The first failure of each (exercise, variant), graded in one workspace."""
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        (root / "exercises").mkdir()
        for exercise, variant in zip(exercises, variants, strict=True):
            source = variant.source(solution_source(exercise.name))
            (root / "exercises" / f"{exercise.name}.py").write_text(source, encoding="utf-8")
        results = grading.check(root, exercises).exercises
    return [first_failure(result) for result in results]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("exercises", nargs="*", help="exercise names (default: all)")
    parser.add_argument("--misses", action="store_true", help="list the variants not named first")
    args = parser.parse_args()
    chosen = [e for e in EXERCISES if not args.exercises or e.name in args.exercises]
    queues = {e.name: wrong_variants(e) for e in chosen}
    named: dict[str, int] = dict.fromkeys(queues, 0)
    misses: list[str] = []
    for index in range(max(map(len, queues.values()), default=0)):
        batch = [e for e in chosen if index < len(queues[e.name])]
        variants = [queues[e.name][index] for e in batch]
        for exercise, variant, failure in zip(
            batch, variants, grade_round(batch, variants), strict=True
        ):
            if variant.message in failure:
                named[exercise.name] += 1
            else:
                misses.append(f"{exercise.name} / {variant.name}\n    first: {failure[:300]!r}")
    for name, queue in queues.items():
        print(f"{name:22} {named[name]:3} / {len(queue):3}")
    total, hit = sum(map(len, queues.values())), sum(named.values())
    print(f"{'all':22} {hit:3} / {total:3} = {hit / max(total, 1):.1%} named by the first failure")
    if args.misses:
        print("\n".join(misses))


if __name__ == "__main__":
    main()
