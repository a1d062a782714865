"""How much memory one call of the learner's function takes: what a reading holds (`MemoryUse`),
the two calls a measurement makes (`Call`), and the in-process measurement of the nbgrader path
(`measure_peak`). `kit check` measures a worker from the grading process (sandbox/meter.py)."""

from __future__ import annotations

import ctypes
import gc
import sys
import tracemalloc
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transformer_kit.grader.failures import MeasurementUnavailable


class Call:
    """The arguments of one call: `Call(q, k, v, block_size=128)`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


@dataclass(frozen=True)
class MemoryUse:
    """What the measured call of the learner's function took above what was held before it.

    traced_bytes: tracemalloc's peak (Python objects and numpy arrays; 0 where measured from
    outside the process); resident_bytes: the rise of the kernel's high-water mark (any
    allocation: torch, BLAS, C extensions). peak_bytes is the larger of the two. result: the
    measured call's result, as plain data, for the grader to check; source: where the reading
    comes from, for messages.
    """

    peak_bytes: int
    traced_bytes: int
    resident_bytes: int
    result: Any = None
    source: str = "this process"

    @property
    def peak_mib(self) -> float:
        return self.peak_bytes / 2**20


M_MMAP_THRESHOLD = -3  # mallopt's parameter number (glibc malloc.h)
MMAP_THRESHOLD = 128 * 1024  # blocks this large get their own mapping, unmapped when freed


def _proc_status_kib(field: str) -> int:
    with open("/proc/self/status", encoding="ascii") as stream:
        for line in stream:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise MeasurementUnavailable(f"/proc/self/status has no {field}")


def _reset_high_water_mark() -> None:
    """Write "5" to /proc/self/clear_refs: VmHWM becomes the current VmRSS (Linux >= 4.0)."""
    try:
        with open("/proc/self/clear_refs", "w", encoding="ascii") as stream:
            stream.write("5")
    except OSError as error:
        raise MeasurementUnavailable(
            f"the resident high-water mark cannot be reset (/proc/self/clear_refs: "
            f"{error.strerror or error})"
        ) from None


def fix_mmap_threshold() -> None:
    """Pin malloc's mmap threshold. glibc raises it by itself each time a large mapped block is
    freed (up to 32 MiB), after which a repeated large allocation is served from the heap and a
    second full-matrix call raises no high-water mark at all; a fixed threshold keeps large
    blocks in their own mappings, returned to the system when freed."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):  # not glibc: the resident reading may be lower, no error
        pass


def measure_peak(function: Callable[..., Any], warm_up: Call, measured: Call) -> MemoryUse:
    """Call `function` on `warm_up`, then measure its peak memory on `measured` (other inputs,
    so a result remembered from the warm-up does not help), in this process.

    The first call warms up (imports, caches, torch's lazy initialisation). Before the second,
    garbage is collected, the resident high-water mark is reset and tracemalloc is started, so
    the reading covers that call only. Raises MeasurementUnavailable where Linux's /proc is not
    there, and whatever the learner's function raises. Code in this process can forge it: the
    nbgrader path, where the learner's code runs beside the tests as nbgrader does.
    """
    if not sys.platform.startswith("linux"):
        raise MeasurementUnavailable(f"peak memory is measured on Linux only, not {sys.platform}")
    fix_mmap_threshold()
    function(*warm_up.args, **warm_up.kwargs)
    gc.collect()
    _reset_high_water_mark()
    before = _proc_status_kib("VmRSS")
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    start, _ = tracemalloc.get_traced_memory()
    try:
        result = function(*measured.args, **measured.kwargs)
        _, peak = tracemalloc.get_traced_memory()
        high = _proc_status_kib("VmHWM")
    finally:
        if not tracing:
            tracemalloc.stop()
    traced = max(0, peak - start)
    resident = max(0, high - before) * 1024
    return MemoryUse(max(traced, resident), traced, resident, result)
