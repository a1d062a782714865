"""solutions/word2vec.py against independent oracles, and the hand fixtures.

Oracles:
- brute-force pair enumeration: every (i, j) of the sentence, kept when 1 <= |i - j| <= window;
- the noise distribution in plain Python (math, one count at a time);
- torch autograd on the same expressions: `F.logsigmoid` for skip-gram with negative sampling,
  `F.cross_entropy` for the full softmax;
- most_similar by plain cosine loops and Python's sorted(key=(-similarity, index)).
The solution must also stay free of numpy's floating-point warnings at dot products of +-1000.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from transformer_kit.graders import test_word2vec as grader
from transformer_kit.graders.fixtures import word2vec as fixtures
from transformer_kit.solutions import word2vec as solution

# numpy's RuntimeWarnings that the contract counts as failures (underflow to 0 is exact here)
WARNINGS = {"over": "raise", "divide": "raise", "invalid": "raise"}


def _t(value, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(value), dtype=torch.float64, requires_grad=grad)


def _brute_force_pairs(tokens: list[int], window: int) -> list[tuple[int, int]]:
    n = len(tokens)
    return [
        (tokens[i], tokens[j])
        for i, j in itertools.product(range(n), range(n))
        if 1 <= abs(i - j) <= window
    ]


@pytest.mark.parametrize(
    "seed, n, window", [(0, 12, 2), (1, 9, 3), (2, 6, 10), (3, 20, 1), (4, 1, 2)]
)
def test_pairs_are_the_brute_force_enumeration(seed, n, window) -> None:
    tokens = [int(t) for t in np.random.default_rng(seed).integers(0, 6, n)]
    got = solution.skipgram_pairs(tokens, window)
    assert got == _brute_force_pairs(tokens, window)
    assert all(type(a) is int and type(b) is int for a, b in got)


def test_the_named_pair_mistakes_differ_from_the_pairs() -> None:
    tokens = [1, 2, 3, 4, 5, 6]
    right = solution.skipgram_pairs(tokens, 2)
    for name, wrong in grader.pair_mistakes(tokens, 2).items():
        assert wrong != right, name


def test_noise_is_plain_python() -> None:
    counts = [5.0, 0.0, 1.0, 123.0, 7.0]
    for power in (0.75, 0.5, 1.0, 2.0):
        total = sum(c**power for c in counts)
        want = [c**power / total for c in counts]
        np.testing.assert_allclose(solution.noise_distribution(np.array(counts), power), want)


@pytest.mark.parametrize(
    "counts, power", [([1.0, -1.0], 0.75), ([0.0], 0.75), ([], 0.75), ([1.0], 0.0)]
)
def test_noise_rejects(counts, power) -> None:
    with pytest.raises(ValueError):
        solution.noise_distribution(np.array(counts), power)


def _torch_sgns(v, u_c, u_n):
    tv, tc, tn = _t(v, True), _t(u_c, True), _t(u_n, True)
    loss = -F.logsigmoid(tc @ tv) - F.logsigmoid(-(tn @ tv)).sum()
    loss.backward()
    return loss.item(), {"v_center": tv.grad, "u_context": tc.grad, "u_negatives": tn.grad}


@pytest.mark.parametrize("seed, d, k, scale", grader.SGNS_CASES)
def test_sgns_is_autograd(seed, d, k, scale) -> None:
    args = grader.sgns_problem(seed, d, k, scale)
    with np.errstate(**WARNINGS):
        loss, grads = solution.sgns_loss(*args)
    want_loss, want = _torch_sgns(*args)
    assert loss == pytest.approx(want_loss, rel=1e-10, abs=1e-12)
    assert set(grads) == set(want)
    for key, value in want.items():
        np.testing.assert_allclose(grads[key], value.numpy(), rtol=1e-10, atol=1e-12)


def test_sgns_at_a_thousand_is_autograd() -> None:
    v, u_c, u_n = (np.array(a) for a in fixtures.SGNS_LARGE)
    for sign in (1.0, -1.0):
        with np.errstate(**WARNINGS):
            loss, grads = solution.sgns_loss(v, sign * u_c, sign * u_n)
        want_loss, want = _torch_sgns(v, sign * u_c, sign * u_n)
        assert loss == pytest.approx(want_loss, abs=1e-12)
        for key, value in want.items():
            np.testing.assert_allclose(grads[key], value.numpy(), atol=1e-12)


def test_sgns_repeated_negatives_get_a_row_each() -> None:
    v, u_c, u_n = grader.sgns_problem(7, 3, 4, 1.0)
    _, grads = solution.sgns_loss(v, u_c, u_n)
    np.testing.assert_array_equal(grads["u_negatives"][0], grads["u_negatives"][-1])
    assert grads["u_negatives"].shape == (4, 3)


def _torch_softmax(v, context, u_all):
    tv, tu = _t(v, True), _t(u_all, True)
    loss = F.cross_entropy((tu @ tv)[None], torch.tensor([context]))
    loss.backward()
    return loss.item(), {"v_center": tv.grad, "u_all": tu.grad}


@pytest.mark.parametrize("seed, v_size, d, context", [(30, 5, 3, 0), (31, 10, 4, 7), (32, 2, 6, 1)])
def test_softmax_loss_is_autograd(seed, v_size, d, context) -> None:
    rng = np.random.default_rng(seed)
    v, u_all = rng.standard_normal(d), rng.standard_normal((v_size, d))
    for scale in (1.0, 400.0):
        with np.errstate(**WARNINGS):
            loss, grads = solution.softmax_loss(scale * v, context, u_all)
        want_loss, want = _torch_softmax(scale * v, context, u_all)
        assert loss == pytest.approx(want_loss, rel=1e-10, abs=1e-12)
        for key, value in want.items():
            np.testing.assert_allclose(grads[key], value.numpy(), rtol=1e-9, atol=1e-10)


def test_softmax_loss_at_a_thousand() -> None:
    v, u_all = np.ones(1), np.array(fixtures.SOFTMAX_LARGE_U)
    for context, expected in enumerate(fixtures.SOFTMAX_LARGE_LOSSES):
        with np.errstate(**WARNINGS):
            loss, _ = solution.softmax_loss(v, context, u_all)
        assert loss == expected == _torch_softmax(v, context, u_all)[0]


def _cosine_loops(embeddings: np.ndarray, index: int, k: int) -> list[int]:
    rows = [[float(a) for a in row] for row in embeddings]
    norms = [math.sqrt(sum(a * a for a in row)) for row in rows]

    def cosine(j: int) -> float:
        if norms[j] == 0 or norms[index] == 0:
            return 0.0
        return sum(a * b for a, b in zip(rows[j], rows[index], strict=True)) / (
            norms[j] * norms[index]
        )

    others = [j for j in range(len(rows)) if j != index]
    return sorted(others, key=lambda j: (-cosine(j), j))[:k]


@pytest.mark.parametrize(
    "seed, v_size, d, index, k", [(40, 12, 4, 3, 5), (41, 30, 8, 0, 29), (42, 6, 3, 5, 2)]
)
def test_most_similar_is_the_cosine_loops(seed, v_size, d, index, k) -> None:
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((v_size, d)) * rng.uniform(0.1, 10.0, (v_size, 1))
    embeddings[1] = 0.0
    embeddings[2] = embeddings[index]
    got = solution.most_similar(embeddings, index, k)
    assert got == _cosine_loops(embeddings, index, k)
    assert all(type(i) is int for i in got)


def test_the_hand_fixtures_are_the_solutions_values() -> None:
    for (tokens, window), pairs in fixtures.PAIRS:
        assert (
            solution.skipgram_pairs(tokens, window) == pairs == _brute_force_pairs(tokens, window)
        )
    counts = np.array(fixtures.NOISE_COUNTS)
    for power, want in fixtures.NOISE:
        np.testing.assert_allclose(solution.noise_distribution(counts, power), want, rtol=1e-12)
    np.testing.assert_allclose(solution.noise_distribution(counts, 1.0), fixtures.NOISE_LINEAR)
    args = (np.array(fixtures.SGNS_V), np.array(fixtures.SGNS_CONTEXT))
    loss, grads = solution.sgns_loss(*args, np.array(fixtures.SGNS_NEGATIVES))
    assert loss == pytest.approx(fixtures.SGNS_LOSS, rel=1e-12)
    for key, value in fixtures.SGNS_GRADS.items():
        np.testing.assert_allclose(grads[key], value, rtol=1e-12)
    loss, grads = solution.sgns_loss(*(np.array(a) for a in fixtures.SGNS_LARGE))
    assert loss == fixtures.SGNS_LARGE_LOSS
    for key, value in fixtures.SGNS_LARGE_GRADS.items():
        np.testing.assert_allclose(grads[key], value, rtol=1e-12)
    v, u_all = np.array(fixtures.SOFTMAX_V), np.array(fixtures.SOFTMAX_U)
    loss, grads = solution.softmax_loss(v, fixtures.SOFTMAX_CONTEXT, u_all)
    assert loss == pytest.approx(fixtures.SOFTMAX_LOSS, rel=1e-12)
    for key, value in fixtures.SOFTMAX_GRADS.items():
        np.testing.assert_allclose(grads[key], value, rtol=1e-12, atol=1e-15)
    embeddings = np.array(fixtures.EMBEDDINGS, dtype=np.float64)
    for (index, k), want in fixtures.SIMILAR:
        assert solution.most_similar(embeddings, index, k) == want
        assert _cosine_loops(embeddings, index, k) == want
