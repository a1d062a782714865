"""The batch engine of `kit grade`: find a class's submissions, grade what changed through an
executor (executors.py), write the results (cli.md "`kit grade`").

A submission is read once, here, into bytes: symbolic links are never followed and every oddity
of a real class's folders (a misnamed or nested file, a notebook, an empty folder) becomes a note
for that student, never an error of the batch. Results are keyed by the submission's hash, the
kit's version, the exercises and the isolation level, so a rerun grades only what changed.
"""

from __future__ import annotations

import contextlib
import csv
import hashlib
import io
import json
import os
import re
import stat
import statistics
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from transformer_kit import __version__
from transformer_kit.batch.executors import Executor, Task
from transformer_kit.catalog import Exercise
from transformer_kit.sandbox.isolation import Level
from transformer_kit.storage import atomic_write

MAX_FILE_BYTES = 1024**2  # a source file larger than this is not graded
MISTAKE = "likely mistake: "
TOP_MISTAKES = 5  # most frequent "likely mistake" lines kept per exercise in summary.json
SOURCES = (".py", ".ipynb")
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".7z", ".rar")
IGNORED = {"__MACOSX", "__pycache__", ".ipynb_checkpoints", ".kit", ".git"}
NOT_FOLLOWED = "a symbolic link, which the kit does not follow"  # a link in a submission
COPY_SUFFIX = re.compile(r"^(?P<stem>.+?)(?:\s*\(\d+\)|[-_ ]copy|[-_ ]\d+|[-_ ]v\d+)$")


class BatchError(Exception):
    """The batch cannot start (a path that is not a folder, two students with one id)."""


@dataclass(frozen=True)
class Submission:
    student: str
    files: Mapping[str, bytes]  # exercise name -> the bytes of its NAME.py
    notes: tuple[str, ...] = ()

    @cached_property
    def sha256(self) -> str:
        """A hash of the files graded (names and contents), computed once."""
        digest = hashlib.sha256()
        for name in sorted(self.files):
            data = self.files[name]
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
        return digest.hexdigest()


@dataclass
class Outcome:
    results: dict[str, dict[str, Any]] = field(default_factory=dict)  # student -> document
    graded: list[str] = field(default_factory=list)  # graded in this run
    reused: list[str] = field(default_factory=list)  # unchanged since their result was written
    failed: list[str] = field(default_factory=list)  # the kit could not grade them


# ---------------------------------------------------------------- finding submissions


def find_submissions(paths: Sequence[Path], names: Iterable[str], skip: Path) -> list[Submission]:
    """The submissions in `paths` (cli.md's layouts), for the exercises `names`; `skip` (the
    output folder) is never taken for a student."""
    known = set(names)
    folders: list[Path] = []
    for path in paths:
        if path.is_symlink() or not path.is_dir():
            raise BatchError(f"{path} is not a folder: give one folder per student, or a folder "
                             "of such folders")  # fmt: skip
        folders += _student_folders(path, known, skip.resolve())
    submissions = [read_submission(folder, known) for folder in folders]
    seen: dict[str, Path] = {}
    for folder, submission in zip(folders, submissions, strict=True):
        if not submission.files and folder in paths:
            _refuse_one_folder_class(folder, known)
        if submission.student in seen:
            raise BatchError(
                f"two submissions have the student id {submission.student!r}: "
                f"{seen[submission.student]} and {folder}; rename one folder"
            )
        seen[submission.student] = folder
    return sorted(submissions, key=lambda s: s.student)


def _student_folders(path: Path, known: set[str], skip: Path) -> list[Path]:
    """`path` itself when it holds a submission, else every folder inside it (a class). Files
    that are not sources (a class list, a README) do not make a class folder a submission."""
    entries = [e for e in _entries(path) if e.is_dir() or e.suffix.lower() in SOURCES]
    inside = [e for e in entries if e.is_dir()]  # links too: each is a student, not followed
    if inside and len(inside) == len(entries) and not _has_exercises(path, known):
        return [e for e in inside if e.resolve() != skip]
    return [path]


def _refuse_one_folder_class(folder: Path, known: set[str]) -> None:
    """A BatchError when `folder` holds every student's files side by side, renamed by a learning
    platform (`smithjane_12_attention.py`, `doejohn_13_attention.py`)."""
    students: dict[str, list[str]] = {}
    with contextlib.suppress(OSError):
        for entry in _entries(folder):
            named = platform_named(entry.stem, known) if entry.suffix == ".py" else None
            if named:
                students.setdefault(named[1], []).append(entry.name)
    several = next(((name, files) for name, files in students.items() if len(files) > 1), None)
    if several:
        name, files = several
        raise BatchError(
            f"{folder} holds files of several students side by side ({files[0]}, {files[1]}, "
            "...), as a learning platform's download does: kit grade takes one folder per "
            "student, named for the student. Put each student's files in a folder of their own, "
            f"named NAME.py (e.g. {folder / 'STUDENT' / f'{name}.py'})"
        )


def _entries(folder: Path) -> list[Path]:
    """The entries of `folder` a student made (no hidden files, no tool folders), sorted."""
    return sorted(
        e for e in folder.iterdir() if e.name not in IGNORED and not e.name.startswith(".")
    )


def _has_exercises(folder: Path, known: set[str]) -> bool:
    """Whether `folder` holds exercises/ or a NAME.py (False when it cannot be searched)."""
    return _is_real_folder(folder / "exercises") or any(
        os.path.lexists(folder / f"{name}.py") for name in known
    )


def _is_real_folder(path: Path) -> bool:
    """A folder, not a symbolic link to one: a student's link could point at another student's
    files or at the kit's own solutions."""
    try:
        return stat.S_ISDIR(os.lstat(path).st_mode)
    except OSError:
        return False


def read_submission(folder: Path, known: set[str]) -> Submission:
    """One student's folder: its exercise files (at its top, in exercises/, or in the one folder
    it holds) and notes on everything odd about it. A folder that cannot be read is graded as
    empty, with a note that names it."""
    if folder.is_symlink():
        note = f"the folder is {NOT_FOLLOWED}: copy it instead"
        return Submission(folder.name, {}, (note,))
    student = folder.resolve().name
    try:
        return _read_folder(folder, known, student)
    except OSError as error:
        place = Path(error.filename) if isinstance(error.filename, str) else folder
        inside = place != folder and place.is_relative_to(folder)
        shown = f"{place.relative_to(folder)}/" if inside else "the folder"
        note = (f"{shown} cannot be read ({error.strerror}), so nothing in it was graded: make "
                "it readable (chmod -R u+rX) and grade again")  # fmt: skip
        return Submission(student, {}, (note,))


def _read_folder(folder: Path, known: set[str], student: str) -> Submission:
    notes: list[str] = []
    base = folder
    if not _has_exercises(folder, known):
        inner = [e for e in _entries(folder) if e.is_dir() and not e.is_symlink()]
        nested = [e for e in inner if _has_exercises(e, known)]
        if len(nested) == 1:
            base = nested[0]
            notes.append(f"graded the files in {base.relative_to(folder)}/")
    places = [base / "exercises", base] if _is_real_folder(base / "exercises") else [base]
    notes += [
        f"{e.relative_to(folder)}/ was not graded: it is {NOT_FOLLOWED} (submit the files "
        "themselves)"
        for e in _entries(base)
        if e.is_symlink() and e.is_dir()
    ]
    entries = [e for place in places for e in _entries(place) if e.suffix.lower() in SOURCES]
    files: dict[str, bytes] = {}
    for entry in entries:
        if entry.suffix == ".py" and entry.stem in known:
            _read_exercise(entry, folder, files, notes)
    for entry in entries:
        if not (entry.suffix == ".py" and entry.stem in known):
            _note_misnamed(entry, folder, known, files, notes)
    if not files:
        notes += [
            f"{e.relative_to(folder)} is an archive, which the kit does not open: unpack it into "
            "the student's folder"
            for e in _entries(base)
            if e.name.lower().endswith(ARCHIVES) and not e.is_dir()
        ]
    if not files and not notes:
        notes.append("the submission holds no exercise file (NAME.py)")
    return Submission(student, files, tuple(notes))


def _read_exercise(entry: Path, folder: Path, files: dict[str, bytes], notes: list[str]) -> None:
    shown = entry.relative_to(folder)
    if entry.stem in files:
        notes.append(f"{shown} was not graded: the {entry.stem}.py in exercises/ was")
        return
    data, problem = _read_regular_file(entry)
    if problem:
        notes.append(f"{shown} was not graded: {problem}")
        return
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        notes.append(f"{shown} is not UTF-8 text, so Python cannot import it: save it as UTF-8")
    files[entry.stem] = data


def _note_misnamed(
    entry: Path, folder: Path, known: set[str], files: dict[str, bytes], notes: list[str]
) -> None:
    """A note on a file that looks like an exercise's but is not named NAME.py."""
    meant = known_as(entry.stem, known)
    if meant is None:
        return
    shown = entry.relative_to(folder)
    if entry.suffix.lower() == ".ipynb":
        notes.append(
            f"{shown} is a notebook, which was not graded: submit {meant}.py (in Jupyter: "
            "File > Save and Export Notebook As > Executable Script)"
        )
    elif meant in files:
        notes.append(f"{shown} was not graded: {meant}.py was")
    else:
        notes.append(f"{shown} was not graded: name it {meant}.py")


def known_as(stem: str, known: set[str]) -> str | None:
    """The exercise a misnamed file most likely is (`attention (1)`, `Attention`, `attention-2`,
    or a learning platform's `smithjane_1234_5678_attention`)."""
    candidates = {stem, stem.lower(), stem.strip()}
    match = COPY_SUFFIX.match(stem)
    if match:
        candidates |= {match["stem"], match["stem"].lower().strip()}
    found = sorted(c for c in candidates if c in known)
    if found:
        return found[0]
    named = platform_named(stem, known)
    return named[1] if named else None


def platform_named(stem: str, known: set[str]) -> tuple[str, str] | None:
    """(prefix, exercise) of a file a learning platform renamed by putting the student before the
    exercise's name (Canvas: `smithjane_1234_5678_attention`); a learner's own test file
    (`test_attention`) is not one."""
    match = COPY_SUFFIX.match(stem)
    base = (match["stem"] if match else stem).lower().strip()
    if base.startswith("test_") or base.endswith("_test"):
        return None
    for name in sorted(known, key=len, reverse=True):  # `x_flash_attention` is flash_attention
        prefix = base.removesuffix(name)
        if prefix != base and len(prefix) > 1 and prefix[-1] in "_- ":
            return prefix[:-1], name
    return None


def _read_regular_file(path: Path) -> tuple[bytes, str]:
    """The bytes of a regular file, never through a symbolic link; or a problem."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if path.is_symlink():
            return b"", f"it is {NOT_FOLLOWED}"
        return b"", f"it cannot be read ({error.strerror})"
    if not stat.S_ISREG(os.fstat(fd).st_mode):  # a folder or a pipe opens too
        os.close(fd)
        return b"", "it is not a regular file"
    with os.fdopen(fd, "rb") as stream:
        data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        return b"", f"it is larger than {MAX_FILE_BYTES // 1024**2} MiB"
    return data, ""


def exercises_submitted(submissions: Iterable[Submission]) -> set[str]:
    """The exercises any submission has a file for (the default selection)."""
    return {name for submission in submissions for name in submission.files}


# ---------------------------------------------------------------- grading


def grade(
    submissions: Sequence[Submission],
    exercises: Sequence[Exercise],
    out: Path,
    executor: Executor,
    level: Level,
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
    for submission in submissions:
        previous = None if force else _previous(results_folder, submission, names, level)
        if previous is not None:
            outcome.results[submission.student] = previous
            outcome.reused.append(submission.student)
            if on_result:
                on_result(submission.student, previous, True)
        else:
            files = {name: data for name, data in submission.files.items() if name in names}
            tasks.append(Task(submission.student, files, names, level))
    by_student = {s.student: s for s in submissions}
    try:
        for task, document in executor.run(tasks):
            submission = by_student[task.student]
            document = _stamped(document, submission)
            atomic_write(_result_path(results_folder, task.student), _json(document))
            outcome.results[task.student] = document
            outcome.graded.append(task.student)
            if on_result:
                on_result(task.student, document, False)
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


def _result_path(folder: Path, student: str) -> Path:
    return folder / f"{student}.json"


def _previous(
    folder: Path, submission: Submission, names: tuple[str, ...], level: Level
) -> dict[str, Any] | None:
    """The stored result of this very submission, when nothing that decides it changed."""
    try:
        document = json.loads(_result_path(folder, submission.student).read_bytes())
    except (OSError, ValueError):
        return None
    if not isinstance(document, dict) or "error" in document:
        return None
    unchanged = (
        document.get("submission_sha256") == submission.sha256
        and document.get("kit_version") == __version__
        and document.get("isolation") == level.name
        and document.get("notes") == list(submission.notes)
        and tuple(e.get("name") for e in document.get("exercises", ())) == names
    )
    return document if unchanged else None


def _json(document: Any) -> bytes:
    return (json.dumps(document, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# ---------------------------------------------------------------- the class's tables


def _write_tables(
    out: Path, results: Mapping[str, dict[str, Any]], exercises: Sequence[Exercise], level: Level
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
    results: Mapping[str, dict[str, Any]], exercises: Sequence[Exercise], level: Level
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
