"""The files Gradescope delivers in ROOT/submission, gathered for `kit grade`: the file graded for
each exercise, wherever the student put it, and a note on everything else."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from transformer_kit.batch.submissions import printable

# folders and files that archivers and editors add: skipped without a note
CLUTTER = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints", ".DS_Store", ".idea"}
EXTRAS_LISTED = 10


@dataclass(frozen=True)
class Gathered:
    """The file graded for each exercise found, and what the student should know about the rest."""

    files: Mapping[str, Path]
    notes: tuple[str, ...]


def gather(submission: Path, names: Sequence[str]) -> Gathered:
    """Find `NAME.py` for each exercise name anywhere under `submission` (at the top, in
    `exercises/` or in any folder; symbolic links are never followed), and say which files were
    not graded: duplicates, misnamed files, notebooks, anything else."""
    found: dict[str, list[Path]] = {name: [] for name in names}
    others: list[Path] = []
    links: list[Path] = []
    for folder, dirs, files in os.walk(submission):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if d not in CLUTTER and not _link(here / d, links))
        for file in sorted(files):
            path = here / file
            if file in CLUTTER or _link(path, links):
                continue
            stem, suffix = os.path.splitext(file)
            if suffix == ".py" and stem in found:
                found[stem].append(path)
            else:
                others.append(path)
    graded = {name: _preferred(paths) for name, paths in found.items() if paths}
    notes = [
        *_duplicate_notes(found, graded, submission),
        *_other_notes(others, names, submission),
        *(f"{_shown(p, submission)} is a symbolic link: it was not followed" for p in links),
    ]
    missing = [name for name in names if name not in graded]
    if missing:
        listed = ", ".join(f"{name}.py" for name in missing)
        notes.append(f"no {listed} in your submission: 0 points for {_them(len(missing))}")
    return Gathered(graded, tuple(notes))


def _link(path: Path, links: list[Path]) -> bool:
    if path.is_symlink():
        links.append(path)
        return True
    return False


def _preferred(paths: Sequence[Path]) -> Path:
    """A file in a folder named exercises/ first, then the one nearest the top."""
    return min(paths, key=lambda p: (p.parent.name != "exercises", len(p.parts), str(p)))


def _duplicate_notes(
    found: Mapping[str, Sequence[Path]], graded: Mapping[str, Path], submission: Path
) -> list[str]:
    notes = []
    for name, paths in found.items():
        for path in paths:
            if path != graded[name]:
                chosen = _shown(graded[name], submission)
                notes.append(f"{_shown(path, submission)} was not graded: {chosen} was")
    return notes


def _other_notes(others: Sequence[Path], names: Sequence[str], submission: Path) -> list[str]:
    notes, extras = [], []
    for path in others:
        meant = _meant(path, names)
        shown = _shown(path, submission)
        if meant and path.suffix == ".ipynb":
            notes.append(f"{shown} is a notebook, which is not graded: submit {meant}.py")
        elif meant:
            notes.append(f"{shown} looks like {meant}.py but is not named so: it was not graded")
        else:
            extras.append(shown)
    if extras:
        listed = ", ".join(extras[:EXTRAS_LISTED])
        more = f" and {len(extras) - EXTRAS_LISTED} more" if len(extras) > EXTRAS_LISTED else ""
        notes.append(f"not graded (not an exercise file): {listed}{more}")
    return notes


def _meant(path: Path, names: Sequence[str]) -> str | None:
    """The exercise a misnamed file or notebook seems to be, as `kit grade` tells
    (`Attention.py`, `attention (1).py`, `attention.ipynb`)."""
    from transformer_kit.batch.submissions import SOURCES, known_as

    return known_as(path.stem, set(names)) if path.suffix.lower() in SOURCES else None


def _shown(path: Path, submission: Path) -> str:
    """The path as the student named it, bytes that are not UTF-8 escaped (never a lone
    surrogate in results.json, which Gradescope could not read)."""
    return printable(path.relative_to(submission).as_posix())


def _them(count: int) -> str:
    return "that exercise" if count == 1 else "those exercises"
