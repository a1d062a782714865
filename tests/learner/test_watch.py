"""`kit watch`: the file watcher under the ways editors save, the watch loop as a learner sees it
(in a thread, reading the console frame by frame), the worker it starts ahead for the next check
(seen from outside, in /proc), and a watcher in a terminal that Ctrl-C ends.

No test measures speed (tests/benchmarks/bench_watch.py does); the timeouts here only keep a
broken watcher from hanging the session.
"""

from __future__ import annotations

import contextlib
import io
import os
import pty
import re
import select
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from catalogue.attention import RIGHT
from rich.console import Console
from support import EXERCISES, processes_named, solution_source

from transformer_kit import catalog as meta
from transformer_kit.check import check
from transformer_kit.cli import render
from transformer_kit.learner import watch
from transformer_kit.learner.files import FileWatcher, imports_torch, remote_filesystem
from transformer_kit.learner.watch import GOODBYE, ctrl_c_stops, watch_loop
from transformer_kit.learner.workspace import load_progress
from transformer_kit.results import CheckResult
from transformer_kit.sandbox import isolation
from transformer_kit.sandbox import process as sandbox

pytestmark = pytest.mark.usefixtures("isolated_environment")

HANG_GUARD = 60.0  # seconds: only a broken watcher takes this long
NOTHING_FOR = 0.6  # seconds to wait for a change that must not be reported (> files.QUIET)
BACKENDS = pytest.mark.parametrize("poll", [False, True], ids=["events", "polling"])
STUB = {e.name: e.stub.read_text(encoding="utf-8") for e in EXERCISES}
# renames its process (PR_SET_NAME), which the test sees from outside: it can write no file
SLOW_IMPORT = (
    "import ctypes, time\nctypes.CDLL(None).prctl(15, b'kit-importing', 0, 0, 0)\ntime.sleep(60)\n"
)


TORCH_SOLUTION = next(v for v in RIGHT if v.name == "torch inside, returning tensors").source(
    solution_source("attention")
)
TORCH_SCALE = "/ q.shape[-1] ** 0.5"


def stop_after(seconds: float) -> threading.Event:
    stop = threading.Event()
    timer = threading.Timer(seconds, stop.set)
    timer.daemon = True
    timer.start()
    return stop


# How editors save ------------------------------------------------------------------------------


def save_in_place(path: Path, text: str) -> None:
    """Truncate and write the file itself (VS Code, nano, `echo > file`)."""
    path.write_text(text, encoding="utf-8")


def save_by_rename(path: Path, text: str) -> None:
    """Write a temporary file, then rename it over the file (atomic saves, JetBrains)."""
    temporary = path.with_name(f".{path.name}.tmp")
    temporary.write_text(text, encoding="utf-8")
    os.replace(temporary, path)


def save_like_vim(path: Path, text: str) -> None:
    """vim with `backupcopy=no`: probe file, swap file, original renamed to a backup, new file
    written, backup deleted."""
    probe = path.with_name("4913")
    probe.write_text("")
    probe.unlink()
    path.with_name(f".{path.name}.swp").write_bytes(b"\0" * 64)
    backup = path.with_name(f"{path.name}~")
    os.rename(path, backup)
    path.write_text(text, encoding="utf-8")
    backup.unlink()


SAVES = pytest.mark.parametrize("save", [save_in_place, save_by_rename, save_like_vim])


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    folder = tmp_path / "exercises"
    folder.mkdir()
    (folder / "attention.py").write_text("# my first try\n")
    return folder


@BACKENDS
@SAVES
def test_every_way_of_saving_is_seen(
    folder: Path, poll: bool, save: Callable[[Path, str], None]
) -> None:
    with FileWatcher(folder, poll) as watcher:
        save(folder / "attention.py", "# my second try, longer\n")
        assert watcher.wait(["attention.py"], stop_after(HANG_GUARD)) == "attention.py"


@BACKENDS
def test_other_files_of_the_folder_are_not_reported(folder: Path, poll: bool) -> None:
    with FileWatcher(folder, poll) as watcher:
        save_in_place(folder / ".attention.py.swp", "swap")
        save_in_place(folder / "attention.py~", "backup")
        save_by_rename(folder / "kv_cache.py", "# another exercise\n")
        assert watcher.wait(["attention.py"], stop_after(NOTHING_FOR)) is None


@BACKENDS
def test_the_file_that_was_saved_is_the_one_reported(folder: Path, poll: bool) -> None:
    files = ["attention.py", "kv_cache.py", "bpe.py"]
    with FileWatcher(folder, poll) as watcher:
        save_in_place(folder / ".kv_cache.py.swp", "swap")
        save_by_rename(folder / "kv_cache.py", "# another exercise\n")
        assert watcher.wait(files, stop_after(HANG_GUARD)) == "kv_cache.py"
        save_like_vim(folder / "attention.py", "# and the first again\n")
        assert watcher.wait(files, stop_after(HANG_GUARD)) == "attention.py"


@BACKENDS
def test_a_save_between_two_waits_counts(folder: Path, poll: bool) -> None:
    """As when the learner saves again while a check runs."""
    with FileWatcher(folder, poll) as watcher:
        save_in_place(folder / "attention.py", "# first\n")
        assert watcher.wait(["attention.py"], stop_after(HANG_GUARD)) == "attention.py"
        save_by_rename(folder / "attention.py", "# saved while checking\n")
        stop_after(NOTHING_FOR).wait()
        assert watcher.wait(["attention.py"], stop_after(HANG_GUARD)) == "attention.py"


@BACKENDS
def test_a_burst_of_saves_is_reported_once(folder: Path, poll: bool) -> None:
    with FileWatcher(folder, poll) as watcher:
        for attempt in range(5):
            save_by_rename(folder / "attention.py", f"# attempt {attempt}\n")
        assert watcher.wait(["attention.py"], stop_after(HANG_GUARD)) == "attention.py"
        assert watcher.wait(["attention.py"], stop_after(NOTHING_FOR)) is None


@BACKENDS
def test_a_deleted_file_is_reported(folder: Path, poll: bool) -> None:
    with FileWatcher(folder, poll) as watcher:
        (folder / "attention.py").unlink()
        assert watcher.wait(["attention.py"], stop_after(HANG_GUARD)) == "attention.py"


@BACKENDS
def test_a_folder_deleted_and_made_again_is_still_watched(folder: Path, poll: bool) -> None:
    files = ["attention.py", "kv_cache.py"]
    with FileWatcher(folder, poll) as watcher:
        (folder / "attention.py").unlink()
        folder.rmdir()
        assert watcher.wait(files, stop_after(HANG_GUARD)) == "attention.py"
        folder.mkdir()
        save_in_place(folder / "attention.py", "# restored\n")
        assert watcher.wait(files, stop_after(HANG_GUARD)) == "attention.py"
        save_by_rename(folder / "kv_cache.py", "# and another one saved\n")
        assert watcher.wait(files, stop_after(HANG_GUARD)) == "kv_cache.py"


@BACKENDS
def test_a_folder_made_after_the_watcher_started_is_watched(tmp_path: Path, poll: bool) -> None:
    folder = tmp_path / "exercises"
    with FileWatcher(folder, poll) as watcher:
        assert watcher.wait(["attention.py"], stop_after(NOTHING_FOR)) is None
        folder.mkdir()
        save_in_place(folder / "attention.py", "# first\n")
        assert watcher.wait(["attention.py"], stop_after(HANG_GUARD)) == "attention.py"
        save_by_rename(folder / "attention.py", "# second\n")
        assert watcher.wait(["attention.py"], stop_after(HANG_GUARD)) == "attention.py"


def test_file_events_are_used_where_they_work_and_polling_can_be_forced(folder: Path) -> None:
    with FileWatcher(folder) as automatic, FileWatcher(folder, poll=True) as forced:
        assert automatic.polling == (remote_filesystem(folder) is not None)
        assert forced.polling and forced.how == "polling every 0.1 s, as asked"


def test_network_file_systems_are_recognised_in_mountinfo(tmp_path: Path) -> None:
    share = tmp_path / "net share"
    local = share / "local disk"
    escaped = str(share).replace(" ", "\\040")
    mountinfo = tmp_path / "mountinfo"
    mountinfo.write_text(
        "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw\n"
        f"60 27 0:50 / {escaped} rw,relatime - nfs4 server:/home rw,vers=4.2\n"
        f"61 60 8:1 / {escaped}/local\\040disk rw - ext4 /dev/sdb1 rw\n"
    )
    assert remote_filesystem(share / "exercises", mountinfo) == "nfs4"
    assert remote_filesystem(local / "exercises", mountinfo) is None
    assert remote_filesystem(tmp_path / "elsewhere", mountinfo) is None
    assert remote_filesystem(share, tmp_path / "no such file") is None


class Finalizer:
    """An object whose finalizer raises: Python reports that through sys.unraisablehook."""

    def __init__(self, error: BaseException) -> None:
        self.error = error

    def __del__(self) -> None:
        raise self.error


def test_ctrl_c_stops_and_a_ctrl_c_python_drops_is_not_printed(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    reported: list[type[BaseException]] = []
    monkeypatch.setattr(sys, "unraisablehook", lambda args: reported.append(args.exc_type))
    before = signal.getsignal(signal.SIGINT)
    stop = threading.Event()
    with ctrl_c_stops(stop):
        with pytest.raises(KeyboardInterrupt):
            signal.raise_signal(signal.SIGINT)
        assert stop.is_set()
        Finalizer(KeyboardInterrupt())  # as when Ctrl-C lands in a fork's callback
        Finalizer(ValueError("a real problem"))
    assert reported == [ValueError]
    assert signal.getsignal(signal.SIGINT) is before


# The loop, as a learner reads it ---------------------------------------------------------------


class Screen(io.TextIOBase):
    """What the watch loop printed, read frame by frame (a frame ends with the status line)."""

    def __init__(self) -> None:
        self.text = ""
        self.read_up_to = 0
        self.changed = threading.Condition()

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        with self.changed:
            self.text += text
            self.changed.notify_all()
        return len(text)

    def next_frame(self) -> str:
        """The next report with its status line, waiting for it to be drawn."""
        return self.until(watch.QUIT)

    def until(self, phrase: str) -> str:
        """Everything not read yet up to the end of the line holding `phrase`."""

        def line_complete() -> bool:
            found = self.text.find(phrase, self.read_up_to)
            return found >= 0 and "\n" in self.text[found:]

        with self.changed:
            drawn = self.changed.wait_for(line_complete, timeout=HANG_GUARD)
            assert drawn, f"nothing with {phrase!r} was drawn; the screen:\n{self.text}"
            end = self.text.index("\n", self.text.index(phrase, self.read_up_to)) + 1
            frame, self.read_up_to = self.text[self.read_up_to : end], end
        return frame


def DRAW(out: Console, result: CheckResult) -> None:  # noqa: N802: kit watch's report
    render.check_report(out, result, render.SAVE_AGAIN)


class Session:
    """watch_loop running in a thread, as `kit watch` runs it."""

    def __init__(self, root: Path, names: list[str], poll: bool = False) -> None:
        self.screen = Screen()
        self.stop = threading.Event()
        self.status: int | None = None
        self.error: BaseException | None = None
        exercises = meta.resolve(names, EXERCISES) if names else list(EXERCISES)
        out = Console(file=self.screen, no_color=True, highlight=False, soft_wrap=True)
        self.thread = threading.Thread(
            target=self._run, args=(root, exercises, not names, poll, out, DRAW), daemon=True
        )
        self.thread.start()

    def _run(self, *arguments: object) -> None:
        try:
            self.status = watch_loop(*arguments, stop=self.stop)  # type: ignore[arg-type]
        except BaseException as error:
            self.error = error

    def ended(self) -> int | None:
        """The loop's exit status once it ended by itself."""
        self.thread.join(HANG_GUARD)
        assert not self.thread.is_alive(), f"the loop did not end; screen:\n{self.screen.text}"
        if self.error is not None:
            raise self.error
        return self.status


@contextlib.contextmanager
def watching(root: Path, *names: str, poll: bool = False) -> Iterator[Screen]:
    session = Session(root, list(names), poll)
    try:
        yield session.screen
    finally:
        session.stop.set()
    assert session.ended() == 0
    assert "Traceback" not in session.screen.text


def mark_passed(root: Path, names: list[str]) -> None:
    progress = load_progress(root)
    for name in names:
        progress.record(name).passed_at = "2026-01-01T00:00:00"
    progress.save()


@BACKENDS
def test_a_named_exercise_is_checked_again_after_every_save(
    make_workspace: Callable[[dict[str, str]], Path], poll: bool
) -> None:
    root = make_workspace({"attention": STUB["attention"]})
    path = root / "exercises" / "attention.py"
    with watching(root, "att", poll=poll) as screen:
        first = screen.next_frame()
        assert "attention failed" in first and "not implemented yet" in first
        assert "watching exercises/attention.py" in first and "save to re-check" in first
        assert ("polling every 0.1 s, as asked" in first) == poll
        save_by_rename(path, solution_source("attention"))
        assert "attention passed" in screen.next_frame()
        assert load_progress(root).record("attention").passed_at is not None
        save_in_place(path, "def softmax(x:\n")
        broken = screen.next_frame()
        assert "attention failed" in broken and "SyntaxError" in broken
        save_like_vim(path, solution_source("attention"))
        again = screen.next_frame()
        assert "attention passed" in again and "watching exercises/attention.py" in again
        path.unlink()
        assert "attention.py does not exist" in screen.next_frame()


def test_following_moves_on_to_the_next_unfinished_exercise(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    root = make_workspace(
        {"warmups": solution_source("warmups"), "momentum_sgd": STUB["momentum_sgd"]}
    )
    with watching(root) as screen:
        passed = screen.next_frame()
        assert "warmups passed" in passed and "checking momentum_sgd next" in passed
        moved = screen.next_frame()
        assert "✓ warmups passed. Now on momentum_sgd" in moved
        assert "momentum_sgd failed" in moved
        assert "watching exercises/momentum_sgd.py (your first unfinished exercise)" in moved
        save_by_rename(root / "exercises" / "momentum_sgd.py", solution_source("momentum_sgd"))
        assert "checking backprop next" in screen.next_frame()
        assert "backprop.py does not exist" in screen.next_frame()


def test_following_checks_the_exercise_that_was_saved(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    root = make_workspace({"warmups": STUB["warmups"], "attention": STUB["attention"]})
    path = root / "exercises" / "attention.py"
    with watching(root) as screen:
        assert "watching exercises/warmups.py (your first unfinished" in screen.next_frame()
        save_in_place(path, "def softmax(x:\n")
        saved = screen.next_frame()
        assert "attention failed" in saved and "SyntaxError" in saved
        assert "watching exercises/attention.py (the exercise you saved" in saved
        save_by_rename(path, solution_source("attention"))
        assert "attention passed; checking warmups next" in screen.next_frame()
        back = screen.next_frame()
        assert "Now on warmups" in back and "warmups failed" in back
        assert "watching exercises/warmups.py (your first unfinished" in back


def test_following_ends_when_every_exercise_has_passed(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    root = make_workspace({"param_count": STUB["param_count"]})
    mark_passed(root, [e.name for e in EXERCISES if e.name != "param_count"])
    session = Session(root, [])
    assert "param_count failed" in session.screen.next_frame()
    save_by_rename(root / "exercises" / "param_count.py", solution_source("param_count"))
    last = session.screen.until("exercises passed")
    assert "param_count passed" in last and f"All {len(EXERCISES)} exercises passed" in last
    assert session.ended() == 0


def test_following_with_everything_passed_checks_nothing(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    root = make_workspace({})
    mark_passed(root, [e.name for e in EXERCISES])
    session = Session(root, [])
    assert session.ended() == 0
    assert "Every exercise has passed" in session.screen.text
    assert "checking" not in session.screen.text


def test_a_damaged_progress_store_is_a_warning_in_the_report(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    root = make_workspace({"param_count": solution_source("param_count")})
    (root / ".kit").mkdir()
    (root / ".kit" / "progress.json").write_text("{not json")
    with watching(root, "param_count") as screen:
        frame = screen.next_frame()
        assert "warning:" in frame and "could not be read" in frame
        assert "param_count passed" in frame


# The worker started ahead ----------------------------------------------------------------------


def workers_for(path: Path) -> dict[int, list[str]]:
    """The worker processes (not their bwrap) started for `path`: pid -> what they preload
    (the arguments after the path and the sandbox uid)."""
    found = {}
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError, ValueError):
            argv = [a.decode() for a in (entry / "cmdline").read_bytes().split(b"\0")[:-1]]
            if str(path) in argv and Path(argv[0]).name != "bwrap":
                found[int(entry.name)] = argv[argv.index(str(path)) + 2 :]
    return found


def worker_ahead(path: Path, other_than: int = 0) -> tuple[int, list[str]]:
    """The worker started for the next check of `path` (waiting for it to start)."""
    stop = stop_after(HANG_GUARD)
    while True:
        found = {pid: preload for pid, preload in workers_for(path).items() if pid != other_than}
        if found:
            return next(iter(found.items()))
        assert not stop.wait(0.01), f"no worker was started ahead for {path}"


def has_torch_loaded(pid: int) -> bool:
    return "libtorch" in Path(f"/proc/{pid}/maps").read_text()


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("import torch\n", True),
        ("import numpy as np, torch.nn.functional as F\n", True),
        ("from torch import nn\n", True),
        ("def f():\n    import torch\n    return torch\n", True),
        ("import numpy as np\nTEXT = 'import torch'\n# import torch\n", False),
        ("import torchvision\nfrom .torch import x\nfrom . import torch\n", False),
        ("import torch\ndef broken(:\n", None),
    ],
)
def test_whether_a_file_imports_torch_is_read_from_its_imports(
    tmp_path: Path, source: str, expected: bool | None
) -> None:
    path = tmp_path / "attention.py"
    path.write_text(source)
    assert imports_torch(path) is expected
    assert imports_torch(tmp_path / "missing.py") is None


def test_the_next_worker_waits_with_torch_imported_when_the_file_uses_it(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    assert TORCH_SCALE in TORCH_SOLUTION
    root = make_workspace({"attention": TORCH_SOLUTION.replace(TORCH_SCALE, "")})
    path = root / "exercises" / "attention.py"
    with watching(root, "attention") as screen:
        assert "attention failed" in screen.next_frame()
        pid, preload = worker_ahead(path)
        assert preload == ["numpy", "torch"]
        stop = stop_after(HANG_GUARD)
        while not has_torch_loaded(pid):  # before the save, while the learner edits
            assert not stop.wait(0.05), "the worker started ahead never imported torch"
        save_by_rename(path, TORCH_SOLUTION)
        assert "attention passed" in screen.next_frame()
        pid, preload = worker_ahead(path, other_than=pid)
        assert preload == ["numpy", "torch"]
        save_by_rename(path, solution_source("attention"))  # numpy only from now on
        assert "attention passed" in screen.next_frame()
        assert worker_ahead(path, other_than=pid)[1] == ["numpy"]


def test_a_worker_started_ahead_gets_its_import_time_from_the_save_on(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    """A learner edits for minutes: the import limit counts from the save, not the start."""
    slow_import = "import time\ntime.sleep(0.5)  # the time limit is looked at while it waits\n"
    root = make_workspace({"attention": solution_source("attention") + slow_import})
    path = root / "exercises" / "attention.py"
    limits = sandbox.Limits(import_seconds=1.0)
    (exercise,) = meta.resolve(["attention"], EXERCISES)
    worker = sandbox.spawn("attention", path, limits, isolation.choose(), ("numpy",))
    try:
        stop_after(sandbox.WALL_FACTOR * limits.import_seconds + 1).wait()  # past the limit
        assert sandbox.release(worker, path)
        result = check(root, [exercise], limits, started={"attention": worker})
    finally:
        sandbox.stop_all()
    assert result.passed, [t.summary for t in result.exercises[0].tests if not t.passed]


def test_a_worker_started_ahead_never_grades_a_folder_that_was_replaced(
    make_workspace: Callable[[dict[str, str]], Path],
) -> None:
    """The worker's sandbox shows the exercises/ folder it was started with: when another folder
    takes its place, the check needs a new worker (else it would grade the old file)."""
    root = make_workspace({"attention": STUB["attention"]})
    folder = root / "exercises"
    replacement = root / "exercises.new"
    replacement.mkdir()
    (replacement / "attention.py").write_text(solution_source("attention"), encoding="utf-8")
    with watching(root, "attention") as screen:
        assert "attention failed" in screen.next_frame()
        worker_ahead(folder / "attention.py")
        folder.rename(root / "exercises.old")
        replacement.rename(folder)
        assert "attention passed" in screen.next_frame()


# In a terminal -----------------------------------------------------------------------------------

# The terminal's side of `kit watch NAME`: make the pty the controlling terminal, so that Ctrl-C
# typed into it interrupts the watcher as it would in a shell.
IN_A_TERMINAL = (
    "import fcntl, sys, termios; from pathlib import Path; "
    "fcntl.ioctl(0, termios.TIOCSCTTY, 0); "
    "from transformer_kit import catalog; from transformer_kit.cli import render; "
    "from transformer_kit.learner.watch import watch_loop; "
    "sys.exit(watch_loop(Path(sys.argv[1]), catalog.resolve([sys.argv[2]], catalog.load()), "
    "follow=False, poll=False, out=render.console(), "
    "draw=lambda out, result: render.check_report(out, result, render.SAVE_AGAIN)))"
)
CTRL_C = b"\x03"
STYLE = re.compile("\x1b\\[[0-9;]*m")  # select graphic rendition: bold, dim


class Terminal:
    """A pseudo-terminal running the watcher; `read_until` returns what it has shown since."""

    def __init__(self, root: Path, name: str) -> None:
        self.master, slave = pty.openpty()
        environment = {**os.environ, "TERM": "xterm-256color", "COLUMNS": "200"}
        self.process = subprocess.Popen(
            [sys.executable, "-c", IN_A_TERMINAL, str(root), name],
            stdin=slave,
            stdout=slave,
            stderr=slave,
            env=environment,
            start_new_session=True,
        )
        os.close(slave)
        self.output = b""

    @property
    def shown(self) -> str:
        """Everything shown so far as text: no carriage returns, no styles (bold, dim)."""
        return STYLE.sub("", self.output.decode("utf-8", "replace").replace("\r", ""))

    def read_until(self, phrase: str) -> str:
        start = len(self.shown)
        while phrase not in self.shown[start:]:
            assert self._read_more(), f"the watcher ended before showing {phrase!r}:\n{self.shown}"
        return self.shown[start:]

    def read_to_the_end(self) -> str:
        start = len(self.shown)
        while self._read_more():
            pass
        return self.shown[start:]

    def _read_more(self) -> bool:
        """Wait for more output; False once the watcher has closed the terminal."""
        ready, _, _ = select.select([self.master], [], [], HANG_GUARD)
        assert ready, f"the terminal showed nothing new for {HANG_GUARD} s:\n{self.shown}"
        try:
            self.output += os.read(self.master, 1 << 16)
        except OSError:  # EIO: no process has the terminal open any more
            return False
        return True

    def close(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait()
        os.close(self.master)


def wait_for_process(name: str) -> None:
    """Until a process named `name` runs (anywhere on this machine)."""
    stop = stop_after(HANG_GUARD)
    while not processes_named(name):
        assert not stop.wait(0.01), f"no process named {name} ever ran"


def leftover_processes(root: Path) -> list[str]:
    """Command lines that mention the workspace: workers that outlived the watcher."""
    found = []
    for entry in Path("/proc").iterdir():
        with contextlib.suppress(OSError):
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if str(root) in command:
                found.append(command)
    return found


@pytest.mark.parametrize("when", ["waiting for a save", "during a check"])
def test_in_a_terminal_a_save_redraws_and_ctrl_c_leaves_cleanly(
    make_workspace: Callable[[dict[str, str]], Path], when: str
) -> None:
    root = make_workspace({"attention": STUB["attention"]})
    path = root / "exercises" / "attention.py"
    terminal = Terminal(root, "attention")
    try:
        first = terminal.read_until(watch.QUIT)
        assert "attention failed" in first and "\x1b[2J" in first  # the screen is cleared
        save_by_rename(path, solution_source("attention"))
        redrawn = terminal.read_until(watch.QUIT)
        assert "\x1b[2J" in redrawn and "attention passed" in redrawn
        if when == "during a check":
            save_by_rename(path, SLOW_IMPORT)
            wait_for_process("kit-importing")  # the worker's import is under way
        else:
            worker_ahead(path)  # which Ctrl-C must stop too
        os.write(terminal.master, CTRL_C)
        assert GOODBYE in terminal.read_to_the_end()
        assert terminal.process.wait(HANG_GUARD) == 0
    finally:
        terminal.close()
    assert "Traceback" not in terminal.shown
    assert leftover_processes(root) == []
