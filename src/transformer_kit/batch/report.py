"""report.html, the class report `kit grade` writes beside grades.csv (cli.md "Third wave"):
one self-contained page (no script, no network; plots inline as SVG, plots.py) with the score
distribution, each exercise's pass rate and spread, every test's pass rate (most failed first),
the most frequent likely mistakes and who made them (stats.py), then one section per student with
what they would get as feedback (a hidden test: its summary and likely mistakes only).

A view of the results documents, never recomputed grades. Every string from a student's side
(ids, notes, messages) is escaped by jinja2's autoescape; only the plots are inserted as markup.
"""

from __future__ import annotations

import datetime
import statistics
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformer_kit import __version__
from transformer_kit.batch import plots, stats
from transformer_kit.catalog import Exercise
from transformer_kit.results import CheckResult
from transformer_kit.sandbox.isolation import Level
from transformer_kit.storage import atomic_write

REPORT = "report.html"
TEMPLATE = "report.html.jinja"
TOP_MISTAKES = 20  # likely mistakes listed for the class


def points(value: float) -> str:
    """Points as the page shows them: at most two decimals (the results keep them exact)."""
    return f"{value:.2f}".rstrip("0").rstrip(".")


@dataclass(frozen=True)
class ShownTest:
    """One test as a student's section shows it."""

    name: str
    passed: bool
    score: str
    max_score: str
    message: str
    hidden: bool


@dataclass(frozen=True)
class StudentSection:
    student: str
    score: str
    max_score: str
    passed: int  # exercises passed
    notes: tuple[str, ...]
    error: str
    exercises: tuple[tuple[str, str, str, tuple[ShownTest, ...]], ...]  # name, score, max, tests


def write_report(
    out: Path,
    results: Mapping[str, dict[str, Any]],
    exercises: Sequence[Exercise],
    level: Level,
    visible: Mapping[str, Collection[str]] | None = None,
) -> None:
    """OUT/report.html for `results` (student -> results document)."""
    page = render(results, exercises, level, visible)
    atomic_write(out / REPORT, page.encode("utf-8"))


def render(
    results: Mapping[str, dict[str, Any]],
    exercises: Sequence[Exercise],
    level: Level,
    visible: Mapping[str, Collection[str]] | None = None,
) -> str:
    """The page. `visible` names each exercise's tests a student may see in full (None: all);
    the others show only their summary and likely mistakes."""
    import jinja2
    from markupsafe import Markup

    read = stats.graded(results)
    maximum = sum(e.points for e in exercises)
    names = [e.name for e in exercises]
    per_exercise = _exercise_rows(read, exercises)
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("transformer_kit.batch"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    score_alt = f"Histogram of the {len(read)} graded students' total scores out of {maximum:g}."
    rate_alt = "Bar chart: per exercise, the percentage of students who passed every test."
    spread_alt = "Box plots: per exercise, the spread of scores as a percentage of its points."
    figures = {
        "scores": (plots.score_distribution([r.score for r in read.values()], maximum, score_alt),
                   score_alt),
        "rates": (plots.pass_rates(names, [row["rate"] for row in per_exercise], rate_alt),
                  rate_alt),
        "spread": (plots.score_spread(names, [row["fractions"] for row in per_exercise],
                                      spread_alt), spread_alt),
    }  # fmt: skip
    return environment.get_template(TEMPLATE).render(
        version=__version__,
        isolation=level.name,
        date=datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        students=len(results),
        graded=len(read),
        maximum=points(maximum),
        figures={key: (Markup(svg), alt) for key, (svg, alt) in figures.items()},
        exercises=per_exercise,
        rates=stats.pass_rates(read),
        mistakes=stats.mistakes(read)[:TOP_MISTAKES],
        sections=[_section(s, results[s], read.get(s), visible) for s in sorted(results)],
    )


def _exercise_rows(
    read: Mapping[str, CheckResult], exercises: Sequence[Exercise]
) -> list[dict[str, Any]]:
    rows = []
    for exercise in exercises:
        entries = [e for r in read.values() for e in r.exercises if e.name == exercise.name]
        scores = [e.score for e in entries]
        passed = sum(e.passed for e in entries)
        rows.append({
            "name": exercise.name,
            "title": exercise.title,
            "points": points(exercise.points),
            "passed": passed,
            "rate": passed / len(entries) if entries else 0.0,
            "mean": points(round(statistics.fmean(scores), 2)) if scores else "—",
            "median": points(statistics.median(scores)) if scores else "—",
            "low": points(min(scores)) if scores else "—",
            "high": points(max(scores)) if scores else "—",
            "fractions": [s / exercise.points for s in scores] if exercise.points else [],
        })  # fmt: skip
    return rows


def _section(
    student: str,
    document: Mapping[str, Any],
    result: CheckResult | None,
    visible: Mapping[str, Collection[str]] | None,
) -> StudentSection:
    notes = tuple(str(n) for n in document.get("notes", ()))
    if result is None:
        error = str(document.get("error", "the kit could not read this student's result"))
        return StudentSection(student, "0", "—", 0, notes, error, ())
    shown = []
    for exercise in result.exercises:
        tests = []
        for test in exercise.tests:
            hidden = visible is not None and test.name not in visible.get(exercise.name, ())
            tests.append(ShownTest(
                test.name, test.passed, points(test.score), points(test.max_score),
                "" if test.passed else test.shown(hidden), hidden,
            ))  # fmt: skip
        shown.append(
            (exercise.name, points(exercise.score), points(exercise.max_score), tuple(tests))
        )
    passed = sum(e.passed for e in result.exercises)
    return StudentSection(
        student, points(result.score), points(result.max_score), passed, notes, "", tuple(shown)
    )
