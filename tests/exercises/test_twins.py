"""Twins that cannot drift: every stub (exercises/NAME.py) and its solution (solutions/NAME.py)
offer the same public names, with the same signatures and docstrings (transformer_kit/dev/twins.py,
which `kit dev check` runs too)."""

from __future__ import annotations

from pathlib import Path

import pytest
from support import EXERCISES, REPO

from transformer_kit.dev import checks, twins

STUBS = [REPO / "exercises" / f"{e.name}.py" for e in EXERCISES]


def test_every_exercise_has_both_twins_and_no_file_lacks_an_exercise() -> None:
    assert checks.orphans(REPO, EXERCISES) == []
    for stub in STUBS:
        assert stub.is_file() and (REPO / "solutions" / stub.name).is_file(), stub.name


def test_a_file_without_an_exercise_is_seen(tmp_path: Path) -> None:
    for folder in ("exercises", "solutions"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "__init__.py").write_text("")
    (tmp_path / "solutions" / "stray.py").write_text("X = 1\n")
    (found,) = checks.orphans(tmp_path, EXERCISES)
    assert found.where == "solutions/stray.py" and "no exercises.toml entry" in found.text


@pytest.mark.parametrize("stub", STUBS, ids=[p.stem for p in STUBS])
def test_the_stub_and_its_solution_have_the_same_public_face(stub: Path) -> None:
    drifted = twins.differences(stub, REPO / "solutions" / stub.name)
    assert not drifted, "\n\n".join(drifted)


def test_the_comparison_sees_a_drifted_docstring_and_signature(tmp_path: Path) -> None:
    """The test above can fail: a changed parameter, docstring or new public name is seen."""
    stub = REPO / "exercises" / "momentum_sgd.py"
    text = stub.read_text(encoding="utf-8")
    edits = {
        "signature": text.replace("def sgd_step(w:", "def sgd_step(weights:", 1),
        "docstring": text.replace("returns w - lr * grad.", "returns w + lr * grad.", 1),
        "new name": text + "\n\ndef helper(x):\n    return x\n",
    }
    for what, edited in edits.items():
        assert edited != text, what
        changed = tmp_path / f"{what.replace(' ', '_')}.py"
        changed.write_text(edited, encoding="utf-8")
        assert twins.differences(stub, changed), what
    assert twins.differences(stub, stub) == []
