"""The kv_cache reference solution (and the grader's own reference) against independent oracles.

Oracle: `torch.nn.MultiheadAttention(D, h, bias=False, batch_first=True)` with
in_proj_weight = concat(w_q.T, w_k.T, w_v.T), out_proj.weight = w_o.T and a causal attn_mask
(True = blocked in torch), over the whole sequence at once; cached decoding in any chunking must
give the same rows. The hand fixtures are checked against plain-Python `math` and the solution.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from transformer_kit.graders import test_kv_cache as grader
from transformer_kit.graders.fixtures import kv_cache as fixtures
from transformer_kit.solutions import kv_cache as solution

Weights = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _inputs(seed: int, batch: int, seq_len: int, d_model: int) -> tuple[np.ndarray, Weights]:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(batch, seq_len, d_model))
    w_q, w_k, w_v, w_o = (rng.normal(size=(d_model, d_model)) for _ in range(4))
    return x, (w_q, w_k, w_v, w_o)


def _torch_causal_attention(x: np.ndarray, weights: Weights, num_heads: int) -> np.ndarray:
    """torch's multi-head attention over the whole sequence with a causal mask, (B, L, D)."""
    w_q, w_k, w_v, w_o = weights
    _, seq_len, d_model = x.shape
    mha = torch.nn.MultiheadAttention(d_model, num_heads, bias=False, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([w_q.T, w_k.T, w_v.T])))
        mha.out_proj.weight.copy_(torch.from_numpy(w_o.T))
        blocked = torch.ones(seq_len, seq_len, dtype=torch.bool).triu(diagonal=1)  # j > i
        tokens = torch.from_numpy(x)
        out, _ = mha(tokens, tokens, tokens, attn_mask=blocked, need_weights=False)
    return out.numpy()


def _torch_heads(x: np.ndarray, w: np.ndarray, num_heads: int) -> np.ndarray:
    """x @ w split into heads with torch: (B, L, D) -> (B, h, L, d_k)."""
    batch, seq_len, d_model = x.shape
    projected = torch.from_numpy(x) @ torch.from_numpy(w)
    return projected.view(batch, seq_len, num_heads, d_model // num_heads).transpose(1, 2).numpy()


def _decode(
    x: np.ndarray, weights: Weights, num_heads: int, chunks: tuple[int, ...], max_len: int
) -> tuple[np.ndarray, solution.KVCache]:
    """The solution fed x in `chunks`; returns the rows (B, L, D) and the cache."""
    cache = solution.KVCache(max_len, x.shape[0], num_heads, x.shape[2] // num_heads)
    rows, start = [], 0
    for t in chunks:
        rows.append(solution.attend_with_cache(x[:, start : start + t], *weights, num_heads, cache))
        start += t
    return np.concatenate(rows, axis=1), cache


CASES = [
    # seed, (batch, seq_len, d_model), num_heads, chunks
    (0, (2, 5, 6), 2, (3, 1, 1)),
    (1, (1, 7, 8), 4, (1, 1, 1, 1, 1, 1, 1)),
    (2, (3, 6, 4), 1, (2, 3, 1)),
    (3, (2, 6, 6), 3, (6,)),
    (4, (2, 8, 8), 8, (4, 1, 2, 1)),
    (5, (1, 4, 12), 6, (1, 3)),
]


@pytest.mark.parametrize(("seed", "shape", "num_heads", "chunks"), CASES)
def test_cached_decoding_matches_torch(
    seed: int, shape: tuple[int, int, int], num_heads: int, chunks: tuple[int, ...]
) -> None:
    x, weights = _inputs(seed, *shape)
    got, cache = _decode(x, weights, num_heads, chunks, max_len=shape[1] + 3)
    np.testing.assert_allclose(got, _torch_causal_attention(x, weights, num_heads), atol=1e-10)
    assert len(cache) == shape[1]


@pytest.mark.parametrize(("seed", "shape", "num_heads", "chunks"), CASES)
def test_cache_holds_projected_heads(
    seed: int, shape: tuple[int, int, int], num_heads: int, chunks: tuple[int, ...]
) -> None:
    x, weights = _inputs(seed, *shape)
    _, cache = _decode(x, weights, num_heads, chunks, max_len=shape[1])  # exactly full
    np.testing.assert_allclose(cache.keys, _torch_heads(x, weights[1], num_heads), atol=1e-12)
    np.testing.assert_allclose(cache.values, _torch_heads(x, weights[2], num_heads), atol=1e-12)


def test_inputs_are_not_modified() -> None:
    x, weights = _inputs(6, 2, 4, 6)
    copies = [a.copy() for a in (x, *weights)]
    cache = solution.KVCache(4, 2, 2, 3)
    solution.attend_with_cache(x, *weights, 2, cache)
    for before, after in zip(copies, (x, *weights), strict=True):
        np.testing.assert_array_equal(before, after)
    k = np.ones((2, 2, 1, 3))
    keys = cache.keys.copy()
    k_copy = k.copy()
    with pytest.raises(ValueError, match="max_len"):
        cache.append(k, k)
    np.testing.assert_array_equal(k, k_copy)
    np.testing.assert_array_equal(cache.keys, keys)  # a refused append changes nothing


def test_max_len() -> None:
    cache = solution.KVCache(8, 2, 2, 3)
    assert len(cache) == 0
    assert cache.keys.shape == (2, 2, 0, 3)
    cache.append(np.zeros((2, 2, 5, 3)), np.zeros((2, 2, 5, 3)))
    with pytest.raises(ValueError, match="max_len=8"):
        cache.append(np.zeros((2, 2, 4, 3)), np.zeros((2, 2, 4, 3)))
    assert len(cache) == 5
    cache.append(np.ones((2, 2, 3, 3)), np.ones((2, 2, 3, 3)))  # exactly max_len is fine
    assert len(cache) == 8
    assert cache.keys.shape == cache.values.shape == (2, 2, 8, 3)
    with pytest.raises(ValueError, match="max_len=8"):
        cache.append(np.zeros((2, 2, 1, 3)), np.zeros((2, 2, 1, 3)))
    assert len(cache) == 8


def test_append_rejects_wrong_shapes() -> None:
    cache = solution.KVCache(8, 2, 2, 3)
    with pytest.raises(ValueError, match="shape"):
        cache.append(np.zeros((2, 3, 1, 2)), np.zeros((2, 3, 1, 2)))
    with pytest.raises(ValueError, match="t >= 1"):
        cache.append(np.zeros((2, 2, 0, 3)), np.zeros((2, 2, 0, 3)))


def test_head_count_must_divide_d_model() -> None:
    x, weights = _inputs(7, 1, 2, 6)
    with pytest.raises(ValueError, match="divisible"):
        solution.attend_with_cache(x, *weights, 4, solution.KVCache(4, 1, 4, 1))


# --- the hand fixtures -----------------------------------------------------------------------


def test_hand_fixture_arithmetic() -> None:
    """The fixture's numbers from plain-Python math, independently of numpy."""
    s = 1 / math.sqrt(2)
    w1 = [math.exp(s) / (math.exp(s) + 1), 1 / (math.exp(s) + 1)]  # position 1 over 0, 1
    y1 = [2 * w1[0], -(2 * w1[1])]  # out1 = w1[0] * [2, 0] + w1[1] * [0, 2], then w_o
    total = 2 * math.exp(s) + math.exp(2 * s)  # position 2 over 0, 1, 2: scores s, s, 2s
    w2 = [math.exp(s) / total, math.exp(s) / total, math.exp(2 * s) / total]
    out2 = 2 * w2[0] + 2 * w2[2]  # both features alike
    np.testing.assert_allclose(fixtures.PROMPT_Y, [[[2.0, 0.0], y1]], rtol=1e-8)
    np.testing.assert_allclose(fixtures.STEP_Y, [[[out2, -out2]]], rtol=1e-8)


def test_hand_fixtures_match_solution() -> None:
    cache = solution.KVCache(*fixtures.APPEND_CACHE)
    steps = zip(fixtures.APPEND_KEYS, fixtures.APPEND_VALUES, fixtures.APPEND_LENGTHS, strict=True)
    for k, v, length in steps:
        cache.append(np.array(k), np.array(v))
        assert len(cache) == length
    np.testing.assert_array_equal(cache.keys, fixtures.APPEND_CACHED_KEYS)
    np.testing.assert_array_equal(cache.values, fixtures.APPEND_CACHED_VALUES)

    weights = tuple(np.array(w) for w in (fixtures.W_Q, fixtures.W_K, fixtures.W_V, fixtures.W_O))
    cache = solution.KVCache(*fixtures.ATTEND_CACHE)
    prompt = solution.attend_with_cache(np.array(fixtures.PROMPT_X), *weights, 1, cache)
    step = solution.attend_with_cache(np.array(fixtures.STEP_X), *weights, 1, cache)
    np.testing.assert_allclose(prompt, fixtures.PROMPT_Y, rtol=1e-8)
    np.testing.assert_allclose(step, fixtures.STEP_Y, rtol=1e-8)
    np.testing.assert_array_equal(cache.keys, fixtures.ATTEND_CACHED_KEYS)
    np.testing.assert_array_equal(cache.values, fixtures.ATTEND_CACHED_VALUES)
    x = np.concatenate([fixtures.PROMPT_X, fixtures.STEP_X], axis=1)
    np.testing.assert_allclose(
        np.concatenate([prompt, step], axis=1), _torch_causal_attention(x, weights, 1), atol=1e-12
    )


# --- the grader's own reference and its mistakes ---------------------------------------------


@pytest.mark.parametrize(("seed", "shape", "num_heads", "chunks"), CASES)
def test_grader_reference_matches_torch(
    seed: int, shape: tuple[int, int, int], num_heads: int, chunks: tuple[int, ...]
) -> None:
    x, weights = _inputs(seed, *shape)
    expected = _torch_causal_attention(x, weights, num_heads)
    outputs, keys, values = grader._decode(x, weights, num_heads, chunks)
    np.testing.assert_allclose(np.concatenate(outputs, axis=1), expected, atol=1e-10)
    np.testing.assert_allclose(
        grader._causal_attention(x, weights, num_heads), expected, atol=1e-10
    )
    np.testing.assert_allclose(keys, _torch_heads(x, weights[1], num_heads), atol=1e-12)
    np.testing.assert_allclose(values, _torch_heads(x, weights[2], num_heads), atol=1e-12)


def test_grader_mistakes_differ_from_the_answer() -> None:
    """Every mistake the grader names changes the rows of its prompt-then-steps case."""
    x, weights = grader._inputs(0, 2, 5, 6)
    right = grader._causal_attention(x, weights, 2)
    for mistake in grader.OUTPUT_MISTAKES:
        outputs, _, _ = grader._decode(x, weights, 2, [3, 1, 1], mistake)
        with np.errstate(invalid="ignore"):
            wrong = np.concatenate(outputs, axis=1)
        assert not np.allclose(wrong, right, rtol=1e-4, atol=1e-6, equal_nan=False), mistake
