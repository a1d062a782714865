"""The solution cells of an exercise's notebook: the stub's definitions with the reference bodies
between nbgrader's solution markers (the solution's helpers nested into the functions that call
them), and the grade_ids that name those cells."""

from __future__ import annotations

import ast
import itertools
import textwrap
from collections.abc import Sequence
from dataclasses import dataclass

from transformer_kit import catalog as meta
from transformer_kit.classroom.nbgrader.sources import (
    Chunk,
    ExportError,
    bound_names,
    chunks,
    closure,
    first_line,
    is_docstring,
    used_names,
)


@dataclass(frozen=True)
class Answer:
    """A solution cell: `symbol` is the stub's name it defines."""

    symbol: str
    source: str


def answers(exercise: meta.Exercise) -> tuple[str, list[Answer]]:
    """The setup cell (imports and shared names) and the solution cells of an exercise."""
    stub_text = exercise.stub.read_text(encoding="utf-8")
    solution_text = exercise.solution.read_text(encoding="utf-8")
    stub, solution = chunks(stub_text), chunks(solution_text)
    reference = {name: chunk for chunk in solution for name in chunk.names}
    asked = {name for chunk in stub for name in chunk.names}
    helpers = [
        c for c in solution if not c.is_import and not c.is_docstring and not c.names & asked
    ]
    imports = [c.text for c in stub if c.is_import]
    known = {c.code for c in stub if c.is_import}
    imports += [c.text for c in solution if c.is_import and c.code not in known]
    notes = _notes_below(solution, solution_text)
    setup, cells = [], []
    for chunk in stub:
        node = chunk.node
        if chunk.is_docstring or chunk.is_import or chunk.is_main_guard:
            continue  # a notebook runs its cells, not a script's entry point
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)) and _is_broken_program(exercise):
            cells.append(Answer(node.name, _fixed_after(chunk, reference.get(node.name), exercise)))
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            solved = _solved_definition(chunk, reference.get(node.name), helpers, exercise)
            cells.append(Answer(node.name, solved))
        elif _differs(chunk, reference):
            (name,) = chunk.names
            answer = reference[name].code + notes.get(reference[name], "")
            cells.append(Answer(name, chunk.text + _marked(answer, "")))
        else:
            setup.append(chunk.text)
    return "".join([*imports, *setup]).strip("\n") + "\n", cells


def _is_broken_program(exercise: meta.Exercise) -> bool:
    """A debug exercise (contract: debug_NAME): its stub is a whole program with planted bugs."""
    return exercise.name.startswith("debug_")


def _fixed_after(stub: Chunk, solved: Chunk | None, exercise: meta.Exercise) -> str:
    """A debug exercise's solution cell: the broken definition as the learner gets it, then the
    fixed one in a solution region. The released cell keeps the broken definition (the learner's
    to fix) and ends with nbgrader's `raise NotImplementedError()`, for the learner to delete.
    Every definition gets a cell, those without a bug too: a locked one would say where not to
    look."""
    name = getattr(stub.node, "name", "?")
    if solved is None:
        raise ExportError(f"{exercise.solution}: no {name} to match the stub's")
    return stub.text.rstrip("\n") + "\n\n\n" + _marked(solved.code.strip("\n") + "\n", "")


def _notes_below(parts: Sequence[Chunk], source: str) -> dict[Chunk, str]:
    """The comment lines right below each statement, up to a blank line (a warm-up answer's
    arithmetic)."""
    lines = source.splitlines(keepends=True)
    return {
        chunk: "".join(itertools.takewhile(_is_comment, lines[chunk.node.end_lineno or 0 :]))
        for chunk in parts
    }


def _is_comment(line: str) -> bool:
    return line.lstrip().startswith("#")


def _differs(chunk: Chunk, reference: dict[str, Chunk]) -> bool:
    """A stub statement the solution writes differently (a warm-up answer left as None)."""
    return any(name in reference and reference[name].code != chunk.code for name in chunk.names)


def _solved_definition(
    stub: Chunk, solved: Chunk | None, helpers: Sequence[Chunk], exercise: meta.Exercise
) -> str:
    """The stub's def or class, each body after its docstring replaced by the marked solution."""
    name = getattr(stub.node, "name", "?")
    if solved is None or type(solved.node) is not type(stub.node):
        raise ExportError(f"{exercise.solution}: no {name} to match the stub's")
    stub_lines = stub.code.splitlines(keepends=True)
    pairs = _function_pairs(stub.node, solved.node, exercise)
    out, cursor = [], 1
    for stub_def, solved_def in pairs:
        start = _after_docstring(stub_def) - first_line(stub.node) + 1
        end = (stub_def.end_lineno or stub_def.lineno) - first_line(stub.node) + 1
        kept = [line for line in stub_lines[start - 1 : end] if _is_comment(line)]
        out += [*stub_lines[cursor - 1 : start - 1], *kept]
        out.append(_solution_body(solved, solved_def, helpers))
        cursor = end + 1
    out += stub_lines[cursor - 1 :]
    return stub.lead + "".join(out)


def _function_pairs(
    stub: ast.stmt, solved: ast.stmt, exercise: meta.Exercise
) -> list[tuple[ast.FunctionDef, ast.FunctionDef]]:
    """(stub function, solution function): the def itself, or every method of a class."""
    if isinstance(stub, ast.FunctionDef) and isinstance(solved, ast.FunctionDef):
        return [(stub, solved)]
    assert isinstance(stub, ast.ClassDef) and isinstance(solved, ast.ClassDef)
    stub_methods = [n for n in stub.body if isinstance(n, ast.FunctionDef)]
    members = {name: n for n in solved.body if not is_docstring(n) for name in bound_names(n)}
    extra = sorted(set(members) - {m.name for m in stub_methods})
    if extra:
        raise ExportError(
            f"{exercise.solution}: class {solved.name} has members the stub lacks ({extra}); "
            "a solution cell keeps the stub's methods, so move them into those methods"
        )
    pairs = []
    for method in stub_methods:
        twin = members.get(method.name)
        if not isinstance(twin, ast.FunctionDef):
            raise ExportError(f"{exercise.solution}: class {solved.name} lacks {method.name}")
        pairs.append((method, twin))
    return pairs


def _after_docstring(function: ast.FunctionDef) -> int:
    """The first line of a function's body after its docstring."""
    first = function.body[0]
    if is_docstring(first):
        return (first.end_lineno or first.lineno) + 1
    return first.lineno


def _solution_body(chunk: Chunk, function: ast.FunctionDef, helpers: Sequence[Chunk]) -> str:
    """The reference body of `function` (in `chunk`), the helpers it calls nested in front."""
    lines = chunk.code.splitlines(keepends=True)
    offset = first_line(chunk.node)
    start = _after_docstring(function)
    statements = [s for s in function.body if s.lineno >= start]
    if not statements:
        raise ExportError(f"{function.name} of the solution has no body after its docstring")
    indent = " " * statements[0].col_offset
    end = function.end_lineno or function.lineno
    body = "".join(lines[start - offset : end - offset + 1]).strip("\n") + "\n"
    whole = textwrap.dedent("".join(lines[first_line(function) - offset : end - offset + 1]))
    needed = closure(helpers, used_names(whole))
    nested = "".join(textwrap.indent(c.code, indent) + "\n" for c in needed)
    return _marked(nested + body, indent)


def _marked(code: str, indent: str) -> str:
    return f"{indent}### BEGIN SOLUTION\n{code}{indent}### END SOLUTION\n"


def imports_id(exercise: str) -> str:
    """The grade_id of a notebook's imports cell (locked: the kit grades nbgrader's copy)."""
    return f"{exercise}-imports"


def solution_id(exercise: str, symbol: str) -> str:
    """The grade_id of the solution cell that defines `symbol`."""
    return f"{exercise}-solution-{symbol}"


def solution_ids(exercise: meta.Exercise) -> list[str]:
    """The grade_ids of an exercise's solution cells, in the notebook's order."""
    return [solution_id(exercise.name, a.symbol) for a in answers(exercise)[1]]
