"""The learner's loop in a real terminal: the installed `kit` in tmux at 80x24 and 200x60.

Each test runs its own tmux server (a socket of its own, killed at the end); what the learner
sees is the pane's visible screen (`capture-pane`), so a report that scrolled its top away
fails. Waits are for text to appear, bounded only by a hang guard. While a pane runs, `kit` is
run as a program, never in this process: a check here would make this process a subreaper
that kills the orphans it adopted, the tmux server among them."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from support import kit_executable, run_cli, solution_source

from transformer_kit.learner import watch

HANG_GUARD = 90.0  # seconds: only a broken kit takes this long
NO_SCALE = ("q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)", "q @ np.swapaxes(k, -1, -2)")
SIZES = pytest.mark.parametrize("size", [(80, 24), (200, 60)], ids=["80x24", "200x60"])

pytestmark = pytest.mark.skipif(shutil.which("tmux") is None, reason="tmux is not installed")


class Pane:
    """One command running in a tmux pane of `width` x `height`, on a server of its own."""

    def __init__(self, command: list[str], cwd: Path, width: int, height: int) -> None:
        self.socket = f"kit-test-{uuid.uuid4().hex[:12]}"
        self.tmux(
            "new-session", "-d", "-x", str(width), "-y", str(height), "-c", str(cwd),
            "-e", "NO_COLOR=1", "-e", "KIT_WORKSPACE=", " ".join(command),
            ";", "set-option", "-g", "remain-on-exit", "on",
        )  # fmt: skip

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, timeout=30
        )
        assert done.returncode == 0, done.stderr
        return done.stdout

    def screen(self) -> str:
        """What the pane shows now, its visible lines only."""
        return self.tmux("capture-pane", "-p")

    def wait_for(self, *phrases: str) -> str:
        """The screen once it shows every phrase."""
        deadline = datetime.now(UTC) + timedelta(seconds=HANG_GUARD)
        while datetime.now(UTC) < deadline:
            shown = self.screen()
            if all(p in shown for p in phrases):
                return shown
            time.sleep(0.1)
        raise AssertionError(f"the screen never showed {phrases}:\n{self.screen()}")

    def close(self) -> None:
        subprocess.run(["tmux", "-L", self.socket, "kill-server"], capture_output=True)


@pytest.fixture
def pane() -> Iterator[list[Pane]]:
    made: list[Pane] = []
    yield made
    for one in made:
        one.close()


def kit_command(*args: str) -> list[str]:
    return [kit_executable(), *args]


def wrong_attention() -> str:
    source = solution_source("attention")
    assert NO_SCALE[0] in source, "the reference attention changed: update NO_SCALE"
    return source.replace(*NO_SCALE)


def test_an_untouched_workspace_is_checked_in_under_60_lines(fresh: Path) -> None:
    done = subprocess.run(
        kit_command("check"),
        cwd=fresh,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, "COLUMNS": "80"},
    )
    assert done.returncode == 1
    lines = done.stdout.splitlines()
    assert len(lines) < 60, done.stdout
    assert sum("not started" in line for line in lines) >= 17  # one line each
    debug = [line for line in lines if line.startswith("✗ debug_")]  # the broken programs too
    assert len(debug) == 3 and all("planted bugs to fix" in line for line in debug), debug
    assert "workspace:" in done.stdout and str(fresh) in done.stdout.replace("\n", "")


@SIZES
def test_after_a_save_watch_shows_the_header_and_the_first_failure(
    fresh: Path, pane: list[Pane], size: tuple[int, int]
) -> None:
    path = fresh / "exercises" / "attention.py"
    path.write_text(wrong_attention())
    pane.append(Pane(kit_command("watch", "attention"), fresh, *size))
    first = pane[0].wait_for("save to re-check")
    assert "✗ attention failed" in first and "likely mistake: no 1/sqrt(d_k)" in first
    broken = solution_source("attention").replace("return output, weights", "return weights")
    assert broken != solution_source("attention")
    path.write_text(broken)
    pane[0].wait_for("tuple of 2 items")  # redrawn after the save
    shown = pane[0].wait_for("save to re-check")
    assert "✗ attention failed" in shown  # the header stayed on the screen
    assert "called:" in shown  # and the first failure, in full


def start_interview(root: Path, minutes: int, seconds_ago: float = 0.0) -> None:
    """An attempt at attention, started `seconds_ago` (the store written as the kit writes it)."""
    code, out, _ = run_cli("-w", str(root), "interview", "attention", "--minutes", str(minutes))
    assert code == 0, out
    store = root / ".kit" / "interview.json"
    data = json.loads(store.read_text())
    started = datetime.now(UTC) - timedelta(seconds=seconds_ago)
    data["running"]["started"] = started.isoformat(timespec="seconds")
    store.write_text(json.dumps(data))


def test_watch_counts_an_interview_down_offers_no_hints_and_goes_back_after_submit(
    fresh: Path, pane: list[Pane]
) -> None:
    start_interview(fresh, 30)
    pane.append(Pane(kit_command("watch"), fresh, 100, 40))
    shown = pane[0].wait_for("save to re-check")
    assert "interview: 30 min left" in shown and ".kit/interview/attention.py" in shown
    assert "kit hint" not in shown and "no hints during an interview" in shown
    interview_file = fresh / ".kit" / "interview" / "attention.py"
    interview_file.write_text(solution_source("attention"))
    pane[0].wait_for("attention passed")
    submitted = subprocess.run(
        kit_command("-w", str(fresh), "interview", "--submit"),
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert submitted.returncode == 0, submitted.stdout + submitted.stderr
    back = pane[0].wait_for(watch.INTERVIEW_OVER.split("[/]")[0].removeprefix("[green]"))
    assert "watching exercises/warmups.py" in back  # the first unfinished exercise
    assert "interview:" not in back.replace("interview --history", "")


def test_watch_says_when_the_interview_time_is_up(fresh: Path, pane: list[Pane]) -> None:
    start_interview(fresh, 1, seconds_ago=57)  # up in about 3 s
    pane.append(Pane(kit_command("watch"), fresh, 100, 40))
    shown = pane[0].wait_for("interview: the time is up")
    assert "kit interview --submit" in shown and "overtime" in shown
