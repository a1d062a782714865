"""The batch engine of `kit grade`: grade what changed of a class's submissions (found and read
by submissions.py) through an executor (executors.py), and write the results (cli.md "`kit
grade`").

Results are keyed by the submission's hash, the kit's version, the exercises and the isolation
level, so a rerun grades only what changed. A submission the kit could not read or grade gets a
result with `error`, and every other student is still graded.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import statistics
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformer_kit import __version__
from transformer_kit.batch.executors import Executor, Task, failed_document
from transformer_kit.batch.submissions import Submission
from transformer_kit.catalog import Exercise
from transformer_kit.storage import atomic_write

MISTAKE = "likely mistake: "
TOP_MISTAKES = 5  # most frequent "likely mistake" lines kept per exercise in summary.json
NAME_BYTES = 200  # a results file's name at most (the file system's 255, less atomic_write's)
HASHED = re.compile(r"~[0-9a-f]{32}$")  # how a results file's name ends when it was shortened


@dataclass
class Outcome:
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # student -> document
    graded: list[str] = field(default_factory=list)  # graded in this run
    reused: list[str] = field(default_factory=list)  # unchanged since their result was written
    failed: list[str] = field(default_factory=list)  # the kit could not grade them


# ---------------------------------------------------------------- grading


def grade(
    submissions: Sequence[Submission],
    exercises: Sequence[Exercise],
    out: Path,
    executor: Executor,
    level: str,
    force: bool = False,
    on_result: Callable[[str, dict[str, Any], bool], None] | None = None,
) -> Outcome:
    """Grade `submissions` through `executor`, writing each result as it comes (so an interrupted
    run keeps them), then the CSV and summary. `on_result(student, document, reused)` is called
    for each submission as its result is known."""
    results_folder = out / "results"
    results_folder.mkdir(parents=True, exist_ok=True)
    names = tuple(e.name for e in exercises)
    outcome = Outcome()
    tasks = []
    by_student = {s.student: s for s in submissions}

    def keep(student: str, document: dict[str, Any], reused: bool) -> None:
        if not reused:
            document = _stamped(document, by_student[student])
            atomic_write(result_path(results_folder, student), _json(document))
        outcome.results[student] = document
        (outcome.reused if reused else outcome.graded).append(student)
        if on_result:
            on_result(student, document, reused)

    for submission in submissions:
        previous = None if force else _previous(results_folder, submission, names, level)
        files = {name: data for name, data in submission.files.items() if name in names}
        task = Task(submission.student, files, names, level)
        if previous is not None:
            keep(submission.student, previous, True)
        elif submission.error:  # the kit could not read it: nothing to send to a grader
            keep(submission.student, failed_document(task, submission.error), False)
        else:
            tasks.append(task)
    try:
        for task, document in executor.run(tasks):
            keep(task.student, document, False)
    finally:
        executor.close()
    outcome.failed = sorted(s for s, d in outcome.results.items() if "error" in d)
    _write_tables(out, outcome.results, exercises, level)
    return outcome


def _stamped(document: dict[str, Any], submission: Submission) -> dict[str, Any]:
    return {
        **document,
        "student": submission.student,
        "submission_sha256": submission.sha256,
        "notes": list(submission.notes),
    }


def result_path(folder: Path, student: str) -> Path:
    """results/STUDENT.json; a name too long for the file system (a long name, escaped) is
    shortened and ends in a hash of the whole, so that no two students share one file."""
    name = f"{student}.json"
    if len(name.encode()) <= NAME_BYTES and not HASHED.search(student):
        return folder / name
    digest = hashlib.sha256(student.encode()).hexdigest()[:32]
    kept = student.encode()[: NAME_BYTES - len(f"~{digest}.json")].decode(errors="ignore")
    return folder / f"{kept}~{digest}.json"


def _previous(
    folder: Path, submission: Submission, names: tuple[str, ...], level: str
) -> dict[str, Any] | None:
    """The stored result of this very submission, when nothing that decides it changed."""
    try:
        document = json.loads(result_path(folder, submission.student).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or "error" in document:
        return None
    unchanged = (
        document.get("student") == submission.student
        and document.get("submission_sha256") == submission.sha256
        and document.get("kit_version") == __version__
        and document.get("isolation") == level
        and document.get("notes") == list(submission.notes)
        and tuple(e.get("name") for e in document.get("exercises", ())) == names
    )
    return document if unchanged else None


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# ---------------------------------------------------------------- the class's tables


def _write_tables(
    out: Path, results: Mapping[str, dict[str, Any]], exercises: Sequence[Exercise], level: str
) -> None:
    atomic_write(out / "grades.csv", grades_csv(results, exercises).encode("utf-8"))
    atomic_write(out / "summary.json", _json(summary(results, exercises, level)))


def _scores(document: Mapping[str, Any]) -> dict[str, float]:
    return {e["name"]: e["score"] for e in document.get("exercises", ())}


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
        scores = _scores(document)
        writer.writerow([
            student,
            points(document["score"]),
            points(document["max_score"]),
            *(points(scores.get(e.name, 0.0)) for e in exercises),
        ])  # fmt: skip
    return buffer.getvalue()


def summary(
    results: Mapping[str, dict[str, Any]], exercises: Sequence[Exercise], level: str
) -> dict[str, Any]:
    """summary.json: per exercise the mean, median, passes and the class's most frequent
    "likely mistake" lines; every student's totals."""
    documents = [results[s] for s in sorted(results)]
    per_exercise = {}
    for exercise in exercises:
        entries = [
            e for d in documents for e in d.get("exercises", ()) if e["name"] == exercise.name
        ]
        scores = [e["score"] for e in entries]
        mistakes: Counter[str] = Counter()
        for entry in entries:
            mistakes.update(_mistakes(entry))
        per_exercise[exercise.name] = {
            "title": exercise.title,
            "max_score": exercise.points,
            "mean": round(statistics.fmean(scores), 6) if scores else 0.0,
            "median": round(statistics.median(scores), 6) if scores else 0.0,
            "passed": sum(bool(e["passed"]) for e in entries),
            "likely_mistakes": [
                {"line": line, "count": count} for line, count in _ranked(mistakes)[:TOP_MISTAKES]
            ],
        }
    return {
        "kit_version": __version__,
        "isolation": level,
        "students": len(documents),
        "failed": [d["student"] for d in documents if "error" in d],
        "max_score": round(sum(e.points for e in exercises), 6),
        "exercises": per_exercise,
        "totals": [
            {"student": d["student"], "score": d["score"], "max_score": d["max_score"]}
            for d in documents
        ],
    }


def _ranked(counts: Counter[str]) -> list[tuple[str, int]]:
    """Most frequent first; ties in alphabetical order (the same file on every run)."""
    return sorted(counts.items(), key=lambda item: (-item[1], item[0]))


def _mistakes(exercise_entry: Mapping[str, Any]) -> set[str]:
    """The distinct "likely mistake" lines of one student's exercise (counted once per student)."""
    found = set()
    for test in exercise_entry.get("tests", ()):
        for line in test.get("message", "").splitlines():
            if line.startswith(MISTAKE):
                found.add(line[len(MISTAKE) :].strip())
    return found
