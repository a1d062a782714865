"""`kit gradescope build`: a Gradescope autograder zip that grades with exactly this kit.

The zip holds, at its top (Gradescope's layout):
- `setup.sh` and `run_autograder` (gradescope_files/): Gradescope runs the first once on its
  Ubuntu image and the second for each submission (it calls `kit gradescope run`);
- the kit's wheel, built from the source folder this kit was installed from and checked, file by
  file, against the installed kit, so the autograder grades with the very graders, solutions and
  limits that built it;
- `constraints.txt`: the versions of the kit's dependencies installed here, pinned for setup.sh;
- `kit-autograder.json`: the exercises, which tests are visible, the hidden tests' visibility.
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlparse

import transformer_kit
from transformer_kit import __version__
from transformer_kit import catalog as meta
from transformer_kit.classroom.gradescope.config import CONFIG_NAME, AutograderConfig

DISTRIBUTION = "transformer-kit"
PACKAGE = "transformer_kit"
SCRIPTS = Path(__file__).with_name("files")
EXECUTABLE = 0o100755 << 16  # zip external attributes: a regular file, rwxr-xr-x
READABLE = 0o100644 << 16
ZIP_TIME = (1980, 1, 1, 0, 0, 0)  # the same inputs give the same zip


class BuildError(Exception):
    """The zip cannot be built from this installation; the message says why and what to do."""


@dataclass(frozen=True)
class Built:
    zip: Path
    wheel: str
    config: AutograderConfig
    test_count: int


def build(
    out: Path,
    exercises: Sequence[meta.Exercise],
    hidden_visibility: str,
    allow_basic_isolation: bool,
) -> Built:
    """Write the autograder zip for `exercises` to `out` (replacing the file there)."""
    from transformer_kit.classroom.nbgrader.grader_source import graded_tests

    tests = graded_tests(exercises)
    config = AutograderConfig(
        kit_version=__version__,
        exercises=tuple(e.name for e in exercises),
        visible_tests={
            name: tuple(t.name for t in found if t.visible) for name, found in tests.items()
        },
        hidden_visibility=hidden_visibility,
        allow_basic_isolation=allow_basic_isolation,
    )
    with tempfile.TemporaryDirectory(prefix="kit-wheel-") as work:
        wheel = kit_wheel(Path(work))
        _write_zip(out, wheel, config)
    return Built(out, wheel.name, config, sum(len(found) for found in tests.values()))


def kit_wheel(directory: Path) -> Path:
    """This kit as a wheel in `directory`, built from its source folder by its own build backend
    (pyproject.toml's hatchling mapping), refused unless its files are the installed ones."""
    source = source_folder()
    command = [sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet"]
    command += ["--wheel-dir", str(directory), str(source)]
    run = subprocess.run(command, capture_output=True, text=True, stdin=subprocess.DEVNULL)
    wheels = sorted(directory.glob(f"{PACKAGE}-*.whl"))
    if run.returncode != 0 or len(wheels) != 1:
        raise BuildError(f"pip could not build the kit's wheel from {source}:\n{run.stderr}")
    differences = wheel_differences(wheels[0])
    if differences:
        shown = "\n  ".join(differences[:10])
        raise BuildError(
            f"the wheel built from {source} differs from the installed kit:\n  {shown}\n"
            f"Reinstall the kit from that folder (pip install {source}) and build again."
        )
    return wheels[0]


def source_folder() -> Path:
    """The folder this kit was installed from (pip's direct_url.json, PEP 610)."""
    distribution = importlib.metadata.distribution(DISTRIBUTION)
    try:
        origin = json.loads(distribution.read_text("direct_url.json") or "null")
    except ValueError:
        origin = None
    url = urlparse(origin.get("url", "")) if isinstance(origin, dict) else None
    if url is None or url.scheme != "file" or "dir_info" not in origin:
        raise BuildError(
            "this kit was not installed from a source folder, so its wheel cannot be rebuilt: "
            "install it from a clone of the repository (pip install CLONE) and build again"
        )
    folder = Path(unquote(url.path))
    if not (folder / "pyproject.toml").is_file():
        raise BuildError(
            f"the kit's source folder {folder} is gone: reinstall the kit from a clone"
        )
    return folder


def wheel_differences(wheel: Path) -> list[str]:
    """How the wheel's package files differ from the files this kit imports and reads."""
    with zipfile.ZipFile(wheel) as archive:
        packaged = {
            name.removeprefix(f"{PACKAGE}/"): archive.read(name)
            for name in archive.namelist()
            if name.startswith(f"{PACKAGE}/") and not name.endswith("/")
        }
    problems = []
    for relative, data in sorted(packaged.items()):
        installed = installed_file(relative)
        if installed is None:
            problems.append(f"{relative}: in the wheel, not in the installed kit")
        elif installed.read_bytes() != data:
            problems.append(f"{relative}: differs from {installed}")
    home = Path(transformer_kit.__file__).parent
    problems += [
        f"{relative}: in the installed kit ({home}), not in the wheel"
        for relative in _package_files(home)
        if relative not in packaged
    ]
    return problems


def installed_file(relative: str) -> Path | None:
    """The file the installed kit has at package path `relative`, found as imports find it
    (an editable install's package path includes its checkout's top level)."""
    for folder in transformer_kit.__path__:
        candidate = Path(folder, relative)
        if candidate.is_file():
            return candidate
    return None


def _package_files(home: Path) -> Iterator[str]:
    for path in sorted(home.rglob("*")):
        if path.is_file() and "__pycache__" not in path.parts:
            yield path.relative_to(home).as_posix()


def constraints() -> str:
    """The kit's dependencies pinned to the versions installed here, one a line."""
    from packaging.requirements import Requirement  # pytest's dependency: always installed

    lines = []
    for text in importlib.metadata.requires(DISTRIBUTION) or ():
        requirement = Requirement(text)
        if requirement.marker is None or requirement.marker.evaluate({"extra": ""}):
            version = importlib.metadata.version(requirement.name)
            lines.append(f"{requirement.name}=={version}")
    return "\n".join(sorted(lines)) + "\n"


def _write_zip(out: Path, wheel: Path, config: AutograderConfig) -> None:
    partial = out.with_name(f".{out.name}.partial")
    with zipfile.ZipFile(partial, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for script in ("setup.sh", "run_autograder"):
            _add(archive, script, (SCRIPTS / script).read_bytes(), EXECUTABLE)
        _add(archive, wheel.name, wheel.read_bytes(), READABLE)
        _add(archive, "constraints.txt", constraints().encode(), READABLE)
        config_text = json.dumps(config.to_json(), indent=2) + "\n"
        _add(archive, CONFIG_NAME, config_text.encode(), READABLE)
    partial.replace(out)


def _add(archive: zipfile.ZipFile, name: str, data: bytes, attributes: int) -> None:
    info = zipfile.ZipInfo(name, ZIP_TIME)
    info.external_attr = attributes
    info.compress_type = zipfile.ZIP_DEFLATED
    archive.writestr(info, data)
