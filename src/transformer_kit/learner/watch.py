"""`kit watch`: re-check an exercise each time its file is saved, and redraw the report.

Saves are seen by watching the exercises/ FOLDER, not a file, so editors that save through a
swap file or a rename (vim, emacs, VS Code's atomic save) are seen too: with file events from
watchfiles (inotify, FSEvents, Windows' change notifications), else by polling each file's
(st_mtime_ns, st_size, st_ino). Network and VM-shared file systems (NFS, SMB, WSL's 9p,
virtiofs) do not deliver the events of changes made on the other side, so there polling is
chosen automatically (watchfiles itself only detects WSL); `poll=True` forces it.

Polling is the kit's own: watchfiles' `force_polling` (notify's PollWatcher) compares
modification times in whole seconds, so it misses a save made in the same second as the one
before (tests/test_watch.py's polling cases fail with it).

One process keeps pytest, numpy and the graders imported, and as soon as a check ends it starts
the next sandboxed worker, which imports numpy (and torch, when the learner's file imports it)
while the learner edits and loads the file only once it has been saved. A re-check then costs
the learner's module, the calls and a pytest session.
"""

from __future__ import annotations

import ast
import contextlib
import math
import os
import re
import signal
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape
from watchfiles._rust_notify import RustNotify  # watchfiles' documented low-level watcher

from transformer_kit.catalog import Exercise
from transformer_kit.check import DEFAULT_LIMITS, GraderError, check
from transformer_kit.learner.workspace import load_progress, record_results
from transformer_kit.results import CheckResult
from transformer_kit.sandbox import isolation
from transformer_kit.sandbox import process as sandbox

TICK = 0.1  # seconds between polls, and the longest a wait goes without looking at `stop`
SETTLE = 0.05  # a burst of events is over once this long has passed without a new one
DEBOUNCE = 1.6  # ... or once it has lasted this long
QUIET = 0.5  # after the file vanished or the folder came back: the rest of a save may follow
FOLDER = ""  # in a set of changed names: the watched folder itself went, or came back
SOURCE_LIMIT = 1 << 20  # bytes of the learner's file parsed to tell whether it imports torch

# file systems whose changes made elsewhere (a server, the host of a VM) raise no file events
REMOTE_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "drvfs", "vboxsf", "virtiofs", "fakeowner",
    "afs", "ceph", "glusterfs", "lustre", "gpfs", "fuse.sshfs", "fuse.rclone", "fuse.grpcfuse",
    "fuse.glusterfs",
})  # fmt: skip
MOUNTINFO = Path("/proc/self/mountinfo")

Identity = tuple[int, int]  # a folder's device and inode: a folder made again has a new one


class FileWatcher:
    """Reports saves of files of `folder`, however the editor writes them. When the folder
    itself is deleted or replaced, it is watched again once it is back at its path."""

    def __init__(self, folder: Path, poll: bool = False) -> None:
        self.folder = folder.absolute()
        self.polling, self.how = choose_backend(self.folder, poll)
        self.notify: RustNotify | None = None
        self.watched: Identity | None = None
        self.seen = snapshot(self.folder) if self.polling else {}
        if not self.polling:
            self._open()

    def wait(self, names: Sequence[str], stop: threading.Event | None = None) -> str | None:
        """Block until one of the files `names` of the folder was saved and the burst of events
        is over, and return its name (`names[0]` when the folder itself went or came back); None
        once `stop` is set. A save made since the last wait counts."""
        stop = stop if stop is not None else threading.Event()
        saved, ready_at = None, math.inf
        while not stop.is_set():
            now = time.monotonic()
            if now >= ready_at:
                return saved
            timeout = min(TICK, ready_at - now)
            changed = self._poll(timeout, stop) if self.polling else self._events(timeout, stop)
            hit = next((name for name in names if name in changed), None)
            if FOLDER in changed:
                saved, ready_at = names[0], time.monotonic() + QUIET
            elif hit is not None:  # a file that is not there (yet) may be in the middle of a save
                saved, ready_at = hit, time.monotonic() + (0 if self._exists(hit) else QUIET)
        return None

    def _events(self, timeout: float, stop: threading.Event) -> set[str]:
        """The names in the folder that changed, from file events: waits up to `timeout` for
        the first, then for the burst to end; {FOLDER} when the folder itself went or came back."""
        if self.notify is not None and _identity(self.folder) != self.watched:
            self.close()
            return {FOLDER}
        if self.notify is None:
            if self._open():
                return {FOLDER}
            stop.wait(timeout)
            return set()
        debounce, step, wait = (max(1, round(1000 * s)) for s in (DEBOUNCE, SETTLE, timeout))
        changes = self.notify.watch(debounce, step, wait, stop)
        if changes == "signal":  # Ctrl-C: its handler ran already (and set `stop`)
            raise KeyboardInterrupt
        if isinstance(changes, str):  # "timeout" or "stop"
            return set()
        return {Path(path).name for _, path in changes if Path(path).parent == self.folder}

    def _poll(self, timeout: float, stop: threading.Event) -> set[str]:
        """The same by comparing snapshots: after `timeout`, then every SETTLE while they
        differ."""
        changed: set[str] = set()
        pause = timeout
        while not stop.wait(pause):
            now = snapshot(self.folder)
            new = {
                name
                for name in now.keys() | self.seen.keys()
                if now.get(name) != self.seen.get(name)
            }
            self.seen = now
            if not new:
                break
            changed, pause = changed | new, SETTLE
        return changed

    def _exists(self, name: str) -> bool:
        return (self.folder / name).exists()

    def _open(self) -> bool:
        """Watch the folder that is at the path now, for file events; False when there is none
        (or there are no file events here: then it polls)."""
        identity = _identity(self.folder)
        if identity is None:
            return False
        poll_ms = round(1000 * TICK)  # unused: events only (see the module's docstring)
        try:
            self.notify = RustNotify([str(self.folder)], False, False, poll_ms, False, False)
        except FileNotFoundError:  # gone since the look
            return False
        except (OSError, RuntimeError) as error:  # no file events (their limits reached)
            self.polling, self.how = True, f"polling every {TICK:g} s: no file events ({error})"
            self.seen = snapshot(self.folder)
            return False
        self.watched = identity
        return True

    def close(self) -> None:
        if self.notify is not None:
            self.notify.close()
            self.notify = None

    def __enter__(self) -> FileWatcher:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()


def choose_backend(folder: Path, poll: bool) -> tuple[bool, str]:
    """Whether to poll, and the words that say how saves are seen."""
    polling = f"polling every {TICK:g} s"
    if poll:
        return True, f"{polling}, as asked"
    remote = remote_filesystem(folder)
    if remote is not None:
        return True, f"{polling}: exercises/ is on {remote}, which sends no file events"
    return False, "file events"


def snapshot(folder: Path) -> dict[str, object]:
    """What changes when files are saved, by writing in place or by a rename: each file's
    (st_mtime_ns, st_size, st_ino), and under FOLDER the folder's own identity."""
    stamps: dict[str, object] = {FOLDER: _identity(folder)}
    with contextlib.suppress(OSError), os.scandir(folder) as entries:
        for entry in entries:
            with contextlib.suppress(OSError):
                status = entry.stat()
                stamps[entry.name] = (status.st_mtime_ns, status.st_size, status.st_ino)
    return stamps


def _identity(folder: Path) -> Identity | None:
    try:
        status = folder.stat()
    except OSError:
        return None
    return status.st_dev, status.st_ino


def remote_filesystem(folder: Path, mountinfo: Path = MOUNTINFO) -> str | None:
    """The type of the file system holding `folder` when it is a network or VM-shared one."""
    try:
        lines = mountinfo.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return None
    target = folder.resolve()
    deepest, kind = "", ""
    for line in lines:
        head, separator, tail = line.partition(" - ")
        fields = head.split()
        if not separator or len(fields) < 5 or not tail:
            continue
        mount = _unescape(fields[4])
        if target.is_relative_to(mount) and len(mount) >= len(deepest):
            deepest, kind = mount, tail.split()[0]  # a later mount on the same point hides one
    return kind if kind in REMOTE_FILESYSTEMS else None


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (\\040)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match[1], 8)), field)


def imports_torch(path: Path) -> bool | None:
    """Whether the learner's file imports torch anywhere; None when it cannot be told (no file,
    a syntax error). The file is parsed, never run."""
    try:
        with path.open("rb") as stream:
            tree = ast.parse(stream.read(SOURCE_LIMIT))
    except (OSError, SyntaxError, ValueError, RecursionError):
        return None
    return any("torch" in _modules(node) for node in ast.walk(tree))


def _modules(node: ast.AST) -> set[str]:
    """The top-level packages an import statement imports."""
    if isinstance(node, ast.Import):
        return {alias.name.partition(".")[0] for alias in node.names}
    if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
        return {node.module.partition(".")[0]}
    return set()


GOODBYE = "Stopped watching. Your progress is saved; `kit list` shows it."
QUIT = "Ctrl-C to quit"
WATCH_ONE = "`kit watch NAME` watches one exercise anyway."
FIRST_UNFINISHED = " (your first unfinished exercise)"
SAVED_LAST = " (the exercise you saved; saving any exercise checks it)"


Draw = Callable[[Console, CheckResult], None]  # prints one check's report


def watch_loop(
    root: Path,
    exercises: Sequence[Exercise],
    follow: bool,
    poll: bool,
    out: Console,
    draw: Draw,
    stop: threading.Event | None = None,
    folder: Path | None = None,
) -> int:
    """Check, redraw, wait for a save, repeat; returns the exit status (always 0).

    `draw(out, result)` prints one check's report (cli/render.py's, handed in by the command).
    `folder` holds the files watched and graded (default: the workspace's exercises/); a
    folder of its own (an interview attempt's) leaves the progress store alone.

    `follow`: watch the first unfinished of `exercises` and move on when it passes, until all
    have passed, and check any other of them that is saved; else watch `exercises[0]`. Ctrl-C,
    or setting `stop`, ends it with a goodbye. A GraderError (the kit's own graders are broken)
    is raised to the caller.
    """
    stop = stop if stop is not None else threading.Event()
    try:
        with ctrl_c_stops(stop), FileWatcher(folder or root / "exercises", poll) as watcher:
            Watch(root, exercises, follow, (out, draw), watcher, stop, folder).run()
    except KeyboardInterrupt:
        stop.set()
    except GraderError:
        if not stop.is_set():  # else Ctrl-C ended pytest's session as "interrupted"
            raise
    if stop.is_set():
        out.print(f"\n{GOODBYE}")
    return 0


@contextlib.contextmanager
def ctrl_c_stops(stop: threading.Event) -> Iterator[None]:
    """Ctrl-C sets `stop` and raises KeyboardInterrupt as usual. Where Python has to drop that
    exception (it arrived during a fork's callbacks or a finalizer) it is dropped quietly, not
    printed with a traceback, and the loop ends at its next step since `stop` is set. Only the
    main thread receives signals: elsewhere nothing changes."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def interrupt(number: int, frame: object) -> None:
        stop.set()
        raise KeyboardInterrupt

    def drop_interrupts(unraisable: sys.UnraisableHookArgs) -> None:
        if not isinstance(unraisable.exc_value, KeyboardInterrupt):
            previous_hook(unraisable)

    previous_handler = signal.signal(signal.SIGINT, interrupt)
    previous_hook, sys.unraisablehook = sys.unraisablehook, drop_interrupts
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous_handler)
        sys.unraisablehook = previous_hook


class Watch:
    """One `kit watch` session: what is watched, what passed, what to say in the next frame."""

    def __init__(
        self,
        root: Path,
        exercises: Sequence[Exercise],
        follow: bool,
        screen: tuple[Console, Draw],
        watcher: FileWatcher,
        stop: threading.Event,
        folder: Path | None = None,
    ) -> None:
        self.root = root.absolute()
        self.folder = folder.absolute() if folder else None  # None: exercises/, recorded
        self.exercises = exercises
        self.follow = follow
        self.out, self.draw = screen
        self.watcher = watcher
        self.stop = stop
        self.files = {f"{e.name}.py": e for e in exercises}
        self.passed: set[str] = set()  # in this session, whatever the progress store says
        self.notices: list[str] = []  # markup shown above the next report
        self.why = FIRST_UNFINISHED if follow else ""  # why this exercise: for the status line
        self.ahead: tuple[str, sandbox.Worker] | None = None  # the next check's worker
        self.torch: dict[str, bool] = {}  # whether each file imported torch when last parsed

    def run(self) -> None:
        exercise = self._first_unfinished() if self.follow else self.exercises[0]
        if exercise is None:
            self.out.print(f"Every exercise has passed: nothing to follow. {WATCH_ONE}")
        try:
            while exercise is not None and not self.stop.is_set():
                result = self._check(exercise)
                if self.follow and result.passed:
                    exercise = self._move_on(exercise, result)
                    continue
                self._draw(result, self._status(exercise))
                self._start_ahead(exercise)
                saved = self.watcher.wait(self._watched_files(exercise), self.stop)
                if saved is None:
                    return
                if self.files[saved] is not exercise:
                    exercise, self.why = self.files[saved], SAVED_LAST
        finally:
            sandbox.stop_all()  # the worker started ahead

    def _watched_files(self, exercise: Exercise) -> list[str]:
        """The file of `exercise`, and when following, every other exercise's file after it."""
        own = f"{exercise.name}.py"
        return [own, *(name for name in self.files if name != own)] if self.follow else [own]

    def _path(self, exercise: Exercise) -> Path:
        return (self.folder or self.root / "exercises") / f"{exercise.name}.py"

    def _start_ahead(self, exercise: Exercise) -> None:
        """Start the worker of the next check of `exercise` now, while the learner edits: it
        imports numpy, and torch when the file imports it (as last parsed, if it cannot be)."""
        path = self._path(exercise)
        if not path.parent.is_dir():
            return
        torch = imports_torch(path)
        self.torch[exercise.name] = self.torch.get(exercise.name, False) if torch is None else torch
        modules = ("numpy", "torch") if self.torch[exercise.name] else ("numpy",)
        worker = sandbox.spawn(exercise.name, path, DEFAULT_LIMITS, isolation.choose(), modules)
        self.ahead = (exercise.name, worker)

    def _take_ahead(self, exercise: Exercise) -> dict[str, sandbox.Worker]:
        """The worker started ahead, told to load the file as saved now, if it was started for
        `exercise` and still sees that file; else nothing (and it is stopped)."""
        if self.ahead is None:
            return {}
        (name, worker), self.ahead = self.ahead, None
        if name != exercise.name:
            sandbox.stop(worker)
            return {}
        return {name: worker} if sandbox.release(worker, self._path(exercise)) else {}

    def _check(self, exercise: Exercise) -> CheckResult:
        self.out.print(f"[dim]checking {exercise.name} ...[/]")
        result = check(
            self.root, [exercise], folder=self.folder, started=self._take_ahead(exercise)
        )
        recorded = record_results(self.root, result.exercises) if self.folder is None else []
        for warning in recorded:
            self.notices.append(f"[yellow]warning:[/] {escape(warning)}")
        if result.passed:
            self.passed.add(exercise.name)
        return result

    def _first_unfinished(self) -> Exercise | None:
        progress = load_progress(self.root)
        if progress.warning:
            self.notices.append(f"[yellow]warning:[/] {escape(progress.warning)}")
        done = self.passed | progress.passed()
        return next((e for e in self.exercises if e.name not in done), None)

    def _move_on(self, exercise: Exercise, result: CheckResult) -> Exercise | None:
        following = self._first_unfinished()
        if following is None:
            total = len(self.exercises)
            self._draw(result, f"[green]All {total} exercises passed.[/] {WATCH_ONE}")
            return None
        self._draw(result, f"{exercise.name} passed; checking {following.name} next · {QUIT}")
        self.notices.append(
            f"[green]✓ {exercise.name} passed.[/] Now on {following.name}, "
            "the first exercise you have not finished."
        )
        self.why = FIRST_UNFINISHED
        return following

    def _status(self, exercise: Exercise) -> str:
        how = f" [dim]({escape(self.watcher.how)})[/]" if self.watcher.polling else ""
        path = self._path(exercise).relative_to(self.root)
        return (
            f"watching {path}{self.why}{how} — save to re-check, {QUIT}"
            f"  [dim]checked at {time.strftime('%H:%M:%S')}[/]"
        )

    def _draw(self, result: CheckResult, status: str) -> None:
        """One frame, written at once: the screen is cleared (in a terminal), then the notices,
        the report and the status line."""
        with self.out:
            self.out.clear()
            for notice in self.notices:
                self.out.print(notice)
            self.draw(self.out, result)
            self.out.print()
            self.out.print(status)
        self.notices.clear()
