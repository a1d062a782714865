"""The `flash_attention` reference against independent oracles:
torch.nn.functional.scaled_dot_product_attention (is_causal for the causal mask), the attention
exercise's reference scaled_dot_product_attention, torch.logsumexp of the scaled (masked) scores,
plain-Python `math` for the hand fixtures, and the hand fixtures themselves."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from transformer_kit.graders.fixtures import flash_attention as fixtures
from transformer_kit.solutions import attention
from transformer_kit.solutions import flash_attention as solution

TOL = {"rtol": 1e-10, "atol": 1e-12}

CASES = [
    # seed, q shape, k shape, v shape, block_size, causal
    (0, (5, 4), (7, 4), (7, 3), 3, False),
    (1, (2, 3, 6, 8), (2, 3, 10, 8), (2, 3, 10, 5), 4, False),
    (2, (3, 6, 4), (1, 9, 4), (1, 9, 2), 2, False),
    (3, (4, 4), (6, 4), (6, 4), 64, False),
    (4, (7, 4), (7, 4), (7, 3), 3, True),
    (5, (2, 9, 4), (2, 9, 4), (2, 9, 4), 4, True),
    (6, (6, 4), (6, 4), (6, 2), 1, True),
    (7, (2, 33, 16), (2, 33, 16), (2, 33, 8), 8, True),
    (8, (5, 3), (130, 3), (130, 2), 64, False),
]


def _torch_oracle(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, causal: bool
) -> tuple[np.ndarray, np.ndarray]:
    """torch's attention output and torch.logsumexp of its scaled, masked scores."""
    tq, tk, tv = (torch.from_numpy(t) for t in (q, k, v))
    lead = torch.broadcast_shapes(tq.shape[:-2], tk.shape[:-2], tv.shape[:-2])
    tq, tk, tv = (t.expand(*lead, *t.shape[-2:]) for t in (tq, tk, tv))
    output = F.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
    scores = tq @ tk.transpose(-1, -2) / math.sqrt(q.shape[-1])
    if causal:
        keep = torch.ones(scores.shape[-2:], dtype=torch.bool).tril()
        scores = scores.masked_fill(~keep, float("-inf"))
    return output.numpy(), torch.logsumexp(scores, dim=-1).numpy()


@pytest.mark.parametrize(("seed", "q_shape", "k_shape", "v_shape", "block", "causal"), CASES)
def test_matches_torch(seed, q_shape, k_shape, v_shape, block, causal) -> None:
    rng = np.random.default_rng(seed)
    q, k, v = (rng.normal(size=s) for s in (q_shape, k_shape, v_shape))
    output, lse = solution.flash_attention(q, k, v, block_size=block, causal=causal)
    want_output, want_lse = _torch_oracle(q, k, v, causal)
    np.testing.assert_allclose(output, want_output, **TOL)
    np.testing.assert_allclose(lse, want_lse, **TOL)


@pytest.mark.parametrize(("seed", "q_shape", "k_shape", "v_shape", "block", "causal"), CASES)
def test_matches_the_attention_reference(seed, q_shape, k_shape, v_shape, block, causal) -> None:
    rng = np.random.default_rng(seed)
    q, k, v = (rng.normal(size=s) for s in (q_shape, k_shape, v_shape))
    mask = attention.causal_mask(q_shape[-2]) if causal else None
    want, _ = attention.scaled_dot_product_attention(q, k, v, mask)
    output, _ = solution.flash_attention(q, k, v, block_size=block, causal=causal)
    np.testing.assert_allclose(output, want, **TOL)


def test_the_default_block_size_is_64() -> None:
    rng = np.random.default_rng(9)
    q, k, v = rng.normal(size=(4, 3)), rng.normal(size=(200, 3)), rng.normal(size=(200, 2))
    default = solution.flash_attention(q, k, v)
    explicit = solution.flash_attention(q, k, v, block_size=64)
    for got, want in zip(default, explicit, strict=True):
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("kind", ["large", "negative"])
def test_extreme_scores_match_torch(kind: str) -> None:
    """The grader's extreme inputs (scores near +-1000): finite, and equal to torch's."""
    rng = np.random.default_rng(30)
    if kind == "large":
        q, k = 15 * rng.normal(size=(4, 4)), 15 * rng.normal(size=(9, 4))
    else:
        q, k = -40 + 0.1 * rng.normal(size=(4, 4)), 25 + 0.1 * rng.normal(size=(9, 4))
    v = rng.normal(size=(9, 3))
    output, lse = solution.flash_attention(q, k, v, block_size=3)
    want_output, want_lse = _torch_oracle(q, k, v, False)
    assert np.isfinite(output).all() and np.isfinite(lse).all()
    np.testing.assert_allclose(output, want_output, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(lse, want_lse, rtol=1e-12, atol=1e-9)


# ----------------------------------------------------------------------------------------------
# merge_softmax_stats against torch.logsumexp of the union


@pytest.mark.parametrize(("seed", "spread"), [(0, 1.0), (1, 30.0), (2, 1000.0)])
def test_merge_matches_logsumexp_of_the_union(seed: int, spread: float) -> None:
    rng = np.random.default_rng(seed)
    a, b = spread * rng.normal(size=(6, 5)), spread * rng.normal(size=(6, 3))

    def stats(s: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        m = s.max(axis=-1)
        return m, np.exp(s - m[:, None]).sum(axis=-1)

    m, l = solution.merge_softmax_stats(*stats(a), *stats(b))  # noqa: E741
    union = torch.from_numpy(np.concatenate([a, b], axis=-1))
    np.testing.assert_allclose(m, union.amax(dim=-1).numpy(), **TOL)
    np.testing.assert_allclose(m + np.log(l), torch.logsumexp(union, dim=-1).numpy(), **TOL)


# ----------------------------------------------------------------------------------------------
# Hand fixtures: plain-Python math, torch, and the reference


def test_merge_fixture() -> None:
    assert math.isclose(fixtures.MERGE_L[0], 2 * math.exp(1 - 3) + 1, rel_tol=1e-7)
    args = (fixtures.MERGE_M1, fixtures.MERGE_L1, fixtures.MERGE_M2, fixtures.MERGE_L2)
    m, l = solution.merge_softmax_stats(*(np.array(a) for a in args))  # noqa: E741
    np.testing.assert_allclose(m, fixtures.MERGE_M, rtol=1e-7)
    np.testing.assert_allclose(l, fixtures.MERGE_L, rtol=1e-7)
    # row 0 against the scores themselves: A = {1, 1} (max 1, sum 2), B = {3} (max 3, sum 1)
    union = torch.tensor([1.0, 1.0, 3.0], dtype=torch.float64)
    assert math.isclose(3 + math.log(fixtures.MERGE_L[0]), torch.logsumexp(union, 0).item(),
                        rel_tol=1e-7)  # fmt: skip


def test_one_query_fixture() -> None:
    e = math.e
    z = e**-1 + 1 + e
    math_output = [(e**-1 + e) / z, (1 + e) / z]
    np.testing.assert_allclose(fixtures.ONE_OUTPUT[0], math_output, rtol=1e-7)
    assert math.isclose(fixtures.ONE_LSE[0], math.log(z), rel_tol=1e-7)
    q, k, v = (np.array(a) for a in (fixtures.ONE_Q, fixtures.ONE_K, fixtures.ONE_V))
    want_output, want_lse = _torch_oracle(q, k, v, False)
    np.testing.assert_allclose(fixtures.ONE_OUTPUT, want_output, rtol=1e-7)
    np.testing.assert_allclose(fixtures.ONE_LSE, want_lse, rtol=1e-7)
    output, lse = solution.flash_attention(q, k, v, block_size=fixtures.ONE_BLOCK)
    np.testing.assert_allclose(output, fixtures.ONE_OUTPUT, rtol=1e-7)
    np.testing.assert_allclose(lse, fixtures.ONE_LSE, rtol=1e-7)


def test_causal_fixture() -> None:
    e = math.e
    np.testing.assert_allclose(
        fixtures.CAUSAL_OUTPUT, [[2, 0], [2 / (1 + e**4), 2 * e**4 / (1 + e**4)]], rtol=1e-7
    )
    np.testing.assert_allclose(fixtures.CAUSAL_LSE, [1, math.log(e**2 + e**6)], rtol=1e-7)
    q, k, v = (np.array(a) for a in (fixtures.CAUSAL_Q, fixtures.CAUSAL_K, fixtures.CAUSAL_V))
    want_output, want_lse = _torch_oracle(q, k, v, True)
    np.testing.assert_allclose(fixtures.CAUSAL_OUTPUT, want_output, rtol=1e-7)
    np.testing.assert_allclose(fixtures.CAUSAL_LSE, want_lse, rtol=1e-7)
    output, lse = solution.flash_attention(q, k, v, fixtures.CAUSAL_BLOCK, causal=True)
    np.testing.assert_allclose(output, fixtures.CAUSAL_OUTPUT, rtol=1e-7)
    np.testing.assert_allclose(lse, fixtures.CAUSAL_LSE, rtol=1e-7)


# ----------------------------------------------------------------------------------------------
# Error cases


@pytest.mark.parametrize("block_size", [0, -1])
def test_rejects_block_size(block_size: int) -> None:
    x = np.zeros((3, 2))
    with pytest.raises(ValueError, match="block_size"):
        solution.flash_attention(x, x, x, block_size=block_size)


def test_causal_rejects_unequal_lengths() -> None:
    with pytest.raises(ValueError, match="L=3 and S=5"):
        solution.flash_attention(np.zeros((3, 2)), np.zeros((5, 2)), np.zeros((5, 2)), causal=True)


def test_does_not_modify_inputs() -> None:
    rng = np.random.default_rng(3)
    q, k, v = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=(6, 2))
    copies = [t.copy() for t in (q, k, v)]
    solution.flash_attention(q, k, v, block_size=4, causal=True)
    for before, after in zip(copies, (q, k, v), strict=True):
        np.testing.assert_array_equal(before, after)
