"""`kit repro NAME [TEST]`: a script that calls your function on a failing test's inputs."""

from __future__ import annotations

import click

from transformer_kit.cli.common import (
    grade_workspace,
    isolation_level,
    select,
    workspace_option,
    workspace_root,
)


@click.command()
@click.argument("name")
@click.argument("test", required=False)
@workspace_option
@click.pass_context
def repro(context: click.Context, name: str, test: str | None, workspace: str | None) -> None:
    """Write a script that calls your own function on the inputs of a failing test of NAME.

    TEST: the failed test's number (from 1, in the report's order) or words of its name;
    default: the first failed test. The script (in .kit/repro/) holds only the inputs, never
    the expected result: run it with python, or under pdb, to see what your code does.
    """
    from transformer_kit.learner import repro as scripts

    root = workspace_root(context, workspace)
    (exercise,) = select([name], everything_when_empty=False)
    result = grade_workspace(root, [exercise], isolation_level(), show_progress=False)
    try:
        failed = scripts.failing_test(result.exercises[0], test)
        call = scripts.chosen_call(failed, scripts.recorded_calls(exercise).get(failed.name, []))
        written = scripts.write(root, exercise, failed, call)
    except scripts.ReproError as error:
        raise click.ClickException(str(error)) from None
    except OSError as error:
        raise click.ClickException(f"the script could not be written: {error}") from None
    click.echo(f"The failed test: {written.test}")
    click.echo(f"Its call: {written.call}")
    click.echo(f"Wrote {written.script} (its inputs beside it, in {written.script.stem}.npz).")
    click.echo(f"Run it: python {written.script}   or step through: python -m pdb {written.script}")
