"""`kit dev`: for the kit's developers, in a source checkout (the work: transformer_kit/dev/).

`kit dev new NAME` scaffolds an exercise; `kit dev check` lists every problem of every exercise
and exits 1 when there is one.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from transformer_kit.dev.checks import Problem


@click.group()
def dev() -> None:
    """Scaffold and check exercises (in a source checkout of the kit)."""


def _checkout() -> Path:
    from transformer_kit.dev.checks import NotACheckout, checkout

    try:
        return checkout()
    except NotACheckout as error:
        raise click.UsageError(str(error)) from None


@dev.command()
@click.argument("name")
def new(name: str) -> None:
    """Scaffold exercise NAME: its stub, solution, grader, fixtures, catalogue, oracle test and
    exercises.toml entry, each saying what to write."""
    from transformer_kit.dev import scaffold
    from transformer_kit.dev.checks import NEEDS_CONTENT

    root = _checkout()
    try:
        written = scaffold.new(root, name)
    except scaffold.ScaffoldError as error:
        raise click.UsageError(str(error)) from None
    click.echo(f"Scaffolded {name} in {root}:")
    for path in written:
        click.echo(f"  {path.relative_to(root)}")
    click.echo("Now write (each place says TODO):")
    for step, text in enumerate(scaffold.todo(name), 1):
        click.echo(f"  {step}. {text}")
    click.echo(f"Until then `kit dev check` fails these checks for it: {', '.join(NEEDS_CONTENT)}.")


@dev.command()
@click.pass_context
def check(context: click.Context) -> None:
    """Check every exercise: its files, metadata, stub and solution twins, catalogue (at least 8
    wrong and 3 right versions) and README row; then that every stub fails its grader and every
    solution passes (graded as `kit check` grades). Exit status 1 lists every problem."""
    from transformer_kit.dev import checks

    root = _checkout()
    click.echo(f"Checking the exercises of {root} (grading every stub and solution) ...", err=True)
    problems = checks.run(root)
    if not problems:
        click.echo("Every exercise is whole: no problem found.")
        return
    _report(problems)
    context.exit(1)


def _report(problems: Sequence[Problem]) -> None:
    where = ""
    for problem in problems:
        if problem.where != where:
            where = problem.where
            click.echo(f"✗ {where}")
        text = problem.text.replace("\n", "\n      ")
        click.echo(f"    {problem.check}: {text}")
    count = len(problems)
    click.echo(f"{count} problem{'' if count == 1 else 's'} found.")
