"""Benchmark: from saving a correct attention to the redrawn report under `kit watch`, for a
solution with numpy only and one that uses torch, against another version of the kit.

    python tests/benchmarks/bench_watch.py [--runs 7] [--poll] [--baseline SOURCE_TREE]

Runs each watcher as a subprocess on a fresh workspace (NO_COLOR, output read unbuffered from a
pipe). Each run saves a failing version (the stub; for torch, the torch solution without its
1/sqrt(d_k)), waits for that report and for the watcher's processes to be idle (as while a
learner edits: a worker started ahead has finished its imports), then saves the correct version
the way an editor does (a temporary file, then os.replace) and measures until the report that
says "attention passed" has been written in full. With --baseline (a source tree of the kit,
e.g. `git archive main | tar -x -C /tmp/kit-main`), that version's watcher runs too, on the
same Python, interleaved run by run. Prints medians, min and max, the part spent noticing the
save, and the machine.
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
from dataclasses import dataclass
from pathlib import Path

from bench_check import machine  # same folder: the script's own

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/: the catalogue
from catalogue.attention import RIGHT

from transformer_kit import catalog as meta

KIT = shutil.which("kit", path=os.path.dirname(sys.executable)) or "kit"
END_OF_FRAME = "save to re-check"  # the status line, the last line of every redrawn report
NOTICED = "checking attention"  # printed as soon as a save is noticed, before grading
TIMEOUT = 60.0  # seconds to wait for any one line before giving up
IDLE_CPU = 0.02  # CPU seconds the watcher's processes may use in IDLE_OVER and count as idle
IDLE_OVER = 0.5
TICKS = os.sysconf("SC_CLK_TCK")
TARGETS = {"numpy": 0.3, "torch": 0.5}  # seconds: the median redraw to aim for
TORCH_SCALE = "/ q.shape[-1] ** 0.5"


@dataclass(frozen=True)
class Kit:
    label: str
    command: list[str]  # up to the `kit` arguments
    env: dict[str, str]


def scenarios() -> dict[str, tuple[bytes, bytes]]:
    """Per scenario: the failing version saved first, and the correct one, whose redraw counts."""
    (attention,) = meta.resolve(["attention"], meta.load())
    solution = attention.solution.read_text(encoding="utf-8")
    torch = next(v for v in RIGHT if v.name == "torch inside, returning tensors").source(solution)
    assert TORCH_SCALE in torch
    return {
        "numpy": (attention.stub.read_bytes(), solution.encode()),
        "torch": (torch.replace(TORCH_SCALE, "").encode(), torch.encode()),
    }


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


def tree_cpu(root: int) -> float:
    """CPU seconds used so far by the live processes descended from `root`, itself included."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stream:
                    fields = stream.read().decode().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            parents[int(entry.name)] = int(fields[1])
            used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / TICKS
    tree, frontier = {root}, {root}
    while frontier:
        frontier = {pid for pid, parent in parents.items() if parent in frontier} - tree
        tree |= frontier
    return sum(used.get(pid, 0.0) for pid in tree)


def wait_until_idle(pid: int) -> None:
    """Until the watcher and its workers have used almost no CPU for IDLE_OVER seconds."""
    before = tree_cpu(pid)
    while True:
        time.sleep(IDLE_OVER)
        now = tree_cpu(pid)
        if now - before < IDLE_CPU:
            return
        before = now


class Watcher:
    """One `kit watch attention` on its own workspace."""

    def __init__(self, kit: Kit, failing: bytes, correct: bytes, poll: bool) -> None:
        self.failing, self.correct = failing, correct
        self.folder = tempfile.TemporaryDirectory()
        workspace = Path(self.folder.name)
        self.target = workspace / "exercises" / "attention.py"
        self.target.parent.mkdir()
        self.target.write_bytes(failing)
        arguments = ["--workspace", str(workspace), "watch", "attention"]
        environment = {**os.environ, **kit.env, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
        self.process = subprocess.Popen(
            [*kit.command, *arguments, *(["--poll"] if poll else [])],
            stdout=subprocess.PIPE,
            env=environment,
        )
        self.output = Output(self.process)
        self.output.frame()  # the first check, which also imports pytest and numpy

    def run(self) -> tuple[float, float]:
        """One save of the correct version: seconds to the redrawn report, and to noticing."""
        save(self.target, self.failing)
        report, _, _ = self.output.frame()
        assert "attention failed" in report, report
        wait_until_idle(self.process.pid)
        saved = save(self.target, self.correct)
        report, noticed, drawn = self.output.frame()
        assert "attention passed" in report, report
        wait_until_idle(self.process.pid)
        return drawn - saved, noticed - saved

    def close(self) -> None:
        self.process.send_signal(signal.SIGINT)
        self.process.wait(timeout=TIMEOUT)
        self.folder.cleanup()


def kits(baseline: str | None) -> list[Kit]:
    found = [Kit("this kit", [KIT], {})]
    if baseline is not None:
        source = Path(baseline).resolve()
        if not (source / "src" / "transformer_kit").is_dir():
            raise SystemExit(f"{source} holds no src/transformer_kit: give a source tree")
        command = [sys.executable, "-c", "from transformer_kit.cli import main; main()"]
        env = {"PYTHONPATH": str(source / "src"), "PYTHONDONTWRITEBYTECODE": "1"}
        found.append(Kit(f"baseline {source}", command, env))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--poll", action="store_true", help="force the polling backend")
    parser.add_argument("--baseline", metavar="SOURCE_TREE", help="another kit's source tree")
    arguments = parser.parse_args()
    chosen = kits(arguments.baseline)
    watchers = {
        (kit.label, name): Watcher(kit, failing, correct, arguments.poll)
        for kit in chosen
        for name, (failing, correct) in scenarios().items()
    }
    totals: dict[tuple[str, str], list[float]] = {key: [] for key in watchers}
    noticing: dict[tuple[str, str], list[float]] = {key: [] for key in watchers}
    try:
        for _ in range(arguments.runs):
            for key, watcher in watchers.items():
                total, noticed = watcher.run()
                totals[key].append(total)
                noticing[key].append(noticed)
    finally:
        for watcher in watchers.values():
            watcher.close()
    print(f"machine: {machine()}")
    print(f"watcher: kit watch attention{' --poll' if arguments.poll else ''}")
    print(f"runs: {arguments.runs} each, interleaved; seconds from os.replace of the solution:")
    for (label, name), samples in totals.items():
        noticed = statistics.median(noticing[label, name])
        print(
            f"  {label}, {name} (target {TARGETS[name]:g}): redrawn: median "
            f"{statistics.median(samples):.3f} (min {min(samples):.3f}, max {max(samples):.3f});"
            f" noticed: median {noticed:.3f}"
        )


if __name__ == "__main__":
    main()
