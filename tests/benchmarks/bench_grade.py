"""Benchmark: grading a class of 100 submissions of attention and momentum_sgd (references,
catalogue wrong versions and stubs) with `kit grade -j 2` and `-j 1`, against (a) a shell loop of
`kit check --json` and (b) `nbgrader autograde` of the same code as notebooks made with
`kit nbgrader export` (nbgrader runs them unsandboxed). Runs are interleaved; prints medians,
submissions per second, the ratios, and each run's peak resident memory (all its processes).

    python tests/benchmarks/bench_grade.py [--students 100] [--runs 3] [--nbgrader-runs 1]

Run from the repository, with the test and classroom extras installed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

TESTS = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(TESTS))

from click.testing import CliRunner  # noqa: E402
from support import EXERCISES, kit_executable, solution_source  # noqa: E402
from test_grade import _variants  # noqa: E402
from test_nbgrader_export import spread  # noqa: E402
from test_nbgrader_roundtrip import environment, with_solutions  # noqa: E402

from transformer_kit.cli.nbgrader import nbgrader  # noqa: E402

NAMES = ("attention", "momentum_sgd")
ASSIGNMENT = "ps1"
BY_NAME = {e.name: e for e in EXERCISES}


def class_sources(students: int) -> dict[str, dict[str, str]]:
    """student -> exercise -> source: half references, a third catalogue wrong, the rest stubs."""
    wrong = {name: [v for v in _variants(name, passes=False) if "torch" not in v.code]
             for name in NAMES}  # fmt: skip
    made = {}
    for number in range(students):
        files = {}
        for offset, name in enumerate(NAMES):
            kind = (number + offset) % 6
            if kind < 3:
                files[name] = solution_source(name)
            elif kind < 5:
                variant = wrong[name][(number // 6) % len(wrong[name])]
                files[name] = variant.source(solution_source(name))
            else:
                files[name] = BY_NAME[name].stub.read_text(encoding="utf-8")
        made[f"student-{number:03d}"] = files
    return made


def lay_out(folder: Path, sources: dict[str, dict[str, str]]) -> None:
    for student, files in sources.items():
        (folder / student / "exercises").mkdir(parents=True)
        for name, text in files.items():
            (folder / student / "exercises" / f"{name}.py").write_text(text, encoding="utf-8")


def course(root: Path, sources: dict[str, dict[str, str]], env: dict[str, str]) -> Path:
    """An nbgrader course with every student's code in the released notebooks."""
    folder = root / "course"
    subprocess.run([sys.executable, "-m", "ipykernel", "install", "--user", "--name", "python3"],
                   env=env, check=True, capture_output=True)  # fmt: skip
    exported = CliRunner().invoke(nbgrader, ["export", str(folder), *NAMES, "--assignment",
                                             ASSIGNMENT])  # fmt: skip
    assert exported.exit_code == 0, exported.output
    subprocess.run([sys.executable, "-m", "nbgrader", "generate_assignment", ASSIGNMENT],
                   cwd=folder, env=env, check=True, capture_output=True)  # fmt: skip
    for name in NAMES:
        file = f"{ASSIGNMENT}/{name}.ipynb"
        release = json.loads((folder / "release" / file).read_text("utf-8"))
        for student, files in sources.items():
            notebook = with_solutions(release, spread(files[name], release, name))
            target = folder / "submitted" / student / file
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(json.dumps(notebook), encoding="utf-8")
    return folder


def tree_resident_bytes(root: int) -> int:
    """The resident memory of `root` and every process under it."""
    parents, sizes = {}, {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                stat = Path(f"/proc/{entry.name}/stat").read_text()
                pages = int(Path(f"/proc/{entry.name}/statm").read_text().split()[1])
            except (OSError, ValueError, IndexError):
                continue
            parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            sizes[int(entry.name)] = pages * os.sysconf("SC_PAGE_SIZE")
    tree, frontier = {root}, {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - tree
        tree |= frontier
    return sum(sizes.get(pid, 0) for pid in tree)


def measured(command: list[str], cwd: Path, env: dict[str, str]) -> tuple[float, int]:
    """Wall seconds and peak resident bytes (the whole process tree, sampled every 50 ms)."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=cwd, env=env, stdout=subprocess.DEVNULL,
                               stderr=subprocess.PIPE)  # fmt: skip
    peak = [0]

    def sample() -> None:
        while process.poll() is None:
            peak[0] = max(peak[0], tree_resident_bytes(process.pid))
            time.sleep(0.05)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _, stderr = process.communicate()
    seconds = time.perf_counter() - started
    sampler.join()
    if process.returncode not in (0, 1):
        raise SystemExit(f"{command[:3]} failed ({process.returncode}):\n{stderr.decode()[-2000:]}")
    return seconds, peak[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--students", type=int, default=100)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--nbgrader-runs", type=int, default=1)
    options = parser.parse_args()
    kit = kit_executable()
    with tempfile.TemporaryDirectory() as folder:
        root = Path(folder)
        sources = class_sources(options.students)
        lay_out(root / "class", sources)
        env = {**environment(root), "KIT_ISOLATION": "full"}
        nbgrader_course = course(root, sources, env)
        loop = (f"for d in {root / 'class'}/*; do {kit} --workspace \"$d\" check "
                f"{' '.join(NAMES)} --json > /dev/null; done")  # fmt: skip
        commands = {
            "kit grade -j 2": [kit, "grade", str(root / "class"), "--force", "--out",
                               str(root / "out2"), "-j", "2"],
            "kit grade -j 1": [kit, "grade", str(root / "class"), "--force", "--out",
                               str(root / "out1"), "-j", "1"],
            "shell loop of kit check --json": ["bash", "-c", loop],
            "nbgrader autograde": [sys.executable, "-m", "nbgrader", "autograde", ASSIGNMENT,
                                   "--force"],
        }  # fmt: skip
        cwd = {name: root for name in commands} | {"nbgrader autograde": nbgrader_course}
        times: dict[str, list[float]] = {name: [] for name in commands}
        peaks: dict[str, list[int]] = {name: [] for name in commands}
        for run in range(options.runs):
            for name, command in commands.items():
                if name == "nbgrader autograde" and run >= options.nbgrader_runs:
                    continue
                seconds, peak = measured(command, cwd[name], env)
                times[name].append(seconds)
                peaks[name].append(peak)
                print(f"  run {run + 1}: {name}: {seconds:.1f} s", file=sys.stderr)
    machine = platform.processor() or platform.machine()
    print(f"{options.students} submissions of {', '.join(NAMES)}; {machine}, "
          f"{os.cpu_count()} CPUs, Python {platform.python_version()}")  # fmt: skip
    rate = {name: options.students / statistics.median(samples) for name, samples in times.items()}
    for name, samples in times.items():
        print(f"  {name:32} {statistics.median(samples):7.1f} s (runs: "
              f"{', '.join(f'{s:.1f}' for s in samples)})  {rate[name]:6.2f} submissions/s  "
              f"peak {max(peaks[name]) / 1024**2:,.0f} MiB")  # fmt: skip
    grade = rate["kit grade -j 2"]
    for baseline in ("nbgrader autograde", "shell loop of kit check --json", "kit grade -j 1"):
        print(f"  kit grade -j 2 / {baseline}: {grade / rate[baseline]:.2f} x")


if __name__ == "__main__":
    main()
