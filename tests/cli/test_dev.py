"""`kit dev new` and `kit dev check` through the real CLI, on the repository and on copies of it.

`kit dev` works on the source checkout the running kit comes from, so each run is a `kit` process
whose `transformer_kit` is the checkout's (PYTHONPATH=CHECKOUT/src): the copy's graders, stubs,
solutions, catalogues and README are the ones checked, and graded through the real `check()`.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from support import REPO

pytestmark = pytest.mark.usefixtures("isolated_environment")

COPIED = ("src", "exercises", "solutions", "graders", "tests", "README.md", "pyproject.toml")


def kit_dev(checkout: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """`kit dev ARGS` run by the kit of `checkout`."""
    env = {**os.environ, "PYTHONPATH": str(checkout / "src")}
    return subprocess.run(
        [sys.executable, "-m", "transformer_kit.cli", "dev", *args],
        cwd=checkout,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )


def problems(output: str) -> dict[str, list[str]]:
    """`kit dev check`'s report: exercise (or file) -> the first line of each `check: text`."""
    found: dict[str, list[str]] = {}
    where = ""
    for line in output.splitlines():
        if line.startswith("✗ "):
            where = line[2:]
            found[where] = []
        elif line.startswith("    ") and not line.startswith("      ") and where:
            found[where].append(line.strip())
    return found


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A copy of the repository's checkout (what `kit dev` reads and writes)."""
    root = tmp_path / "kit"
    root.mkdir()
    ignored = shutil.ignore_patterns("__pycache__", "*.egg-info", ".pytest_cache")
    for name in COPIED:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, root / name, ignore=ignored)
        else:
            shutil.copyfile(source, root / name)
    return root


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf-8")
    assert text.count(old) == 1, f"{old!r} in {path}"
    path.write_text(text.replace(old, new), encoding="utf-8")


def test_dev_check_passes_on_the_repository() -> None:
    done = kit_dev(REPO, "check")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "no problem found" in done.stdout


def test_dev_check_names_every_broken_thing(checkout: Path) -> None:
    edit(checkout / "solutions" / "momentum_sgd.py", "returns w - lr * grad.", "returns w+lr*grad.")
    seven = "".join(f'    Variant("w{i}", passes=False, code="X = {i}"),\n' for i in range(7))
    three = "".join(f'    Variant("r{i}", passes=True, code="Y = {i}"),\n' for i in range(3))
    (checkout / "tests" / "catalogue" / "scaling.py").write_text(
        f"from catalogue import Variant\n\nVARIANTS = [\n{seven}{three}]\n", encoding="utf-8"
    )
    readme = checkout / "README.md"
    row = next(line for line in readme.read_text().splitlines() if line.startswith("| `kv_cache`"))
    edit(readme, row + "\n", "")
    solved = checkout / "solutions" / "attention.py"
    shutil.copyfile(solved, checkout / "exercises" / "attention.py")

    done = kit_dev(checkout, "check")
    assert done.returncode == 1, done.stdout + done.stderr
    found = problems(done.stdout)
    assert sorted(found) == ["attention", "kv_cache", "momentum_sgd", "scaling"], done.stdout
    assert found["attention"] == ["stub fails: the stub passes every test of its grader"]
    assert [p.split(":")[0] for p in found["momentum_sgd"]] == ["twins"]
    assert "sgd_step differs" in found["momentum_sgd"][0] and "w+lr*grad" in done.stdout
    assert found["scaling"] == [
        "catalogue: tests/catalogue/scaling.py has 7 wrong and 3 right versions: it needs at "
        "least 8 wrong (mistakes people make) and 3 right (correct but different)"
    ]
    assert found["kv_cache"] == [
        "README: no README row: add `| `kv_cache` | Decoding with a KV cache | decoding | 10 |`"
    ]
    assert "4 problems found." in done.stdout


def test_dev_new_scaffolds_what_dev_check_then_asks_for(checkout: Path) -> None:
    done = kit_dev(checkout, "new", "layer_scale")
    assert done.returncode == 0, done.stdout + done.stderr
    for path in (
        "exercises/layer_scale.py",
        "solutions/layer_scale.py",
        "graders/test_layer_scale.py",
        "graders/fixtures/layer_scale.py",
        "tests/catalogue/layer_scale.py",
        "tests/exercises/test_layer_scale_oracle.py",
    ):
        assert (checkout / path).is_file(), path
        assert f"  {path}\n" in done.stdout
    stub = (checkout / "exercises" / "layer_scale.py").read_text()
    assert 'raise NotImplementedError("TODO: layer_scale")' in stub
    assert 'name = "layer_scale"' in (checkout / "src/transformer_kit/exercises.toml").read_text()
    assert "kit dev check" in done.stdout and "README.md: a row" in done.stdout
    ruff = shutil.which("ruff", path=str(Path(sys.executable).parent)) or shutil.which("ruff")
    assert ruff, "ruff is part of the [test] extra"
    for command in ([ruff, "check", "."], [ruff, "format", "--check", "."]):
        linted = subprocess.run(command, cwd=checkout, capture_output=True, text=True)
        assert linted.returncode == 0, linted.stdout + linted.stderr

    again = kit_dev(checkout, "new", "layer_scale")
    assert again.returncode == 2 and "exists already" in again.stderr

    checked = kit_dev(checkout, "check")
    assert checked.returncode == 1, checked.stdout + checked.stderr
    found = problems(checked.stdout)
    assert sorted(found) == ["layer_scale"], checked.stdout
    kinds = {line.split(":")[0] for line in found["layer_scale"]}
    assert kinds == {"metadata", "catalogue", "README", "solution passes"}, found
    assert re.search(r"metadata: exercises.toml: fill in title, topic, hint 1", checked.stdout)


@pytest.mark.parametrize(
    ("name", "says"),
    [("9lives", "cannot name an exercise"), ("Layer", "lower-case"), ("class", "identifier")],
)
def test_dev_new_refuses_a_bad_name(checkout: Path, name: str, says: str) -> None:
    done = kit_dev(checkout, "new", name)
    assert done.returncode == 2 and says in done.stderr and "Traceback" not in done.stderr
    assert not (checkout / "exercises" / f"{name}.py").exists()


def test_dev_refuses_outside_a_source_checkout(checkout: Path) -> None:
    """An installed kit (no tests/catalogue/ beside its graders) is no checkout to scaffold in."""
    shutil.rmtree(checkout / "tests")
    for command in (["check"], ["new", "layer_scale"]):
        done = kit_dev(checkout, *command)
        assert done.returncode == 2, done.stdout + done.stderr
        assert "source checkout" in done.stderr and "Traceback" not in done.stderr
    assert not (checkout / "exercises" / "layer_scale.py").exists()
