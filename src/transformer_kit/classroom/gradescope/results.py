"""Gradescope: a submission's files gathered for `kit grade`, its results in Gradescope's format.

Gradescope runs an autograder's `run_autograder` once per submission with the student's files in
`ROOT/submission` and reads `ROOT/results/results.json` (ROOT is `/autograder`; see
https://gradescope-autograders.readthedocs.io/en/latest/specs/). `autograde` does that run:
it gathers the files (`gather`), grades them with `kit grade`, and writes `results_json`, a view
of the kit's results document: every score is the kit's, none is recomputed. Whatever fails, a
valid results.json is written, with a message for the student and 0 points.

The zip that carries this is built by classroom/gradescope_build.py.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformer_kit.classroom import HIDDEN_VISIBILITY, VISIBILITIES
from transformer_kit.sandbox import isolation

DEFAULT_ROOT = Path("/autograder")
ROOT_VARIABLE = "KIT_AUTOGRADER_ROOT"
CONFIG_NAME = "kit-autograder.json"  # in ROOT/source: what `kit gradescope build` chose
RESULTS_LIMIT = 1_000_000  # bytes: Gradescope warns about a larger results.json
LIKELY_MISTAKE = "likely mistake: "
# folders and files that archivers and editors add: skipped without a note
CLUTTER = {"__MACOSX", "__pycache__", ".git", ".ipynb_checkpoints", ".DS_Store", ".idea"}
EXTRAS_LISTED = 10
STUDENT = "submission"  # the student id kit grade sees: one submission per run
MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~])")
SHORTENED = " … (shortened)"


class ConfigError(ValueError):
    """ROOT/source/kit-autograder.json is missing or not what `kit gradescope build` writes."""


@dataclass(frozen=True)
class AutograderConfig:
    """What the autograder grades and shows: written into the zip by `kit gradescope build`."""

    kit_version: str
    exercises: tuple[str, ...]
    visible_tests: Mapping[str, tuple[str, ...]]  # exercise -> names of its visible tests
    hidden_visibility: str = HIDDEN_VISIBILITY
    allow_basic_isolation: bool = False

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["exercises"] = list(self.exercises)
        data["visible_tests"] = {name: list(tests) for name, tests in self.visible_tests.items()}
        return data

    @classmethod
    def from_json(cls, data: Any) -> AutograderConfig:
        try:
            config = cls(
                kit_version=str(data["kit_version"]),
                exercises=tuple(str(n) for n in data["exercises"]),
                visible_tests={
                    str(name): tuple(str(t) for t in tests)
                    for name, tests in data["visible_tests"].items()
                },
                hidden_visibility=str(data["hidden_visibility"]),
                allow_basic_isolation=bool(data["allow_basic_isolation"]),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ConfigError(f"{CONFIG_NAME} lacks or misspells {error}") from None
        if config.hidden_visibility not in VISIBILITIES:
            raise ConfigError(f"{CONFIG_NAME}: hidden_visibility must be one of {VISIBILITIES}")
        return config

    def visibility(self, exercise: str, test: str) -> str:
        return "visible" if test in self.visible_tests.get(exercise, ()) else self.hidden_visibility


def load_config(path: Path) -> AutograderConfig:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path} cannot be read: {error}") from None
    return AutograderConfig.from_json(data)


# --- gathering the files Gradescope delivers ------------------------------------------------------


@dataclass(frozen=True)
class Gathered:
    """The file graded for each exercise found, and what the student should know about the rest."""

    files: Mapping[str, Path]
    notes: tuple[str, ...]


def gather(submission: Path, names: Sequence[str]) -> Gathered:
    """Find `NAME.py` for each exercise name anywhere under `submission` (at the top, in
    `exercises/` or in any folder; symbolic links are never followed), and say which files were
    not graded: duplicates, misnamed files, notebooks, anything else."""
    found: dict[str, list[Path]] = {name: [] for name in names}
    others: list[Path] = []
    links: list[Path] = []
    for folder, dirs, files in os.walk(submission):
        here = Path(folder)
        dirs[:] = sorted(d for d in dirs if d not in CLUTTER and not _link(here / d, links))
        for file in sorted(files):
            path = here / file
            if file in CLUTTER or _link(path, links):
                continue
            stem, suffix = os.path.splitext(file)
            if suffix == ".py" and stem in found:
                found[stem].append(path)
            else:
                others.append(path)
    graded = {name: _preferred(paths) for name, paths in found.items() if paths}
    notes = [
        *_duplicate_notes(found, graded, submission),
        *_other_notes(others, names, submission),
        *(f"{_shown(p, submission)} is a symbolic link: it was not followed" for p in links),
    ]
    missing = [name for name in names if name not in graded]
    if missing:
        listed = ", ".join(f"{name}.py" for name in missing)
        notes.append(f"no {listed} in your submission: 0 points for {_them(len(missing))}")
    return Gathered(graded, tuple(notes))


def _link(path: Path, links: list[Path]) -> bool:
    if path.is_symlink():
        links.append(path)
        return True
    return False


def _preferred(paths: Sequence[Path]) -> Path:
    """A file in a folder named exercises/ first, then the one nearest the top."""
    return min(paths, key=lambda p: (p.parent.name != "exercises", len(p.parts), str(p)))


def _duplicate_notes(
    found: Mapping[str, Sequence[Path]], graded: Mapping[str, Path], submission: Path
) -> list[str]:
    notes = []
    for name, paths in found.items():
        for path in paths:
            if path != graded[name]:
                chosen = _shown(graded[name], submission)
                notes.append(f"{_shown(path, submission)} was not graded: {chosen} was")
    return notes


def _other_notes(others: Sequence[Path], names: Sequence[str], submission: Path) -> list[str]:
    notes, extras = [], []
    for path in others:
        meant = _meant(path, names)
        shown = _shown(path, submission)
        if meant and path.suffix == ".ipynb":
            notes.append(f"{shown} is a notebook, which is not graded: submit {meant}.py")
        elif meant:
            notes.append(f"{shown} looks like {meant}.py but is not named so: it was not graded")
        else:
            extras.append(shown)
    if extras:
        listed = ", ".join(extras[:EXTRAS_LISTED])
        more = f" and {len(extras) - EXTRAS_LISTED} more" if len(extras) > EXTRAS_LISTED else ""
        notes.append(f"not graded (not an exercise file): {listed}{more}")
    return notes


def _meant(path: Path, names: Sequence[str]) -> str | None:
    """The exercise a misnamed file or notebook seems to be, as `kit grade` tells
    (`Attention.py`, `attention (1).py`, `attention.ipynb`)."""
    from transformer_kit.batch.engine import SOURCES, known_as

    return known_as(path.stem, set(names)) if path.suffix.lower() in SOURCES else None


def _shown(path: Path, submission: Path) -> str:
    return path.relative_to(submission).as_posix()


def _them(count: int) -> str:
    return "that exercise" if count == 1 else "those exercises"


# --- the results, in Gradescope's format ----------------------------------------------------------


def results_json(
    document: Mapping[str, Any],
    config: AutograderConfig,
    notes: Sequence[str] = (),
    execution_time: float = 0.0,
) -> dict[str, Any]:
    """Gradescope's results.json for the kit's results document of one submission (the
    `kit check --json` document, with `notes` and perhaps `error`, as `kit grade` writes it).

    Each kit test is one Gradescope test with the kit's score; a hidden test's output is only its
    summary and likely-mistake line. Outputs are shortened when the whole would pass
    RESULTS_LIMIT, and the top-level output then says so."""
    notes = [*notes, *document.get("notes", ())]
    if "error" in document:
        return failure_results(
            f"The kit could not grade your submission: {document['error']}", notes, execution_time
        )
    tests, messages = _tests(document, config)
    summary = _summary(document, notes)
    results = _results(document["score"], execution_time, summary, tests, messages, None)
    if _size(results) <= RESULTS_LIMIT:
        return results
    budget = _message_budget(document["score"], execution_time, summary, tests, messages)
    note = (
        f"{summary}\n\nSome test messages were shortened to keep these results under "
        f"Gradescope's {RESULTS_LIMIT:,}-byte limit; `kit check` shows them in full."
    )
    return _results(document["score"], execution_time, note, tests, messages, budget)


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


def _tests(
    document: Mapping[str, Any], config: AutograderConfig
) -> tuple[list[dict[str, Any]], list[str]]:
    """One Gradescope test per kit test (without its output), and the text each may show."""
    tests, messages = [], []
    for number, exercise in enumerate(document["exercises"], 1):
        for index, test in enumerate(exercise["tests"], 1):
            visibility = config.visibility(exercise["name"], test["name"])
            tests.append(
                {
                    "name": f"{exercise['name']}: {test['name']}",
                    "number": f"{number}.{index}",
                    "score": test["score"],
                    "max_score": test["max_score"],
                    "status": "passed" if test["passed"] else "failed",
                    "visibility": visibility,
                }
            )
            hidden = visibility != "visible"
            messages.append("" if test["passed"] else _shown_message(test["message"], hidden))
    return tests, messages


def _shown_message(message: str, hidden: bool) -> str:
    """A hidden test shows its summary (the first line) and likely-mistake lines, never the
    inputs or expected values that the other lines give."""
    if not hidden:
        return message
    summary, *rest = message.splitlines() or [""]
    kept = [summary, *(line for line in rest if line.startswith(LIKELY_MISTAKE))]
    return "\n".join([*kept, "(a hidden test: its inputs and expected values are not shown)"])


def _summary(document: Mapping[str, Any], notes: Sequence[str]) -> str:
    exercises = document["exercises"]
    passed = sum(e["passed"] for e in exercises)
    lines = [
        f"**{document['score']:g} of {document['max_score']:g} points** "
        f"({passed} of {len(exercises)} exercises passed), graded by transformer-kit "
        f"{_md_text(str(document.get('kit_version', '')))}.",
        "",
        *(
            f"- {_md_text(e['name'])}: {e['score']:g} of {e['max_score']:g} points"
            + (" (passed)" if e["passed"] else "")
            for e in exercises
        ),
    ]
    level = isolation.LEVELS.get(str(document.get("isolation")))
    if level is not None and level.caveat:
        lines += ["", f"Graded with {_md_text(level.caveat)}."]
    lines += ["", f"Limits enforced by: {_md_text(str(document.get('limits', 'watchdog')))}."]
    return "\n".join(lines) + _notes_markdown(notes)


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


# --- one autograder run ---------------------------------------------------------------------------


def root_from_environment() -> Path:
    return Path(os.environ.get(ROOT_VARIABLE) or DEFAULT_ROOT)


def autograde(root: Path) -> dict[str, Any]:
    """Grade ROOT/submission as ROOT/source's configuration says and write
    ROOT/results/results.json, whatever happens; return what was written."""
    started = time.monotonic()
    notes: Sequence[str] = ()
    try:
        config = load_config(root / "source" / CONFIG_NAME)
        gathered = gather(root / "submission", config.exercises)
        notes = gathered.notes
        document = _kit_grade(gathered, config)
        results = results_json(document, config, notes, time.monotonic() - started)
    except Exception as error:  # whatever it is, the student gets results and a message
        print(f"kit gradescope: {error}", file=sys.stderr)
        if not isinstance(error, ConfigError | GradingFailed | OSError):
            traceback.print_exc()  # a bug of the kit: the instructor sees where
        results = failure_results(_student_message(error), notes, time.monotonic() - started)
    write_results(root / "results" / "results.json", results)
    return results


class GradingFailed(RuntimeError):
    """`kit grade` did not grade the submission; the message is for the instructor."""


def _kit_grade(gathered: Gathered, config: AutograderConfig) -> dict[str, Any]:
    """The kit's results document for the gathered files, from `kit grade`."""
    with tempfile.TemporaryDirectory(prefix="kit-gradescope-") as work:
        folder = Path(work, STUDENT)
        folder.mkdir()
        for name, path in gathered.files.items():
            shutil.copyfile(path, folder / f"{name}.py")
        out = Path(work, "grades")
        # -I and cwd: nothing of the folder this started in (Gradescope's, the submission's?)
        # goes on sys.path, so a student's own transformer_kit/ or click.py is never imported
        command = [sys.executable, "-I", "-m", "transformer_kit.cli", "grade", str(folder)]
        command += ["--exercises", ",".join(config.exercises), "--out", str(out), "-j", "1"]
        if config.allow_basic_isolation:
            command.append("--allow-basic-isolation")
        run = subprocess.run(
            command, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=work
        )
        print(run.stdout, end="")
        print(run.stderr, end="", file=sys.stderr)
        result = out / "results" / f"{STUDENT}.json"
        if run.returncode not in (0, 1) or not result.is_file():
            raise GradingFailed(
                f"kit grade exited with status {run.returncode}: {run.stderr.strip()}"
            )
        try:
            document: dict[str, Any] = json.loads(result.read_text(encoding="utf-8"))
            return document
        except ValueError as error:
            raise GradingFailed(f"kit grade wrote an unreadable {result}: {error}") from None


def _student_message(error: Exception) -> str:
    if isinstance(error, ConfigError):
        return (
            "The autograder is not set up correctly, so nothing was graded: tell your instructor."
        )
    return (
        "The autograder could not grade your submission (a problem of the grading machine, not "
        "of your code): tell your instructor, who can see the details."
    )


def write_results(path: Path, results: Mapping[str, Any]) -> None:
    """Write results.json whole or not at all (a new file renamed over the old one)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(f".{path.name}.partial")
    partial.write_text(json.dumps(results, indent=1), encoding="utf-8")
    partial.replace(path)
