"""`kit watch`: re-check an exercise each time its file is saved, and redraw the report.

Saves are seen by watching the exercises/ FOLDER, not the file, so editors that save through a
swap file or a rename (vim, emacs, VS Code's atomic save) are seen too: with inotify on Linux
(through libc, no dependency), else by polling each file's (st_mtime_ns, st_size, st_ino). Network
and VM-shared file systems (NFS, SMB, WSL's 9p, virtiofs) do not deliver the events of changes
made on the other side, so there polling is chosen automatically; `poll=True` forces it.

One process keeps pytest, numpy and the graders imported, so a re-check costs a worker start and
a pytest session.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import re
import select
import signal
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Protocol

from rich.console import Console
from rich.markup import escape

from transformer_kit import report
from transformer_kit.grading import GraderError, check
from transformer_kit.meta import Exercise
from transformer_kit.results import CheckResult
from transformer_kit.workspace import load_progress, record_results

TICK = 0.1  # seconds between polls, and the longest a wait goes without looking at `stop`
SETTLE = 0.05  # after a finished write: wait this long for more events before checking
QUIET = 0.5  # after a file appeared or vanished: the rest of a rename-save may follow

# inotify(7) event bits
IN_ATTRIB = 0x4
IN_CLOSE_WRITE = 0x8
IN_MOVED_FROM = 0x40
IN_MOVED_TO = 0x80
IN_CREATE = 0x100
IN_DELETE = 0x200
IN_DELETE_SELF = 0x400
IN_MOVE_SELF = 0x800
IN_Q_OVERFLOW = 0x4000
IN_IGNORED = 0x8000
IN_ONLYDIR = 0x1000000
WATCHED = (
    IN_ATTRIB | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_MOVED_TO | IN_CREATE | IN_DELETE
    | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR
)  # fmt: skip
FINISHED = IN_CLOSE_WRITE | IN_MOVED_TO | IN_ATTRIB | IN_Q_OVERFLOW  # a save that is complete
FOLDER_GONE = IN_DELETE_SELF | IN_MOVE_SELF | IN_IGNORED
EVENT = struct.Struct("iIII")  # struct inotify_event: wd, mask, cookie, len; then the name

# file systems whose changes made elsewhere (a server, the host of a VM) raise no inotify events
REMOTE_FILESYSTEMS = frozenset({
    "nfs", "nfs4", "cifs", "smb3", "smbfs", "9p", "drvfs", "vboxsf", "virtiofs", "fakeowner",
    "afs", "ceph", "glusterfs", "lustre", "gpfs", "fuse.sshfs", "fuse.rclone", "fuse.grpcfuse",
    "fuse.glusterfs",
})  # fmt: skip
MOUNTINFO = Path("/proc/self/mountinfo")

Stamp = tuple[int, int, int]


class Backend(Protocol):
    """Where saves are seen: `change` waits up to `timeout` for a change of the followed file
    and returns how long to wait for more before checking, or None when nothing happened."""

    def follow(self, name: str) -> None: ...

    def change(self, timeout: float) -> float | None: ...

    def close(self) -> None: ...


class FileWatcher:
    """Reports saves of one file of `folder`, however the editor writes it."""

    def __init__(self, folder: Path, poll: bool = False) -> None:
        self.backend, self.how = choose_backend(folder, poll)

    @property
    def polling(self) -> bool:
        return isinstance(self.backend, Polling)

    def follow(self, name: str) -> None:
        """From now on, report saves of `folder/name` (a change made after this call counts)."""
        self.backend.follow(name)

    def wait(self, stop: threading.Event | None = None) -> bool:
        """Block until the followed file was saved and the burst of events is over (True), or
        until `stop` is set (False)."""
        ready_at: float | None = None
        while stop is None or not stop.is_set():
            now = time.monotonic()
            if ready_at is not None and now >= ready_at:
                return True
            delay = self.backend.change(TICK if ready_at is None else min(TICK, ready_at - now))
            if delay is not None:
                ready_at = time.monotonic() + delay
        return False

    def close(self) -> None:
        self.backend.close()

    def __enter__(self) -> FileWatcher:
        return self

    def __exit__(self, *exception: object) -> None:
        self.close()


def choose_backend(folder: Path, poll: bool) -> tuple[Backend, str]:
    """inotify where it works, else polling; the text says which and why."""
    polling = f"polling every {TICK:g} s"
    if poll:
        return Polling(folder), f"{polling}, as asked"
    remote = remote_filesystem(folder)
    if remote is not None:
        return Polling(folder), f"{polling}: exercises/ is on {remote}, which sends no file events"
    try:
        return Inotify(folder), "inotify"
    except OSError as error:
        return Polling(folder), f"{polling}: no file events here ({error})"


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


def stamp(path: Path) -> Stamp | None:
    """What changes when a file is saved, by writing in place or by a rename; None if absent."""
    try:
        status = path.stat()
    except OSError:
        return None
    return status.st_mtime_ns, status.st_size, status.st_ino


class Polling:
    """Compares the followed file's stamp with the last one seen, every `timeout` seconds."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.name = ""
        self.seen: Stamp | None = None

    def follow(self, name: str) -> None:
        self.name = name
        self.seen = stamp(self.folder / name)

    def change(self, timeout: float) -> float | None:
        time.sleep(timeout)
        now = stamp(self.folder / self.name)
        if now == self.seen:
            return None
        self.seen = now
        return SETTLE

    def close(self) -> None:
        """Nothing to release."""


class Inotify:
    """inotify on the folder; events about other files (swap files, backups) are ignored. When
    the folder itself is deleted or moved, it is watched again once it is back at its path."""

    def __init__(self, folder: Path) -> None:
        if not sys.platform.startswith("linux"):
            raise OSError("inotify needs Linux")
        self.folder = folder
        self.name = ""
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.fd = self._call(self.libc.inotify_init1, os.O_NONBLOCK | os.O_CLOEXEC)
        try:
            self.wd: int | None = self._add_watch()
        except OSError:
            os.close(self.fd)
            raise

    def _call(self, function: Callable[..., int], *args: object) -> int:
        value = function(*args)
        if value < 0:
            number = ctypes.get_errno()
            raise OSError(number, os.strerror(number))
        return value

    def _add_watch(self) -> int:
        return self._call(self.libc.inotify_add_watch, self.fd, os.fsencode(self.folder), WATCHED)

    def follow(self, name: str) -> None:
        self.name = name

    def change(self, timeout: float) -> float | None:
        if self.wd is None:
            return self._watch_again(timeout)
        ready, _, _ = select.select([self.fd], [], [], timeout)
        if not ready:
            return None
        delay = None
        for wd, mask, name in self._events():
            if mask & IN_Q_OVERFLOW:
                delay = SETTLE  # events were lost: check, to be sure
            elif wd != self.wd:
                continue  # a watch given up earlier
            elif mask & FOLDER_GONE:
                self._forget_watch(mask)
                delay = QUIET
            elif name == self.name:
                delay = SETTLE if mask & FINISHED else QUIET
        return delay

    def _events(self) -> Iterator[tuple[int, int, str]]:
        try:
            data = os.read(self.fd, 1 << 16)
        except BlockingIOError:
            return
        offset = 0
        while offset + EVENT.size <= len(data):
            wd, mask, _, length = EVENT.unpack_from(data, offset)
            start = offset + EVENT.size
            yield wd, mask, os.fsdecode(data[start : start + length].rstrip(b"\0"))
            offset = start + length

    def _forget_watch(self, mask: int) -> None:
        if mask & IN_MOVE_SELF and self.wd is not None:  # the watch would follow the folder away
            self.libc.inotify_rm_watch(self.fd, self.wd)
        self.wd = None

    def _watch_again(self, timeout: float) -> float | None:
        try:
            self.wd = self._add_watch()
        except OSError:
            time.sleep(timeout)
            return None
        return QUIET  # the folder is back, maybe with the file in it

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self.fd)


GOODBYE = "Stopped watching. Your progress is saved; `kit list` shows it."
QUIT = "Ctrl-C to quit"
WATCH_ONE = "`kit watch NAME` watches one exercise anyway."


def watch_loop(
    root: Path,
    exercises: Sequence[Exercise],
    follow: bool,
    poll: bool,
    out: Console,
    stop: threading.Event | None = None,
    folder: Path | None = None,
) -> int:
    """Check, redraw, wait for a save, repeat; returns the exit status (always 0).

    `folder` holds the files watched and graded (default: the workspace's exercises/); a
    folder of its own (an interview attempt's) leaves the progress store alone.

    `follow`: watch the first unfinished of `exercises` and move on when it passes, until all
    have passed; else watch `exercises[0]`. Ctrl-C, or setting `stop`, ends it with a goodbye.
    A GraderError (the kit's own graders are broken) is raised to the caller.
    """
    stop = stop if stop is not None else threading.Event()
    try:
        with ctrl_c_stops(stop), FileWatcher(folder or root / "exercises", poll) as watcher:
            Watch(root, exercises, follow, out, watcher, stop, folder).run()
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
        out: Console,
        watcher: FileWatcher,
        stop: threading.Event,
        folder: Path | None = None,
    ) -> None:
        self.root = root
        self.folder = folder  # None: the workspace's exercises/, whose scores are recorded
        self.exercises = exercises
        self.follow = follow
        self.out = out
        self.watcher = watcher
        self.stop = stop
        self.passed: set[str] = set()  # in this session, whatever the progress store says
        self.notices: list[str] = []  # markup shown above the next report

    def run(self) -> None:
        exercise = self._first_unfinished() if self.follow else self.exercises[0]
        if exercise is None:
            self.out.print(f"Every exercise has passed: nothing to follow. {WATCH_ONE}")
        while exercise is not None and not self.stop.is_set():
            self.watcher.follow(f"{exercise.name}.py")
            result = self._check(exercise)
            if self.follow and result.passed:
                exercise = self._move_on(exercise, result)
                continue
            self._draw(result, self._status(exercise))
            if not self.watcher.wait(self.stop):
                return

    def _check(self, exercise: Exercise) -> CheckResult:
        self.out.print(f"[dim]checking {exercise.name} ...[/]")
        result = check(self.root, [exercise], folder=self.folder)
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
        return following

    def _status(self, exercise: Exercise) -> str:
        which = " (your first unfinished exercise)" if self.follow else ""
        how = f" [dim]({escape(self.watcher.how)})[/]" if self.watcher.polling else ""
        folder = self.folder or self.root / "exercises"
        path = (folder / f"{exercise.name}.py").relative_to(self.root)
        return (
            f"watching {path}{which}{how} — save to re-check, {QUIT}"
            f"  [dim]checked at {time.strftime('%H:%M:%S')}[/]"
        )

    def _draw(self, result: CheckResult, status: str) -> None:
        """One frame, written at once: the screen is cleared (in a terminal), then the notices,
        the report and the status line."""
        with self.out:
            self.out.clear()
            for notice in self.notices:
                self.out.print(notice)
            report.check_report(self.out, result, report.SAVE_AGAIN)
            self.out.print()
            self.out.print(status)
        self.notices.clear()
