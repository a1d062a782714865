"""Learning platforms' downloads (`kit grade --layout`, issue 21): Canvas's flat folder with
resubmissions, Moodle's folders, GitHub Classroom's clones, detected or named, mapped through a
roster; a layout that does not fit says what was expected; hostile names stay printable.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from support import EXERCISES, kit_executable, solution_source

from transformer_kit.batch import layouts
from transformer_kit.batch.submissions import BatchError

NAMES = [e.name for e in EXERCISES]
MOM, ATT = "momentum_sgd", "attention"


def _write(folder: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        (folder / relative).parent.mkdir(parents=True, exist_ok=True)
        (folder / relative).write_text(text)
    return folder


def test_canvas_takes_each_login_s_latest_resubmission(tmp_path: Path) -> None:
    folder = _write(tmp_path / "download", {
        "smithjane_1234_5678_momentum_sgd.py": "first",
        "smithjane_1234_5679_momentum_sgd-1.py": "second",
        "smithjane_1234_5680_momentum_sgd-2.py": "latest",
        "smithjane_1234_5678_attention.py": "att",
        "doejohn_LATE_1235_5690_momentum_sgd.py": "late",
        "doejohn_1235_5691_notes.txt": "notes",
    })  # fmt: skip
    assert layouts.detect([folder], NAMES) == "canvas"
    found = {s.student: s for s in layouts.read_class([folder], NAMES, tmp_path / "out")}
    assert set(found) == {"smithjane", "doejohn"}
    assert found["smithjane"].files == {MOM: b"latest", ATT: b"att"}  # -2 beats -1 beats none
    assert found["doejohn"].files == {MOM: b"late"}
    assert found["doejohn"].notes == ("notes.txt was not graded: it is not an exercise's NAME.py",)


def test_moodle_folders_are_students_named_with_their_number(tmp_path: Path) -> None:
    folder = _write(tmp_path / "download", {
        "Jane Smith_12345_assignsubmission_file_/momentum_sgd.py": "jane",
        "John Doe_12346_assignsubmission_file_/exercises/momentum_sgd.py": "john",
    })  # fmt: skip
    assert layouts.detect([folder], NAMES) == "moodle"
    found = {s.student: s.files for s in layouts.read_class([folder], NAMES, tmp_path / "out")}
    assert found == {"Jane Smith_12345": {MOM: b"jane"}, "John Doe_12346": {MOM: b"john"}}


def test_github_classroom_clones_lose_the_assignment_prefix(tmp_path: Path) -> None:
    folder = _write(tmp_path / "clones", {
        "hw1-octocat/momentum_sgd.py": "cat",
        "hw1-octocat/.git/HEAD": "ref",
        "hw1-mona-lisa/momentum_sgd.py": "mona",
        "hw1-mona-lisa/.git/HEAD": "ref",
    })  # fmt: skip
    assert layouts.detect([folder], NAMES) == "github-classroom"
    found = {s.student: s.files for s in layouts.read_class([folder], NAMES, tmp_path / "out")}
    assert found == {"octocat": {MOM: b"cat"}, "mona-lisa": {MOM: b"mona"}}
    (folder / "hw1-octocat" / ".git" / "HEAD").unlink()
    (folder / "hw1-octocat" / ".git").rmdir()
    assert layouts.detect([folder], NAMES) == "folders"  # not every folder is a clone


def test_a_roster_maps_names_to_ids_and_notes_who_is_missing(tmp_path: Path) -> None:
    folder = _write(tmp_path / "download", {
        "Jane Smith_12345_assignsubmission_file_/momentum_sgd.py": "jane",
        "John Doe_12346_assignsubmission_file_/momentum_sgd.py": "john",
    })  # fmt: skip
    roster = _write(tmp_path, {"roster.csv": "name,student\n12345,s001\n"}) / "roster.csv"
    found = layouts.read_class([folder], NAMES, tmp_path / "out", None, layouts.load_roster(roster))
    assert [(s.student, s.notes) for s in found] == [
        ("John Doe_12346", ("John Doe_12346 is not on the roster: graded under that name",)),
        ("s001", ()),
    ]


@pytest.mark.parametrize(
    "layout, files, expected",
    [
        ("canvas", {"jane/momentum_sgd.py": "x"}, "login_userid_submissionid_filename"),
        ("moodle", {"jane/momentum_sgd.py": "x"}, "Full Name_12345_assignsubmission_file_"),
        ("github-classroom", {"jane/momentum_sgd.py": "x", "john/momentum_sgd.py": "y"},
         "'assignment-username'"),
    ],
)  # fmt: skip
def test_a_layout_that_does_not_fit_says_what_was_expected(
    tmp_path: Path, layout: str, files: dict[str, str], expected: str
) -> None:
    folder = _write(tmp_path / "class", files)
    with pytest.raises(BatchError, match=f"--layout {layout}: .*expected .*{expected}"):
        layouts.read_class([folder], NAMES, tmp_path / "out", layout)


def test_a_roster_without_its_header_is_refused(tmp_path: Path) -> None:
    roster = _write(tmp_path, {"roster.csv": "login,id\njane,1\n"}) / "roster.csv"
    with pytest.raises(BatchError, match="columns name and student"):
        layouts.load_roster(roster)


def test_kit_grade_grades_a_canvas_download_with_hostile_names(tmp_path: Path) -> None:
    """The real `kit grade` on a Canvas folder: the latest file counts, a name with a newline and
    markup stays printable, and a wrong --layout is a usage error naming what was expected."""
    folder = tmp_path / "download"
    folder.mkdir()
    hostile = "<i>x\nevil&'"
    (folder / f"{hostile}_1_2_{MOM}.py").write_text("raise SystemExit('broken first try')")
    (folder / f"{hostile}_1_3_{MOM}-1.py").write_text(solution_source(MOM))
    (folder / f"jane_2_4_{MOM}.py").write_text(solution_source(MOM))
    environment = {**os.environ, "KIT_ISOLATION": "full", "NO_COLOR": "1"}

    def kit(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [kit_executable(), "grade", *args, "--out", str(tmp_path / "out")],
            capture_output=True, text=True, cwd=tmp_path, env=environment, timeout=600,
        )  # fmt: skip

    done = kit(str(folder))
    assert done.returncode == 0, done.stderr
    summary = json.loads((tmp_path / "out" / "summary.json").read_text())
    scores = {t["student"]: t["score"] for t in summary["totals"]}
    assert scores == {"<i>x\\nevil&'": 6.0, "jane": 6.0}  # the resubmission, not the first try
    wrong = kit(str(folder), "--layout", "moodle")
    assert wrong.returncode == 2 and "expected Moodle's download" in wrong.stderr, wrong.stderr
    assert "Traceback" not in wrong.stderr
