"""The C library's Linux calls the sandbox makes (prctl and the like), and their constants, in
one place: prctl(2), PR_* from <linux/prctl.h>."""

from __future__ import annotations

import ctypes
import functools
import signal
from typing import Any

PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_SECCOMP = 22
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38


@functools.cache
def libc() -> ctypes.CDLL:
    """This process's C library (errno kept for `ctypes.get_errno`), loaded once."""
    return ctypes.CDLL(None, use_errno=True)


def prctl(option: int, *arguments: Any) -> int:
    """prctl(2) with `arguments` (the rest 0): 0 when it worked, -1 and errno set when not."""
    padded = [*arguments, *[0] * (4 - len(arguments))]
    return int(libc().prctl(option, *padded))


def die_with_parent() -> None:
    """SIGKILL when the parent process ends (a worker's with the kit, as bwrap's do)."""
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
