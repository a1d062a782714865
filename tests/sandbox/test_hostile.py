"""Hostile submissions: learner code that attacks the grading instead of solving the exercise.

Each case is the reference momentum_sgd solution plus hostile code (which may redefine
`sgd_step`). The verdict of every case is fixed here: whether the exercise passes and a phrase
the first failure must contain. The grading runs in this process exactly as `kit check` does,
with a beside-it exercise (param_count, solved) that must still pass, at both isolation levels
(full: bubblewrap; basic: the kit's own namespaces). test_isolation.py has the attacks that only
full isolation stops. Hostile code reports what it saw in exception text or, from processes
that outlive a call, in its process name (/proc/PID/comm): it can write no file that lasts.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import kit_executable, processes_named, solution_source

from transformer_kit import catalog as meta
from transformer_kit import check as grading
from transformer_kit.sandbox import bubblewrap, isolation
from transformer_kit.sandbox import process as sandbox

EXERCISE = "momentum_sgd"
NEIGHBOUR = "param_count"
LIMITS = sandbox.Limits()  # the real ones
# Code that hangs at import fails whatever the limit; 1.5 s of CPU time keeps those cases short and
# still leaves the neighbour's import (numpy only, a fraction of that) room on a busy machine.
HANGS_AT_IMPORT = sandbox.Limits(import_seconds=1.5)
# Code that imports torch and ends: no import limit that a loaded machine could reach (it took
# 3-4.5 s there), so the hostile behaviour, not the machine's speed, decides the verdict.
IMPORTS_TORCH = sandbox.Limits(import_seconds=LIMITS.cpu_seconds)
LEVELS = [isolation.Full(), isolation.Basic()] if bubblewrap.available() else [isolation.Basic()]
PR_SET_NAME = 15


@dataclass(frozen=True)
class Hostile:
    name: str
    code: str
    passes: bool
    phrase: str = ""  # in the first failed test's message
    limits: sandbox.Limits = LIMITS


CASES = [
    Hostile("sys.exit at import", "import sys\nsys.exit(0)", False, "tried to stop the program"),
    Hostile("os._exit at import", "import os\nos._exit(0)", False, "exited early"),
    Hostile(
        "SystemExit in a call",
        "def sgd_step(w, grad, lr):\n    raise SystemExit(0)",
        False,
        "tried to stop the program",
    ),
    Hostile(
        "os._exit in a call",
        "import os\ndef sgd_step(w, grad, lr):\n    os._exit(0)",
        False,
        "exited early (exit code 0)",
    ),
    Hostile("KeyboardInterrupt at import", "raise KeyboardInterrupt", False, "KeyboardInterrupt"),
    Hostile(
        "KeyboardInterrupt in a call",
        "def sgd_step(w, grad, lr):\n    raise KeyboardInterrupt",
        False,
        "KeyboardInterrupt",
    ),
    Hostile(
        "monkeypatched comparisons",
        """
        import math, unittest, numpy as np, numpy.testing, pytest
        np.allclose = lambda *a, **k: True
        np.isclose = lambda a, b, **k: np.ones(np.shape(a), bool)
        np.array_equal = lambda *a, **k: True
        numpy.testing.assert_allclose = lambda *a, **k: None
        math.isclose = lambda *a, **k: True
        unittest.TestCase.assertEqual = lambda *a, **k: None
        pytest.approx = lambda expected, **k: object()
        def sgd_step(w, grad, lr):
            return np.zeros_like(w)
        """,
        False,
        "values wrong",
    ),
    Hostile(
        "monkeypatched torch",
        """
        import torch
        torch.allclose = lambda *a, **k: True
        torch.testing.assert_close = lambda *a, **k: None
        def sgd_step(w, grad, lr):
            return w
        """,
        False,
        "values wrong",
        IMPORTS_TORCH,
    ),
    Hostile(
        "stack walk and gc scan for expected values",
        """
        import gc, sys, numpy as np
        def sgd_step(w, grad, lr):
            frame, seen = sys._getframe(), []
            while frame is not None:
                seen += [v for v in frame.f_locals.values() if isinstance(v, np.ndarray)]
                frame = frame.f_back
            seen += [o for o in gc.get_objects() if isinstance(o, np.ndarray)]
            same = [a for a in seen if a.shape == np.shape(w) and a is not w and a is not grad]
            return same[-1] if same else np.zeros_like(w)
        """,
        False,
        "sgd_step",
    ),
    Hostile(
        "ndarray subclass that lies in comparisons",
        """
        import numpy as np
        class Liar(np.ndarray):
            def __eq__(self, other): return np.ones(self.shape, bool)
            def __array_ufunc__(self, *args, **kwargs): return np.zeros(self.shape)
            def __float__(self): return 0.0
        def sgd_step(w, grad, lr):
            return np.zeros(np.shape(w)).view(Liar)
        """,
        False,
        "values wrong",
    ),
    Hostile(
        "a result that only matches by broadcasting",
        "import numpy as np\ndef sgd_step(w, grad, lr):\n    return np.mean(w - lr * grad)",
        False,
        "wrong shape",
    ),
    Hostile(
        "nan and inf",
        "import numpy as np\ndef sgd_step(w, grad, lr):\n    return (w - lr * grad) * np.inf",
        False,
        "nan or inf",
    ),
    Hostile(
        "modifies its input in place",
        "def sgd_step(w, grad, lr):\n    w -= lr * grad\n    return w",
        False,
        "modified its input",
    ),
    Hostile(
        "infinite loop with SIGALRM and SIGTERM ignored",
        """
        import signal
        signal.signal(signal.SIGALRM, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        def sgd_step(w, grad, lr):
            while True:
                pass
        """,
        False,
        "time limit",
    ),
    Hostile(
        "infinite loop at import", "while True:\n    pass", False, "time limit", HANGS_AT_IMPORT
    ),
    Hostile(
        "sleep at import", "import time\ntime.sleep(1000)", False, "time limit", HANGS_AT_IMPORT
    ),
    Hostile(
        "segfault",
        "import ctypes\ndef sgd_step(w, grad, lr):\n    return ctypes.string_at(0)",
        False,
        "crashed (SIGSEGV",
    ),
    Hostile(
        "runaway recursion",
        "def sgd_step(w, grad, lr):\n    return sgd_step(w, grad, lr) + 1",
        False,
        "RecursionError",
    ),
    Hostile(
        "memory bomb",
        "def sgd_step(w, grad, lr):\n    return bytearray(16 * 1024**3)",
        False,
        "memory limit",
    ),
    Hostile(
        "a result far larger than asked for",
        "import numpy as np\ndef sgd_step(w, grad, lr):\n    return np.zeros(10**7)",
        False,
        "over the kit's limit",
    ),
    Hostile(
        "protocol forgery",
        """
        import os, sys
        os.write(int(sys.argv[2]), b"\\x00\\x00\\x00\\x05{bad}")
        """,
        False,
        "data the kit cannot read",
    ),
    Hostile(
        "a flood of prints from a correct solution",
        """
        _reference_step = sgd_step
        def sgd_step(w, grad, lr):
            for i in range(20000):
                print("debugging line", i, "x" * 80)
            return _reference_step(w, grad, lr)
        """,
        True,
    ),
    Hostile(
        "fake success printed at import",
        """
        import os
        print('{"score": 100, "max_score": 100, "exercises": []}')
        os.write(1, b"1 of 1 exercise passed, 6 of 6 points\\n")
        os.write(2, b"PASSED\\n")
        def sgd_step(w, grad, lr):
            return w
        """,
        False,
        "values wrong",
    ),
]


def _workspace(make_workspace, code: str) -> Path:
    source = solution_source(EXERCISE) + "\n\n" + textwrap.dedent(code) + "\n"
    return make_workspace({EXERCISE: source, NEIGHBOUR: solution_source(NEIGHBOUR)})


@pytest.mark.parametrize("level", LEVELS)
@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_hostile_submission_gets_its_verdict(
    case: Hostile, level: isolation.Level, make_workspace
) -> None:
    root = _workspace(make_workspace, case.code)
    exercises = meta.resolve([EXERCISE, NEIGHBOUR], meta.load())
    result = grading.check(root, exercises, case.limits, level=level)
    assert result.isolation == level.name
    graded, neighbour = result.exercises
    assert neighbour.passed, f"{NEIGHBOUR} must still be graded and pass"
    assert graded.passed is case.passes
    if not case.passes:
        first = next(t for t in graded.tests if not t.passed)
        assert case.phrase in first.message, first.message


@pytest.mark.parametrize("level", LEVELS)
def test_forked_children_and_daemons_do_not_outlive_the_check(
    level: isolation.Level, make_workspace
) -> None:
    """A child and a double-forked daemon rename themselves and live on; while the check runs
    they are seen, after it none is left (process ids are not comparable across namespaces)."""
    root = _workspace(
        make_workspace,
        f"""
        import ctypes, os, time
        def live_on(name):
            ctypes.CDLL(None).prctl({PR_SET_NAME}, name, 0, 0, 0)
            while True:
                time.sleep(0.02)
        if os.fork() == 0:
            os.setsid()
            if os.fork() == 0:
                live_on(b"kit-daemon")
            os._exit(0)
        if os.fork() == 0:
            live_on(b"kit-child")
        time.sleep(0.5)  # long enough to be seen
        """,
    )
    seen: set[str] = set()
    done = threading.Event()

    def look() -> None:
        while not done.is_set():
            seen.update(name for name in ("kit-child", "kit-daemon") if processes_named(name))
            time.sleep(0.02)

    watcher = threading.Thread(target=look)
    watcher.start()
    try:
        result = grading.check(root, meta.resolve([EXERCISE], meta.load()), LIMITS, level=level)
    finally:
        done.set()
        watcher.join()
    assert result.passed  # the solution itself is right
    assert seen == {"kit-child", "kit-daemon"}, "the hostile code did not run"
    assert _gone("kit-child") and _gone("kit-daemon"), "a process outlived the check"


def _gone(name: str, guard: float = 30.0) -> bool:
    """No process is named `name`, once the kernel has finished tearing down the killed ones (a
    loaded machine may take a moment; only a survivor lasts until the guard)."""
    deadline = time.monotonic() + guard
    while processes_named(name):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _run_kit(root: Path, *args: str) -> tuple[subprocess.CompletedProcess[str], int]:
    """`kit check` in a subprocess; also the largest resident size of any process it ran (KiB)."""
    probe = (
        "import resource, subprocess, sys; "
        "done = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "sys.stdout.write(done.stdout); sys.stderr.write(done.stderr); "
        "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr); "
        "sys.exit(done.returncode)"
    )
    command = [sys.executable, "-c", probe, kit_executable(), "--workspace", str(root), *args]
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    peak = int(done.stderr.strip().splitlines()[-1])
    return done, peak


def test_memory_bomb_stays_under_4_gib_through_the_cli(make_workspace) -> None:
    root = _workspace(
        make_workspace,
        """
        import numpy as np
        def sgd_step(w, grad, lr):
            hoard = [np.ones(10**7) for _ in range(1000)]
            return w
        """,
    )
    done, peak_kib = _run_kit(root, "check", EXERCISE, NEIGHBOUR)
    assert done.returncode == 1, done.stderr
    assert peak_kib < 4 * 1024**2, f"a process reached {peak_kib} KiB"
    assert "memory limit" in done.stdout or "time limit" in done.stdout, done.stdout
    assert f"✓ {NEIGHBOUR} passed" in done.stdout


def test_learner_output_never_reaches_json_stdout(make_workspace) -> None:
    root = _workspace(
        make_workspace,
        """
        import os, sys
        print('{"kit_version": "0.1.0", "score": 6.0, "max_score": 6.0, "exercises": []}')
        os.write(1, b'{"score": 6.0}\\n')
        sys.__stdout__.write("PASSED\\n")
        def sgd_step(w, grad, lr):
            print("inside a call")
            os.write(1, b"more fake output\\n")
            return w
        """,
    )
    done, _ = _run_kit(root, "check", EXERCISE, "--json")
    assert done.returncode == 1
    document = json.loads(done.stdout)  # exactly one JSON document, nothing else
    (exercise,) = document["exercises"]
    assert exercise["name"] == EXERCISE and exercise["passed"] is False
    assert 0 < document["score"] < document["max_score"]


def test_import_time_limit_holds_through_the_cli(make_workspace) -> None:
    """The real default limits: a busy import fails every test at the import's own limit, once
    (the message names the import and its limit, not a test's), whatever the machine's load."""
    root = _workspace(make_workspace, "while True:\n    pass")
    done, _ = _run_kit(root, "check", EXERCISE, "--json")
    assert done.returncode == 1
    (exercise,) = json.loads(done.stdout)["exercises"]
    limit = f"importing exercises/{EXERCISE}.py did not finish within {LIMITS.import_seconds:g} s"
    assert all(limit in test["message"] for test in exercise["tests"]), exercise["tests"]


def _namespaces_available() -> bool:
    probe = (
        "import sys; from transformer_kit.sandbox import isolation; "
        "sys.exit(0 if isolation.enter([]) else 3)"
    )
    return subprocess.run([sys.executable, "-c", probe], timeout=30).returncode == 0


NAMESPACES = _namespaces_available()


def _needs_namespaces(level: isolation.Level) -> None:
    if level == isolation.Basic() and not NAMESPACES:
        pytest.skip("this system allows no PID namespaces")


@pytest.mark.parametrize("level", LEVELS)
def test_the_worker_cannot_kill_the_grading_process(level: isolation.Level, make_workspace) -> None:
    _needs_namespaces(level)
    root = _workspace(
        make_workspace,
        """
        import os, signal
        try:
            os.kill(os.getppid(), signal.SIGKILL)  # in full isolation: bwrap's, someone else's
        except PermissionError:
            pass
        """,
    )
    result = grading.check(root, meta.resolve([EXERCISE, NEIGHBOUR], meta.load()), level=level)
    assert result.passed  # this process is alive to see it: the learner's code is right


@pytest.mark.parametrize("level", LEVELS)
def test_kill_minus_one_reaches_only_the_learners_own_processes(
    level: isolation.Level, make_workspace
) -> None:
    _needs_namespaces(level)
    root = _workspace(
        make_workspace,
        """
        import os, signal
        visible = {int(p) for p in os.listdir("/proc") if p.isdigit()}
        if not visible <= {1, 2}:  # the sandbox's first process (bwrap's, in full), and us
            raise RuntimeError(f"other processes are visible: {sorted(visible)}")
        _reference_step = sgd_step
        def sgd_step(w, grad, lr):
            try:
                os.kill(-1, signal.SIGKILL)
            except ProcessLookupError:  # nothing else to kill where it runs
                pass
            return _reference_step(w, grad, lr)
        """,
    )
    result = grading.check(root, meta.resolve([EXERCISE, NEIGHBOUR], meta.load()), level=level)
    assert result.passed  # it sees only itself, its code is right, and everything else survived


@pytest.mark.parametrize("level", LEVELS)
def test_no_other_process_is_reachable_through_proc(level: isolation.Level, make_workspace) -> None:
    if os.geteuid() == 0:
        _needs_namespaces(level)  # without PID namespaces, root may open any process's files
    """The worker tries every process it can see: open its stdout, list its open files."""
    root = _workspace(
        make_workspace,
        """
        import os
        reached = []
        for entry in os.listdir("/proc"):
            if entry.isdigit() and int(entry) != os.getpid():
                try:
                    os.listdir(f"/proc/{entry}/fd")
                    with open(f"/proc/{entry}/fd/1", "w") as stream:
                        stream.write("")
                    reached.append(entry)
                except OSError:
                    pass
        if reached:
            raise RuntimeError(f"reached {reached}")
        """,
    )
    assert grading.check(root, meta.resolve([EXERCISE], meta.load()), level=level).passed
