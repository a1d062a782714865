"""Worker processes under limits, and making sure nothing they start outlives them.

A worker runs in its own session (no controlling terminal, its own process group) with limits on
memory (RLIMIT_DATA, not RLIMIT_AS: torch reserves address space), output file size, open files,
CPU time and core dumps, in a control group of its own where the kit may make one (cgroup.py),
under a system-call filter (seccomp.py) and in a new, empty session keyring; stdin is /dev/null
and stdout/stderr go to a capped memory file with no name, never a pipe this process must drain.
Its environment is a short allow-list, never this process's, and its working folder is private
(isolation.py's levels). While a call runs, a watchdog (channel.py) bounds the worker's whole
process tree: resident memory and the number of processes. On Linux the grading process is a
child subreaper, so daemons that leave the worker's session are reparented here and are killed
with it.
"""

from __future__ import annotations

import contextlib
import os
import resource
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import transformer_kit
from transformer_kit.sandbox import cgroup, isolation, linux, protocol, seccomp
from transformer_kit.sandbox.cgroup import Cgroup
from transformer_kit.sandbox.isolation import Level

THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
BWRAP_PROCESSES = 3  # bubblewrap's own two processes and the worker, beside the learner's
OUTPUT_TAIL = 2000  # bytes of a crashed worker's output quoted in the message
WALL_FACTOR = 5  # a time limit in wall time, for code that sleeps or waits: this many times the CPU


@dataclass(frozen=True)
class Limits:
    memory_bytes: int = 2 * 1024**3  # per process (RLIMIT_DATA) and for the whole tree (watchdog)
    output_bytes: int = 1024**2  # per file written (RLIMIT_FSIZE)
    scratch_bytes: int = 64 * 1024**2  # the private working folder (full isolation)
    open_files: int = 256
    processes: int = 64  # in the worker's tree (watchdog; RLIMIT_NPROC too where root drops)
    cpu_seconds: int = 600
    import_seconds: float = 10.0  # to start Python and import the learner's module (torch too)


View = tuple[int, int, Path | None]  # the exercises folder's device and inode, a link's target


@dataclass
class Worker:
    """One running worker: its process, its two pipe ends, its output file (a memory file with
    no name: nothing of it outlives the kit) and its control group (None where there is none)."""

    process: subprocess.Popen[bytes]
    to_worker: int
    from_worker: int
    output: int
    started: float
    scratch: Path | None  # basic isolation's working folder, removed at the end
    limits: Limits
    cgroup: Cgroup | None = None
    buffer: bytearray = field(default_factory=bytearray)
    killed_for: str = ""  # what the watchdog killed the worker for: "memory" or "processes"
    view: View | None = None  # started with a preload: what it sees of the file, until `release`

    @property
    def overrun(self) -> str:
        """Why the worker was killed for a limit: "memory" or "processes", or ""."""
        if not self.killed_for and self.cgroup is not None and self.cgroup.oom_killed():
            return "memory"  # the kernel's own kill in the worker's group
        return self.killed_for

    @overrun.setter
    def overrun(self, reason: str) -> None:
        self.killed_for = reason

    def exit_status(self, wait: float = 1.0) -> int | None:
        """The exit code (negative: the signal), waiting up to `wait` seconds for it."""
        try:
            return self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None

    def output_tail(self) -> str:
        try:
            size = os.fstat(self.output).st_size
            tail = os.pread(self.output, OUTPUT_TAIL, max(0, size - OUTPUT_TAIL))
        except OSError:
            return ""
        return tail.decode("utf-8", "replace").strip()


_live: dict[int, Worker] = {}  # workers not yet stopped, by pid


def harden_grading_process() -> None:
    """Linux: become a child subreaper and make this process non-dumpable, so a same-user worker
    can neither escape as an orphan daemon nor read this process's memory or open files through
    /proc or ptrace."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        linux.prctl(linux.PR_SET_CHILD_SUBREAPER, 1)
        linux.prctl(linux.PR_SET_DUMPABLE, 0)


def spawn(
    name: str, path: Path, limits: Limits, level: Level, preload: Sequence[str] = ()
) -> Worker:
    """Start a worker that imports `path` as module `name`, isolated at `level`. With `preload`,
    it imports those modules first and loads `path` only once `release`d (see `release`)."""
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    output = os.memfd_create(f"kit-{name}-output", os.MFD_CLOEXEC)
    rules = seccomp.descriptor()
    package_parent = str(Path(transformer_kit.__file__).resolve().parents[1])
    bootstrap = (
        f"import sys; sys.path.insert(0, {package_parent!r}); "
        "from transformer_kit.sandbox.worker import main; main(sys.argv[1:])"
    )
    entry = [str(request_read), str(reply_write), level.name, str(rules), str(limits.processes)]
    python = [sys.executable, "-I", "-c", bootstrap, *entry]
    interrupt = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, interrupt)  # Ctrl-C waits until it is registered
    launch, group, joins = None, None, []
    try:
        launch = level.launch(name, _visible(path), limits.scratch_bytes, rules)
        group = cgroup.create(limits.memory_bytes, limits.processes + BWRAP_PROCESSES)
        joins = group.join() if group is not None else []
        process = subprocess.Popen(
            [*launch.prefix, *python, name, str(path), str(isolation.sandbox_uid()), *preload],
            stdin=subprocess.DEVNULL,
            stdout=output,
            stderr=output,
            cwd=launch.home,
            env=worker_environment(launch.home),
            pass_fds=(request_read, reply_write, rules),
            start_new_session=True,
            preexec_fn=_apply_limits(limits, joins),
        )
        worker = Worker(
            process, request_write, reply_read, output, time.monotonic(), launch.scratch,
            limits, group,
        )  # fmt: skip
        worker.view = _view(path) if preload else None
        _live[process.pid] = worker
    except BaseException:
        for fd in (request_write, reply_read, output):
            os.close(fd)
        if group is not None:
            group.remove()
        if launch is not None and launch.scratch is not None:
            shutil.rmtree(launch.scratch, ignore_errors=True)
        raise
    finally:
        for inherited in (request_read, reply_write, rules, *joins):
            os.close(inherited)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, interrupt)
    return worker


def release(worker: Worker, path: Path) -> bool:
    """Let a worker started with a preload for `path` load that file as it is now; its import
    time counts from here. False, and the worker is stopped, when it cannot see the file as it
    is now (exercises/ was made again since, or a symbolic link changed) or has ended."""
    fresh = worker.view is not None and worker.view == _view(path)
    if fresh and _write_load(worker):
        worker.view, worker.started = None, time.monotonic()
        return True
    stop(worker)
    return False


def _write_load(worker: Worker) -> bool:
    """Tell a worker started with a preload to load its file; False when it is gone."""
    try:
        protocol.write_frame(worker.to_worker, {"op": "load"})
    except OSError:
        return False
    return True


def _view(path: Path) -> View | None:
    """What a worker's file system shows of the learner's side (a bind of the exercises folder
    as it was when it started, and of a symlinked file's target); None without the folder."""
    try:
        folder = path.parent.stat()
    except OSError:
        return None
    return folder.st_dev, folder.st_ino, path.resolve() if path.is_symlink() else None


def worker_environment(home: str) -> dict[str, str]:
    """The worker's whole environment: nothing of this process's (tokens, paths, settings)."""
    python_bin = str(Path(sys.executable).parent)
    return {
        "PATH": f"{python_bin}:/usr/local/bin:/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": home,
        "TMPDIR": home,
        **dict.fromkeys(THREAD_VARIABLES, "1"),
    }


def _visible(path: Path) -> list[Path]:
    """What of the learner's side a worker sees: the exercises folder, and the target of a
    learner's file kept elsewhere and linked in."""
    return [path.parent, path.resolve()] if path.is_symlink() else [path.parent]


def _apply_limits(limits: Limits, joins: Sequence[int]) -> Any:
    root = os.geteuid() == 0  # RLIMIT_NPROC counts a user's processes system-wide: here only
    # for the sandbox uid a root-started full worker becomes (root itself is exempt); an
    # ordinary user's worker sets it itself inside its own user namespace (isolation.py)
    libc = linux.libc()  # loaded before the fork: nothing to load between fork and exec
    keyctl = seccomp.keyctl_number()

    def apply() -> None:  # runs in the child between fork and exec
        cgroup.enter(list(joins))  # first: everything after is the group's
        seccomp.join_new_session_keyring(libc, keyctl)
        chosen = [
            (resource.RLIMIT_DATA, limits.memory_bytes),
            (resource.RLIMIT_FSIZE, limits.output_bytes),
            (resource.RLIMIT_NOFILE, limits.open_files),
            (resource.RLIMIT_CORE, 0),
            (resource.RLIMIT_CPU, limits.cpu_seconds),
        ]
        if root:
            chosen.append((resource.RLIMIT_NPROC, limits.processes))
        for limit, value in chosen:
            _, hard = resource.getrlimit(limit)
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(limit, (value, value))
        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a full output file fails writes, no kill
        signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT, signal.SIGTERM})  # see spawn

    return apply


def stop_all() -> None:
    """Stop every worker still running (the end of a check, however it ended)."""
    for worker in list(_live.values()):
        stop(worker)


def stop_everything() -> None:
    """Stop every worker and kill anything else this process started: a grading process told
    to stop in the middle of a check."""
    stop_all()
    _kill_everything_from(None)


def stop(worker: Worker) -> None:
    """Kill the worker and everything it started; free its pipes, output file and group."""
    _live.pop(worker.process.pid, None)
    _kill_everything_from(worker.process.pid)
    if worker.cgroup is not None:
        worker.cgroup.remove()  # what left the session too
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.process.wait(timeout=5)
    for fd in (worker.to_worker, worker.from_worker, worker.output):
        with contextlib.suppress(OSError):
            os.close(fd)
    if worker.scratch is not None:
        shutil.rmtree(worker.scratch, ignore_errors=True)


def _kill_everything_from(session: int | None) -> None:
    """SIGKILL the worker's session (if given) and every orphan reparented to us, until none
    is left."""
    if session is not None:
        with contextlib.suppress(OSError):
            os.killpg(session, signal.SIGKILL)
    if not sys.platform.startswith("linux"):
        return
    me = os.getpid()
    for _ in range(200):
        table = _process_table()
        doomed = {
            pid
            for pid, (ppid, sid, state) in table.items()
            if state != "Z"
            and pid not in _live
            and (ppid == me or (session is not None and sid == session))
        }
        doomed |= _descendants(doomed, table)
        _reap_zombies(table, me)
        if not doomed:
            return
        for pid in doomed:
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        time.sleep(0.005)


def _process_table() -> dict[int, tuple[int, int, str]]:
    """pid -> (parent pid, session id, state) for every process we can see."""
    table = {}
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/stat", "rb") as stream:
                text = stream.read().decode("ascii", "replace")
        except OSError:
            continue
        fields = text[text.rfind(")") + 2 :].split()
        table[int(entry.name)] = (int(fields[1]), int(fields[3]), fields[0])
    return table


def _descendants(roots: set[int], table: dict[int, tuple[int, int, str]]) -> set[int]:
    found: set[int] = set()
    frontier = set(roots)
    while frontier:
        children = {pid for pid, (ppid, _, _) in table.items() if ppid in frontier} - found
        found |= children
        frontier = children
    return found


def _reap_zombies(table: dict[int, tuple[int, int, str]], me: int) -> None:
    for pid, (ppid, _, state) in table.items():
        if ppid == me and state == "Z" and pid not in _live:
            with contextlib.suppress(ChildProcessError, OSError):
                os.waitpid(pid, os.WNOHANG)
