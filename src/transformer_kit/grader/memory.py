"""How much memory one call of the learner's function takes, measured in the process where it
runs (a worker, or a notebook's kernel)."""

from __future__ import annotations

import ctypes
import gc
import sys
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from transformer_kit.grader.failures import MeasurementUnavailable


@dataclass(frozen=True)
class MemoryUse:
    """What one call of the learner's function took above what the process held before it.

    traced_bytes: tracemalloc's peak (Python objects and numpy arrays, which numpy reports to
    tracemalloc); resident_bytes: the rise of the resident high-water mark, VmHWM, above the
    resident size before the call (any allocation: torch, BLAS, C extensions).
    peak_bytes is the larger of the two.
    """

    peak_bytes: int
    traced_bytes: int
    resident_bytes: int

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


def _fix_mmap_threshold() -> None:
    """Pin malloc's mmap threshold. glibc raises it by itself each time a large mapped block is
    freed (up to 32 MiB), after which a repeated large allocation is served from the heap and a
    second full-matrix call raises no high-water mark at all; a fixed threshold keeps large
    blocks in their own mappings, returned to the system when freed."""
    try:
        libc = ctypes.CDLL(None)
        libc.mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)
    except (OSError, AttributeError):  # not glibc: the resident reading may be lower, no error
        pass


def measure_peak(
    function: Callable[..., Any], args: Sequence[Any], kwargs: Mapping[str, Any]
) -> MemoryUse:
    """Call `function(*args, **kwargs)` twice and measure the second call's peak memory.

    The first call warms up (imports, caches, torch's lazy initialisation). Before the second,
    garbage is collected, the resident high-water mark is reset and tracemalloc is started, so
    the reading covers that call only: the arguments (already decoded) and the encoding of the
    result do not count. Raises MeasurementUnavailable where Linux's /proc is not there, and
    whatever the learner's function raises.
    """
    if not sys.platform.startswith("linux"):
        raise MeasurementUnavailable(f"peak memory is measured on Linux only, not {sys.platform}")
    _fix_mmap_threshold()
    result = function(*args, **kwargs)  # warm-up
    del result
    gc.collect()
    _reset_high_water_mark()
    before = _proc_status_kib("VmRSS")
    tracing = tracemalloc.is_tracing()
    if not tracing:
        tracemalloc.start()
    tracemalloc.reset_peak()
    start, _ = tracemalloc.get_traced_memory()
    try:
        result = function(*args, **kwargs)
        _, peak = tracemalloc.get_traced_memory()
        high = _proc_status_kib("VmHWM")
    finally:
        if not tracing:
            tracemalloc.stop()
    del result
    traced = max(0, peak - start)
    resident = max(0, high - before) * 1024
    return MemoryUse(max(traced, resident), traced, resident)
