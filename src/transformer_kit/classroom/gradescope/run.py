"""One Gradescope autograder run: Gradescope runs `run_autograder` once per submission with the
student's files in ROOT/submission and reads ROOT/results/results.json (ROOT is `/autograder`; see
https://gradescope-autograders.readthedocs.io/en/latest/specs/). `autograde` gathers the files
(gather.py), grades them with `kit grade`, and writes the results (results.py). Whatever fails, a
valid results.json is written, with a message for the student and 0 points.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from transformer_kit.classroom.gradescope.config import (
    CONFIG_NAME,
    AutograderConfig,
    ConfigError,
    load_config,
)
from transformer_kit.classroom.gradescope.gather import Gathered, gather
from transformer_kit.classroom.gradescope.results import failure_results, results_json

DEFAULT_ROOT = Path("/autograder")
ROOT_VARIABLE = "KIT_AUTOGRADER_ROOT"
STUDENT = "submission"  # the student id kit grade sees: one submission per run


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
        command.append("--json")  # its class summary, unprinted: the log shows this student's
        if config.allow_basic_isolation:
            command.append("--allow-basic-isolation")
        run = subprocess.run(
            command, capture_output=True, text=True, stdin=subprocess.DEVNULL, cwd=work
        )
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
