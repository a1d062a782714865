"""What runs inside an exported notebook's kernel: the kit's grader tests against the learner's
names, and the few pytest marks the visible tests carry.

This module, `transformer_kit.compare` and `transformer_kit.student` need only numpy and the
standard library, so the export inlines all three into a notebook's setup cell and the released
notebook runs its visible tests without the kit. The hidden part of the setup cell, which exists
only where nbgrader grades, imports this same module from the installed kit.
"""

from __future__ import annotations

import contextlib
import os
import sys
import types
import warnings
from collections.abc import Callable, Iterator, MutableMapping
from dataclasses import dataclass, field
from typing import Any

from transformer_kit.grader.failures import LIKELY_MISTAKE, failure_text
from transformer_kit.grader.student import LocalStudent

HIDDEN_NOTE = "a hidden test: it runs when your notebook is graded"


@dataclass(frozen=True)
class Mark:
    """A pytest mark as a grader writes it (`@pytest.mark.weight(2)`), kept where pytest keeps
    it (the function's `pytestmark` list)."""

    name: str
    args: tuple[Any, ...] = ()
    kwargs: dict[str, Any] = field(default_factory=dict)


class _Marks:
    def __getattr__(self, name: str) -> Callable[..., Callable[[Any], Any]]:
        def mark(*args: Any, **kwargs: Any) -> Callable[[Any], Any]:
            def decorate(function: Any) -> Any:
                function.pytestmark = [
                    *getattr(function, "pytestmark", []),
                    Mark(name, args, kwargs),
                ]
                return function

            return decorate

        return mark


# Stands in for `pytest` in the visible grader of a notebook: its tests only carry marks.
PYTEST_MARKS = types.SimpleNamespace(mark=_Marks())


class NotebookGrader:
    """Runs the kit's grader tests against the learner's names in a notebook's namespace.

    The grader, its fixtures and the reference run in modules of their own, so no grader name
    can replace one of the learner's. A test fails by raising AssertionError with the kit's
    message; a hidden test says only what went wrong and the likely mistake, never the expected
    values. Output and warnings of the learner's code are swallowed: nbgrader would give 0 points
    to a cell that writes to stderr. Without `graded` (the learner's copy), a hidden test, whose
    code is not there, passes with a note.
    """

    def __init__(
        self, exercise: str, learner: MutableMapping[str, Any], *, graded: bool = False
    ) -> None:
        self.exercise = exercise
        self.learner = learner
        self.graded = graded
        self.grader = self._new_module("grader")

    def _new_module(self, part: str) -> types.ModuleType:
        module = types.ModuleType(f"_kit_notebook.{self.exercise}.{part}")
        sys.modules[module.__name__] = module  # dataclasses and typing look modules up there
        return module

    def load_module(self, alias: str, source: str) -> None:
        """Run `source` as a module the grader knows as `alias` (its fixtures, the reference)."""
        module = self._new_module(alias)
        exec(compile(source, f"<{self.exercise} {alias}>", "exec", dont_inherit=True), vars(module))
        setattr(self.grader, alias, module)

    def load_grader(self, source: str, **names: Any) -> None:
        """Run the grader's source (helpers and tests) in the grader's module, `names` bound
        first (what its stripped imports gave it)."""
        vars(self.grader).update(names)
        code = compile(source, f"<grader of {self.exercise}>", "exec", dont_inherit=True)
        exec(code, vars(self.grader))

    def check(self, test: str, case: int | None = None, *, hidden: bool = False) -> None:
        """Run one test; raise AssertionError with the kit's message when it fails."""
        function = getattr(self.grader, test, None)
        if function is None and hidden and not self.graded:
            print(HIDDEN_NOTE)
            return
        if function is None:
            raise AssertionError(f"no test {test}: run the grader setup cell first")
        arguments = case_arguments(function, case)
        student = LocalStudent(self.learner)
        with _swallowed_output():
            try:
                function(student=student, **arguments)
            except (Exception, SystemExit) as error:
                failure: BaseException | None = error
            else:
                failure = None
        if failure is not None:
            raise AssertionError(failure_message(failure, hidden)) from None


def case_arguments(function: Any, case: int | None) -> dict[str, Any]:
    """The arguments of case number `case` of the function's parametrize mark."""
    if case is None:
        return {}
    (mark,) = [m for m in getattr(function, "pytestmark", []) if m.name == "parametrize"]
    names = mark.kwargs.get("argnames", mark.args[0] if mark.args else "")
    values = mark.kwargs.get("argvalues", mark.args[1] if len(mark.args) > 1 else ())
    if isinstance(names, str):
        names = [n.strip() for n in names.split(",") if n.strip()]
    chosen = list(values)[case]
    if type(chosen).__name__ == "ParameterSet":  # pytest.param(...), where pytest is installed
        chosen = chosen.values
    elif len(names) == 1:
        chosen = (chosen,)
    return dict(zip(names, chosen, strict=True))


def failure_message(error: BaseException, hidden: bool) -> str:
    """The kit's words for a failed test; for a hidden test only the summary and likely mistake."""
    fields: tuple[tuple[str, str], ...] = ()
    if isinstance(error, SystemExit):
        summary = f"your code exited (SystemExit: {error.code!r})"
    else:
        summary, fields = failure_text(error)
    if hidden:
        fields = tuple((label, text) for label, text in fields if label == LIKELY_MISTAKE)
    return "\n".join([summary, *(f"{label}: {text}" if label else text for label, text in fields)])


@contextlib.contextmanager
def _swallowed_output() -> Iterator[None]:
    """Print, warnings and writes to file descriptors 1 and 2 go nowhere while a test runs."""
    with open(os.devnull, "w") as sink, warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with contextlib.redirect_stdout(sink), contextlib.redirect_stderr(sink), _fds_to(sink):
            yield


@contextlib.contextmanager
def _fds_to(sink: Any) -> Iterator[None]:
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None:
            stream.flush()
    saved = [os.dup(1), os.dup(2)]
    try:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        yield
    finally:
        os.dup2(saved[0], 1)
        os.dup2(saved[1], 2)
        for fd in saved:
            os.close(fd)
