"""Linux namespaces for the worker: the learner's code gets its own process-id and mount
namespaces, where it is process 1 and sees only its own processes.

So it cannot name, signal or read the grading process (`os.kill(os.getppid(), 9)`,
`os.kill(-1, 9)`, /proc/PID/fd/1), and when it ends the kernel kills everything it started.
Unprivileged users get this through a user namespace; where the system allows none (some
containers), the worker runs without it and the session, limits and subreaper still apply.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import sys
from collections.abc import Sequence

CLONE_NEWNS = 0x00020000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC = 2, 4, 8
MS_REC, MS_PRIVATE = 0x4000, 1 << 18


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
        number = os.WTERMSIG(status)
        signal.signal(number, signal.SIG_DFL)
        os.kill(os.getpid(), number)
    os._exit(os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 1)
