"""Benchmark: what the worker's control group and system-call filter cost per worker.

    python tests/benchmarks/bench_kernel.py [--runs 15] [--level full|basic]

Times one worker from `spawn` to the answer of its first call (Python started, the level
entered, numpy and the learner's module imported), with and without the group and the filter,
interleaved so all see the same machine load; and the parts alone: making and removing a group,
building the filter (once per grading process) and handing it over (once per worker). "Without
the filter" loads a one-instruction program that allows everything, so the difference is the
filter's own work. Prints medians, min and max. The group needs root.
"""

from __future__ import annotations

import argparse
import os
import statistics
import struct
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from transformer_kit import CONTENT
from transformer_kit.sandbox import cgroup, isolation, seccomp
from transformer_kit.sandbox import process as sandbox
from transformer_kit.sandbox.client import Sandboxed, Target

ALLOW_EVERYTHING = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)  # BPF_RET|BPF_K, SECCOMP_RET_ALLOW
MEBIBYTE = 1024**2


def first_call(path: Path, level: isolation.Level) -> tuple[float, float]:
    """Seconds from starting a worker to the answer of its first call, and to stop it."""
    started = time.perf_counter()
    sandboxed = Sandboxed(Target("attention", path, sandbox.Limits(), level))
    try:
        sandboxed.begin_test(60.0)
        sandboxed.student().causal_mask(3)
        answered = time.perf_counter()
    finally:
        sandboxed.close()
    return answered - started, time.perf_counter() - answered


def no_group(memory_bytes: int, processes: int) -> cgroup.Cgroup | None:
    return None


def allow_everything() -> bytes:
    return ALLOW_EVERYTHING


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def summary(name: str, seconds: list[float]) -> str:
    median, low, high = statistics.median(seconds), min(seconds), max(seconds)
    return f"{name:<34} {median * 1000:8.2f} ms  (min {low * 1000:.2f}, max {high * 1000:.2f})"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--level", choices=list(isolation.LEVELS), default=None)
    options = parser.parse_args()
    level = isolation.named(options.level) if options.level else isolation.choose()
    built = timed(seccomp.program)
    real_create, real_program = cgroup.create, seccomp.program
    variants: dict[str, tuple[bool, bool]] = {
        "group and filter": (True, True),
        "filter only (no group)": (False, True),
        "group only (allow-all filter)": (True, False),
        "neither": (False, False),
    }
    times: dict[str, list[float]] = {name: [] for name in variants}
    stops: dict[str, list[float]] = {name: [] for name in variants}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "exercises" / "attention.py"
        path.parent.mkdir()
        path.write_bytes((CONTENT / "solutions" / "attention.py").read_bytes())
        first_call(path, level)  # warm the page cache
        for _ in range(options.runs):
            for name, (group, rules) in variants.items():
                cgroup.create = real_create if group else no_group
                seccomp.program = real_program if rules else allow_everything
                answer, stop = first_call(path, level)
                times[name].append(answer)
                stops[name].append(stop)
        cgroup.create, seccomp.program = real_create, real_program
    groups = []
    if cgroup.enforcer() == cgroup.CGROUP:
        for _ in range(options.runs):
            started = time.perf_counter()
            made = cgroup.create(2048 * MEBIBYTE, 64)
            assert made is not None
            made.remove()
            groups.append(time.perf_counter() - started)
    handed = [timed(lambda: os.close(seccomp.descriptor())) for _ in range(options.runs)]
    print(f"level {level.name}, limits by {cgroup.enforcer()}, {options.runs} runs each")
    print("spawn to first answer:")
    for name, seconds in times.items():
        print("  " + summary(name, seconds))
    print("stopping it (group: killing what is in it and removing it):")
    for name, seconds in stops.items():
        print("  " + summary(name, seconds))
    print("parts:")
    if groups:
        print("  " + summary("make and remove a group", groups))
    print("  " + summary("hand over the filter (memfd)", handed))
    print(f"  {'build the filter (once a process)':<34} {built * 1000:8.2f} ms")


if __name__ == "__main__":
    main()
