"""Grader for position_bias: t5_bucket, t5_bias, alibi_slopes, alibi_bias and
attention_with_bias (T5's relative position buckets, ALiBi's slopes and linear bias, attention with
an additive bias and a causal mask).

Three levels: the hand fixtures (T5's defaults on offsets on both sides of max_exact and past
max_distance, bidirectional and causal; a small bias table; slopes for 1, 3, 4 and 6 heads; a
3 x 3 ALiBi bias; a 2 x 2 attention by hand), the reference on random inputs with printed seeds
(settings where Hugging Face's float32 logarithm and numpy's float64 one give the same buckets,
tests/exercises/test_position_bias_oracle.py checks which; head counts 5, 6, 12 and 20, not powers
of two), and the contract's properties (a bucket grows with the distance and stays below
num_buckets, future keys share bucket 0 when causal, ALiBi's bias depends on j - i only, a bias
constant along a row changes no attention, no future leakage under the causal mask). Buckets must
be integers. Classic mistakes are recomputed here on purpose so a failure can name them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    assert_equal,
    assert_raises,
    describe,
    show,
)
from transformer_kit.graders.fixtures import position_bias as fixtures
from transformer_kit.solutions import position_bias as reference

# --- the classic mistakes, by name ----------------------------------------------------------------

QUERY_MINUS_KEY = (
    "the offset taken as query - key, or (the same when bidirectional) the past keys in the "
    "upper half: the relative position is key - query (j - i), and future keys, offset > 0, "
    "add num_buckets // 2"
)
LOG_PLACE = (
    "the logarithm in the wrong place, log(n) / log(max_distance): the large buckets use "
    "log(n / max_exact) / log(max_distance / max_exact)"
)
LOG_BASE = (
    "two bases mixed (log2 or log10 over a natural log): take both logarithms in the same base, "
    "log(n / max_exact) / log(max_distance / max_exact)"
)
NO_CAP = "no cap: a far offset's bucket is capped at buckets - 1 (min(large, buckets - 1))"
ROUNDED = "rounded to the nearest: int() truncates toward 0 (astype(int), .long())"
MAX_EXACT_FULL = (
    "max_exact from the full num_buckets when bidirectional: halve the buckets first, then "
    "max_exact = buckets // 2"
)
NOT_HALVED = (
    "the buckets were not halved when bidirectional: each side gets num_buckets // 2 buckets, "
    "future keys the upper half"
)
CAUSAL_ABS = (
    "causal buckets from |offset|: unidirectional keeps n = max(-offset, 0), so every future key "
    "shares bucket 0"
)
NOT_INT = "the buckets are not an integer array: return integer bucket ids (astype(np.int64))"

BIAS_QUERY_MINUS_KEY = (
    "the offsets of the bias taken as i - j (query - key): bias[h, i, j] uses t5_bucket(j - i)"
)
BIAS_DEFAULT_BUCKETS = (
    "num_buckets left at its default 32: pass num_buckets = table.shape[0] to t5_bucket"
)
BIAS_ALWAYS_BIDIRECTIONAL = "bidirectional was not passed on to t5_bucket"
HEADS_LAST = "the head axis last, (L, S, H): the bias is (H, L, S), np.moveaxis(..., -1, 0)"

SLOPES_GEOMETRIC = (
    "2 ** (-8 (h + 1) / H) for every H: that holds for powers of 2 only; otherwise take the "
    "slopes of the largest power of 2 below H, then every other slope of the list for twice it"
)
SLOPES_ODD = (
    "the extra slopes from the odd positions of the 2n-head list: take positions 0, 2, 4, ... "
    "([0::2])"
)
SLOPES_NEXT_POWER = (
    "the first H slopes of the next power of 2: take the slopes of the largest power of 2 below "
    "H, then every other slope of the list for twice it"
)
SLOPES_FROM_ZERO = "slope h is 2 ** (-8 (h + 1) / H), with h from 0: the first slope is not 1"
SLOPES_REVERSED = "the slopes in reverse order: the first head has the largest slope"
SLOPES_SORTED = (
    "the slopes sorted: for H not a power of 2 the extra slopes come after the n first ones, "
    "in get_slopes' order"
)

ALIBI_BLOOM = (
    "slopes[h] * j (the fairseq and Bloom form): it gives the same attention, but the bias is "
    "slopes[h] * (j - i)"
)
ALIBI_SIGN = "slopes[h] * (i - j): the bias is slopes[h] * (j - i), negative for past keys"
ALIBI_SYMMETRIC = (
    "-slopes[h] * |j - i| (the paper's figure, which only draws past keys): the bias is "
    "slopes[h] * (j - i) for every i, j, positive for future keys"
)

NO_SCALE = "no 1/sqrt(d) scaling: divide q @ k^T by sqrt(d) before adding the bias"
BIAS_SCALED = (
    "the bias was scaled too, (q @ k^T + bias) / sqrt(d): scale q @ k^T only, then add the bias"
)
SCALE_DV = "scaled by 1/sqrt(d_v) (v's width): the scale is 1/sqrt(d), d = q.shape[-1]"
NO_MASK = "causal=True did not mask the future: query i sees keys j <= i only"
MASK_FLIPPED = "the mask keeps the future and hides the past: query i sees keys j <= i"
BIAS_TRANSPOSED = "the bias transposed: bias[..., i, j] is for query i and key j"
SOFTMAX_QUERIES = "softmax over the queries (axis -2): the softmax is over the keys, the last axis"

DRAWS = "drawn with np.random.default_rng(seed)"

# --- the mistakes, recomputed ---------------------------------------------------------------------


def _bucket(
    relative: np.ndarray,
    bidirectional: bool,
    num_buckets: int,
    max_distance: int,
    *,
    mistake: str = "",
) -> np.ndarray:
    """t5_bucket with one mistake switched on (by its name)."""
    rel = -relative if mistake == QUERY_MINUS_KEY else relative
    buckets, bucket = num_buckets, np.zeros_like(rel)
    if bidirectional:
        buckets = num_buckets if mistake == NOT_HALVED else num_buckets // 2
        bucket = np.where(rel > 0, num_buckets // 2, 0)
        n = np.abs(rel)
    else:
        n = np.abs(rel) if mistake == CAUSAL_ABS else np.maximum(-rel, 0)
    max_exact = num_buckets // 2 if mistake == MAX_EXACT_FULL else buckets // 2
    far = np.maximum(n, max_exact)
    if mistake == LOG_PLACE:
        ratio = np.log(far) / math.log(max_distance)
    elif mistake == LOG_BASE:
        ratio = np.log2(far / max_exact) / math.log(max_distance / max_exact)
    else:
        ratio = np.log(far / max_exact) / math.log(max_distance / max_exact)
    spread = ratio * (buckets - max_exact)
    large = max_exact + (np.round(spread) if mistake == ROUNDED else spread).astype(np.int64)
    if mistake != NO_CAP:
        large = np.minimum(large, buckets - 1)
    return bucket + np.where(n < max_exact, n, large)


BUCKET_MISTAKES = (
    QUERY_MINUS_KEY,
    LOG_PLACE,
    LOG_BASE,
    NO_CAP,
    ROUNDED,
    MAX_EXACT_FULL,
    NOT_HALVED,
    CAUSAL_ABS,
)


def bucket_mistakes(
    relative: np.ndarray, bidirectional: bool, num_buckets: int, max_distance: int
) -> dict[str, np.ndarray]:
    return {
        name: _bucket(relative, bidirectional, num_buckets, max_distance, mistake=name)
        for name in BUCKET_MISTAKES
    }


def _table_bias(table: np.ndarray, buckets: np.ndarray) -> np.ndarray:
    return np.moveaxis(table[buckets], -1, 0)


def bias_mistakes(
    query_len: int, key_len: int, table: np.ndarray, bidirectional: bool, max_distance: int
) -> dict[str, np.ndarray]:
    offsets = np.arange(key_len)[None, :] - np.arange(query_len)[:, None]
    size = table.shape[0]
    wrong = {
        BIAS_QUERY_MINUS_KEY: _table_bias(
            table, reference.t5_bucket(-offsets, bidirectional, size, max_distance)
        ),
        BIAS_ALWAYS_BIDIRECTIONAL: _table_bias(
            table, reference.t5_bucket(offsets, not bidirectional, size, max_distance)
        ),
        HEADS_LAST: np.moveaxis(reference.t5_bias(query_len, key_len, table, bidirectional), 0, -1),
    }
    if max_distance > (8 if bidirectional else 16):  # 32 buckets' max_exact: a valid setting
        default = reference.t5_bucket(offsets, bidirectional, 32, max_distance)
        if default.max() < size:
            wrong[BIAS_DEFAULT_BUCKETS] = _table_bias(table, default)
    return wrong


def _geometric(n: int) -> np.ndarray:
    return 2.0 ** (-8.0 * np.arange(1, n + 1) / n)


def slope_mistakes(num_heads: int, right: np.ndarray) -> dict[str, np.ndarray]:
    """What each classic mistake returns for alibi_slopes(num_heads), whose slopes are `right`."""
    n = 1 << (num_heads.bit_length() - 1)
    wrong = {
        SLOPES_GEOMETRIC: _geometric(num_heads),
        SLOPES_ODD: np.concatenate([_geometric(n), _geometric(2 * n)[1::2][: num_heads - n]]),
        SLOPES_NEXT_POWER: _geometric(2 * n)[:num_heads],
        SLOPES_FROM_ZERO: 2.0 ** (-8.0 * np.arange(num_heads) / num_heads),
        SLOPES_REVERSED: right[::-1],
        SLOPES_SORTED: -np.sort(-right),
    }
    return {name: value for name, value in wrong.items() if not np.allclose(value, right)}


def alibi_mistakes(seq_len: int, num_heads: int) -> dict[str, np.ndarray]:
    slopes = reference.alibi_slopes(num_heads)[:, None, None]
    positions = np.arange(seq_len)
    offsets = positions[None, :] - positions[:, None]
    return {
        ALIBI_BLOOM: slopes * np.broadcast_to(positions, (seq_len, seq_len)),
        ALIBI_SIGN: -slopes * offsets,
        ALIBI_SYMMETRIC: -slopes * np.abs(offsets),
        HEADS_LAST: np.moveaxis(slopes * offsets, 0, -1),
    } | {
        "the slopes: " + name: wrong[:, None, None] * offsets
        for name, wrong in slope_mistakes(num_heads, slopes[:, 0, 0]).items()
    }


def _attend(
    q: np.ndarray,
    k: np.ndarray,
    v: np.ndarray,
    bias: Any,
    causal: bool,
    *,
    scale: float,
    bias_scale: float = 1.0,
    mask: str = "past",
    axis: int = -1,
) -> np.ndarray:
    scores = (q @ np.swapaxes(k, -1, -2) * scale + np.asarray(bias)) * bias_scale
    length, keys = scores.shape[-2:]
    if causal and mask != "none":
        keep = np.ones((length, keys), dtype=bool)
        keep = np.tril(keep) if mask == "past" else np.triu(keep)
        scores = np.where(keep, scores, -np.inf)
    with np.errstate(all="ignore"):
        weights = np.exp(scores - scores.max(axis=axis, keepdims=True))
        return (weights / weights.sum(axis=axis, keepdims=True)) @ v


def attention_mistakes(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, bias: Any, causal: bool
) -> dict[str, np.ndarray]:
    d, d_v = q.shape[-1], v.shape[-1]
    right = 1 / math.sqrt(d)
    wrong = {
        NO_SCALE: _attend(q, k, v, bias, causal, scale=1.0),
        BIAS_SCALED: _attend(q, k, v, bias, causal, scale=1.0, bias_scale=right),
        SOFTMAX_QUERIES: _attend(q, k, v, bias, causal, scale=right, axis=-2),
    }
    if d_v != d:
        wrong[SCALE_DV] = _attend(q, k, v, bias, causal, scale=1 / math.sqrt(d_v))
    if causal:
        wrong[NO_MASK] = _attend(q, k, v, bias, causal, scale=right, mask="none")
        wrong[MASK_FLIPPED] = _attend(q, k, v, bias, causal, scale=right, mask="future")
    full = np.broadcast_to(np.asarray(bias), (*q.shape[:-1], k.shape[-2]))
    if full.shape[-1] == full.shape[-2]:
        wrong[BIAS_TRANSPOSED] = _attend(q, k, v, np.swapaxes(full, -1, -2), causal, scale=right)
    return wrong


# --- checks ---------------------------------------------------------------------------------------


def student_buckets(
    student: Any, relative: np.ndarray, settings: tuple[bool, int, int], call: str
) -> np.ndarray:
    """The learner's t5_bucket(relative, *settings), which must be an integer array."""
    bidirectional, num_buckets, max_distance = settings
    got = student.t5_bucket(
        relative,
        bidirectional=bidirectional,
        num_buckets=num_buckets,
        max_distance=max_distance,
    )
    try:
        array = np.asarray(got)
    except (TypeError, ValueError):  # ragged lists
        array = None
    if array is None or array.dtype.kind not in "iu":
        raise Mismatch(
            "the buckets should be an integer array",
            call=call,
            expected=f"integers, shape {np.shape(relative)}",
            got=describe(got),
            diagnosis=NOT_INT,
        )
    return array


def check_buckets(
    student: Any,
    relative: np.ndarray,
    settings: tuple[bool, int, int],
    call: str,
    expected: Any,
) -> np.ndarray:
    """An integer array, then the buckets exactly, naming a mistake that gives the same ones."""
    array = student_buckets(student, relative, settings, call)
    try:
        assert_equal(array, np.array(expected), call=call, what="buckets")
    except Mismatch as failure:
        for name, value in bucket_mistakes(relative, *settings).items():
            if value.shape == array.shape and np.array_equal(value, array):
                failure.diagnosis = name
                break
        raise
    return array


def check_value_error(
    function: Any, args: tuple[Any, ...], call: str, values: Mapping[str, int]
) -> None:
    """ValueError whose message holds each value of `values` (and, for a named argument, its
    name: a key starting with "=" stands for a bare value)."""
    text = assert_raises("ValueError", function, *args, call=call)
    for name, value in values.items():
        said_value = re.search(rf"(?<![\d.]){value}(?![\d.])", text)
        said_name = name.startswith("=") or re.search(rf"(?<![A-Za-z_]){name}(?![A-Za-z_])", text)
        if not (said_value and said_name):
            wanted = f"{value}" if name.startswith("=") else f"{name} and its value {value}"
            raise Mismatch(
                f"raised ValueError, but the message does not name {wanted}",
                call=call,
                expected="a message naming the offending values, e.g. "
                + ('"L=3, S=4"' if name.startswith("=") else f'"{name}={value}"'),
                got=f"ValueError: {text}",
            )


# --- t5_bucket ------------------------------------------------------------------------------------

DEFAULTS = (True, 32, 128)


@pytest.mark.weight(2)
@pytest.mark.visible
def test_bucket_hand_bidirectional(student: Any) -> None:
    """t5_bucket with T5's defaults: offsets around max_exact = 8 and past max_distance = 128"""
    relative = np.array(fixtures.BIDIRECTIONAL_OFFSETS)
    call = f"t5_bucket({fixtures.BIDIRECTIONAL_OFFSETS}, bidirectional=True, 32, 128)"
    check_buckets(student, relative, DEFAULTS, call, fixtures.BIDIRECTIONAL_BUCKETS)


@pytest.mark.weight(2)
def test_bucket_hand_causal(student: Any) -> None:
    """t5_bucket causal (bidirectional=False): future keys in bucket 0, max_exact = 16"""
    relative = np.array(fixtures.CAUSAL_OFFSETS)
    call = f"t5_bucket({fixtures.CAUSAL_OFFSETS}, bidirectional=False, 32, 128)"
    check_buckets(student, relative, (False, 32, 128), call, fixtures.CAUSAL_BUCKETS)


# (seed, shape of the offsets, bidirectional, num_buckets, max_distance): settings where Hugging
# Face's float32 buckets equal numpy's (tests/exercises/test_position_bias_oracle.py)
BUCKET_CASES = [
    (0, (40,), True, 32, 128),
    (1, (5, 8), False, 32, 128),
    (2, (30,), True, 64, 256),
    (3, (6, 6), False, 16, 40),
    (4, (25,), True, 8, 8),
]


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, shape, bidirectional, num_buckets, max_distance",
    BUCKET_CASES,
    ids=[f"seed{c[0]}" for c in BUCKET_CASES],
)
def test_bucket_random(
    student: Any,
    seed: int,
    shape: tuple[int, ...],
    bidirectional: bool,
    num_buckets: int,
    max_distance: int,
) -> None:
    """t5_bucket matches the reference on random offsets, up to 3 * max_distance either way"""
    span = 3 * max_distance
    relative = np.random.default_rng(seed).integers(-span, span + 1, size=shape)
    call = (
        f"t5_bucket(offsets {shape}, bidirectional={bidirectional}, num_buckets={num_buckets}, "
        f"max_distance={max_distance}), seed={seed}: offsets = integers(-{span}, {span + 1}) "
        f"{DRAWS}"
    )
    settings = (bidirectional, num_buckets, max_distance)
    check_buckets(student, relative, settings, call, reference.t5_bucket(relative, *settings))


@pytest.mark.weight(1)
def test_bucket_properties(student: Any) -> None:
    """buckets grow with the distance and stay below num_buckets; causal future keys get 0"""
    distances = np.arange(0, 400)
    for settings in ((True, 32, 128), (False, 32, 128)):
        call = f"t5_bucket(-arange(400), bidirectional={settings[0]}, 32, 128)"
        past = student_buckets(student, -distances, settings, call)
        if past.shape != distances.shape or np.any(np.diff(past) < 0) or past.max() >= 32:
            raise Mismatch(
                "the bucket of a past key must not shrink as it moves away, nor reach num_buckets",
                call=call,
                expected="400 buckets, never decreasing, all below 32",
                got=f"buckets {show(past)}",
                diagnosis=NO_CAP if past.max(initial=0) >= 32 else "",
            )
        check_buckets(
            student, -distances, settings, call, reference.t5_bucket(-distances, *settings)
        )
    call = "t5_bucket(arange(400), bidirectional=False, 32, 128)"
    check_buckets(student, distances, (False, 32, 128), call, np.zeros(400, dtype=np.int64))


# --- t5_bias --------------------------------------------------------------------------------------


def check_bias(
    student: Any,
    args: tuple[int, int, np.ndarray, bool, int],
    call: str,
    expected: Any = None,
) -> None:
    query_len, key_len, table, bidirectional, max_distance = args
    want = reference.t5_bias(*args) if expected is None else expected
    got = student.t5_bias(
        query_len, key_len, table, bidirectional=bidirectional, max_distance=max_distance
    )
    assert_close(got, want, call=call, what="bias (H, L, S)", mistakes=bias_mistakes(*args))


@pytest.mark.weight(2)
def test_bias_hand(student: Any) -> None:
    """t5_bias for 2 queries and 4 keys from an 8-bucket, 2-head table"""
    table = np.array(fixtures.BIAS_TABLE)
    call = "t5_bias(2, 4, table[b] = [b, 10 + b] for 8 buckets, bidirectional=True, max_distance=8)"
    args = (fixtures.BIAS_QUERY_LEN, fixtures.BIAS_KEY_LEN, table, True, fixtures.BIAS_MAX_DISTANCE)
    check_bias(student, args, call, np.array(fixtures.BIAS))


# (seed, L, S, num_buckets, H, bidirectional, max_distance)
BIAS_CASES = [
    (10, 5, 7, 32, 3, True, 128),
    (11, 6, 6, 32, 2, False, 128),
    (12, 9, 4, 16, 4, True, 40),
    (13, 1, 12, 8, 2, False, 8),
]


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, query_len, key_len, num_buckets, heads, bidirectional, max_distance",
    BIAS_CASES,
    ids=[f"seed{c[0]}" for c in BIAS_CASES],
)
def test_bias_random(
    student: Any,
    seed: int,
    query_len: int,
    key_len: int,
    num_buckets: int,
    heads: int,
    bidirectional: bool,
    max_distance: int,
) -> None:
    """t5_bias matches the reference on random tables"""
    table = np.random.default_rng(seed).standard_normal((num_buckets, heads))
    call = (
        f"t5_bias({query_len}, {key_len}, table ({num_buckets}, {heads}), bidirectional="
        f"{bidirectional}, max_distance={max_distance}), seed={seed}: table standard normal, "
        f"{DRAWS}"
    )
    check_bias(student, (query_len, key_len, table, bidirectional, max_distance), call)


# --- alibi_slopes and alibi_bias ------------------------------------------------------------------


def check_slopes(student: Any, num_heads: int, want: np.ndarray) -> None:
    call = f"alibi_slopes({num_heads})"
    got = student.alibi_slopes(num_heads)
    assert_close(got, want, call=call, what="slopes", mistakes=slope_mistakes(num_heads, want))


@pytest.mark.weight(2)
@pytest.mark.visible
def test_slopes_hand(student: Any) -> None:
    """alibi_slopes for 4, 1, 6 and 3 heads, by hand"""
    for num_heads, slopes in fixtures.SLOPES:
        check_slopes(student, num_heads, np.array(slopes))


@pytest.mark.weight(2)
@pytest.mark.parametrize("num_heads", [5, 6, 12, 20, 8, 16, 2])
def test_slopes_cases(student: Any, num_heads: int) -> None:
    """alibi_slopes as get_slopes, for head counts that are powers of 2 and that are not"""
    check_slopes(student, num_heads, reference.alibi_slopes(num_heads))


@pytest.mark.weight(1)
def test_slopes_reject_no_heads(student: Any) -> None:
    """alibi_slopes(0) and alibi_bias(4, 0) raise ValueError naming num_heads"""
    check_value_error(student.alibi_slopes, (0,), "alibi_slopes(0)", {"num_heads": 0})
    check_value_error(student.alibi_bias, (4, 0), "alibi_bias(4, 0)", {"num_heads": 0})


def check_alibi(student: Any, seq_len: int, num_heads: int, expected: Any = None) -> np.ndarray:
    call = f"alibi_bias({seq_len}, {num_heads})"
    want = reference.alibi_bias(seq_len, num_heads) if expected is None else expected
    got = student.alibi_bias(seq_len, num_heads)
    assert_close(
        got, want, call=call, what="bias (H, L, S)", mistakes=alibi_mistakes(seq_len, num_heads)
    )
    return as_array(got, call=call)


@pytest.mark.weight(1)
def test_alibi_hand(student: Any) -> None:
    """alibi_bias(3, 2): slopes 2**-4 and 2**-8 times j - i"""
    check_alibi(student, fixtures.ALIBI_LEN, fixtures.ALIBI_HEADS, np.array(fixtures.ALIBI))


@pytest.mark.weight(2)
@pytest.mark.parametrize("seq_len, num_heads", [(5, 6), (4, 12), (7, 8), (3, 20), (1, 3)])
def test_alibi_cases(student: Any, seq_len: int, num_heads: int) -> None:
    """alibi_bias matches slopes[h] * (j - i), head counts 6, 12 and 20 among them"""
    check_alibi(student, seq_len, num_heads)


# --- attention_with_bias --------------------------------------------------------------------------


def check_attention(
    student: Any, args: tuple[Any, ...], call: str, expected: Any = None
) -> np.ndarray:
    q, k, v, bias, causal = args
    want = reference.attention_with_bias(*args) if expected is None else expected
    got = student.attention_with_bias(q, k, v, bias, causal=causal)
    assert_close(got, want, call=call, mistakes=attention_mistakes(*args))
    return as_array(got, call=call)


def _hand_attention() -> tuple[np.ndarray, ...]:
    names = (fixtures.ATTN_Q, fixtures.ATTN_K, fixtures.ATTN_V, fixtures.ATTN_BIAS)
    return tuple(np.array(value) for value in names)


@pytest.mark.weight(2)
def test_attention_hand(student: Any) -> None:
    """attention_with_bias by hand, d = 4, without and with the causal mask"""
    q, k, v, bias = _hand_attention()
    call = (
        "attention_with_bias(q=[[[2, 0, 0, 0], [0, 2, 0, 0]]], k=[[[1, 0, 0, 0], [0, 1, 0, 0]]], "
        "v=[[[4, 0], [0, 8]]], bias=[[[-1, ln 3], [0, -1]]], causal={})"
    )
    check_attention(student, (q, k, v, bias, False), call.format(False), fixtures.ATTN_OUT)
    check_attention(student, (q, k, v, bias, True), call.format(True), fixtures.ATTN_OUT_CAUSAL)


def random_heads(seed: int, heads: int, length: int, keys: int, d: int, d_v: int):
    """q (H, L, d), k (H, S, d), v (H, S, d_v), drawn in that order."""
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((heads, length, d))
    k = rng.standard_normal((heads, keys, d))
    v = rng.standard_normal((heads, keys, d_v))
    return q, k, v


def heads_text(seed: int, q: Any, k: Any, v: Any, bias: str, causal: bool) -> str:
    return (
        f"attention_with_bias(q {q.shape}, k {k.shape}, v {v.shape}, bias = {bias}, "
        f"causal={causal}), seed={seed}: q, k, v standard normal, {DRAWS}"
    )


# (seed, H, L, S, d, d_v, causal, the bias: "alibi", "t5" or "random")
ATTENTION_CASES = [
    (20, 6, 5, 5, 4, 3, True, "alibi"),
    (21, 2, 3, 6, 8, 8, False, "t5"),
    (22, 3, 4, 4, 2, 5, False, "random"),
    (23, 12, 6, 6, 4, 4, True, "t5"),
]


def _bias_for(seed: int, kind: str, heads: int, length: int, keys: int) -> tuple[Any, str]:
    if kind == "alibi":
        return reference.alibi_bias(length, heads), f"alibi_bias({length}, {heads})"
    table = np.random.default_rng(seed + 100).standard_normal((32, heads))
    if kind == "t5":
        text = f"t5_bias({length}, {keys}, table (32, {heads}) standard normal, seed={seed + 100})"
        return reference.t5_bias(length, keys, table), text
    bias = np.random.default_rng(seed + 100).standard_normal((length, keys))
    return bias, f"({length}, {keys}) standard normal shared by the heads, seed={seed + 100}"


@pytest.mark.weight(3)
@pytest.mark.parametrize(
    "seed, heads, length, keys, d, d_v, causal, kind",
    ATTENTION_CASES,
    ids=[f"seed{c[0]}" for c in ATTENTION_CASES],
)
def test_attention_random(
    student: Any,
    seed: int,
    heads: int,
    length: int,
    keys: int,
    d: int,
    d_v: int,
    causal: bool,
    kind: str,
) -> None:
    """attention_with_bias matches the reference with ALiBi, T5 and shared biases"""
    q, k, v = random_heads(seed, heads, length, keys, d, d_v)
    bias, text = _bias_for(seed, kind, heads, length, keys)
    check_attention(student, (q, k, v, bias, causal), heads_text(seed, q, k, v, text, causal))


@pytest.mark.weight(1)
def test_attention_row_constant_bias(student: Any) -> None:
    """a bias constant along each row changes nothing: Bloom's slopes * j attends as ALiBi does"""
    q, k, v = random_heads(24, 4, 5, 5, 4, 4)
    alibi = reference.alibi_bias(5, 4)
    bloom = reference.alibi_slopes(4)[:, None, None] * np.arange(5.0)
    call = heads_text(24, q, k, v, "alibi_bias(5, 4)", True)
    base = check_attention(student, (q, k, v, alibi, True), call)
    check_attention(student, (q, k, v, bloom, True), call + "; then bias = slopes * j", base)


@pytest.mark.weight(1)
def test_attention_no_future(student: Any) -> None:
    """with causal=True, new keys and values after position i leave output row i as it was"""
    q, k, v = random_heads(25, 2, 6, 6, 4, 3)
    bias = reference.alibi_bias(6, 2)
    call = heads_text(25, q, k, v, "alibi_bias(6, 2)", True)
    rng = np.random.default_rng(26)
    k2, v2 = k.copy(), v.copy()
    k2[:, 3:] = rng.standard_normal(k2[:, 3:].shape)
    v2[:, 3:] = rng.standard_normal(v2[:, 3:].shape)
    changed = call + "; then keys and values 3: replaced (seed=26)"
    base = as_array(student.attention_with_bias(q, k, v, bias, causal=True), call=call)
    got = as_array(student.attention_with_bias(q, k2, v2, bias, causal=True), call=changed)
    if base.shape == got.shape == (2, 6, 3):
        moved = [i for i in range(3) if not np.allclose(got[:, i], base[:, i])]
        if moved:
            raise Mismatch(
                f"output row {moved[0]} changed when only keys and values 3.. changed: it sees "
                "the future",
                call=changed,
                expected=f"rows 0..2 as they were, row {moved[0]} = {show(base[:, moved[0]])}",
                got=f"row {moved[0]} = {show(got[:, moved[0]])}",
                diagnosis=NO_MASK,
            )
    check_attention(student, (q, k2, v2, bias, True), changed)


@pytest.mark.weight(1)
def test_attention_causal_rejects_lengths(student: Any) -> None:
    """causal attention with 3 queries and 4 keys raises ValueError naming both lengths"""
    q, k, v = random_heads(27, 1, 3, 4, 2, 2)
    call = "attention_with_bias(q (1, 3, 2), k (1, 4, 2), v (1, 4, 2), bias=zeros(1), causal=True)"
    check_value_error(
        student.attention_with_bias, (q, k, v, np.zeros(1), True), call, {"=3": 3, "=4": 4}
    )
