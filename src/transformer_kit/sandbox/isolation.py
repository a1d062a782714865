"""The worker's isolation level as an object: one class per level, chosen in one place (`choose`).

A level knows how the grading process starts a worker in it (`launch`: the command prefix, the
working folder), what the worker does itself to enter it (`enter`), its name (for `--json`, the
reports and the worker's command line: `named` finds the class again) and whether a class may be
graded at it. A new backend is one new subclass, listed in LEVELS.

- `Full`: the worker runs in bubblewrap (bubblewrap.py): a read-only file system that shows only
  what it needs, no network, no capabilities, its own namespaces. Run by root, the worker then
  gives up root itself (`drop_root`) before it loads the learner's module.
- `Basic` (no usable bwrap, or KIT_ISOLATION=basic): Linux namespaces made here (`enter`): the
  learner's code gets its own process-id, mount and IPC namespaces, where it is process 1 and sees
  only its own processes, so it cannot name, signal or read the grading process
  (`os.kill(os.getppid(), 9)`, `os.kill(-1, 9)`, /proc/PID/fd/1), and when it ends the kernel
  kills everything it started and destroys its System V shared memory. Unprivileged users get this
  through a user namespace; where the system allows none, the session, limits and subreaper of
  process.py still apply. The file system and the network are the user's.
Both levels also get the limits, the cgroup (cgroup.py), the system-call filter (seccomp.py), a
fresh session keyring, the short environment and the private working folder of process.py.
"""

from __future__ import annotations

import contextlib
import os
import resource
import secrets
import signal
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

from transformer_kit.sandbox import linux

NOBODY = 65534  # the group root becomes in full isolation
SANDBOX_UIDS = (1_000_000_000, 2**30)  # first uid and how many: the users root becomes there
INITIAL_UID_MAP = ["0", "0", "4294967295"]  # /proc/self/uid_map outside any user namespace

CLONE_NEWNS = 0x00020000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_REC, MS_PRIVATE = 0x4000, 1 << 18


class IsolationUnavailable(RuntimeError):
    """KIT_ISOLATION asks for a level this system cannot give."""


@dataclass(frozen=True)
class Launch:
    """How the grading process starts a worker at a level: the command before the worker's own
    (`prefix`), its working folder (`home`) and a folder to remove after it (`scratch`)."""

    prefix: list[str]
    home: str
    scratch: Path | None = None


@dataclass(frozen=True)
class Level:
    """An isolation level (no state: two instances of a class are the same level)."""

    name: ClassVar[str]
    grades_classes: ClassVar[bool]  # whether workers are kept apart (no files shared), so that
    # `kit grade` may run at it unasked
    layers: ClassVar[int]  # processes between the one spawned and the worker's Python
    missing: ClassVar[str]  # what to install where the level is not offered
    caveat: ClassVar[str]  # what a report says of a grading at this level ("": nothing)

    def __str__(self) -> str:
        return self.name

    @classmethod
    def offered(cls) -> bool:
        """Whether this machine can run workers at this level."""
        raise NotImplementedError

    def launch(
        self, name: str, visible: Sequence[Path], scratch_bytes: int, filter_fd: int
    ) -> Launch:
        """The grading process's side: how to start worker `name`, which sees `visible` (the
        learner's exercises folder and a linked file's target) and runs under the system-call
        filter in `filter_fd` (seccomp.py)."""
        raise NotImplementedError

    def enter(self, inherited: Sequence[int], uid: int, filter_fd: int) -> None:
        """The worker's side, before anything of the learner's: `inherited` are its channel's
        ends, `uid` a user id of its own (`sandbox_uid`), `filter_fd` the filter's program."""
        raise NotImplementedError

    def exit_code(self, status: int) -> int:
        """The worker's own exit code from its process's `status` (negative: a signal)."""
        return status


@dataclass(frozen=True)
class Full(Level):
    name = "full"
    grades_classes = True
    layers = 2  # bwrap, its child (process 1 of the namespace), then Python
    missing = "bubblewrap (apt-get install -y bubblewrap, dnf install bubblewrap)"
    caveat = ""

    @classmethod
    def offered(cls) -> bool:
        from transformer_kit.sandbox import bubblewrap  # the grading process's side only

        return bubblewrap.available()

    def launch(
        self, name: str, visible: Sequence[Path], scratch_bytes: int, filter_fd: int
    ) -> Launch:
        from transformer_kit.sandbox import bubblewrap

        bwrap = bubblewrap.executable()
        if bwrap is None:
            raise IsolationUnavailable("bubblewrap (bwrap) is no longer on PATH")
        prefix = bubblewrap.command(bwrap, visible, scratch_bytes)
        return Launch([*prefix, "--seccomp", str(filter_fd)], bubblewrap.SCRATCH)

    def enter(self, inherited: Sequence[int], uid: int, filter_fd: int) -> None:
        drop_root(uid)  # bwrap loaded the filter (and closed its descriptor) before

    def exit_code(self, status: int) -> int:
        return 128 - status if status > 128 else status  # bwrap exits 128 + N for signal N


@dataclass(frozen=True)
class Basic(Level):
    name = "basic"
    grades_classes = False
    layers = 0
    missing = "nothing (Linux namespaces where the system allows them)"
    caveat = (
        "isolation: basic — install bubblewrap for full isolation (see the README's "
        "'How grading stays honest')"
    )

    @classmethod
    def offered(cls) -> bool:
        return True

    def launch(
        self, name: str, visible: Sequence[Path], scratch_bytes: int, filter_fd: int
    ) -> Launch:
        scratch = Path(tempfile.mkdtemp(prefix=f"kit-{name}-"))
        return Launch([], str(scratch), scratch)

    def enter(self, inherited: Sequence[int], uid: int, filter_fd: int) -> None:
        from transformer_kit.sandbox import seccomp

        enter(inherited)
        seccomp.install(filter_fd)


LEVELS: dict[str, type[Level]] = {level.name: level for level in (Full, Basic)}  # best first


def named(name: str) -> Level:
    """The level called `name` (the worker's side: the grading process passed its name)."""
    try:
        return LEVELS[name]()
    except KeyError:
        raise IsolationUnavailable(
            f"no isolation level {name!r}: use one of {', '.join(LEVELS)}"
        ) from None


def choose() -> Level:
    """The level `kit` grades at: the best this machine offers; KIT_ISOLATION=NAME chooses one
    (which then fails loudly where the machine does not offer it)."""
    from transformer_kit.sandbox import seccomp  # the grading process's side only

    try:
        seccomp.program()  # every level needs the system-call filter
    except (ImportError, OSError, RuntimeError) as error:
        raise IsolationUnavailable(
            f"the worker's system-call filter cannot be built here ({error}): install libseccomp "
            "(apt-get install libseccomp2, dnf install libseccomp) and pyseccomp"
        ) from None
    wanted = os.environ.get("KIT_ISOLATION", "").strip().lower()
    if not wanted:
        return next(level() for level in LEVELS.values() if level.offered())
    level = named(wanted)
    if not level.offered():
        raise IsolationUnavailable(
            f"KIT_ISOLATION={wanted}, but it cannot run here: install {level.missing}"
        )
    return level


def offered() -> list[str]:
    """The names of the levels this machine offers (what a Dask worker reports)."""
    return [name for name, level in LEVELS.items() if level.offered()]


def sandbox_uid() -> int:
    """A user id of its own for one worker started by root (no account has it), so limits the
    kernel counts per user (RLIMIT_NPROC) are per worker: one student's fork storm in `kit grade`
    cannot starve a neighbour's worker of processes or threads."""
    first, count = SANDBOX_UIDS
    return first + secrets.randbelow(count)


def limit_processes(count: int) -> None:
    """RLIMIT_NPROC for a worker in a user namespace of its own (an ordinary user's, at either
    level): the kernel counts a user's processes per namespace, so the limit bounds this worker's
    tree alone, not the user's other processes. Root's full worker has it from process.py under
    a uid of its own; root's basic worker is exempt, and its control group's pids.max bounds it."""
    if _own_user_namespace():
        resource.setrlimit(resource.RLIMIT_NPROC, (count, count))


def _own_user_namespace() -> bool:
    try:
        with open("/proc/self/uid_map", encoding="ascii") as stream:
            return stream.read().split() != INITIAL_UID_MAP
    except OSError:
        return False


def drop_root(uid: int) -> None:
    """Full isolation started by root: become `uid` (sandbox_uid), in group nobody, which
    leaves no capability, before any of the learner's code runs. Fails loudly rather than go on
    as root."""
    if os.geteuid() != 0:
        return
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(uid, uid, uid)  # which leaves it non-dumpable: its /proc is root's to write


def enter(inherited: Sequence[int]) -> bool:
    """Continue as process 1 of new namespaces; True if that worked.

    The calling process stays outside, waits for the inside one and leaves with its status;
    it closes `inherited` first so that only the inside process holds the channel to the kit.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = linux.libc()
    linux.die_with_parent()  # with the kit, as bwrap's does
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC
    flags |= 0 if os.geteuid() == 0 else CLONE_NEWUSER
    if libc.unshare(flags) != 0:
        return False
    if flags & CLONE_NEWUSER:
        _map_ids(uid, gid)
    child = os.fork()
    if child:
        for fd in inherited:
            with contextlib.suppress(OSError):
                os.close(fd)
        _leave_like(child)
    linux.die_with_parent()  # and with the process outside,
    os.setpgid(0, 0)  # which `os.kill(0, ...)` (a process group) from inside cannot reach
    libc.mount(b"none", b"/", None, MS_REC | MS_PRIVATE, None)
    libc.mount(b"proc", b"/proc", b"proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, None)
    return True


def _map_ids(uid: int, gid: int) -> None:
    """Be the same user inside the new user namespace."""
    for name, text in (("setgroups", "deny"), ("uid_map", f"{uid} {uid} 1"),
                       ("gid_map", f"{gid} {gid} 1")):  # fmt: skip
        with contextlib.suppress(OSError), open(f"/proc/self/{name}", "w") as stream:
            stream.write(text)


def _leave_like(child: int) -> None:
    """Wait for `child` and end this process the same way (exit code or signal)."""
    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, signal.SIG_IGN)
    _, status = os.waitpid(child, 0)
    if os.WIFSIGNALED(status):
        ending = os.WTERMSIG(status)
        signal.signal(ending, signal.SIG_DFL)
        os.kill(os.getpid(), ending)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)
