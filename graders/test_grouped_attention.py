"""Hidden grader for the `grouped_attention` exercise.

Three levels: the hand fixtures (graders/fixtures/grouped_attention.py), the reference solution on
random inputs with fixed seeds (shown in each call), and the properties the contract implies
(num_kv_heads == num_heads is multi-head attention, sharing a kv head is repeating its columns,
no future leakage, latent attention is multi-head attention with low-rank keys and values, the
absorbed scores reproduce latent attention). Classic mistakes are recomputed here from a
deliberately wrong copy of the reference, so a failure can name them.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.checks import assert_no_future
from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    assert_raises,
    assert_shape,
    unpack,
)
from transformer_kit.grader.failures import StudentRaised
from transformer_kit.graders.fixtures import grouped_attention as fixtures
from transformer_kit.graders.messages import attention as messages
from transformer_kit.graders.messages.together import same_numbers
from transformer_kit.solutions import grouped_attention as reference

# ----------------------------------------------------------------------------------------------
# The classic mistakes, by name (the names are what the learner reads after "likely mistake:").

TILED = (
    "query head h paired with kv head h % num_kv_heads (tiling, as torch's Tensor.repeat or "
    "np.tile do): consecutive query heads share a kv head, h // (num_heads // num_kv_heads), "
    "as Llama's repeat_kv; use np.repeat / repeat_interleave on the head axis"
)
REPEAT_COLUMNS = (
    "kv repeated column by column: np.repeat on the (B, L, num_kv_heads * d_k) projection "
    "repeats single columns, not whole heads; split into kv heads first, then repeat along the "
    "head axis"
)
NO_SCALE = "no 1/sqrt(d_k) scaling: divide every head's scores by sqrt(d_k), d_k = D // num_heads"
SCALE_BY_KV_WIDTH = (
    "scores scaled by 1/sqrt(num_kv_heads * d_k), the width of K: scale by one head's width, "
    "1/sqrt(d_k)"
)
SCALE_BY_D_C = (
    "scores scaled by 1/sqrt(d_c), the latent width: the keys are rebuilt to heads of width "
    "d_k = D // num_heads, so scale by 1/sqrt(d_k)"
)
SPLIT_NO_TRANSPOSE = (
    "head split without transpose: reshaping (B, L, n * d_k) straight to (B, n, L, d_k) mixes "
    "positions and heads; reshape to (B, L, n, d_k), then transpose to (B, n, L, d_k)"
)
SWAPPED_KV = "keys and values swapped: K = x @ w_k (or latent @ w_uk), V = x @ w_v (latent @ w_uv)"
CACHED_K = (
    "the keys K = latent @ w_uk returned as the latent: return latent = x @ w_dkv, the (B, L, d_c) "
    "vector the cache stores instead of K and V"
)
CACHED_V = "the values V = latent @ w_uv returned as the latent: return latent = x @ w_dkv"
LATENT_SWAPPED = "(latent, output) returned in the wrong order: return (output, latent)"
STRIDED_UK = (
    "w_uk sliced with a stride (w_uk[:, h::num_heads]): head h owns the contiguous columns "
    "h*d_k:(h+1)*d_k of w_uk, as it owns those of K"
)
SCORES_TRANSPOSED = (
    "the scores are transposed (keys as rows): queries are the rows, "
    "(q_h @ w_uk_h^T) @ latent^T, not latent @ (q_h @ w_uk_h^T)^T"
)
SCORES_SOFTMAXED = (
    "the softmax weights returned instead of the scores: absorbed_scores stops before the "
    "softmax (and before any mask)"
)
UNSCALED_SCORES = (
    "absorbed scores without the 1/sqrt(d_k) scale: absorbing w_uk into the query changes how "
    "the scores are computed, not their scale"
)


@contextmanager
def _quiet() -> Iterator[None]:
    """Wrong variants overflow or divide 0 by 0 on purpose: no warnings from them."""
    with np.errstate(all="ignore"):
        yield


def _softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    shifted = x - np.max(x, axis=axis, keepdims=True)
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def _split(t: np.ndarray, heads: int, how: str = "transpose") -> np.ndarray:
    """(B, L, n * d_k) -> (B, n, L, d_k), correctly or by a plain reshape."""
    batch, seq_len, width = t.shape
    if how == "reshape":
        return t.reshape(batch, heads, seq_len, width // heads)
    return t.reshape(batch, seq_len, heads, width // heads).transpose(0, 2, 1, 3)


def _attend_heads(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None,
    w_o: np.ndarray,
    *,
    scale: float | None = None,
    axis: int = -1,
    invert: bool = False,
    after: bool = False,
    fill: float = -np.inf,
    merge: str = "transpose",
    project: bool = True,
) -> np.ndarray:
    """(B, h, L, d_k) heads attended, merged and projected, with one mistake when asked."""
    batch, heads, seq_len, d_k = q.shape
    scale = 1 / np.sqrt(d_k) if scale is None else scale
    scores = q @ np.swapaxes(k, -1, -2) * scale  # (B, h, L, L)
    if mask is not None and invert:
        mask = ~mask
    if mask is not None and not after:
        scores = np.where(mask, scores, fill)
    with _quiet():
        weights = _softmax(scores, axis=axis)
    if mask is not None and after:
        weights = np.where(mask, weights, 0.0)
    out = weights @ v  # (B, h, L, d_k)
    if merge == "reshape":
        out = out.reshape(batch, seq_len, heads * d_k)
    else:
        out = out.transpose(0, 2, 1, 3).reshape(batch, seq_len, heads * d_k)
    return out @ w_o if project else out


def _gqa(
    x: np.ndarray,
    w_q: np.ndarray,
    w_k: np.ndarray,
    w_v: np.ndarray,
    w_o: np.ndarray,
    num_heads: int,
    num_kv_heads: int,
    mask: np.ndarray | None = None,
    *,
    kv_map: str = "interleave",
    split: str = "transpose",
    swap_kv: bool = False,
    **options: Any,
) -> np.ndarray:
    """The reference grouped-query attention, with one mistake made on purpose when asked."""
    group = num_heads // num_kv_heads
    if swap_kv:
        w_k, w_v = w_v, w_k
    q = _split(x @ w_q, num_heads, split)  # (B, h, L, d_k)
    if kv_map == "columns":  # np.repeat on the projected columns, then a split into h heads
        k = _split(np.repeat(x @ w_k, group, axis=-1), num_heads, split)
        v = _split(np.repeat(x @ w_v, group, axis=-1), num_heads, split)
    else:
        k = _split(x @ w_k, num_kv_heads, split)  # (B, g, L, d_k)
        v = _split(x @ w_v, num_kv_heads, split)
        if kv_map == "tile":  # head h -> kv head h % g
            k, v = np.tile(k, (1, group, 1, 1)), np.tile(v, (1, group, 1, 1))
        else:  # head h -> kv head h // group
            k, v = np.repeat(k, group, axis=1), np.repeat(v, group, axis=1)
    return _attend_heads(q, k, v, mask, w_o, **options)


def _mask_options(mask: np.ndarray | None) -> dict[str, dict[str, Any]]:
    if mask is None:
        return {}
    return {
        messages.INVERTED: {"invert": True},
        messages.AFTER_SOFTMAX: {"after": True},
        messages.FILL_ZERO: {"fill": 0.0},
    }


def _gqa_mistakes(
    args: tuple[np.ndarray, ...], num_heads: int, num_kv_heads: int, mask: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Classic mistakes of grouped_query_attention on these inputs."""
    width = args[0].shape[-1]
    d_k = width // num_heads
    options: dict[str, dict[str, Any]] = {
        TILED: {"kv_map": "tile"},
        REPEAT_COLUMNS: {"kv_map": "columns"},
        NO_SCALE: {"scale": 1.0},
        messages.SCALE_BY_D: {"scale": 1.0 / np.sqrt(width)},
        SCALE_BY_KV_WIDTH: {"scale": 1.0 / np.sqrt(num_kv_heads * d_k)},
        messages.SCALE_BY_D_K: {"scale": 1.0 / d_k},
        messages.AXIS_QUERIES: {"axis": -2},
        messages.AXIS_HEADS: {"axis": 1},
        SPLIT_NO_TRANSPOSE: {"split": "reshape"},
        messages.MERGE_NO_TRANSPOSE: {"merge": "reshape"},
        messages.NO_W_O: {"project": False},
        SWAPPED_KV: {"swap_kv": True},
        **_mask_options(mask),
    }
    with _quiet():
        return {
            name: _gqa(*args, num_heads, num_kv_heads, mask, **kw) for name, kw in options.items()
        }


def _mla(
    x: np.ndarray,
    w_q: np.ndarray,
    w_dkv: np.ndarray,
    w_uk: np.ndarray,
    w_uv: np.ndarray,
    w_o: np.ndarray,
    num_heads: int,
    mask: np.ndarray | None = None,
    *,
    split: str = "transpose",
    swap_kv: bool = False,
    norm_latent: bool = False,
    **options: Any,
) -> np.ndarray:
    """The reference latent attention's output, with one mistake made on purpose when asked."""
    latent = rms_normalized(x @ w_dkv) if norm_latent else x @ w_dkv  # (B, L, d_c)
    if swap_kv:
        w_uk, w_uv = w_uv, w_uk
    q = _split(x @ w_q, num_heads, split)
    k = _split(latent @ w_uk, num_heads, split)
    v = _split(latent @ w_uv, num_heads, split)
    return _attend_heads(q, k, v, mask, w_o, **options)


def _mla_mistakes(
    args: tuple[np.ndarray, ...], num_heads: int, mask: np.ndarray | None
) -> dict[str, np.ndarray]:
    """Classic mistakes of latent_attention's output on these inputs."""
    width, d_c = args[0].shape[-1], args[2].shape[-1]
    d_k = width // num_heads
    options: dict[str, dict[str, Any]] = {
        NO_SCALE: {"scale": 1.0},
        messages.SCALE_BY_D: {"scale": 1.0 / np.sqrt(width)},
        SCALE_BY_D_C: {"scale": 1.0 / np.sqrt(d_c)},
        messages.SCALE_BY_D_K: {"scale": 1.0 / d_k},
        messages.AXIS_QUERIES: {"axis": -2},
        messages.AXIS_HEADS: {"axis": 1},
        SPLIT_NO_TRANSPOSE: {"split": "reshape"},
        messages.MERGE_NO_TRANSPOSE: {"merge": "reshape"},
        messages.NO_W_O: {"project": False},
        SWAPPED_KV: {"swap_kv": True},
        LATENT_RMS_NORM: {"norm_latent": True},
        **_mask_options(mask),
    }
    with _quiet():
        made = {name: _mla(*args, num_heads, mask, **kw) for name, kw in options.items()}
    return same_numbers(made)


def _latent_mistakes(args: tuple[np.ndarray, ...], num_heads: int) -> dict[str, np.ndarray]:
    """What else a learner may return as the latent."""
    x, _, w_dkv, w_uk, w_uv, *_ = args
    latent = x @ w_dkv
    return {
        CACHED_K: latent @ w_uk,
        CACHED_V: latent @ w_uv,
        LATENT_SWAPPED: reference.latent_attention(*args, num_heads)[0],
        LATENT_RMS_NORM: rms_normalized(latent),
    }


def _absorbed(
    x: np.ndarray,
    w_q: np.ndarray,
    w_dkv: np.ndarray,
    w_uk: np.ndarray,
    num_heads: int,
    *,
    scale: float | None = None,
    strided: bool = False,
    transpose: bool = False,
    softmax: bool = False,
) -> np.ndarray:
    """The absorbed scores, with one mistake made on purpose when asked."""
    width, d_c = x.shape[-1], w_uk.shape[0]
    d_k = width // num_heads
    scale = 1 / np.sqrt(d_k) if scale is None else scale
    latent = x @ w_dkv  # (B, L, d_c)
    q = _split(x @ w_q, num_heads)  # (B, h, L, d_k)
    if strided:
        w_heads = np.stack([w_uk[:, h::num_heads] for h in range(num_heads)])  # (h, d_c, d_k)
    else:
        w_heads = w_uk.reshape(d_c, num_heads, d_k).transpose(1, 0, 2)  # (h, d_c, d_k)
    scores = (q @ np.swapaxes(w_heads, -1, -2)) @ np.swapaxes(latent, -1, -2)[:, None] * scale
    if transpose:
        scores = np.swapaxes(scores, -1, -2)
    if softmax:
        scores = _softmax(scores)
    return scores  # (B, h, L, L)


def _absorbed_mistakes(args: tuple[np.ndarray, ...], num_heads: int) -> dict[str, np.ndarray]:
    width, d_c = args[0].shape[-1], args[3].shape[0]
    d_k = width // num_heads
    options: dict[str, dict[str, Any]] = {
        UNSCALED_SCORES: {"scale": 1.0},
        messages.SCALE_BY_D: {"scale": 1.0 / np.sqrt(width)},
        SCALE_BY_D_C: {"scale": 1.0 / np.sqrt(d_c)},
        messages.SCALE_BY_D_K: {"scale": 1.0 / d_k},
        STRIDED_UK: {"strided": True},
        SCORES_TRANSPOSED: {"transpose": True},
        SCORES_SOFTMAXED: {"softmax": True},
    }
    with _quiet():
        return {name: _absorbed(*args, num_heads, **kw) for name, kw in options.items()}


# ----------------------------------------------------------------------------------------------
# Inputs and call texts


def _gqa_inputs(
    seed: int, batch: int, seq_len: int, width: int, num_heads: int, num_kv_heads: int
) -> tuple[np.ndarray, ...]:
    """x (B, L, D), w_q (D, D), w_k and w_v (D, g * d_k), w_o (D, D), weights / sqrt(D)."""
    rng = np.random.default_rng(seed)
    kv_width = num_kv_heads * (width // num_heads)
    x = rng.normal(size=(batch, seq_len, width))
    w_q, w_o = (rng.normal(size=(width, width)) / np.sqrt(width) for _ in range(2))
    w_k, w_v = (rng.normal(size=(width, kv_width)) / np.sqrt(width) for _ in range(2))
    return x, w_q, w_k, w_v, w_o


def _gqa_call(
    args: tuple[np.ndarray, ...], num_heads: int, num_kv_heads: int, how: str, mask: str = ""
) -> str:
    x, w_q, w_k = args[:3]
    masked = f", mask={mask}" if mask else ""
    return (
        f"grouped_query_attention(x {x.shape}, w_q {w_q.shape}, w_k and w_v {w_k.shape}, "
        f"w_o {w_q.shape}, num_heads={num_heads}, num_kv_heads={num_kv_heads}{masked}), {how}"
    )


def _mla_inputs(
    seed: int, batch: int, seq_len: int, width: int, d_c: int
) -> tuple[np.ndarray, ...]:
    """x (B, L, D), w_q (D, D), w_dkv (D, d_c), w_uk and w_uv (d_c, D), w_o (D, D)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, seq_len, width))
    w_q = rng.normal(size=(width, width)) / np.sqrt(width)
    w_dkv = rng.normal(size=(width, d_c)) / np.sqrt(width)
    w_uk, w_uv = (rng.normal(size=(d_c, width)) / np.sqrt(d_c) for _ in range(2))
    w_o = rng.normal(size=(width, width)) / np.sqrt(width)
    return x, w_q, w_dkv, w_uk, w_uv, w_o


def _mla_call(args: tuple[np.ndarray, ...], num_heads: int, how: str, mask: str = "") -> str:
    x, w_q, w_dkv, w_uk = args[:4]
    masked = f", mask={mask}" if mask else ""
    return (
        f"latent_attention(x {x.shape}, w_q {w_q.shape}, w_dkv {w_dkv.shape}, w_uk and w_uv "
        f"{w_uk.shape}, w_o {w_q.shape}, num_heads={num_heads}{masked}), {how}"
    )


def _absorbed_call(args: tuple[np.ndarray, ...], num_heads: int, how: str) -> str:
    x, w_q, w_dkv, w_uk = args[:4]
    return (
        f"absorbed_scores(x {x.shape}, w_q {w_q.shape}, w_dkv {w_dkv.shape}, w_uk {w_uk.shape}, "
        f"num_heads={num_heads}), {how}"
    )


def _random_mask(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A random bool mask whose every row has at least one True and at least one False."""
    mask = rng.random(shape) < 0.6
    size = shape[-1]
    allowed = rng.integers(size, size=(*shape[:-1], 1))
    blocked = (allowed + 1 + rng.integers(size - 1, size=allowed.shape)) % size
    np.put_along_axis(mask, allowed, True, axis=-1)
    np.put_along_axis(mask, blocked, False, axis=-1)
    return mask


def _causal(seq_len: int) -> np.ndarray:
    return np.tril(np.ones((seq_len, seq_len), dtype=bool))  # (L, L), True where j <= i


def _check_gqa(
    student: Any,
    args: tuple[np.ndarray, ...],
    num_heads: int,
    num_kv_heads: int,
    call: str,
    mask: np.ndarray | None = None,
    expected: Any = None,
) -> None:
    kwargs = {} if mask is None else {"mask": mask}
    want = (
        reference.grouped_query_attention(*args, num_heads, num_kv_heads, **kwargs)
        if expected is None
        else expected
    )
    with queries_summed_per_group(args[0].shape[-1], num_heads, num_kv_heads, call=call):
        got = student.grouped_query_attention(*args, num_heads, num_kv_heads, **kwargs)
    assert_close(
        got,
        want,
        call=call,
        mistakes=_gqa_mistakes(args, num_heads, num_kv_heads, mask),
    )


def _check_mla(
    student: Any,
    args: tuple[np.ndarray, ...],
    num_heads: int,
    call: str,
    mask: np.ndarray | None = None,
    expected: tuple[Any, Any] | None = None,
) -> None:
    kwargs = {} if mask is None else {"mask": mask}
    got = unpack(
        student.latent_attention(*args, num_heads, **kwargs),
        2,
        call=call,
        what="result (output, latent)",
    )
    want = reference.latent_attention(*args, num_heads, **kwargs) if expected is None else expected
    assert_close(
        got[1], want[1], call=call, what="latent", mistakes=_latent_mistakes(args, num_heads)
    )
    assert_close(
        got[0], want[0], call=call, what="output", mistakes=_mla_mistakes(args, num_heads, mask)
    )


def _check_absorbed(
    student: Any, args: tuple[np.ndarray, ...], num_heads: int, call: str, expected: Any = None
) -> None:
    want = reference.absorbed_scores(*args, num_heads) if expected is None else expected
    assert_close(
        student.absorbed_scores(*args, num_heads),
        want,
        call=call,
        what="scores",
        mistakes=_absorbed_mistakes(args, num_heads),
    )


def _names_values(text: str, *values: int) -> bool:
    return all(re.search(rf"(?<![\d.]){value}(?![\d.])", text) for value in values)


def _check_value_error(
    function: Any,
    args: tuple[Any, ...],
    call: str,
    values: tuple[int, ...],
    words: tuple[str, ...],
    what: str,
    hint: str,
) -> None:
    """ValueError with a message that names `values` and says what was wrong (one of `words`)."""
    try:
        text = assert_raises("ValueError", function, *args, call=call)
    except Mismatch as failure:
        failure.diagnosis = failure.diagnosis or hint
        raise
    said = any(word in text.lower() for word in words)
    if not (said and _names_values(text, *values)):
        raise Mismatch(
            f"raised ValueError, but the message does not name {what}",
            call=call,
            expected=f"ValueError with a message that names {what} and says what is wrong",
            got=f"ValueError: {text}",
            diagnosis=hint,
        )


# ----------------------------------------------------------------------------------------------
# grouped_query_attention


def _fixture_gqa() -> tuple[np.ndarray, ...]:
    return tuple(
        np.array(a, dtype=np.float64)
        for a in (
            fixtures.GQA_X,
            fixtures.GQA_W_Q,
            fixtures.GQA_W_K,
            fixtures.GQA_W_V,
            fixtures.GQA_W_O,
        )
    )


@pytest.mark.weight(2)
def test_gqa_hand(student: Any) -> None:
    """grouped_query_attention with 4 query heads on 2 kv heads matches the hand computation"""
    args = _fixture_gqa()
    heads, kv_heads = fixtures.GQA_NUM_HEADS, fixtures.GQA_NUM_KV_HEADS
    how = (
        "hand fixture: x = [[[1, 2, 0, 1], [0, 1, 2, 3]]], w_q = w_o = I4, "
        "w_k = [[1, 0], [0, 0], [0, 1], [0, 0]], w_v = [[0, 0], [1, 0], [0, 0], [0, 1]]"
    )
    call = _gqa_call(args, heads, kv_heads, how)
    _check_gqa(student, args, heads, kv_heads, call, expected=fixtures.GQA_OUTPUT)
    mask = np.array(fixtures.GQA_CAUSAL_MASK)
    call = _gqa_call(args, heads, kv_heads, how, mask="[[True, False], [True, True]]")
    _check_gqa(student, args, heads, kv_heads, call, mask, expected=fixtures.GQA_CAUSAL_OUTPUT)


GQA_CASES = [
    # seed, B, L, D, num_heads, num_kv_heads: h // group differs from h % g whenever 1 < g < h
    (0, 2, 4, 8, 4, 2),
    (1, 1, 5, 12, 6, 3),
    (2, 2, 3, 12, 6, 2),
    (3, 1, 4, 16, 8, 4),
]


@pytest.mark.weight(3)
def test_gqa_reference(student: Any) -> None:
    """grouped_query_attention matches the reference on random inputs"""
    for seed, batch, seq_len, width, heads, kv_heads in GQA_CASES:
        args = _gqa_inputs(seed, batch, seq_len, width, heads, kv_heads)
        call = _gqa_call(args, heads, kv_heads, f"random inputs with seed={seed}")
        _check_gqa(student, args, heads, kv_heads, call)


@pytest.mark.weight(1)
def test_gqa_multi_query(student: Any) -> None:
    """grouped_query_attention with num_kv_heads = 1 (multi-query attention)"""
    for seed, batch, seq_len, width, heads in ((10, 2, 4, 8, 4), (11, 1, 3, 6, 3)):
        args = _gqa_inputs(seed, batch, seq_len, width, heads, 1)
        call = _gqa_call(args, heads, 1, f"random inputs with seed={seed}")
        _check_gqa(student, args, heads, 1, call)


@pytest.mark.weight(1)
def test_gqa_is_multi_head(student: Any) -> None:
    """grouped_query_attention with num_kv_heads = num_heads is multi-head attention"""
    for seed, batch, seq_len, width, heads in ((20, 2, 3, 8, 2), (21, 1, 4, 12, 3)):
        args = _gqa_inputs(seed, batch, seq_len, width, heads, heads)
        call = _gqa_call(args, heads, heads, f"random inputs with seed={seed}")
        _check_gqa(student, args, heads, heads, call)


@pytest.mark.weight(2)
def test_gqa_masked(student: Any) -> None:
    """grouped_query_attention with causal, per-query-head and padding masks"""
    args = _gqa_inputs(30, 2, 5, 8, 4, 2)
    call = _gqa_call(args, 4, 2, "random inputs with seed=30", mask="causal (5, 5)")
    _check_gqa(student, args, 4, 2, call, _causal(5))
    # a different random mask for every query head: (B, h, L, L)
    args = _gqa_inputs(31, 2, 4, 12, 6, 3)
    mask = _random_mask(np.random.default_rng(131), (2, 6, 4, 4))
    call = _gqa_call(
        args, 6, 3, "random inputs with seed=31", mask="random bool (2, 6, 4, 4) (seed=131)"
    )
    _check_gqa(student, args, 6, 3, call, mask)
    # causal and padded: (B, 1, L, L), lengths 2 and 4 of L = 4
    args = _gqa_inputs(32, 2, 4, 8, 4, 1)
    padding = (np.arange(4) < np.array([2, 4])[:, None])[:, None, None, :]  # (B, 1, 1, L)
    mask = _causal(4) & padding
    call = _gqa_call(
        args,
        4,
        1,
        "random inputs with seed=32",
        mask="causal (4, 4) & padding (2, 1, 1, 4), lengths [2, 4]",
    )
    _check_gqa(student, args, 4, 1, call, mask)


def _repeat_heads(w: np.ndarray, num_kv_heads: int, group: int) -> np.ndarray:
    """(D, g * d_k) -> (D, g * group * d_k): every kv head's column block repeated group times."""
    width = w.shape[0]
    blocks = w.reshape(width, num_kv_heads, -1)  # (D, g, d_k)
    return np.repeat(blocks, group, axis=1).reshape(width, -1)


@pytest.mark.weight(2)
def test_gqa_shares_by_repeating(student: Any) -> None:
    """grouped_query_attention equals multi-head attention with each kv head repeated"""
    seed, heads, kv_heads = 40, 6, 2
    args = _gqa_inputs(seed, 2, 4, 12, heads, kv_heads)
    x, w_q, w_k, w_v, w_o = args
    group = heads // kv_heads
    repeated = (x, w_q, _repeat_heads(w_k, kv_heads, group), _repeat_heads(w_v, kv_heads, group))
    call_mha = _gqa_call(
        (*repeated, w_o),
        heads,
        heads,
        f"w_k, w_v of seed={seed} with every kv head's d_k columns repeated {group} times",
    )
    mha = as_array(student.grouped_query_attention(*repeated, w_o, heads, heads), call=call_mha)
    assert_shape(mha, x.shape, call=call_mha)
    call = _gqa_call(args, heads, kv_heads, f"random inputs with seed={seed}")
    grouped = student.grouped_query_attention(*args, heads, kv_heads)
    try:
        assert_close(grouped, mha, call=call, mistakes=_gqa_mistakes(args, heads, kv_heads, None))
    except Mismatch as failure:
        failure.summary = (
            "sharing a kv head is not the same as repeating its columns: " + failure.summary
        )
        failure.details.insert(
            0,
            f"expected: the same output as num_kv_heads={heads} with the repeated weights "
            "(your own result for that call)",
        )
        raise


@pytest.mark.weight(1)
def test_gqa_no_future_leakage(student: Any) -> None:
    """grouped_query_attention with a causal mask does not see the future"""
    seed, seq_len, heads, kv_heads = 50, 5, 4, 2
    args = _gqa_inputs(seed, 1, seq_len, 8, heads, kv_heads)
    mask = _causal(seq_len)
    call = _gqa_call(
        args,
        heads,
        kv_heads,
        f"random inputs with seed={seed}",
        mask=f"causal ({seq_len}, {seq_len})",
    )
    base = as_array(student.grouped_query_attention(*args, heads, kv_heads, mask=mask), call=call)
    assert_shape(base, args[0].shape, call=call)
    assert_no_future(
        lambda x, _: student.grouped_query_attention(x, *args[1:], heads, kv_heads, mask=mask),
        args[0],
        base,
        call=call,
        seed=seed + 1,
        lasts=(0, 2),
    )


@pytest.mark.weight(1)
@pytest.mark.visible
def test_gqa_shapes(student: Any) -> None:
    """grouped_query_attention returns (B, L, D)"""
    for seed, batch, seq_len, width, heads, kv_heads in ((60, 2, 3, 8, 4, 2), (61, 1, 1, 4, 2, 1)):
        args = _gqa_inputs(seed, batch, seq_len, width, heads, kv_heads)
        call = _gqa_call(args, heads, kv_heads, f"random inputs with seed={seed}")
        assert_shape(
            student.grouped_query_attention(*args, heads, kv_heads),
            (batch, seq_len, width),
            call=call,
        )


@pytest.mark.weight(1)
@pytest.mark.visible
def test_gqa_indivisible_width(student: Any) -> None:
    """grouped_query_attention raises ValueError when D is not divisible by num_heads"""
    for seed, width, heads, kv_heads in ((70, 6, 4, 2), (71, 10, 3, 1)):
        rng = np.random.default_rng(seed)
        x = rng.normal(size=(1, 2, width))
        w_q, w_o = rng.normal(size=(width, width)), rng.normal(size=(width, width))
        w_k = w_v = rng.normal(size=(width, kv_heads))
        args = (x, w_q, w_k, w_v, w_o, heads, kv_heads)
        call = _gqa_call(args[:5], heads, kv_heads, f"random inputs with seed={seed}")
        _check_value_error(
            student.grouped_query_attention,
            args,
            call,
            (width, heads),
            ("divis", "multiple", "num_heads", "head", "%"),
            f"D = {width} and num_heads = {heads}",
            "check D % num_heads yourself and raise ValueError naming both; numpy's reshape "
            "error does not tell the caller what was wrong",
        )


@pytest.mark.weight(1)
def test_gqa_too_few_kv_heads(student: Any) -> None:
    """grouped_query_attention raises ValueError when num_kv_heads < 1"""
    for kv_heads in (0, -2):
        args = _gqa_inputs(80, 1, 3, 8, 4, 2)
        call = _gqa_call(args, 4, kv_heads, "random inputs with seed=80")
        _check_value_error(
            student.grouped_query_attention,
            (*args, 4, kv_heads),
            call,
            (kv_heads,),
            ("num_kv_heads", "kv", "key/value", "at least", "positive", ">= 1", "< 1", "> 0"),
            f"num_kv_heads = {kv_heads}",
            "check num_kv_heads < 1 first and raise ValueError naming it: num_heads % 0 is a "
            "ZeroDivisionError, and a negative head count fails somewhere in numpy",
        )


@pytest.mark.weight(1)
def test_gqa_heads_not_divisible_by_kv_heads(student: Any) -> None:
    """grouped_query_attention raises ValueError when num_heads % num_kv_heads != 0"""
    for seed, width, heads, kv_heads in ((90, 8, 4, 3), (91, 12, 6, 4)):
        rng = np.random.default_rng(seed)
        d_k = width // heads
        x = rng.normal(size=(1, 3, width))
        w_q, w_o = rng.normal(size=(width, width)), rng.normal(size=(width, width))
        w_k, w_v = (rng.normal(size=(width, kv_heads * d_k)) for _ in range(2))
        args = (x, w_q, w_k, w_v, w_o, heads, kv_heads)
        call = _gqa_call(args[:5], heads, kv_heads, f"random inputs with seed={seed}")
        _check_value_error(
            student.grouped_query_attention,
            args,
            call,
            (heads, kv_heads),
            ("divis", "multiple", "num_kv_heads", "kv head", "group", "%"),
            f"num_heads = {heads} and num_kv_heads = {kv_heads}",
            "no check of num_heads % num_kv_heads: raise ValueError naming both before "
            "computing (numpy's broadcasting error, or a silently wrong grouping, is not that)",
        )


# ----------------------------------------------------------------------------------------------
# latent_attention and absorbed_scores


def _fixture_mla() -> tuple[np.ndarray, ...]:
    return tuple(
        np.array(a, dtype=np.float64)
        for a in (
            fixtures.LATENT_X,
            fixtures.LATENT_W_Q,
            fixtures.LATENT_W_DKV,
            fixtures.LATENT_W_UK,
            fixtures.LATENT_W_UV,
            fixtures.LATENT_W_O,
        )
    )


MLA_HAND = (
    "hand fixture: x = [[[1, 0], [0, 1]]], w_q = w_o = I2, w_dkv = [[1], [2]], w_uk = [[1, 0]], "
    "w_uv = [[1, 1]]"
)


@pytest.mark.weight(2)
def test_latent_hand(student: Any) -> None:
    """latent_attention matches the hand computation with 2 heads and with 1"""
    args = _fixture_mla()
    heads = fixtures.LATENT_NUM_HEADS
    expected = (fixtures.LATENT_OUTPUT, fixtures.LATENT_LATENT)
    _check_mla(student, args, heads, _mla_call(args, heads, MLA_HAND), expected=expected)
    expected = (fixtures.LATENT_ONE_HEAD_OUTPUT, fixtures.LATENT_LATENT)
    _check_mla(student, args, 1, _mla_call(args, 1, MLA_HAND), expected=expected)


MLA_CASES = [
    # seed, B, L, D, num_heads, d_c (d_c below D, equal to d_k, above D)
    (100, 2, 4, 8, 2, 3),
    (101, 1, 5, 12, 3, 4),
    (102, 2, 3, 8, 4, 16),
]


@pytest.mark.weight(3)
def test_latent_reference(student: Any) -> None:
    """latent_attention matches the reference on random inputs"""
    for seed, batch, seq_len, width, heads, d_c in MLA_CASES:
        args = _mla_inputs(seed, batch, seq_len, width, d_c)
        _check_mla(student, args, heads, _mla_call(args, heads, f"random inputs with seed={seed}"))


@pytest.mark.weight(2)
def test_latent_masked(student: Any) -> None:
    """latent_attention with a causal and a per-head mask matches the reference"""
    args = _mla_inputs(110, 2, 5, 8, 3)
    call = _mla_call(args, 2, "random inputs with seed=110", mask="causal (5, 5)")
    _check_mla(student, args, 2, call, _causal(5))
    args = _mla_inputs(111, 1, 4, 12, 5)
    mask = _random_mask(np.random.default_rng(211), (1, 3, 4, 4))
    call = _mla_call(
        args, 3, "random inputs with seed=111", mask="random bool (1, 3, 4, 4) (seed=211)"
    )
    _check_mla(student, args, 3, call, mask)


@pytest.mark.weight(1)
def test_latent_is_low_rank_attention(student: Any) -> None:
    """latent_attention is multi-head attention with w_k = w_dkv @ w_uk and w_v = w_dkv @ w_uv"""
    seed, heads = 120, 2
    x, w_q, w_dkv, w_uk, w_uv, w_o = args = _mla_inputs(seed, 2, 4, 8, 3)
    call = _mla_call(args, heads, f"random inputs with seed={seed}")
    output, _ = unpack(
        student.latent_attention(*args, heads), 2, call=call, what="result (output, latent)"
    )
    expected = _gqa(x, w_q, w_dkv @ w_uk, w_dkv @ w_uv, w_o, heads, heads)
    try:
        assert_close(
            output, expected, call=call, what="output", mistakes=_mla_mistakes(args, 2, None)
        )
    except Mismatch as failure:
        failure.details.insert(
            0, "expected: multi-head attention with w_k = w_dkv @ w_uk and w_v = w_dkv @ w_uv"
        )
        raise


@pytest.mark.weight(1)
@pytest.mark.visible
def test_latent_shapes(student: Any) -> None:
    """latent_attention returns (B, L, D) and (B, L, d_c)"""
    args = _mla_inputs(130, 2, 3, 8, 5)
    call = _mla_call(args, 4, "random inputs with seed=130")
    output, latent = unpack(
        student.latent_attention(*args, 4), 2, call=call, what="result (output, latent)"
    )
    assert_shape(latent, (2, 3, 5), call=call, what="latent (B, L, d_c)")
    assert_shape(output, (2, 3, 8), call=call, what="output (B, L, D)")
    call = _absorbed_call(args[:4], 4, "random inputs with seed=130")
    assert_shape(
        student.absorbed_scores(*args[:4], 4), (2, 4, 3, 3), call=call, what="scores (B, h, L, L)"
    )


@pytest.mark.weight(1)
def test_absorbed_hand(student: Any) -> None:
    """absorbed_scores matches the hand computation with 2 heads and with 1"""
    args = _fixture_mla()[:4]
    call = _absorbed_call(args, 2, MLA_HAND)
    _check_absorbed(student, args, 2, call, expected=fixtures.LATENT_SCORES)
    call = _absorbed_call(args, 1, MLA_HAND)
    _check_absorbed(student, args, 1, call, expected=fixtures.LATENT_ONE_HEAD_SCORES)


@pytest.mark.weight(2)
def test_absorbed_reference(student: Any) -> None:
    """absorbed_scores matches the reference on random inputs"""
    for seed, batch, seq_len, width, heads, d_c in MLA_CASES:
        args = _mla_inputs(seed, batch, seq_len, width, d_c)[:4]
        _check_absorbed(
            student, args, heads, _absorbed_call(args, heads, f"random inputs with seed={seed}")
        )


@pytest.mark.weight(2)
def test_absorbed_reproduces_latent_attention(student: Any) -> None:
    """softmax(absorbed_scores) with V = latent @ w_uv gives latent_attention's output"""
    seed, heads = 140, 2
    x, _, w_dkv, _, w_uv, w_o = args = _mla_inputs(seed, 1, 4, 8, 3)
    mask = _causal(4)
    call = _absorbed_call(args[:4], heads, f"random inputs with seed={seed}")
    scores = as_array(student.absorbed_scores(*args[:4], heads), call=call, what="scores")
    assert_shape(scores, (1, heads, 4, 4), call=call, what="scores (B, h, L, L)")
    latent_call = _mla_call(args, heads, f"random inputs with seed={seed}", mask="causal (4, 4)")
    output, _ = unpack(
        student.latent_attention(*args, heads, mask=mask),
        2,
        call=latent_call,
        what="result (output, latent)",
    )
    with _quiet():
        weights = _softmax(np.where(mask, scores, -np.inf))
    v = _split(x @ w_dkv @ w_uv, heads)  # (B, h, L, d_k)
    combined = (weights @ v).transpose(0, 2, 1, 3).reshape(x.shape) @ w_o
    output = as_array(output, call=latent_call, what="output")
    assert_shape(output, x.shape, call=latent_call, what="output")
    if not np.allclose(combined, output, rtol=1e-4, atol=1e-6):
        error = np.abs(combined - output)
        index = tuple(int(i) for i in np.unravel_index(int(np.argmax(error)), error.shape))
        raise Mismatch(
            "absorbed_scores and latent_attention disagree: the absorbed scores, masked, "
            "softmaxed and applied to V = latent @ w_uv, do not give latent_attention's output",
            call=f"{call}; and {latent_call}",
            expected="softmax(mask(absorbed_scores)) @ V, merged, @ w_o == latent_attention(...)",
            got=f"at index {index}: {combined[index]:.6g} from the scores, "
            f"{output[index]:.6g} from latent_attention",
            diagnosis="both must scale by 1/sqrt(d_k) and slice head h's columns "
            "h*d_k:(h+1)*d_k of w_uk; check the one that also fails its reference test",
        )


@pytest.mark.weight(1)
def test_latent_indivisible(student: Any) -> None:
    """latent_attention and absorbed_scores raise ValueError when D % num_heads != 0"""
    args = _mla_inputs(150, 1, 2, 6, 2)
    hint = (
        "check D % num_heads yourself and raise ValueError naming both; numpy's reshape error "
        "does not tell the caller what was wrong"
    )
    words = ("divis", "multiple", "num_heads", "head", "%")
    _check_value_error(
        student.latent_attention,
        (*args, 4),
        _mla_call(args, 4, "random inputs with seed=150"),
        (6, 4),
        words,
        "D = 6 and num_heads = 4",
        hint,
    )
    _check_value_error(
        student.absorbed_scores,
        (*args[:4], 4),
        _absorbed_call(args[:4], 4, "random inputs with seed=150"),
        (6, 4),
        words,
        "D = 6 and num_heads = 4",
        hint,
    )


# ----------------------------------------------------------------------------------------------
# Conventions of public code that are mistakes here (issue 26)

LATENT_RMS_NORM = (
    "the latent is RMS-normalized (DeepSeek's kv_a_layernorm): in this kit the latent is "
    "x @ w_dkv itself, with no normalization, and the keys and values are built from it"
)
QUERIES_SUMMED = (
    "a shape error with fewer kv heads than query heads: each of the num_heads query heads "
    "attends on its own and gives its own d_k columns (num_heads * d_k = D in all); share the "
    "kv heads (np.repeat(k, group, axis=1)), never sum or average the queries of a group"
)
RMS_EPS = 1e-6  # DeepSeek-V3's


def rms_normalized(latent: np.ndarray) -> np.ndarray:
    """latent / sqrt(mean(latent**2) + eps) over its last axis (an RMSNorm of gain 1)."""
    return latent / np.sqrt((latent**2).mean(axis=-1, keepdims=True) + RMS_EPS)


@contextmanager
def queries_summed_per_group(
    width: int, num_heads: int, num_kv_heads: int, *, call: str
) -> Iterator[None]:
    """A shape error naming the width num_kv_heads * d_k, named: the queries were folded into
    one per group (so g heads came out, too narrow for w_o)."""
    try:
        yield
    except StudentRaised as error:
        narrow = num_kv_heads * (width // num_heads)
        shape_error = {"ValueError", "RuntimeError"} & set(error.type_names)
        if error.not_implemented or not shape_error or narrow == width:
            raise
        if not re.search(rf"\b{narrow}\b", error.text):
            raise
        raise Mismatch(
            error.summary,
            call=call,
            details=[f"where:\n{error.where}"] if error.where else [],
            diagnosis=QUERIES_SUMMED,
        ) from None
