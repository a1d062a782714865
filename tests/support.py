"""What the kit's tests share: where the repository and the installed kit are, the exercises,
and helpers to run `kit` (in this process or as the installed console script), read a reference
solution and find processes by name. Fixtures live in conftest.py."""

from __future__ import annotations

import filecmp
import os
import shutil
import sys
from pathlib import Path

import transformer_kit
from transformer_kit import catalog

REPO = Path(__file__).resolve().parents[1]
INSTALLED = Path(transformer_kit.__file__).resolve().parent
# repository folder -> installed folder, as pyproject.toml's wheel mapping lays them out
LAYOUT = {
    REPO / "src" / "transformer_kit": INSTALLED,
    REPO / "exercises": INSTALLED / "exercises",
    REPO / "solutions": INSTALLED / "solutions",
    REPO / "graders": INSTALLED / "graders",
}
EXERCISES = catalog.load()


def stale_files() -> list[str]:
    """Repository files that the installed kit lacks or holds in another version."""
    stale = []
    for source, target in LAYOUT.items():
        for path in source.rglob("*"):
            if path.is_dir() or "__pycache__" in path.parts:
                continue
            installed = target / path.relative_to(source)
            if not installed.is_file() or not filecmp.cmp(path, installed, shallow=False):
                stale.append(str(path.relative_to(REPO)))
    return stale


def run_cli(*args: str) -> tuple[int, str, str]:
    """`kit ARGS` in this process (click's CliRunner): exit status, stdout, stderr."""
    from click.testing import CliRunner

    from transformer_kit import cli

    result = CliRunner().invoke(cli.main, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def solution_source(name: str) -> str:
    return transformer_kit.CONTENT.joinpath("solutions", f"{name}.py").read_text(encoding="utf-8")


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
