"""Forged checks: learner code that replaces what runs beside it in the worker (the kit's memory
measurement, its in-place check) or games the measured call, graded through the real kit.

Each case is a flash_attention module graded by `check` as `kit check` does (real worker, real
bubblewrap where available). Nothing the worker says about itself decides these verdicts: its
memory is read by the grading process from the kernel, the measured call gets fresh inputs and
its result is checked, and input arrays are sealed read-only, so a write fails whatever the
worker's own check says. The last tests read one call's memory through the worker's own cgroup
(sandbox/cgroup.py, where the kit runs as root) and show what the /proc fallback cannot see.
"""

from __future__ import annotations

import os
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from catalogue.flash_attention import FULL_MATRIX, VARIANTS
from support import solution_source

from transformer_kit import catalog as meta
from transformer_kit import check as grading
from transformer_kit.grader.memory import Call
from transformer_kit.results import TestResult as Graded
from transformer_kit.sandbox import cgroup, isolation
from transformer_kit.sandbox import process as sandbox
from transformer_kit.sandbox.client import RemoteStudent, Sandboxed, Target

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

MIB = 2**20
MEMORY_TEST = "score matrix"  # in the name of graders/test_flash_attention.py's memory test
(FULL,) = [v for v in VARIANTS if v.name == "full score matrix (numpy)"]

# Every function of the kit's modules in the worker that measures memory or checks for in-place
# changes, replaced by one that says all is well (the attacks of issue 19), and the worker's own
# session's methods too, found through the garbage collector.
FORGE_MEASUREMENT = """
import gc, sys
from types import SimpleNamespace

def _zero(*args, **kwargs):
    return SimpleNamespace(peak_bytes=0, traced_bytes=0, resident_bytes=0)

for _name, _module in list(sys.modules.items()):
    if _name.startswith("transformer_kit"):
        for _attr in ("measure_peak", "_proc_status_kib", "_reset_high_water_mark"):
            if hasattr(_module, _attr):
                setattr(_module, _attr, _zero if _attr == "measure_peak" else lambda *a: 0)
for _obj in gc.get_objects():
    if type(_obj).__name__ == "Session":
        type(_obj).measure = lambda self, *a, **k: {"op": "result", "value": [0, 0, 0]}
"""
FORGE_MUTATION_CHECK = """
import gc, sys
for _name, _module in list(sys.modules.items()):
    if _name.startswith("transformer_kit") and hasattr(_module, "mutated_arguments"):
        _module.mutated_arguments = lambda taken: []
"""
IN_PLACE = """
_reference = flash_attention


def flash_attention(q, k, v, block_size=64, causal=False):
    q *= 2.0  # in place, on the caller's array
    return _reference(q / 2.0, k, v, block_size, causal)
"""
MEMOISED = """
_full = flash_attention
_seen = {}


def flash_attention(q, k, v, block_size=64, causal=False):
    key = (q.tobytes(), k.tobytes(), v.tobytes(), block_size, causal)
    if key not in _seen:  # the warm-up call pays; a repeat of it would be free
        _seen[key] = _full(q, k, v, block_size, causal)
    return _seen[key]
"""
CHEAP_WHEN_LARGE = """
_reference = flash_attention


def flash_attention(q, k, v, block_size=64, causal=False):
    if q.shape[-2] >= 1024:  # the call that is measured: answer without computing
        return np.zeros((*q.shape[:-1], v.shape[-1])), np.zeros(q.shape[:-1])
    return _reference(q, k, v, block_size, causal)
"""


def _grade(make_workspace, source: str) -> list[Graded]:
    (exercise,) = [e for e in meta.load() if e.name == "flash_attention"]
    root = make_workspace({"flash_attention": source})
    (result,) = grading.check(root, [exercise]).exercises
    return list(result.tests)


def _memory_test(tests: list[Graded]) -> Graded:
    (memory,) = [t for t in tests if MEMORY_TEST in t.name]
    return memory


def _full_matrix() -> str:
    return FULL.source(solution_source("flash_attention"))


def test_the_reference_passes(make_workspace) -> None:
    tests = _grade(make_workspace, solution_source("flash_attention"))
    assert all(t.passed for t in tests), [t.message for t in tests if not t.passed]


def test_a_forged_measurement_does_not_help_a_full_matrix(make_workspace) -> None:
    memory = _memory_test(_grade(make_workspace, _full_matrix() + FORGE_MEASUREMENT))
    assert not memory.passed and memory.score == 0
    assert FULL_MATRIX in memory.message, memory.message


def test_a_result_remembered_from_the_warm_up_does_not_help(make_workspace) -> None:
    memory = _memory_test(_grade(make_workspace, _full_matrix() + MEMOISED))
    assert not memory.passed and memory.score == 0
    assert FULL_MATRIX in memory.message, memory.message


def test_the_measured_call_s_result_is_checked(make_workspace) -> None:
    source = solution_source("flash_attention") + CHEAP_WHEN_LARGE
    tests = _grade(make_workspace, source)
    memory = _memory_test(tests)
    assert not memory.passed and memory.score == 0
    assert "the call measured" in memory.message and "output" in memory.message, memory.message
    assert all(t.passed for t in tests if t is not memory)


@pytest.mark.parametrize("forged", [False, True], ids=["plain", "check-replaced"])
def test_an_in_place_write_fails_whatever_the_worker_says(make_workspace, forged: bool) -> None:
    source = solution_source("flash_attention") + IN_PLACE
    tests = _grade(make_workspace, source + (FORGE_MUTATION_CHECK if forged else ""))
    calling = [t for t in tests if "merg" not in t.name or "halves" in t.name]
    for test in calling:  # every test that calls flash_attention
        assert not test.passed and test.score == 0, test.name
        assert "flash_attention" in test.message and "in place" in test.message, test.message
    # the argument is named by a second call on writable copies, checked by the worker: a
    # replaced check loses the name, not the verdict
    assert ("input `q`" in calling[0].message) is not forged, calling[0].message
    assert "q *= 2.0" in calling[0].message, calling[0].message  # the learner's line
    assert all(t.passed for t in tests if t not in calling)  # merge_softmax_stats is untouched


# ----------------------------------------------------------------------------------------------
# One call's memory read through the worker's cgroup, against the /proc fallback

PROBE = textwrap.dedent(
    """
    import numpy as np


    def full_then_forget(q, k, v):
        s = q @ k.T  # (L, S): 32 MiB
        out = (np.exp(s - s.max(axis=-1, keepdims=True)) @ v).copy()
        del s
        try:
            with open("/proc/self/clear_refs", "w") as stream:  # the high-water mark, reset
                stream.write("5")
        except OSError:  # a worker that gave up root may not: it is not dumpable
            pass
        return out
    """
)


@pytest.fixture
def probe(tmp_path: Path) -> Iterator[Sandboxed]:
    folder = tmp_path / "exercises"
    folder.mkdir()
    path = folder / "memory_forgery.py"
    path.write_text(PROBE, encoding="utf-8")
    sandboxed = Sandboxed(Target("memory_forgery", path, sandbox.Limits(), isolation.choose()))
    sandboxed.begin_test(30.0)
    try:
        yield sandboxed
    finally:
        sandboxed.close()


def _calls() -> tuple[Call, Call]:
    rng = np.random.default_rng(7)
    return Call(*rng.normal(size=(3, 2048, 64))), Call(*rng.normal(size=(3, 2048, 64)))


@pytest.mark.skipif(
    os.geteuid() != 0 or isolation.choose().name != "full",
    reason="only a worker that gave up root is refused its own reset",
)
def test_the_proc_fallback_is_not_reset_by_a_worker_that_gave_up_root(
    probe: Sandboxed, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fallback (no cgroup) reads the worker's /proc high-water mark. A worker that gave up
    root (full isolation started by root) is not dumpable, so its own reset is refused and the
    reading holds the whole (L, S) matrix; a worker that keeps its user's uid (the kit run by an
    ordinary user) could reset it, which is why a cgroup is the trusted reading (README)."""
    monkeypatch.setattr(cgroup, "create", lambda memory_bytes, processes: None)
    use = RemoteStudent(probe).full_then_forget.peak_memory(*_calls())
    assert "/proc" in use.source
    assert use.peak_bytes > 32 * MIB, use


@pytest.mark.skipif(cgroup.enforcer() != cgroup.CGROUP, reason="the kit makes no cgroup here")
def test_the_cgroup_reading_sees_through_the_reset(probe: Sandboxed) -> None:
    use = RemoteStudent(probe).full_then_forget.peak_memory(*_calls())
    assert probe.worker is not None and probe.worker.cgroup is not None
    assert "cgroup" in use.source
    assert use.peak_bytes > 32 * MIB, use
