"""`kit quiz` for scripts (--json, --answer, --stats, --list, exit codes) and `kit today`."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from reference import REFERENCE
from support import EXERCISES, run_cli

from transformer_kit.quiz import bank
from transformer_kit.quiz.answers import show

BANK = bank.load()
ANSWER_WORDS = ("answer", "key", "correct", "explanation", "expected", "value")


@pytest.fixture
def root(make_workspace: object, isolated_environment: None) -> Path:
    assert callable(make_workspace)
    made = make_workspace({})
    assert isinstance(made, Path)
    return made


def quiz(root: Path, *args: str) -> tuple[int, str, str]:
    return run_cli("--workspace", str(root), "quiz", *args)


def due_json(root: Path, *args: str) -> list[dict[str, object]]:
    code, out, err = quiz(root, "--json", *args)
    assert code == 0, err
    checks = json.loads(out)["checks"]
    assert isinstance(checks, list)
    return checks


def test_list_names_every_topic() -> None:
    code, out, _ = run_cli("quiz", "--list")
    assert code == 0
    for topic in BANK.topics:
        assert topic.name in out and topic.title in out


def test_json_lists_the_due_checks_without_their_answers(root: Path) -> None:
    checks = due_json(root)
    assert len(checks) == len(BANK.checks)  # nothing answered yet: everything is new
    for entry in checks:
        assert not set(entry) & set(ANSWER_WORDS)
        check = BANK.check(str(entry["id"]))
        assert check is not None and check.explanation not in json.dumps(entry)
    assert [c["id"] for c in due_json(root, "math", "--count", "3")] == [
        c.id for c in BANK.checks if c.topic == "math"
    ][:3]


def test_answer_grades_the_instance_json_showed(root: Path) -> None:
    check = BANK.check("training.zero3")
    assert check is not None
    (entry,) = [c for c in due_json(root, "training") if c["id"] == check.id]
    shown = show(check, 0)
    assert entry["prompt"] == shown.prompt
    right = REFERENCE[check.formula](shown.values)
    code, out, _ = quiz(root, "--answer", check.id, repr(right), "--json")
    verdict = json.loads(out)
    assert code == 0 and verdict["right"] is True and verdict["explanation"] == check.explanation
    assert (verdict["note"], verdict["section"]) == (check.note, check.section)
    # answered: the next instance has new numbers, and the old answer is graded against them
    again = BANK.check("training.zero3")
    assert again is not None and show(again, 1).prompt != shown.prompt
    code, out, _ = quiz(
        root, "--answer", check.id, repr(REFERENCE[check.formula](show(check, 1).values))
    )
    assert code == 0 and "Right" in out


def test_a_wrong_answer_exits_1_and_shows_the_right_one(root: Path) -> None:
    shown = show(_check("attention.scale-why"), 0)
    wrong = next(letter for letter in "abcd" if letter != shown.key)
    code, out, _ = quiz(root, "--answer", "attention.scale-why", wrong)
    assert code == 1
    assert (
        f"the answer is {shown.key}" in out
        and _check("attention.scale-why").explanation[:40] in out
    )


@pytest.mark.parametrize(
    ("check_id", "text", "message"),
    [
        ("math.gd-three-steps", "about one", "is not a number"),
        ("attention.scale-why", "q", "no option 'q'"),
        ("training.training-step", "a,b", "every letter"),
        ("attention.no-such-check", "a", "no check 'attention.no-such-check'"),
        ("math.gd-three-steps", "\x1b[2J\x1b[31m" + "9" * 5000, "is not a number"),
    ],
)
def test_an_answer_of_the_wrong_kind_exits_2_and_records_nothing(
    root: Path, check_id: str, text: str, message: str
) -> None:
    code, out, err = quiz(root, "--answer", check_id, text)
    assert (code, out) == (2, "")
    assert message in err and "Traceback" not in err
    assert "\x1b" not in err and len(err) < 500  # what was typed is shown back tamed
    assert not (root / ".kit" / "quiz.json").exists()


def test_an_unknown_topic_is_a_usage_error_naming_the_topics(root: Path) -> None:
    code, _, err = quiz(root, "atention")
    assert code == 2
    assert "no topic 'atention'" in err and "did you mean attention" in err


def test_stats_count_seen_right_and_due_per_topic(root: Path) -> None:
    quiz(root, "--answer", "math.matmul-shape", show(_check("math.matmul-shape"), 0).key)
    shown = show(_check("math.transpose-product"), 0)
    quiz(root, "--answer", "math.transpose-product", next(x for x in "abcd" if x != shown.key))
    code, out, _ = quiz(root, "--stats")
    assert code == 0
    total = sum(1 for c in BANK.checks if c.topic == "math")
    (row,) = [line for line in out.splitlines() if " math " in line]
    cells = [cell.strip() for cell in row.split("│")[1:6]]
    assert cells == ["math", str(total), "2", "1", str(total - 2)]


def test_a_damaged_store_is_a_warning_not_a_traceback(root: Path) -> None:
    (root / ".kit").mkdir()
    (root / ".kit" / "quiz.json").write_text("{broken", encoding="utf-8")
    code, out, err = quiz(root, "--stats")
    assert code == 0 and "could not be read" in err and "moved to quiz.damaged-" in err
    assert "Traceback" not in out + err


def test_today_plans_checks_the_next_exercise_and_a_redo(root: Path) -> None:
    code, out, _ = run_cli("--workspace", str(root), "today")
    assert code == 0
    first, second = EXERCISES[0], EXERCISES[1]
    assert f"Next exercise: {first.name}" in out and "Redo" not in out
    assert f"20 of the {len(BANK.checks)} checks due, about 15 min" in out  # 20 x 45 s
    progress = {"format_version": 1, "exercises": {first.name: _passed()}}
    (root / ".kit").mkdir()
    (root / ".kit" / "progress.json").write_text(json.dumps(progress), encoding="utf-8")
    code, out, _ = run_cli("--workspace", str(root), "today")
    assert code == 0
    assert f"Next exercise: {second.name}" in out
    assert f"Redo from a blank stub: {first.name}" in out and f"kit interview {first.name}" in out
    minutes = 15 + second.interview_minutes + first.interview_minutes
    assert f"Today: about {minutes} minutes." in out


def _passed() -> dict[str, object]:
    return {
        "best_score": 1.0,
        "max_score": 1.0,
        "passed_at": "2026-01-01T10:00:00",
        "hints_shown": 0,
    }


def _check(check_id: str) -> bank.Check:
    check = BANK.check(check_id)
    assert check is not None
    return check
