"""A submission's results in Gradescope's format: a view of the kit's results document, every
score the kit's, none recomputed (https://gradescope-autograders.readthedocs.io/en/latest/specs/).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from transformer_kit import __version__
from transformer_kit.classroom.gradescope.config import AutograderConfig
from transformer_kit.results import (
    LIKELY_MISTAKE,
    CheckResult,
    ResultsError,
    TestResult,
    add_points,
)
from transformer_kit.sandbox import isolation

RESULTS_LIMIT = 1_000_000  # bytes: Gradescope warns about a larger results.json
MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")
SHORTENED = " … (shortened)"
HIDDEN_NOTE = "(a hidden test: its inputs and expected values are not shown)"
GRADER_LABELS = ("expected", LIKELY_MISTAKE)  # the grader's words, whatever the code returned
AFTER_HIDDEN_NOTE = (
    "(this test ran after hidden tests, whose inputs your code could have kept: only the "
    "grader's expectation is shown here; `kit check` shows what your code returned)"
)
WHEN_SHOWN = {  # Gradescope's visibilities of hidden tests
    "hidden": "to your instructor only",
    "after_due_date": "after the due date",
    "after_published": "once grades are published",
}


def results_json(
    document: Mapping[str, Any],
    config: AutograderConfig,
    notes: Sequence[str] = (),
    execution_time: float = 0.0,
) -> dict[str, Any]:
    """Gradescope's results.json for the kit's results document of one submission (the
    `kit check --json` document, with `notes` and perhaps `error`, as `kit grade` writes it).

    Each kit test is one Gradescope test with the kit's score and what its visibility allows it
    to show (`_messages`); the top-level output states no score that hidden tests are part of.
    Outputs are shortened when the whole would pass RESULTS_LIMIT, and the top-level output
    then says so."""
    notes = [*notes, *document.get("notes", ())]
    if "error" in document:
        return failure_results(
            f"The kit could not grade your submission: {document['error']}", notes, execution_time
        )
    try:
        graded = CheckResult.from_json(document)
    except ResultsError as error:
        return failure_results(f"The kit's results cannot be read: {error}", notes, execution_time)
    score = document["score"]  # the kit's, as written
    visibilities = _visibilities(graded, config)
    tests = _tests(graded, visibilities)
    messages = _messages(graded, visibilities)
    summary = _summary(graded, visibilities, config, notes)
    results = _results(score, execution_time, summary, tests, messages, None)
    if _size(results) <= RESULTS_LIMIT:
        return results
    note = (
        f"{summary}\n\nSome test messages were shortened to keep these results under "
        f"Gradescope's {RESULTS_LIMIT:,}-byte limit; `kit check` shows them in full."
    )
    budget = _message_budget(score, execution_time, note, tests, messages)  # with the note
    return _results(score, execution_time, note, tests, messages, budget)


def failure_results(
    message: str, notes: Sequence[str] = (), execution_time: float = 0.0
) -> dict[str, Any]:
    """A results.json for a submission the kit could not grade: the message, 0 points."""
    text = f"**0 points.** {_md_text(message)}" + _notes_markdown(notes)
    return {
        "score": 0.0,
        "execution_time": round(execution_time, 2),
        "output": text,
        "output_format": "md",
        "test_output_format": "md",
        "tests": [],
    }


def _visibilities(graded: CheckResult, config: AutograderConfig) -> list[list[str]]:
    """Each test's Gradescope visibility, by exercise."""
    return [[config.visibility(e.name, t.name) for t in e.tests] for e in graded.exercises]


def _tests(graded: CheckResult, visibilities: list[list[str]]) -> list[dict[str, Any]]:
    """One Gradescope test per kit test, without its output."""
    return [
        {
            "name": f"{exercise.name}: {test.name}",
            "number": f"{number}.{index}",
            "score": test.score,
            "max_score": test.max_score,
            "status": "passed" if test.passed else "failed",
            "visibility": visibility,
        }
        for number, (exercise, shown) in enumerate(
            zip(graded.exercises, visibilities, strict=True), 1
        )
        for index, (test, visibility) in enumerate(zip(exercise.tests, shown, strict=True), 1)
    ]


def _messages(graded: CheckResult, visibilities: list[list[str]]) -> list[str]:
    """The text each test may show. A hidden test: its summary and likely mistakes, never its
    inputs or expected values. A visible test after a hidden one: the learner's code ran the
    hidden test's inputs first and could carry them into whatever it returns, raises or prints
    next, so only the grader's own words are shown (`GRADER_LABELS`). A worker serves one
    exercise under full isolation; under basic isolation workers could share files, so one
    hidden test taints every later test."""
    messages = []
    after_hidden = False
    for exercise, shown in zip(graded.exercises, visibilities, strict=True):
        after_hidden = after_hidden and not _level(graded).grades_classes
        for test, visibility in zip(exercise.tests, shown, strict=True):
            hidden = visibility != "visible"
            if test.passed:
                messages.append("")
            elif hidden:
                messages.append(f"{test.shown(hidden=True)}\n{HIDDEN_NOTE}")
            elif after_hidden:
                messages.append(_grader_words(test))
            else:
                messages.append(test.message)
            after_hidden = after_hidden or hidden
    return messages


def _grader_words(test: TestResult) -> str:
    kept = [f"{label}: {text}" for label, text in test.fields if label in GRADER_LABELS]
    return "\n".join(["this test failed", *kept, AFTER_HIDDEN_NOTE])


def _summary(
    graded: CheckResult,
    visibilities: list[list[str]],
    config: AutograderConfig,
    notes: Sequence[str],
) -> str:
    """The top-level output: the scores, unless hidden tests are part of them; then only the
    visible tests' points, and when the rest will be shown."""
    version = _md_text(__version__)
    if all(v == "visible" for shown in visibilities for v in shown):
        passed = sum(e.passed for e in graded.exercises)
        lines = [
            f"**{graded.score:g} of {graded.max_score:g} points** ({passed} of "
            f"{len(graded.exercises)} exercises passed), graded by transformer-kit {version}.",
            "",
            *(
                f"- {_md_text(e.name)}: {e.score:g} of {e.max_score:g} points"
                + (" (passed)" if e.passed else "")
                for e in graded.exercises
            ),
        ]
    else:
        visible = [
            [t for t, v in zip(e.tests, shown, strict=True) if v == "visible"]
            for e, shown in zip(graded.exercises, visibilities, strict=True)
        ]
        lines = [
            f"Graded by transformer-kit {version}. The hidden tests' results, and your score "
            f"with them, are shown {WHEN_SHOWN[config.hidden_visibility]}.",
            "",
            *(
                f"- {_md_text(e.name)}: visible tests {add_points(t.score for t in tests):g} of "
                f"{add_points(t.max_score for t in tests):g} points"
                for e, tests in zip(graded.exercises, visible, strict=True)
            ),
        ]
    if _level(graded).caveat:
        lines += ["", f"Graded with {_md_text(_level(graded).caveat)}."]
    lines += ["", f"Limits enforced by: {_md_text(graded.limits)}."]
    return "\n".join(lines) + _notes_markdown(notes)


def _level(graded: CheckResult) -> type[isolation.Level]:
    """The isolation level a result was graded at (the weakest for a name this kit lacks)."""
    return isolation.LEVELS.get(graded.isolation, isolation.Basic)


def _notes_markdown(notes: Sequence[str]) -> str:
    if not notes:
        return ""
    return "\n\nAbout your files:\n\n" + "\n".join(f"- {_md_text(note)}" for note in notes)


def _results(
    score: float,
    execution_time: float,
    output: str,
    tests: Sequence[dict[str, Any]],
    messages: Sequence[str],
    budget: int | None,
) -> dict[str, Any]:
    return {
        "score": score,
        "execution_time": round(execution_time, 2),
        "output": output,
        "output_format": "md",
        "test_output_format": "md",
        "test_name_format": "text",
        "tests": [
            {**test, "output": _code_block(_cut(message, budget))}
            for test, message in zip(tests, messages, strict=True)
        ],
    }


def _message_budget(
    score: float,
    execution_time: float,
    output: str,
    tests: Sequence[dict[str, Any]],
    messages: Sequence[str],
) -> int:
    """The largest length every message may keep for the results to fit RESULTS_LIMIT."""
    low, high = 0, max(len(m) for m in messages)
    while low < high:
        middle = (low + high + 1) // 2
        fits = _size(_results(score, execution_time, output, tests, messages, middle))
        low, high = (middle, high) if fits <= RESULTS_LIMIT else (low, middle - 1)
    return low


def _cut(message: str, budget: int | None) -> str:
    if budget is None or len(message) <= budget:
        return message
    return message[: max(budget - len(SHORTENED), 0)] + SHORTENED


def _code_block(text: str) -> str:
    """`text` verbatim in Markdown: a fence longer than any run of backticks inside it."""
    if not text:
        return ""
    longest = max((len(run) for run in re.findall(r"`+", text)), default=0)
    fence = "`" * max(3, longest + 1)
    return f"{fence}\n{text}\n{fence}"


def _md_text(text: str) -> str:
    """`text` shown literally in Markdown (file names and messages may hold `*`, `_`, `[`)."""
    return MD_SPECIAL.sub(r"\\\1", text)


def _size(results: Mapping[str, Any]) -> int:
    return len(json.dumps(results).encode("utf-8"))
