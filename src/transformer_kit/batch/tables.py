"""The class's tables that `kit grade` writes beside the results (cli.md "`kit grade`"):
grades.csv (one row per student) and summary.json (per exercise: mean, median, passes, the
most frequent likely mistakes (stats.py) and every test's pass rate; every student's totals).

Both are views of the results documents, never recomputed grades. Everything a student controls
(the student id is a folder's name) is untrusted here: a CSV text cell that a spreadsheet would
read as a formula is neutralised (names arrive printable: submissions.printable).
"""

from __future__ import annotations

import csv
import io
import json
import statistics
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformer_kit import __version__
from transformer_kit.batch import stats
from transformer_kit.catalog import Exercise
from transformer_kit.sandbox.isolation import Level
from transformer_kit.storage import atomic_write

TOP_MISTAKES = 5  # most frequent likely mistakes kept per exercise in summary.json
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")  # OWASP's CSV injection list


def write_tables(
    out: Path, results: Mapping[str, dict[str, Any]], exercises: Sequence[Exercise], level: Level
) -> None:
    atomic_write(out / "grades.csv", grades_csv(results, exercises).encode("utf-8"))
    atomic_write(out / "summary.json", json_bytes(summary(results, exercises, level)))


def json_bytes(document: Any) -> bytes:
    """A document as the kit stores it: indented UTF-8 (names never hold lone surrogates)."""
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


def csv_text(text: str) -> str:
    """A text cell that no spreadsheet runs as a formula (OWASP: a leading `'`)."""
    return f"'{text}" if text.startswith(FORMULA_STARTS) else text


def points(value: float) -> str:
    """A score as the CSV writes it: the JSON's value (6 decimals), without trailing zeros."""
    return f"{value:.6f}".rstrip("0").rstrip(".")


def grades_csv(results: Mapping[str, dict[str, Any]], exercises: Sequence[Exercise]) -> str:
    """grades.csv: student, score, max_score, then one column per exercise; sorted by student."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", "score", "max_score", *(e.name for e in exercises)])
    for student in sorted(results):
        document = results[student]
        scores = {e["name"]: e["score"] for e in document.get("exercises", ())}
        writer.writerow([
            csv_text(student),
            points(document["score"]),
            points(document["max_score"]),
            *(points(scores.get(e.name, 0.0)) for e in exercises),
        ])  # fmt: skip
    return buffer.getvalue()


def summary(
    results: Mapping[str, dict[str, Any]], exercises: Sequence[Exercise], level: Level
) -> dict[str, Any]:
    """summary.json: per exercise the mean, median, passes and the class's most frequent
    likely mistakes; every student's totals."""
    documents = [results[s] for s in sorted(results)]
    read = stats.graded(results)
    found, rates = stats.mistakes(read), stats.pass_rates(read)
    per_exercise = {}
    for exercise in exercises:
        entries = [
            e for d in documents for e in d.get("exercises", ()) if e["name"] == exercise.name
        ]
        scores = [e["score"] for e in entries]
        per_exercise[exercise.name] = {
            "title": exercise.title,
            "max_score": exercise.points,
            "mean": round(statistics.fmean(scores), 6) if scores else 0.0,
            "median": round(statistics.median(scores), 6) if scores else 0.0,
            "passed": sum(bool(e["passed"]) for e in entries),
            "likely_mistakes": [
                {"line": m.line, "count": m.count, "tests": len(m.tests)}
                for m in stats.of_exercise(found, exercise.name)[:TOP_MISTAKES]
            ],
            "tests": [
                {
                    "name": r.test,
                    "passed": r.passed,
                    "graded": r.graded,
                    "pass_rate": round(r.rate, 6),
                }
                for r in rates
                if r.exercise == exercise.name
            ],
        }
    return {
        "kit_version": __version__,
        "isolation": level.name,
        "students": len(documents),
        "failed": [d["student"] for d in documents if "error" in d],
        "max_score": round(sum(e.points for e in exercises), 6),
        "exercises": per_exercise,
        "totals": [
            {"student": d["student"], "score": d["score"], "max_score": d["max_score"]}
            for d in documents
        ],
    }
