"""Grading a typed answer by kind, and the FSRS schedule in `.kit/quiz.json`: a missed check comes
back before a passed one, answers survive a reload, a damaged store is set aside."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from transformer_kit.quiz import bank, schedule
from transformer_kit.quiz.answers import LETTERS, AnswerError, Shown, grade, show

BANK = bank.load()
NOW = datetime(2026, 1, 5, 9, 0, tzinfo=UTC)


def shown(check_id: str, instance: int = 0) -> Shown:
    check = BANK.check(check_id)
    assert check is not None
    return show(check, instance)


def test_a_single_choice_takes_its_letter_and_no_other() -> None:
    s = shown("attention.scale-why")
    letters = LETTERS[: len(s.options)]
    assert grade(s, s.key) and grade(s, f"  {s.key.upper()} ")
    assert [grade(s, other) for other in letters if other != s.key] == [False] * 3


@pytest.mark.parametrize("text", ["z", "1", "a,b", "", "ab"])
def test_a_single_choice_refuses_what_is_not_one_option(text: str) -> None:
    with pytest.raises(AnswerError):
        grade(shown("attention.scale-why"), text)


def test_a_multiple_choice_needs_exactly_the_right_set() -> None:
    s = shown("attention.qkv-same-input")  # three right of five
    right = s.key.split(",")
    assert len(right) == 3
    assert grade(s, ",".join(reversed(right))) and grade(s, " ".join(right))
    assert not grade(s, ",".join(right[:2]))  # one missing
    extra = next(letter for letter in LETTERS[:5] if letter not in right)
    assert not grade(s, ",".join([*right, extra]))  # one too many
    with pytest.raises(AnswerError):
        grade(s, f"{right[0]},{right[0]}")


def test_an_ordering_needs_every_letter_in_the_right_order() -> None:
    s = shown("training.training-step")
    letters = s.key.split(",")
    assert grade(s, s.key)
    # its steps, in the order shown, put back in the declared order by hand
    by_text = {text: LETTERS[n] for n, text in enumerate(s.options)}
    assert ",".join(by_text[step] for step in s.check.options) == s.key
    swapped = [letters[1], letters[0], *letters[2:]]
    assert not grade(s, ",".join(swapped))
    for bad in (",".join(letters[:-1]), ",".join([*letters[:-1], letters[0]]), "z,a,b,c,d"):
        with pytest.raises(AnswerError):
            grade(s, bad)


def test_a_number_is_right_within_its_tolerance_only() -> None:
    s = shown("math.gd-three-steps")  # 1.032 within 0.1 %
    assert grade(s, "1.032") and grade(s, "1.0325")
    assert not grade(s, "1.034") and not grade(s, "5")
    masks = shown("attention.masked-entries")  # n (n - 1) / 2 for the n drawn
    n = masks.values["n"]
    assert grade(masks, f"{n * (n - 1) / 2:,.0f}")  # thousands separators are fine
    assert grade(masks, f"{n * (n - 1) / 2:.3e}")


@pytest.mark.parametrize("text", ["abc", "nan", "inf", "1.2.3", "", "1,2"])
def test_what_is_not_a_number_is_refused(text: str) -> None:
    with pytest.raises(AnswerError):
        grade(shown("math.gd-three-steps"), text)


def record(root: Path, answers: dict[str, bool], when: datetime) -> schedule.Store:
    store = schedule.load(root)
    for check_id, right in answers.items():
        store.record(check_id, right, when)
    return store


def test_a_missed_check_comes_back_before_a_passed_one(tmp_path: Path) -> None:
    store = record(tmp_path, {"attention.scale-why": False, "attention.complexity": True}, NOW)
    missed = store.entries["attention.scale-why"].card.due
    passed = store.entries["attention.complexity"].card.due
    assert NOW < missed < passed
    checks = [BANK.check("attention.complexity"), BANK.check("attention.scale-why")]
    pair = [c for c in checks if c is not None]
    assert store.due(pair, NOW) == []  # neither is due straight after answering
    assert [c.id for c in store.due(pair, missed)] == ["attention.scale-why"]
    later = passed + timedelta(seconds=1)
    assert [c.id for c in store.due(pair, later)] == ["attention.scale-why", "attention.complexity"]


def test_right_again_and_again_spaces_further_each_time(tmp_path: Path) -> None:
    store = schedule.load(tmp_path)
    when, gaps = NOW, []
    for _ in range(4):
        store.record("math.cosine", True, when)
        due = store.entries["math.cosine"].card.due
        gaps.append(due - when)
        when = due
    assert gaps == sorted(gaps) and gaps[-1] > gaps[0]


def test_answers_survive_a_reload_and_move_the_instance_on(tmp_path: Path) -> None:
    record(tmp_path, {"math.cosine": True, "math.kl": False}, NOW)
    store = schedule.load(tmp_path)
    assert store.warning == ""
    assert (store.entries["math.cosine"].seen, store.entries["math.cosine"].right) == (1, 1)
    assert (store.entries["math.kl"].seen, store.entries["math.kl"].right) == (1, 0)
    assert store.instance("math.cosine") == 1 and store.instance("math.l1-norm") == 0


@pytest.mark.parametrize(
    "content",
    [
        "{not json",
        '{"format_version": 1, "checks": {"math.kl": {"seen": 1, "right": 2, "card": {}}}}',
        '{"format_version": 1, "checks": {"math.kl": {"seen": "x", "right": 0, "card": {}}}}',
        '{"format_version": 1, "checks": []}',
        '{"format_version": 99, "checks": {}}',
    ],
)
def test_a_damaged_store_is_set_aside_with_a_warning(tmp_path: Path, content: str) -> None:
    (tmp_path / ".kit").mkdir()
    (tmp_path / ".kit" / "quiz.json").write_text(content, encoding="utf-8")
    store = schedule.load(tmp_path)
    assert "could not be read" in store.warning and store.entries == {}
    aside = list((tmp_path / ".kit").glob("quiz.damaged-*.json"))
    assert [p.read_text(encoding="utf-8") for p in aside] == [content]
    assert not (tmp_path / ".kit" / "quiz.json").exists()
