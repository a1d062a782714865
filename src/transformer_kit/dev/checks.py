"""`kit dev check`: is every exercise whole? rustlings' `dev check` (every stub fails its grader,
every solution passes) and more, each problem listed rather than the first one raised.

It works on the source checkout the running kit comes from (`transformer_kit.CONTENT`), because
the catalogues of known-wrong versions (tests/catalogue/) and the README are not installed.
"""

from __future__ import annotations

import ast
import shutil
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import transformer_kit
from transformer_kit import catalog
from transformer_kit.catalog import Exercise
from transformer_kit.dev import readme, twins

MIN_WRONG, MIN_RIGHT = 8, 3  # versions in an exercise's catalogue
PLACEHOLDER = "TODO"  # what `kit dev new` leaves in the metadata, to be replaced
# the checks a fresh scaffold fails until it holds real content (kit dev new says what to write)
NEEDS_CONTENT = ("metadata", "catalogue", "README", "solution passes")
METADATA = Path("src", "transformer_kit", "exercises.toml")  # in a checkout
SHOWN = 3  # failed tests of a solution listed, the rest counted


class NotACheckout(Exception):
    """`kit dev` runs from a kit installed from a source checkout; the message says how."""


@dataclass(frozen=True)
class Problem:
    """One thing wrong: where (an exercise's name, or a file), which check, and what to do."""

    where: str
    check: str
    text: str


def checkout() -> Path:
    """The source checkout the running kit comes from."""
    root = transformer_kit.CONTENT
    if not (root / "tests" / "catalogue").is_dir() or root / METADATA != catalog.METADATA:
        raise NotACheckout(
            f"kit dev works in a source checkout of the kit, and this kit runs from {root}: "
            "clone the repository, `pip install -e .` in it, and run kit dev there"
        )
    return root


def layout(root: Path, name: str) -> dict[str, Path]:
    """Every file one exercise's name ties together, by what it is."""
    return {
        "stub": root / "exercises" / f"{name}.py",
        "solution": root / "solutions" / f"{name}.py",
        "grader": root / "graders" / f"test_{name}.py",
        "fixtures": root / "graders" / "fixtures" / f"{name}.py",
        "catalogue": root / "tests" / "catalogue" / f"{name}.py",
        "oracle test": root / "tests" / "exercises" / f"test_{name}_oracle.py",
    }


def run(root: Path) -> list[Problem]:
    """Every problem of every exercise: the structure first, then the grading."""
    try:
        exercises = catalog.load(root / METADATA)
    except catalog.MetadataError as error:
        return [Problem(str(METADATA), "metadata", str(error))]
    found = structure(root, exercises)
    whole = [e for e in exercises if all(p.is_file() for p in layout(root, e.name).values())]
    return found + grading(root, whole)


def structure(root: Path, exercises: Sequence[Exercise]) -> list[Problem]:
    """What reading the files shows: files, metadata, twins, catalogues, the README."""
    found = orphans(root, exercises)
    for exercise in exercises:
        files = layout(root, exercise.name)
        found += [
            Problem(exercise.name, "files", f"{path.relative_to(root)} is missing")
            for what, path in files.items()
            if not path.is_file()
        ]
        found += _placeholders(exercise)
        if files["stub"].is_file() and files["solution"].is_file():
            found += [
                Problem(exercise.name, "twins", f"stub and solution differ: {text}")
                for text in twins.differences(files["stub"], files["solution"])
            ]
        if files["catalogue"].is_file():
            found += _catalogue(exercise.name, files["catalogue"])
    path = root / "README.md"
    text = path.read_text(encoding="utf-8") if path.is_file() else ""
    found += [
        Problem(where, "README", line)
        for where, lines in readme.problems(text, exercises).items()
        for line in lines
    ]
    return found


def orphans(root: Path, exercises: Sequence[Exercise]) -> list[Problem]:
    """Stubs and solutions that no entry of exercises.toml names."""
    names = {e.name for e in exercises}
    return [
        Problem(str(path.relative_to(root)), "files", "no exercises.toml entry names it")
        for folder in ("exercises", "solutions")
        for path in sorted((root / folder).glob("*.py"))
        if path.stem not in names and path.name != "__init__.py"
    ]


def _placeholders(exercise: Exercise) -> list[Problem]:
    fields = {"title": exercise.title, "topic": exercise.topic}
    fields |= {f"hint {i}": hint for i, hint in enumerate(exercise.hints, 1)}
    left = [key for key, value in fields.items() if PLACEHOLDER in value]
    if not left:
        return []
    return [Problem(exercise.name, "metadata", f"exercises.toml: fill in {', '.join(left)}")]


def variant_counts(path: Path) -> tuple[int, int]:
    """(wrong, right): the `Variant(...)` calls of a catalogue file, by their `passes`."""
    verdicts = [
        ast.unparse(passes)
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path)))
        if isinstance(node, ast.Call) and ast.unparse(node.func) == "Variant"
        for passes in [k.value for k in node.keywords if k.arg == "passes"] + node.args[1:2]
    ]
    return verdicts.count("False"), verdicts.count("True")


def _catalogue(name: str, path: Path) -> list[Problem]:
    wrong, right = variant_counts(path)
    if wrong >= MIN_WRONG and right >= MIN_RIGHT:
        return []
    return [
        Problem(
            name,
            "catalogue",
            f"tests/catalogue/{name}.py has {wrong} wrong and {right} right versions: "
            f"it needs at least {MIN_WRONG} wrong (mistakes people make) and {MIN_RIGHT} right "
            "(correct but different)",
        )
    ]


def grading(root: Path, exercises: Sequence[Exercise]) -> list[Problem]:
    """Through the real `check()`: every stub fails its grader, every solution passes (graded from
    a copy: a sandboxed worker may not read the kit's own solutions/)."""
    if not exercises:
        return []
    from transformer_kit.check import GraderError, check

    with tempfile.TemporaryDirectory(prefix="kit-dev-") as scratch:
        copies = Path(scratch, "exercises")
        copies.mkdir()
        for exercise in exercises:
            shutil.copyfile(layout(root, exercise.name)["solution"], copies / f"{exercise.name}.py")
        try:
            stubs = check(root, exercises, folder=root / "exercises")
            solutions = check(Path(scratch), exercises)
        except GraderError as error:
            return [Problem("graders", "grading", f"the graders could not run: {error}")]
    found = [
        Problem(r.name, "stub fails", "the stub passes every test of its grader")
        for r in stubs.exercises
        if r.passed
    ]
    for result in solutions.exercises:
        failed = [t for t in result.tests if not t.passed]
        found += [
            Problem(result.name, "solution passes", f"the solution fails {t.name}: {t.message}")
            for t in failed[:SHOWN]
        ]
        if len(failed) > SHOWN:
            more = f"and {len(failed) - SHOWN} more of its tests"
            found.append(Problem(result.name, "solution passes", more))
    return found
