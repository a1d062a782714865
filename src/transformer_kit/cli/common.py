"""What every `kit` command shares: the error for a broken kit, the one way to read the
exercises, to find the workspace, to choose exercises by name, to warn, and to grade a workspace."""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

if TYPE_CHECKING:
    from transformer_kit.catalog import Exercise
    from transformer_kit.learner.workspace import Progress
    from transformer_kit.sandbox.isolation import Level


class KitBroken(click.ClickException):
    """The kit's own files cannot be used: exit status 3, a broken installation."""

    exit_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}\nReinstalling the kit (`pip install .`) usually fixes this.")


def catalogue() -> tuple[Exercise, ...]:
    """Every exercise of the kit; KitBroken when the metadata cannot be read."""
    from transformer_kit.catalog import MetadataError, load

    try:
        return load()
    except MetadataError as error:
        raise KitBroken(f"the kit's exercise metadata is broken: {error}") from None


workspace_option = click.option(
    "--workspace",
    "-w",
    metavar="DIR",
    help="The workspace folder (the one holding exercises/). Default: $KIT_WORKSPACE, else the "
    "current folder or the nearest folder above it that holds exercises/.",
)


def workspace_root(context: click.Context, option: str | None) -> Path:
    from transformer_kit.learner.workspace import WorkspaceError, find

    try:
        return find(option or context.obj)
    except WorkspaceError as error:
        raise click.UsageError(str(error)) from None


def select(words: Sequence[str], everything_when_empty: bool = True) -> list[Exercise]:
    from transformer_kit.catalog import UnknownName, resolve

    exercises = catalogue()
    if not words and everything_when_empty:
        return list(exercises)
    try:
        return resolve(words, exercises)
    except UnknownName as error:
        raise click.UsageError(str(error)) from None


def internal_error(message: str) -> NoReturn:
    raise KitBroken(message)


def warn(message: str) -> None:
    if message:
        click.echo(f"kit: warning: {message}", err=True)


def progress_of(root: Path) -> Progress:
    """The workspace's progress store, warning when a damaged one was set aside."""
    from transformer_kit.learner.workspace import load_progress

    progress = load_progress(root)
    warn(progress.warning)
    return progress


def isolation_level() -> Level:
    """The isolation level to grade at (isolation.choose); a KIT_ISOLATION this system cannot
    honour is a usage error."""
    from transformer_kit.sandbox import isolation

    try:
        return isolation.choose()
    except isolation.IsolationUnavailable as error:
        raise click.UsageError(str(error)) from None


def grade_workspace(
    root: Path, exercises: Sequence[Exercise], level: Level, show_progress: bool
) -> Any:
    from transformer_kit.check import GraderError, check

    announce: Callable[[str], None] | None = None
    status: Any = None
    if show_progress and sys.stderr.isatty():
        from transformer_kit.cli import render as report

        status = report.console(stderr=True).status("grading ...")
        status.start()
        names = [e.name for e in exercises]

        def announce(name: str) -> None:
            status.update(f"grading {name} ({names.index(name) + 1} of {len(names)}) ...")

    try:
        return check(root, exercises, on_exercise=announce, level=level)
    except GraderError as error:
        internal_error(f"the kit's graders could not run:\n{error}")
    finally:
        if status is not None:
            status.stop()


def save_progress(root: Path, results: Sequence[Any]) -> None:
    from transformer_kit.learner.workspace import record_results

    for warning in record_results(root, results):
        warn(warning)
