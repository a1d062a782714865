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
    """The time one call (or the import) may take: `seconds` of CPU time of the worker's whole
    process tree, so a busy machine does not fail correct code, and WALL_FACTOR times that of
    wall time, for code that sleeps or waits. Measured only while it runs longer than
    WATCH_INTERVAL (a fast call costs no look at /proc); until the first look, every second
    counts as CPU time (or all the tree ever used, if that is less)."""

    seconds: float
    started: float = field(default_factory=time.monotonic)
    baseline: float | None = None  # the tree's CPU seconds at the first look, less the time before

    def spent(self, cpu_now: float | None) -> bool:
        now = time.monotonic()
        if now - self.started >= sandbox.WALL_FACTOR * self.seconds:
            return True
        if cpu_now is None:  # no /proc here: wall time it is
            return now - self.started >= self.seconds
        if self.baseline is None:
            self.baseline = cpu_now - min(now - self.started, cpu_now)
        return cpu_now - self.baseline >= self.seconds


def send(worker: sandbox.Worker, message: dict[str, Any]) -> bool:
    """Write one frame; False when the worker is gone."""
    try:
        protocol.write_frame(worker.to_worker, message)
    except (BrokenPipeError, OSError):
        return False
    return True


def receive(worker: sandbox.Worker, budget: Budget) -> dict[str, Any] | None:
    """The next frame from the worker; None at end of file (or when the watchdog killed it:
    see `worker.overrun`); TimeoutError once `budget` is spent."""
    while True:
        frame = _take_frame(worker.buffer)
        if frame is not None:
            return protocol.unpack_body(frame)
        ready, _, _ = select.select([worker.from_worker], [], [], WATCH_INTERVAL)
        if not ready:  # only when nothing is waiting: a worker started ahead is fine
            cpu = _watch(worker)
            if worker.overrun:
                return None
            if budget.spent(cpu):
                raise TimeoutError
            continue
        chunk = os.read(worker.from_worker, 1 << 20)
        if not chunk:
            return None
        worker.buffer += chunk


def _take_frame(buffer: bytearray) -> bytes | None:
    if len(buffer) < protocol.HEADER.size:
        return None
    (length,) = protocol.HEADER.unpack_from(buffer)
    if length > protocol.MAX_FRAME:
        raise protocol.ProtocolError(f"a frame of {length} bytes is over the limit")
    end = protocol.HEADER.size + length
    if len(buffer) < end:
        return None
    frame = bytes(buffer[protocol.HEADER.size : end])
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
    if len(tree) > worker.limits.processes + 3:  # bwrap's two processes, the worker itself
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
