"""Hidden grader for the `flash_attention` exercise.

Three levels: the hand fixtures (graders/fixtures/flash_attention.py), the reference solution on
random inputs with fixed seeds (shown in each call), and the properties the contract implies
(merging statistics is the union's statistics, two halves of the keys merge into the whole, no
future leakage under the causal mask) plus the one that makes it FlashAttention: the call's peak
memory, read by the grading process from the kernel, stays far below a full (L, S) score matrix
(on fresh inputs after a warm-up, its result checked too). Classic mistakes are
recomputed here from a deliberately wrong copy of the reference, so a failure can name them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    assert_raises,
    assert_shape,
    unpack,
)
from transformer_kit.grader.failures import MeasurementUnavailable, StudentRaised
from transformer_kit.grader.memory import Call
from transformer_kit.graders.fixtures import flash_attention as fixtures
from transformer_kit.graders.messages.together import same_numbers
from transformer_kit.solutions import flash_attention as reference

# ----------------------------------------------------------------------------------------------
# The classic mistakes, by name (the names are what the learner reads after "likely mistake:").

MERGE_NO_RESCALE = (
    "the sums were added without rescaling (l1 + l2): each sum is relative to its own max, so "
    "multiply l1 by exp(m1 - m) and l2 by exp(m2 - m) first"
)
MERGE_MIN = "m is the min of the two maxima: the union's max is max(m1, m2)"
MERGE_SIGN = (
    "the rescale factors are inverted (exp(m - m1) instead of exp(m1 - m)): a sum relative to a "
    "smaller max shrinks when moved to the larger one"
)
MERGE_OVERFLOW = (
    "exp(m1) and exp(m2) computed on their own overflow for large scores: only ever take exp "
    "of a difference m1 - m <= 0"
)
NO_RESCALE_ACC = (
    "the output accumulator is not rescaled when the running max changes: multiply it by "
    "exp(m_old - m_new) before adding the new block's exp(s - m_new) @ v"
)
NO_RESCALE_SUM = (
    "the running sum l is not rescaled when the running max changes: l = l * exp(m_old - m_new) "
    "+ sum(exp(s - m_new))"
)
NO_RESCALE = (
    "neither the running sum nor the accumulator is rescaled when the running max changes: "
    "multiply both by exp(m_old - m_new)"
)
PER_BLOCK_DIVISION = (
    "a division per block: the accumulator is divided by the running sum in every block, so "
    "earlier blocks are divided again and again; divide acc by l once, after the last block"
)
NOT_NORMALISED = "the output is never divided by the running sum: return acc / l"
MASK_STRICT = (
    "off-by-one causal mask: query i must attend to keys j <= i, itself included (j < i "
    "leaves row 0 with no key at all)"
)
MASK_LOCAL = (
    "the causal mask compares the query with the key's index inside its block: key j of the "
    "block starting at `start` is position start + j"
)
MASK_SHIFTED = "off-by-one causal mask: query i may see keys j <= i, not j <= i + 1"
LOG2 = "logsumexp in log base 2: use the natural log, np.log"
LSE_NO_MAX = "the running max is missing from logsumexp: it is m + log(l), not log(l)"
LSE_OF_MEAN = "logsumexp is log of the softmax-weighted mean, not of the sum: m + log(l)"
NO_SCALE = "no 1/sqrt(d) scaling: the scores are q @ k^T / sqrt(d), d = q.shape[-1]"
SCALE_BY_D = "scores scaled by 1/d instead of 1/sqrt(d): take the square root"
MAX_FROM_ZERO = (
    "the running max starts at 0 instead of -inf: with scores all far below 0, exp(s - 0) "
    "underflows to 0 and the sum becomes 0; start m at -np.inf"
)
SWAPPED = "(logsumexp, output) returned in the wrong order: return (output, logsumexp)"
FULL_MATRIX = (
    "holds the whole (L, S) score matrix: process keys in blocks of block_size, keeping only "
    "(L, block_size) scores and the running max, sum and accumulator"
)

FULL_MASK = (
    "holds a whole (L, S) causal mask: build each block's part of the mask from its indices "
    "(np.arange of the block's keys against the queries'), never the full matrix"
)

MEMORY_LIMIT = 16 * 2**20  # bytes above the start, for q, k, v (2048, 64) and block_size 128
MEMORY_SIZE = 2048  # L = S
MEMORY_SEED = 2048


@contextmanager
def _quiet() -> Iterator[None]:
    """Wrong variants overflow or divide 0 by 0 on purpose: no warnings from them."""
    with np.errstate(all="ignore"):
        yield


# ----------------------------------------------------------------------------------------------
# The reference algorithm with one mistake made on purpose when asked


def _flash(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    block_size: int = 64,
    causal: bool = False,
    *,
    scale: float | None = None,
    rescale_acc: bool = True,
    rescale_sum: bool = True,
    per_block: bool = False,
    normalise: bool = True,
    mask: str = "right",
    m_start: float = -np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """flash_attention as the reference computes it, or with the named mistake."""
    seq_q, seq_k = q.shape[-2], k.shape[-2]
    lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    m = np.full((*lead, seq_q), m_start)
    l = np.zeros((*lead, seq_q))  # noqa: E741
    acc = np.zeros((*lead, seq_q, v.shape[-1]))
    rows = np.arange(seq_q)[:, None]
    with _quiet():
        for start in range(0, seq_k, block_size):
            stop = min(start + block_size, seq_k)
            scores = q @ np.swapaxes(k[..., start:stop, :], -1, -2) * scale
            if causal:
                keys = np.arange(start, stop)
                allowed = {
                    "right": keys <= rows,
                    "strict": keys < rows,
                    "local": keys - start <= rows,
                    "shifted": keys <= rows + 1,
                }[mask]
                scores = np.where(allowed, scores, -np.inf)
            m_new = np.maximum(m, scores.max(axis=-1))
            rescale = np.where(np.isneginf(m_new), 0.0, np.exp(m - m_new))
            p = np.exp(scores - m_new[..., None])
            l = (l * rescale if rescale_sum else l) + p.sum(axis=-1)  # noqa: E741
            acc = (acc * rescale[..., None] if rescale_acc else acc) + p @ v[..., start:stop, :]
            if per_block:
                acc = acc / l[..., None]
            m = m_new
        output = acc / l[..., None] if normalise and not per_block else acc
        return output, m + np.log(l)


def _flash_mistakes(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, block_size: int, causal: bool, part: int
) -> dict[str, np.ndarray]:
    """Classic mistakes of flash_attention on these inputs; part 0 = output, 1 = logsumexp."""
    options: dict[str, dict[str, Any]] = {
        NO_RESCALE: {"rescale_acc": False, "rescale_sum": False},
        NO_RESCALE_ACC: {"rescale_acc": False},
        NO_RESCALE_SUM: {"rescale_sum": False},
        NO_SCALE: {"scale": 1.0},
        SCALE_BY_D: {"scale": 1.0 / q.shape[-1]},
        MAX_FROM_ZERO: {"m_start": 0.0},
    }
    if part == 0:
        options[PER_BLOCK_DIVISION] = {"per_block": True}
        options[NOT_NORMALISED] = {"normalise": False}
    if causal:
        options[MASK_STRICT] = {"mask": "strict"}
        options[MASK_LOCAL] = {"mask": "local"}
        options[MASK_SHIFTED] = {"mask": "shifted"}
    with _quiet():
        mistakes = {
            name: _flash(q, k, v, block_size, causal, **kw)[part] for name, kw in options.items()
        }
        output, lse = _flash(q, k, v, block_size, causal)
        if part == 0:
            mistakes[SWAPPED] = lse
        else:
            m = _running_max(q, k, causal)
            mistakes[LOG2] = lse / np.log(2)
            mistakes[LOG2 + " (np.log2(l) added to the max)"] = m + (lse - m) / np.log(2)
            mistakes[LSE_NO_MAX] = lse - m
            mistakes[LSE_OF_MEAN] = lse - np.log(_key_counts(q, k, causal))
            mistakes[SWAPPED] = output
    mistakes |= public_flash_mistakes(q, k, v, block_size, causal, part)
    return same_numbers(mistakes)


def _running_max(q: np.ndarray, k: np.ndarray, causal: bool) -> np.ndarray:
    """The max scaled score of every query row (after the causal mask)."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
    if causal:
        scores = np.where(np.tril(np.ones(scores.shape[-2:], dtype=bool)), scores, -np.inf)
    return scores.max(axis=-1)


def _key_counts(q: np.ndarray, k: np.ndarray, causal: bool) -> np.ndarray:
    """How many keys each query row sees."""
    seq_q, seq_k = q.shape[-2], k.shape[-2]
    return np.arange(1, seq_q + 1.0) if causal else np.full(seq_q, float(seq_k))


def _merge_mistakes(
    m1: np.ndarray, l1: np.ndarray, m2: np.ndarray, l2: np.ndarray, part: int
) -> dict[str, np.ndarray]:
    """Classic mistakes of merge_softmax_stats; part 0 = m, 1 = l."""
    with _quiet():
        m = np.maximum(m1, m2)
        low = np.minimum(m1, m2)
        if part == 0:
            return {MERGE_MIN: low}
        return {
            MERGE_NO_RESCALE: l1 + l2,
            MERGE_SIGN: l1 * np.exp(m - m1) + l2 * np.exp(m - m2),
            MERGE_MIN: l1 * np.exp(m1 - low) + l2 * np.exp(m2 - low),
            MERGE_OVERFLOW: (l1 * np.exp(m1) + l2 * np.exp(m2)) / np.exp(m),
        }


# ----------------------------------------------------------------------------------------------
# Inputs and checks


def _inputs(
    seed: int, q_shape: tuple[int, ...], k_shape: tuple[int, ...], v_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=q_shape), rng.normal(size=k_shape), rng.normal(size=v_shape)


def _call(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, block_size: int | None, causal: bool, note: str
) -> str:
    parts = [f"q {q.shape}", f"k {k.shape}", f"v {v.shape}"]
    if block_size is not None:
        parts.append(f"block_size={block_size}")
    if causal:
        parts.append("causal=True")
    return f"flash_attention({', '.join(parts)}){note}"


def _check_flash(
    student: Any,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    block_size: int | None,
    causal: bool,
    call: str,
    expected: tuple[Any, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Output and logsumexp against the reference (or `expected`), naming classic mistakes."""
    kwargs: dict[str, Any] = {} if block_size is None else {"block_size": block_size}
    if causal:
        kwargs["causal"] = True
    with output_shaped_like_q(q, v, call=call):
        result = student.flash_attention(q, k, v, **kwargs)
    got = unpack(result, 2, call=call, what="result (output, lse)")
    size = 64 if block_size is None else block_size
    want = expected if expected is not None else reference.flash_attention(q, k, v, **kwargs)
    assert_close(
        got[0],
        want[0],
        call=call,
        what="output",
        mistakes=_flash_mistakes(q, k, v, size, causal, part=0),
    )
    assert_close(
        got[1],
        want[1],
        call=call,
        what="logsumexp",
        mistakes=_flash_mistakes(q, k, v, size, causal, part=1),
    )
    return np.asarray(got[0], dtype=np.float64), np.asarray(got[1], dtype=np.float64)


def _check_merge(
    student: Any,
    m1: np.ndarray,
    l1: np.ndarray,
    m2: np.ndarray,
    l2: np.ndarray,
    call: str,
    expected: tuple[Any, Any] | None = None,
) -> None:
    got = unpack(student.merge_softmax_stats(m1, l1, m2, l2), 2, call=call, what="result (m, l)")
    want = expected if expected is not None else reference.merge_softmax_stats(m1, l1, m2, l2)
    assert_close(got[0], want[0], call=call, what="m", mistakes=_merge_mistakes(m1, l1, m2, l2, 0))
    assert_close(got[1], want[1], call=call, what="l", mistakes=_merge_mistakes(m1, l1, m2, l2, 1))


def _stats(scores: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(max, sum of exp(s - max)) of every row."""
    m = scores.max(axis=-1)
    return m, np.exp(scores - m[..., None]).sum(axis=-1)


# ----------------------------------------------------------------------------------------------
# merge_softmax_stats


@pytest.mark.weight(2)
def test_merge_hand(student: Any) -> None:
    """merge_softmax_stats matches the hand computation (an empty set and equal maxima too)"""
    args = [np.array(a) for a in (fixtures.MERGE_M1, fixtures.MERGE_L1)]
    args += [np.array(a) for a in (fixtures.MERGE_M2, fixtures.MERGE_L2)]
    call = "merge_softmax_stats(m1=[1, 0, 5], l1=[2, 1, 1.5], m2=[3, -inf, 5], l2=[1, 0, 2.5])"
    _check_merge(student, *args, call, expected=(fixtures.MERGE_M, fixtures.MERGE_L))


@pytest.mark.parametrize(
    ("seed", "rows", "spread"),
    [(10, 6, 3.0), (11, 4, 30.0), (12, 5, 1000.0)],
    ids=["seed10", "seed11", "seed12"],
)
def test_merge_is_the_union(student: Any, seed: int, rows: int, spread: float) -> None:
    """merging the statistics of two sets of scores gives the statistics of their union"""
    rng = np.random.default_rng(seed)
    first = spread * rng.normal(size=(rows, 5))
    second = spread * rng.normal(size=(rows, 3)) + spread * rng.normal(size=(rows, 1))
    (m1, l1), (m2, l2) = _stats(first), _stats(second)
    union = _stats(np.concatenate([first, second], axis=-1))
    call = (
        f"merge_softmax_stats(m1, l1, m2, l2) of two sets of scores ({rows} rows, scores of "
        f"size ~{spread:g}), random with seed={seed}"
    )
    _check_merge(student, m1, l1, m2, l2, call, expected=union)


# ----------------------------------------------------------------------------------------------
# flash_attention: hand fixtures


@pytest.mark.weight(2)
def test_flash_hand(student: Any) -> None:
    """one query over two blocks where the max rises in the second block, by hand"""
    q, k, v = (np.array(a) for a in (fixtures.ONE_Q, fixtures.ONE_K, fixtures.ONE_V))
    call = "flash_attention(q=[[2, 0, 0, 0]], k (3, 4), v (3, 2), block_size=2), scores [-1, 0, 1]"
    expected = (fixtures.ONE_OUTPUT, fixtures.ONE_LSE)
    _check_flash(student, q, k, v, fixtures.ONE_BLOCK, False, call, expected)


@pytest.mark.weight(2)
def test_flash_causal_hand(student: Any) -> None:
    """causal attention with one key per block, by hand"""
    q, k, v = (np.array(a) for a in (fixtures.CAUSAL_Q, fixtures.CAUSAL_K, fixtures.CAUSAL_V))
    call = (
        "flash_attention(q=[[1], [2]], k=[[1], [3]], v=[[2, 0], [0, 2]], block_size=1, causal=True)"
    )
    expected = (fixtures.CAUSAL_OUTPUT, fixtures.CAUSAL_LSE)
    _check_flash(student, q, k, v, fixtures.CAUSAL_BLOCK, True, call, expected)


# ----------------------------------------------------------------------------------------------
# flash_attention: the reference on random inputs

RANDOM_CASES = [
    # seed, q shape, k shape, v shape, block_size, causal
    (20, (5, 4), (7, 4), (7, 3), 3, False),  # last block shorter
    (21, (2, 3, 6, 8), (2, 3, 10, 8), (2, 3, 10, 5), 4, False),  # batch and heads
    (22, (3, 6, 4), (1, 9, 4), (1, 9, 2), 2, False),  # k and v broadcast over the batch
    (23, (4, 4), (6, 4), (6, 4), 64, False),  # one block larger than S
    (24, (7, 4), (7, 4), (7, 3), 3, True),  # causal, the diagonal inside blocks
    (25, (2, 9, 4), (2, 9, 4), (2, 9, 4), 4, True),  # causal with a batch
    (26, (6, 4), (6, 4), (6, 2), 1, True),  # one key per block
    (27, (5, 3), (130, 3), (130, 2), None, False),  # the default block_size 64: three blocks
]


@pytest.mark.parametrize(
    ("seed", "q_shape", "k_shape", "v_shape", "block_size", "causal"),
    RANDOM_CASES,
    ids=[f"seed{c[0]}" for c in RANDOM_CASES],
)
def test_flash_random(
    student: Any,
    seed: int,
    q_shape: tuple[int, ...],
    k_shape: tuple[int, ...],
    v_shape: tuple[int, ...],
    block_size: int | None,
    causal: bool,
) -> None:
    """flash_attention matches attention on random inputs"""
    q, k, v = _inputs(seed, q_shape, k_shape, v_shape)
    call = _call(q, k, v, block_size, causal, f", random inputs with seed={seed}")
    _check_flash(student, q, k, v, block_size, causal, call)


@pytest.mark.parametrize(
    ("seed", "kind"), [(30, "large"), (31, "negative")], ids=["seed30-large", "seed31-negative"]
)
def test_flash_extreme_scores(student: Any, seed: int, kind: str) -> None:
    """flash_attention is stable for scores near +-1000"""
    rng = np.random.default_rng(seed)
    if kind == "large":  # scores of several hundred, the max changing from block to block
        q, k = 15 * rng.normal(size=(4, 4)), 15 * rng.normal(size=(9, 4))
        note = f", scores of size ~500, random with seed={seed}"
    else:  # every score near -2000: a running max started at 0 underflows
        q = -40 + 0.1 * rng.normal(size=(4, 4))
        k = 25 + 0.1 * rng.normal(size=(9, 4))
        note = f", every score near -2000, random with seed={seed}"
    v = rng.normal(size=(9, 3))
    _check_flash(student, q, k, v, 3, False, _call(q, k, v, 3, False, note))


# ----------------------------------------------------------------------------------------------
# flash_attention: properties


@pytest.mark.weight(2)
def test_flash_halves_merge(student: Any) -> None:
    """two halves of the keys, merged through their logsumexp, give the whole"""
    seed = 40
    q, k, v = _inputs(seed, (5, 4), (10, 4), (10, 3))
    call = _call(q, k, v, 3, False, f", random inputs with seed={seed}")
    whole, whole_lse = _check_flash(student, q, k, v, 3, False, call)
    halves = []
    for part, keys in (("first", slice(0, 6)), ("last", slice(6, 10))):
        sub = f"flash_attention(q, k[{keys.start}:{keys.stop}], v[...], block_size=3)"
        got = unpack(
            student.flash_attention(q, k[keys], v[keys], block_size=3), 2, call=sub, what="result"
        )
        out, lse = (np.asarray(g, dtype=np.float64) for g in got)
        assert_close(lse, reference.flash_attention(q, k[keys], v[keys], 3)[1], call=sub,
                     what=f"logsumexp of the {part} keys")  # fmt: skip
        halves.append((out, lse))
    (out1, lse1), (out2, lse2) = halves
    lse = np.logaddexp(lse1, lse2)
    merged = np.exp(lse1 - lse)[:, None] * out1 + np.exp(lse2 - lse)[:, None] * out2
    assert_close(
        whole,
        merged,
        call=f"{call}, against its halves k[0:6] and k[6:10] merged through logsumexp",
        what="output",
    )
    assert_close(whole_lse, lse, call=call, what="logsumexp")


@pytest.mark.weight(2)
def test_flash_causal_no_future_leakage(student: Any) -> None:
    """causal flash_attention: no row depends on later keys or values"""
    seed = 41
    q, k, v = _inputs(seed, (8, 4), (8, 4), (8, 3))
    call = _call(q, k, v, 3, True, f", random inputs with seed={seed}")
    out, lse = _check_flash(student, q, k, v, 3, True, call)
    k2, v2 = k.copy(), v.copy()
    k2[5:] += 10.0
    v2[5:] -= 10.0
    changed = f"{call}, keys and values 5..7 changed"
    got = unpack(student.flash_attention(q, k2, v2, block_size=3, causal=True), 2, call=changed)
    for what, value, before in (("output", got[0], out), ("logsumexp", got[1], lse)):
        assert_shape(value, before.shape, call=changed, what=what)
        rows = as_array(value, call=changed, what=what)[:5]
        if not np.allclose(rows, before[:5], rtol=1e-4, atol=1e-6, equal_nan=True):
            raise Mismatch(
                f"the {what} of rows 0..4 changed when only keys and values 5..7 did",
                call=changed,
                where=f"row {int(np.argmax(np.abs(rows - before[:5]).reshape(5, -1).max(-1)))}",
                diagnosis="keys after the query leak in: mask every key j > i before the "
                "softmax, in every block",
            )


# ----------------------------------------------------------------------------------------------
# Error cases


@pytest.mark.parametrize("block_size", [0, -2])
def test_flash_rejects_block_size(student: Any, block_size: int) -> None:
    """flash_attention rejects block_size < 1"""
    q, k, v = _inputs(50, (3, 4), (5, 4), (5, 2))
    call = _call(q, k, v, block_size, False, "")
    try:
        text = assert_raises(
            "ValueError", student.flash_attention, q, k, v, block_size=block_size, call=call
        )
    except Mismatch as failure:
        if not failure.diagnosis:
            failure.diagnosis = (
                "check block_size yourself first: raise ValueError(f'block_size must be at "
                "least 1, got block_size={block_size}')"
            )
        raise
    if "block_size" not in text and str(block_size) not in text:
        raise Mismatch(
            f"raised ValueError, but the message does not name block_size={block_size}",
            call=call,
            expected="a message like 'block_size must be at least 1, got block_size=0'",
            got=f"ValueError: {text}",
            diagnosis="a ValueError from numpy or range() is not the check: test block_size "
            "first and say what is wrong",
        )


def test_flash_causal_rejects_unequal_lengths(student: Any) -> None:
    """causal flash_attention rejects L != S"""
    q, k, v = _inputs(51, (3, 4), (5, 4), (5, 2))
    call = _call(q, k, v, None, True, "")
    try:
        text = assert_raises("ValueError", student.flash_attention, q, k, v, causal=True, call=call)
    except Mismatch as failure:
        if not failure.diagnosis:
            failure.diagnosis = (
                "causal=True with L != S is ambiguous (libraries align the mask top-left or "
                "bottom-right): raise ValueError naming L and S"
            )
        raise
    if "3" not in text or "5" not in text:
        raise Mismatch(
            "raised ValueError, but the message does not name L=3 and S=5",
            call=call,
            expected="a message like 'causal=True needs L == S, got L=3 and S=5'",
            got=f"ValueError: {text}",
        )


# ----------------------------------------------------------------------------------------------
# Memory


@pytest.mark.weight(3)
def test_flash_memory(student: Any) -> None:
    """flash_attention never holds the whole (L, S) score matrix, nor a full causal mask"""
    small = _inputs(60, (40, 8), (40, 8), (40, 8))
    _check_flash(student, *small, 16, False, _call(*small, 16, False, ", random inputs, seed=60"))
    for seed, causal in ((MEMORY_SEED, False), (MEMORY_SEED + 2, True)):
        _check_memory(student, seed, causal)


def _check_memory(student: Any, seed: int, causal: bool) -> None:
    """The peak memory of a call on (MEMORY_SIZE, 64) inputs (after a warm-up on others) stays
    under MEMORY_LIMIT, and its result is right."""
    shape = (MEMORY_SIZE, 64)
    options: dict[str, Any] = {"block_size": 128, **({"causal": True} if causal else {})}
    warm_up = Call(*_inputs(seed, shape, shape, shape), **options)
    q, k, v = _inputs(seed + 1, shape, shape, shape)  # fresh: nothing to remember
    call = _call(q, k, v, 128, causal, f", random inputs with seed={seed + 1}")
    try:
        use = student.flash_attention.peak_memory(warm_up, Call(q, k, v, **options))
    except MeasurementUnavailable as why:
        pytest.skip(f"peak memory cannot be measured on this machine ({why})")
    if use.peak_bytes >= MEMORY_LIMIT:
        raise Mismatch(
            f"the call took {use.peak_bytes / 2**20:.1f} MiB above its start, over the "
            f"{MEMORY_LIMIT / 2**20:.0f} MiB limit",
            call=call,
            expected=f"under {MEMORY_LIMIT / 2**20:.0f} MiB (a float64 ({MEMORY_SIZE}, "
            f"{MEMORY_SIZE}) score matrix, or mask, alone is 32 MiB)",
            got=f"{use.peak_bytes / 2**20:.1f} MiB",
            details=[
                f"measured by {use.source}, from the moment the inputs were sent until the "
                "result was back, on the second of two calls (the first, on other inputs, "
                "warms up)"
            ],
            diagnosis=FULL_MASK if causal else FULL_MATRIX,
        )
    got = unpack(use.result, 2, call=call, what="result (output, lse)")
    want = reference.flash_attention(q, k, v, 128, causal=causal)
    for what, value, expected in zip(("output", "logsumexp"), got, want, strict=True):
        assert_close(value, expected, call=f"{call}, the call measured", what=what)


# ----------------------------------------------------------------------------------------------
# Mistakes of public code (issue 26)

OUTPUT_LIKE_Q = (
    "the output buffer was made in q's shape (torch.zeros_like(q), every public FlashAttention "
    "in numpy or torch does it), which only works when d_v == d: the output is (..., L, d_v), "
    "one row of v's width per query, e.g. np.zeros((*q.shape[:-1], v.shape[-1]))"
)
CAUSAL_IGNORED = (
    "the causal flag is ignored (every key was attended): with causal=True, query i sees only "
    "keys j <= i, so set the scores of keys j > i to -inf in each block"
)


def public_flash_mistakes(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, block_size: int, causal: bool, part: int
) -> dict[str, np.ndarray]:
    """What flash_attention returns with the mistakes of public implementations."""
    if not causal:
        return {}
    return {CAUSAL_IGNORED: _flash(q, k, v, block_size, causal=False)[part]}


@contextmanager
def output_shaped_like_q(q: np.ndarray, v: np.ndarray, *, call: str) -> Iterator[None]:
    """A shape error from a call whose v is narrower or wider than q, named: the output buffer
    was made like q."""
    try:
        yield
    except StudentRaised as error:
        shapes = {"ValueError", "RuntimeError", "IndexError"} & set(error.type_names)
        if error.not_implemented or not shapes or v.shape[-1] == q.shape[-1]:
            raise
        raise Mismatch(
            f"{error.summary} (here d = q.shape[-1] = {q.shape[-1]}, d_v = v.shape[-1] = "
            f"{v.shape[-1]})",
            call=call,
            details=[f"where:\n{error.where}"] if error.where else [],
            diagnosis=OUTPUT_LIKE_Q,
        ) from None
