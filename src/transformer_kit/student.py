"""The `student` handle graders talk to, and what it raises.

Graders call `student.softmax(x)`, read `student.GD_WEIGHTS`, build `student.KVCache(...)` and
call its methods. Two handles implement it:
- `transformer_kit.worker_client.RemoteStudent`: the learner's module lives in a sandboxed worker
  process; only plain data comes back (what `kit check` uses).
- `LocalStudent`: the learner's names live in this process (an nbgrader notebook kernel, where
  the hidden tests run beside the learner's code as nbgrader does).
Both return plain data (numpy arrays, Python scalars, lists, tuples, dicts) or an object handle,
raise `StudentRaised` when the learner's code raises, and fail the test when a call modifies one
of its input arrays. `student.f.peak_memory(*args)` runs the call twice where the learner's code
runs and returns the second call's `MemoryUse` (see `measure_peak`), or raises
`MeasurementUnavailable`, which a grader turns into `pytest.skip` (reported as not graded).
"""

from __future__ import annotations

import ctypes
import gc
import sys
import tracemalloc
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from transformer_kit.compare import Mismatch


class StudentRaised(Exception):
    """The learner's code raised `type_name` (with base classes `type_names`) saying `text`."""

    def __init__(self, call: str, type_names: Sequence[str], text: str, where: str = "") -> None:
        self.call = call
        self.type_names = tuple(type_names)
        self.type_name = self.type_names[0] if self.type_names else "Exception"
        self.text = text
        self.where = where
        super().__init__(self.message)

    @property
    def not_implemented(self) -> bool:
        return "NotImplementedError" in self.type_names

    @property
    def summary(self) -> str:
        if self.not_implemented:
            function = self.call.split("(")[0]
            return f"not implemented yet: {function} raises NotImplementedError"
        if self.type_name == ResultWithoutData.__name__:
            return self.text  # the kit's own words about what came back
        return f"raised {self.type_name}: {self.text}".rstrip(": ")

    def fields(self) -> list[tuple[str, str]]:
        labelled = [("called", self.call), ("where", self.where)]
        return [(label, text) for label, text in labelled if text and not self.not_implemented]

    @property
    def message(self) -> str:
        lines = [self.summary] + [f"{label}: {text}" for label, text in self.fields()]
        return "\n".join(lines)


class ResultWithoutData(TypeError):
    """A result with a shape but no numbers to send back: a torch tensor on the meta device."""


class StudentFailed(Mismatch):
    """The learner's code could not answer: time limit, memory limit, exit, crash."""


class MeasurementUnavailable(Exception):
    """Peak memory cannot be measured here (not Linux, /proc/self/clear_refs refused): a grader
    turns this into `pytest.skip(reason)`, which the kit reports as not graded, 0 points."""


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


def call_text(name: str, args: Sequence[Any], kwargs: Mapping[str, Any]) -> str:
    """`name(array (2, 3), num_heads=2)`: how a call is shown in messages."""
    parts = [_arg_text(a) for a in args] + [f"{k}={_arg_text(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)})"


def _arg_text(value: Any) -> str:
    if isinstance(value, np.ndarray):
        if value.size <= 4:
            with np.printoptions(precision=4, suppress=True):
                return np.array2string(value, separator=", ").replace("\n", "")
        return f"<{value.dtype} array {tuple(value.shape)}>"
    if callable(value) and hasattr(value, "__name__"):
        return value.__name__
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def plain(value: Any) -> Any:
    """A learner's result as plain data: tensors and numpy scalars become numpy/Python values."""
    if isinstance(value, np.ndarray):
        return np.array(value)  # drops subclasses
    if isinstance(value, np.generic):
        return value.item()
    if type(value).__module__.startswith("torch") and hasattr(value, "detach"):
        if getattr(value, "is_meta", False):  # .cpu() would raise NotImplementedError
            raise ResultWithoutData(
                f"the result is a torch tensor with no data, on the meta device (shape "
                f"{tuple(value.shape)}): a meta tensor has a shape but no values; make the "
                "result on the CPU (torch's default device, or device='cpu')"
            )
        return np.array(value.detach().cpu().numpy())
    if isinstance(value, tuple):
        return tuple(plain(v) for v in value)
    if isinstance(value, list):
        return [plain(v) for v in value]
    if isinstance(value, dict):
        return {k: plain(v) for k, v in value.items()}
    return value


Snapshot = list[tuple[str, Any, Any]]  # (name, the argument, a copy of it as it came in)


def snapshot(args: Sequence[Any], kwargs: Mapping[str, Any]) -> Snapshot:
    """Copies of the arguments a call could modify in place: arrays, and the lists, tuples and
    dicts that hold them (optimizer moments, running statistics, params, word counts)."""
    named = [(f"argument {i + 1}", a) for i, a in enumerate(args)] + list(kwargs.items())
    return [(name, value, _copy(value)) for name, value in named if _is_container(value)]


def mutated_arguments(taken: Snapshot) -> list[str]:
    """Names of the arguments whose contents changed since `taken`."""
    return [name for name, value, copy in taken if not _same(copy, value)]


def _is_container(value: Any) -> bool:
    return isinstance(value, (np.ndarray, list, tuple, dict))


def _copy(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy()
    if isinstance(value, list):
        return [_copy(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy(v) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v) for k, v in value.items()}
    return value  # a scalar, or an object of the learner's: compared by identity


def _same(before: Any, now: Any) -> bool:
    if isinstance(before, np.ndarray):
        return (
            isinstance(now, np.ndarray)
            and before.shape == now.shape
            and bool(np.array_equal(before, now, equal_nan=before.dtype.kind in "fc"))
        )
    if isinstance(before, (list, tuple)):
        return (
            type(now) is type(before)
            and len(now) == len(before)
            and all(_same(b, n) for b, n in zip(before, now, strict=True))
        )
    if isinstance(before, dict):
        return (
            isinstance(now, dict)
            and list(now) == list(before)
            and all(_same(before[k], now[k]) for k in before)
        )
    if before is now:
        return True
    try:
        return type(before) is type(now) and bool(before == now)
    except Exception:  # an element replaced by something that compares oddly
        return False


def mutation_failure(call: str, names: Sequence[str]) -> StudentFailed:
    return StudentFailed(
        f"{call} modified its input {', '.join(names)} in place",
        call=call,
        diagnosis="an in-place operation (`x -= ...`, `x[...] = ...`, `out=x`, `d[key] = ...`) "
        "on an input array, or on a list or dict of them: compute a new array "
        "(`y = x - ...`) and return new lists and dicts, or work on a copy",
    )


def failure_text(error: BaseException) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A failed test's summary and labelled fields, from whatever it raised (pytest's skip is
    the plugin's)."""
    if isinstance(error, (Mismatch, StudentRaised)):
        return error.summary, tuple(error.fields())
    if isinstance(error, AssertionError):
        return str(error) or "a check failed", ()
    return f"the grader failed: {type(error).__name__}: {error}", (
        ("", "this is a bug in the kit, not in your code: please report it"),
    )


class LocalStudent:
    """The handle over names in this process (a module or a notebook's namespace)."""

    def __init__(self, namespace: Mapping[str, Any] | Any, label: str = "your code") -> None:
        self._namespace = namespace if isinstance(namespace, Mapping) else vars(namespace)
        self._label = label

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self._namespace:
            raise StudentFailed(f"{self._label} does not define `{name}`", call=name)
        value = self._namespace[name]
        return _LocalCallable(name, value) if callable(value) else plain(value)


class _LocalCallable:
    def __init__(self, name: str, target: Any) -> None:
        self._name = name
        self._target = target

    def peak_memory(self, *args: Any, **kwargs: Any) -> MemoryUse:
        """The peak memory of one call (after a warm-up call), measured in this process."""
        call = call_text(self._name, args, kwargs)
        taken = snapshot(args, kwargs)
        unwrapped = [_unwrap(a) for a in args]
        try:
            use = measure_peak(self._target, unwrapped, {k: _unwrap(v) for k, v in kwargs.items()})
        except MeasurementUnavailable:
            raise
        except Exception as error:
            names = [cls.__name__ for cls in type(error).__mro__]
            raise StudentRaised(call, names, str(error)) from None
        changed = mutated_arguments(taken)
        if changed:
            raise mutation_failure(call, changed)
        return use

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = call_text(self._name, args, kwargs)
        taken = snapshot(args, kwargs)
        try:
            result = self._target(
                *[_unwrap(a) for a in args], **{k: _unwrap(v) for k, v in kwargs.items()}
            )
        except Exception as error:
            names = [cls.__name__ for cls in type(error).__mro__]
            raise StudentRaised(call, names, str(error)) from None
        changed = mutated_arguments(taken)
        if changed:
            raise mutation_failure(call, changed)
        if callable(result) or not _is_plain(plain(result)):
            return _LocalObject(result, call)
        return plain(result)


class _LocalObject:
    """An object the learner's code made (a KVCache): attributes and methods through the handle."""

    def __init__(self, target: Any, origin: str) -> None:
        self._target = target
        self._origin = origin

    def __repr__(self) -> str:
        return f"<your {type(self._target).__name__}>"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        try:
            value = getattr(self._target, name)
        except Exception as error:
            names = [cls.__name__ for cls in type(error).__mro__]
            raise StudentRaised(f"{self._origin}.{name}", names, str(error)) from None
        return _LocalCallable(name, value) if callable(value) else plain(value)

    def __len__(self) -> int:
        return _LocalCallable("len", len)(self._target)


def _unwrap(value: Any) -> Any:
    return value._target if isinstance(value, _LocalObject) else value


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False
