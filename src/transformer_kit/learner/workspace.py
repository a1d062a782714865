"""The learner's workspace: finding it, making it, restoring stubs, and the progress store.

A workspace is a folder with `exercises/`. The kit keeps its own state in `.kit/` inside it:
`progress.json` (best scores, first pass, hints seen) and `backups/` (files replaced by a reset
or by a new interview attempt).
"""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from transformer_kit.catalog import Exercise
from transformer_kit.storage import atomic_write, load_versioned, save_versioned, set_aside

STATE = ".kit"
PROGRESS_VERSION = 1


class WorkspaceError(Exception):
    """No usable workspace, or a change that would lose the learner's work; says what to do."""


def find(option: str | None) -> Path:
    """--workspace, else $KIT_WORKSPACE, else the current folder or the nearest folder above it
    (as git finds its repository); it must hold exercises/."""
    chosen = option or os.environ.get("KIT_WORKSPACE")
    source = "--workspace" if option else "KIT_WORKSPACE" if chosen else ""
    root = Path(chosen).expanduser().resolve() if chosen else _enclosing(Path.cwd())
    if not (root / "exercises").is_dir():
        origin = f" (from {source})" if source else " or in any folder above it"
        raise WorkspaceError(
            f"no workspace at {root}{origin}: no exercises/ folder.\n"
            "Make one with `kit init DIR`, then run kit inside DIR or pass --workspace DIR."
        )
    return root


def _enclosing(folder: Path) -> Path:
    """The nearest of `folder` and its parents that holds exercises/ (else `folder` itself)."""
    return next((f for f in (folder, *folder.parents) if (f / "exercises").is_dir()), folder)


def state_folder(root: Path) -> Path:
    """The workspace's `.kit/`; a symbolic link there (which would send the kit's writes
    elsewhere) is refused."""
    return real_folder(root / STATE, "its state")


def real_folder(folder: Path, what: str) -> Path:
    """`folder`, unless it is a symbolic link (NotADirectoryError, saying how to fix it): the
    kit writes `what` only into a real folder."""
    if folder.is_symlink():
        raise NotADirectoryError(
            f"{folder} is a symbolic link: the kit keeps {what} only in a real folder there; "
            f"remove the link (`rm {folder}`) and run kit again"
        )
    return folder


def exercise_file(root: Path, exercise: Exercise) -> Path:
    return root / "exercises" / f"{exercise.name}.py"


def init(root: Path, exercises: Sequence[Exercise]) -> list[Path]:
    """A new workspace at `root` with fresh stubs; refuses to touch an existing exercises/."""
    target = root / "exercises"
    if target.exists() and any(target.iterdir()):
        raise WorkspaceError(
            f"{target} already exists and is not empty: nothing was changed.\n"
            f"To restore a stub there, use `kit --workspace {root} reset NAME`."
        )
    target.mkdir(parents=True, exist_ok=True)
    written = []
    for exercise in exercises:
        path = exercise_file(root, exercise)
        shutil.copyfile(exercise.stub, path)
        written.append(path)
    return written


def is_fresh(root: Path, exercise: Exercise) -> bool:
    """The learner's file is exactly the kit's stub."""
    path = exercise_file(root, exercise)
    return path.is_file() and path.read_bytes() == exercise.stub.read_bytes()


def reset(root: Path, exercise: Exercise) -> Path | None:
    """Restore the stub; the replaced file is moved to .kit/backups first. Returns the backup."""
    path = exercise_file(root, exercise)
    if path.is_dir():
        raise WorkspaceError(
            f"{path} is a folder, not a file: nothing was changed. Move it away (what is in it "
            f"is yours), then run `kit reset {exercise.name}` again."
        )
    backup = None
    if path.exists() and not is_fresh(root, exercise):
        backup = keep_backup(root, path, exercise.name)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, exercise.stub.read_bytes())
    return backup


def keep_backup(root: Path, path: Path, label: str) -> Path:
    """Copy `path` to .kit/backups/LABEL-TIMESTAMP.py (never over an earlier backup)."""
    folder = state_folder(root) / "backups"
    folder.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S")
    backup = folder / f"{label}-{stamp}.py"
    counter = 1
    while backup.exists():
        counter += 1
        backup = folder / f"{label}-{stamp}-{counter}.py"
    shutil.copy2(path, backup)
    return backup


@dataclass
class Record:
    """What the workspace remembers of one exercise."""

    best_score: float = 0.0
    max_score: float = 0.0
    passed_at: str | None = None
    hints_shown: int = 0  # how many hints were seen
    hints_seen: list[int] = field(default_factory=list)  # which (0-based); older stores: the first
    failing: list[str] = field(default_factory=list)  # the functions failing at the last check

    def seen(self) -> set[int]:
        return set(self.hints_seen) if self.hints_seen else set(range(self.hints_shown))

    def next_hint(self, hints: Sequence[str]) -> int:
        """The hint to show next: the first not seen yet that names the first failing function
        (hints follow what fails), else the first not seen; when all were seen, the last."""
        unseen = [i for i in range(len(hints)) if i not in self.seen()]
        naming = [i for i in unseen if self.failing and self.failing[0] in hints[i]]
        return (naming or unseen or [len(hints) - 1])[0]

    def see_hint(self, index: int) -> None:
        self.hints_seen = sorted(self.seen() | {index})
        self.hints_shown = len(self.hints_seen)


@dataclass
class Progress:
    path: Path
    records: dict[str, Record] = field(default_factory=dict)
    warning: str = ""

    def record(self, name: str) -> Record:
        return self.records.setdefault(name, Record())

    def passed(self) -> set[str]:
        """The exercises that have passed at least once."""
        return {name for name, record in self.records.items() if record.passed_at}

    def save_or_warn(self) -> list[str]:
        """Save; a failure to write is a warning to show, never lost work or a traceback."""
        try:
            self.save()
        except OSError as error:
            return [f"could not save progress to {self.path}: {error}"]
        return []

    def save(self) -> None:
        data = {"exercises": {name: asdict(r) for name, r in sorted(self.records.items())}}
        state_folder(self.path.parent.parent).mkdir(exist_ok=True)
        save_versioned(self.path, PROGRESS_VERSION, data)


def load_progress(root: Path) -> Progress:
    """The progress store; a missing one is empty, a damaged one is set aside with a warning."""
    path = root / STATE / "progress.json"
    if not path.exists():
        return Progress(path)
    try:
        records = _records(load_versioned(path, PROGRESS_VERSION))
    except (OSError, ValueError, TypeError, KeyError) as error:
        aside = set_aside(path)
        return Progress(
            path,
            warning=f"the progress store {path} could not be read ({error}); it was moved to "
            f"{aside.name} and progress starts afresh (your exercise files are untouched)",
        )
    return Progress(path, records)


def _records(data: Any) -> dict[str, Record]:
    records = {}
    for name, entry in dict(data["exercises"]).items():
        record = Record(**entry)
        if not _valid(record):
            raise ValueError(f"the entry for {name} has values of the wrong kind")
        records[str(name)] = record
    return records


def _valid(record: Record) -> bool:
    numbers = (record.best_score, record.max_score)
    return (
        all(isinstance(n, (int, float)) and not isinstance(n, bool) and n >= 0 for n in numbers)
        and isinstance(record.hints_shown, int)
        and not isinstance(record.hints_shown, bool)
        and record.hints_shown >= 0
        and isinstance(record.hints_seen, list)
        and all(
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in record.hints_seen
        )
        and isinstance(record.failing, list)
        and all(isinstance(name, str) for name in record.failing)
        and (record.passed_at is None or isinstance(record.passed_at, str))
    )


def record_results(root: Path, results: Iterable[Any]) -> list[str]:
    """Remember a check's scores in the workspace's progress store; returns warnings to show."""
    progress = load_progress(root)
    warnings = [progress.warning] if progress.warning else []
    remember_scores(progress, results)
    return warnings + progress.save_or_warn()


def remember_scores(progress: Progress, results: Iterable[Any]) -> None:
    """Keep each exercise's best score and when it first passed."""
    for result in results:
        record = progress.record(result.name)
        record.max_score = result.max_score
        record.best_score = max(record.best_score, result.score)
        record.failing = [name for name in result.failures_by_function() if name]
        if result.passed and record.passed_at is None:
            record.passed_at = time.strftime("%Y-%m-%dT%H:%M:%S")
