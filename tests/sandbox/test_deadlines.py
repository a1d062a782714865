"""One deadline per call, whatever the worker sends, and a grading process the learner's code
cannot grow: attacks through beam_search, whose grader passes the learner a function of its own
(`log_prob_fn`) to call back.

Each case grades beam_search (the reference's greedy_decode, an attacking beam_search) and
attention (solved) exactly as `kit check` does, with real bubblewrap where it is installed. The
check must end with the kit's own message for beam_search's tests (never pytest's timeout),
greedy_decode's tests must still pass, and attention must still be graded. The grading process
here is this test's process: its peak resident memory (VmHWM, reset first through
/proc/self/clear_refs) must stay within GROWTH of where it was.
"""

from __future__ import annotations

import dataclasses
import textwrap
from dataclasses import dataclass
from pathlib import Path

import pytest
from support import solution_source

from transformer_kit import catalog as meta
from transformer_kit import check as grading
from transformer_kit import results
from transformer_kit.results import CheckResult, ExerciseResult
from transformer_kit.sandbox import client as sandboxed
from transformer_kit.sandbox import isolation, protocol

EXERCISE, NEIGHBOUR = "beam_search", "attention"
LEVEL = isolation.choose()  # full where bubblewrap runs (the kit's own choice)
GROWTH = 48 * 2**20  # bytes the grading process's peak may grow by in a check (8.5 MiB measured;
# one 48 MB array buffered, or its 1e308s kept as ints, would be far more)
SHORT = 1.0  # seconds of CPU time per test (5 s of wall time) where a case waits for the limit
CHANNEL = "import os, sys, time\nREQUESTS, REPLIES = int(sys.argv[1]), int(sys.argv[2])\n"


@dataclass(frozen=True)
class Attack:
    name: str
    code: str  # replaces the reference's beam_search
    phrase: str  # in every failed beam_search test's message
    time_limit: float | None = None  # None: the catalogue's


ATTACKS = [
    Attack(
        "trickle: a frame one byte every 50 ms, forever",
        """
        def beam_search(log_prob_fn, *args, **kwargs):
            os.write(REPLIES, (60 * 2**20).to_bytes(4, "big") + b'{"op":"result","value":')
            while True:
                os.write(REPLIES, b" ")
                time.sleep(0.05)
        """,
        "time limit: beam_search(",
        SHORT,
    ),
    Attack(
        "callbacks forever, slowly (an honest loop that never ends)",
        """
        def beam_search(log_prob_fn, bos_id, *args, **kwargs):
            while True:
                log_prob_fn([bos_id])
                time.sleep(0.002)
        """,
        "time limit: beam_search(",
        SHORT,
    ),
    Attack(
        "callbacks written without ever reading the replies (the kit's writes would block)",
        """
        def beam_search(log_prob_fn, *args, **kwargs):
            body = b'{"op":"callback","id":0,"args":{"t":[[0]]}}'
            while True:
                os.write(REPLIES, len(body).to_bytes(4, "big") + body)
        """,
        "time limit: beam_search(",
        SHORT,
    ),
    Attack(
        "callbacks forever, as fast as it can",
        """
        def beam_search(log_prob_fn, bos_id, *args, **kwargs):
            while True:
                log_prob_fn([bos_id])
        """,
        f"called the function it was given more than {sandboxed.MAX_CALLBACKS:,} times",
    ),
    Attack(
        "callbacks with a huge array of 1e308, forever",
        """
        import numpy as np
        def beam_search(log_prob_fn, *args, **kwargs):
            huge = np.full(6_000_000, 1e308)  # 48 MB: within a result's frame, not a callback's
            while True:
                try:
                    log_prob_fn(huge)
                except Exception:
                    pass
        """,
        "bytes of arguments, over the kit's limit",
    ),
    Attack(
        "callbacks with arrays of 1e308 just under the limit, forever",
        f"""
        import numpy as np
        def beam_search(log_prob_fn, *args, **kwargs):
            big = np.full({protocol.MAX_CALLBACK * 3 // 4 // 8 - 20}, 1e308)
            while True:
                try:
                    log_prob_fn(big)
                except Exception:
                    pass
        """,
        f"passed over {sandboxed.CALLBACK_BYTES // 2**20} MiB to the function it was given",
    ),
]


def _high_water_mark_reset() -> int:
    """Reset this process's peak resident memory to its current one; that, in bytes."""
    Path("/proc/self/clear_refs").write_text("5", encoding="ascii")
    return _status_bytes("VmHWM")


def _status_bytes(field: str) -> int:
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/self/status")


def _grade(make_workspace, code: str, time_limit: float | None) -> tuple[CheckResult, int]:
    """The check of the attacking beam_search and a solved attention, and how much this (the
    grading) process's peak resident memory grew during it."""
    source = solution_source(EXERCISE) + CHANNEL + textwrap.dedent(code)
    root = make_workspace({EXERCISE: source, NEIGHBOUR: solution_source(NEIGHBOUR)})
    exercises = meta.resolve([EXERCISE, NEIGHBOUR], meta.load())
    if time_limit is not None:
        exercises = [dataclasses.replace(e, time_limit=time_limit) for e in exercises]
    before = _high_water_mark_reset()
    result = grading.check(root, exercises, level=LEVEL)
    return result, _status_bytes("VmHWM") - before


def _by_name(result: CheckResult) -> dict[str, ExerciseResult]:
    return {exercise.name: exercise for exercise in result.exercises}


Tests = list[results.TestResult]


def _greedy_and_beam(exercise: ExerciseResult) -> tuple[Tests, Tests]:
    """greedy_decode's tests (named "greedy ..."), then the others: beam_search's."""
    greedy = [t for t in exercise.tests if t.name.startswith("greedy")]
    beam = [t for t in exercise.tests if not t.name.startswith("greedy")]
    assert greedy and beam, [t.name for t in exercise.tests]
    return greedy, beam


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_an_attack_through_the_channel_fails_its_tests_and_nothing_else(
    attack: Attack, make_workspace
) -> None:
    result, growth = _grade(make_workspace, attack.code, attack.time_limit)
    graded = _by_name(result)
    greedy, beam = _greedy_and_beam(graded[EXERCISE])
    assert all(t.passed for t in greedy), [t.summary for t in greedy if not t.passed]
    assert not any(t.passed for t in beam)
    assert attack.phrase in beam[0].summary, beam[0].summary
    assert graded[NEIGHBOUR].passed, graded[NEIGHBOUR].tests
    assert growth < GROWTH, f"the grading process grew by {growth / 2**20:.0f} MiB"


# (the callback's id, its arguments) as the worker sends them: an id never issued, of the wrong
# type (a list cannot even be looked up), equal to an issued one but not an int; arguments that
# are not a tuple
MALFORMED = [([0], {"t": [[0]]}), ("0", {"t": [[0]]}), (5, {"t": [[0]]}), (False, {"t": [[0]]}),
             (0.0, {"t": [[0]]}), (0, [[0]]), (0, {"t": [{"x": 1}]})]  # fmt: skip
REFERENCE_UNLESS_ODD = """
reference_beam_search = beam_search
def beam_search(log_prob_fn, bos_id, eos_id, beam_width, max_len, **kwargs):
    if max_len % 2 == 0:
        return reference_beam_search(log_prob_fn, bos_id, eos_id, beam_width, max_len, **kwargs)
    body = json.dumps({"op": "callback", "id": KEY, "args": ARGS}).encode()
    os.write(REPLIES, len(body).to_bytes(4, "big") + body)
    os.read(REQUESTS, 1 << 20)  # the reply, if the kit were to answer
    return []
"""


@pytest.mark.parametrize(("key", "args"), MALFORMED, ids=[repr(m) for m in MALFORMED])
def test_a_malformed_callback_is_the_learner_s_and_the_next_test_is_in_step(
    key: object, args: object, make_workspace
) -> None:
    """Calls with an odd max_len send the malformed callback, the others are the reference's: a
    test after a failed one must pass, with a fresh worker in step with the tests."""
    code = f"import json\nKEY, ARGS = {key!r}, {args!r}\n" + REFERENCE_UNLESS_ODD
    result, _ = _grade(make_workspace, code, None)
    graded = _by_name(result)
    _, beam = _greedy_and_beam(graded[EXERCISE])
    failed = [i for i, t in enumerate(beam) if not t.passed]
    assert failed and any(t.passed for t in beam[failed[0] :])
    for index in failed:
        assert "sent data the kit cannot read" in beam[index].summary, beam[index].summary
    assert graded[NEIGHBOUR].passed
