"""The worker's isolation level, and what the worker does itself to enter it.

- full: the worker runs in bubblewrap (bubblewrap.py): a read-only file system that shows only
  what it needs, no network, no capabilities, its own namespaces. Run by root, the worker then
  gives up root itself (`drop_root`) before it loads the learner's module.
- basic (no usable bwrap, or KIT_ISOLATION=basic): Linux namespaces made here (`enter`): the
  learner's code gets its own process-id and mount namespaces, where it is process 1 and sees only
  its own processes, so it cannot name, signal or read the grading process
  (`os.kill(os.getppid(), 9)`, `os.kill(-1, 9)`, /proc/PID/fd/1), and when it ends the kernel
  kills everything it started. Unprivileged users get this through a user namespace; where the
  system allows none, the session, limits and subreaper of sandbox.py still apply. The file
  system and the network are the user's.
Both levels also get the limits, the short environment and the private working folder of
sandbox.py.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import secrets
import signal
import sys
from collections.abc import Sequence

FULL, BASIC = "full", "basic"
LEVELS = (FULL, BASIC)
NOBODY = 65534  # the group root becomes in full isolation
SANDBOX_UIDS = (1_000_000_000, 2**30)  # first uid and how many: the users root becomes there
PR_SET_DUMPABLE = 4

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_REC, MS_PRIVATE = 0x4000, 1 << 18


class IsolationUnavailable(RuntimeError):
    """KIT_ISOLATION asks for a level this system cannot give."""


def level() -> str:
    """The level `kit` grades at: full where bubblewrap works, else basic; KIT_ISOLATION=basic
    or =full chooses (full then fails loudly where bwrap is missing)."""
    from transformer_kit.sandbox import bubblewrap  # the grading process's side only

    wanted = os.environ.get("KIT_ISOLATION", "").strip().lower()
    if wanted and wanted not in LEVELS:
        raise IsolationUnavailable(f"KIT_ISOLATION={wanted!r}: use one of {', '.join(LEVELS)}")
    if wanted == BASIC:
        return BASIC
    if bubblewrap.available():
        return FULL
    if wanted == FULL:
        raise IsolationUnavailable(
            "KIT_ISOLATION=full, but bubblewrap is not installed or cannot run here: "
            "install it (apt-get install bubblewrap, dnf install bubblewrap)"
        )
    return BASIC


def sandbox_uid() -> int:
    """A user id of its own for one worker started by root (no account has it), so limits the
    kernel counts per user (RLIMIT_NPROC) are per worker: one student's fork storm in `kit grade`
    cannot starve a neighbour's worker of processes or threads."""
    first, count = SANDBOX_UIDS
    return first + secrets.randbelow(count)


def drop_root(uid: int) -> None:
    """Full isolation started by root: become `uid` (sandbox_uid), in group nobody, which
    leaves no capability, before any of the learner's code runs. Fails loudly rather than go on
    as root."""
    if os.geteuid() != 0:
        return
    os.setgroups([])
    os.setresgid(NOBODY, NOBODY, NOBODY)
    os.setresuid(uid, uid, uid)
    _dumpable_again()


def _dumpable_again() -> None:
    """Changing the uid makes the kernel mark the process non-dumpable, and a non-dumpable
    process may not write its own /proc/self/clear_refs, which the memory measurement needs
    (student.measure_peak resets the resident high-water mark there). Being dumpable again
    gives the same uid's other processes ptrace access, but inside bubblewrap's own pid namespace
    there are none but the learner's own; core dumps stay off (RLIMIT_CORE is 0), and the
    grading process makes itself non-dumpable (sandbox.harden_grading_process)."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)


def enter(inherited: Sequence[int]) -> bool:
    """Continue as process 1 of new namespaces; True if that worked.

    The calling process stays outside, waits for the inside one and leaves with its status;
    it closes `inherited` first so that only the inside process holds the channel to the kit.
    """
    if not sys.platform.startswith("linux"):
        return False
    libc = ctypes.CDLL(None, use_errno=True)
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWPID | CLONE_NEWNS | (0 if os.geteuid() == 0 else CLONE_NEWUSER)
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
