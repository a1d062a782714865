"""The batch engine of `kit grade`: grade what changed of a class's submissions (found and read
by submissions.py) through an executor (executors.py), and write the results (cli.md "`kit
grade`").

Results are keyed by the submission's hash, the kit's version, the exercises and the isolation
level, so a rerun grades only what changed. A submission the kit could not read or grade gets a
result with `error`, and every other student is still graded.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from transformer_kit import __version__
from transformer_kit.batch.executors import Executor, Task, failed_document
from transformer_kit.batch.report import write_report
from transformer_kit.batch.submissions import Submission
from transformer_kit.batch.tables import json_bytes, write_tables
from transformer_kit.catalog import Exercise
from transformer_kit.results import CheckResult, ResultsError
from transformer_kit.sandbox.isolation import Level
from transformer_kit.storage import atomic_write

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
    level: Level,
    force: bool = False,
    on_result: Callable[[str, dict[str, Any], bool], None] | None = None,
    visible: Mapping[str, Collection[str]] | None = None,
) -> Outcome:
    """Grade `submissions` through `executor`, writing each result as it comes (so an interrupted
    run keeps them), then the CSV, summary and class report (`visible`: each exercise's tests a
    student may see in full, report.py). `on_result(student, document, reused)` is called for
    each submission as its result is known."""
    results_folder = out / "results"
    results_folder.mkdir(parents=True, exist_ok=True)
    names = tuple(e.name for e in exercises)
    outcome = Outcome()
    tasks = []
    by_student = {s.student: s for s in submissions}

    def keep(student: str, document: dict[str, Any], reused: bool) -> None:
        if not reused:
            document = _stamped(document, by_student[student])
            atomic_write(result_path(results_folder, student), json_bytes(document))
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
    write_tables(out, outcome.results, exercises, level)
    write_report(out, outcome.results, exercises, level, visible)
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
    folder: Path, submission: Submission, names: tuple[str, ...], level: Level
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
        and document.get("isolation") == level.name
        and document.get("notes") == list(submission.notes)
        and tuple(e.get("name") for e in document.get("exercises", ())) == names
    )
    if not unchanged:
        return None
    try:  # read back from its structured fields: a message is never parsed
        return {**document, **CheckResult.from_json(document).to_json()}
    except ResultsError:
        return None
