"""What a failed check raises: a grader's `Mismatch` (labelled fields a report shows), the
learner's own exception as seen across the sandbox (`StudentRaised`), the learner's code unable to
answer (`StudentFailed`), and a measurement this machine cannot make."""

from __future__ import annotations

import re
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field

LIKELY_MISTAKE = "likely mistake"  # the label of a grader's diagnosis (results.py reads it)
NOT_IMPLEMENTED = "not implemented yet"  # a NotImplementedError's summary begins so (results.py)


@dataclass
class Mismatch(AssertionError):
    """A grader's verdict on one check, in words a learner can act on."""

    summary: str
    call: str = ""
    expected: str = ""
    got: str = ""
    where: str = ""
    diagnosis: str = ""
    details: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        super().__init__(self.summary)

    def __str__(self) -> str:
        return self.message

    def fields(self) -> list[tuple[str, str]]:
        """The labelled parts after the summary, in the order a report shows them."""
        labelled = [
            ("called", self.call),
            ("expected", self.expected),
            ("got", self.got),
            ("differs most", self.where),
        ]
        labelled += [("", text) for text in self.details]
        labelled.append((LIKELY_MISTAKE, self.diagnosis))
        return [(label, text) for label, text in labelled if text]

    @property
    def message(self) -> str:
        """All fields as plain text, one per line (the `--json` message)."""
        lines = [self.summary]
        lines += [f"{label}: {text}" if label else text for label, text in self.fields()]
        return "\n".join(lines)


class StudentRaised(Exception):
    """The learner's code raised `type_name` (with base classes `type_names`) saying `text`."""

    def __init__(self, call: str, type_names: Sequence[str], text: str, where: str = "") -> None:
        self.call = call
        self.type_names = tuple(type_names)
        self.type_name = self.type_names[0] if self.type_names else "Exception"
        self.text = text
        self.where = where
        super().__init__(self.message)

    @property
    def not_implemented(self) -> bool:
        return "NotImplementedError" in self.type_names

    @property
    def summary(self) -> str:
        if self.not_implemented:
            function = self.call.split("(")[0]
            return f"{NOT_IMPLEMENTED}: {function} raises NotImplementedError"
        if self.type_name == ResultWithoutData.__name__:
            return self.text  # the kit's own words about what came back
        return f"raised {self.type_name}: {self.text}".rstrip(": ")

    @property
    def from_numpy(self) -> bool:
        """A ValueError in numpy's own words about shapes, not one the learner raised."""
        return "ValueError" in self.type_names and any(w in self.text for w in NUMPY_SHAPE_WORDS)

    @property
    def advice(self) -> str:
        """What to check first for an error whose cause is not the learner's own words: a
        module missing from the kit's Python, a shape error numpy raised."""
        missing = MISSING_MODULE.search(self.text)
        if "ModuleNotFoundError" in self.type_names and missing:
            module = missing.group(1).split(".")[0]
            return (
                f"{module} is not installed in the Python the kit runs with: install it there "
                f"with `{sys.executable} -m pip install {module}`"
            )
        if self.from_numpy:
            return (
                "numpy raised this, not your code: the arrays' shapes do not fit on the line in "
                "`where`; print their .shape just before it"
            )
        return ""

    def fields(self) -> list[tuple[str, str]]:
        labelled = [("called", self.call), ("where", self.where), (LIKELY_MISTAKE, self.advice)]
        return [(label, text) for label, text in labelled if text]

    @property
    def message(self) -> str:
        lines = [self.summary] + [f"{label}: {text}" for label, text in self.fields()]
        return "\n".join(lines)


MISSING_MODULE = re.compile(r"No module named '([\w.]+)'")
NUMPY_SHAPE_WORDS = (  # numpy's own ValueError messages about shapes
    "cannot reshape array",
    "could not be broadcast",
    "matmul: Input operand",
    "not aligned",
    "input array dimensions",
    "must have the same shape",
    "einstein sum subscripts",
    "operand has more dimensions",
)


class ResultWithoutData(TypeError):
    """A result with a shape but no numbers to send back: a torch tensor on the meta device."""


class StudentFailed(Mismatch):
    """The learner's code could not answer: time limit, memory limit, exit, crash."""


class MeasurementUnavailable(Exception):
    """Peak memory cannot be measured here (not Linux, /proc/self/clear_refs refused): a grader
    turns this into `pytest.skip(reason)`, which the kit reports as not graded, 0 points."""


def failure_text(error: BaseException) -> tuple[str, tuple[tuple[str, str], ...]]:
    """A failed test's summary and labelled fields, from whatever it raised (pytest's skip is
    the plugin's)."""
    if isinstance(error, (Mismatch, StudentRaised)):
        return error.summary, tuple(error.fields())
    if isinstance(error, AssertionError):
        return str(error) or "a check failed", ()
    return f"the grader failed: {type(error).__name__}: {error}", (
        ("", "this is a bug in the kit, not in your code: please report it"),
    )
