"""The peak memory of a call in a worker, read by the grading process from the kernel: nothing the
worker says about itself is used (its code is the learner's to replace).

- `CgroupMeter`: the worker's cgroup (`worker.cgroup`, where sandbox.process made one): the
  kernel's peak of everything the worker's processes hold (children and shared memory too).
  Nothing in the worker can lower it: resetting the peak needs the cgroup's files, which the
  sandbox does not show.
- `ProcMeter`, where there is no cgroup: the resident high-water mark (VmHWM) of the worker's
  Python process in /proc/<pid>/status, reset by this process through /proc/<pid>/clear_refs.
  It does not see the worker's children, and the worker may reset its own mark (writing
  /proc/self/clear_refs), so a reading may be too low but never too high.

The window opens before the measured call's inputs are sent and closes when its result has
arrived: no moment between the worker holding the inputs and the reading is left out.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

from transformer_kit.grader.failures import MeasurementUnavailable
from transformer_kit.sandbox import isolation
from transformer_kit.sandbox.process import Worker


class Meter(Protocol):
    source: str

    def start(self) -> None: ...

    def rise(self) -> int: ...


class CgroupMeter:
    """The worker's cgroup's peak above its usage when `start`ed."""

    source = "the kernel's accounting of the worker's cgroup"

    def __init__(self, cgroup: Any) -> None:
        self.cgroup = cgroup
        self.base = 0

    def start(self) -> None:
        self.cgroup.reset_memory_peak()
        self.base = int(self.cgroup.memory_peak_bytes())

    def rise(self) -> int:
        return max(0, int(self.cgroup.memory_peak_bytes()) - self.base)


class ProcMeter:
    """The worker process's resident high-water mark above its resident size when `start`ed."""

    source = "the worker's /proc/<pid>/status, read by the grading process (no cgroup here)"

    def __init__(self, pid: int) -> None:
        self.proc = Path(f"/proc/{pid}")
        self.base = 0

    def start(self) -> None:
        try:
            (self.proc / "clear_refs").write_text("5", encoding="ascii")  # VmHWM := VmRSS
        except OSError as error:
            raise MeasurementUnavailable(
                f"the worker's resident high-water mark cannot be reset ({self.proc}/clear_refs: "
                f"{error.strerror or error})"
            ) from None
        self.base = self._kib("VmRSS")

    def rise(self) -> int:
        return max(0, self._kib("VmHWM") - self.base) * 1024

    def _kib(self, field: str) -> int:
        try:
            for line in (self.proc / "status").read_text(encoding="ascii").splitlines():
                if line.startswith(field + ":"):
                    return int(line.split()[1])
        except (OSError, ValueError):
            pass
        raise MeasurementUnavailable(f"{self.proc}/status has no {field}")


def meter(worker: Worker, level: isolation.Level) -> Meter:
    """The best measurement of `worker` this machine offers (see the module's docstring)."""
    cgroup = getattr(worker, "cgroup", None)
    if cgroup is not None:
        return CgroupMeter(cgroup)
    pid = worker.process.pid
    for _ in range(level.layers):
        pid = _first_child(pid)
    return ProcMeter(pid)


def _first_child(pid: int) -> int:
    """The oldest child of `pid` (bwrap's next layer, or the worker: the learner's daemons that
    were reparented to bwrap are younger)."""
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text(encoding="ascii").split()
    except OSError:
        children = []
    if not children:
        raise MeasurementUnavailable(f"the worker's process under {pid} is not to be found")
    return min(int(child) for child in children)
