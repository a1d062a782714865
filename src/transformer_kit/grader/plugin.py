"""The pytest plugin of `kit check`: the `student` fixture, the `weight` and `visible` markers, and
the results.

Graders are ordinary pytest files (graders/test_<name>.py). This plugin hands each test the
student handle of its exercise's `Sandbox` (for `kit check`, a sandboxed worker's
`RemoteStudent`: sandbox/ implements `Sandbox`, this package never imports it) and turns every
test's outcome into a `TestResult`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

import pytest

from transformer_kit.catalog import Exercise
from transformer_kit.grader import failures
from transformer_kit.results import ExerciseResult, TestResult, shares
from transformer_kit.untrusted import clean

WEIGHT_MARKER = "weight(n): the test's share of its exercise's points (default 1)"
VISIBLE_MARKER = "visible: the nbgrader export shows this test to learners (default: hidden)"
BUGS_MARKER = "bugs(*names): a debug exercise's planted bugs whose presence fails this test"
MARKERS = (WEIGHT_MARKER, VISIBLE_MARKER, BUGS_MARKER)


class Sandbox(Protocol):
    """Where one exercise's code runs, as the plugin uses it."""

    def start(self) -> None: ...
    def close(self) -> None: ...
    def begin_test(self, time_limit: float) -> None: ...
    def take_output(self) -> str: ...
    def student(self) -> Any: ...


def exercise_of(item: pytest.Item) -> str:
    return item.path.stem.removeprefix("test_")


def test_name(item: pytest.Item) -> str:
    """The name a learner sees: the docstring's first line, plus the parameter id."""
    function = getattr(item, "function", None)
    doc = (getattr(function, "__doc__", None) or "").strip()
    base = doc.splitlines()[0] if doc else item.name.split("[")[0].replace("_", " ")
    callspec = getattr(item, "callspec", None)
    return f"{base} [{callspec.id}]" if callspec is not None else base


def weight(item: pytest.Item) -> float:
    marker = item.get_closest_marker("weight")
    return float(marker.args[0]) if marker is not None else 1.0


def bugs(item: pytest.Item) -> tuple[str, ...]:
    marker = item.get_closest_marker("bugs")
    return tuple(str(name) for name in marker.args) if marker is not None else ()


def failure_text(error: BaseException) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A failed test's summary and labelled fields, from whatever it raised."""
    if isinstance(error, pytest.skip.Exception):  # a check this machine cannot make: 0 points
        return f"not graded here: {error.msg}", ()
    return failures.failure_text(error)


class KitPlugin:
    """Collects the results of one pytest session over the selected graders."""

    def __init__(
        self,
        exercises: Sequence[Exercise],
        sandboxes: Mapping[str, Sandbox],
        on_exercise: Callable[[str], None] | None = None,
    ) -> None:
        self.exercises = {e.name: e for e in exercises}
        self.order = [e.name for e in exercises]
        self.sandboxes = sandboxes
        self.on_exercise = on_exercise
        self.items: dict[str, list[pytest.Item]] = {name: [] for name in self.order}
        self.failures: dict[str, BaseException] = {}
        self.outputs: dict[str, str] = {}  # what the learner's code printed, by test
        self.collection_errors: list[str] = []
        self.started: set[str] = set()

    def pytest_configure(self, config: pytest.Config) -> None:
        for marker in MARKERS:
            config.addinivalue_line("markers", marker)

    def pytest_collection_modifyitems(self, items: list[pytest.Item]) -> None:
        for item in items:
            self.items.setdefault(exercise_of(item), []).append(item)

    def pytest_collectreport(self, report: pytest.CollectReport) -> None:
        if report.failed:
            self.collection_errors.append(f"{report.nodeid}: {report.longreprtext}")

    @pytest.hookimpl(tryfirst=True)
    def pytest_runtest_makereport(
        self, item: pytest.Item, call: pytest.CallInfo[None]
    ) -> pytest.TestReport:
        """A bare report: the learner's message is ours, so pytest's costly traceback rendering
        (a third of a second per failed test) is skipped."""
        error = call.excinfo.value if call.excinfo is not None else None
        if error is not None and item.nodeid not in self.failures:
            self.failures[item.nodeid] = error
        sandboxed = self.sandboxes.get(exercise_of(item))
        if call.when == "call" and sandboxed is not None:
            self.outputs[item.nodeid] = sandboxed.take_output()
        return pytest.TestReport(
            item.nodeid,
            item.location,
            {},
            "passed" if error is None else "failed",
            None if error is None else f"{type(error).__name__}: {error}",
            "call" if call.when == "collect" else call.when,
            duration=call.duration,
            start=call.start,
            stop=call.stop,
        )

    @pytest.fixture
    def student(self, request: pytest.FixtureRequest) -> Any:
        name = exercise_of(request.node)
        self._announce(name)
        sandbox = self.sandboxes[name]
        sandbox.begin_test(self.exercises[name].time_limit)
        return sandbox.student()

    def _announce(self, name: str) -> None:
        """First test of an exercise: say so, and start the next exercise's worker ahead."""
        if name in self.started:
            return
        self.started.add(name)
        if self.on_exercise is not None:
            self.on_exercise(name)
        index = self.order.index(name)
        for previous in self.order[:index]:
            self.sandboxes[previous].close()
        if index + 1 < len(self.order):
            self.sandboxes[self.order[index + 1]].start()

    def results(self) -> tuple[ExerciseResult, ...]:
        return tuple(self._exercise_result(self.exercises[name]) for name in self.order)

    def _exercise_result(self, exercise: Exercise) -> ExerciseResult:
        group = self.items.get(exercise.name, [])
        tests = []
        points = shares(exercise.points, [weight(i) for i in group])
        for item, share in zip(group, points, strict=True):
            name, error = test_name(item), self.failures.get(item.nodeid)
            output = self.outputs.get(item.nodeid, "")
            if error is None:
                tests.append(TestResult(name, True, share, share, output=output, bugs=bugs(item)))
            else:
                summary, fields = failure_text(error)
                fields = tuple((label, clean(text)) for label, text in fields)
                failed = TestResult(
                    name, False, 0.0, share, clean(summary), fields, output, bugs(item)
                )
                tests.append(failed)
        return ExerciseResult(exercise.name, exercise.title, exercise.points, tuple(tests))


# pytest's built-in plugins that graders do not use: each one costs time on every test
UNUSED_PLUGINS = (
    "cacheprovider", "terminal", "logging", "junitxml", "doctest", "pastebin", "faulthandler",
    "stepwise", "legacypath", "warnings", "unittest", "threadexception", "unraisableexception",
    "setuponly", "setupplan", "recwarn", "tmpdir", "monkeypatch", "python_path", "debugging",
    "subtests",
)  # fmt: skip


INIFILE = Path(__file__).with_name("grading.ini")


def pytest_arguments(paths: Sequence[Path]) -> list[str]:
    """A quiet, fast pytest session over the given grader files that reads no configuration but
    the kit's own: its ini file, a rootdir inside the installed package, no conftest.py files."""
    root = str(paths[0].parent) if paths else "."
    disabled = [f"-pno:{name}" for name in UNUSED_PLUGINS]
    return [
        *map(str, paths),
        f"-c{INIFILE}",
        f"--rootdir={root}",
        f"--confcutdir={root}",
        "--noconftest",
        "--override-ini=python_files=test_*.py",
        "--override-ini=addopts=",
        "--capture=no",
        "--assert=plain",  # graders compare with transformer_kit.compare: no rewriting needed
        *disabled,
    ]


def run_pytest(args: list[str], plugin: Any) -> int:
    return int(pytest.main(args, plugins=[plugin]))
