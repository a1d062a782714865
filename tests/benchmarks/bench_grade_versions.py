"""Benchmark: `kit grade -j 2 --force` of one class by two installations of the kit, interleaved
(for "kit grade's throughput at least where it is": an old commit against this one).

    python tests/benchmarks/bench_grade_versions.py OLD_KIT NEW_KIT [--students 40] [--runs 3]

The class: every student submits attention and momentum_sgd, a third of them the reference
solutions, a third the stubs, a third one reference and one stub. Prints the median seconds and
submissions per second of each installation.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import tempfile
import time
from pathlib import Path

from transformer_kit import catalog

EXERCISES = ("attention", "momentum_sgd")


def make_class(folder: Path, students: int) -> None:
    known = {e.name: e for e in catalog.load()}
    for index in range(students):
        student = folder / f"student-{index:03d}"
        student.mkdir(parents=True)
        for position, name in enumerate(EXERCISES):
            solved = index % 3 == 0 or (index % 3 == 2 and position == 0)
            source = known[name].solution if solved else known[name].stub
            shutil.copyfile(source, student / f"{name}.py")


def run(kit: str, folder: Path, out: Path) -> float:
    started = time.perf_counter()
    done = subprocess.run(
        [kit, "grade", str(folder), "--out", str(out), "-j", "2", "--force"],
        capture_output=True, text=True, env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    if done.returncode != 0:
        raise SystemExit(f"{kit} grade failed: {done.stderr}")
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_kit")
    parser.add_argument("new_kit")
    parser.add_argument("--students", type=int, default=40)
    parser.add_argument("--runs", type=int, default=3)
    options = parser.parse_args()
    kits = {"old": os.path.abspath(options.old_kit), "new": os.path.abspath(options.new_kit)}
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "class"
        make_class(folder, options.students)
        times: dict[str, list[float]] = {name: [] for name in kits}
        for _ in range(options.runs):
            for name, kit in kits.items():
                times[name].append(run(kit, folder, Path(scratch) / f"out-{name}"))
    for name, samples in times.items():
        median = statistics.median(samples)
        print(
            f"{name}: kit grade of {options.students} students  {median:.2f} s "
            f"({min(samples):.2f}-{max(samples):.2f}), {options.students / median:.1f} per second"
        )


if __name__ == "__main__":
    main()
