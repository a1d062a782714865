"""Benchmark: `kit check attention` of two installations of the kit, interleaved, next to the
floor `python -c "import numpy"` (for "must not get slower": an old commit against this one), and
the start of the CLI alone (`kit --help`) of both.

    python tests/benchmarks/bench_versions.py OLD_KIT NEW_KIT [--runs 25]

OLD_KIT and NEW_KIT are `kit` executables (e.g. the venvs of two git worktrees). NEW_KIT is also
run with KIT_ISOLATION=basic. Prints medians, min and max, and the ratio to the floor.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from transformer_kit import catalog as meta


def wall(command: list[str], cwd: Path, env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, cwd=cwd, env={**os.environ, **env}, capture_output=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("old_kit")
    parser.add_argument("new_kit")
    parser.add_argument("--runs", type=int, default=25)
    options = parser.parse_args()
    options.old_kit, options.new_kit = map(os.path.abspath, (options.old_kit, options.new_kit))
    commands: dict[str, tuple[list[str], dict[str, str]]] = {
        'python -c "import numpy"': ([sys.executable, "-c", "import numpy"], {}),
        "old: kit check attention": ([options.old_kit, "check", "attention"], {}),
        "new: kit check attention": ([options.new_kit, "check", "attention"], {}),
        "new, basic isolation": ([options.new_kit, "check", "attention"],
                                 {"KIT_ISOLATION": "basic"}),
        "old: kit --help": ([options.old_kit, "--help"], {}),  # the CLI's start alone
        "new: kit --help": ([options.new_kit, "--help"], {}),
    }  # fmt: skip
    with tempfile.TemporaryDirectory() as folder:
        workspace = Path(folder)
        (workspace / "exercises").mkdir()
        solution = next(e for e in meta.load() if e.name == "attention").solution
        shutil.copyfile(solution, workspace / "exercises" / "attention.py")
        for command, env in commands.values():  # warm the file cache once
            wall(command, workspace, env)
        times: dict[str, list[float]] = {name: [] for name in commands}
        for _ in range(options.runs):
            for name, (command, env) in commands.items():
                times[name].append(wall(command, workspace, env))
    floor = statistics.median(times['python -c "import numpy"'])
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"  {name:28} {median:.3f} ({min(samples):.3f}-{max(samples):.3f})"
              f"  = {median / floor:.1f} x the numpy floor")  # fmt: skip


if __name__ == "__main__":
    main()
