"""`kit quiz` in a real terminal (tmux): garbage is refused and asked again, a right and a wrong
answer are graded and explained, Ctrl-C stops with everything answered kept."""

from __future__ import annotations

import os
import shlex
import shutil
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from support import kit_executable

from transformer_kit.quiz import bank, schedule
from transformer_kit.quiz.answers import show

pytestmark = pytest.mark.skipif(
    shutil.which("tmux") is None or shutil.which("bash") is None, reason="needs tmux and bash"
)
PATIENCE = 120  # seconds to wait for text that must appear (a liveness bound, not a timing)


class Terminal:
    def __init__(self, socket: str) -> None:
        self.socket = socket

    def tmux(self, *args: str) -> str:
        done = subprocess.run(
            ["tmux", "-L", self.socket, *args], capture_output=True, text=True, check=True
        )
        return done.stdout

    def screen(self) -> str:
        return self.tmux("capture-pane", "-p", "-J", "-S", "-500", "-t", "quiz")

    def wait_for(self, text: str, count: int = 1) -> str:
        deadline = time.monotonic() + PATIENCE
        while time.monotonic() < deadline:
            screen = self.screen()
            if screen.count(text) >= count:
                return screen
            time.sleep(0.2)
        raise AssertionError(f"{text!r} never appeared; the screen:\n{self.screen()}")

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "quiz", "-l", text)
        self.tmux("send-keys", "-t", "quiz", "Enter")


@pytest.fixture
def terminal(make_workspace: object) -> Iterator[tuple[Terminal, Path]]:
    assert callable(make_workspace)
    root = make_workspace({})
    assert isinstance(root, Path)
    term = Terminal(f"kit-quiz-{uuid.uuid4().hex[:8]}")
    command = (
        f"{shlex.quote(kit_executable())} --workspace {shlex.quote(str(root))} "
        "quiz attention --count 3; echo EXIT=$?; sleep 600"
    )
    environment = {**os.environ, "NO_COLOR": "1", "TERM": "xterm"}
    environment.pop("KIT_WORKSPACE", None)
    subprocess.run(
        ["tmux", "-L", term.socket, "new-session", "-d", "-s", "quiz", "-x", "220", "-y", "50",
         "bash", "-c", command],
        check=True,
        env=environment,
    )  # fmt: skip
    term.tmux("set-option", "-t", "quiz", "remain-on-exit", "on")  # the screen outlives kit
    try:
        yield term, root
    finally:
        subprocess.run(["tmux", "-L", term.socket, "kill-server"], check=False)


def test_right_wrong_garbage_and_ctrl_c_in_a_terminal(terminal: tuple[Terminal, Path]) -> None:
    term, root = terminal
    first, second, third = [c for c in bank.load().checks if c.topic == "attention"][:3]
    right = show(first, 0).key
    wrong = next(letter for letter in "abcd" if letter != show(second, 0).key)

    term.wait_for(f"[1/3] {first.id}")
    term.wait_for("> ")
    term.type("zzz")
    term.wait_for("Not an answer: there is no option 'zzz'")
    term.type(right)
    screen = term.wait_for(f"Right: {right}.")
    assert first.explanation[:50] in screen.replace("\n", "")

    term.wait_for(f"[2/3] {second.id}")
    term.type(wrong)
    term.wait_for(f"Wrong: the answer is {show(second, 0).key}.")

    term.wait_for(f"[3/3] {third.id}")
    term.tmux("send-keys", "-t", "quiz", "C-c")
    screen = term.wait_for("EXIT=")
    assert "EXIT=130" in screen and "Stopped. 2 answer(s) kept" in screen
    assert "Traceback" not in screen

    store = schedule.load(root)
    assert {k: (e.seen, e.right) for k, e in store.entries.items()} == {
        first.id: (1, 1),
        second.id: (1, 0),
    }
