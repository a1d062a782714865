"""`check`: grade a workspace's exercises with the kit's own graders, learner code sandboxed.

The order matters for speed: the first workers start before pytest and numpy are imported here,
so the learner's import overlaps with ours.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from transformer_kit.catalog import Exercise
from transformer_kit.results import CheckResult, ExerciseResult, TestResult
from transformer_kit.sandbox import cgroup, isolation
from transformer_kit.sandbox import process as sandbox
from transformer_kit.sandbox.isolation import Level

if TYPE_CHECKING:
    from transformer_kit.sandbox.client import Sandboxed

AHEAD = 2  # workers started before grading begins
DEFAULT_LIMITS = sandbox.Limits()
PYTEST_GRADED = (0, 1)  # pytest's exit statuses for "ran the tests" (all passed / some failed)
# what could make pytest read configuration or plugins the kit did not choose
PYTEST_VARIABLES: dict[str, str | None] = {
    "PYTEST_ADDOPTS": None,
    "PYTEST_PLUGINS": None,
    "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1",
}


class GraderError(RuntimeError):
    """The kit's own graders could not be collected (a broken installation)."""


def check(
    workspace: Path,
    exercises: Sequence[Exercise],
    limits: sandbox.Limits = DEFAULT_LIMITS,
    on_exercise: Callable[[str], None] | None = None,
    level: Level | None = None,
    folder: Path | None = None,
    started: Mapping[str, sandbox.Worker] | None = None,
) -> CheckResult:
    """Grade `exercises` in `workspace` at isolation `level` (default: the best available);
    `on_exercise(name)` is called as each one starts. The files graded are `folder/NAME.py`
    (default folder: the workspace's exercises/). `started`: workers running already for some
    of them (`sandbox.release`d, at this level and limits), used instead of new ones."""
    sandbox.harden_grading_process()
    level = level or isolation.choose()
    ready = dict(started or {})
    workspace = workspace.absolute()
    folder = (folder or workspace / "exercises").absolute()
    files = {e.name: folder / f"{e.name}.py" for e in exercises}
    present = [e for e in exercises if files[e.name].is_file()]
    try:
        ahead = {
            e.name: sandbox.spawn(e.name, files[e.name], limits, level)
            for e in present[:AHEAD]
            if e.name not in ready
        }
        ahead.update(ready)
        from transformer_kit.sandbox.client import Sandboxed, Target  # numpy: after the spawns

        sandboxes = {
            e.name: Sandboxed(Target(e.name, files[e.name], limits, level), ahead.get(e.name))
            for e in present
        }
        graded = _run_graders(present, sandboxes, on_exercise)
    finally:
        sandbox.stop_all()  # also the workers of an interrupted check
    results = tuple(graded.get(e.name) or _missing(e, files[e.name]) for e in exercises)
    return CheckResult(results, isolation=level.name, limits=cgroup.enforcer())


def _run_graders(
    exercises: Sequence[Exercise],
    sandboxes: dict[str, Sandboxed],
    on_exercise: Callable[[str], None] | None,
) -> dict[str, ExerciseResult]:
    if not exercises:
        return {}
    from transformer_kit.grader import plugin  # imports pytest and numpy: after the workers started

    kit_plugin = plugin.KitPlugin(exercises, sandboxes, on_exercise)
    graders = [e.grader for e in exercises]
    with _environment(PYTEST_VARIABLES), contextlib.chdir(graders[0].parent):
        status = plugin.run_pytest(plugin.pytest_arguments(graders), kit_plugin)
    if kit_plugin.collection_errors or status not in PYTEST_GRADED:
        problems = kit_plugin.collection_errors or [f"pytest exit status {status}"]
        raise GraderError("\n".join(problems))
    return {result.name: result for result in kit_plugin.results()}


@contextlib.contextmanager
def _environment(changes: dict[str, str | None]) -> Iterator[None]:
    """Set (or, for None, remove) environment variables for the duration of the block."""
    saved = {name: os.environ.get(name) for name in changes}
    try:
        for name, value in changes.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


def _missing(exercise: Exercise, path: Path) -> ExerciseResult:
    return ungraded(
        exercise, f"{path} does not exist", f"run `kit reset {exercise.name}` to get a fresh stub"
    )


def ungraded(exercise: Exercise, summary: str, advice: str = "") -> ExerciseResult:
    """An exercise that could not be graded (no file, say): one failed test worth all its
    points, saying why (`summary`) and what to do (`advice`)."""
    test = TestResult(
        name="the exercise file exists",
        passed=False,
        score=0.0,
        max_score=exercise.points,
        summary=summary,
        fields=(("", advice),) if advice else (),
    )
    return ExerciseResult(exercise.name, exercise.title, exercise.points, (test,))
