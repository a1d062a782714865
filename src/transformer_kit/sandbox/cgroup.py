"""One control group per worker: the kernel enforces its memory and process limits.

The kernel counts what no process shows and the watchdog cannot see: System V shared memory
(charged to the group whose process touched it), the page cache and kernel memory of the
worker's whole tree, and every process and thread it starts. `create` makes the group before the
worker starts (the child joins it between fork and exec, through `join`, so none of its code
runs outside), `remove` kills whatever is left in it and deletes it.

Where: cgroup v2 (one hierarchy; the kit's own group must delegate the memory and pids
controllers to its children) or v1 (a memory and a pids hierarchy, as this kind of machine mounts
them), below the kit's own group in each. Only root may make groups there; for anyone else (and
where neither is mounted) `create` gives None and the watchdog of process.py bounds the worker
alone: `enforcer()` names which it is, for `--json` and the report.
References: the kernel's Documentation/admin-guide/cgroup-v2.rst and cgroup-v1/memory.rst.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path

from transformer_kit.grader.failures import MeasurementUnavailable

MOUNTS = Path("/proc/mounts")
OWN = Path("/proc/self/cgroup")
V1_CONTROLLERS = ("memory", "pids")
V2_CONTROLLERS = {"memory", "pids"}
CGROUP, WATCHDOG = "cgroup", "watchdog"  # the limits' enforcers, as `--json` names them
PREFIX = "kit-"  # a worker's group: kit-PID-RANDOM, PID the grading process's
REMOVE_TRIES = 200  # looks at a group being emptied before giving up on removing it


@dataclass(frozen=True)
class Cgroup:
    """One worker's group: `folders` holds one folder per hierarchy it is in (v1: memory and
    pids; v2: one), `memory` the one with the memory files."""

    folders: tuple[Path, ...]
    memory: Path
    v2: bool
    # v2: memory.peak as opened for its last reset: the kernel resets the peak only for reads
    # through that same descriptor (cgroup-v2.rst), so later reads use it
    peak_file: list[int] = field(default_factory=list, compare=False)

    def join(self) -> list[int]:
        """Descriptors (opened before a fork, close-on-exec) that the child writes "0" to,
        which moves it into the group: see `enter`."""
        return [
            os.open(folder / "cgroup.procs", os.O_WRONLY | os.O_CLOEXEC) for folder in self.folders
        ]

    def memory_peak_bytes(self) -> int:
        """The most memory the group's processes held together since it was made or since
        `reset_memory_peak` (shared memory and page cache included), as the kernel counts it."""
        if self.peak_file:
            return int(os.pread(self.peak_file[0], 64, 0).split()[0])
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        return int((self.memory / name).read_text().split()[0])

    def reset_memory_peak(self) -> None:
        """Start the peak again from the group's current use (v2: needs Linux 6.12 or later,
        else MeasurementUnavailable)."""
        name = "memory.peak" if self.v2 else "memory.max_usage_in_bytes"
        try:
            if self.v2:
                self._close_peak_file()
                self.peak_file.append(os.open(self.memory / name, os.O_RDWR | os.O_CLOEXEC))
                os.write(self.peak_file[0], b"reset")
            else:
                (self.memory / name).write_text("0")
        except OSError as error:
            self._close_peak_file()
            raise MeasurementUnavailable(
                f"the worker's cgroup peak cannot be reset ({name}: {error.strerror or error})"
            ) from None

    def oom_killed(self) -> bool:
        """Whether the kernel killed a process of the group for going over its memory limit."""
        name = "memory.events" if self.v2 else "memory.oom_control"
        with contextlib.suppress(OSError, ValueError):
            for line in (self.memory / name).read_text().splitlines():
                key, _, value = line.partition(" ")
                if key == "oom_kill" and int(value) > 0:
                    return True
        return False

    def _close_peak_file(self) -> None:
        while self.peak_file:
            with contextlib.suppress(OSError):
                os.close(self.peak_file.pop())

    def remove(self) -> None:
        """Kill every process in the group, then delete it (from every hierarchy)."""
        self._close_peak_file()
        for folder in self.folders:
            kill = folder / "cgroup.kill"
            if kill.exists():
                with contextlib.suppress(OSError):
                    kill.write_text("1")
        for _ in range(REMOVE_TRIES):
            left = set(self._members())
            for pid in left:
                with contextlib.suppress(OSError):
                    os.kill(pid, signal.SIGKILL)
            for folder in self.folders:
                with contextlib.suppress(FileNotFoundError, OSError):
                    folder.rmdir()
            if not any(folder.exists() for folder in self.folders):
                return
            time.sleep(0.005)

    def _members(self) -> Iterator[int]:
        for folder in self.folders:
            with contextlib.suppress(OSError, ValueError):
                yield from map(int, (folder / "cgroup.procs").read_text().split())


def enter(descriptors: list[int]) -> None:
    """Between fork and exec: move this process into the group (`Cgroup.join`'s descriptors)."""
    for fd in descriptors:
        os.write(fd, b"0")


def create(memory_bytes: int, processes: int) -> Cgroup | None:
    """A new group limiting its processes together to `memory_bytes` (swap off) and
    `processes` processes and threads; None where the kit cannot make one (see the module)."""
    place = _place()
    if place is None:
        return None
    v2, parents = place
    name = f"{PREFIX}{os.getpid()}-{secrets.token_hex(4)}"
    folders = tuple(parent / name for parent in parents)
    for folder in folders:
        folder.mkdir()
    memory = folders[0]
    group = Cgroup(folders, memory, v2)
    try:
        if v2:
            _write(memory / "memory.max", memory_bytes)
            _write(memory / "memory.swap.max", 0, optional=True)
            _write(memory / "pids.max", processes)
        else:
            _write(memory / "memory.limit_in_bytes", memory_bytes)
            _write(memory / "memory.memsw.limit_in_bytes", memory_bytes, optional=True)
            _write(folders[1] / "pids.max", processes)
    except OSError:
        group.remove()
        raise
    return group


def enforcer() -> str:
    """What enforces the workers' memory and process limits here: "cgroup" or "watchdog"."""
    return CGROUP if _place() is not None else WATCHDOG


def _sweep(parent: Path) -> None:
    """Remove the empty groups of grading processes that are gone (one killed with SIGKILL had
    no time to remove its own); a group still holding processes stays."""
    for folder in parent.glob(f"{PREFIX}*-*"):
        pid = folder.name[len(PREFIX) :].split("-")[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            with contextlib.suppress(OSError):
                folder.rmdir()


def _write(path: Path, value: int, optional: bool = False) -> None:
    if optional and not path.exists():
        return
    path.write_text(str(value))


@cache
def _place() -> tuple[bool, tuple[Path, ...]] | None:
    """Whether the groups are v2, and the folders (the kit's own groups) they are made in:
    memory first (v1: then pids). None where the kit cannot make groups."""
    if os.geteuid() != 0:
        return None
    try:
        mounts = [line.split() for line in MOUNTS.read_text().splitlines()]
        own = dict(_own_groups(OWN.read_text()))
    except OSError:
        return None
    v1 = {}
    for _, point, kind, options, *_ in mounts:
        for controller in set(options.split(",")) & set(V1_CONTROLLERS):
            if kind == "cgroup" and controller in own:
                v1[controller] = Path(point) / own[controller].lstrip("/")
    if len(v1) == len(V1_CONTROLLERS) and all(_writable(p) for p in v1.values()):
        return _swept(False, tuple(v1[c] for c in V1_CONTROLLERS))
    for _, point, kind, *_ in mounts:
        if kind == "cgroup2" and "" in own:
            folder = Path(point) / own[""].lstrip("/")
            if _delegates(folder):
                return _swept(True, (folder,))
    return None


def _swept(v2: bool, parents: tuple[Path, ...]) -> tuple[bool, tuple[Path, ...]]:
    """The place, its stale groups removed (once per grading process, as `_place` is cached)."""
    for parent in parents:
        _sweep(parent)
    return v2, parents


def _own_groups(text: str) -> Iterator[tuple[str, str]]:
    """controller -> this process's group in its hierarchy ("" for v2), from /proc/self/cgroup."""
    for line in text.splitlines():
        _, controllers, path = line.split(":", 2)
        for controller in controllers.split(","):
            yield controller, path


def _writable(folder: Path) -> bool:
    return os.access(folder, os.W_OK)


def _delegates(folder: Path) -> bool:
    """Whether a v2 group hands the memory and pids controllers to groups made inside it."""
    try:
        given = set((folder / "cgroup.subtree_control").read_text().split())
    except OSError:
        return False
    return given >= V2_CONTROLLERS and _writable(folder)
