"""Benchmark: wall time of `kit check` next to the floor `python -c "import numpy"`, at both
isolation levels, and what bubblewrap costs one worker.

    python tests/benchmarks/bench_check.py [--runs 15]

Runs every command in a subprocess, interleaved so all see the same machine load, on a fresh
workspace holding the reference solutions. Prints the medians, their ratio and the machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transformer_kit import catalog as meta
from transformer_kit.sandbox import bubblewrap

KIT = shutil.which("kit", path=os.path.dirname(sys.executable)) or "kit"


def wall(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(
        command, cwd=cwd, env={**os.environ, **env},
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    return time.perf_counter() - started


def machine() -> str:
    cpu = next(
        (line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
         if line.startswith("model name")),
        platform.processor(),
    ) if Path("/proc/cpuinfo").exists() else platform.processor()  # fmt: skip
    return f"{cpu}, {os.cpu_count()} cores, Python {platform.python_version()}, {platform.system()}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    runs = parser.parse_args().runs
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        (workspace / "exercises").mkdir()
        for exercise in meta.load():
            shutil.copyfile(exercise.solution, workspace / "exercises" / f"{exercise.name}.py")
        numpy = [sys.executable, "-I", "-c", "import numpy"]
        full, basic = {"KIT_ISOLATION": "full"}, {"KIT_ISOLATION": "basic"}
        commands: dict[str, tuple[list[str], dict[str, str]]] = {
            'python -c "import numpy"': (numpy, {}),
            "kit check attention": ([KIT, "check", "attention"], full),
            "kit check attention (basic)": ([KIT, "check", "attention"], basic),
            "kit check (all, full)": ([KIT, "check"], full),
            "kit check (all, basic)": ([KIT, "check"], basic),
        }
        if bubblewrap.available():
            sandbox = bubblewrap.command(bubblewrap.executable() or "bwrap", [], 64 * 1024**2)
            commands['bwrap ... python -c "import numpy"'] = ([*sandbox, *numpy], {})
        for command, env in commands.values():  # warm the file cache once
            wall(command, workspace, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(runs):
            for name, (command, env) in commands.items():
                times[name].append(wall(command, workspace, env))
    floor = statistics.median(times['python -c "import numpy"'])
    print(f"machine: {machine()}")
    print(f"runs: {runs} of each, interleaved; median (min-max) wall seconds")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(
            f"  {name:36} {median:.3f} ({min(samples):.3f}-{max(samples):.3f})"
            f"  = {median / floor:.1f} x the numpy floor"
        )


if __name__ == "__main__":
    main()
