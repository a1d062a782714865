"""Grader for the kv_cache exercise: `KVCache` and `attend_with_cache`.

The learner's code is reached only through the `student` fixture. Expected rows are causal
multi-head attention over the whole sequence at once (`_decode` with a single chunk); the classic
mistakes are made on purpose by `_decode(..., mistake=...)` so that a failure can name them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    assert_equal,
    assert_raises,
    assert_shape,
)
from transformer_kit.grader.failures import StudentRaised
from transformer_kit.graders.fixtures import kv_cache as fixtures

Weights = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]

NO_PREFILL_MASK = (
    "the prompt is attended without a causal mask: a prompt token must not see the prompt "
    "tokens after it"
)
NOT_ITSELF = (
    "off by one: a new token must attend to itself too (positions <= p; append to the cache "
    "before attending, not after)"
)
INPUTS_CACHED = "the cache holds the inputs x, not the projected keys x @ w_k and values x @ w_v"
NO_TRANSPOSE = (
    "heads split by a reshape without a transpose: reshape (B, t, D) to (B, t, h, d_k), then "
    "swap axes 1 and 2"
)
SCALE_D = "scores scaled by 1/sqrt(D) instead of 1/sqrt(d_k), d_k = D // num_heads"
NO_W_O = "the output projection w_o is missing: multiply the merged heads by w_o"
NEWEST_FIRST = "the cache is newest first (position by position): keep positions oldest first"
NEWEST_CHUNK_FIRST = (
    "the cache is newest first (chunk by chunk): put new positions after the old ones, "
    "np.concatenate([old, new], axis=2)"
)
MAX_LEN = (
    "the max_len check is missing or off by one: a cache may hold exactly max_len positions, "
    "and no more (refuse when len + t > max_len)"
)
MAX_LEN_REFUSES = (
    "the max_len check is off by one: a cache may hold exactly max_len positions (refuse only "
    "when len + t > max_len, not >=)"
)
POSITION_OUTSIDE = (
    "the new tokens' positions are counted outside the cache (from {claimed} here, with "
    "{start} positions cached): positions come from len(cache), the token x_new[:, i] is at "
    "position len(cache) + i (read len(cache) before appending)"
)
OUTPUT_MISTAKES = (NO_PREFILL_MASK, NOT_ITSELF, INPUTS_CACHED, NO_TRANSPOSE, SCALE_D, NO_W_O)


# --- the grader's own reference, with the classic mistakes on request -------------------------


def _split(x: np.ndarray, num_heads: int, transpose: bool = True) -> np.ndarray:
    """(B, t, D) -> (B, h, t, d_k); without `transpose`, the reshape-only mistake."""
    batch, t, d_model = x.shape
    if not transpose:
        return x.reshape(batch, num_heads, t, d_model // num_heads)
    return x.reshape(batch, t, num_heads, d_model // num_heads).transpose(0, 2, 1, 3)


def _merge(x: np.ndarray, transpose: bool = True) -> np.ndarray:
    """(B, h, t, d_k) -> (B, t, D), the inverse of `_split`."""
    batch, num_heads, t, head_dim = x.shape
    if not transpose:
        return x.reshape(batch, t, num_heads * head_dim)
    return x.transpose(0, 2, 1, 3).reshape(batch, t, num_heads * head_dim)


def _decode(
    x: np.ndarray, weights: Weights, num_heads: int, chunks: Sequence[int], mistake: str = ""
) -> tuple[list[np.ndarray], np.ndarray, np.ndarray]:
    """Cached decoding of x (B, L, D) in chunks of the given sizes, making `mistake` on purpose.

    Returns the output of every chunk (B, t, D) and the cached keys and values (B, h, L, d_k).
    Without a mistake, every chunking gives causal multi-head attention over the whole of x.
    """
    w_q, w_k, w_v, w_o = weights
    batch, _, d_model = x.shape
    head_dim = d_model // num_heads
    transpose = mistake != NO_TRANSPOSE
    keys = np.zeros((batch, num_heads, 0, head_dim))  # (B, h, 0, d_k)
    values = np.zeros((batch, num_heads, 0, head_dim))
    outputs, start = [], 0
    for t in chunks:
        chunk = x[:, start : start + t]  # (B, t, D)
        q = _split(chunk @ w_q, num_heads, transpose)  # (B, h, t, d_k)
        projected_k, projected_v = chunk @ w_k, chunk @ w_v  # (B, t, D)
        if mistake == INPUTS_CACHED:
            projected_k, projected_v = chunk, chunk
        keys = np.concatenate([keys, _split(projected_k, num_heads, transpose)], axis=2)
        values = np.concatenate([values, _split(projected_v, num_heads, transpose)], axis=2)
        position = start + np.arange(t)[:, None]  # (t, 1)
        seen = np.arange(start + t)  # (S,)
        allowed = seen <= position  # (t, S): position p sees positions <= p
        if mistake == NO_PREFILL_MASK:
            allowed = np.ones((t, start + t), dtype=bool)  # sees the whole chunk, future too
        elif mistake == NOT_ITSELF:
            allowed = seen < position
        scale = np.sqrt(d_model if mistake == SCALE_D else head_dim)
        scores = np.where(allowed, q @ keys.swapaxes(-1, -2) / scale, -np.inf)  # (B, h, t, S)
        with np.errstate(invalid="ignore"):  # a row with nothing allowed becomes nan
            exp = np.exp(scores - scores.max(axis=-1, keepdims=True))
            merged = _merge(exp / exp.sum(axis=-1, keepdims=True) @ values, transpose)
        outputs.append(merged if mistake == NO_W_O else merged @ w_o)  # (B, t, D)
        start += t
    return outputs, keys, values


def _position_mistakes(
    x: np.ndarray, weights: Weights, num_heads: int, start: int, t: int
) -> dict[str, np.ndarray]:
    """The output for x[:, start:start + t] with x[:, :start + t] cached, its tokens taken to be
    at positions claimed .. claimed + t - 1 for each wrong `claimed` (the right one is start)."""
    keys, values = (_split(x[:, : start + t] @ w, num_heads) for w in weights[1:3])
    q = _split(x[:, start : start + t] @ weights[0], num_heads)  # (B, h, t, d_k)
    scores = q @ keys.swapaxes(-1, -2) / np.sqrt(keys.shape[-1])  # (B, h, t, S)
    found = {}
    for claimed in range(start + t):
        if claimed == start:
            continue
        allowed = np.arange(start + t) <= claimed + np.arange(t)[:, None]  # (t, S)
        masked = np.where(allowed, scores, -np.inf)
        exp = np.exp(masked - masked.max(axis=-1, keepdims=True))
        output = _merge(exp / exp.sum(axis=-1, keepdims=True) @ values) @ weights[3]
        found[POSITION_OUTSIDE.format(claimed=claimed, start=start)] = output
    return found


def _causal_attention(x: np.ndarray, weights: Weights, num_heads: int) -> np.ndarray:
    """Causal multi-head self-attention over the whole sequence at once, (B, L, D)."""
    return _decode(x, weights, num_heads, [x.shape[1]])[0][0]


def _inputs(seed: int, batch: int, seq_len: int, d_model: int) -> tuple[np.ndarray, Weights]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, seq_len, d_model))
    w_q, w_k, w_v, w_o = (rng.normal(size=(d_model, d_model)) / np.sqrt(d_model) for _ in range(4))
    return x, (w_q, w_k, w_v, w_o)


def _newest_chunk_first(array: np.ndarray, chunks: Sequence[int]) -> np.ndarray:
    """The cached positions with the chunks in reverse order (each chunk oldest first)."""
    pieces = np.split(array, np.cumsum(chunks)[:-1], axis=2)
    return np.concatenate(pieces[::-1], axis=2)


def _order_mistakes(array: np.ndarray, chunks: Sequence[int]) -> dict[str, np.ndarray]:
    return {
        NEWEST_FIRST: array[:, :, ::-1],
        NEWEST_CHUNK_FIRST: _newest_chunk_first(array, chunks),
    }


# --- checks on the learner's cache -------------------------------------------------------------


def _cached(
    got: Any,
    expected: np.ndarray,
    *,
    max_len: int,
    call: str,
    what: str,
    mistakes: dict[str, np.ndarray] | None = None,
) -> None:
    """`cache.keys` or `cache.values`: an array of the filled part only, then its values."""
    if callable(got):
        raise Mismatch(
            f"{what} is a method or another object, not an array: make it a property "
            "(@property) or an attribute holding the array",
            call=call,
            expected=f"an array of shape {expected.shape}",
            got="a method or an object",
        )
    array = as_array(got, call=call, what=what)
    batch, num_heads, length, head_dim = expected.shape
    if array.shape == (batch, num_heads, max_len, head_dim) and length != max_len:
        raise Mismatch(
            f"{what} includes the unused room of the cache",
            call=call,
            expected=f"shape {expected.shape}: len(cache) = {length} positions",
            got=f"shape {array.shape}: all max_len = {max_len} positions",
            diagnosis="return only the filled part, buffer[:, :, :len(cache)]",
        )
    assert_close(array, expected, call=call, what=what, mistakes=mistakes)


def _append_within(
    cache: Any, k: np.ndarray, v: np.ndarray, *, filled: int, max_len: int, call: str
) -> None:
    """An append that keeps the cache within max_len: a ValueError here is the off-by-one."""
    try:
        cache.append(k, v)
    except StudentRaised as error:
        if "ValueError" not in error.type_names or error.not_implemented:
            raise
        raise Mismatch(
            f"append of {k.shape[2]} positions raised ValueError, but the cache would then hold "
            f"{filled} positions, within max_len = {max_len}",
            call=call,
            expected="the append to succeed",
            got=f"ValueError: {error.text}",
            diagnosis=MAX_LEN_REFUSES,
        ) from None


def _random_chunks(
    seed: int, shape: tuple[int, int, int], chunks: Sequence[int]
) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """Random keys and values (B, h, t, d_k) for each chunk size t."""
    rng = np.random.default_rng(seed)
    batch, num_heads, head_dim = shape
    keys = [rng.normal(size=(batch, num_heads, t, head_dim)) for t in chunks]
    values = [rng.normal(size=(batch, num_heads, t, head_dim)) for t in chunks]
    return keys, values


# --- level 1: by hand ----------------------------------------------------------------------------


def test_hand_append(student: Any) -> None:
    """append and keys by hand"""
    cache = student.KVCache(*fixtures.APPEND_CACHE)
    made = f"KVCache{fixtures.APPEND_CACHE}"
    done = []
    for k, v, length in zip(
        fixtures.APPEND_KEYS, fixtures.APPEND_VALUES, fixtures.APPEND_LENGTHS, strict=True
    ):
        k, v = np.array(k), np.array(v)
        cache.append(k, v)
        done.append(f"append(k {k.shape}, v {v.shape})")
        call = f"{made}, then {', '.join(done)}"
        assert_equal(len(cache), length, call=call, what="len(cache)")
    keys = np.array(fixtures.APPEND_CACHED_KEYS)
    values = np.array(fixtures.APPEND_CACHED_VALUES)
    order = [np.array(k).shape[2] for k in fixtures.APPEND_KEYS]
    _cached(
        cache.keys,
        keys,
        max_len=fixtures.APPEND_CACHE[0],
        call=f"cache.keys after {call}",
        what="cache.keys",
        mistakes=_order_mistakes(keys, order),
    )
    _cached(
        cache.values,
        values,
        max_len=fixtures.APPEND_CACHE[0],
        call=f"cache.values after {call}",
        what="cache.values",
        mistakes=_order_mistakes(values, order),
    )


def test_hand_attention(student: Any) -> None:
    """attention with a cache by hand"""
    weights = tuple(np.array(w) for w in (fixtures.W_Q, fixtures.W_K, fixtures.W_V, fixtures.W_O))
    prompt, step = np.array(fixtures.PROMPT_X), np.array(fixtures.STEP_X)
    x = np.concatenate([prompt, step], axis=1)  # (1, 3, 2)
    chunks = [prompt.shape[1], step.shape[1]]
    wrong = {mistake: _decode(x, weights, 1, chunks, mistake) for mistake in OUTPUT_MISTAKES}
    cache = student.KVCache(*fixtures.ATTEND_CACHE)
    made = f"KVCache{fixtures.ATTEND_CACHE}"
    for i, (tokens, expected) in enumerate([(prompt, fixtures.PROMPT_Y), (step, fixtures.STEP_Y)]):
        name = "the prompt x = [[1, 0], [0, 1]]" if i == 0 else "then the step x = [[1, 1]]"
        call = f"attend_with_cache({name}, w_q, w_k, w_v, w_o, num_heads=1, cache), {made}"
        got = student.attend_with_cache(tokens, *weights, 1, cache)
        assert_close(
            got,
            expected,
            call=call,
            what="output",
            mistakes={m: outputs[i] for m, (outputs, _, _) in wrong.items()},
        )
    call = f"after the prompt and the step of the hand example, {made}"
    _cached(
        cache.keys,
        np.array(fixtures.ATTEND_CACHED_KEYS),
        max_len=fixtures.ATTEND_CACHE[0],
        call=f"cache.keys {call}",
        what="cache.keys",
        mistakes={INPUTS_CACHED: wrong[INPUTS_CACHED][1]},
    )
    _cached(
        cache.values,
        np.array(fixtures.ATTEND_CACHED_VALUES),
        max_len=fixtures.ATTEND_CACHE[0],
        call=f"cache.values {call}",
        what="cache.values",
        mistakes={INPUTS_CACHED: wrong[INPUTS_CACHED][2]},
    )


# --- level 2: the reference on random inputs -----------------------------------------------------


def _check_decoding(
    student: Any,
    seed: int,
    shape: tuple[int, int, int],
    num_heads: int,
    chunks: Sequence[int],
) -> None:
    """Feed x in `chunks` through a new cache; every chunk's rows must be causal attention's."""
    batch, seq_len, d_model = shape
    x, weights = _inputs(seed, batch, seq_len, d_model)
    expected = _causal_attention(x, weights, num_heads)
    wrong = {m: _decode(x, weights, num_heads, chunks, m)[0] for m in OUTPUT_MISTAKES}
    made = f"KVCache({seq_len + 2}, {batch}, {num_heads}, {d_model // num_heads})"
    cache = student.KVCache(seq_len + 2, batch, num_heads, d_model // num_heads)
    start = 0
    for i, t in enumerate(chunks):
        end = start + t
        call = (
            f"attend_with_cache(x[:, {start}:{end}], w_q, w_k, w_v, w_o, num_heads={num_heads}, "
            f"cache) with {start} positions cached; x {shape}, {made}, seed={seed}"
        )
        got = student.attend_with_cache(x[:, start:end].copy(), *weights, num_heads, cache)
        assert_close(
            got,
            expected[:, start:end],
            call=call,
            what=f"output for positions {start}..{end - 1}",
            mistakes={m: outputs[i] for m, outputs in wrong.items()}
            | _position_mistakes(x, weights, num_heads, start, t),
        )
        start = end


DECODING_CASES = [
    pytest.param(0, (2, 5, 6), 2, 3, id="seed0-B2-L5-D6-h2-prompt3"),
    pytest.param(1, (1, 6, 8), 4, 2, id="seed1-B1-L6-D8-h4-prompt2"),
    pytest.param(2, (2, 4, 4), 1, 3, id="seed2-B2-L4-D4-h1-prompt3"),
]


@pytest.mark.weight(2)
@pytest.mark.parametrize(("seed", "shape", "num_heads", "prompt"), DECODING_CASES)
def test_prompt_then_steps(
    student: Any, seed: int, shape: tuple[int, int, int], num_heads: int, prompt: int
) -> None:
    """a prompt then one token at a time equals causal attention"""
    chunks = [prompt] + [1] * (shape[1] - prompt)
    _check_decoding(student, seed, shape, num_heads, chunks)


@pytest.mark.parametrize(
    "chunks",
    [
        pytest.param((1, 1, 1, 1, 1, 1), id="1+1+1+1+1+1"),
        pytest.param((2, 3, 1), id="2+3+1"),
        pytest.param((6,), id="6"),
    ],
)
def test_any_chunking(student: Any, chunks: tuple[int, ...]) -> None:
    """any chunking gives the same rows"""
    _check_decoding(student, 3, (2, 6, 6), 3, chunks)


# --- level 3: properties --------------------------------------------------------------------------


def test_step_attends_to_itself(student: Any) -> None:
    """a new token attends to itself"""
    seed, batch, seq_len, d_model, num_heads = 4, 2, 5, 6, 2
    head_dim = d_model // num_heads
    x, weights = _inputs(seed, batch, seq_len, d_model)
    expected = _causal_attention(x, weights, num_heads)
    chunks = [3, 1, 1]
    wrong = {m: _decode(x, weights, num_heads, chunks, m)[0] for m in OUTPUT_MISTAKES}
    _, keys, values = _decode(x[:, :3], weights, num_heads, [3])
    cache = student.KVCache(seq_len + 2, batch, num_heads, head_dim)
    cache.append(keys, values)  # the prompt's projected keys and values, put in directly
    setup = (
        f"KVCache({seq_len + 2}, {batch}, {num_heads}, {head_dim}), append(the keys and values of "
        f"x[:, 0:3]); x {(batch, seq_len, d_model)}, seed={seed}"
    )
    for position in (3, 4):
        call = (
            f"attend_with_cache(x[:, {position}:{position + 1}], w_q, w_k, w_v, w_o, "
            f"num_heads={num_heads}, cache) with {position} positions cached; {setup}"
        )
        got = student.attend_with_cache(
            x[:, position : position + 1].copy(), *weights, num_heads, cache
        )
        assert_close(
            got,
            expected[:, position : position + 1],
            call=call,
            what=f"output for position {position}",
            mistakes={m: outputs[position - 2] for m, outputs in wrong.items()}
            | _position_mistakes(x, weights, num_heads, position, 1),
        )


def test_prompt_is_causal(student: Any) -> None:
    """prompt tokens do not see later prompt tokens"""
    seed, batch, seq_len, d_model, num_heads = 5, 2, 4, 6, 2
    head_dim = d_model // num_heads
    x, weights = _inputs(seed, batch, seq_len, d_model)
    changed = x.copy()
    changed[:, -1] = np.random.default_rng(seed + 100).normal(size=(batch, d_model))
    outputs = []
    for tokens, name in ((x, "x"), (changed, f"x with token {seq_len - 1} changed")):
        call = (
            f"attend_with_cache({name} {x.shape}, w_q, w_k, w_v, w_o, num_heads={num_heads}, "
            f"cache) on a new KVCache({seq_len + 2}, {batch}, {num_heads}, {head_dim}), "
            f"seed={seed}"
        )
        cache = student.KVCache(seq_len + 2, batch, num_heads, head_dim)
        got = student.attend_with_cache(tokens, *weights, num_heads, cache)
        assert_shape(got, x.shape, call=call, what="output")
        outputs.append(as_array(got, call=call, what="output"))
    wrong = _decode(changed, weights, num_heads, [seq_len], NO_PREFILL_MASK)[0][0]
    assert_close(
        outputs[1][:, :-1],
        outputs[0][:, :-1],
        call=call,
        what=f"output for positions 0..{seq_len - 2} (they must not change with token "
        f"{seq_len - 1})",
        mistakes={NO_PREFILL_MASK: wrong[:, :-1]},
    )


def test_cache_holds_projected(student: Any) -> None:
    """the cache holds the projected keys and values"""
    seed, batch, seq_len, d_model, num_heads = 6, 2, 5, 6, 2
    head_dim = d_model // num_heads
    x, weights = _inputs(seed, batch, seq_len, d_model)
    chunks = [3, 1, 1]
    cache = student.KVCache(seq_len + 2, batch, num_heads, head_dim)
    start = 0
    for t in chunks:
        student.attend_with_cache(x[:, start : start + t].copy(), *weights, num_heads, cache)
        start += t
    call = (
        f"after attend_with_cache on x[:, 0:3], x[:, 3:4], x[:, 4:5] (w_q, w_k, w_v, w_o, "
        f"num_heads={num_heads}) with KVCache({seq_len + 2}, {batch}, {num_heads}, {head_dim}); "
        f"x {x.shape}, seed={seed}"
    )
    _, keys, values = _decode(x, weights, num_heads, chunks)
    wrong = {m: _decode(x, weights, num_heads, chunks, m) for m in (INPUTS_CACHED, NO_TRANSPOSE)}
    checks = (
        ("cache.keys", cache.keys, keys, 1, "x @ w_k"),
        ("cache.values", cache.values, values, 2, "x @ w_v"),
    )
    for what, got, expected, index, projection in checks:
        _cached(
            got,
            expected,
            max_len=seq_len + 2,
            call=f"{what} {call}",
            what=f"{what} ({projection} split into heads)",
            mistakes={m: result[index] for m, result in wrong.items()}
            | _order_mistakes(expected, chunks),
        )


@pytest.mark.visible
def test_keys_values_shapes(student: Any) -> None:
    """keys and values have shape (batch, num_heads, len, head_dim)"""
    shape = (2, 2, 3)  # batch, num_heads, head_dim
    cache = student.KVCache(8, *shape)
    keys, values = _random_chunks(7, shape, (5, 1))
    done = []
    for k, v in zip(keys, values, strict=True):
        cache.append(k, v)
        done.append(f"append(k {k.shape}, v {v.shape})")
        length = sum(chunk.shape[2] for chunk in keys[: len(done)])
        for what in ("keys", "values"):
            got = cache.keys if what == "keys" else cache.values
            expected = np.concatenate((keys if what == "keys" else values)[: len(done)], axis=2)
            _cached(
                got,
                expected,
                max_len=8,
                call=f"cache.{what} after KVCache(8, 2, 2, 3), {', '.join(done)}",
                what=f"cache.{what} with {length} positions cached",
            )


def test_append_order(student: Any) -> None:
    """append keeps positions oldest first"""
    shape, chunks = (2, 2, 3), (3, 1, 2)
    keys, values = _random_chunks(8, shape, chunks)
    cache = student.KVCache(8, *shape)
    for k, v in zip(keys, values, strict=True):
        cache.append(k, v)
    call = "after KVCache(8, 2, 2, 3), then append with t = 3, 1, 2 positions (random k, v, seed=8)"
    for what, got, chunk_list in (
        ("cache.keys", cache.keys, keys),
        ("cache.values", cache.values, values),
    ):
        expected = np.concatenate(chunk_list, axis=2)  # (2, 2, 6, 3)
        _cached(
            got,
            expected,
            max_len=8,
            call=f"{what} {call}",
            what=what,
            mistakes=_order_mistakes(expected, chunks),
        )


@pytest.mark.visible
def test_len(student: Any) -> None:
    """len counts the cached positions"""
    shape, chunks = (2, 2, 3), (3, 1, 2)
    keys, values = _random_chunks(9, shape, chunks)
    cache = student.KVCache(8, *shape)
    assert_equal(len(cache), 0, call="len(KVCache(8, 2, 2, 3))", what="len of a new cache")
    length, done = 0, []
    for k, v in zip(keys, values, strict=True):
        cache.append(k, v)
        length += k.shape[2]
        done.append(f"append(k {k.shape}, v {v.shape})")
        call = f"len(cache) after KVCache(8, 2, 2, 3), {', '.join(done)}"
        got = len(cache)
        if got == len(done) != length:
            raise Mismatch(
                "len(cache) counts the appends, not the positions",
                call=call,
                expected=str(length),
                got=str(got),
                diagnosis="one append adds t positions (axis 2 of k): add t, not 1",
            )
        assert_equal(got, length, call=call, what="len(cache)")


def test_fill_to_max_len(student: Any) -> None:
    """a cache may hold exactly max_len positions"""
    shape, chunks = (2, 2, 3), (5, 3)
    keys, values = _random_chunks(10, shape, chunks)
    cache = student.KVCache(8, *shape)
    done = []
    for k, v in zip(keys, values, strict=True):
        done.append(f"append(k {k.shape}, v {v.shape})")
        call = f"KVCache(8, 2, 2, 3), then {', '.join(done)}"
        _append_within(
            cache, k, v, filled=sum(c.shape[2] for c in keys[: len(done)]), max_len=8, call=call
        )
    assert_equal(len(cache), 8, call=f"len(cache) after {call}", what="len(cache)")
    _cached(
        cache.keys,
        np.concatenate(keys, axis=2),
        max_len=8,
        call=f"cache.keys after {call}",
        what="cache.keys of a full cache",
    )


@pytest.mark.parametrize(
    ("chunks", "extra"),
    [pytest.param((5, 3), 1, id="8-cached-plus-1"), pytest.param((4, 2), 3, id="6-cached-plus-3")],
)
def test_append_past_max_len(student: Any, chunks: tuple[int, ...], extra: int) -> None:
    """appending past max_len raises ValueError"""
    shape = (2, 2, 3)
    keys, values = _random_chunks(11, shape, (*chunks, extra))
    cache = student.KVCache(8, *shape)
    done = []
    for k, v in zip(keys[:-1], values[:-1], strict=True):
        done.append(f"append(k {k.shape}, v {v.shape})")
        call = f"KVCache(8, 2, 2, 3), then {', '.join(done)}"
        _append_within(
            cache, k, v, filled=sum(c.shape[2] for c in keys[: len(done)]), max_len=8, call=call
        )
    filled = sum(chunks)
    call = f"append(k {keys[-1].shape}, v {values[-1].shape}) after {call}"
    try:
        text = assert_raises("ValueError", cache.append, keys[-1], values[-1], call=call)
    except Mismatch as failure:
        if "returned normally" not in failure.summary:
            raise
        raise Mismatch(
            f"append of {extra} more position{'s' * (extra > 1)} to a cache holding {filled} of "
            "max_len = 8 returned normally: it should raise ValueError",
            call=call,
            expected=failure.expected,
            got=failure.got,
            diagnosis=MAX_LEN,
        ) from None
    if "broadcast" in text:
        raise Mismatch(
            "append raised numpy's broadcasting error, not its own check",
            call=call,
            expected=f"ValueError saying that {filled} + {extra} positions exceed max_len = 8",
            got=f"ValueError: {text}",
            diagnosis="check len + t > max_len first and raise ValueError with a message "
            "that says so (the buffer being too small is an accident, not a check)",
        )
    assert_equal(
        len(cache),
        filled,
        call=f"len(cache) after the refused {call}",
        what="len(cache) (a refused append must leave the cache as it was)",
    )
