"""`kit nbgrader autograde` finishes the class (issue 19, item 7): a damaged timestamp.txt (garbage,
empty, huge, not UTF-8, a pipe), a notebook over the 5 MiB limit (a real one, and a sparse 4 GiB
file that would take the instructor's process to 4 GiB if it were read), a notebook that is not
JSON or JSON but not a notebook, one the kit cannot write back, and a student folder whose name is
not UTF-8: each is that student's note or error, and every other student is graded, through the
real nbgrader gradebook.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from support import kit_executable
from test_nbgrader_roundtrip import (
    ASSIGNMENT,
    environment,
    read_gradebook,
    reference_cells,
    run,
    with_solutions,
)

from transformer_kit.classroom.nbgrader.submitted import MAX_NOTEBOOK_BYTES
from transformer_kit.cli.nbgrader import nbgrader

pytest.importorskip("nbgrader", reason="nbgrader is not installed: pip install '.[classroom]'")

NAME = "momentum_sgd"
POINTS = 6
SPARSE_BYTES = 4 * 1024**3
MEMORY_BOUND = 1024**3  # the most kit's processes may take (one, at its peak): far below 4 GiB
UNTIMED = "graded without a submission time, as nbgrader grades a submission that has none"
TIMESTAMPS = {  # student -> (timestamp.txt's bytes, the note)
    "garbage-time": (b"next tuesday-ish\n", "timestamp.txt does not hold a time"),
    "empty-time": (b"\n", "timestamp.txt is empty"),
    "huge-time": (b"2026-01-05 10:00:00 UTC" + b" " * 2**20, "timestamp.txt was not read (it is "
                  "larger than 1024 bytes)"),
    "latin-time": (b"2026-01-05 10:00:00 \xe9t\xe9\n", "timestamp.txt is not UTF-8 text"),
}  # fmt: skip
NOTEBOOKS = {  # student -> the note on a notebook the kit does not grade (every test scores 0)
    "oversized": f"{NAME}.ipynb was not read (it is larger than 5 MiB; clear its outputs",
    "sparse": f"{NAME}.ipynb was not read (it is larger than 5 MiB",
    "not-json": f"{NAME}.ipynb is not JSON, so not a notebook",
    "not-notebook": f"{NAME}.ipynb is JSON but not a notebook (",
    "list-notebook": f"{NAME}.ipynb is JSON but not a notebook (no list of cells with text)",
    "bad-cells": f"{NAME}.ipynb is JSON but not a notebook (no list of cells with text)",
}
NEWLINE = "new\nline"  # the gradebook's id; the kit's is new\\nline
GRADED = ("reference", NEWLINE, "fifo-time", *TIMESTAMPS, *NOTEBOOKS, "unwritable")


@dataclass
class Course:
    root: Path
    run: subprocess.CompletedProcess[str]
    peak_bytes: int  # the largest resident size of kit's processes


def _submit(root: Path, student: bytes, notebook: bytes) -> Path:
    """submitted/STUDENT/ASSIGNMENT/NAME.ipynb, the student named by raw bytes; its folder."""
    folder = os.path.join(os.fsencode(root / "submitted"), student, ASSIGNMENT.encode())
    os.makedirs(folder)
    Path(os.fsdecode(folder), f"{NAME}.ipynb").write_bytes(notebook)
    return Path(os.fsdecode(folder))


def _oversized(notebook: dict[str, Any]) -> bytes:
    """The notebook with a cell output just over the limit, as a plot printed as text makes."""
    big = json.loads(json.dumps(notebook))
    code = next(c for c in big["cells"] if c["cell_type"] == "code")
    code["outputs"] = [{"output_type": "stream", "name": "stdout", "text": "0.5 " * 2**20 * 2}]
    data = json.dumps(big).encode()
    assert MAX_NOTEBOOK_BYTES < len(data) < 2 * MAX_NOTEBOOK_BYTES
    return data


MEASURED = """
import resource, subprocess, sys
done = subprocess.run(sys.argv[1:], capture_output=True, text=True)
peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss * 1024
print(done.returncode, peak, done.stdout, sep="\\n", end="")
print(done.stderr, file=sys.stderr, end="")
"""


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Course]:
    base = tmp_path_factory.mktemp("nbgrader-finishes")
    root, env = base / "course", environment(base)
    exported = CliRunner().invoke(nbgrader, ["export", str(root), NAME, "--assignment", ASSIGNMENT])
    assert exported.exit_code == 0, exported.output
    run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT], root, env)
    file = f"{ASSIGNMENT}/{NAME}.ipynb"
    release = json.loads((root / "release" / file).read_text("utf-8"))
    source = json.loads((root / "source" / file).read_text("utf-8"))
    solved = with_solutions(release, reference_cells(source))
    good = json.dumps(solved).encode()
    for student in ("reference", NEWLINE, "fifo-time", *TIMESTAMPS):
        _submit(root, student.encode(), good)
    (root / "submitted" / "reference" / ASSIGNMENT / "timestamp.txt").write_text(
        "2026-01-05 10:00:00 UTC"
    )
    for student, (data, _) in TIMESTAMPS.items():
        (root / "submitted" / student / ASSIGNMENT / "timestamp.txt").write_bytes(data)
    os.mkfifo(root / "submitted" / "fifo-time" / ASSIGNMENT / "timestamp.txt")  # nbgrader hangs
    _submit(root, b"oversized", _oversized(solved))
    sparse = _submit(root, b"sparse", b"") / f"{NAME}.ipynb"
    os.truncate(sparse, SPARSE_BYTES)  # no disk used; 4 GiB of memory if it were read
    _submit(root, b"not-json", b"this is not JSON {")
    _submit(root, b"not-notebook", b'{"nbformat": 4, "nbformat_minor": 5, "cells": 5}')
    _submit(root, b"list-notebook", b"[1, 2, 3]")
    bad_cells = json.loads(good)  # nbformat reads it (and logs that it is invalid)
    bad_cells["cells"][0]["source"] = 5
    _submit(root, b"bad-cells", json.dumps(bad_cells).encode())
    unwritable = json.loads(good)  # a lone surrogate (JSON allows it), which UTF-8 cannot hold
    unwritable["cells"][0]["source"] = ["a lone \udc80 surrogate"]
    _submit(root, b"unwritable", json.dumps(unwritable).encode())
    _submit(root, b"caf\xe9", good)  # a Latin-1 name: nbgrader's student ids are text
    command = [kit_executable(), "nbgrader", "autograde", str(root), ASSIGNMENT, "-j", "2"]
    done = subprocess.run([sys.executable, "-c", MEASURED, *command], cwd=base, env=env,
                          capture_output=True, text=True, timeout=1800)  # fmt: skip
    status, peak, stdout = done.stdout.split("\n", 2)
    graded = subprocess.CompletedProcess(command, int(status), stdout, done.stderr)
    print(f"\nkit nbgrader autograde: peak {int(peak) / 2**20:.0f} MiB (shown with -s)\n{stdout}")
    yield Course(root, graded, int(peak))


def test_every_other_student_is_graded_and_the_run_says_who_was_not(course: Course) -> None:
    out = course.run.stdout
    assert course.run.returncode == 1, out + course.run.stderr  # two could not be graded
    assert "Traceback" not in out + course.run.stderr
    assert f"Wrote {len(GRADED) - 1} of {len(GRADED) + 1} submissions into the gradebook" in out
    assert _said(out, "caf\\xe9").startswith(
        "not graded: the folder name submitted/caf\\xe9 is not"
    )
    assert _said(out, "unwritable").startswith(
        "not graded: the kit could not write the grades: UnicodeEncodeError"
    )
    gradebook = read_gradebook(course.root, [s for s in GRADED if s != "unwritable"])
    for student in ("reference", NEWLINE, "fifo-time", *TIMESTAMPS):
        assert gradebook[student][NAME]["score"] == pytest.approx(POINTS), student
    assert _said(out, "new\\nline") == f"{POINTS} of {POINTS} points"
    for student in NOTEBOOKS:
        assert gradebook[student][NAME]["score"] == 0, student


def test_a_damaged_timestamp_is_a_note_and_the_submission_has_no_time(course: Course) -> None:
    from nbgrader.api import Gradebook

    out = course.run.stdout
    for _, note in TIMESTAMPS.values():
        assert f"note: {note}" in out and UNTIMED in out, note
    assert "timestamp.txt was not read (it is not a regular file)" in out
    with Gradebook(f"sqlite:///{course.root / 'gradebook.db'}") as gradebook:
        times = {s: gradebook.find_submission(ASSIGNMENT, s).timestamp for s in GRADED[:-1]}
    assert str(times.pop("reference")).startswith("2026-01-05 10:00:00")
    assert set(times.values()) == {None}


def test_a_notebook_that_cannot_be_graded_is_a_note(course: Course) -> None:
    for student, note in NOTEBOOKS.items():
        assert f"note: {note}" in course.run.stdout, student


def test_an_oversized_notebook_is_never_read(course: Course) -> None:
    assert course.peak_bytes < MEMORY_BOUND, f"a kit process peaked at {course.peak_bytes:,} B"


def _said(out: str, student: str) -> str:
    """What the report's line for `student` says after the name."""
    line = next(line for line in out.splitlines() if line.startswith(f"{student} "))
    return line[len(student) :].strip()
