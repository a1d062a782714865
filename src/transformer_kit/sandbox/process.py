"""Worker processes under limits, and making sure nothing they start outlives them.

A worker runs in its own session (no controlling terminal, its own process group) with limits on
memory (RLIMIT_DATA, not RLIMIT_AS: torch reserves address space), output file size, open files,
CPU time and core dumps; stdin is /dev/null and stdout/stderr go to a capped temporary file, never
a pipe this process must drain. Its environment is a short allow-list, never this process's, and
its working folder is private (full isolation: bubblewrap's size-capped tmpfs; basic: a temporary
folder removed with it). While a call runs, a watchdog (channel.py) bounds its whole process tree:
resident memory (shared memory and children included, which RLIMIT_DATA does not see) and the
number of processes. On Linux the grading process is a child subreaper, so daemons that leave the
worker's session are reparented here and are killed with it.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import transformer_kit
from transformer_kit.sandbox import bubblewrap, isolation, protocol

PR_SET_DUMPABLE = 4
PR_SET_CHILD_SUBREAPER = 36
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
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
    """One running worker: its process, its two pipe ends and its output file."""

    process: subprocess.Popen[bytes]
    to_worker: int
    from_worker: int
    output: Path
    started: float
    scratch: Path | None  # basic isolation's working folder, removed at the end
    limits: Limits
    buffer: bytearray = field(default_factory=bytearray)
    overrun: str = ""  # what the watchdog killed the worker for: "memory" or "processes"
    view: View | None = None  # started with a preload: what it sees of the file, until `release`

    def exit_status(self, wait: float = 1.0) -> int | None:
        """The exit code (negative: the signal), waiting up to `wait` seconds for it."""
        try:
            return self.process.wait(timeout=wait)
        except subprocess.TimeoutExpired:
            return None

    def output_tail(self) -> str:
        try:
            with self.output.open("rb") as stream:
                stream.seek(max(0, self.output.stat().st_size - OUTPUT_TAIL))
                return stream.read().decode("utf-8", "replace").strip()
        except OSError:
            return ""


_live: dict[int, Worker] = {}  # workers not yet stopped, by pid


def harden_grading_process() -> None:
    """Linux: become a child subreaper and make this process non-dumpable, so a same-user worker
    can neither escape as an orphan daemon nor read this process's memory or open files through
    /proc or ptrace."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
        libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)


def spawn(name: str, path: Path, limits: Limits, level: str, preload: Sequence[str] = ()) -> Worker:
    """Start a worker that imports `path` as module `name`, isolated at `level`. With `preload`,
    it imports those modules first and loads `path` only once `release`d (see `release`)."""
    request_read, request_write = os.pipe()
    reply_read, reply_write = os.pipe()
    fd, output = tempfile.mkstemp(prefix=f"kit-{name}-", suffix=".out")
    package_parent = str(Path(transformer_kit.__file__).resolve().parents[1])
    bootstrap = (
        f"import sys; sys.path.insert(0, {package_parent!r}); "
        "from transformer_kit.sandbox.worker import main; main(sys.argv[1:])"
    )
    python = [sys.executable, "-I", "-c", bootstrap, str(request_read), str(reply_write), level]
    scratch = None
    if level == isolation.FULL:
        prefix = _bubblewrap(path, limits)
        home = bubblewrap.SCRATCH
    else:
        prefix, scratch = [], Path(tempfile.mkdtemp(prefix=f"kit-{name}-"))
        home = str(scratch)
    interrupt = {signal.SIGINT, signal.SIGTERM}
    signal.pthread_sigmask(signal.SIG_BLOCK, interrupt)  # Ctrl-C waits until it is registered
    try:
        process = subprocess.Popen(
            [*prefix, *python, name, str(path), str(isolation.sandbox_uid()), *preload],
            stdin=subprocess.DEVNULL,
            stdout=fd,
            stderr=fd,
            cwd=home,
            env=worker_environment(home),
            pass_fds=(request_read, reply_write),
            start_new_session=True,
            preexec_fn=_apply_limits(limits),
        )
        worker = Worker(
            process, request_write, reply_read, Path(output), time.monotonic(), scratch, limits
        )
        worker.view = _view(path) if preload else None
        _live[process.pid] = worker
    finally:
        for inherited in (fd, request_read, reply_write):
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


def _bubblewrap(path: Path, limits: Limits) -> list[str]:
    bwrap = bubblewrap.executable()
    if bwrap is None:
        raise isolation.IsolationUnavailable("bubblewrap (bwrap) is no longer on PATH")
    visible = [path.parent]
    if path.is_symlink():
        visible.append(path.resolve())  # a learner's file kept elsewhere, linked in
    return bubblewrap.command(bwrap, visible, limits.scratch_bytes)


def _apply_limits(limits: Limits) -> Any:
    root = os.geteuid() == 0  # RLIMIT_NPROC counts a user's processes system-wide: only for
    # the sandbox uid a root-started full worker becomes (root itself is exempt)

    def apply() -> None:  # runs in the child between fork and exec
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
    """Kill the worker and everything it started; free its pipes and output file."""
    _live.pop(worker.process.pid, None)
    _kill_everything_from(worker.process.pid)
    with contextlib.suppress(subprocess.TimeoutExpired):
        worker.process.wait(timeout=5)
    for fd in (worker.to_worker, worker.from_worker):
        with contextlib.suppress(OSError):
            os.close(fd)
    worker.output.unlink(missing_ok=True)
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
