"""How a learning platform lays out a class's download, for `kit grade --layout` (cli.md "Third
wave"): today's one folder per student (`folders`), Canvas (one flat folder of
`login_userid_submissionid_filename` files; a resubmitted file gets `-1`, `-2`: the highest is the
latest), Moodle (`Full Name_12345_assignsubmission_file_/` folders) and GitHub Classroom (one
clone per student, `assignment-username/`). Without `--layout` the layout is detected.

A roster (`--roster FILE`, CSV with the columns `name` and `student`) maps the platform's name
(a Canvas login, a Moodle name or participant number, a GitHub username) to the
student id. Names from the download are untrusted like any other: they are made printable.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from collections.abc import Mapping, Sequence
from pathlib import Path

from transformer_kit.batch.submissions import (
    MAX_FILE_BYTES,
    BatchError,
    Submission,
    find_submissions,
    printable,
    read_regular_file,
)

LAYOUTS = ("folders", "canvas", "moodle", "github-classroom")
CANVAS = re.compile(
    r"^(?P<login>[^_]+)(?:_late|_LATE)?_(?P<user>\d+)_(?P<submission>\d+)_(?P<file>.+)$"
)
RESUBMITTED = re.compile(r"^(?P<stem>.+?)-(?P<number>\d+)$")  # Canvas's attention-1.py
MOODLE = re.compile(r"^(?P<name>.+)_(?P<number>\d+)_assignsubmission_[a-z]+_?$")
EXPECTED = {
    "folders": "one folder per student, named for the student, holding NAME.py files",
    "canvas": "Canvas's download: one folder of files named login_userid_submissionid_filename "
    "(smithjane_12345_67890_attention.py)",
    "moodle": "Moodle's download: one folder per student named "
    "'Full Name_12345_assignsubmission_file_'",
    "github-classroom": "GitHub Classroom's clones: one folder per student repository named "
    "'assignment-username', all with the same assignment prefix",
}


def read_class(
    paths: Sequence[Path],
    names: Sequence[str],
    skip: Path,
    layout: str | None = None,
    roster: Mapping[str, str] | None = None,
) -> list[Submission]:
    """The submissions in `paths` laid out as `layout` (None: detected), their student ids
    mapped through `roster`."""
    chosen = layout or detect(paths, names)
    if chosen == "canvas":
        found = [s for path in paths for s in _canvas(_one_folder(path, chosen), names)]
    else:
        if chosen == "moodle":
            _moodle_folders(paths)
        found = find_submissions(paths, names, skip)
        if chosen == "moodle":
            found = [_renamed(s, _moodle_name(s.student)) for s in found]
        elif chosen == "github-classroom":
            prefix = _common_prefix([s.student for s in found])
            if not prefix:
                raise _unexpected(chosen, "the folders share no 'assignment-' prefix")
            found = [_renamed(s, s.student.removeprefix(prefix)) for s in found]
    return _on_roster(found, roster or {})


def _unexpected(layout: str, found: str) -> BatchError:
    return BatchError(f"--layout {layout}: {found}; expected {EXPECTED[layout]}")


def detect(paths: Sequence[Path], names: Sequence[str]) -> str:
    """The layout the folders look like: Canvas when one folder holds Canvas-named files,
    Moodle when every folder inside is named as Moodle names them, GitHub Classroom when every
    folder inside is a git clone with one shared `assignment-` prefix; else folders."""
    if len(paths) != 1 or paths[0].is_symlink() or not paths[0].is_dir():
        return "folders"
    entries = [e for e in paths[0].iterdir() if not e.name.startswith(".")]
    files = [e for e in entries if e.is_file() and not e.is_symlink()]
    folders = [e for e in entries if e.is_dir() and not e.is_symlink()]
    if files and not folders and all(CANVAS.match(f.name) for f in files if f.suffix == ".py"):
        return "canvas" if any(CANVAS.match(f.name) for f in files) else "folders"
    if folders and all(MOODLE.match(f.name) for f in folders):
        return "moodle"
    clones = [f for f in folders if _is_clone(f)]
    if len(folders) > 1 and clones == folders and _common_prefix([f.name for f in folders]):
        return "github-classroom"
    return "folders"


def _is_clone(folder: Path) -> bool:
    """Whether a student's folder holds `.git` (a folder it may not read is not a clone)."""
    try:
        os.lstat(folder / ".git")
    except OSError:
        return False
    return True


def load_roster(path: Path) -> dict[str, str]:
    """A roster CSV (columns `name` and `student`): the platform's name -> the student id."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as stream:
            rows = list(csv.DictReader(stream))
    except (OSError, UnicodeDecodeError, csv.Error) as error:
        raise BatchError(f"the roster {printable(str(path))} cannot be read: {error}") from None
    if rows and not {"name", "student"} <= set(rows[0]):
        raise BatchError(
            f"the roster {printable(str(path))} needs a header row with the columns name and "
            "student (name: the platform's login, number or username; student: the id to use)"
        )
    return {row["name"].strip(): row["student"].strip() for row in rows if row["name"]}


def _one_folder(path: Path, layout: str) -> Path:
    if path.is_symlink() or not path.is_dir():
        raise _unexpected(layout, f"{printable(str(path))} is not a folder")
    return path


def _canvas(folder: Path, names: Sequence[str]) -> list[Submission]:
    """Canvas's flat folder, one submission per login; each exercise's latest file."""
    latest: dict[str, dict[str, tuple[int, Path]]] = {}  # login -> exercise -> (number, file)
    stray: dict[str, list[str]] = {}
    for entry in sorted(folder.iterdir()):
        match = CANVAS.match(entry.name)
        if entry.name.startswith(".") or match is None:
            continue
        login, original = match["login"], Path(match["file"])
        resubmitted = RESUBMITTED.match(original.stem)
        stem, number = (
            (resubmitted["stem"], int(resubmitted["number"])) if resubmitted else (original.stem, 0)
        )
        files = latest.setdefault(login, {})
        if original.suffix == ".py" and stem in names:
            if number >= files.get(stem, (-1, entry))[0]:
                files[stem] = (number, entry)
        else:
            stray.setdefault(login, []).append(printable(match["file"]))
    if not latest:
        raise _unexpected(
            "canvas", f"{printable(str(folder))} holds no file named as Canvas names them"
        )
    return [_canvas_submission(login, latest[login], stray.get(login, [])) for login in latest]


def _canvas_submission(
    login: str, files: Mapping[str, tuple[int, Path]], stray: list[str]
) -> Submission:
    read: dict[str, bytes] = {}
    notes = [f"{name} was not graded: it is not an exercise's NAME.py" for name in stray]
    for exercise, (_, path) in sorted(files.items()):
        data, problem = read_regular_file(path, MAX_FILE_BYTES)
        if problem:
            notes.append(f"{printable(path.name)} was not graded: {problem}")
        else:
            read[exercise] = data
    if not read and not notes:
        notes.append("the submission holds no exercise file (NAME.py)")
    return Submission(printable(login), read, tuple(notes))


def _moodle_folders(paths: Sequence[Path]) -> None:
    """Each path is Moodle's download: folders only, each named as Moodle names them."""
    for path in paths:
        entries = [e for e in _one_folder(path, "moodle").iterdir() if not e.name.startswith(".")]
        odd = next((e for e in entries if not (e.is_dir() and MOODLE.match(e.name))), None)
        if odd is not None:
            raise _unexpected("moodle", f"{printable(odd.name)} is not named as Moodle names one")
        if not entries:
            raise _unexpected("moodle", f"{printable(str(path))} is empty")


def _moodle_name(folder_name: str) -> str:
    match = MOODLE.match(folder_name)
    if match is None:
        raise _unexpected("moodle", f"{folder_name} is not named as Moodle names a submission")
    return f"{match['name']}_{match['number']}"


def _common_prefix(names: Sequence[str]) -> str:
    """The `assignment-` prefix every name shares (up to its last dash), or ""."""
    if len(names) < 2:
        return ""
    shared = names[0]
    for name in names[1:]:
        while not name.startswith(shared):
            shared = shared[:-1]
    cut = shared.rfind("-")
    prefix = shared[: cut + 1] if cut > 0 else ""
    return prefix if all(len(n) > len(prefix) for n in names) else ""


def _renamed(submission: Submission, student: str) -> Submission:
    return dataclasses.replace(submission, student=student)


def _on_roster(found: list[Submission], roster: Mapping[str, str]) -> list[Submission]:
    """Student ids through the roster (a Moodle folder by its name or number); the rest keep
    the platform's name, with a note. Two submissions may not end with one id."""
    if not roster:
        return sorted(found, key=lambda s: s.student)
    mapped = []
    for submission in found:
        keys = [submission.student, *submission.student.rsplit("_", 1)[1:]]
        student = next((roster[k] for k in keys if k in roster), None)
        if student is None:
            note = f"{submission.student} is not on the roster: graded under that name"
            mapped.append(dataclasses.replace(submission, notes=(*submission.notes, note)))
        else:
            mapped.append(_renamed(submission, printable(student)))
    ids = [s.student for s in mapped]
    twice = sorted({i for i in ids if ids.count(i) > 1})
    if twice:
        raise BatchError(f"the roster gives two submissions the student id {twice[0]!r}: "
                         "each name must map to a different student")  # fmt: skip
    return sorted(mapped, key=lambda s: s.student)
