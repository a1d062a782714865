"""One student's submission of an nbgrader assignment, read for `kit nbgrader autograde`: the code
of each notebook's solution cells (found by the `grade_id`s `kit nbgrader export` wrote, after the
imports cell nbgrader recorded) becomes that exercise's file of a `batch.Submission`, and
timestamp.txt the submission's time. Nothing in a learner's notebook runs in this process: the
notebooks are only read as JSON, and only up to MAX_NOTEBOOK_BYTES (a larger one is refused on its
size, unread).

Deleted, reordered, renamed or unreadable cells and notebooks, a damaged timestamp.txt and a
student folder whose name nbgrader cannot record are noted for the student (or are its `error`);
what is missing scores 0, and every other student is graded.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from transformer_kit.batch.submissions import (
    LARGER,
    NOT_FOLLOWED,
    Submission,
    printable,
    read_regular_file,
)
from transformer_kit.classroom.nbgrader.course import Course, Expected
from transformer_kit.untrusted import clean

MAX_NOTEBOOK_BYTES = 5 * 1024**2  # a submitted notebook larger than this is not read
MAX_TIMESTAMP_BYTES = 1024  # nbgrader writes one short line: 2026-01-05 10:00:00.123456 UTC
SHOWN_CHARACTERS = 60  # of a damaged file's text, quoted in its note
UNTIMED = "graded without a submission time, as nbgrader grades a submission that has none"


@dataclass(frozen=True)
class Extracted:
    """One student's submission: the files the kit grades, the notes, the test cells (grade_ids)
    missing from each notebook, which score 0, the readable notebooks and the submission's time."""

    submission: Submission
    missing_tests: dict[str, frozenset[str]] = field(default_factory=dict)  # exercise -> ids
    notebooks: dict[str, Any] = field(default_factory=dict)  # exercise -> notebook (nbformat)
    timestamp: datetime | None = None


def extract(
    course: Course, assignment: str, student: str, expected: Sequence[Expected]
) -> Extracted:
    """The student's submission: per exercise, the imports cell and the solution cells' code. A
    crash of the kit's own code on it is the student's `error`, not the class's."""
    shown = printable(student)  # the kit's id; the gradebook's is the name itself
    try:
        student.encode("utf-8")
    except UnicodeEncodeError:
        error = (f"the folder name submitted/{shown} is not UTF-8, and nbgrader's gradebook "
                 "records it as the student id: rename the folder")  # fmt: skip
        return Extracted(Submission(shown, {}, error=error))
    try:
        return _extract(course, assignment, student, expected)
    except Exception as crash:  # the kit's own failure: this student's, not the class's
        error = clean(f"{type(crash).__name__}: {crash}")
        return Extracted(Submission(shown, {}, error=error))


def _extract(
    course: Course, assignment: str, student: str, expected: Sequence[Expected]
) -> Extracted:
    folder = course.submitted(student, assignment)
    files: dict[str, bytes] = {}
    notes: list[str] = []
    missing: dict[str, frozenset[str]] = {}
    notebooks: dict[str, Any] = {}
    # submitted/<student>/<assignment> itself, or the student's folder, linked elsewhere
    linked = folder.is_symlink() or folder.parent.is_symlink()
    for notebook in expected:
        path = folder / f"{notebook.name}.ipynb"
        if linked:
            shown = printable(str(folder.relative_to(course.root)))
            node, problem = None, f"{shown} is {NOT_FOLLOWED}"
        else:
            node, problem = _read(path)
        if node is None:
            notes.append(f"{problem}: every test of {notebook.name} scores 0")
            missing[notebook.name] = frozenset(_test_ids(notebook))
            continue
        notebooks[notebook.name] = node
        code, found, cell_notes = _code(node, notebook)
        files[notebook.name] = code.encode("utf-8", errors="replace")
        notes += [f"{notebook.name}.ipynb: {note}" for note in cell_notes]
        absent = frozenset(_test_ids(notebook)) - found
        if absent:
            notes.append(
                f"{notebook.name}.ipynb: {len(absent)} test cell(s) are missing (deleted, or their "
                f"nbgrader metadata changed), they score 0: {', '.join(sorted(absent))}"
            )
        missing[notebook.name] = absent
    timestamp, note = (None, "") if linked else timestamp_of(folder)
    notes += [note] if note else []
    submission = Submission(printable(student), files, tuple(notes))
    return Extracted(submission, missing, notebooks, timestamp)


def _read(path: Path) -> tuple[Any, str]:
    """The notebook at `path` (nbformat 4), or None and why not."""
    import nbformat

    if path.is_symlink():  # it could point at the instructor's source notebook
        return None, f"{path.name} is {NOT_FOLLOWED}"
    if not os.path.lexists(path):
        return None, f"no {path.name} was submitted"
    data, problem = read_regular_file(path, MAX_NOTEBOOK_BYTES)
    if problem.startswith(LARGER):
        problem += "; clear its outputs: Kernel > Restart Kernel and Clear Outputs, then save"
    if problem:
        return None, f"{path.name} was not read ({problem})"
    try:
        raw = json.loads(data.decode("utf-8"))
    except (ValueError, RecursionError):  # not UTF-8, not JSON, or nested beyond reading
        return None, f"{path.name} is not JSON, so not a notebook (damaged? download it again)"
    try:  # an older nbformat's notebook is converted to version 4
        node = nbformat.reads(data.decode("utf-8"), as_version=4) if isinstance(raw, dict) else None
    except Exception as error:  # whatever else nbformat finds wrong with it
        return None, f"{path.name} is JSON but not a notebook ({clean(error, SHOWN_CHARACTERS)})"
    if node is None or not _is_notebook(node):
        return None, f"{path.name} is JSON but not a notebook (no list of cells with text)"
    return node, ""


def _is_notebook(node: Any) -> bool:
    """Whether `node` has the shape the kit reads: a list of cells, each with a type, metadata
    and source text (nbformat reads some notebooks that do not)."""
    cells = node.get("cells") if isinstance(node, Mapping) else None
    return isinstance(cells, list) and all(
        isinstance(cell, Mapping)
        and isinstance(cell.get("cell_type"), str)
        and isinstance(cell.get("metadata", {}), Mapping)
        and _is_text(cell.get("source", ""))
        for cell in cells
    )


def _is_text(source: Any) -> bool:
    return isinstance(source, str) or (
        isinstance(source, list) and all(isinstance(line, str) for line in source)
    )


def timestamp_of(folder: Path) -> tuple[datetime | None, str]:
    """The submission's time, from nbgrader's timestamp.txt when the submission has one; a
    damaged one is noted and the submission graded without a time."""
    from nbgrader.utils import parse_utc

    path = folder / "timestamp.txt"
    if not os.path.lexists(path):
        return None, ""
    data, problem = read_regular_file(path, MAX_TIMESTAMP_BYTES)
    if problem:
        return None, f"timestamp.txt was not read ({problem}): {UNTIMED}"
    try:
        text = data.decode("utf-8").strip()
    except UnicodeDecodeError:
        return None, f"timestamp.txt is not UTF-8 text: {UNTIMED}"
    if not text:
        return None, f"timestamp.txt is empty: {UNTIMED}"
    try:
        return parse_utc(text), ""
    except Exception:  # dateutil's parser on a student's text: any error it raises
        quoted = printable(text[:SHOWN_CHARACTERS])
        return None, f"timestamp.txt does not hold a time ('{quoted}'): {UNTIMED}"


def _test_ids(notebook: Expected) -> list[str]:
    return [t.grade_id(notebook.name) for t in notebook.tests]


def cell_grade_id(cell: Any) -> str | None:
    """The nbgrader grade_id of a submitted cell, if it has one."""
    data = cell.get("metadata", {}).get("nbgrader", {})
    grade_id = data.get("grade_id") if isinstance(data, Mapping) else None
    return grade_id if isinstance(grade_id, str) else None


def _code(node: Any, notebook: Expected) -> tuple[str, frozenset[str], list[str]]:
    """The module the kit grades, the grade_ids present, and notes on what was not as released."""
    present: dict[str, Any] = {}
    notes = []
    loose = 0
    for cell in node.get("cells", []):
        grade_id = cell_grade_id(cell)
        if grade_id is None:
            code = cell_text(cell.get("source", ""))
            loose += cell.get("cell_type") == "code" and bool(code.strip())
            continue
        if grade_id not in notebook.cells:
            shown = printable(grade_id)
            notes.append(f"a cell has the unknown grade_id '{shown}' (renamed?): not graded")
        elif grade_id in present:
            notes.append(f"two cells have the grade_id '{grade_id}': the first is graded")
        else:
            present[grade_id] = cell
    parts = [notebook.imports]
    for grade_id in notebook.solutions:
        cell = present.get(grade_id)
        if cell is None or cell.get("cell_type") != "code":
            what = "is missing" if cell is None else "is not a code cell"
            notes.append(
                f"the solution cell '{grade_id}' {what}: what it should define is missing, so "
                "the tests that need it score 0"
            )
            continue
        parts.append(cell_text(cell.get("source", "")))
    if loose:
        notes.append(
            f"{loose} code cell(s) outside the solution cells are not graded: put your code, "
            "helpers too, in the solution cells"
        )
    order = [g for g in present if g in notebook.solutions]
    if order != [g for g in notebook.solutions if g in present]:
        notes.append("the solution cells were reordered: they are graded in the exercise's order")
    return "\n\n".join(parts) + "\n", frozenset(present), notes


def cell_text(source: Any) -> str:
    """A cell's source as one string (nbformat keeps it as a string or a list of lines)."""
    return "".join(source) if isinstance(source, list) else str(source)
