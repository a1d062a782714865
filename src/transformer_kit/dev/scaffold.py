"""`kit dev new NAME`: a new exercise's files in the source checkout, each a skeleton that says
what to write (`TODO`), and its exercises.toml entry. The scaffold passes `kit dev check`'s
structural checks but those that need real content (`checks.NEEDS_CONTENT`)."""

from __future__ import annotations

import keyword
from pathlib import Path

from transformer_kit import catalog
from transformer_kit.dev.checks import METADATA, MIN_RIGHT, MIN_WRONG, PLACEHOLDER, layout
from transformer_kit.dev.readme import HEADER

T = PLACEHOLDER


class ScaffoldError(Exception):
    """NAME cannot be scaffolded; the message says why."""


def new(root: Path, name: str) -> list[Path]:
    """Write every file of exercise `name` and its metadata entry; the files written."""
    if not name.isidentifier() or keyword.iskeyword(name) or name != name.lower():
        raise ScaffoldError(
            f"'{name}' cannot name an exercise: use a lower-case Python identifier "
            "(letters, digits and '_', not starting with a digit), e.g. layer_norm"
        )
    try:
        exercises = catalog.load(root / METADATA)
    except catalog.MetadataError as error:
        raise ScaffoldError(f"fix the metadata first: {error}") from None
    if name in {e.name for e in exercises}:
        raise ScaffoldError(f"an exercise named '{name}' exists already in {METADATA}")
    files = layout(root, name)
    present = [str(path.relative_to(root)) for path in files.values() if path.exists()]
    if present:
        raise ScaffoldError(f"'{name}' would overwrite {', '.join(present)}: choose another name")
    texts = {
        "stub": _module(name, f'raise NotImplementedError("{T}: {name}")'),
        "solution": _module(name, f'raise NotImplementedError("{T}: the reference {name}")'),
        "grader": GRADER,
        "fixtures": FIXTURES,
        "catalogue": CATALOGUE,
        "oracle test": ORACLE,
    }
    for what, path in files.items():
        path.write_text(texts[what].replace("NAME", name), encoding="utf-8")
    metadata = root / METADATA
    with metadata.open("a", encoding="utf-8") as out:
        out.write(ENTRY.replace("NAME", name))
    return [*files.values(), metadata]


def todo(name: str) -> list[str]:
    """What is left to write after `new`, in the order to write it."""
    return [
        f"exercises/{name}.py: the module's and the function's docstrings (shapes, conventions, "
        f"errors: all a learner reads), the signature; solutions/{name}.py the same, and the body",
        f"graders/fixtures/{name}.py: tiny inputs worked out by hand, the arithmetic beside them",
        f"graders/test_{name}.py: hand fixtures, the reference on random inputs, properties; "
        "@pytest.mark.visible on tests the stub's docstring already gives away",
        f"tests/exercises/test_{name}_oracle.py: the solution against an independent oracle "
        "(torch, brute force)",
        f"tests/catalogue/{name}.py: at least {MIN_WRONG} wrong versions (the mistakes people "
        f"make) and {MIN_RIGHT} right ones (einsum, loops, float32, torch inside)",
        f"{METADATA}: the {T}s of '{name}' (title, topic, points, hints), and where it belongs "
        "in the order",
        f"README.md: a row in the table under `{HEADER}`, as exercises.toml says",
        "then: kit dev check",
    ]


def _module(name: str, body: str) -> str:
    return STUB.replace("BODY", body).replace("NAME", name)


STUB = f'''"""{T}: the exercise's title.

{T}: what the learner implements and why it matters, with every shape and convention they need
(a learner reads only this file).

References:
- {T}: the paper or notes this follows.
"""

from __future__ import annotations

import numpy as np


def NAME(x: np.ndarray) -> np.ndarray:
    """{T}: one line on what NAME returns.

    x: {T} (shape, meaning). Returns {T} (shape). Does not modify x.
    """
    BODY
'''

GRADER = f'''"""Grader for NAME: {T} what it checks (hand fixtures, the reference on random inputs,
properties)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import assert_close
from transformer_kit.graders.fixtures import NAME as fixtures
from transformer_kit.solutions import NAME as reference


def test_hand(student: Any) -> None:
    """NAME matches the hand computation"""
    got = student.NAME(np.array(fixtures.X))
    assert_close(got, fixtures.EXPECTED, call=f"NAME(x={{fixtures.X}})")


@pytest.mark.parametrize("seed", [0, 1, 2], ids=["seed0", "seed1", "seed2"])
def test_random(student: Any, seed: int) -> None:
    """NAME matches the reference on random inputs"""
    x = np.random.default_rng(seed).standard_normal((3, 4))
    got = student.NAME(x)
    assert_close(got, reference.NAME(x), call=f"NAME(x (3, 4)), seed={{seed}}")
'''

FIXTURES = f'''"""Hand-computed fixtures for NAME (pen and paper; arithmetic next to each value)."""

from __future__ import annotations

# --- NAME ---
# {T}: the arithmetic, one line per step, e.g.
#   x = [1, 2]: ...
X = [1.0, 2.0]
EXPECTED = [0.0, 0.0]  # {T}: the value worked out above
'''

CATALOGUE = f'''"""Known-wrong and correct-but-different versions of solutions/NAME.py."""

from __future__ import annotations

from catalogue import Variant

# {T}: at least {MIN_WRONG} mistakes people really make, each a `replace` of a line of the
# solution and the words its failure must contain, e.g.
#   Variant("sign error", passes=False, replace=((OLD_LINE, NEW_LINE),), message="a sign error"),
WRONG: list[Variant] = []

# {T}: at least {MIN_RIGHT} correct-but-different versions (einsum, loops, float32, torch), e.g.
#   Variant("float32 inside", passes=True, code="def NAME(x): ..."),
RIGHT: list[Variant] = []

VARIANTS: list[Variant] = WRONG + RIGHT
'''

ORACLE = f'''"""solutions/NAME.py against an independent oracle ({T}: torch, brute force),
and the hand fixtures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transformer_kit.graders.fixtures import NAME as fixtures
from transformer_kit.solutions import NAME as solution


def test_the_hand_fixtures_are_the_solutions_values() -> None:
    np.testing.assert_allclose(solution.NAME(np.array(fixtures.X)), fixtures.EXPECTED)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_matches_torch(seed: int) -> None:
    x = np.random.default_rng(seed).standard_normal((3, 4))
    expected = torch.tensor(x)  # {T}: NAME computed with torch
    np.testing.assert_allclose(solution.NAME(x), expected.numpy(), rtol=1e-10)
'''

ENTRY = f"""
[[exercises]]
name = "NAME"
title = "{T}: the title (the README row says the same)"
topic = "{T}: a topic (warm-up, training, attention, architecture, decoding, ...)"
points = 10  # {T}: the exercise's points
time_limit = 3.0  # {T}: seconds per test for the learner's calls
interview_minutes = 30  # {T}: the default time of a mock interview
hints = [
    "{T}: a nudge",
    "{T}: the idea, and the classic traps",
    "{T}: nearly the answer",
]
"""
