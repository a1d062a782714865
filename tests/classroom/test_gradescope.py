"""Gradescope (cli.md "Gradescope"): the autograder zip built by the real `kit gradescope build`,
set up and run as Gradescope does it (a root with source/, submission/ and results/, pointed to by
KIT_AUTOGRADER_ROOT), every results.json validated against Gradescope's format
(tests/gradescope_results.schema.json, written from Gradescope's documentation) and every score
compared with `kit check --json` on the same files."""

from __future__ import annotations

import copy
import importlib
import json
import os
import shutil
import subprocess
import sys
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import pytest
from click.testing import CliRunner
from support import kit_executable, solution_source

import transformer_kit
from transformer_kit import cli
from transformer_kit.classroom.gradescope import results as gradescope
from transformer_kit.classroom.gradescope.build import wheel_differences
from transformer_kit.classroom.gradescope.config import CONFIG_NAME, AutograderConfig
from transformer_kit.classroom.gradescope.gather import gather

pytestmark = pytest.mark.usefixtures("isolated_environment")

SCHEMA = json.loads(Path(__file__).with_name("gradescope_results.schema.json").read_text())
NAMES = ("momentum_sgd", "attention")  # both have visible and hidden tests; a few seconds each
WRONG_SCALE = "missing 1/sqrt(d_k) scale"  # a catalogue variant of attention


def assert_valid(results: Mapping[str, Any]) -> None:
    jsonschema.Draft202012Validator(SCHEMA).validate(results)


def catalogue_source(exercise: str, variant_name: str | None = None) -> str:
    """A known-wrong version from tests/catalogue/ (the named one, else the first wrong one)."""
    variants = importlib.import_module(f"catalogue.{exercise}").VARIANTS
    wrong = [v for v in variants if not v.passes and variant_name in (None, v.name)]
    return wrong[0].source(solution_source(exercise))


def kit_check(tmp: Path, files: Mapping[str, str]) -> dict[str, Any]:
    """`kit check --json` of NAMES on a workspace holding `files` ({exercise: source})."""
    workspace = tmp / f"check-{len(list(tmp.glob('check-*')))}"
    (workspace / "exercises").mkdir(parents=True)
    for name, source in files.items():
        (workspace / "exercises" / f"{name}.py").write_text(source, encoding="utf-8")
    run = subprocess.run(
        [kit_executable(), "check", *NAMES, "--json", "--workspace", str(workspace)],
        capture_output=True,
        text=True,
    )
    assert run.returncode in (0, 1), run.stderr
    return json.loads(run.stdout)


def kit_scores(document: Mapping[str, Any]) -> list[tuple[str, float]]:
    return [
        (f"{e['name']}: {t['name']}", t["score"]) for e in document["exercises"] for t in e["tests"]
    ]


def gradescope_scores(results: Mapping[str, Any]) -> list[tuple[str, float]]:
    return [(t["name"], t["score"]) for t in results["tests"]]


# --- the conversion, on real `kit check --json` documents ----------------------------------------


@pytest.fixture(scope="module")
def checked(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """kit check's document for a wrong attention (no 1/sqrt(d_k)) and a wrong momentum_sgd."""
    files = {
        "attention": catalogue_source("attention", WRONG_SCALE),
        "momentum_sgd": catalogue_source("momentum_sgd"),
    }
    return kit_check(tmp_path_factory.mktemp("checked"), files)


def config(
    visible: Mapping[str, tuple[str, ...]] | None = None, hidden: str = "after_published"
) -> AutograderConfig:
    return AutograderConfig("0", NAMES, visible or {}, hidden, False)


def failed_tests(document: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    return [(e["name"], t) for e in document["exercises"] for t in e["tests"] if not t["passed"]]


def test_every_score_is_the_kits(checked: dict[str, Any]) -> None:
    results = gradescope.results_json(checked, config(), execution_time=1.5)
    assert_valid(results)
    assert results["score"] == checked["score"] < checked["max_score"]
    assert gradescope_scores(results) == kit_scores(checked)
    statuses = [t["status"] == "passed" for t in results["tests"]]
    assert statuses == [t["passed"] for e in checked["exercises"] for t in e["tests"]]
    assert results["execution_time"] == 1.5
    assert results["output_format"] == "md"


def test_a_hidden_test_shows_its_summary_and_likely_mistake_only(checked: dict[str, Any]) -> None:
    results = gradescope.results_json(checked, config())
    by_name = {t["name"]: t for t in results["tests"]}
    revealing = [(e, t) for e, t in failed_tests(checked) if "\nexpected: " in t["message"]]
    assert revealing, "no failed test of the wrong versions shows expected values"
    for exercise, test in revealing:
        shown = by_name[f"{exercise}: {test['name']}"]
        assert shown["visibility"] == "after_published"
        assert test["message"].splitlines()[0] in shown["output"]
        for label in ("expected:", "got:", "called:", "differs most:"):
            assert label not in shown["output"]
    mistakes = [t["output"] for t in results["tests"] if "no 1/sqrt(d_k) scaling" in t["output"]]
    assert mistakes, "the likely mistake of the missing scale is not shown"


def test_a_visible_test_shows_the_whole_message(checked: dict[str, Any]) -> None:
    """When no hidden test of its exercise ran before it."""
    exercise, test = next((e, t) for e, t in failed_tests(checked) if "\n" in t["message"])
    (tests,) = [e["tests"] for e in checked["exercises"] if e["name"] == exercise]
    up_to = tuple(t["name"] for t in tests[: tests.index(test) + 1])
    results = gradescope.results_json(checked, config({exercise: up_to}))
    (shown,) = [t for t in results["tests"] if t["name"] == f"{exercise}: {test['name']}"]
    assert shown["visibility"] == "visible"
    assert test["message"] in shown["output"]
    assert_valid(results)


def test_no_score_with_hidden_tests_in_it_is_shown_before_they_are(checked: dict[str, Any]):
    """The top-level output is always visible: it states the visible tests' points only, unless
    every test is visible."""
    exercise = checked["exercises"][0]
    first = exercise["tests"][0]
    results = gradescope.results_json(checked, config({exercise["name"]: (first["name"],)}))
    for graded in checked["exercises"]:
        assert f"{graded['score']:g} of {graded['max_score']:g} points" not in results["output"]
    assert f"{checked['score']:g} of {checked['max_score']:g}" not in results["output"]
    assert f"visible tests {first['score']:g} of {first['max_score']:g} points" in results["output"]
    assert "once grades are published" in results["output"]
    everything = gradescope.results_json(checked, config(hidden="visible"))
    assert f"**{checked['score']:g} of {checked['max_score']:g} points**" in everything["output"]


def test_results_over_gradescopes_limit_are_shortened_and_say_so(checked: dict[str, Any]) -> None:
    big = copy.deepcopy(checked)
    for exercise in big["exercises"]:
        for test in exercise["tests"]:
            test["summary"] = "x" * 3000
            test["fields"] = [{"label": "likely mistake", "text": "y" + "z" * 1000}]
            test["passed"] = False  # only a failed test shows its message
        exercise["tests"] = exercise["tests"] * 12  # 444 tests of 4 KiB: 1.8 MB of messages
    visible = {e["name"]: tuple(t["name"] for t in e["tests"]) for e in big["exercises"]}
    unlimited = sum(len(t["summary"]) + 1002 for e in big["exercises"] for t in e["tests"])
    assert unlimited > gradescope.RESULTS_LIMIT
    results = gradescope.results_json(big, config(visible))
    assert_valid(results)
    assert len(json.dumps(results).encode()) <= gradescope.RESULTS_LIMIT
    assert "shortened" in results["output"]
    assert gradescope_scores(results) == kit_scores(big)


def test_a_document_with_an_error_gives_zero_and_says_why(checked: dict[str, Any]) -> None:
    broken = {**checked, "error": "the worker pool died", "notes": ["a.py was not graded"]}
    results = gradescope.results_json(broken, config())
    assert_valid(results)
    assert results["score"] == 0
    assert "the worker pool died" in results["output"].replace("\\", "")
    assert "a\\.py was not graded" in results["output"]


def test_gathering_finds_nested_files_and_notes_the_rest(tmp_path: Path) -> None:
    submission = tmp_path / "submission"
    (submission / "hw" / "exercises").mkdir(parents=True)
    (submission / "hw" / "exercises" / "attention.py").write_text("A = 1\n")
    (submission / "attention.py").write_text("A = 2\n")
    (submission / "Momentum_SGD.py").write_text("B = 1\n")
    (submission / "README.md").write_text("notes\n")
    (submission / "__MACOSX").mkdir()
    (submission / "__MACOSX" / "._attention.py").write_text("")
    (submission / "secret.py").symlink_to("/etc/passwd")
    gathered = gather(submission, NAMES)
    assert gathered.files == {"attention": submission / "hw" / "exercises" / "attention.py"}
    notes = "\n".join(gathered.notes)
    assert "attention.py was not graded: hw/exercises/attention.py was" in notes
    assert "Momentum_SGD.py" in notes and "momentum_sgd.py" in notes
    assert "README.md" in notes
    assert "secret.py is a symbolic link" in notes
    assert "MACOSX" not in notes


# --- the zip, set up and run as Gradescope runs it ------------------------------------------------


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("build") / "autograder.zip"
    run = subprocess.run(
        [kit_executable(), "gradescope", "build", *NAMES, "--out", str(out)],
        capture_output=True,
        text=True,
    )
    assert run.returncode == 0, run.stderr
    return out


def without_test_environment() -> str:
    """PATH without this test run's environment, so only setup.sh's `kit` can be found."""
    ours = os.path.dirname(sys.executable)
    return os.pathsep.join(p for p in os.environ["PATH"].split(os.pathsep) if p != ours)


class Autograder:
    """A Gradescope-like root: source/ (the zip), run_autograder, submission/, results/."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.log = ""  # run_autograder's output of the last run
        self.env = {
            **os.environ,
            "KIT_AUTOGRADER_ROOT": str(root),
            "PATH": f"{root / 'bin'}{os.pathsep}{without_test_environment()}",
        }

    def run(
        self,
        files: Mapping[str, str | bytes],
        env: Mapping[str, str] | None = None,
        cwd: str = ".",
    ) -> dict:
        """Grade a submission of `files` ({path in submission/: content}) with run_autograder
        started in `cwd` (relative to the root); the results.json."""
        for folder in ("submission", "results"):
            shutil.rmtree(self.root / folder, ignore_errors=True)
            (self.root / folder).mkdir()
        for relative, content in files.items():
            path = self.root / "submission" / relative
            path.parent.mkdir(parents=True, exist_ok=True)
            data = content.encode() if isinstance(content, str) else content
            path.write_bytes(data)
        run = subprocess.run(
            [str(self.root / "run_autograder")],
            cwd=self.root / cwd,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
        )
        assert run.returncode == 0, run.stderr
        self.log = run.stdout
        results = json.loads((self.root / "results" / "results.json").read_text())
        assert_valid(results)
        return results


@pytest.fixture(scope="module")
def autograder(built: Path, tmp_path_factory: pytest.TempPathFactory) -> Autograder:
    """The zip unpacked into source/ and setup.sh run: its pip part into a fresh virtual
    environment; its apt part only installs what is missing (nothing, where bubblewrap and a
    Python 3.11 are installed, as the kit's tests need anyway)."""
    root = tmp_path_factory.mktemp("autograder")
    with zipfile.ZipFile(built) as archive:
        archive.extractall(root / "source")
        for info in archive.infolist():  # zipfile drops the permission bits
            (root / "source" / info.filename).chmod(info.external_attr >> 16 & 0o777)
    shutil.copy2(root / "source" / "run_autograder", root / "run_autograder")  # as Gradescope
    grader = Autograder(root)
    env = {**grader.env, "KIT_BIN_DIR": str(root / "bin")}
    setup = subprocess.run(
        ["bash", str(root / "source" / "setup.sh")], env=env, capture_output=True, text=True
    )
    assert setup.returncode == 0, setup.stderr
    return grader


def test_the_zip_holds_gradescopes_two_scripts_at_its_top(built: Path) -> None:
    with zipfile.ZipFile(built) as archive:
        names = set(archive.namelist())
        modes = {i.filename: i.external_attr >> 16 for i in archive.infolist()}
    assert {"setup.sh", "run_autograder"} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    assert any(n.startswith("transformer_kit-") and n.endswith(".whl") for n in names)


def test_the_autograder_runs_the_kit_that_built_it(autograder: Autograder) -> None:
    """Every file of the kit setup.sh installed equals the file the kit running these tests
    uses (README: exercises/, solutions/, graders/ and cli.py sit inside the installed package,
    or at a checkout's top level)."""
    found = subprocess.run(
        [str(autograder.root / "bin" / "kit"), "--version"], capture_output=True, text=True
    )
    assert found.returncode == 0 and transformer_kit.__version__ in found.stdout
    (installed,) = (autograder.root / "kit-venv").glob("lib/python*/site-packages/transformer_kit")
    ours = Path(transformer_kit.__file__).parent
    compared = 0
    for path in installed.rglob("*"):
        if not path.is_file() or "__pycache__" in path.parts:
            continue
        relative = path.relative_to(installed)
        top = relative.parts[0] in ("exercises", "solutions", "graders", "cli.py")
        mine = (transformer_kit.CONTENT if top else ours) / relative
        assert mine.read_bytes() == path.read_bytes(), relative
        compared += 1
    assert compared > 50


def test_a_wheel_that_differs_from_the_installed_kit_is_refused(built: Path, tmp_path: Path):
    with zipfile.ZipFile(built) as archive:
        (wheel,) = [n for n in archive.namelist() if n.endswith(".whl")]
        archive.extract(wheel, tmp_path)
    original, changed = tmp_path / wheel, tmp_path / "changed.whl"
    assert wheel_differences(original) == []
    target = "transformer_kit/graders/test_attention.py"
    with zipfile.ZipFile(original) as source, zipfile.ZipFile(changed, "w") as out:
        for info in source.infolist():
            data = source.read(info)
            out.writestr(info, data + b"\n# edited\n" if info.filename == target else data)
    assert any("graders/test_attention.py" in d for d in wheel_differences(changed))


def assert_same_as_kit_check(results: dict, document: dict) -> None:
    assert results["score"] == document["score"]
    assert gradescope_scores(results) == kit_scores(document)


def test_the_reference_solutions_get_full_marks(autograder: Autograder, tmp_path: Path) -> None:
    files = {name: solution_source(name) for name in NAMES}
    results = autograder.run({f"{name}.py": source for name, source in files.items()})
    document = kit_check(tmp_path, files)
    assert_same_as_kit_check(results, document)
    assert results["score"] == document["max_score"] == 16
    assert all(t["status"] == "passed" for t in results["tests"])
    lines = autograder.log.splitlines()  # one student's result, not kit grade's class table
    assert lines[-1] == f"score 16 of 16; {len(results['tests'])} tests in results.json"
    assert len(lines) == len(results["tests"]) + 1 and lines[0].startswith("passed")
    assert "kit-gradescope-" not in autograder.log and "grades.csv" not in autograder.log


def test_wrong_versions_score_as_kit_check_scores_them(autograder: Autograder, tmp_path: Path):
    files = {
        "attention": catalogue_source("attention", WRONG_SCALE),
        "momentum_sgd": catalogue_source("momentum_sgd"),
    }
    results = autograder.run({f"exercises/{n}.py": source for n, source in files.items()})
    document = kit_check(tmp_path, files)
    assert_same_as_kit_check(results, document)
    assert 0 < results["score"] < 16
    hidden = [t for t in results["tests"] if t["visibility"] == "after_published"]
    visible = [t for t in results["tests"] if t["visibility"] == "visible"]
    assert hidden and visible, "the nbgrader export's visible tests are not marked visible"
    assert any("no 1/sqrt(d_k) scaling" in t["output"] for t in hidden)
    assert not any("expected:" in t["output"] for t in hidden)
    for exercise in document["exercises"]:  # no score with hidden tests in it, before publishing
        assert f"{exercise['score']:g} of {exercise['max_score']:g} points" not in results["output"]
    assert f"{document['score']:g} of 16" not in results["output"]


LEAKY_ATTENTION = """

_seen = []
_softmax = softmax


def softmax(x, *args, **kwargs):
    _seen.append(repr(np.asarray(x).ravel()[:2].tolist()))
    return _softmax(x, *args, **kwargs)


def causal_mask(*args, **kwargs):
    raise ValueError("LEAK " + " ".join(_seen[-3:]))
"""


def test_a_visible_test_never_shows_what_hidden_tests_gave_the_code(autograder: Autograder):
    """One worker serves an exercise's tests: the learner's code keeps the inputs of the hidden
    softmax tests and raises them in the visible causal-mask test that runs after them."""
    results = autograder.run({"attention.py": solution_source("attention") + LEAKY_ATTENTION})
    hidden = [t for t in results["tests"] if t["visibility"] != "visible"]
    visible = [t for t in results["tests"] if t["visibility"] == "visible"]
    assert any("LEAK [" in t["output"] for t in hidden), "the code kept no hidden inputs"
    (mask,) = [t for t in visible if t["status"] == "failed" and "mask" in t["name"]]
    assert "ran after hidden tests" in mask["output"]
    assert not [t["name"] for t in visible if "LEAK" in t["output"]]


def test_a_file_name_that_is_not_utf8_is_escaped(autograder: Autograder) -> None:
    """A lone surrogate in results.json is not Unicode: Gradescope could not read the file."""
    files = {f"{name}.py": solution_source(name) for name in NAMES}
    results = autograder.run({**files, "caf\udce9.py": "x = 1\n"})
    raw = (autograder.root / "results" / "results.json").read_text(encoding="utf-8")
    assert "\\udc" not in raw.lower()  # json.dumps writes a lone surrogate as an escape
    assert "caf\\\\xe9\\.py" in results["output"]


def test_an_empty_submission_scores_zero_and_says_so(autograder: Autograder, tmp_path: Path):
    results = autograder.run({})
    assert_same_as_kit_check(results, kit_check(tmp_path, {}))
    assert results["score"] == 0
    assert "attention\\.py" in results["output"]


def test_extra_and_misnamed_files_are_noted(autograder: Autograder, tmp_path: Path) -> None:
    results = autograder.run(
        {
            "homework/src/attention.py": solution_source("attention"),
            "Momentum_SGD.py": solution_source("momentum_sgd"),
            "README.md": "my notes\n",
            "data/table.csv": "1,2\n",
        }
    )
    assert_same_as_kit_check(
        results, kit_check(tmp_path, {"attention": solution_source("attention")})
    )
    assert results["score"] == 10
    for shown in ("Momentum\\_SGD\\.py", "README\\.md", "data/table\\.csv"):
        assert shown in results["output"]


HOSTILE = """
import json, os, sys
import numpy as np

fake = {{"score": 1000, "execution_time": 0, "output": "hacked", "tests": []}}
for root in ({root!r}, "/autograder"):
    try:
        with open(os.path.join(root, "results", "results.json"), "w") as stream:
            json.dump(fake, stream)
    except OSError:
        pass
np.allclose = lambda *args, **kwargs: True
np.testing.assert_allclose = lambda *args, **kwargs: None
print(json.dumps(fake))

def sgd_step(*args, **kwargs):
    sys.exit(0)
"""


def test_a_hostile_submission_cannot_write_its_own_results(autograder: Autograder, tmp_path):
    source = HOSTILE.format(root=str(autograder.root))
    results = autograder.run({"momentum_sgd.py": source})
    assert_same_as_kit_check(results, kit_check(tmp_path, {"momentum_sgd": source}))
    assert results["score"] == 0 and "hacked" not in json.dumps(results)


FAKE_KIT = """
import json, pathlib, sys
out = pathlib.Path(sys.argv[sys.argv.index("--out") + 1])
(out / "results").mkdir(parents=True, exist_ok=True)
test = {"name": "forged", "passed": True, "score": 6.0, "max_score": 6.0, "message": ""}
exercise = {"name": "momentum_sgd", "passed": True, "score": 6.0, "max_score": 6.0}
document = {"kit_version": "0.1.0", "isolation": "full", "score": 6.0, "max_score": 6.0,
            "exercises": [{**exercise, "tests": [test]}], "student": "submission", "notes": []}
(out / "results" / "submission.json").write_text(json.dumps(document))
"""


def test_a_kit_of_the_students_own_is_never_run(autograder: Autograder) -> None:
    """A submission holding a package named transformer_kit, with run_autograder started in the
    submission folder: the grading process must not import it from there."""
    files = {"transformer_kit/__init__.py": "", "transformer_kit/cli.py": FAKE_KIT}
    results = autograder.run(files, cwd="submission")
    assert results["score"] == 0 and "forged" not in json.dumps(results)


def test_without_a_kit_run_autograder_still_writes_valid_results(autograder: Autograder) -> None:
    results = autograder.run({"attention.py": "x = 1\n"}, env={"PATH": "/usr/bin:/bin"})
    assert results["score"] == 0 and "instructor" in results["output"]


def test_a_broken_configuration_gives_zero_and_a_message(autograder: Autograder) -> None:
    config = autograder.root / "source" / CONFIG_NAME
    saved = config.read_bytes()
    config.write_text("{}")
    try:
        results = autograder.run({"attention.py": solution_source("attention")})
    finally:
        config.write_bytes(saved)
    assert results["score"] == 0 and "instructor" in results["output"]


# --- the command line ---------------------------------------------------------------------------


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli.main, list(args))
    return result.exit_code, result.output


@pytest.mark.parametrize(
    ("args", "said"),
    [
        (("gradescope", "build", "nonsense"), "no exercise named 'nonsense'"),
        (("gradescope", "build", "--out", "."), "is a directory"),
        (("gradescope", "build", "--out", "/no/such/folder/a.zip"), "does not exist"),
        (("gradescope", "build", "--hidden-visibility", "soon"), "soon"),
    ],
)
def test_bad_input_is_a_usage_error(args: tuple[str, ...], said: str) -> None:
    code, output = invoke(*args)
    assert code == 2 and said in output and "Traceback" not in output


def test_help_explains_the_commands() -> None:
    code, output = invoke("gradescope", "build", "--help")
    assert code == 0 and "--hidden-visibility" in output and "run_autograder" in output
    code, output = invoke("gradescope", "run", "--help")
    assert code == 0 and "results.json" in output
