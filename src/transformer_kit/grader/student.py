"""The `student` handle graders talk to, and what it raises.

Graders call `student.softmax(x)`, read `student.GD_WEIGHTS`, build `student.KVCache(...)` and
call its methods. Two handles implement it:
- `transformer_kit.sandbox.remote.RemoteStudent`: the learner's module lives in a sandboxed worker
  process; only plain data comes back (what `kit check` uses).
- `LocalStudent`: the learner's names live in this process (an nbgrader notebook kernel, where
  the hidden tests run beside the learner's code as nbgrader does).
Both return plain data (numpy arrays, Python scalars, lists, tuples, dicts) or an object handle,
raise `StudentRaised` when the learner's code raises, and fail the test when a call modifies one
of its inputs (in a worker, input arrays are read-only: a write fails as numpy's own error).
`student.f.peak_memory(warm_up, measured)` (two `Call`s with different inputs) runs the warm-up,
then measures the second call's peak memory and returns it with that call's result as a
`MemoryUse` (in a worker, from the grading process: see sandbox/meter.py), or raises
`MeasurementUnavailable`, which a grader turns into `pytest.skip` (reported as not graded).
"""

from __future__ import annotations

import inspect
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np

from transformer_kit.grader.failures import (
    MeasurementUnavailable,
    ResultWithoutData,
    StudentFailed,
    StudentRaised,
)
from transformer_kit.grader.memory import Call, MemoryUse, measure_peak


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
        return str(value.__name__)
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


def snapshot(
    args: Sequence[Any], kwargs: Mapping[str, Any], arrays: bool = True, target: Any = None
) -> Snapshot:
    """Copies of the arguments a call could modify in place: arrays, and the lists, tuples and
    dicts that hold them (optimizer moments, running statistics, params, word counts), named as
    `target`'s signature names them (else "argument 2"). With `arrays=False` (a worker's
    arguments, whose arrays are sealed read-only) arrays are kept, not copied: only their
    replacement inside a list or dict is looked for."""
    names = parameter_names(target, len(args))
    named = list(zip(names, args, strict=True)) + list(kwargs.items())
    return [(name, value, _copy(value, arrays)) for name, value in named if _is_container(value)]


def parameter_names(target: Any, count: int) -> list[str]:
    """The names of `target`'s first `count` positional parameters ("argument 3" where its
    signature cannot say)."""
    try:
        parameters = list(inspect.signature(target).parameters.values())
    except (TypeError, ValueError):
        parameters = []
    positional = [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    ]
    return [positional[i] if i < len(positional) else f"argument {i + 1}" for i in range(count)]


def mutated_arguments(taken: Snapshot) -> list[str]:
    """Names of the arguments whose contents changed since `taken`."""
    return [name for name, value, copy in taken if not _same(copy, value)]


def _is_container(value: Any) -> bool:
    return isinstance(value, (np.ndarray, list, tuple, dict))


def _copy(value: Any, arrays: bool) -> Any:
    if isinstance(value, np.ndarray):
        return value.copy() if arrays else value
    if isinstance(value, list):
        return [_copy(v, arrays) for v in value]
    if isinstance(value, tuple):
        return tuple(_copy(v, arrays) for v in value)
    if isinstance(value, dict):
        return {k: _copy(v, arrays) for k, v in value.items()}
    return value  # a scalar, or an object of the learner's: compared by identity


def _same(before: Any, now: Any) -> bool:
    if before is now and isinstance(before, np.ndarray) and not before.flags.writeable:
        return True  # a sealed argument, still in its place
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


def require_fresh_inputs(warm_up: Call, measured: Call) -> None:
    """A grader's mistake refused: a measured call on its warm-up's inputs, which a result
    remembered from the warm-up would pass."""
    if _same(warm_up.args, measured.args) and _same(warm_up.kwargs, measured.kwargs):
        raise ValueError(
            "peak_memory(warm_up, measured): both calls have the same inputs; give the measured "
            "call fresh ones, or a result remembered from the warm-up passes"
        )


def mutation_failure(call: str, names: Sequence[str], where: str = "") -> StudentFailed:
    named = ", ".join(name if name.startswith("argument ") else f"`{name}`" for name in names)
    return StudentFailed(
        f"{call.split('(')[0]} modified its input {named or 'array'} in place",
        call=call,
        details=[where] if where else [],
        diagnosis="an in-place operation (`x -= ...`, `x[...] = ...`, `out=x`, `d[key] = ...`) "
        "on an input array, or on a list or dict of them: compute a new array "
        "(`y = x - ...`) and return new lists and dicts, or work on a copy",
    )


@dataclass
class Recorded:
    """One call through a LocalStudent: its inputs as they came in (copies), and its result."""

    name: str
    call: str  # as messages show it (call_text)
    args: tuple[Any, ...]
    kwargs: dict[str, Any]
    on_object: bool  # a method of an object the code made, not a module-level name
    result: Any = None


class LocalStudent:
    """The handle over names in this process (a module or a notebook's namespace); `calls`, if
    given, receives a `Recorded` for every call made through it."""

    def __init__(
        self,
        namespace: Mapping[str, Any] | Any,
        label: str = "your code",
        calls: list[Recorded] | None = None,
    ) -> None:
        self._namespace = namespace if isinstance(namespace, Mapping) else vars(namespace)
        self._label = label
        self._calls = calls

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        if name not in self._namespace:
            raise StudentFailed(f"{self._label} does not define `{name}`", call=name)
        value = self._namespace[name]
        return _LocalCallable(name, value, self._calls) if callable(value) else plain(value)


class _LocalCallable:
    def __init__(
        self, name: str, target: Any, calls: list[Recorded] | None = None, method: bool = False
    ) -> None:
        self._name = name
        self._target = target
        self._calls = calls
        self._method = method

    def peak_memory(self, warm_up: Call, measured: Call) -> MemoryUse:
        """The peak memory of the `measured` call (after the `warm_up` one) and its result,
        measured in this process."""
        require_fresh_inputs(warm_up, measured)
        call = call_text(self._name, measured.args, measured.kwargs)
        calls = [warm_up, measured]
        taken = [snapshot(c.args, c.kwargs, target=self._target) for c in calls]
        unwrapped = [
            Call(*[_unwrap(a) for a in c.args], **{k: _unwrap(v) for k, v in c.kwargs.items()})
            for c in calls
        ]
        try:
            use = measure_peak(self._target, *unwrapped)
        except MeasurementUnavailable:
            raise
        except Exception as error:
            names = [cls.__name__ for cls in type(error).__mro__]
            raise StudentRaised(call, names, str(error)) from None
        changed = [name for t in taken for name in mutated_arguments(t)]
        if changed:
            raise mutation_failure(call, changed)
        return replace(use, result=plain(use.result))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        call = call_text(self._name, args, kwargs)
        taken = snapshot(args, kwargs, target=self._target)
        if self._calls is not None:
            copies = (_copy(list(args), True), _copy(dict(kwargs), True))
            self._calls.append(
                Recorded(self._name, call, tuple(copies[0]), copies[1], self._method)
            )
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
        if self._calls is not None:
            self._calls[-1].result = result
        return _handled(plain(result), call, self._calls)


class _LocalObject:
    """An object the learner's code made (a KVCache): attributes and methods through the handle."""

    def __init__(self, target: Any, origin: str, calls: list[Recorded] | None = None) -> None:
        self._target = target
        self._origin = origin
        self._calls = calls

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
        if callable(value):
            return _LocalCallable(name, value, self._calls, method=True)
        return plain(value)

    def __len__(self) -> int:
        return int(_LocalCallable("len", len)(self._target))


def _unwrap(value: Any) -> Any:
    return value._target if isinstance(value, _LocalObject) else value


def _handled(value: Any, origin: str, calls: list[Recorded] | None = None) -> Any:
    """A result as a worker sends it: plain data as it is, and each object of the learner's, also
    inside a tuple, list or dict (a model and its data loaders), as a handle."""
    if isinstance(value, tuple):
        return tuple(_handled(v, origin, calls) for v in value)
    if isinstance(value, list):
        return [_handled(v, origin, calls) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {k: _handled(v, origin, calls) for k, v in value.items()}
    if callable(value) or not _is_plain(value):
        return _LocalObject(value, origin, calls)
    return value


def _is_plain(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str, np.ndarray)):
        return True
    if isinstance(value, (list, tuple)):
        return all(_is_plain(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and _is_plain(v) for k, v in value.items())
    return False
