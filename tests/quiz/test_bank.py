"""The bank: big and varied enough, every id once, every section of the notes covered, every
choice check right by its answer key, every numeric answer equal to an independent computation
(the parameterised ones over many draws), and a damaged file a clear error naming file and id."""

from __future__ import annotations

import math
import shutil
import tomllib
from collections import Counter
from pathlib import Path

import pytest
from reference import FIXED, REFERENCE

from transformer_kit.quiz import bank
from transformer_kit.quiz.answers import show
from transformer_kit.quiz.formulas import FORMULAS

HERE = Path(__file__).resolve().parent
BANK = bank.load()
DRAWS = 60  # instances of each parameterised check recomputed


def note_sections() -> set[tuple[str, str]]:
    lines = (HERE / "note_sections.txt").read_text(encoding="utf-8").splitlines()
    rows = [line.split(" | ", 1) for line in lines if line and not line.startswith("#")]
    return {(note, section) for note, section in rows}


def test_the_bank_is_big_and_has_every_kind() -> None:
    kinds = Counter(check.kind for check in BANK.checks)
    assert len(BANK.checks) >= 150
    assert sum(1 for check in BANK.checks if check.formula) >= 40
    assert kinds["order"] >= 3 and kinds["single"] and kinds["multiple"]


def test_no_id_is_declared_twice_in_the_files() -> None:
    """Read from the TOML files directly, not through the loader that would refuse them."""
    ids = Counter(
        f"{data['topic']}.{entry['id']}"
        for path in sorted(bank.BANK.glob("*.toml"))
        if path.name != bank.SOURCES
        for data in [tomllib.loads(path.read_text(encoding="utf-8"))]
        for entry in data["checks"]
    )
    assert len(ids) == len(BANK.checks)
    assert [name for name, count in ids.items() if count > 1] == []


def test_the_sections_are_the_notes_and_each_has_a_check() -> None:
    sections = note_sections()
    assert len(sections) == 76  # as counted in the notes: see note_sections.txt
    declared = {(note.id, s) for note in BANK.notes.values() for s in note.sections}
    assert declared == sections
    covered = {(check.note, check.section) for check in BANK.checks}
    assert sorted(sections - covered) == []


def test_every_choice_check_has_exactly_its_intended_options() -> None:
    key = tomllib.loads((HERE / "answer_key.toml").read_text(encoding="utf-8"))
    choices = [check for check in BANK.checks if check.kind in ("single", "multiple")]
    assert sorted(key) == sorted(check.id for check in choices)
    for check in choices:
        right = sorted(check.options[i] for i in check.correct)
        assert right == sorted(key[check.id]["right"]), check.id
        assert len(set(check.options)) == len(check.options), f"{check.id}: an option twice"
        if check.kind == "single":
            assert len(right) == 1, check.id


def test_every_formula_has_an_independent_reference() -> None:
    assert sorted(REFERENCE) == sorted(FORMULAS)
    used = {check.formula for check in BANK.checks if check.formula}
    assert used == set(FORMULAS)


@pytest.mark.parametrize("check", [c for c in BANK.checks if c.formula], ids=lambda c: c.id)
def test_a_parameterised_answer_is_the_reference_over_many_draws(check: bank.Check) -> None:
    prompts = set()
    for instance in range(DRAWS):
        shown = show(check, instance)
        assert shown.value is not None and math.isfinite(shown.value)
        expected = REFERENCE[check.formula](shown.values)
        assert math.isclose(shown.value, expected, rel_tol=1e-9, abs_tol=1e-12), shown.values
        assert "{" not in shown.prompt, shown.prompt
        prompts.add(shown.prompt)
    assert len(prompts) > 1, "every draw shows the same numbers"


def test_a_fixed_numeric_answer_is_the_reference() -> None:
    fixed = [c for c in BANK.checks if c.kind == "numeric" and not c.formula]
    assert sorted(FIXED) == sorted(c.id for c in fixed)
    for check in fixed:
        assert check.answer is not None
        assert math.isclose(check.answer, FIXED[check.id](), rel_tol=check.tolerance / 10)


def test_the_same_instance_shows_the_same_and_the_next_differs() -> None:
    check = BANK.check("inference.kv-bytes")
    assert check is not None
    assert show(check, 3) == show(check, 3)
    assert len({show(check, n).prompt for n in range(5)}) > 1


def test_options_are_shuffled_so_the_right_letter_moves() -> None:
    keys = {show(check, 0).key for check in BANK.checks if check.kind == "single"}
    assert {"a", "b", "c", "d"} <= keys


DAMAGE = {
    "a numeric check without tolerance": (
        "tolerance = 0.001\n",
        "",
        "check attention.head-dim",
    ),
    "an unknown formula": (
        'formula = "head_dim"',
        'formula = "no_such_thing"',
        "attention.head-dim",
    ),
    "a section the note lacks": (
        'section = "Q5. What is Multi-Head Attention?"',
        'section = "Q99. Nothing"',
        "attention.head-dim",
    ),
    "an id twice": ('id = "long-range"', 'id = "what-attention-computes"', "declared twice"),
    "a right option out of range": (
        'correct = [0]\nexplanation = "Each token',
        'correct = [9]\nexplanation = "Each token',
        "attention.long-range",
    ),
    "a prompt naming a param it lacks": ("What is d_k?", "What is {x}?", "attention.head-dim"),
    "broken TOML": ('topic = "attention"', "topic = = attention", "cannot be read"),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_a_damaged_bank_file_is_an_error_naming_file_and_check(damage: str, tmp_path: Path) -> None:
    old, new, named = DAMAGE[damage]
    folder = tmp_path / "bank"
    shutil.copytree(bank.BANK, folder)
    target = folder / "attention.toml"
    text = target.read_text(encoding="utf-8")
    assert text.count(old) >= 1, old
    target.write_text(text.replace(old, new, 1), encoding="utf-8")
    with pytest.raises(bank.BankError) as error:
        bank.load_from(folder)
    assert "attention.toml" in str(error.value)
    assert named in str(error.value)
