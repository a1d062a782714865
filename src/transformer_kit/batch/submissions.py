"""Finding a class's submissions for `kit grade` (cli.md "`kit grade`") and reading each into
bytes, once: symbolic links are never followed, and every oddity of a real class's folders (a
misnamed or nested file, a notebook, an empty folder, a name that is not UTF-8, a file that cannot
be read) becomes a note for that student, never an error of the batch. A crash of the kit's own
code on one folder becomes that student's `error`; the other students are still graded.

Every name shown (the student id, a file in a note) is `printable`: what the file system gives is
bytes, and a name that is not UTF-8, or holds a newline or a control character, is written with
backslash escapes, so that it can be printed and written into JSON, CSV and a file name.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import re
import stat
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from transformer_kit.untrusted import clean

MAX_FILE_BYTES = 1024**2  # a source file larger than this is not graded
SOURCES = (".py", ".ipynb")
ARCHIVES = (".zip", ".tar", ".tar.gz", ".tgz", ".tar.xz", ".tar.bz2", ".7z", ".rar")
IGNORED = {"__MACOSX", "__pycache__", ".ipynb_checkpoints", ".kit", ".git"}
NOT_FOLLOWED = "a symbolic link, which the kit does not follow"  # a link in a submission
LARGER = "it is larger than"  # how a note on a file refused on its size begins
COPY_SUFFIX = re.compile(r"^(?P<stem>.+?)(?:\s*\(\d+\)|[-_ ]copy|[-_ ]\d+|[-_ ]v\d+)$")
ESCAPES = {"\\": "\\\\", "\n": "\\n", "\r": "\\r", "\t": "\\t"}
UNDECODED = range(0xDC80, 0xDD00)  # how Python holds a file name's byte that is not UTF-8


class BatchError(Exception):
    """The batch cannot start (a path that is not a folder, two students with one id)."""


@dataclass(frozen=True)
class Submission:
    student: str
    files: Mapping[str, bytes]  # exercise name -> the bytes of its NAME.py
    notes: tuple[str, ...] = ()
    error: str = ""  # the kit's own failure on this folder: then nothing in it is graded

    @cached_property
    def sha256(self) -> str:
        """A hash of the files graded (names and contents), computed once."""
        digest = hashlib.sha256()
        for name in sorted(self.files):
            data = self.files[name]
            digest.update(f"{name}\0{len(data)}\0".encode())
            digest.update(data)
        return digest.hexdigest()


def find_submissions(paths: Sequence[Path], names: Iterable[str], skip: Path) -> list[Submission]:
    """The submissions in `paths` (cli.md's layouts), for the exercises `names`; `skip` (the
    output folder) is never taken for a student."""
    known = set(names)
    folders: list[Path] = []
    for path in paths:
        if path.is_symlink() or not path.is_dir():
            raise BatchError(f"{printable(str(path))} is not a folder: give one folder per "
                             "student, or a folder of such folders")  # fmt: skip
        folders += _student_folders(path, known, skip.resolve())
    submissions = [read_submission(folder, known) for folder in folders]
    seen: dict[str, Path] = {}
    for folder, submission in zip(folders, submissions, strict=True):
        if not submission.files and folder in paths:
            _refuse_one_folder_class(folder, known)
        if submission.student in seen:
            raise BatchError(
                f"two submissions have the student id {submission.student!r}: "
                f"{printable(str(seen[submission.student]))} and {printable(str(folder))}; "
                "rename one folder"
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
            f"{printable(str(folder))} holds files of several students side by side "
            f"({printable(files[0])}, {printable(files[1])}, ...), as a learning platform's "
            "download does: kit grade takes one folder per student, named for the student. Put "
            "each student's files in a folder of their own, named NAME.py (e.g. "
            f"{printable(str(folder / 'STUDENT' / f'{name}.py'))}), or name the platform's layout "
            "with --layout canvas, moodle or github-classroom"
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
    empty, with a note that names it; a crash of the kit's own code on it is its `error`."""
    linked = folder.is_symlink()
    student = printable(folder.name if linked else os.path.basename(os.path.realpath(folder)))
    if linked:
        return Submission(student, {}, (f"the folder is {NOT_FOLLOWED}: copy it instead",))
    try:
        return _read_folder(folder, known, student)
    except OSError as error:
        place = Path(error.filename) if isinstance(error.filename, str) else folder
        inside = place != folder and place.is_relative_to(folder)
        shown = f"{shown_path(place, folder)}/" if inside else "the folder"
        note = (f"{shown} cannot be read ({error.strerror}), so nothing in it was graded: make "
                "it readable (chmod -R u+rX) and grade again")  # fmt: skip
        return Submission(student, {}, (note,))
    except Exception as error:  # the kit's own failure: this student's, not the class's
        return Submission(student, {}, error=clean(f"{type(error).__name__}: {error}"))


def _read_folder(folder: Path, known: set[str], student: str) -> Submission:
    notes: list[str] = []
    base = folder
    if not _has_exercises(folder, known):
        inner = [e for e in _entries(folder) if e.is_dir() and not e.is_symlink()]
        nested = [e for e in inner if _has_exercises(e, known)]
        if len(nested) == 1:
            base = nested[0]
            notes.append(f"graded the files in {shown_path(base, folder)}/")
    places = [base / "exercises", base] if _is_real_folder(base / "exercises") else [base]
    notes += [
        f"{shown_path(e, folder)}/ was not graded: it is {NOT_FOLLOWED} (submit the files "
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
            f"{shown_path(e, folder)} is an archive, which the kit does not open: unpack it into "
            "the student's folder"
            for e in _entries(base)
            if e.name.lower().endswith(ARCHIVES) and not e.is_dir()
        ]
    if not files and not notes:
        notes.append("the submission holds no exercise file (NAME.py)")
    return Submission(student, files, tuple(notes))


def _read_exercise(entry: Path, folder: Path, files: dict[str, bytes], notes: list[str]) -> None:
    shown = shown_path(entry, folder)
    if entry.stem in files:
        notes.append(f"{shown} was not graded: the {entry.stem}.py in exercises/ was")
        return
    data, problem = read_regular_file(entry, MAX_FILE_BYTES)
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
    shown = shown_path(entry, folder)
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


def read_regular_file(path: Path, limit: int) -> tuple[bytes, str]:
    """The bytes of a regular file of at most `limit` bytes, never through a symbolic link; or a
    problem. A larger file is refused on its size, before a byte of it is read."""
    too_large = (
        f"{LARGER} {limit / 1024**2:g} MiB" if limit >= 1024**2 else f"{LARGER} {limit} bytes"
    )
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError as error:
        if path.is_symlink():
            return b"", f"it is {NOT_FOLLOWED}"
        return b"", f"it cannot be read ({error.strerror})"
    status = os.fstat(fd)
    problem = "" if stat.S_ISREG(status.st_mode) else "it is not a regular file"  # a folder, pipe
    if problem or status.st_size > limit:
        os.close(fd)
        return b"", problem or too_large
    with os.fdopen(fd, "rb") as stream:
        try:
            data = stream.read(limit + 1)  # it may have grown since
        except OSError as error:
            return b"", f"it cannot be read ({error.strerror})"
    return (b"", too_large) if len(data) > limit else (data, "")


def printable(name: str) -> str:
    """`name` (as the file system gave it) fit to print and to write into JSON, CSV and a file
    name: a byte that is not UTF-8 becomes \\xNN, a backslash \\\\, a newline, tab or return
    \\n, \\t, \\r, another character that does not print (a control, a direction mark)
    \\uNNNN. Two different names never become one."""
    return "".join(_escaped(char) for char in name)


def _escaped(char: str) -> str:
    code = ord(char)
    if char in ESCAPES:
        return ESCAPES[char]
    if code in UNDECODED:
        return f"\\x{code - 0xDC00:02x}"
    if char.isprintable():
        return char
    return f"\\u{code:04x}" if code <= 0xFFFF else f"\\U{code:08x}"


def shown_path(path: Path, folder: Path) -> str:
    """`path`, inside a student's `folder`, as a note names it."""
    return printable(str(path.relative_to(folder)))


def exercises_submitted(submissions: Iterable[Submission]) -> set[str]:
    """The exercises any submission has a file for (the default selection)."""
    return {name for submission in submissions for name in submission.files}
