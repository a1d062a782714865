"""The worker's system-call filter: what the learner's code may not ask the kernel for.

Built with libseccomp (through `pyseccomp`) once per grading process, as a BPF program in a
memory file (`descriptor`): bubblewrap loads it with `--seccomp FD` (full isolation), the worker
loads it itself before the learner's module at the basic level (`install`, no libseccomp needed).
Everything else is allowed; a denied call fails with EPERM:
- the kernel keyrings (add_key, request_key, keyctl): keys outlive the worker and are shared with
  the user's session and, under `kit grade`, with the next student's worker;
- new namespaces (unshare, setns, clone with a namespace flag): root inside a user namespace;
  clone3 (whose flags a filter cannot read) fails with ENOSYS, so the C library falls back to
  clone, which threads need and the filter can read;
- fallocate: it reserves disk past the output file's size limit (RLIMIT_FSIZE sees no write);
- the kernel's debugging, tracing and module interfaces (bpf, perf_event_open, ptrace,
  process_vm_readv/writev, userfaultfd, io_uring, kexec, modules), mounting, and the clock.
References: seccomp(2), bwrap(1) `--seccomp`, libseccomp's seccomp_export_bpf(3).
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
from functools import cache

from transformer_kit.sandbox import linux

# CLONE_NEWTIME, NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET
NAMESPACE_FLAGS = (
    0x80,
    0x20000,
    0x2000000,
    0x4000000,
    0x8000000,
    0x10000000,
    0x20000000,
    0x40000000,
)
DENIED = (
    "add_key", "request_key", "keyctl",
    "unshare", "setns",
    "fallocate",
    "bpf", "perf_event_open", "ptrace", "process_vm_readv", "process_vm_writev",
    "userfaultfd", "io_uring_setup", "io_uring_enter", "io_uring_register",
    "mount", "umount2", "pivot_root", "chroot", "move_mount", "open_tree", "fsopen",
    "fsconfig", "fsmount", "fspick", "mount_setattr",
    "kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
    "swapon", "swapoff", "reboot", "acct", "quotactl", "syslog", "vhangup",
    "open_by_handle_at", "name_to_handle_at", "pidfd_getfd", "lookup_dcookie",
    "settimeofday", "clock_settime", "clock_adjtime", "adjtimex",
    "sethostname", "setdomainname", "iopl", "ioperm", "uselib",
)  # fmt: skip
SECCOMP_MODE_FILTER = 2
KEYCTL_JOIN_SESSION_KEYRING = 1
INSTRUCTION_BYTES = 8  # one struct sock_filter


class SockFilterProgram(ctypes.Structure):
    _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]


@cache
def program() -> bytes:
    """The filter as a BPF program for this machine's architecture (built once per process)."""
    import tempfile

    import pyseccomp as seccomp

    rules = seccomp.SyscallFilter(seccomp.ALLOW)
    denied = seccomp.ERRNO(errno.EPERM)
    for name in DENIED:
        _add(rules, denied, name)
    _add(rules, seccomp.ERRNO(errno.ENOSYS), "clone3")
    for flag in NAMESPACE_FLAGS:  # clone's flags: its first argument on x86-64 and arm64
        rules.add_rule(denied, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, flag, flag))
    with tempfile.TemporaryFile() as stream:
        rules.export_bpf(stream)
        stream.seek(0)
        return stream.read()


def _add(rules: object, action: object, name: str) -> None:
    """Deny `name` where this kernel and libseccomp know it (an older one has no fsopen...)."""
    with contextlib.suppress(OSError):  # EINVAL: a name this libseccomp does not know
        rules.add_rule(action, name)  # type: ignore[attr-defined]


def descriptor() -> int:
    """A new file descriptor (not inherited unless passed) reading the program from its start."""
    fd = os.memfd_create("kit-seccomp", os.MFD_CLOEXEC)
    os.write(fd, program())
    os.lseek(fd, 0, os.SEEK_SET)
    return fd


def install(fd: int) -> None:
    """Load the program read from `fd` (then closed) on this process and its future threads and
    children; raises OSError rather than go on without it."""
    with os.fdopen(fd, "rb") as stream:
        code = stream.read()
    buffer = ctypes.create_string_buffer(code, len(code))
    fprog = SockFilterProgram(len(code) // INSTRUCTION_BYTES, ctypes.addressof(buffer))
    if (
        linux.prctl(linux.PR_SET_NO_NEW_PRIVS, 1) != 0
        or linux.prctl(linux.PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog)) != 0
    ):
        number = ctypes.get_errno()
        raise OSError(number, f"cannot load the system-call filter: {os.strerror(number)}")


@cache
def keyctl_number() -> int:
    """keyctl's system-call number here (the C library has no wrapper for it)."""
    import pyseccomp as seccomp

    return int(seccomp.resolve_syscall(seccomp.Arch.NATIVE, "keyctl"))


def join_new_session_keyring(libc: ctypes.CDLL, number: int) -> None:
    """Make this process (and what it starts) use a new, empty session keyring, not the user's
    login session's (pam_keyinit makes one), so no key is shared with it. `number` is
    `keyctl_number()`, looked up before a fork: this runs between fork and exec. Where the kernel
    has no keyrings there is nothing to share."""
    failed = libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None) < 0
    if failed and ctypes.get_errno() not in (errno.ENOSYS, errno.EOPNOTSUPP):
        raise OSError(ctypes.get_errno(), "cannot join a new session keyring")
