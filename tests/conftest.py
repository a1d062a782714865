"""Shared fixtures for the kit's own tests.

The tests exercise the INSTALLED package (`pip install .`), exactly what a learner runs. A stale
installation would test old code, so the session stops at once when the installed files differ
from the repository's.
"""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import transformer_kit
from transformer_kit import meta

REPO = Path(__file__).resolve().parents[1]
INSTALLED = Path(transformer_kit.__file__).resolve().parent
# repository folder -> installed folder, as pyproject.toml's wheel mapping lays them out
LAYOUT = {
    REPO / "src" / "transformer_kit": INSTALLED,
    REPO / "exercises": INSTALLED / "exercises",
    REPO / "solutions": INSTALLED / "solutions",
    REPO / "graders": INSTALLED / "graders",
}


def _stale_files() -> list[str]:
    stale = []
    for source, target in LAYOUT.items():
        for path in source.rglob("*"):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            installed = target / path.relative_to(source)
            if not installed.is_file() or not filecmp.cmp(path, installed, shallow=False):
                stale.append(str(path.relative_to(REPO)))
    if not filecmp.cmp(REPO / "cli.py", INSTALLED / "cli.py", shallow=False):
        stale.append("cli.py")
    return stale


def pytest_configure(config: pytest.Config) -> None:
    from transformer_kit.plugin import WEIGHT_MARKER  # tests import graders, which use it

    config.addinivalue_line("markers", WEIGHT_MARKER)


def pytest_sessionstart(session: pytest.Session) -> None:
    if INSTALLED.is_relative_to(REPO):
        return  # an editable or in-tree import: nothing to compare
    stale = _stale_files()
    if stale:
        pytest.exit(
            f"the installed kit ({INSTALLED}) differs from this repository in "
            f"{', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''}: run `pip install .` "
            "and test again",
            returncode=4,
        )


EXERCISES = meta.load()


@pytest.fixture
def make_workspace(tmp_path: Path) -> Callable[[dict[str, str]], Path]:
    """A workspace whose exercises/ holds the given {name: source} files."""

    def make(files: dict[str, str]) -> Path:
        root = tmp_path / "workspace"
        (root / "exercises").mkdir(parents=True, exist_ok=True)
        for name, source in files.items():
            (root / "exercises" / f"{name}.py").write_text(source, encoding="utf-8")
        return root

    return make


@pytest.fixture
def solved_workspace(tmp_path: Path) -> Path:
    """A workspace holding every reference solution."""
    root = tmp_path / "solved"
    (root / "exercises").mkdir(parents=True)
    for exercise in EXERCISES:
        shutil.copyfile(exercise.solution, root / "exercises" / f"{exercise.name}.py")
    return root


@pytest.fixture
def isolated_environment(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No KIT_WORKSPACE or colour settings leaking in from the developer's shell."""
    for variable in ("KIT_WORKSPACE", "FORCE_COLOR"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.setenv("NO_COLOR", "1")
    yield


def run_cli(*args: str) -> tuple[int, str, str]:
    """`kit ARGS` in this process (click's CliRunner): exit status, stdout, stderr."""
    from click.testing import CliRunner

    from transformer_kit import cli

    result = CliRunner().invoke(cli.main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A new workspace made by `kit init`."""
    root = tmp_path / "learner"
    code, out, _ = run_cli("init", str(root))
    assert code == 0, out
    return root


def solution_source(name: str) -> str:
    return meta.PACKAGE.joinpath("solutions", f"{name}.py").read_text(encoding="utf-8")


def kit_executable() -> str:
    """The `kit` console script of the environment running the tests."""
    found = shutil.which("kit", path=os.path.dirname(sys.executable))
    assert found, "the `kit` console script is not installed next to this Python"
    return found


def processes_named(name: str) -> list[int]:
    """Processes (anywhere on this machine) whose name (/proc/PID/comm) is `name`: how hostile
    code that can write no lasting file shows it ran."""
    found = []
    for entry in Path("/proc").iterdir():
        try:
            if entry.name.isdigit() and (entry / "comm").read_text().strip() == name:
                found.append(int(entry.name))
        except OSError:
            continue
    return found
