"""`check`: grade a workspace's exercises with the kit's own graders, learner code sandboxed.

The order matters for speed: the first workers start before pytest and numpy are imported here,
so the learner's import overlaps with ours.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from transformer_kit import sandbox
from transformer_kit.meta import Exercise
from transformer_kit.results import CheckResult, ExerciseResult, TestResult

if TYPE_CHECKING:
    from transformer_kit.worker_client import Sandboxed

AHEAD = 2  # workers started before grading begins
DEFAULT_LIMITS = sandbox.Limits()
PYTEST_GRADED = (0, 1)  # pytest's exit statuses for "ran the tests" (all passed / some failed)


class GraderError(RuntimeError):
    """The kit's own graders could not be collected (a broken installation)."""


def check(
    workspace: Path,
    exercises: Sequence[Exercise],
    limits: sandbox.Limits = DEFAULT_LIMITS,
    on_exercise: Callable[[str], None] | None = None,
) -> CheckResult:
    """Grade `exercises` in `workspace`; `on_exercise(name)` is called as each one starts."""
    sandbox.harden_grading_process()
    files = {e.name: workspace / "exercises" / f"{e.name}.py" for e in exercises}
    present = [e for e in exercises if files[e.name].is_file()]
    try:
        ahead = {
            e.name: sandbox.spawn(e.name, files[e.name], workspace, limits) for e in present[:AHEAD]
        }
        from transformer_kit.worker_client import Sandboxed, Target  # numpy: after the spawns

        sandboxes = {
            e.name: Sandboxed(Target(e.name, files[e.name], workspace, limits), ahead.get(e.name))
            for e in present
        }
        graded = _run_graders(present, sandboxes, on_exercise)
    finally:
        sandbox.stop_all()  # also the workers of an interrupted check
    return CheckResult(tuple(graded.get(e.name) or _missing(e, workspace) for e in exercises))


def _run_graders(
    exercises: Sequence[Exercise],
    sandboxes: dict[str, Sandboxed],
    on_exercise: Callable[[str], None] | None,
) -> dict[str, ExerciseResult]:
    if not exercises:
        return {}
    from transformer_kit import plugin  # imports pytest and numpy: after the workers started

    kit_plugin = plugin.KitPlugin(exercises, sandboxes, on_exercise)
    saved = os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD")
    os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = "1"  # no third-party plugins in grading
    try:
        status = plugin.run_pytest(
            plugin.pytest_arguments([e.grader for e in exercises]), kit_plugin
        )
    finally:
        if saved is None:
            del os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"]
        else:
            os.environ["PYTEST_DISABLE_PLUGIN_AUTOLOAD"] = saved
    if kit_plugin.collection_errors or status not in PYTEST_GRADED:
        problems = kit_plugin.collection_errors or [f"pytest exit status {status}"]
        raise GraderError("\n".join(problems))
    return {result.name: result for result in kit_plugin.results()}


def _missing(exercise: Exercise, workspace: Path) -> ExerciseResult:
    """An exercise whose file is not in the workspace: one failed test worth all its points."""
    path = workspace / "exercises" / f"{exercise.name}.py"
    test = TestResult(
        name="the exercise file exists",
        passed=False,
        score=0.0,
        max_score=exercise.points,
        summary=f"{path} does not exist",
        fields=(("", f"run `kit reset {exercise.name}` to get a fresh stub"),),
    )
    return ExerciseResult(exercise.name, exercise.title, exercise.points, (test,))
