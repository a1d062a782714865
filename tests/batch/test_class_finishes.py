"""A class always finishes (issue 19, item 7): whatever is wrong with one student's folder (a name
that is not UTF-8 or holds a newline or an escape sequence, a very long name, a file that is a
pipe, a dangling link or a folder) or with the kit's own process grading it (a grading process
that dies), that student gets a note or an `error`, and every other student is graded exactly.

A class of 20 generated students goes through the real `kit grade`; the grading process of one
of them is killed (SIGKILL, as the kernel's OOM killer would) every time it grades that student.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import os
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import EXERCISES, kit_executable, processes_named, solution_source

from transformer_kit.batch import engine
from transformer_kit.batch import submissions as finding

NAME = "warmups"  # the cheapest exercise to grade
PROBE = "kitgradecrash"  # the process name of the submission whose grading process is killed
CRASHER = "0-crasher"  # graded first, beside another student
CRASH = f"""
import ctypes, time
ctypes.CDLL(None).prctl(15, b"{PROBE}", 0, 0, 0)  # PR_SET_NAME: how the test finds it
time.sleep(120)
""".encode()
PATIENCE = 600  # seconds kit grade may take on a busy machine (not a measurement)


def _reference() -> bytes:
    return solution_source(NAME).encode()


def _stub() -> bytes:
    return next(e for e in EXERCISES if e.name == NAME).stub.read_bytes()


def _make(folder: Path, student: bytes, files: dict[bytes, bytes]) -> None:
    """A student's folder, named by raw bytes, holding `files` (relative path -> bytes)."""
    root = os.path.join(os.fsencode(folder), student)
    for relative, data in files.items():
        path = os.path.join(root, relative)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        Path(os.fsdecode(path)).write_bytes(data)


def generate(folder: Path) -> dict[str, str]:
    """20 students in `folder`: their ids -> what each must get ("reference" or "stub": the
    same results as a plain student's, "error", or the one note of a student graded 0, or 8
    when the note starts with "8: ")."""
    ref, stub, top = _reference(), _stub(), f"{NAME}.py".encode()
    made: list[tuple[bytes, str, dict[bytes, bytes], str]] = [  # raw name, id, files, expected
        (b"ref-1", "ref-1", {top: ref}, "reference"),
        (b"ref-2", "ref-2", {b"exercises/" + top: ref}, "reference"),
        (b"ref-3", "ref-3", {top: ref, b"\xff.py": b"x = 1\n"}, "reference"),
        (b"ref-4", "ref-4", {top: ref}, "reference"),
        (b"stub-1", "stub-1", {top: stub}, "stub"),
        (b"stub-2", "stub-2", {top: stub}, "stub"),
        (b"caf\xe9", "caf\\xe9", {top: ref}, "reference"),  # Latin-1, not UTF-8
        (b"caf\\xe9", "caf\\\\xe9", {top: stub}, "stub"),  # the same text, typed: no collision
        (b"new\nline", "new\\nline", {top: ref}, "reference"),
        (b"tab\there", "tab\\there", {top: stub}, "stub"),
        (b"\x1b[2Jclear", "\\u001b[2Jclear", {top: ref}, "reference"),  # clears a terminal
        (b"\xfe" * 250, "\\xfe" * 250, {top: ref}, "reference"),  # 1000 characters escaped
        ("é".encode() * 120, "é" * 120, {top: stub}, "stub"),  # 240 bytes of UTF-8
        (b"nested-odd", "nested-odd", {b"hw\xff/" + top: ref}, "8: graded the files in hw\\xff/"),
        (b"odd-file", "odd-file", {top: ref, b"st\xff_" + top: ref},
         f"8: st\\xff_{NAME}.py was not graded: {NAME}.py was"),
        (CRASHER.encode(), CRASHER, {top: CRASH}, "error"),
    ]  # fmt: skip
    for raw, _, files, _ in made:
        _make(folder, raw, files)
    for student in ("fifo", "dangling", "dir-named", "pipe-inside"):
        (folder / student).mkdir()
    os.mkfifo(folder / "fifo" / f"{NAME}.py")  # root reads a mode-000 file, not a pipe
    (folder / "dangling" / f"{NAME}.py").symlink_to(folder / "nowhere.py")
    (folder / "dir-named" / f"{NAME}.py").mkdir()
    (folder / "pipe-inside" / "exercises").mkdir()
    os.mkfifo(folder / "pipe-inside" / "exercises" / f"{NAME}.py")
    not_regular = f"{NAME}.py was not graded: it is not a regular file"
    expected = {student: what for _, student, _, what in made} | {
        "fifo": not_regular,
        "dangling": f"{NAME}.py was not graded: it is a symbolic link, which the kit does not "
        "follow",
        "dir-named": not_regular,
        "pipe-inside": f"exercises/{not_regular}",
    }
    assert len(expected) == 20
    return expected


def kit_grade(folder: Path, out: Path) -> tuple[subprocess.CompletedProcess[str], set[int]]:
    """`kit grade` of the class, killing the grading process of every attempt at CRASHER; also
    the grading processes killed."""
    command = [kit_executable(), "grade", str(folder), "--out", str(out), "-j", "2", "--json"]
    environment = {**os.environ, "KIT_ISOLATION": "full", "NO_COLOR": "1"}
    process = subprocess.Popen(command, env=environment, text=True, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE)  # fmt: skip
    killed: set[int] = set()
    deadline = time.monotonic() + PATIENCE
    while process.poll() is None and time.monotonic() < deadline:
        for pid in processes_named(PROBE):
            grading = _grading_process(pid)
            if grading is not None and grading not in killed:
                killed.add(grading)
                with contextlib.suppress(ProcessLookupError):
                    os.kill(grading, signal.SIGKILL)
        time.sleep(0.1)
    stdout, stderr = process.communicate(timeout=60)
    for pid in processes_named(PROBE):  # a sandboxed worker whose grading process was killed
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    return subprocess.CompletedProcess(command, process.returncode, stdout, stderr), killed


def _grading_process(pid: int) -> int | None:
    """The grading process (a multiprocessing child of kit grade) above the process `pid`."""
    while pid > 1:
        try:
            if b"spawn_main" in Path(f"/proc/{pid}/cmdline").read_bytes():
                return pid
            status = Path(f"/proc/{pid}/status").read_text()
        except OSError:
            return None
        pid = int(next(line.split()[1] for line in status.splitlines() if line[:5] == "PPid:"))
    return None


@dataclass
class Graded:
    folder: Path
    out: Path
    expected: dict[str, str]  # student id -> what the student must get (see generate)
    run: subprocess.CompletedProcess[str]
    killed: set[int]  # the grading processes killed


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Graded:
    base = tmp_path_factory.mktemp("finishes")
    folder, out = base / "class", base / "grades"
    folder.mkdir()
    expected = generate(folder)
    return Graded(folder, out, expected, *kit_grade(folder, out))


def _documents(out: Path) -> dict[str, dict]:
    """Every results file, read as strict UTF-8 JSON that encodes back to UTF-8."""
    documents = {}
    for path in (out / "results").iterdir():
        document = json.loads(path.read_bytes().decode("utf-8"))
        json.dumps(document, ensure_ascii=False).encode("utf-8")  # no lone surrogate
        assert len(os.fsencode(path.name)) <= 255
        documents[document["student"]] = document
    return documents


def test_every_student_is_graded_or_noted_and_one_crash_is_one_error(graded: Graded) -> None:
    run, expected = graded.run, graded.expected
    assert run.returncode == 1, run.stderr  # cli.md: some submission could not be graded
    assert "Traceback" not in run.stderr
    assert len(graded.killed) == 2, "the crasher was graded once beside another, once alone"
    summary = json.loads(run.stdout)
    assert summary["students"] == 20 and summary["failed"] == [CRASHER]
    documents = _documents(graded.out)
    assert sorted(documents) == sorted(expected), "a student is missing or two share a file"
    assert "a grading process died" in documents[CRASHER]["error"]
    reference, stub = documents["ref-1"], documents["stub-1"]
    assert reference["score"] == reference["max_score"] == 8 and stub["score"] == 0
    for student, what in expected.items():
        document = documents[student]
        if what in ("reference", "stub"):
            model = reference if what == "reference" else stub
            assert document["exercises"] == model["exercises"], student
            assert document["notes"] == [] and "error" not in document, student
        elif what != "error":
            score, note = (8, what[3:]) if what.startswith("8: ") else (0, what)
            assert (document["notes"], document["score"]) == ([note], score), student


def test_the_csv_is_utf_8_and_names_every_student_once(graded: Graded) -> None:
    text = (graded.out / "grades.csv").read_bytes().decode("utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert sorted(row["student"] for row in rows) == sorted(graded.expected)
    assert all(row["student"].isprintable() for row in rows)
    assert "\x1b" not in text


def test_a_rerun_reuses_every_result_and_grades_the_mended_submission(graded: Graded) -> None:
    (graded.folder / CRASHER / f"{NAME}.py").write_bytes(_reference())
    again = subprocess.run(
        [kit_executable(), "grade", str(graded.folder), "--out", str(graded.out), "-j", "2"],
        capture_output=True, text=True, env={**os.environ, "KIT_ISOLATION": "full"},
        timeout=PATIENCE,
    )  # fmt: skip
    assert again.returncode == 0, again.stderr
    assert "graded 1, unchanged since the last run 19" in again.stdout, again.stdout
    assert _documents(graded.out)[CRASHER]["score"] == 8


def test_a_folder_or_file_that_vanishes_before_it_is_read_is_a_note(tmp_path: Path) -> None:
    """What a student's folder or file removed between the listing and the reading gives."""
    gone = tmp_path / "gone"
    submission = finding.read_submission(gone, {NAME})
    assert submission.student == "gone" and not submission.files and not submission.error
    assert submission.notes[0].startswith("the folder cannot be read (No such file or directory)")
    data, problem = finding.read_regular_file(gone / f"{NAME}.py", finding.MAX_FILE_BYTES)
    assert (data, problem) == (b"", "it cannot be read (No such file or directory)")


@pytest.mark.parametrize(
    "raw, shown",
    [
        (b"plain name", "plain name"),
        (b"caf\xe9", "caf\\xe9"),
        (b"caf\\xe9", "caf\\\\xe9"),
        ("café".encode(), "café"),
        (b"a\nb\rc\td", "a\\nb\\rc\\td"),
        (b"\x1b]0;title\x07", "\\u001b]0;title\\u0007"),
        ("\u202eevil".encode(), "\\u202eevil"),  # a direction override
        (b"\xed\xa0\x80", "\\xed\\xa0\\x80"),  # a surrogate encoded: not UTF-8
    ],
)
def test_a_name_is_printable_and_keeps_its_difference(raw: bytes, shown: str) -> None:
    assert finding.printable(os.fsdecode(raw)) == shown
    shown.encode("utf-8")


def test_long_names_get_distinct_results_files_within_the_limit(tmp_path: Path) -> None:
    long = "\\xfe" * 250
    names = [long, long[:-4] + "\\xfd", "x" * 190, "short"]
    paths = [engine.result_path(tmp_path, name) for name in names]
    paths.append(engine.result_path(tmp_path, paths[0].stem))  # a name like a shortened one
    assert len(set(paths)) == len(paths)
    assert all(len(os.fsencode(path.name)) <= engine.NAME_BYTES for path in paths)
    assert paths[3].name == "short.json"
