"""Hidden grader for the `attention` exercise.

Three levels: the hand fixtures (graders/fixtures/attention.py), the reference solution on
random inputs with fixed seeds (shown in each call), and the properties the contract implies
(stable softmax, no future leakage, masked weights exactly 0). Classic mistakes are recomputed
here from a deliberately wrong copy of the reference, so a failure can name them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.checks import assert_no_future
from transformer_kit.grader.compare import (
    ATOL,
    RTOL,
    Mismatch,
    as_array,
    assert_close,
    assert_raises,
    assert_shape,
    describe,
    show,
    unpack,
)
from transformer_kit.grader.failures import StudentFailed, StudentRaised
from transformer_kit.graders.fixtures import attention as fixtures
from transformer_kit.graders.messages import attention as messages
from transformer_kit.solutions import attention as reference

# ----------------------------------------------------------------------------------------------
# The classic mistakes, by name (the names are what the learner reads after "likely mistake:").

NO_SCALE = "no 1/sqrt(d_k) scaling: divide the scores q @ k^T by sqrt(d_k)"
EARLY_WEIGHTS = (
    "the weights are returned from before masking: return the weights after the mask is applied"
)
HEAD_AXIS_ADDED = (
    "a head axis added to the mask inside the function (mask[:, None] or mask.unsqueeze(1), "
    "annotated-transformer's (B, 1, S) convention): this kit passes a mask that already "
    "broadcasts to (B, num_heads, L, S), True = may attend; hand it to the attention unchanged"
)
SCORES_AS_WEIGHTS = "the scores are returned instead of the softmax weights"
SWAPPED = "(weights, output) returned in the wrong order: return (output, weights)"
SPLIT_NO_TRANSPOSE = (
    "head split without transpose: reshaping (B, L, D) straight to (B, h, L, d_k) mixes "
    "positions and heads; reshape to (B, L, h, d_k), then transpose to (B, h, L, d_k)"
)
SPLIT_MERGE_NO_TRANSPOSE = (
    "head split and merge both without transpose: a plain reshape to (B, h, L, d_k) mixes "
    "positions and heads; reshape to (B, L, h, d_k) and transpose (and back at the end)"
)
IGNORES_CONTEXT = (
    "cross-attention ignoring the context: K and V must come from the context "
    "(K = context @ w_k, V = context @ w_v), only Q from x"
)


@contextmanager
def _quiet() -> Iterator[None]:
    """Wrong variants overflow or divide 0 by 0 on purpose: no warnings from them."""
    with np.errstate(all="ignore"):
        yield


def _attend(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
    *,
    scale: float | None = None,
    axis: int = -1,
    invert: bool = False,
    after: bool = False,
    early_weights: bool = False,
    fill: float = -np.inf,
) -> tuple[np.ndarray, np.ndarray]:
    """The reference attention, with one mistake made on purpose when asked."""
    scale = 1 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale  # (..., L, S)
    if mask is not None and invert:
        mask = ~mask
    masked = scores
    if mask is not None and not after:
        masked = np.where(mask, scores, fill)
    with _quiet():
        weights = reference.softmax(masked, axis=axis)
    if mask is not None and after:
        weights = np.where(mask, weights, 0.0)
    output = weights @ v
    if early_weights:
        with _quiet():
            return output, reference.softmax(scores, axis=axis)
    return output, weights


def _sdpa_mistakes(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None, part: int
) -> dict[str, np.ndarray]:
    """Classic mistakes of scaled_dot_product_attention; part 0 = output, 1 = weights."""
    d_k = q.shape[-1]
    options: dict[str, dict[str, Any]] = {
        NO_SCALE: {"scale": 1.0},
        messages.SCALE_BY_D_K: {"scale": 1.0 / d_k},
        messages.AXIS_QUERIES: {"axis": -2},
    }
    if mask is not None:
        options[messages.INVERTED] = {"invert": True}
        options[messages.AFTER_SOFTMAX] = {"after": True}
        options[messages.FILL_ZERO] = {"fill": 0.0}
        if part == 1:
            options[EARLY_WEIGHTS] = {"early_weights": True}
    with _quiet():
        mistakes = {name: _attend(q, k, v, mask, **kw)[part] for name, kw in options.items()}
        if part == 1:
            mistakes[SCORES_AS_WEIGHTS] = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)
            mistakes[SWAPPED] = _attend(q, k, v, mask)[0]
    return mistakes


def _mha(
    x: np.ndarray,
    w_q: np.ndarray,
    w_k: np.ndarray,
    w_v: np.ndarray,
    w_o: np.ndarray,
    num_heads: int,
    mask: np.ndarray | None = None,
    context: np.ndarray | None = None,
    *,
    split: str = "transpose",
    merge: str = "transpose",
    project: bool = True,
    ignore_context: bool = False,
    **attend_options: Any,
) -> np.ndarray:
    """The reference multi-head attention, with one mistake made on purpose when asked."""
    batch, seq_len, width = x.shape
    d_k = width // num_heads
    source = x if context is None or ignore_context else context
    q, k, v = x @ w_q, source @ w_k, source @ w_v  # (B, L, D), (B, S, D), (B, S, D)

    def heads(t: np.ndarray) -> np.ndarray:  # (B, T, D) -> (B, h, T, d_k)
        if split == "reshape":
            return t.reshape(batch, num_heads, t.shape[1], d_k)
        return t.reshape(batch, t.shape[1], num_heads, d_k).transpose(0, 2, 1, 3)

    out, _ = _attend(heads(q), heads(k), heads(v), mask, **attend_options)  # (B, h, L, d_k)
    if merge == "reshape":
        out = out.reshape(batch, seq_len, width)
    else:
        out = out.transpose(0, 2, 1, 3).reshape(batch, seq_len, width)
    return out @ w_o if project else out


def _mha_mistakes(
    args: tuple[np.ndarray, ...],
    num_heads: int,
    mask: np.ndarray | None = None,
    context: np.ndarray | None = None,
) -> dict[str, np.ndarray]:
    """Classic mistakes of multi_head_attention on these inputs."""
    width = args[0].shape[-1]
    d_k = width // num_heads
    options: dict[str, dict[str, Any]] = {
        NO_SCALE: {"scale": 1.0},
        messages.SCALE_BY_D: {"scale": 1.0 / np.sqrt(width)},
        messages.SCALE_BY_D_K: {"scale": 1.0 / d_k},
        messages.AXIS_QUERIES: {"axis": -2},
        messages.AXIS_HEADS: {"axis": 1},
        SPLIT_NO_TRANSPOSE: {"split": "reshape"},
        messages.MERGE_NO_TRANSPOSE: {"merge": "reshape"},
        SPLIT_MERGE_NO_TRANSPOSE: {"split": "reshape", "merge": "reshape"},
        messages.NO_W_O: {"project": False},
    }
    if mask is not None:
        options[messages.INVERTED] = {"invert": True}
        options[messages.AFTER_SOFTMAX] = {"after": True}
        options[messages.FILL_ZERO] = {"fill": 0.0}
    if context is not None and mask is None:
        options[IGNORES_CONTEXT] = {"ignore_context": True}
    with _quiet():
        return {name: _mha(*args, num_heads, mask, context, **kw) for name, kw in options.items()}


# ----------------------------------------------------------------------------------------------
# Inputs


def _mha_inputs(
    seed: int, batch: int, seq_len: int, width: int, src_len: int | None = None
) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
    """x (B, L, D), w_q, w_k, w_v, w_o (D, D) scaled by 1/sqrt(D), context (B, S, D) or None."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, seq_len, width))
    weights = tuple(rng.normal(size=(width, width)) / np.sqrt(width) for _ in range(4))
    context = None if src_len is None else rng.normal(size=(batch, src_len, width))
    return (x, *weights), context


def _mha_call(
    x: np.ndarray, num_heads: int, seed: int, mask: str = "", context: np.ndarray | None = None
) -> str:
    width = x.shape[-1]
    parts = [f"x {x.shape}", f"w_q, w_k, w_v, w_o ({width}, {width})", f"num_heads={num_heads}"]
    if mask:
        parts.append(f"mask={mask}")
    if context is not None:
        parts.append(f"context {context.shape}")
    return f"multi_head_attention({', '.join(parts)}), random inputs with seed={seed}"


def _random_mask(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A random bool mask whose every row has at least one True and at least one False."""
    mask = rng.random(shape) < 0.6
    size = shape[-1]
    allowed = rng.integers(size, size=(*shape[:-1], 1))
    blocked = (allowed + 1 + rng.integers(size - 1, size=allowed.shape)) % size
    np.put_along_axis(mask, allowed, True, axis=-1)
    np.put_along_axis(mask, blocked, False, axis=-1)
    return mask


def _sdpa_inputs(
    seed: int, q_shape: tuple[int, ...], k_shape: tuple[int, ...], v_shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(size=q_shape), rng.normal(size=k_shape), rng.normal(size=v_shape)


def _sdpa_call(q: np.ndarray, k: np.ndarray, v: np.ndarray, seed: int, mask: str = "") -> str:
    masked = f", mask={mask}" if mask else ""
    return (
        f"scaled_dot_product_attention(q {q.shape}, k {k.shape}, v {v.shape}{masked}), "
        f"random inputs with seed={seed}"
    )


def _check_sdpa(
    student: Any,
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None,
    call: str,
) -> None:
    """Weights and output against the reference, naming the classic mistakes."""
    args = (q, k, v) if mask is None else (q, k, v, mask)
    got = unpack(
        student.scaled_dot_product_attention(*args), 2, call=call, what="result (output, weights)"
    )
    want_output, want_weights = reference.scaled_dot_product_attention(*args)
    assert_close(
        got[1],
        want_weights,
        call=call,
        what="weights",
        mistakes=_sdpa_mistakes(q, k, v, mask, part=1),
    )
    assert_close(
        got[0],
        want_output,
        call=call,
        what="output",
        mistakes=_sdpa_mistakes(q, k, v, mask, part=0),
    )


# ----------------------------------------------------------------------------------------------
# softmax


@pytest.mark.weight(1)
def test_softmax_hand(student: Any) -> None:
    """softmax([1, 2, 3]) matches the hand computation"""
    x = np.array(fixtures.SOFTMAX_INPUT)
    exp = np.exp(x - x.max())
    assert_close(
        student.softmax(x),
        fixtures.SOFTMAX_OUTPUT,
        call="softmax([1., 2., 3.])",
        mistakes={
            "not normalised: divide the exponentials by their sum": exp,
            "no exponential: softmax is exp(x) / sum(exp(x)), not x / sum(x)": x / x.sum(),
        },
    )


@pytest.mark.weight(1)
def test_softmax_stable(student: Any) -> None:
    """softmax is stable for large inputs"""
    overflow = (
        "np.exp overflowed (or underflowed to 0 / 0): subtract the max along `axis` before "
        "np.exp; softmax(x) == softmax(x - x.max(axis, keepdims=True))"
    )
    cases = [
        (fixtures.SOFTMAX_LARGE_INPUT, fixtures.SOFTMAX_LARGE_OUTPUT),
        (fixtures.SOFTMAX_NEGATIVE_INPUT, fixtures.SOFTMAX_NEGATIVE_OUTPUT),
    ]
    for values, expected in cases:
        x = np.array(values)
        call = f"softmax({show(x)})"
        got = as_array(student.softmax(x), call=call)
        if got.shape == x.shape and not np.isfinite(got).all():
            raise Mismatch(
                "softmax returned nan or inf for large inputs",
                call=call,
                expected=show(np.array(expected)),
                got=show(got),
                diagnosis=overflow,
            )
        assert_close(got, expected, call=call)
    rows = np.array([fixtures.SOFTMAX_LARGE_INPUT, fixtures.SOFTMAX_NEGATIVE_INPUT])
    call = f"softmax({show(rows)}, axis=-1)"
    got = as_array(student.softmax(rows, axis=-1), call=call)
    expected = np.array([fixtures.SOFTMAX_LARGE_OUTPUT, fixtures.SOFTMAX_NEGATIVE_OUTPUT])
    if got.shape == rows.shape and not np.isfinite(got).all():
        raise Mismatch(
            "softmax returned nan or inf for rows of very different sizes",
            call=call,
            expected=show(expected),
            got=show(got),
            diagnosis="subtract the max along `axis` (x.max(axis=axis, keepdims=True)), not the "
            "max of the whole array: a row far below the global max underflows to 0 / 0",
        )
    assert_close(got, expected, call=call)


SOFTMAX_CASES = [((5,), -1), ((3, 4), -1), ((4, 4), -1), ((4, 4), 0), ((2, 3, 4), 1), ((3, 4), 0)]


@pytest.mark.weight(1)
def test_softmax_reference(student: Any) -> None:
    """softmax matches the reference on random arrays and axes"""
    for seed, (shape, axis) in enumerate(SOFTMAX_CASES):
        x = 2.0 * np.random.default_rng(seed).normal(size=shape)
        call = (
            f"softmax(x, axis={axis}), x = 2 * np.random.default_rng({seed}).normal(size={shape})"
        )
        assert_close(
            student.softmax(x, axis=axis),
            reference.softmax(x, axis=axis),
            call=call,
            mistakes=_softmax_mistakes(x, axis),
        )


def _softmax_mistakes(x: np.ndarray, axis: int) -> dict[str, np.ndarray]:
    axis = axis % x.ndim
    mistakes: dict[str, np.ndarray] = {}
    if axis != x.ndim - 1:
        mistakes["softmax ignores its `axis` argument (always the last axis)"] = reference.softmax(
            x, axis=-1
        )
    for other in range(x.ndim):
        if other != axis:
            mistakes[f"softmax over the wrong axis ({other}); use axis={axis}"] = reference.softmax(
                x, axis=other
            )
    exp = np.exp(x - x.max(axis=axis, keepdims=True))
    mistakes["the sum runs over the whole array: use exp.sum(axis=axis, keepdims=True)"] = (
        exp / exp.sum()
    )
    with _quiet():
        try:  # broadcasting without keepdims only works by accident (square arrays)
            mistakes["the sum lost its axis (keepdims=False) and broadcast the wrong way"] = (
                exp / exp.sum(axis=axis)
            )
            shifted = np.exp(x - x.max(axis=axis))
            mistakes["the max lost its axis (keepdims=False) and broadcast the wrong way"] = (
                shifted / shifted.sum(axis=axis, keepdims=True)
            )
        except ValueError:
            pass
    return mistakes


@pytest.mark.weight(1)
def test_softmax_properties(student: Any) -> None:
    """softmax sums to 1 and is shift invariant"""
    rng = np.random.default_rng(7)
    for shape, axis in (((3, 5), -1), ((4, 3), 0)):
        x = 3.0 * rng.normal(size=shape)
        shift_shape = list(shape)
        shift_shape[axis] = 1  # one constant per row (axis=-1) or per column (axis=0)
        shift = 50.0 * rng.normal(size=shift_shape)
        call = f"softmax(x, axis={axis}), x = 3 * normal{shape}, seed=7"
        got = as_array(student.softmax(x, axis=axis), call=call)
        assert_shape(got, shape, call=call)
        sums = got.sum(axis=axis)
        if not np.allclose(sums, 1.0, rtol=0, atol=1e-5):
            raise Mismatch(
                f"softmax does not sum to 1 along axis={axis}",
                call=call,
                expected="every sum 1.0",
                got=f"sums {show(sums)}",
                diagnosis="divide by the sum along the same axis as the softmax (keepdims=True)",
            )
        shifted_call = f"softmax(x + c, axis={axis}), c = 50 * normal{shift.shape} (seed=7)"
        shifted = as_array(student.softmax(x + shift, axis=axis), call=shifted_call)
        try:
            assert_close(shifted, got, call=shifted_call, what="softmax(x + c)")
        except Mismatch as error:
            raise Mismatch(
                "softmax is not shift invariant: softmax(x + c) should equal softmax(x) for a "
                f"constant c along axis={axis}",
                call=shifted_call,
                expected=f"softmax(x) = {error.expected}",
                got=error.got,
                where=error.where,
                diagnosis="subtract the max and divide by the sum along the same `axis`",
            ) from None


# ----------------------------------------------------------------------------------------------
# causal_mask


def _check_causal_mask(got: Any, seq_len: int, expected: np.ndarray) -> None:
    call = f"causal_mask({seq_len})"
    assert_shape(got, (seq_len, seq_len), call=call, what="mask")
    array = np.asarray(got)
    if array.dtype != np.bool_:
        raise Mismatch(
            "the mask should be a bool array",
            call=call,
            expected="dtype bool (True = may attend)",
            got=describe(array),
            diagnosis="build it with np.tril(np.ones((n, n), dtype=bool)) or .astype(bool)",
        )
    if np.array_equal(array, expected):
        return
    excluded = "the diagonal is excluded (strictly lower triangle): position i may attend to itself"
    transposed = "the mask is transposed: True above the diagonal lets position i see the future"
    inverted = "inverted mask (True treated as blocked): True means 'may attend', on and below"
    known = {
        excluded: np.tril(expected, k=-1),
        transposed: expected.T,
        f"{inverted} the diagonal": ~expected,
    }
    diagnosis = next((name for name, wrong in known.items() if np.array_equal(array, wrong)), "")
    differ = np.argwhere(array != expected)[0]
    index = tuple(int(i) for i in differ)
    raise Mismatch(
        f"the mask has {int((array != expected).sum())} of {expected.size} entries wrong",
        call=call,
        expected=show(expected),
        got=show(array),
        where=f"index {index}: expected {bool(expected[index])}, got {bool(array[index])}",
        diagnosis=diagnosis,
    )


@pytest.mark.weight(1)
@pytest.mark.visible
def test_causal_mask_hand(student: Any) -> None:
    """causal_mask(3) matches the hand computation"""
    _check_causal_mask(student.causal_mask(3), 3, np.array(fixtures.CAUSAL_MASK_3))


@pytest.mark.weight(1)
def test_causal_mask_lengths(student: Any) -> None:
    """causal_mask matches the reference for lengths 1, 2 and 5"""
    for seq_len in (1, 2, 5):
        _check_causal_mask(student.causal_mask(seq_len), seq_len, reference.causal_mask(seq_len))


# ----------------------------------------------------------------------------------------------
# scaled_dot_product_attention


@pytest.mark.weight(1)
def test_sdpa_hand(student: Any) -> None:
    """scaled_dot_product_attention with q = k = I2 matches the hand computation"""
    q, k, v = (np.array(a) for a in (fixtures.SDPA_Q, fixtures.SDPA_K, fixtures.SDPA_V))
    call = (
        "scaled_dot_product_attention(q=[[1, 0], [0, 1]], k=[[1, 0], [0, 1]], v=[[1, 2], [3, 4]])"
    )
    output, weights = unpack(
        student.scaled_dot_product_attention(q, k, v), 2, call=call, what="result (output, weights)"
    )
    assert_close(
        weights,
        fixtures.SDPA_WEIGHTS,
        call=call,
        what="weights",
        mistakes=_sdpa_mistakes(q, k, v, None, part=1),
    )
    assert_close(
        output,
        fixtures.SDPA_OUTPUT,
        call=call,
        what="output",
        mistakes=_sdpa_mistakes(q, k, v, None, part=0),
    )


@pytest.mark.weight(1)
def test_sdpa_masked_hand(student: Any) -> None:
    """scaled_dot_product_attention with a mask matches the hand computation"""
    q, k, v = (np.array(a) for a in (fixtures.MASKED_Q, fixtures.MASKED_K, fixtures.MASKED_V))
    mask = np.array(fixtures.MASKED_MASK)
    call = (
        "scaled_dot_product_attention(q=[[2, 0, 0, 0], [0, 2, 0, 0]], "
        "k=[[1, 0, 0, 0], [0, 1, 0, 0], [1, 1, 0, 0]], v=[[1, 0], [0, 1], [1, 1]], "
        "mask=[[True, True, False], [False, True, True]])"
    )
    output, weights = unpack(
        student.scaled_dot_product_attention(q, k, v, mask=mask),
        2,
        call=call,
        what="result (output, weights)",
    )
    assert_close(
        weights,
        fixtures.MASKED_WEIGHTS,
        call=call,
        what="weights",
        mistakes=_sdpa_mistakes(q, k, v, mask, part=1),
    )
    assert_close(
        output,
        fixtures.MASKED_OUTPUT,
        call=call,
        what="output",
        mistakes=_sdpa_mistakes(q, k, v, mask, part=0),
    )


SDPA_CASES = [
    (0, (3, 4), (5, 4), (5, 2)),
    (1, (2, 3, 4), (2, 3, 4), (2, 3, 4)),
    (2, (2, 2, 4, 8), (2, 2, 6, 8), (2, 2, 6, 3)),
]


@pytest.mark.weight(3)
def test_sdpa_reference(student: Any) -> None:
    """scaled_dot_product_attention matches the reference on random inputs"""
    for seed, q_shape, k_shape, v_shape in SDPA_CASES:
        q, k, v = _sdpa_inputs(seed, q_shape, k_shape, v_shape)
        _check_sdpa(student, q, k, v, None, _sdpa_call(q, k, v, seed))


@pytest.mark.weight(1)
def test_sdpa_broadcast(student: Any) -> None:
    """scaled_dot_product_attention broadcasts leading axes"""
    cases = [(3, (2, 1, 3, 4), (1, 2, 5, 4), (1, 2, 5, 3)), (4, (2, 3, 4), (5, 4), (5, 2))]
    for seed, q_shape, k_shape, v_shape in cases:
        q, k, v = _sdpa_inputs(seed, q_shape, k_shape, v_shape)
        _check_sdpa(student, q, k, v, None, _sdpa_call(q, k, v, seed))


def _masked_sdpa_cases() -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, int]]:
    """(q, k, v, mask, seed): random masks, one broadcast over heads, then a causal mask."""
    for seed, q_shape, k_shape, v_shape, mask_shape in (
        (10, (4, 4), (6, 4), (6, 3), (4, 6)),
        (11, (2, 2, 3, 4), (2, 2, 5, 4), (2, 2, 5, 4), (2, 1, 3, 5)),
    ):
        q, k, v = _sdpa_inputs(seed, q_shape, k_shape, v_shape)
        mask = _random_mask(np.random.default_rng(seed + 100), mask_shape)
        yield q, k, v, mask, seed
    q, k, v = _sdpa_inputs(12, (2, 5, 4), (2, 5, 4), (2, 5, 4))
    yield q, k, v, reference.causal_mask(5), 12


def _mask_text(mask: np.ndarray, seed: int) -> str:
    if mask.shape[-1] == mask.shape[-2] and np.array_equal(
        mask, reference.causal_mask(mask.shape[-1])
    ):
        return f"causal_mask({mask.shape[-1]})"
    return f"random bool {mask.shape} (seed={seed + 100})"


@pytest.mark.weight(2)
def test_sdpa_masked_reference(student: Any) -> None:
    """scaled_dot_product_attention with a mask matches the reference"""
    for q, k, v, mask, seed in _masked_sdpa_cases():
        call = _sdpa_call(q, k, v, seed, mask=_mask_text(mask, seed))
        _check_sdpa(student, q, k, v, mask, call)


@pytest.mark.weight(1)
def test_sdpa_masked_weights(student: Any) -> None:
    """masked positions get weight 0 and rows still sum to 1"""
    for q, k, v, mask, seed in _masked_sdpa_cases():
        call = _sdpa_call(q, k, v, seed, mask=_mask_text(mask, seed))
        _, got = unpack(
            student.scaled_dot_product_attention(q, k, v, mask=mask),
            2,
            call=call,
            what="result (output, weights)",
        )
        _, want = reference.scaled_dot_product_attention(q, k, v, mask=mask)
        weights = as_array(got, call=call, what="weights")
        assert_shape(weights, want.shape, call=call, what="weights")
        full_mask = np.broadcast_to(mask, want.shape)
        _check_masked_weights(weights, full_mask, call, _sdpa_mistakes(q, k, v, mask, part=1))


def _check_masked_weights(
    weights: np.ndarray, mask: np.ndarray, call: str, mistakes: dict[str, np.ndarray]
) -> None:
    """Weight 0 wherever mask is False, and every row sums to 1."""
    named = next(
        (
            name
            for name, wrong in mistakes.items()
            if wrong.shape == weights.shape
            and np.allclose(weights, wrong, rtol=1e-4, atol=1e-6, equal_nan=True)
        ),
        "",
    )
    leaked = np.where(mask, 0.0, np.abs(np.nan_to_num(weights, nan=1.0)))
    if leaked.max() > 1e-9:
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(leaked)), leaked.shape))
        allowed = np.where(mask, np.abs(np.nan_to_num(weights)), 0.0)
        if named or allowed.max() <= 1e-9:
            diagnosis = named or messages.INVERTED
        elif np.isnan(weights[index]):
            diagnosis = (
                "a softmax over scores that are all -inf gives nan: the softmax must run over "
                "the keys (the last axis), where every row has a position it may attend to"
            )
        else:
            diagnosis = "set the masked scores to -inf (or -1e9) before the softmax"
        raise Mismatch(
            "a masked position got a nonzero weight",
            call=call,
            expected="weight 0 wherever mask is False",
            got=f"weight {weights[index]:.6g} at index {index}",
            diagnosis=diagnosis,
        )
    sums = weights.sum(axis=-1)
    wrong = ~np.isclose(sums, 1.0, rtol=0, atol=1e-5)
    if wrong.any():
        index = tuple(int(i) for i in np.argwhere(wrong)[0])
        if named:
            diagnosis = named
        elif np.isfinite(sums[index]) and sums[index] < 1:
            diagnosis = messages.AFTER_SOFTMAX
        elif np.allclose(weights.sum(axis=-2), 1.0, rtol=0, atol=1e-5):
            diagnosis = messages.AXIS_QUERIES
        else:
            diagnosis = ""
        raise Mismatch(
            "a row of the weights does not sum to 1",
            call=call,
            expected="every row of weights sums to 1",
            got=f"row {index} sums to {sums[index]:.6g}",
            diagnosis=diagnosis,
        )


@pytest.mark.weight(1)
@pytest.mark.visible
def test_sdpa_shapes(student: Any) -> None:
    """scaled_dot_product_attention returns (..., L, d_v) and (..., L, S)"""
    for seed, q_shape, k_shape, v_shape in (
        (5, (2, 3, 4), (2, 5, 4), (2, 5, 6)),
        (6, (1, 2), (3, 2), (3, 5)),
    ):
        q, k, v = _sdpa_inputs(seed, q_shape, k_shape, v_shape)
        call = _sdpa_call(q, k, v, seed)
        output, weights = unpack(
            student.scaled_dot_product_attention(q, k, v),
            2,
            call=call,
            what="result (output, weights)",
        )
        assert_shape(output, (*q_shape[:-1], v_shape[-1]), call=call, what="output (..., L, d_v)")
        assert_shape(weights, (*q_shape[:-1], k_shape[-2]), call=call, what="weights (..., L, S)")


# ----------------------------------------------------------------------------------------------
# multi_head_attention


def _check_mha(
    student: Any,
    args: tuple[np.ndarray, ...],
    num_heads: int,
    seed: int,
    mask: np.ndarray | None = None,
    context: np.ndarray | None = None,
    mask_text: str = "",
) -> None:
    kwargs: dict[str, Any] = {}
    if mask is not None:
        kwargs["mask"] = mask
    if context is not None:
        kwargs["context"] = context
    call = _mha_call(args[0], num_heads, seed, mask=mask_text, context=context)
    expected = reference.multi_head_attention(*args, num_heads, **kwargs)
    try:
        assert_close(
            student.multi_head_attention(*args, num_heads, **kwargs),
            expected,
            call=call,
            mistakes=_mha_mistakes(args, num_heads, mask, context),
        )
    except (Mismatch, StudentRaised) as failure:
        _name_head_axis(student, failure, args, num_heads, mask, context, expected, call)
        raise


def _name_head_axis(
    student: Any,
    failure: Mismatch | StudentRaised,
    args: tuple[np.ndarray, ...],
    num_heads: int,
    mask: np.ndarray | None,
    context: np.ndarray | None,
    expected: np.ndarray,
    call: str,
) -> None:
    """Raise HEAD_AXIS_ADDED when the learner's function, which failed with `mask`, gives the
    right result for the same mask without its head axis, (B, L, S): the function adds one."""
    if mask is None or isinstance(failure, StudentFailed) or getattr(failure, "not_implemented", 0):
        return
    batch, seq_len = args[0].shape[:2]
    src_len = seq_len if context is None else context.shape[1]
    full = np.broadcast_to(mask, (batch, num_heads, seq_len, src_len))
    if not (full == full[:, :1]).all():
        return  # a mask that differs between heads has no (B, L, S) form
    kwargs: dict[str, Any] = {"mask": np.ascontiguousarray(full[:, 0])}  # (B, L, S)
    if context is not None:
        kwargs["context"] = context
    try:
        got = as_array(student.multi_head_attention(*args, num_heads, **kwargs), call=call)
    except (Mismatch, StudentRaised):
        return
    if got.shape != expected.shape or not np.allclose(got, expected, rtol=RTOL, atol=ATOL):
        return
    raise Mismatch(
        f"multi_head_attention fails with a mask of shape {mask.shape}, and is right when the "
        f"same mask comes as (B, L, S) = {kwargs['mask'].shape}",
        call=call,
        got=failure.summary,
        diagnosis=HEAD_AXIS_ADDED,
    ) from None


@pytest.mark.weight(4)
def test_mha_reference(student: Any) -> None:
    """multi_head_attention matches the reference on random inputs"""
    for seed, batch, seq_len, width, num_heads in (
        (20, 2, 4, 8, 2),
        (21, 1, 5, 12, 3),
        (22, 2, 3, 8, 4),
        (23, 1, 4, 6, 1),
    ):
        args, _ = _mha_inputs(seed, batch, seq_len, width)
        _check_mha(student, args, num_heads, seed)


@pytest.mark.weight(2)
def test_mha_causal(student: Any) -> None:
    """multi_head_attention with a causal mask matches the reference"""
    for seed, batch, seq_len, width, num_heads in ((30, 2, 5, 8, 2), (31, 1, 4, 12, 3)):
        args, _ = _mha_inputs(seed, batch, seq_len, width)
        mask = reference.causal_mask(seq_len)
        _check_mha(student, args, num_heads, seed, mask, mask_text=f"causal_mask({seq_len})")


@pytest.mark.weight(2)
def test_mha_cross(student: Any) -> None:
    """multi_head_attention over a context of another length matches the reference"""
    for seed, batch, seq_len, src_len, width, num_heads in (
        (40, 2, 3, 5, 8, 2),
        (41, 1, 4, 2, 12, 4),
    ):
        args, context = _mha_inputs(seed, batch, seq_len, width, src_len)
        _check_mha(student, args, num_heads, seed, context=context)


@pytest.mark.weight(2)
def test_mha_padding_mask(student: Any) -> None:
    """multi_head_attention with a padding mask matches the reference"""
    # cross-attention with padded keys: mask (B, 1, 1, S), lengths 3 and 4 of S = 5
    args, context = _mha_inputs(50, 2, 3, 8, 5)
    padding = (np.arange(5) < np.array([3, 4])[:, None])[:, None, None, :]  # (B, 1, 1, S)
    _check_mha(
        student,
        args,
        2,
        50,
        padding,
        context,
        mask_text="padding (2, 1, 1, 5), lengths [3, 4]",
    )
    # self-attention, causal and padded: mask (B, 1, L, L), lengths 2 and 3 of L = 4
    args, _ = _mha_inputs(51, 2, 4, 8)
    padding = (np.arange(4) < np.array([2, 3])[:, None])[:, None, None, :]  # (B, 1, 1, L)
    mask = reference.causal_mask(4) & padding  # (B, 1, L, L)
    _check_mha(
        student,
        args,
        2,
        51,
        mask,
        mask_text="causal_mask(4) & padding (2, 1, 1, 4), lengths [2, 3]",
    )


@pytest.mark.weight(2)
def test_mha_no_future_leakage(student: Any) -> None:
    """multi_head_attention with a causal mask does not see the future"""
    seed, seq_len, num_heads = 60, 6, 2
    args, _ = _mha_inputs(seed, 2, seq_len, 8)
    mask = reference.causal_mask(seq_len)
    call = _mha_call(args[0], num_heads, seed, mask=f"causal_mask({seq_len})")
    try:
        base = as_array(student.multi_head_attention(*args, num_heads, mask=mask), call=call)
    except (Mismatch, StudentRaised) as failure:
        expected = reference.multi_head_attention(*args, num_heads, mask=mask)
        _name_head_axis(student, failure, args, num_heads, mask, None, expected, call)
        raise
    assert_shape(base, args[0].shape, call=call)
    assert_no_future(
        lambda x, _: student.multi_head_attention(x, *args[1:], num_heads, mask=mask),
        args[0],
        base,
        call=call,
        seed=seed + 1,
        lasts=(0, 2, 4),
    )


@pytest.mark.weight(1)
@pytest.mark.visible
def test_mha_shapes(student: Any) -> None:
    """multi_head_attention returns (B, L, D)"""
    args, context = _mha_inputs(70, 2, 3, 8, 5)
    call = _mha_call(args[0], 4, 70, context=context)
    assert_shape(student.multi_head_attention(*args, 4, context=context), (2, 3, 8), call=call)
    args, _ = _mha_inputs(71, 1, 1, 4)
    call = _mha_call(args[0], 2, 71)
    assert_shape(student.multi_head_attention(*args, 2), (1, 1, 4), call=call)


@pytest.mark.weight(1)
def test_mha_indivisible(student: Any) -> None:
    """multi_head_attention raises ValueError when D is not divisible by num_heads"""
    for seed, width, num_heads in ((80, 6, 4), (81, 10, 3)):
        args, _ = _mha_inputs(seed, 1, 2, width)
        call = _mha_call(args[0], num_heads, seed)
        text = assert_raises(
            "ValueError", student.multi_head_attention, *args, num_heads, call=call
        )
        if not any(word in text.lower() for word in ("divis", "multiple", "head", "%")):
            raise Mismatch(
                "raised ValueError, but the message does not say that D is not divisible by "
                "num_heads",
                call=call,
                expected="a message like 'D = 6 is not divisible by num_heads = 4'",
                got=f"ValueError: {text}",
                diagnosis="check D % num_heads yourself and raise ValueError with a message; "
                "numpy's reshape error does not tell the caller what was wrong",
            )
