"""The class report of `kit grade` (cli.md "Third wave"): report.html opened in a real headless
Chromium (Debian's `chromium`, installed here when missing, as .ci/run installs bubblewrap),
driven by Playwright: no console error, no network request, the plots drawn at 1280 and 390 px,
nothing wider than a phone's screen; students' hostile ids, file names and messages escaped.
The ranking of the class's likely mistakes and the per-test pass rates on a hand-made class.
"""

from __future__ import annotations

import importlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from support import kit_executable, solution_source

from transformer_kit import results as kit
from transformer_kit.batch import stats
from transformer_kit.sandbox.client import CRASHED

MOM = "momentum_sgd"
HOSTILE_ID = "<img src=x onerror=alert(1)>'\"q"
FORMULA_ID = "=cmd|'calc'!A0"
HOSTILE_FILE = "<b onmouseover=alert(3)>_momentum_sgd.py"
HOSTILE_MESSAGE = "<script>alert(2)</script>"
RAISING = f"""
def momentum_step(*args, **kwargs):
    raise ValueError({HOSTILE_MESSAGE!r})


def sgd_step(*args, **kwargs):
    raise ValueError({HOSTILE_MESSAGE!r})
"""
WIDTHS = (1280, 390)


def chromium() -> str:
    """The system's Chromium, installed with apt-get where it is missing."""
    found = shutil.which("chromium")
    if found is None and shutil.which("apt-get"):
        for command in (
            ["apt-get", "update", "-qq"],
            ["apt-get", "install", "-y", "-qq", "chromium"],
        ):
            subprocess.run(command, check=True, capture_output=True, timeout=1200)
        found = shutil.which("chromium")
    if found is None:
        pytest.fail("Chromium is missing and apt-get cannot install it here")
    return found


def _class(folder: Path) -> None:
    """A reference, a stub, three known-wrong versions, and hostile names and messages."""
    catalogue = importlib.import_module(f"catalogue.{MOM}")
    wrong = [v for v in catalogue.VARIANTS if not v.passes][:3]
    files = {
        "ref": solution_source(MOM),
        "stub": (Path(__file__).parents[2] / "exercises" / f"{MOM}.py").read_text(),
        **{f"wrong-{i}": v.source(solution_source(MOM)) for i, v in enumerate(wrong)},
        HOSTILE_ID: RAISING,
        FORMULA_ID: solution_source(MOM),
    }
    for student, source in files.items():
        (folder / student).mkdir(parents=True)
        (folder / student / f"{MOM}.py").write_text(source)
    (folder / HOSTILE_ID / HOSTILE_FILE).write_text("odd")


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> Path:
    base = tmp_path_factory.mktemp("report")
    folder, out = base / "class", base / "grades"
    _class(folder)
    environment = {**os.environ, "KIT_ISOLATION": "full", "NO_COLOR": "1", "COLUMNS": "100"}
    done = subprocess.run(
        [kit_executable(), "grade", str(folder), "--out", str(out), "-j", "2"],
        capture_output=True, text=True, cwd=base, env=environment, timeout=900,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    (out / "stdout.txt").write_text(done.stdout)
    return out


def test_the_terminal_table_names_each_student_within_100_columns(graded: Path) -> None:
    stdout = (graded / "stdout.txt").read_text()
    assert max(len(line) for line in stdout.splitlines()) <= 100, stdout
    rows = {line.split("│")[1].strip(): line for line in stdout.splitlines() if "│" in line}
    assert "0 of 1" in rows["stub"] and "1 of 1" in rows["ref"], stdout
    assert "wrote" in stdout and "report.html" in stdout


def test_summary_json_has_every_test_s_pass_rate(graded: Path) -> None:
    summary = json.loads((graded / "summary.json").read_text())
    tests = summary["exercises"][MOM]["tests"]
    graded_students = 7  # ref, stub, three wrong, the hostile one, the formula one
    assert {t["graded"] for t in tests} == {graded_students}
    results = [json.loads(p.read_text()) for p in (graded / "results").glob("*.json")]
    for entry in tests:
        passed = sum(
            t["passed"]
            for r in results
            for t in r["exercises"][0]["tests"]
            if t["name"] == entry["name"]
        )
        assert entry["passed"] == passed and entry["pass_rate"] == round(passed / 7, 6)


def test_the_page_escapes_every_student_string(graded: Path) -> None:
    page = (graded / "report.html").read_text(encoding="utf-8")
    for raw in (HOSTILE_MESSAGE, "<img src=x", "<b onmouseover"):
        assert raw not in page
    assert "&lt;script&gt;alert(2)&lt;/script&gt;" in page
    assert "&lt;img src=x onerror=alert(1)&gt;&#39;&#34;q" in page
    assert "http://" not in page.replace("http://www.w3.org/", "")  # SVG's namespaces only


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright  # the test extra's: a missing one fails

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(executable_path=chromium(), args=["--no-sandbox"])
        yield launched
        launched.close()


@pytest.mark.parametrize("width", WIDTHS)
def test_chromium_shows_the_plots_without_errors_or_requests(
    graded: Path, browser, width: int, tmp_path: Path
) -> None:
    page = browser.new_page(viewport={"width": width, "height": 900})
    errors, requests = [], []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("request", lambda r: requests.append(r.url))
    url = (graded / "report.html").as_uri()
    page.goto(url, wait_until="load")
    assert errors == [] and requests == [url]
    active = "script, img, [onerror], [onmouseover]"  # what a student's string would have made
    assert page.evaluate(f"document.querySelectorAll({active!r}).length") == 0
    text = page.inner_text("body")
    for shown in (HOSTILE_ID, HOSTILE_MESSAGE, HOSTILE_FILE, FORMULA_ID):
        assert shown in text
    # the hand-computed test a released notebook shows is shown in full, the others hidden
    assert "sgd_step on hand examples (hidden)" not in text
    assert "sgd_step on hand examples" in text and "(hidden)" in text
    assert "0.578125" not in text  # points are rounded for display
    assert page.evaluate("document.documentElement.scrollWidth") <= width  # no sideways scrolling
    plots = "[...document.querySelectorAll('figure svg')]"
    labels = page.evaluate(f"{plots}.map(s => s.getAttribute('aria-label'))")
    assert len(labels) == 3 and all(labels)
    assert page.evaluate("[...document.querySelectorAll('table')].every(t => t.tHead)")
    shot = tmp_path / f"report-{width}.png"
    page.screenshot(path=str(shot), full_page=True)
    image = _pixels(shot)
    for box in page.evaluate(
        f"{plots}.map(s => {{const r = s.getBoundingClientRect();"
        " return [r.x + scrollX, r.y + scrollY, r.width, r.height]})"
    ):
        x, y, w, h = (round(v) for v in box)
        assert w > 0.5 * min(width, 900) - 40 and h > 50, box  # a plot as wide as the text
        drawn = (image[y : y + h, x : x + w, :3] < 0.9).any(axis=2).mean()
        assert drawn > 0.02, (box, drawn)  # bars, boxes, axes and labels: not a blank area
    page.close()


def _pixels(path: Path):
    from matplotlib import image

    return image.imread(path)


def _test(name: str, *mistakes: str) -> kit.TestResult:
    fields = tuple((kit.LIKELY_MISTAKE, m) for m in mistakes)
    return kit.TestResult(
        name, not mistakes, 0.0 if mistakes else 1.0, 1.0, "failed" * bool(mistakes), fields
    )


def _student(*tests: kit.TestResult) -> kit.CheckResult:
    return kit.CheckResult((kit.ExerciseResult("ex", "Ex", float(len(tests)), tests),))


def test_mistakes_rank_by_students_then_tests_then_alphabet_and_skip_the_channel() -> None:
    """gamma: 3 students (s1-s3, t1); beta and delta: 2 students (s1 in t2, s2 in t1: 2 tests
    each, so alphabetical); alpha: 2 students, 1 test (t1); the crashed worker's diagnosis: 4
    students, never counted."""
    results = {
        "s1": _student(_test("t1", "gamma", "alpha", CRASHED), _test("t2", "beta", "delta")),
        "s2": _student(_test("t1", "gamma", "beta", "delta", CRASHED), _test("t2")),
        "s3": _student(_test("t1", "gamma", "alpha", CRASHED)),
        "s4": _student(_test("t1", CRASHED)),
    }
    ranked = stats.mistakes(results)
    assert [(m.line, m.count, len(m.tests)) for m in ranked] == [
        ("gamma", 3, 1), ("beta", 2, 2), ("delta", 2, 2), ("alpha", 2, 1),
    ]  # fmt: skip
    assert ranked[0].students == ("s1", "s2", "s3")
    assert stats.first_mistake(results["s4"]) == ""


def test_pass_rates_put_the_most_failed_test_first() -> None:
    """t1 passed by 1 of 3 students (s3), t2 by 2 of 2 (s1 and s2 ran it)."""
    results = {
        "s1": _student(_test("t1", "m"), _test("t2")),
        "s2": _student(_test("t1", "m"), _test("t2")),
        "s3": _student(_test("t1")),
    }
    assert [(r.test, r.passed, r.graded) for r in stats.pass_rates(results)] == [
        ("t1", 1, 3), ("t2", 2, 2),
    ]  # fmt: skip
