"""The README's table of exercises, checked against exercises.toml (the one place the title, the
topic, the points and the order are declared): a row per exercise, in the file's order."""

from __future__ import annotations

from collections.abc import Sequence

from transformer_kit.catalog import Exercise

HEADER = "| name | title | topic | points |"


def row(exercise: Exercise) -> str:
    """The README row exercises.toml calls for."""
    return f"| `{exercise.name}` | {exercise.title} | {exercise.topic} | {exercise.points:g} |"


def table(readme: str) -> list[str] | None:
    """The rows under the table's header (its separator line skipped); None without a header."""
    lines = [line.strip() for line in readme.splitlines()]
    if HEADER not in lines:
        return None
    rows = []
    for line in lines[lines.index(HEADER) + 2 :]:
        if not line.startswith("|"):
            break
        rows.append(line)
    return rows


def problems(readme: str, exercises: Sequence[Exercise]) -> dict[str, list[str]]:
    """What is wrong with the table, by exercise name ("README.md" for the table as a whole)."""
    rows = table(readme)
    if rows is None:
        return {"README.md": [f"no table of exercises: add a `{HEADER}` table"]}
    found = {_name(line): line for line in rows}
    found_problems: dict[str, list[str]] = {}
    for exercise in exercises:
        expected = row(exercise)
        if exercise.name not in found:
            found_problems[exercise.name] = [f"no README row: add `{expected}`"]
        elif found[exercise.name] != expected:
            found_problems[exercise.name] = [
                f"README row `{found[exercise.name]}` does not match exercises.toml: `{expected}`"
            ]
    known = [e.name for e in exercises]
    whole = [f"a README row for `{n}`, which exercises.toml lacks" for n in found if n not in known]
    listed = [name for name in found if name in known]
    if listed != [name for name in known if name in found]:
        whole.append(f"README rows are not in exercises.toml's order: {', '.join(known)}")
    if len(found) != len(rows):
        whole.append("a README row appears twice")
    if whole:
        found_problems["README.md"] = whole
    return found_problems


def _name(line: str) -> str:
    return line.strip("|").split("|")[0].strip().strip("`")
