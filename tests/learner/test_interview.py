"""`kit interview` (cli.md, issue 14): timed attempts from a fresh stub, through the real CLI.

The clock is the one thing replaced: `interview.clock`, which every command reads once, so
overtime is tested without sleeping. Grading is real (the sandbox, the graders).
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import EXERCISES, kit_executable, run_cli

from transformer_kit.learner import interview

pytestmark = pytest.mark.usefixtures("isolated_environment")

HANG_GUARD = 60.0  # seconds: only a broken watcher takes this long to draw
BY_NAME = {e.name: e for e in EXERCISES}


class Clock:
    """The time every `kit interview` command sees; tests move it forward."""

    def __init__(self) -> None:
        self.now = datetime(2030, 5, 1, 9, 0, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: float) -> None:
        self.now += timedelta(minutes=minutes)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    fake = Clock()
    monkeypatch.setattr(interview, "clock", fake)
    return fake


@pytest.fixture
def root(tmp_path: Path) -> Path:
    workspace = tmp_path / "learner"
    assert run("init", str(workspace))[0] == 0
    return workspace


def run(*args: str) -> tuple[int, str, str]:
    code, out, err = run_cli(*args)
    assert "Traceback" not in out + err
    return code, out, err


def kit(root: Path, *args: str) -> tuple[int, str, str]:
    return run("-w", str(root), *args)


def attempt_file(root: Path, name: str) -> Path:
    return root / ".kit" / "interview" / f"{name}.py"


def solve(root: Path, name: str) -> None:
    shutil.copyfile(BY_NAME[name].solution, attempt_file(root, name))


def stored(root: Path) -> dict:
    return json.loads((root / ".kit" / "interview.json").read_text())


def test_start_writes_a_fresh_stub_beside_the_learners_file_and_status_counts_down(
    root: Path, clock: Clock
) -> None:
    mine = root / "exercises" / "attention.py"
    mine.write_text("# my own attention, half done\n")
    minutes = BY_NAME["attention"].interview_minutes
    code, out, _ = kit(root, "interview", "att")
    assert code == 0
    assert str(attempt_file(root, "attention")) in out and f"{minutes} minutes" in out
    written = attempt_file(root, "attention").read_text()
    stub = BY_NAME["attention"].stub.read_text()
    assert "TODO(attention)" in stub and "TODO" not in written  # no walkthrough in an interview
    docstrings = [line for line in stub.splitlines() if "#" not in line]
    assert [line for line in written.splitlines() if "#" not in line] == docstrings
    assert mine.read_text() == "# my own attention, half done\n"
    clock.advance(15)
    code, out, _ = kit(root, "interview", "--status")
    assert code == 0 and str(attempt_file(root, "attention")) in out
    assert f"Time left: {minutes - 15} min 00 s" in out


def test_submitting_the_reference_passes_and_is_remembered(
    root: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIT_ISOLATION", "full")  # the sandbox of kit check, or a usage error
    assert kit(root, "interview", "attention", "--minutes", "40")[0] == 0
    solve(root, "attention")
    clock.advance(25)
    code, out, _ = kit(root, "interview", "--submit")
    assert code == 0 and "attention passed" in out and "25 of 40 minutes" in out
    assert "isolation: basic" not in out
    (attempt,) = stored(root)["attempts"]
    assert attempt["exercise"] == "attention" and attempt["passed"] is True
    assert attempt["minutes_used"] == 25 and attempt["overtime"] is False
    assert attempt["score"] == attempt["max_score"] == BY_NAME["attention"].points
    assert attempt["started"] == "2030-05-01T09:00:00+00:00"
    monkeypatch.setenv("COLUMNS", "200")  # one line per exercise
    code, out, _ = kit(root, "list")
    (row,) = [line for line in out.splitlines() if line.split()[1:2] == ["attention"]]
    assert "25 min" in row and "passed" in row  # a passed interview is a pass
    code, out, _ = kit(root, "solution", "attention")  # no --force needed
    assert code == 0 and "reference solution of attention" in out
    code, out, _ = kit(root, "interview", "--status")
    assert code == 0 and "No interview attempt is running" in out


def test_submitting_the_stub_fails_with_exit_1(root: Path, clock: Clock) -> None:
    shutil.copyfile(BY_NAME["momentum_sgd"].solution, root / "exercises" / "momentum_sgd.py")
    assert kit(root, "interview", "momentum")[0] == 0  # graded: the interview file, not that
    clock.advance(3)
    code, out, _ = kit(root, "interview", "--submit")
    assert code == 1 and "momentum_sgd failed" in out and "not passed" in out
    (attempt,) = stored(root)["attempts"]
    assert attempt["passed"] is False and attempt["score"] == 0
    code, out, _ = kit(root, "list")
    (row,) = [line for line in out.splitlines() if " momentum_sgd " in line]
    assert "min" not in row  # a failed attempt is no best time


def test_a_late_submission_is_graded_and_marked_overtime(root: Path, clock: Clock) -> None:
    assert kit(root, "interview", "param", "--minutes", "5")[0] == 0
    clock.advance(7)
    code, out, _ = kit(root, "interview", "--status")
    assert code == 0 and "Time is up: 2 min 00 s over" in out
    solve(root, "param_count")
    code, out, _ = kit(root, "interview", "--submit")
    assert code == 0 and "overtime" in out
    (attempt,) = stored(root)["attempts"]
    assert attempt["passed"] is True and attempt["overtime"] is True
    assert attempt["minutes_used"] == 7
    code, out, _ = kit(root, "interview", "--history")
    (row,) = [line for line in out.splitlines() if "param_count" in line]
    assert "7 of 5" in row and "passed, overtime" in row


# an interview file that fails at import when it can read the kit's state beside its folder
PEEKS_AT_THE_STORE = """
from pathlib import Path

for name in ("interview.json", "progress.json"):
    try:
        (Path(__file__).parent.parent / name).read_bytes()
    except OSError:
        continue
    raise RuntimeError("the worker could read .kit/" + name)
"""


def test_the_worker_sees_the_attempts_folder_but_not_the_kits_state(
    root: Path, clock: Clock, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KIT_ISOLATION", "full")
    assert kit(root, "hint", "warmups")[0] == 0  # .kit/progress.json exists
    assert kit(root, "interview", "param")[0] == 0  # .kit/interview.json exists
    path = attempt_file(root, "param_count")
    path.write_text(BY_NAME["param_count"].solution.read_text() + PEEKS_AT_THE_STORE)
    code, out, _ = kit(root, "interview", "--submit")
    assert code == 0 and "param_count passed" in out


def test_a_broken_interview_file_is_named_as_such(root: Path, clock: Clock) -> None:
    assert kit(root, "interview", "momentum")[0] == 0
    attempt_file(root, "momentum_sgd").write_text("def sgd_step(w:\n")
    code, out, _ = kit(root, "interview", "--submit")
    assert code == 1 and "interview/momentum_sgd.py could not be imported" in out
    assert "exercises/momentum_sgd.py" not in out


def test_abandoning_ends_the_attempt_and_keeps_the_file(root: Path, clock: Clock) -> None:
    assert kit(root, "interview", "kv")[0] == 0
    attempt_file(root, "kv_cache").write_text("# my try\n")
    clock.advance(12.5)
    code, out, _ = kit(root, "interview", "--abandon")
    assert code == 0 and "12.5 minutes" in out
    assert attempt_file(root, "kv_cache").read_text() == "# my try\n"
    (attempt,) = stored(root)["attempts"]
    assert attempt["score"] is None and attempt["passed"] is False
    code, out, _ = kit(root, "interview", "--history")
    (row,) = [line for line in out.splitlines() if "kv_cache" in line]
    assert "abandoned" in row and "12.5 of" in row
    code, out, err = kit(root, "interview", "--abandon")
    assert code == 2 and "no interview attempt is running" in err and out == ""


def test_one_minute_is_said_in_the_singular(root: Path, clock: Clock) -> None:
    code, out, _ = kit(root, "interview", "warmups", "--minutes", "1")
    assert code == 0 and "1 minute." in out and "1 minutes" not in out
    assert "1 minute," in kit(root, "interview", "--status")[1]
    clock.advance(1)
    code, out, _ = kit(root, "interview", "--abandon")
    assert code == 0 and "after 1 minute;" in out


def test_a_clock_set_back_during_an_attempt_leaves_a_readable_store(
    root: Path, clock: Clock
) -> None:
    assert kit(root, "interview", "kv")[0] == 0
    clock.advance(-90)  # the system clock was corrected backwards
    assert kit(root, "interview", "--abandon")[0] == 0
    code, out, err = kit(root, "interview", "--history")
    assert code == 0 and err == "" and "0 of" in out
    assert stored(root)["attempts"][0]["minutes_used"] == 0


def test_hints_and_the_solution_are_refused_during_the_attempt(root: Path, clock: Clock) -> None:
    assert kit(root, "interview", "attention")[0] == 0
    for command in (["hint", "attention"], ["solution", "att", "--force"]):
        code, out, err = kit(root, *command)
        assert code == 2 and out == ""
        assert "interview" in err and "--submit" in err and "--abandon" in err
    assert not (root / ".kit" / "progress.json").exists()  # no hint was counted as seen
    code, out, _ = kit(root, "hint", "momentum")  # another exercise: as usual
    assert code == 0 and "hint 1 of 3" in out
    assert kit(root, "interview", "--abandon")[0] == 0
    code, out, _ = kit(root, "hint", "attention")
    assert code == 0 and "hint 1 of 3" in out


def test_a_second_start_while_one_runs_says_how_to_end_it(root: Path, clock: Clock) -> None:
    assert kit(root, "interview", "attention")[0] == 0
    code, out, err = kit(root, "interview", "kv_cache")
    assert code == 2 and out == ""
    assert "attention is already running" in err and "--submit" in err and "--abandon" in err
    assert not attempt_file(root, "kv_cache").exists()
    assert stored(root)["running"]["exercise"] == "attention"


def test_two_attempts_in_a_row_keep_the_first_file_and_both_records(
    root: Path, clock: Clock
) -> None:
    assert kit(root, "interview", "warmups")[0] == 0
    attempt_file(root, "warmups").write_text("# first try\n")
    clock.advance(10)
    assert kit(root, "interview", "--submit")[0] == 1
    clock.advance(60)
    code, out, _ = kit(root, "interview", "warmups")
    assert code == 0 and "earlier attempt" in out
    (backup,) = (root / ".kit" / "backups").glob("interview-warmups-*.py")
    assert backup.read_text() == "# first try\n" and str(backup) in out
    fresh = attempt_file(root, "warmups").read_text().splitlines()
    stub = BY_NAME["warmups"].stub.read_text().splitlines()
    assert fresh[0] == stub[0] and set(fresh) <= set(stub)  # the stub's lines, no earlier try
    solve(root, "warmups")
    clock.advance(8)
    assert kit(root, "interview", "--submit")[0] == 0
    attempts = stored(root)["attempts"]
    assert [(a["minutes_used"], a["passed"]) for a in attempts] == [(10, False), (8, True)]
    code, out, _ = kit(root, "interview", "--history")
    rows = [line for line in out.splitlines() if "warmups" in line]
    assert len(rows) == 2 and "failed" in rows[0] and "passed" in rows[1]
    starts = [datetime(2030, 5, 1, 9, 0, tzinfo=UTC), datetime(2030, 5, 1, 10, 10, tzinfo=UTC)]
    for row, start in zip(rows, starts, strict=True):
        assert start.astimezone().strftime("%Y-%m-%d %H:%M") in row  # shown in local time


@pytest.mark.parametrize(
    "damage",
    [
        '{"format_version": 1, "running": {"exercise": "attention", "sta',  # truncated
        '{"format_version": 1, "running": {"exercise": "attention", "started": '
        '"2030-05-01T09:00:00+00:00", "minutes": 0}, "attempts": []}',
        '{"format_version": 1, "running": null, "attempts": [{"exercise": "x"}]}',
        '{"format_version": 9, "running": null, "attempts": []}',
    ],
)
def test_a_damaged_store_mid_attempt_is_set_aside_and_no_work_is_lost(
    root: Path, clock: Clock, damage: str
) -> None:
    assert kit(root, "interview", "attention")[0] == 0
    attempt_file(root, "attention").write_text("# forty minutes of work\n")
    store = root / ".kit" / "interview.json"
    store.write_text(damage)
    code, out, err = kit(root, "interview", "--status")
    assert code == 0 and "could not be read" in err and "No interview attempt is running" in out
    (aside,) = store.parent.glob("interview.damaged-*.json")
    assert aside.read_text() == damage
    assert attempt_file(root, "attention").read_text() == "# forty minutes of work\n"
    code, out, _ = kit(root, "interview", "attention")  # a new attempt keeps the old file
    assert code == 0
    (backup,) = (root / ".kit" / "backups").glob("interview-attention-*.py")
    assert backup.read_text() == "# forty minutes of work\n"
    assert stored(root)["running"]["exercise"] == "attention"


def test_without_a_name_it_picks_the_unpassed_else_the_longest_ago_passed(
    root: Path, clock: Clock
) -> None:
    code, out, _ = kit(root, "interview")
    assert code == 0 and f"Interview: {EXERCISES[0].name} " in out
    assert kit(root, "interview", "--abandon")[0] == 0
    oldest, second = "param_count", "scaling"
    start = datetime(2026, 3, 10, 12)  # then a day later for each exercise, in order
    passed = {e.name: (start + timedelta(days=i)).isoformat() for i, e in enumerate(EXERCISES)}
    passed[oldest], passed[second] = "2025-01-01T12:00:00", "2025-02-01T12:00:00"
    record = {"best_score": 1.0, "max_score": 1.0, "hints_shown": 0}
    progress = {n: {**record, "passed_at": when} for n, when in passed.items()}
    (root / ".kit" / "progress.json").write_text(
        json.dumps({"format_version": 1, "exercises": progress})
    )
    code, out, _ = kit(root, "interview")
    assert code == 0 and f"Interview: {oldest} " in out
    solve(root, oldest)
    assert kit(root, "interview", "--submit")[0] == 0  # passed again, in 2030
    code, out, _ = kit(root, "interview")
    assert code == 0 and f"Interview: {second} " in out


@pytest.mark.parametrize(
    ("args", "phrase"),
    [
        (["zzz"], "no exercise named 'zzz'"),
        (["b"], "ambiguous"),
        (["attention", "--minutes", "0"], "--minutes"),
        (["attention", "--minutes", "soon"], "--minutes"),
        (["--submit"], "no interview attempt is running"),
        (["--submit", "attention"], "--submit takes no NAME"),
        (["--history", "--minutes", "5"], "--history takes no NAME or --minutes"),
        (["--status", "--submit"], "only one of --status, --submit"),
    ],
)
def test_bad_input_is_a_usage_error_with_a_message(
    root: Path, clock: Clock, args: list[str], phrase: str
) -> None:
    code, out, err = kit(root, "interview", *args)
    assert code == 2 and phrase in err and out == ""
    assert not (root / ".kit" / "interview").exists()


def test_kit_watch_grades_the_interview_file_without_ending_the_attempt(
    root: Path, clock: Clock
) -> None:
    assert kit(root, "interview", "attention")[0] == 0
    watcher = subprocess.Popen(
        [kit_executable(), "-w", str(root), "watch"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        env={**os.environ, "COLUMNS": "200"},
    )
    try:
        first = read_until(watcher, "save to re-check")
        assert "attention failed" in first and "watching .kit/interview/attention.py" in first
        solve(root, "attention")
        assert "attention passed" in read_until(watcher, "save to re-check")
        watcher.send_signal(signal.SIGINT)
        assert watcher.wait(HANG_GUARD) == 0
    finally:
        if watcher.poll() is None:
            watcher.kill()
        watcher.wait()
    assert stored(root)["running"]["exercise"] == "attention"
    assert not (root / ".kit" / "progress.json").exists()  # exercises/ scores: untouched


def read_until(process: subprocess.Popen[bytes], phrase: str) -> str:
    """What the process prints from now up to a line holding `phrase`."""
    assert process.stdout is not None
    seen = b""
    while phrase.encode() not in seen or not seen.endswith(b"\n"):
        ready, _, _ = select.select([process.stdout], [], [], HANG_GUARD)
        assert ready, f"nothing new for {HANG_GUARD} s:\n{seen.decode()}"
        chunk = os.read(process.stdout.fileno(), 1 << 16)
        assert chunk, f"the watcher ended before showing {phrase!r}:\n{seen.decode()}"
        seen += chunk
    return seen.decode()


def test_help_explains_the_command() -> None:
    code, out, _ = run("--help")
    assert code == 0 and "kit interview [NAME]" in out
    code, out, _ = run("interview", "--help")
    assert code == 0 and "Exit status" in out
    for option in ("--minutes", "--status", "--submit", "--abandon", "--history", "--workspace"):
        assert option in out
