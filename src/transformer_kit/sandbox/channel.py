"""The channel to a worker: frames sent and received under a call's time budget, and the
watchdog's looks at the worker's process tree while it runs (its CPU time, and a kill when it
holds too much memory or too many processes). process.py starts, limits and stops workers.
"""

from __future__ import annotations

import os
import select
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from transformer_kit.sandbox import process as sandbox
from transformer_kit.sandbox import protocol

WATCH_INTERVAL = 0.1  # seconds between two looks at a busy worker's process tree
PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096
TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass
class Budget:
    """The time a test's calls (or the import) may take, whatever the worker sends meanwhile
    (trickled bytes, callbacks, many small frames): `seconds` of CPU time of the worker's whole
    process tree, so a busy machine does not fail correct code, and WALL_FACTOR times that of
    wall time from `started`, for code that sleeps or waits, the grader's callbacks included.
    Looked at every WATCH_INTERVAL while the channel waits or works, from its first
    WATCH_INTERVAL on (a fast call costs no look at /proc, and a frame waiting from a worker
    started ahead is taken first); until the first look, every second counts as CPU time (or all
    the tree ever used, if that is less)."""

    seconds: float
    started: float = field(default_factory=time.monotonic)
    baseline: float | None = None  # the tree's CPU seconds at the first look, less the time before
    next_look: float | None = None  # when the watchdog looks next; None: the channel has not waited

    def spent(self, cpu_now: float | None) -> bool:
        now = time.monotonic()
        if now - self.started >= sandbox.WALL_FACTOR * self.seconds:
            return True
        if cpu_now is None:  # no /proc here: wall time it is
            return now - self.started >= self.seconds
        if self.baseline is None:
            self.baseline = cpu_now - min(now - self.started, cpu_now)
        return cpu_now - self.baseline >= self.seconds

    def due(self) -> bool:
        """Whether the watchdog should look now (and when next, if so)."""
        now = time.monotonic()
        if self.next_look is not None and now < self.next_look:
            return False
        looking = self.next_look is not None
        self.next_look = now + WATCH_INTERVAL
        return looking

    def pause(self) -> float:
        """Seconds the channel may wait for the worker before the watchdog's next look."""
        return max(0.0, (self.next_look or 0.0) - time.monotonic())


def send(worker: sandbox.Worker, message: dict[str, Any], budget: Budget) -> bool:
    """Write one frame, as fast as the worker reads it; False when the worker is gone (or the
    watchdog killed it: see `worker.overrun`); TimeoutError once `budget` is spent."""
    view = memoryview(protocol.pack(message))
    try:
        os.set_blocking(worker.to_worker, False)  # a worker that does not read cannot stop us
    except OSError:
        return False
    while view:
        if not _keep_time(worker, budget):
            return False
        try:
            view = view[os.write(worker.to_worker, view) :]
        except BlockingIOError:
            select.select([], [worker.to_worker], [], budget.pause())
        except OSError:  # the worker is gone
            return False
    return True


def receive(worker: sandbox.Worker, budget: Budget) -> bytes | None:
    """The body of the next frame from the worker; None at end of file (or when the watchdog
    killed it: see `worker.overrun`); TimeoutError once `budget` is spent; FrameTooLarge as soon
    as a frame's first bytes show it is over the limit for its op."""
    while True:
        if not _keep_time(worker, budget):
            return None
        frame = _take_frame(worker.buffer)
        if frame is not None:
            return frame
        ready, _, _ = select.select([worker.from_worker], [], [], budget.pause())
        if ready:
            chunk = os.read(worker.from_worker, 1 << 20)
            if not chunk:
                return None
            worker.buffer += chunk


def _keep_time(worker: sandbox.Worker, budget: Budget) -> bool:
    """The watchdog's look, when one is due: False when it killed the worker; TimeoutError once
    `budget` is spent."""
    if not budget.due():
        return True
    cpu = _watch(worker)
    if worker.overrun:
        return False
    if budget.spent(cpu):
        raise TimeoutError
    return True


def _take_frame(buffer: bytearray) -> bytes | None:
    """The next whole frame's body, taken out of `buffer`; None until it has all come."""
    if len(buffer) < protocol.HEADER.size:
        return None
    (length,) = protocol.HEADER.unpack_from(buffer)
    start = bytes(buffer[protocol.HEADER.size : protocol.HEADER.size + protocol.OP_PEEK])
    if len(start) < min(length, protocol.OP_PEEK):
        return None
    op = protocol.op_of(start)
    if length > protocol.limit(op):
        raise protocol.FrameTooLarge(op, length)
    end = protocol.HEADER.size + length
    if len(buffer) < end:
        return None
    with memoryview(buffer) as view:
        frame = bytes(view[protocol.HEADER.size : end])
    del buffer[:end]
    return frame


def _watch(worker: sandbox.Worker) -> float | None:
    """The watchdog: the CPU seconds of the worker's process tree; kills it (and says why in
    `worker.overrun`) when the tree holds too much memory or too many processes (children,
    daemons and shared memory included). None where there is no /proc."""
    if not sys.platform.startswith("linux"):
        return None
    table = sandbox._process_table()
    tree = {worker.process.pid} | sandbox._descendants({worker.process.pid}, table)
    tree |= {pid for pid, (_, sid, _) in table.items() if sid == worker.process.pid}
    if len(tree) > worker.limits.processes + sandbox.BWRAP_PROCESSES:
        worker.overrun = "processes"
    elif sum(_resident_bytes(pid) for pid in tree) > worker.limits.memory_bytes:
        worker.overrun = "memory"
    if worker.overrun:
        sandbox._kill_everything_from(worker.process.pid)
    return sum(_cpu_seconds(pid) for pid in tree)


def _cpu_seconds(pid: int) -> float:
    """User and system time of a process (all its threads, and its children it waited for)."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as stream:
            text = stream.read().decode("ascii", "replace")
        fields = text[text.rfind(")") + 2 :].split()
        return sum(int(n) for n in fields[11:15]) / TICKS
    except (OSError, ValueError):
        return 0.0


def _resident_bytes(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/statm", "rb") as stream:
            return int(stream.read().split()[1]) * PAGE
    except (OSError, ValueError, IndexError):
        return 0
