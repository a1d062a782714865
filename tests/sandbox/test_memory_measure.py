"""Graded memory: `student.<function>.peak_memory(warm_up, measured)` reads the measured call's
peak from the grading process (the worker's cgroup, or its /proc: sandbox/meter.py).

Through the real engine (a `Sandboxed` worker at the kit's isolation level, the bubblewrap one
where it is available, dropping root to nobody): a full-matrix attention at L = S = 2048, d = 64
reads far above 16 MiB and a blocked one (blocks of 128 keys) well below, for numpy and for torch
allocations, the inputs' decoding and the result's encoding included, and a repeated full-matrix
call does not read as 0. The in-process handle of the nbgrader path measures the same way.
Printed numbers: `pytest -s tests/sandbox/test_memory_measure.py`.
"""

from __future__ import annotations

import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from transformer_kit.grader.failures import MeasurementUnavailable
from transformer_kit.grader.memory import Call, MemoryUse
from transformer_kit.grader.student import LocalStudent
from transformer_kit.sandbox import isolation
from transformer_kit.sandbox import process as sandbox
from transformer_kit.sandbox.client import RemoteStudent, Sandboxed, Target

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux only")

MIB = 2**20
LIMIT = 16 * MIB

MODULE = textwrap.dedent(
    """
    import numpy as np
    import torch


    def full_numpy(q, k, v):
        s = q @ k.T / np.sqrt(q.shape[-1])  # (L, S): 32 MiB
        e = np.exp(s - s.max(axis=-1, keepdims=True))
        return (e / e.sum(axis=-1, keepdims=True)) @ v


    def blocked_numpy(q, k, v, block_size=128):
        m = np.full(q.shape[0], -np.inf)
        l = np.zeros(q.shape[0])
        acc = np.zeros((q.shape[0], v.shape[1]))
        for start in range(0, k.shape[0], block_size):
            s = q @ k[start:start + block_size].T / np.sqrt(q.shape[-1])
            m_new = np.maximum(m, s.max(axis=-1))
            a = np.exp(m - m_new)
            p = np.exp(s - m_new[:, None])
            l = l * a + p.sum(axis=-1)
            acc = acc * a[:, None] + p @ v[start:start + block_size]
            m = m_new
        return acc / l[:, None]


    def full_torch(q, k, v):
        q, k, v = (torch.from_numpy(t) for t in (q, k, v))
        return torch.softmax(q @ k.T / q.shape[-1] ** 0.5, dim=-1) @ v


    def blocked_torch(q, k, v, block_size=128):
        q, k, v = (torch.from_numpy(t) for t in (q, k, v))
        m = torch.full((q.shape[0],), float("-inf"), dtype=q.dtype)
        l = torch.zeros(q.shape[0], dtype=q.dtype)
        acc = torch.zeros(q.shape[0], v.shape[1], dtype=q.dtype)
        for start in range(0, k.shape[0], block_size):
            s = q @ k[start:start + block_size].T / q.shape[-1] ** 0.5
            m_new = torch.maximum(m, s.amax(dim=-1))
            a = torch.exp(m - m_new)
            p = torch.exp(s - m_new[:, None])
            l = l * a + p.sum(dim=-1)
            acc = acc * a[:, None] + p @ v[start:start + block_size]
            m = m_new
        return acc / l[:, None]
    """
)


@pytest.fixture(scope="module")
def inputs() -> tuple[Call, Call]:
    """The warm-up call's inputs and the measured call's (fresh) ones."""
    rng = np.random.default_rng(0)
    return Call(*rng.normal(size=(3, 2048, 64))), Call(*rng.normal(size=(3, 2048, 64)))


@pytest.fixture(scope="module")
def remote(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RemoteStudent]:
    folder = Path(tmp_path_factory.mktemp("memory")) / "exercises"  # mode 0755: nobody reads it
    folder.mkdir()
    path = folder / "memory_probe.py"
    path.write_text(MODULE, encoding="utf-8")
    limits = sandbox.Limits()
    sandboxed = Sandboxed(Target("memory_probe", path, limits, isolation.choose()))
    sandboxed.begin_test(30.0)
    try:
        yield RemoteStudent(sandboxed)
    finally:
        sandboxed.close()


def _measure(
    handle: RemoteStudent | LocalStudent, name: str, calls: tuple[Call, Call]
) -> MemoryUse:
    try:
        use = getattr(handle, name).peak_memory(*calls)
    except MeasurementUnavailable as why:
        pytest.skip(f"no memory measurement here: {why}")
    print(
        f"{name}: peak {use.peak_bytes / MIB:.1f} MiB (traced {use.traced_bytes / MIB:.1f}, "
        f"resident {use.resident_bytes / MIB:.1f}; {use.source})"
    )
    assert use.result.shape == (2048, 64)  # the measured call's result comes back
    return use


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_full_matrix_reads_far_above_the_limit(remote: RemoteStudent, inputs, kind: str) -> None:
    use = _measure(remote, f"full_{kind}", inputs)
    assert use.peak_bytes > 2 * LIMIT, use


@pytest.mark.parametrize("kind", ["numpy", "torch"])
def test_blocked_reads_well_under_the_limit(remote: RemoteStudent, inputs, kind: str) -> None:
    use = _measure(remote, f"blocked_{kind}", inputs)
    assert use.peak_bytes < LIMIT - 2 * MIB, use  # the 3 MiB of inputs included (they are sent
    # inside the window: a worker holding them before it would compute the answer unmeasured)


def test_repeated_full_matrix_call_does_not_read_zero(remote: RemoteStudent, inputs) -> None:
    uses = [_measure(remote, "full_numpy", inputs) for _ in range(3)]
    assert all(use.peak_bytes > 2 * LIMIT for use in uses), uses
    assert all(use.resident_bytes > 2 * LIMIT for use in uses), uses  # not tracemalloc alone


def test_local_handle_measures_in_process(inputs) -> None:
    namespace: dict = {}
    exec(compile(MODULE, "<memory probe>", "exec"), namespace)
    student = LocalStudent(namespace)
    assert _measure(student, "full_numpy", inputs).peak_bytes > 2 * LIMIT
    assert _measure(student, "blocked_numpy", inputs).peak_bytes < 0.75 * LIMIT


@pytest.mark.parametrize("handle", ["remote", "local"])
def test_a_measured_call_on_the_warm_up_s_inputs_is_refused(remote, inputs, handle) -> None:
    """A grader's mistake that memoisation would pass is refused before anything runs."""
    namespace: dict = {}
    exec(compile(MODULE, "<memory probe>", "exec"), namespace)
    student = remote if handle == "remote" else LocalStudent(namespace)
    warm_up, _ = inputs
    same = Call(*(a.copy() for a in warm_up.args))
    with pytest.raises(ValueError, match="same inputs"):
        student.full_numpy.peak_memory(warm_up, same)


def test_hiding_clear_refs_in_the_worker_changes_nothing(make_workspace) -> None:
    """The grading process resets the worker's high-water mark itself (/proc/PID/clear_refs),
    so a learner's module that hides /proc/self/clear_refs inside the worker (which once made
    the measurement unavailable there) neither stops nor changes it: the reference passes."""
    from transformer_kit import catalog as meta
    from transformer_kit import check as grading

    (exercise,) = [e for e in meta.load() if e.name == "flash_attention"]
    solution = exercise.solution.read_text(encoding="utf-8")
    hiding = textwrap.dedent(
        """
        import builtins
        _open = builtins.open
        def _no_clear_refs(file, *args, **kwargs):
            if str(file) == "/proc/self/clear_refs":
                raise PermissionError(13, "Permission denied")
            return _open(file, *args, **kwargs)
        builtins.open = _no_clear_refs
        """
    )
    root = make_workspace({"flash_attention": solution + hiding})
    (result,) = grading.check(root, [exercise]).exercises
    (memory,) = [t for t in result.tests if "score matrix" in t.name]
    assert memory.passed, memory.message
