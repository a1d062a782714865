"""`RemoteStudent`: the `student` handle of `kit check`, its names living in a sandboxed worker
(`Sandboxed`, client.py): functions, objects (a KVCache) and their methods, called with plain data.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from transformer_kit.grader.failures import StudentFailed, StudentRaised
from transformer_kit.grader.memory import Call, MemoryUse
from transformer_kit.grader.student import call_text, require_fresh_inputs
from transformer_kit.sandbox import values
from transformer_kit.sandbox.meter import meter

if TYPE_CHECKING:
    from transformer_kit.sandbox.client import Sandboxed


class RemoteStudent:
    """`student.name` for the learner's module in a worker."""

    def __init__(self, sandboxed: Sandboxed) -> None:
        self._sandboxed = sandboxed

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        sandboxed = self._sandboxed
        known = sandboxed.functions.get(name)
        if known is not None and known._generation == sandboxed.generation and sandboxed.worker:
            return known  # the learner's function from this worker, still running: no round trip
        value = _remote_getattr(sandboxed, 0, name, sandboxed.target.label)
        if isinstance(value, RemoteObject) and value._callable:
            sandboxed.functions[name] = value
        return value


def _remote_getattr(sandboxed: Sandboxed, key: int, name: str, owner: str) -> Any:
    message = {"op": "getattr", "target": key, "name": name}
    try:
        value = sandboxed.request(message, name, {})
    except StudentRaised as error:
        if "AttributeError" in error.type_names:
            raise StudentFailed(
                f"{owner} does not define `{name}`",
                call=name,
                diagnosis="keep the names and signatures of the stub",
            ) from None
        raise
    if isinstance(value, RemoteObject):
        value._name = name
    return value


class RemoteObject:
    """An object living in the worker: a KVCache, a function, a bound method."""

    def __init__(
        self, sandboxed: Sandboxed, generation: int, key: int, is_callable: bool, type_name: str
    ) -> None:
        self._sandboxed = sandboxed
        self._generation = generation
        self._key = key
        self._callable = is_callable
        self._type_name = type_name
        self._name = type_name

    def __repr__(self) -> str:
        return f"<your {self._type_name}>"

    def _check_alive(self, call: str) -> None:
        if self._sandboxed.generation != self._generation or self._sandboxed.worker is None:
            raise StudentFailed(
                f"{call} used a {self._type_name} from a worker that has ended", call=call
            )

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        self._check_alive(name)
        return _remote_getattr(self._sandboxed, self._key, name, f"your {self._type_name}")

    def __len__(self) -> int:
        call = f"len({self._type_name})"
        self._check_alive(call)
        value = self._sandboxed.request({"op": "len", "target": self._key}, call, {})
        if not isinstance(value, int):
            raise StudentFailed(f"{call} is not an int", call=call)
        return value

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._send("call", args, kwargs)

    def peak_memory(self, warm_up: Call, measured: Call) -> MemoryUse:
        """Call the function in the worker on `warm_up`, then on `measured` (fresh inputs: a
        result remembered from the warm-up does not help) and return that call's result with its
        peak memory, read by this process from the kernel (sandbox/meter.py) from before its
        inputs are sent until its result has arrived. Raises MeasurementUnavailable where the
        worker's memory cannot be read from here."""
        require_fresh_inputs(warm_up, measured)
        self(*warm_up.args, **warm_up.kwargs)
        worker = self._sandboxed.worker
        assert worker is not None  # it has just answered the warm-up call
        gauge = meter(worker, self._sandboxed.target.level)
        gauge.start()
        result = self(*measured.args, **measured.kwargs)
        rise = gauge.rise()
        return MemoryUse(rise, 0, rise, result, gauge.source)

    def _send(self, op: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        call = call_text(self._name, args, kwargs)
        self._check_alive(call)
        if not self._callable:
            raise StudentFailed(f"`{self._name}` is a {self._type_name}, not a function", call=call)
        callbacks: dict[int, Callable[..., Any]] = {}

        def handle(value: Any) -> dict[str, Any]:
            if isinstance(value, RemoteObject):
                return {"r": [value._key, value._callable, value._type_name]}
            if callable(value):
                callbacks[len(callbacks)] = value
                return {"c": len(callbacks) - 1}
            raise TypeError(f"cannot send {type(value).__name__} to the worker")

        message = {
            "op": op,
            "target": self._key,
            "args": [values.encode(a, handle) for a in args],
            "kwargs": {k: values.encode(v, handle) for k, v in kwargs.items()},
        }
        return self._sandboxed.request(message, call, callbacks)
