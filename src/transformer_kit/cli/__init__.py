"""The `kit` command: parse, call the library, render. No grading logic lives here.

Installed as `transformer_kit.cli`; heavy modules (pytest, numpy, rich) are imported inside the
commands so that `kit --help` and `kit check` start fast.
"""

from __future__ import annotations

import sys

import click

from transformer_kit import __version__
from transformer_kit.cli import learner
from transformer_kit.cli.common import workspace_option
from transformer_kit.cli.dev import dev
from transformer_kit.cli.grade import grade
from transformer_kit.cli.gradescope import gradescope
from transformer_kit.cli.interview import interview
from transformer_kit.cli.nbgrader import nbgrader
from transformer_kit.cli.quiz import quiz, today
from transformer_kit.cli.repro import repro


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, "--version", "-V", prog_name="kit")
@workspace_option
@click.pass_context
def main(context: click.Context, workspace: str | None) -> None:
    """Practise transformer internals by writing them; `kit check` grades your code.

    \b
    A workspace holds exercises/NAME.py, one stub per exercise. Edit a stub, then:
      kit next                the first exercise you have not passed, and its file
      kit check attention     grade one exercise (any unambiguous prefix works: kit check att)
      kit check               grade every exercise
      kit watch               re-check on every save, moving on as exercises pass
      kit hint attention      the next hint (of three)
      kit solution attention  the reference solution, once you have passed
      kit reset attention     restore the stub (your file is kept as a backup)
      kit list                every exercise and your progress
      kit init DIR            make a new workspace with fresh stubs
      kit interview [NAME]    a timed mock interview from a fresh stub, without hints
      kit repro NAME [TEST]   a script calling your function on a failing test's inputs
      kit nbgrader export DIR the exercises as nbgrader source notebooks, for a course
      kit nbgrader autograde DIR ID   grade a course's submitted notebooks, sandboxed
      kit grade FOLDER        grade a class's submissions (instructors)
      kit gradescope build    a Gradescope autograder zip, for a course
      kit dev new NAME | check   scaffold an exercise | check every one (developers)
      kit quiz [TOPIC]        concept checks from the notes, spaced over days
      kit today               the day's plan: checks due, next exercise, a redo

    Your code runs in a separate, limited process: it cannot change a grade.
    """
    _replace_what_the_terminal_cannot_show()
    context.obj = workspace


def _replace_what_the_terminal_cannot_show() -> None:
    """An output encoding without ✓ or █ (PYTHONIOENCODING=ascii, LANG=C) gets `?` for them,
    not a UnicodeEncodeError."""
    for stream in (sys.stdout, sys.stderr):
        reconfigure = getattr(stream, "reconfigure", None)
        if reconfigure is not None:
            reconfigure(errors="replace")


for command in (learner.list_command, learner.check, learner.hint, learner.next_command,
                learner.solution, learner.init, learner.reset, learner.watch, nbgrader, grade,
                workspace_option(interview), gradescope, dev, quiz, today,
                repro):  # fmt: skip
    main.add_command(command)

if __name__ == "__main__":
    main()
