"""What changed in the watched folder, for `kit watch` (watch.py); what a learner's file imports.

Saves are seen by watching the exercises/ FOLDER, not a file, so editors that save through a
swap file or a rename (vim, emacs, VS Code's atomic save) are seen too: with file events from
watchfiles (inotify, FSEvents, Windows' change notifications), else by polling each file's
(st_mtime_ns, st_size, st_ino). Network and VM-shared file systems (NFS, SMB, WSL's 9p,
virtiofs) do not deliver the events of changes made on the other side, so there polling is
chosen automatically (watchfiles itself only detects WSL); `poll=True` forces it.

Polling is the kit's own: watchfiles' `force_polling` (notify's PollWatcher) compares
modification times in whole seconds, so it misses a save made in the same second as the one
before (tests/learner/test_watch.py's polling cases fail with it).
"""

from __future__ import annotations

import ast
import contextlib
import math
import os
import re
import threading
import time
from collections.abc import Sequence
from pathlib import Path

from watchfiles._rust_notify import RustNotify  # watchfiles' documented low-level watcher

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
