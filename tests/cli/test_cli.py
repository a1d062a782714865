"""The `kit` command as learners and scripts use it (cli.md): through click's CliRunner, and
through the installed console script in a subprocess."""

from __future__ import annotations

import importlib
import json
import shutil
import subprocess
from pathlib import Path

import pytest
from support import EXERCISES, kit_executable, solution_source
from support import run_cli as run

from transformer_kit import __version__

pytestmark = pytest.mark.usefixtures("isolated_environment")


def test_version_and_help() -> None:
    code, out, _ = run("--version")
    assert code == 0 and __version__ in out
    code, out, _ = run("--help")
    assert code == 0
    commands = ("check", "list", "hint", "init", "reset", "next", "solution", "watch", "nbgrader")
    for command in commands:
        assert command in out
    code, out, _ = run("check", "--help")
    assert code == 0 and "Exit status" in out


def test_init_copies_every_stub_and_refuses_to_overwrite(fresh: Path) -> None:
    for exercise in EXERCISES:
        copied = fresh / "exercises" / f"{exercise.name}.py"
        assert copied.read_bytes() == exercise.stub.read_bytes()
    learner_file = fresh / "exercises" / "attention.py"
    learner_file.write_text("# my work\n")
    code, _, err = run("init", str(fresh))
    assert code == 2 and "already exists" in err
    assert learner_file.read_text() == "# my work\n"


def test_list_shows_every_exercise(fresh: Path) -> None:
    code, out, _ = run("--workspace", str(fresh), "list")
    assert code == 0
    for exercise in EXERCISES:
        assert exercise.name in out
    assert "not started" in out


def test_check_on_a_stub_fails_with_exit_1_and_a_readable_report(fresh: Path) -> None:
    code, out, _ = run("--workspace", str(fresh), "check", "att")
    assert code == 1
    assert "attention failed" in out and "not implemented yet" in out
    assert "\x1b[" not in out  # NO_COLOR: plain text


def test_check_json_is_one_document_with_the_contract_fields(fresh: Path) -> None:
    code, out, _ = run("check", "momentum", "warm", "--json", "--workspace", str(fresh))
    assert code == 1
    document = json.loads(out)
    assert document["kit_version"] == __version__
    assert [e["name"] for e in document["exercises"]] == ["warmups", "momentum_sgd"]
    for exercise in document["exercises"]:
        assert exercise["passed"] is False and exercise["score"] == 0
        assert exercise["tests"] and all(not t["passed"] for t in exercise["tests"])
        contract = {"name", "passed", "score", "max_score", "message", "summary", "fields"}
        assert set(exercise["tests"][0]) == contract
        assert sum(t["max_score"] for t in exercise["tests"]) == pytest.approx(
            exercise["max_score"]
        )
    assert document["max_score"] == sum(e["max_score"] for e in document["exercises"])


def test_check_json_keeps_each_failed_tests_labelled_fields(fresh: Path) -> None:
    """cli.md "Third wave": per failed test, its summary and its (label, text) fields in report
    order, from which the message is written; a passed test has neither."""
    wrong = next(
        v for v in importlib.import_module("catalogue.momentum_sgd").VARIANTS if not v.passes
    )
    source = wrong.source(solution_source("momentum_sgd"))
    (fresh / "exercises" / "momentum_sgd.py").write_text(source, encoding="utf-8")
    code, out, _ = run("check", "momentum", "--json", "--workspace", str(fresh))
    assert code == 1
    (exercise,) = json.loads(out)["exercises"]
    failed = [t for t in exercise["tests"] if not t["passed"]]
    assert failed and len(failed) < len(exercise["tests"])
    for test in exercise["tests"]:
        if test["passed"]:
            assert "fields" not in test and "summary" not in test
            continue
        lines = [f"{f['label']}: {f['text']}" if f["label"] else f["text"] for f in test["fields"]]
        assert test["message"] == "\n".join([test["summary"], *lines])
    labels = {f["label"] for t in failed for f in t["fields"]}
    assert {"called", "expected", "got", "likely mistake"} <= labels
    assert any(wrong.message in f["text"] for t in failed for f in t["fields"])


def test_workspace_from_the_environment(fresh: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KIT_WORKSPACE", str(fresh))
    code, out, _ = run("check", "param", "--json")
    assert code == 1 and json.loads(out)["exercises"][0]["name"] == "param_count"


@pytest.mark.parametrize(
    ("words", "phrase"),
    [
        (["atention"], "did you mean attention"),
        (["b"], "ambiguous: it could be backprop, beam_search"),
        (["zzz"], "no exercise named 'zzz'"),
    ],
)
@pytest.mark.parametrize("command", ["check", "watch", "hint", "solution", "reset"])
def test_bad_names_are_usage_errors(
    fresh: Path, words: list[str], phrase: str, command: str
) -> None:
    code, out, err = run("--workspace", str(fresh), command, *words)
    assert code == 2 and phrase in err and out == ""


def test_no_workspace_is_a_usage_error(tmp_path: Path) -> None:
    code, _, err = run("--workspace", str(tmp_path), "check")
    assert code == 2 and "kit init" in err


def test_hints_come_one_at_a_time_and_are_remembered(fresh: Path) -> None:
    hints = next(e for e in EXERCISES if e.name == "attention").hints
    _, first, _ = run("-w", str(fresh), "hint", "attention")
    _, second, _ = run("-w", str(fresh), "hint", "att")
    assert hints[0][:30] in first and hints[1][:30] not in first
    assert hints[1][:30] in second and hints[0][:30] not in second
    _, everything, _ = run("-w", str(fresh), "hint", "attention", "--all")
    assert all(h[:30] in everything for h in hints)
    stored = json.loads((fresh / ".kit" / "progress.json").read_text())
    assert stored["exercises"]["attention"]["hints_shown"] == 3


def test_reset_keeps_the_learners_file_as_a_backup(fresh: Path) -> None:
    mine = fresh / "exercises" / "backprop.py"
    mine.write_text("# hours of work\n")
    code, out, _ = run("-w", str(fresh), "reset", "backprop")
    assert code == 0 and "saved as" in out
    (backup,) = (fresh / ".kit" / "backups").glob("backprop-*.py")
    assert backup.read_text() == "# hours of work\n"
    assert str(backup) in out
    assert mine.read_bytes() == EXERCISES[0].stub.with_name("backprop.py").read_bytes()
    code, _, err = run("-w", str(fresh), "reset")
    assert code == 2 and "--all" in err


def test_reset_all_restores_missing_files(fresh: Path) -> None:
    (fresh / "exercises" / "kv_cache.py").unlink()
    code, _, _ = run("-w", str(fresh), "reset", "--all")
    assert code == 0
    assert (fresh / "exercises" / "kv_cache.py").is_file()
    assert not (fresh / ".kit" / "backups").exists()  # nothing was replaced


@pytest.mark.parametrize(
    "damage",
    [
        '{"format_version": 1, "exercises": {"attention": {"best_sc',  # truncated mid-write
        '{"format_version": 1, "exercises": {"attention": {"hints_shown": -1}}}',
        '{"format_version": 1, "exercises": {"attention": {"best_score": "ten"}}}',
        '{"format_version": 1, "exercises": {"attention": {"colour": "red"}}}',
        '{"format_version": 7, "exercises": {}}',
        "[]",
    ],
)
def test_a_damaged_progress_store_is_set_aside_with_a_warning(fresh: Path, damage: str) -> None:
    store = fresh / ".kit" / "progress.json"
    store.parent.mkdir(parents=True)
    store.write_text(damage)
    for command in (["list"], ["hint", "attention"], ["next"], ["check", "param"]):
        code, out, err = run("-w", str(fresh), *command)
        assert code in (0, 1) and "Traceback" not in out + err
    assert "progress starts afresh" not in err  # only the first command found it damaged
    (aside,) = store.parent.glob("progress.damaged-*.json")
    assert aside.read_text() == damage  # the damaged store is kept, not lost
    assert json.loads(store.read_text())["exercises"]["attention"]["hints_shown"] == 1


def test_a_missing_exercise_file_fails_with_what_to_do(fresh: Path) -> None:
    (fresh / "exercises" / "warmups.py").unlink()
    code, out, _ = run("-w", str(fresh), "check", "warmups")
    assert code == 1 and "kit reset warmups" in out


def test_console_script_stubs_fail_and_solutions_pass(tmp_path: Path) -> None:
    """rustlings' dev check, as a learner runs it: every stub fails every test of its grader,
    every reference solution passes every test."""
    kit = kit_executable()
    workspace = tmp_path / "work"
    subprocess.run([kit, "init", str(workspace)], check=True, capture_output=True)
    stubs = subprocess.run(
        [kit, "check", "--json"], cwd=workspace, capture_output=True, text=True, timeout=300
    )
    assert stubs.returncode == 1, stubs.stderr
    for exercise in json.loads(stubs.stdout)["exercises"]:
        passing = [t["name"] for t in exercise["tests"] if t["passed"]]
        assert not passing, f"{exercise['name']}: the stub passes {passing}"
    for exercise in EXERCISES:
        shutil.copyfile(exercise.solution, workspace / "exercises" / f"{exercise.name}.py")
    solved = subprocess.run(
        [kit, "check"], cwd=workspace, capture_output=True, text=True, timeout=300
    )
    assert solved.returncode == 0, solved.stdout
    assert f"{len(EXERCISES)} of {len(EXERCISES)} exercises passed" in solved.stdout
    assert "\x1b[" not in solved.stdout  # piped output has no colour codes


def test_next_names_the_first_unfinished_exercise_and_moves_on(fresh: Path) -> None:
    first, second = EXERCISES[0], EXERCISES[1]
    code, out, _ = run("-w", str(fresh), "next")
    assert code == 0 and f"Next: {first.name}" in out
    assert "TODO(warmups)" not in out and "GD_WEIGHTS" in out  # the names to write, not the file
    assert str(fresh / "exercises" / "warmups.py") in out
    shutil.copyfile(first.solution, fresh / "exercises" / f"{first.name}.py")
    code, out, _ = run("-w", str(fresh), "check", first.name)
    assert code == 0 and f"Next: {second.name}" in out  # a pass says what is next
    code, out, _ = run("-w", str(fresh), "next")
    assert f"Next: {second.name}" in out
    assert "sgd_momentum_step(w, grad, velocity, lr, momentum)" in out  # its signature


def test_solution_is_shown_after_passing_or_with_force(fresh: Path) -> None:
    code, out, err = run("-w", str(fresh), "solution", "momentum")
    assert code == 2 and "--force" in err and out == ""
    code, out, _ = run("-w", str(fresh), "solution", "momentum", "--force")
    solution_text = next(e for e in EXERCISES if e.name == "momentum_sgd").solution.read_text()
    assert code == 0 and "v_new = momentum * velocity + grad" in solution_text
    assert "v_new = momentum * velocity + grad" in out
    shutil.copyfile(
        next(e for e in EXERCISES if e.name == "param_count").solution,
        fresh / "exercises" / "param_count.py",
    )
    assert run("-w", str(fresh), "check", "param")[0] == 0
    code, out, _ = run("-w", str(fresh), "solution", "param")
    assert code == 0 and "def count_parameters" in out


def test_a_broken_installation_exits_3_with_what_to_do(
    fresh: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transformer_kit import catalog as meta

    def broken() -> None:
        raise meta.MetadataError("exercises.toml: set `format_version = 1` at the top")

    monkeypatch.setattr(meta, "load", broken)
    code, out, err = run("-w", str(fresh), "check", "attention")
    assert code == 3 and out == ""
    assert "format_version" in err and "pip install ." in err
