"""Fixtures and session hooks for the kit's own tests (what they share otherwise: support.py).

The tests exercise the INSTALLED package (`pip install .`), exactly what a learner runs. A stale
installation would test old code, so the session stops at once when the installed files differ
from the repository's.
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from support import EXERCISES, INSTALLED, REPO, run_cli, stale_files


def pytest_configure(config: pytest.Config) -> None:
    from transformer_kit.grader.plugin import MARKERS  # tests import graders, which use them

    for marker in MARKERS:
        config.addinivalue_line("markers", marker)


def pytest_sessionstart(session: pytest.Session) -> None:
    if INSTALLED.is_relative_to(REPO):
        return  # an editable or in-tree import: nothing to compare
    stale = stale_files()
    if stale:
        pytest.exit(
            f"the installed kit ({INSTALLED}) differs from this repository in "
            f"{', '.join(stale[:5])}{' ...' if len(stale) > 5 else ''}: run `pip install .` "
            "and test again",
            returncode=4,
        )


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


@pytest.fixture
def fresh(tmp_path: Path) -> Path:
    """A new workspace made by `kit init`."""
    root = tmp_path / "learner"
    code, out, _ = run_cli("init", str(root))
    assert code == 0, out
    return root
