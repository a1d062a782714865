"""Rough edges found by using the kit as a learner does (issue 13), each through the real `kit`:
odd workspaces, narrow terminals and ASCII ones, the learner's prints, points that add up, and
messages that say what happened."""

from __future__ import annotations

import json
import os
import re
import subprocess
from decimal import Decimal
from pathlib import Path

import pytest
from support import EXERCISES, REPO, kit_executable, solution_source
from support import run_cli as run

from transformer_kit.sandbox import bubblewrap

pytestmark = pytest.mark.usefixtures("isolated_environment")

# attention without its 1/sqrt(d_k): fails many tests, each with a detailed message
NO_SCALE = ("q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)", "q @ np.swapaxes(k, -1, -2)")


def kit(*args: str, cwd: Path, **environment: str) -> subprocess.CompletedProcess[str]:
    """The installed `kit` in a subprocess, its environment changed by `environment`."""
    env = {**os.environ, **environment}
    for name, value in environment.items():
        if value == "":
            env.pop(name)
    return subprocess.run(
        [kit_executable(), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )


def wrong_attention() -> str:
    source = solution_source("attention")
    assert NO_SCALE[0] in source, "the reference attention changed: update NO_SCALE"
    return source.replace(*NO_SCALE)


def words(text: str) -> str:
    """Text with every run of white space (line breaks of wrapping included) made one space."""
    return " ".join(text.split())


def test_reset_refuses_a_folder_where_the_file_should_be(fresh: Path) -> None:
    folder = fresh / "exercises" / "attention.py"
    folder.unlink()
    folder.mkdir()
    (folder / "notes.txt").write_text("mine\n")
    code, out, err = run("-w", str(fresh), "reset", "attention")
    assert code == 1 and "Traceback" not in out + err
    assert "is a folder" in err and "kit reset attention" in err
    assert (folder / "notes.txt").read_text() == "mine\n"  # nothing of the learner's is lost


@pytest.mark.skipif(not bubblewrap.available(), reason="a read-only bind mount needs bubblewrap")
def test_a_read_only_workspace_gets_messages_not_tracebacks(fresh: Path) -> None:
    """Through bubblewrap, the workspace is a read-only mount (root ignores file modes)."""
    mine = fresh / "exercises" / "warmups.py"
    mine.write_text("# my work\n")
    read_only = ["bwrap", "--dev-bind", "/", "/", "--ro-bind", str(fresh), str(fresh)]

    def kit_read_only(*args: str) -> subprocess.CompletedProcess[str]:
        command = [*read_only, kit_executable(), "-w", str(fresh), *args]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    reset = kit_read_only("reset", "warmups")
    assert reset.returncode == 1 and "Traceback" not in reset.stdout + reset.stderr
    assert "could not be restored" in reset.stderr and "unchanged" in reset.stderr
    assert mine.read_text() == "# my work\n"
    first_hint = next(e for e in EXERCISES if e.name == "warmups").hints[0]
    for _ in range(2):  # the same hint again, and the reason why
        hint = kit_read_only("hint", "warmups")
        assert hint.returncode == 0 and "Traceback" not in hint.stdout + hint.stderr
        assert words(first_hint) in words(hint.stdout)
        assert "could not record that you saw hint 1" in words(hint.stderr)


def test_an_ascii_terminal_gets_a_report_not_a_traceback(fresh: Path) -> None:
    for args in (["check", "attention"], ["list"], ["hint", "attention"]):
        done = kit(*args, cwd=fresh, PYTHONIOENCODING="ascii")
        assert done.returncode in (0, 1), done.stderr
        assert "Traceback" not in done.stderr and "UnicodeEncodeError" not in done.stderr
        if args[0] == "check":
            assert "attention failed" in done.stdout


def test_the_workspace_is_found_from_a_folder_inside_it(fresh: Path, tmp_path: Path) -> None:
    """As git does; --workspace and KIT_WORKSPACE still come first."""
    inside = fresh / "exercises"
    done = kit("check", "warmups", "--json", cwd=inside)
    assert done.returncode == 1, done.stderr
    assert [e["name"] for e in json.loads(done.stdout)["exercises"]] == ["warmups"]
    assert (fresh / ".kit" / "progress.json").is_file()  # the progress of the workspace above
    other = tmp_path / "other"
    assert run("init", str(other))[0] == 0
    kit("hint", "warmups", cwd=inside, KIT_WORKSPACE=str(other))
    kit("-w", str(other), "hint", "warmups", cwd=inside)
    for root, seen in ((other, 2), (fresh, 0)):
        stored = json.loads((root / ".kit" / "progress.json").read_text())["exercises"]
        assert stored.get("warmups", {}).get("hints_shown", 0) == seen, root
    nowhere = kit("check", cwd=tmp_path)
    assert nowhere.returncode == 2 and "kit init" in nowhere.stderr


@pytest.mark.parametrize(("columns", "most_lines"), [(40, 4), (80, 3)])
def test_list_fits_the_width_and_shows_every_title(
    fresh: Path, columns: int, most_lines: int
) -> None:
    """Each exercise: its name, status and best score, then its whole title and topic, in a few
    lines (the table of before shrank titles to nothing at 40 columns, and to 3-5 lines at 80)."""
    done = kit("list", cwd=fresh, COLUMNS=str(columns))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert max(len(line) for line in lines) <= columns
    text = words(done.stdout)
    entries = re.split(r"\n\s*\d+ ", "\n" + done.stdout)[1:]
    assert [entry.split()[0] for entry in entries] == [e.name for e in EXERCISES]
    for exercise, entry in zip(EXERCISES, entries, strict=True):
        assert words(exercise.title) in text and exercise.topic in entry
        assert "not started" in words(entry)
        own = [line for line in entry.strip().splitlines() if not line.endswith("%")]  # no bar
        assert len(own) <= most_lines, entry


def test_a_wide_list_is_a_table_of_one_line_per_exercise(fresh: Path) -> None:
    done = kit("list", cwd=fresh, COLUMNS="200")
    rows = [line for line in done.stdout.splitlines() if re.match(r"\s*\d+ ", line)]
    assert len(rows) == len(EXERCISES)
    for exercise, row in zip(EXERCISES, rows, strict=True):
        assert exercise.name in row and exercise.title in row and exercise.topic in row


def test_check_wraps_its_report_at_the_width(fresh: Path) -> None:
    (fresh / "exercises" / "attention.py").write_text(wrong_attention())
    done = kit("check", "attention", cwd=fresh, COLUMNS="60")
    assert done.returncode == 1
    assert max(len(line) for line in done.stdout.splitlines()) <= 60
    assert all(line == line.rstrip() for line in done.stdout.splitlines())
    title = next(e for e in EXERCISES if e.name == "attention").title
    assert words(title) in words(done.stdout) and "likely mistake:" in done.stdout
    piped = kit("check", "attention", cwd=fresh, COLUMNS="")  # no width known: whole lines
    assert any(len(line) > 100 for line in piped.stdout.splitlines())


PRINTING = """
_reference_sgd_step = sgd_step
def sgd_step(w, grad, lr):
    for line in range(500):
        print(f"learner's debugging line {line} with lr={lr}")
    return _reference_sgd_step(w, grad, lr)
"""


def test_show_output_shows_the_learners_prints_under_each_test(make_workspace) -> None:
    root = make_workspace({"momentum_sgd": solution_source("momentum_sgd") + PRINTING})
    quiet = kit("check", "momentum_sgd", cwd=root)
    assert quiet.returncode == 0, quiet.stdout  # printing costs nothing
    assert "learner's debugging line" not in quiet.stdout
    assert "--show-output" in quiet.stdout  # but the report says there is some
    shown = kit("check", "momentum_sgd", "--show-output", cwd=root)
    assert shown.returncode == 0
    assert "learner's debugging line 0 with lr=0.1" in shown.stdout
    printed = shown.stdout.count("learner's debugging line")
    assert 0 < printed < 500, "the output must be capped"
    document = json.loads(kit("check", "momentum_sgd", "--json", cwd=root).stdout)
    assert "learner's debugging line" not in json.dumps(document)


def test_details_shows_every_failure_in_full(make_workspace) -> None:
    root = make_workspace({"attention": wrong_attention()})
    (exercise,) = json.loads(kit("check", "attention", "--json", cwd=root).stdout)["exercises"]
    distinct = {t["message"] for t in exercise["tests"] if not t["passed"]}
    assert len(distinct) > 3
    brief = kit("check", "attention", cwd=root).stdout
    full = kit("check", "attention", "--details", cwd=root).stdout
    assert brief.count("called:") < len(distinct)
    assert full.count("called:") == len(distinct)


def test_check_help_names_exit_status_3_and_names_work_in_any_case(fresh: Path) -> None:
    code, out, _ = run("check", "--help")
    statuses = words(out).split("Exit status:", 1)[1]
    assert all(re.search(rf"\b{n} (when|on) ", statuses) for n in (0, 1, 2, 3)), statuses
    for name in ("Attention", "ATT", "Momentum_SGD"):
        code, out, err = run("-w", str(fresh), "check", name, "--json")
        assert code == 1, err
        expected = "attention" if name.lower().startswith("att") else "momentum_sgd"
        assert [e["name"] for e in json.loads(out)["exercises"]] == [expected]


def test_points_add_up_exactly_in_json_and_report(make_workspace) -> None:
    root = make_workspace(
        {
            "attention": wrong_attention(),
            "momentum_sgd": solution_source("momentum_sgd"),
            "param_count": solution_source("param_count"),
        }
    )
    done = kit("check", "--json", cwd=root)
    document = json.loads(done.stdout, parse_float=Decimal, parse_int=Decimal)
    points = {e.name: Decimal(str(e.points)) for e in EXERCISES}
    for exercise in document["exercises"]:
        tests = exercise["tests"]
        assert sum(t["max_score"] for t in tests) == exercise["max_score"]
        assert exercise["max_score"] == points[exercise["name"]]
        assert sum(t["score"] for t in tests) == exercise["score"]
    assert sum(e["score"] for e in document["exercises"]) == document["score"]
    assert sum(e["max_score"] for e in document["exercises"]) == document["max_score"]
    report = kit("check", cwd=root).stdout
    assert not re.search(r"\d\.\d{3,}", words(report).split("passed ·")[-1])


def test_the_first_run_gives_one_consistent_piece_of_advice(tmp_path: Path) -> None:
    """The README's learn command checks the exercise `kit next` names first, and `kit init`
    (which the command runs before its own `cd`) names the same one and no `cd`."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    command = readme.split("<!-- learn-command -->", 1)[1].split("```sh\n", 1)[1].split("```")[0]
    checked = re.findall(r"kit check (\w+)", command)
    code, made, _ = run("init", str(tmp_path / "my-work"))
    assert code == 0
    code, advice, _ = run("-w", str(tmp_path / "my-work"), "next")
    (first,) = re.findall(r"Next: (\w+)", advice)
    assert checked == [first]
    assert first in made and "cd " not in made


@pytest.mark.parametrize("level", ["full", "basic"] if bubblewrap.available() else ["basic"])
def test_os_abort_is_reported_as_an_abort(make_workspace, level: str) -> None:
    source = solution_source("momentum_sgd") + "\nimport os\ndef sgd_step(w, grad, lr):\n"
    root = make_workspace({"momentum_sgd": source + "    os.abort()\n"})
    done = kit("check", "momentum_sgd", "--json", cwd=root, KIT_ISOLATION=level)
    (exercise,) = json.loads(done.stdout)["exercises"]
    first = next(t for t in exercise["tests"] if not t["passed"])["message"]
    assert "SIGABRT" in first.splitlines()[0] and "segmentation" not in first.splitlines()[0]


def test_wording_counts_nouns_and_omits_what_says_nothing(make_workspace) -> None:
    fit_line_off_by_one = "\n_fit = fit_line\ndef fit_line(*args, **kwargs):\n"
    fit_line_off_by_one += "    return [w + 1.0 for w in _fit(*args, **kwargs)]\n"
    root = make_workspace(
        {"attention": wrong_attention(), "momentum_sgd": solution_source("momentum_sgd")}
    )
    (root / "exercises" / "momentum_sgd.py").write_text(
        solution_source("momentum_sgd") + fit_line_off_by_one
    )
    document = json.loads(kit("check", "--json", cwd=root).stdout)
    messages = [t["message"] for e in document["exercises"] for t in e["tests"]]
    assert any("the list of weights has" in m for m in messages)
    assert not any("the list of weights have" in m for m in messages)
    for message in messages:  # an expected and a got line that say the same say nothing
        fields = dict(line.split(": ", 1) for line in message.splitlines() if ": " in line)
        if "expected" in fields and "got" in fields:
            assert fields["expected"] != fields["got"], message
    missing = kit("check", "warmups", cwd=root).stdout  # one test: a missing file
    assert "(1 of 1 test failed)" in missing and "1 of 1 tests" not in missing
