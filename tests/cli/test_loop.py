"""The learner's loop through the real CLI (graded in the sandbox): hints that follow the failing
function, `kit repro`, in-place writes named by argument, numpy's own errors, a missing module,
warm-ups that never show an answer, and which workspace is in use."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from support import EXERCISES, run_cli, solution_source

from transformer_kit.graders.fixtures import warmups as fixtures

BY_NAME = {e.name: e for e in EXERCISES}
NO_SCALE = ("q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)", "q @ np.swapaxes(k, -1, -2)")


@pytest.fixture(autouse=True)
def _plain(isolated_environment: None, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COLUMNS", "100")


def write(root: Path, name: str, source: str) -> None:
    (root / "exercises" / f"{name}.py").write_text(source, encoding="utf-8")


def replaced(name: str, old: str, new: str) -> str:
    source = solution_source(name)
    assert source.count(old) == 1, f"the reference {name} changed: update {old!r}"
    return source.replace(old, new)


def check_json(root: Path, name: str) -> dict[str, Any]:
    code, out, _ = run_cli("-w", str(root), "check", name, "--json")
    assert code == 1, out
    exercise: dict[str, Any] = json.loads(out)["exercises"][0]
    return exercise


def test_hints_follow_the_function_that_failed(fresh: Path) -> None:
    hints = BY_NAME["attention"].hints
    assert hints[2].startswith("multi_head_attention:") and "multi_head_attention" not in hints[0]
    unfinished = "\n\ndef multi_head_attention(*args, **kwargs):\n    raise NotImplementedError\n"
    write(fresh, "attention", solution_source("attention") + unfinished)
    code, out, _ = run_cli("-w", str(fresh), "check", "attention")
    assert code == 1
    assert "multi_head_attention: not started (" in out  # one line for the function
    code, out, _ = run_cli("-w", str(fresh), "hint", "attention")
    assert code == 0 and "hint 3 of 3" in out and "multi_head_attention:" in out
    code, out, _ = run_cli("-w", str(fresh), "hint", "attention")  # then the others, in order
    assert "hint 1 of 3" in out and "That was the last hint" not in out
    code, out, _ = run_cli("-w", str(fresh), "hint", "attention")
    assert "hint 2 of 3" in out and "That was the last hint" in out


def test_repro_writes_a_script_with_the_inputs_and_no_expected_value(fresh: Path) -> None:
    write(fresh, "attention", replaced("attention", *NO_SCALE))
    code, out, err = run_cli("-w", str(fresh), "repro", "attention")
    assert code == 0, err
    script = fresh / ".kit" / "repro" / "attention.py"
    assert str(script) in out and "q = k = I2" in out  # the first failed test
    with np.load(script.with_suffix(".npz")) as data:  # q = k = I2, v = [[1, 2], [3, 4]]
        arrays = [data[key] for key in sorted(data.files)]
    assert len(arrays) == 3
    assert np.array_equal(arrays[0], np.eye(2)) and np.array_equal(arrays[1], np.eye(2))
    assert np.array_equal(arrays[2], [[1.0, 2.0], [3.0, 4.0]])
    text = script.read_text()
    assert "scaled_dot_product_attention" in text and "0.6697" not in text  # no expected weights
    ran = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60)
    assert ran.returncode == 0, ran.stderr
    # the learner's own (unscaled) weights: softmax([1, 0]) = e / (e + 1) = 0.73105858
    assert "your result" in ran.stdout and "0.73105858" in ran.stdout


def test_repro_names_the_failed_tests_when_none_matches(fresh: Path) -> None:
    write(fresh, "attention", replaced("attention", *NO_SCALE))
    code, _, err = run_cli("-w", str(fresh), "repro", "attention", "no such test")
    assert code == 1 and "no failed test of attention matches" in err
    assert "1. scaled_dot_product_attention" in err and "Traceback" not in err


IN_PLACE = (  # the code's line, not the docstring's (indented further)
    "\n    new_running_mean = (1 - momentum) * running_mean + momentum * mean\n",
    "\n    running_mean *= 1 - momentum\n"
    "    running_mean += momentum * mean\n"
    "    new_running_mean = running_mean\n",
)


def test_an_in_place_write_names_the_argument_once_per_function(fresh: Path) -> None:
    write(fresh, "normalization", replaced("normalization", *IN_PLACE))
    exercise = check_json(fresh, "normalization")
    failed = [t for t in exercise["tests"] if not t["passed"]]
    assert failed and all(
        "batch_norm_train modified its input `running_mean` in place" in t["summary"]
        for t in failed
        if "batch_norm_train" in t["name"] and "in place" in t["summary"]
    )
    _, out, _ = run_cli("-w", str(fresh), "check", "normalization")
    assert out.count("modified its input `running_mean`") == 1  # once for the function
    assert "argument 4" not in out


def test_a_valueerror_numpy_raised_is_not_taken_for_the_learners_check(fresh: Path) -> None:
    source = solution_source("attention")
    start = source.index("    if width % num_heads != 0:")
    end = source.index(")\n", start) + 2  # the check and its raise, left out
    write(fresh, "attention", source[:start] + source[end:])
    exercise = check_json(fresh, "attention")
    (test,) = [t for t in exercise["tests"] if "not divisible" in t["name"]]
    assert test["summary"] == "raised ValueError, but numpy raised it, not a check of yours"
    assert "cannot reshape array" in test["message"]


def test_a_missing_module_says_how_to_install_it_for_the_kit(fresh: Path) -> None:
    missing = "\nimport kit_test_missing_module\n"
    write(fresh, "momentum_sgd", solution_source("momentum_sgd") + missing)
    exercise = check_json(fresh, "momentum_sgd")
    message = exercise["tests"][0]["message"]
    assert "No module named 'kit_test_missing_module'" in message
    assert f"{sys.executable} -m pip install kit_test_missing_module" in message


def test_warmups_never_show_an_expected_value(fresh: Path) -> None:
    source = solution_source("warmups")
    for name in ("ATTENTION_WEIGHTS", "MLP_GRAD_W1"):
        line = f"{name} = {getattr(fixtures, name)}"
        assert line in source, f"the reference warm-ups changed: update {name}"
        source = source.replace(line, f"{name} = [[0.5, 0.5], [0.5, 0.5]]")
    write(fresh, "warmups", source)
    expected = [*np.ravel(fixtures.ATTENTION_WEIGHTS), *np.ravel(fixtures.MLP_GRAD_W1)]
    secrets = [v for v in expected if v not in (0.0, 0.5)]  # 0.6697615, 0.3302385, 1, 2
    for details in ((), ("--details",)):
        code, out, _ = run_cli("-w", str(fresh), "check", "warmups", *details)
        assert code == 1 and "ATTENTION_WEIGHTS" in out and "MLP_GRAD_W1" in out
        assert "expected" not in out and "wrong entries: [0][0]" in out
        for value in secrets:
            forms = [f"{value:.4f}"] + ([f"{value:.6g}"] if value % 1 else [])
            assert all(form not in out for form in forms), (value, out)


def test_list_and_check_say_which_workspace_is_in_use(fresh: Path) -> None:
    code, out, _ = run_cli("-w", str(fresh), "list")
    assert code == 0 and f"workspace: {fresh}" in out.replace("\n", "")
