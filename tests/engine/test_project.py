"""Promises about the project itself: style, the README, and what `kit check` imports."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

from support import EXERCISES, REPO

from transformer_kit.dev import readme


def test_ruff_lint_and_format_are_clean() -> None:
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is part of the [test] extra: pip install '.[test]'"
    for command in ([ruff, "check", "."], [ruff, "format", "--check", "."]):
        done = subprocess.run(command, cwd=REPO, capture_output=True, text=True)
        assert done.returncode == 0, done.stdout + done.stderr


def test_mypy_strict_is_clean() -> None:
    """pyproject.toml's [tool.mypy]: strict on src/."""
    mypy = shutil.which("mypy", path=str(Path(sys.executable).parent)) or shutil.which("mypy")
    assert mypy, "mypy is part of the [test] extra: pip install '.[test]'"
    done = subprocess.run([mypy], cwd=REPO, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout + done.stderr


def test_readme_lists_every_exercise() -> None:
    """The README's table is exercises.toml's: name, title, topic and points, in its order, and
    no other row (transformer_kit/dev/readme.py, which `kit dev check` runs too)."""
    readme_text = (REPO / "README.md").read_text(encoding="utf-8")
    assert readme.table(readme_text) == [readme.row(e) for e in EXERCISES]
    assert readme.problems(readme_text, EXERCISES) == {}


def test_the_readme_check_sees_every_kind_of_drift() -> None:
    text = (REPO / "README.md").read_text(encoding="utf-8")
    first, second = (readme.row(e) for e in EXERCISES[:2])
    extra = "| `dropout` | Dropout | training | 4 |"
    drifted = {
        "missing": (text.replace(first + "\n", ""), EXERCISES[0].name, "no README row"),
        "points": (text.replace(first, first.replace("| 8 |", "| 9 |")), "warmups", "match"),
        "extra": (text.replace(first, f"{first}\n{extra}"), "README.md", "`dropout`"),
        "order": (text.replace(f"{first}\n{second}", f"{second}\n{first}"), "README.md", "order"),
        "no table": (text.replace(readme.HEADER, "| name |"), "README.md", "no table"),
    }
    for what, (changed, where, says) in drifted.items():
        assert changed != text, what
        found = readme.problems(changed, EXERCISES)
        assert says in " ".join(found.get(where, [])), (what, found)


def test_the_cli_starts_without_its_commands_heavy_modules() -> None:
    """design.md: heavy imports inside the commands, so `kit --help` and `kit check` start
    fast. Each module below is imported only by the commands that need it."""
    later = [
        "numpy", "rich", "pytest", "torch", "distributed", "nbformat", "nbgrader", "watchfiles",
        "subprocess", "tempfile", "transformer_kit.classroom.gradescope.results",
        "transformer_kit.classroom.nbgrader.export", "transformer_kit.batch.engine",
        "transformer_kit.batch.executors", "transformer_kit.check",
        "transformer_kit.learner.interview", "matplotlib", "jinja2", "fsrs", "jsonschema",
        "transformer_kit.batch.report", "transformer_kit.quiz.bank",
    ]  # fmt: skip
    probe = (
        "import json, sys; import transformer_kit.cli; "
        f"print(json.dumps([m for m in {later!r} if m in sys.modules]))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == []


def test_check_does_not_import_torch_unless_the_learner_does(solved_workspace: Path) -> None:
    probe = (
        "import json, sys; from transformer_kit import cli; "
        "code = cli.main(['-w', sys.argv[1], 'check', 'attention', '--json'], "
        "standalone_mode=False); "
        "print(json.dumps({'torch': 'torch' in sys.modules}), file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(solved_workspace)], capture_output=True, text=True
    )
    assert json.loads(done.stdout)["exercises"][0]["passed"] is True
    assert json.loads(done.stderr.strip().splitlines()[-1]) == {"torch": False}


def test_test_files_have_unique_names() -> None:
    """pytest imports test modules by their base name (rootdir-relative packages are not used
    here), so two tests/<dir>/test_x.py would stop the collection of the whole suite."""
    names = [path.name for path in (REPO / "tests").rglob("test_*.py")]
    assert sorted(n for n in set(names) if names.count(n) > 1) == []
