"""Where `kit grade` runs its tasks: one task grades one submission.

Both executors run the same function, `grade_task`, in a long-lived grading process that imports
pytest, numpy and the graders once; a submission then costs only its sandboxed workers.

- `LocalPool(jobs)`: that many grading processes on this machine (concurrent.futures).
- `DaskCluster(address)`: a running Dask distributed scheduler. Each Dask worker keeps grading
  processes of its own, one per Dask thread; Dask reruns a task whose worker died, and retries a
  task that failed.

A task carries the submission's bytes, not paths, so a Dask worker needs no shared file system and
a student's sandbox sees only that student's files (a private temporary folder).
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import signal
import sys
import tempfile
import threading
import uuid
from collections.abc import Generator, Iterator, Mapping, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from transformer_kit import __version__
from transformer_kit import catalog as meta
from transformer_kit.sandbox import cgroup, isolation, linux
from transformer_kit.sandbox.isolation import Level

TASKS_PER_PROCESS = 200  # a grading process is replaced after this many (bounds any slow leak)
DASK_RETRIES = 2  # reruns of a task that raised (a worker that died is rescheduled by Dask itself)
DAEMON_HELP = (
    "start the Dask workers with DASK_DISTRIBUTED__WORKER__DAEMON=False (see the README's "
    "'Grading on a Dask cluster'): the kit's grading processes are their children"
)


@dataclass(frozen=True)
class Task:
    """One submission to grade: its files (exercise name -> source bytes), the exercises to
    grade, and the isolation level to grade them at."""

    student: str
    files: Mapping[str, bytes]
    exercises: tuple[str, ...]
    level: Level


class Executor(Protocol):
    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, dict[str, Any]]]:
        """Grade every task; yield each with its results document as it finishes."""
        ...

    def close(self) -> None:
        """Stop at once: no process of the kit's is left running."""
        ...


def grade_task(task: Task) -> dict[str, Any]:
    """Grade one submission in this (grading) process: the `kit check --json` document of its
    files, or a document with `error` when the kit itself could not grade it."""
    from transformer_kit import (
        check as grading,  # pytest and numpy: imported once per grading process
    )
    from transformer_kit.results import CheckResult

    catalogue = {exercise.name: exercise for exercise in meta.load()}
    exercises = [catalogue[name] for name in task.exercises]
    present = [e for e in exercises if e.name in task.files]
    try:
        with tempfile.TemporaryDirectory(prefix="kit-grade-") as folder:
            root = Path(folder)
            _write_files(root / "exercises", task.files)
            graded = grading.check(root, present, level=task.level).exercises if present else ()
    except Exception as error:  # the kit's own failure: recorded for this submission only
        return failed_document(task, f"{type(error).__name__}: {error}")
    by_name = {result.name: result for result in graded}
    results = tuple(
        by_name.get(e.name) or grading.ungraded(e, f"the submission has no {e.name}.py")
        for e in exercises
    )
    return CheckResult(results, task.level.name, cgroup.enforcer()).to_json()


def failed_document(task: Task, error: str) -> dict[str, Any]:
    """The results document of a submission the kit could not grade: every exercise scores 0,
    and `error` says why."""
    from transformer_kit import check as grading
    from transformer_kit.results import CheckResult

    catalogue = {exercise.name: exercise for exercise in meta.load()}
    summary = f"the kit could not grade this submission: {error}"
    results = tuple(grading.ungraded(catalogue[name], summary) for name in task.exercises)
    return {**CheckResult(results, task.level.name, cgroup.enforcer()).to_json(), "error": error}


def _write_files(folder: Path, files: Mapping[str, bytes]) -> None:
    """The submission's files, readable by the sandbox's unprivileged user (a uid of its own
    when the kit runs as root), inside a private temporary folder."""
    folder.mkdir(mode=0o755)
    folder.chmod(0o755)
    for name, data in files.items():
        path = folder / f"{name}.py"
        path.write_bytes(data)
        path.chmod(0o644)


def start_grading_process() -> None:
    """The initializer of every grading process: its own session (a Ctrl-C at the terminal
    reaches only `kit grade`, which then stops it), death with its parent, and SIGTERM stopping
    its sandboxed workers before it exits."""
    with contextlib.suppress(OSError):
        os.setsid()
    if sys.platform.startswith("linux"):
        linux.die_with_parent()
    signal.signal(signal.SIGTERM, _stop_and_exit)
    from transformer_kit import check as grading  # noqa: F401  (pytest, numpy: once, here)


def _stop_and_exit(signum: int, frame: Any) -> None:
    from transformer_kit.sandbox import process as sandbox

    sandbox.stop_everything()
    os._exit(128 + signum)


def _grading_pool(processes: int) -> ProcessPoolExecutor:
    return ProcessPoolExecutor(
        max_workers=processes,
        mp_context=multiprocessing.get_context("spawn"),  # no fork of a threaded process
        initializer=start_grading_process,
        max_tasks_per_child=TASKS_PER_PROCESS,
    )


def _terminate_children() -> None:
    """SIGTERM every grading process this process started, then SIGKILL what is left."""
    children = multiprocessing.active_children()
    for child in children:
        child.terminate()
    for child in children:
        child.join(timeout=10)
        if child.is_alive():
            child.kill()
            child.join(timeout=5)


class LocalPool:
    """`jobs` grading processes on this machine. A grading process that dies takes down the tasks
    it ran beside, not only its own: those are graded again, each alone, so that only a
    submission whose grading process dies again gets the error."""

    def __init__(self, jobs: int) -> None:
        self.jobs = jobs
        self._pool: ProcessPoolExecutor | None = None

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, dict[str, Any]]]:
        broken = yield from self._graded(tasks, self.jobs)
        for task in (yield from self._graded(broken, 1)):
            yield task, failed_document(task, "a grading process died while grading it; run "
                                        "`kit grade` again to retry")  # fmt: skip

    def _graded(
        self, tasks: Sequence[Task], processes: int
    ) -> Generator[tuple[Task, dict[str, Any]], None, list[Task]]:
        """Grade `tasks`, at most `processes` at a time (so a dying process takes down no queued
        task), yielding each result; return the tasks that were running when a process died."""
        waiting, broken = list(reversed(tasks)), []
        while waiting:
            self._pool = _grading_pool(min(processes, len(waiting)))
            running: dict[Future[dict[str, Any]], Task] = {}
            dead = False  # a process of this pool died: it takes no more tasks
            while (waiting and not dead) or running:
                while waiting and not dead and len(running) < processes:
                    try:
                        running[self._pool.submit(grade_task, waiting[-1])] = waiting[-1]
                        waiting.pop()
                    except BrokenProcessPool:
                        dead = True
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                for future in done:
                    task = running.pop(future)
                    if isinstance(future.exception(), BrokenProcessPool):
                        broken.append(task)
                        dead = True
                    else:
                        yield task, _document(task, future)
            self._pool.shutdown()
            self._pool = None
        return broken

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
        _terminate_children()


def _document(task: Task, future: Future[dict[str, Any]]) -> dict[str, Any]:
    try:
        return future.result()
    except Exception as error:
        return failed_document(task, f"{type(error).__name__}: {error}")


class ClusterError(Exception):
    """The Dask scheduler cannot be used (unreachable, no workers, workers unfit)."""


class DaskCluster:
    """A running Dask distributed scheduler at `address` (tcp://HOST:PORT)."""

    def __init__(self, address: str, connect_seconds: float = 10) -> None:
        try:
            from distributed import Client
            from distributed.comm.addressing import parse_address, parse_host_port
        except ImportError:
            raise ClusterError(
                "--scheduler needs Dask: pip install 'transformer-kit[cluster]'"
            ) from None
        try:  # before Client: one made from a bad address is left half-built, and hangs on exit
            scheme, location = parse_address(address)
            if scheme in ("tcp", "tls"):
                parse_host_port(location)
        except ValueError as error:
            raise ClusterError(
                f"--scheduler {address}: {error}; give the scheduler's address as "
                "tcp://HOST:PORT (what `dask scheduler` prints)"
            ) from None
        try:
            self._client = Client(address, timeout=connect_seconds, set_as_default=False)
        except (OSError, TimeoutError, ValueError) as error:
            raise ClusterError(f"cannot reach the Dask scheduler at {address}: {error}") from None
        self._futures: list[Any] = []

    def check_workers(self, level: Level) -> int:
        """The number of Dask workers; ClusterError when there are none or one cannot grade
        (another kit version, the level not offered there, a daemonic worker)."""
        facts = self._client.run(worker_facts)
        if not facts:
            raise ClusterError("the Dask scheduler has no workers: start some with `dask worker`")
        for address, fact in facts.items():
            problem = _unfit(fact, level)
            if problem:
                raise ClusterError(f"Dask worker {address}: {problem}")
        return len(facts)

    def run(self, tasks: Sequence[Task]) -> Iterator[tuple[Task, dict[str, Any]]]:
        from distributed import as_completed as dask_completed

        batch = uuid.uuid4().hex[:8]
        by_key: dict[str, Task] = {}
        for number, task in enumerate(tasks):
            key = f"kit-grade-{batch}-{number}"
            by_key[key] = task
            future = self._client.submit(
                grade_on_dask_worker, task, key=key, retries=DASK_RETRIES, pure=False
            )
            self._futures.append(future)
        for future in dask_completed(self._futures, loop=self._client.loop):
            task = by_key[future.key]
            if future.status == "finished":
                yield task, future.result()
            else:
                error = future.exception()
                yield task, failed_document(task, f"{type(error).__name__}: {error}")
        self._futures = []

    def close(self) -> None:
        with contextlib.suppress(Exception):
            if self._futures:
                self._client.cancel(self._futures)
            self._client.close()


def worker_facts() -> dict[str, Any]:
    """What a Dask worker must have to grade (run there by `Client.run`)."""
    return {
        "kit_version": __version__,
        "levels": isolation.offered(),
        "daemon": multiprocessing.current_process().daemon,
    }


def _unfit(fact: Mapping[str, Any], level: Level) -> str:
    if fact["kit_version"] != __version__:
        return f"it has kit {fact['kit_version']}, this is kit {__version__}: install the same"
    if level.name not in fact["levels"]:
        return f"{level.name} isolation does not work there: install {level.missing}"
    if fact["daemon"]:
        return DAEMON_HELP
    return ""


_dask_pool: ProcessPoolExecutor | None = None
_dask_pool_lock = threading.Lock()


def grade_on_dask_worker(task: Task) -> dict[str, Any]:
    """The Dask task: `grade_task` in one of this Dask worker's own grading processes (made on
    first use, one per Dask thread). A grading process that died raises, so Dask retries."""
    global _dask_pool
    with _dask_pool_lock:
        if _dask_pool is None:
            from distributed import get_worker

            _dask_pool = _grading_pool(get_worker().state.nthreads)
        pool = _dask_pool
    try:
        return pool.submit(grade_task, task).result()
    except BrokenProcessPool:
        with _dask_pool_lock:
            if _dask_pool is pool:
                _dask_pool = None
        raise
