"""`kit repro`: a script that calls the learner's own function on the inputs of a failing test,
to run under print() or pdb; it never holds an expected value.

Where the inputs come from: the test's grader is run once more in this process against the
kit's reference solution (the kit's own code, never the learner's), with a student handle that
records every call; the failing call is the recorded one whose text is the failure's `called`
field. A call whose inputs hold a value an earlier call returned (the reference's answer to an
earlier step) is refused, as are method calls on objects and arguments that are functions.
"""

from __future__ import annotations

import contextlib
import importlib.util
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from transformer_kit.catalog import Exercise
from transformer_kit.grader.student import LocalStudent, Recorded
from transformer_kit.learner.workspace import state_folder
from transformer_kit.results import CALLED, ExerciseResult, TestResult
from transformer_kit.storage import atomic_write

FOLDER = "repro"  # inside .kit/


class ReproError(Exception):
    """No script can be written for this test; the message says why and what instead."""


@dataclass(frozen=True)
class Repro:
    script: Path
    test: str
    call: str


class _Recorder:
    """The plugin's sandbox for one exercise: the reference in this process, calls recorded
    per test (in the order the tests ask for `student`)."""

    def __init__(self, namespace: dict[str, Any]) -> None:
        self.namespace = namespace
        self.tests: list[list[Recorded]] = []

    def start(self) -> None: ...
    def close(self) -> None: ...
    def take_output(self) -> str:
        return ""

    def begin_test(self, time_limit: float) -> None:
        self.tests.append([])

    def student(self) -> LocalStudent:
        return LocalStudent(self.namespace, "the reference", self.tests[-1])


def failing_test(result: ExerciseResult, wanted: str | None) -> TestResult:
    """The failed test named by `wanted` (its number among the failed ones, from 1, or words
    of its name), else the first failed one."""
    failed = [t for t in result.tests if not t.passed]
    if not failed:
        raise ReproError(f"every test of {result.name} passed: there is nothing to reproduce")
    if not wanted:
        return failed[0]
    if wanted.isdigit() and 1 <= int(wanted) <= len(failed):
        return failed[int(wanted) - 1]
    found = [t for t in failed if wanted.lower() in t.name.lower()]
    if not found:
        names = "\n".join(f"  {n}. {t.name}" for n, t in enumerate(failed, 1))
        raise ReproError(f"no failed test of {result.name} matches {wanted!r}; they are:\n{names}")
    return found[0]


def recorded_calls(exercise: Exercise) -> dict[str, list[Recorded]]:
    """Per test name, the calls its grader makes when the reference answers them."""
    from transformer_kit.grader import plugin

    spec = importlib.util.spec_from_file_location(f"_kit_reference_{exercise.name}",
                                                  exercise.solution)  # fmt: skip
    if spec is None or spec.loader is None:
        raise ReproError(f"the kit's reference of {exercise.name} cannot be loaded")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    recorder = _Recorder(vars(module))
    kit_plugin = plugin.KitPlugin([exercise], {exercise.name: recorder})
    with contextlib.chdir(exercise.grader.parent):
        plugin.run_pytest(plugin.pytest_arguments([exercise.grader]), kit_plugin)
    items = [
        i
        for i in kit_plugin.items.get(exercise.name, [])
        if "student" in getattr(i, "fixturenames", ())
    ]
    return {plugin.test_name(i): calls for i, calls in zip(items, recorder.tests, strict=False)}


def chosen_call(test: TestResult, calls: Sequence[Recorded]) -> Recorded:
    """The recorded call the failure names (its `called` field), else the first call of the
    function the failure is about."""
    called = next((text for label, text in test.fields if label == CALLED), "")
    same = [c for c in calls if c.call == called] or [c for c in calls if c.name == test.function]
    if not same and not any(c.on_object for c in calls):
        raise ReproError(f"the test {test.name!r} makes no call that kit repro can find")
    call = same[0] if same else next(c for c in calls if c.on_object)
    if call.on_object:
        raise ReproError(
            f"the failing call {call.call} is a method of an object your code made: kit repro "
            "writes scripts for module-level functions; `kit check --details` shows the call"
        )
    earlier = [c.result for c in calls[: next(i for i, c in enumerate(calls) if c is call)]]
    if any(_holds(argument, earlier) for argument in (*call.args, *call.kwargs.values())):
        raise ReproError(
            f"the inputs of {call.call} hold a result of an earlier call of the test, which only "
            "the reference's answer could give: no script without giving an answer away"
        )
    return call


def _holds(value: Any, results: Sequence[Any]) -> bool:
    """`value` (or a part of it) equals a result (or a part of one): a float or an array."""
    found = _parts(results)
    return any(_same(part, result) for part in _parts([value]) for result in found)


def _same(part: Any, result: Any) -> bool:
    if isinstance(part, np.ndarray) and isinstance(result, np.ndarray):
        return part.shape == result.shape and part.size > 0 and bool(np.array_equal(part, result))
    if isinstance(part, float) and isinstance(result, float):
        return part not in (0.0, 1.0) and part == result  # 0 and 1 are too common to tell
    return False


def _parts(values: Sequence[Any]) -> list[Any]:
    parts: list[Any] = []
    for value in values:
        if isinstance(value, list | tuple):
            parts += _parts(list(value))
        elif isinstance(value, dict):
            parts += _parts(list(value.values()))
        elif isinstance(value, np.ndarray | float):
            parts.append(value)
    return parts


def write(root: Path, exercise: Exercise, test: TestResult, call: Recorded) -> Repro:
    """The script (and its arrays, beside it) in .kit/repro/NAME.py."""
    folder = state_folder(root) / FOLDER
    folder.mkdir(parents=True, exist_ok=True)
    script = folder / f"{exercise.name}.py"
    arrays: dict[str, np.ndarray] = {}
    arguments = [_source(a, arrays) for a in call.args]
    arguments += [f"{k}={_source(v, arrays)}" for k, v in call.kwargs.items()]
    try:
        with open(script.with_suffix(".npz"), "wb") as data:
            np.savez(data, allow_pickle=False, **arrays)
    except ValueError as error:  # an array of Python objects
        raise ReproError(f"an input array cannot be written without pickle: {error}") from None
    source = SCRIPT.format(
        name=exercise.name,
        function=call.name,
        test=test.name.replace('"""', "'''"),
        script=script,
        exercises=str(root.absolute() / "exercises"),
        arguments=",\n    ".join(arguments),
    )
    atomic_write(script, source.encode("utf-8"))
    return Repro(script, test.name, call.call)


def _source(value: Any, arrays: dict[str, np.ndarray]) -> str:
    """Python source that makes `value` again exactly (arrays: from the .npz beside it)."""
    if isinstance(value, np.ndarray):
        key = f"array{len(arrays)}"
        arrays[key] = value
        return f'inputs["{key}"]'
    if isinstance(value, float) and not math.isfinite(value):
        return f'float("{value}")'
    if value is None or isinstance(value, bool | int | float | str):
        return repr(value)
    if isinstance(value, np.generic):
        return f"np.{type(value).__name__}({value.item()!r})"
    if isinstance(value, list | tuple):
        items = [_source(v, arrays) for v in value]
        return f"[{', '.join(items)}]" if isinstance(value, list) else f"({', '.join(items)},)"
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return "{" + ", ".join(f"{k!r}: {_source(v, arrays)}" for k, v in value.items()) + "}"
    raise ReproError(
        f"an input of type {type(value).__name__} (a function or object of the grader's) cannot "
        "be written into a script"
    )


SCRIPT = '''"""kit repro {name}: your own {function} on the inputs of the failing test
"{test}".

Run it: python {script}
Or step through it: python -m pdb {script}   (or add print() calls to your function)
It holds the test's inputs only, never the expected result: `kit check {name}` compares.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, {exercises!r})
from {name} import {function}  # noqa: E402  (your file, exercises/{name}.py)

inputs = np.load(Path(__file__).with_suffix(".npz"))
result = {function}(
    {arguments}
)
print("your result:")
print(result)
'''
