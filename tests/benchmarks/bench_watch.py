"""Benchmark: from saving a correct attention solution to the redrawn report under `kit watch`.

    python tests/benchmarks/bench_watch.py [--runs 15] [--poll]

Runs the watcher as a subprocess on a fresh workspace (NO_COLOR, output read unbuffered from a
pipe). Each run saves the stub (a failing report), waits for that report, then saves the reference
solution the way an editor does (a temporary file, then os.replace) and measures until the report
that says "attention passed" has been written in full. Prints the median, min and max, the part of
it spent noticing the save, and the machine.
"""

from __future__ import annotations

import argparse
import os
import select
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench_check import machine  # same folder: the script's own

from transformer_kit import meta

KIT = shutil.which("kit", path=os.path.dirname(sys.executable)) or "kit"
END_OF_FRAME = "save to re-check"  # the status line, the last line of every redrawn report
NOTICED = "checking attention"  # printed as soon as a save is noticed, before grading
TIMEOUT = 60.0  # seconds to wait for any one line before giving up


class Output:
    """The watcher's stdout, read line by line as it arrives."""

    def __init__(self, process: subprocess.Popen[bytes]) -> None:
        assert process.stdout is not None
        self.fd = process.stdout.fileno()
        self.pending = b""

    def line(self) -> str:
        while b"\n" not in self.pending:
            ready, _, _ = select.select([self.fd], [], [], TIMEOUT)
            chunk = os.read(self.fd, 1 << 16) if ready else b""
            if not chunk:
                raise SystemExit(f"the watcher stopped writing; last output: {self.pending!r}")
            self.pending += chunk
        line, _, self.pending = self.pending.partition(b"\n")
        return line.decode("utf-8", "replace")

    def frame(self) -> tuple[str, float, float]:
        """The next redrawn report, when its save was noticed, and when it was complete."""
        lines: list[str] = []
        noticed = 0.0
        while not lines or END_OF_FRAME not in lines[-1]:
            lines.append(self.line())
            if NOTICED in lines[-1]:
                noticed = time.perf_counter()
        return "\n".join(lines), noticed, time.perf_counter()


def save(path: Path, source: bytes) -> float:
    """Write like an editor with atomic saves; returns the moment of the rename."""
    temporary = path.with_name(f".{path.name}.saving")
    temporary.write_bytes(source)
    started = time.perf_counter()
    os.replace(temporary, path)
    return started


def watcher_command(workspace: Path, poll: bool) -> list[str]:
    """`kit watch attention` on the workspace, as a learner starts it."""
    return [KIT, "--workspace", str(workspace), "watch", "attention", *(["--poll"] if poll else [])]


def measure(runs: int, poll: bool) -> tuple[list[float], list[float]]:
    (attention,) = meta.resolve(["attention"], meta.load())
    stub, solution = attention.stub.read_bytes(), attention.solution.read_bytes()
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        target = workspace / "exercises" / "attention.py"
        target.parent.mkdir()
        target.write_bytes(stub)
        command = watcher_command(workspace, poll)
        environment = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        process = subprocess.Popen(command, stdout=subprocess.PIPE, env=environment)
        output = Output(process)
        totals, noticing = [], []
        try:
            output.frame()  # the first check, which also imports pytest and numpy
            for _ in range(runs):
                save(target, stub)
                report, _, _ = output.frame()
                assert "attention failed" in report, report
                saved = save(target, solution)
                report, noticed, drawn = output.frame()
                assert "attention passed" in report, report
                totals.append(drawn - saved)
                noticing.append(noticed - saved)
        finally:
            process.send_signal(signal.SIGINT)
            process.wait(timeout=TIMEOUT)
    return totals, noticing


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--poll", action="store_true", help="force the polling backend")
    arguments = parser.parse_args()
    totals, noticing = measure(arguments.runs, arguments.poll)
    print(f"machine: {machine()}")
    print(f"watcher: kit watch attention{' --poll' if arguments.poll else ''}")
    print(f"runs: {arguments.runs}; seconds from os.replace of the solution:")
    for name, samples in (("to the redrawn report", totals), ("to noticing the save", noticing)):
        print(
            f"  {name:24} median {statistics.median(samples):.3f}"
            f"  (min {min(samples):.3f}, max {max(samples):.3f})"
        )


if __name__ == "__main__":
    main()
