"""The `additive_attention` reference against independent oracles: explicit loops over b and s in
plain Python with a stable softmax (masked scores at -inf), torch's scaled_dot_product_attention
with scale=1 for Luong's dot score (its boolean attn_mask means "may attend", as here), and the hand
fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from transformer_kit.graders.fixtures import additive_attention as fixtures
from transformer_kit.solutions import additive_attention as solution

# (seed, B, S, Dq, Dk, Dv, A, keep): masks that remove most keys (keep 0.2), none at all, S = 1
SHAPES = [
    (0, 2, 5, 3, 4, 2, 6, None),
    (1, 3, 7, 4, 4, 3, 4, 0.5),
    (2, 4, 9, 2, 5, 1, 3, 0.2),
    (3, 2, 1, 3, 2, 4, 5, None),
    (4, 5, 12, 6, 3, 2, 7, 0.2),
]


def _inputs(seed: int, batch: int, length: int, dq: int, dk: int, dv: int, hidden: int, keep):
    rng = np.random.default_rng(seed)
    query = rng.standard_normal((batch, dq))
    keys = rng.standard_normal((batch, length, dk))
    values = rng.standard_normal((batch, length, dv))
    w_q = rng.standard_normal((dq, hidden))
    w_k = rng.standard_normal((dk, hidden))
    v = rng.standard_normal(hidden)
    w = rng.standard_normal((dq, dk))
    mask = None
    if keep is not None:
        mask = rng.random((batch, length)) < keep
        mask[np.arange(batch), rng.integers(0, length, batch)] = True
    return query, keys, values, w_q, w_k, v, w, mask


def _loop_softmax_context(scores: list[list[float]], values, mask):
    """Per example: masked scores at -inf, minus the row's max, exp, normalise; weighted sum."""
    contexts, weights = [], []
    for b, row in enumerate(scores):
        row = [s if mask is None or mask[b][j] else -math.inf for j, s in enumerate(row)]
        top = max(row)
        e = [0.0 if s == -math.inf else math.exp(s - top) for s in row]
        total = sum(e)
        weights.append([x / total for x in e])
        dims = len(values[b][0])
        contexts.append(
            [sum(weights[b][j] * values[b][j][d] for j in range(len(row))) for d in range(dims)]
        )
    return np.array(contexts), np.array(weights)


def _loop_additive(query, keys, values, w_q, w_k, v, mask):
    scores = []
    for b in range(len(query)):
        row = []
        for s in range(len(keys[b])):
            total = 0.0
            for a in range(len(v)):
                q_part = sum(query[b][i] * w_q[i][a] for i in range(len(query[b])))
                k_part = sum(keys[b][s][i] * w_k[i][a] for i in range(len(keys[b][s])))
                total += v[a] * math.tanh(q_part + k_part)
            row.append(total)
        scores.append(row)
    return _loop_softmax_context(scores, values, mask)


def _loop_luong(query, keys, values, w, mask):
    """w None is the dot score, else query @ w @ key."""
    scores = []
    for b in range(len(query)):
        q = query[b]
        if w is not None:
            q = [sum(query[b][i] * w[i][k] for i in range(len(q))) for k in range(len(w[0]))]
        scores.append([sum(x * y for x, y in zip(q, key, strict=True)) for key in keys[b]])
    return _loop_softmax_context(scores, values, mask)


def _close(got, want) -> None:
    for g, e in zip(got, want, strict=True):
        assert g.shape == e.shape
        np.testing.assert_allclose(g, e, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed, batch, length, dq, dk, dv, hidden, keep", SHAPES)
def test_additive_matches_loops(seed, batch, length, dq, dk, dv, hidden, keep) -> None:
    query, keys, values, w_q, w_k, v, _, mask = _inputs(
        seed, batch, length, dq, dk, dv, hidden, keep
    )
    got = solution.additive_attention(query, keys, values, w_q, w_k, v, mask=mask)
    _close(got, _loop_additive(query, keys, values, w_q, w_k, v, mask))
    if mask is not None:
        assert np.all(got[1][~mask] == 0.0)


@pytest.mark.parametrize("seed, batch, length, dq, dk, dv, hidden, keep", SHAPES)
def test_luong_matches_loops(seed, batch, length, dq, dk, dv, hidden, keep) -> None:
    query, keys, values, _, _, _, w, mask = _inputs(seed, batch, length, dq, dk, dv, hidden, keep)
    got = solution.luong_attention(query, keys, values, "general", w, mask=mask)
    _close(got, _loop_luong(query, keys, values, w, mask))
    square = keys[..., :dq] if dk >= dq else np.pad(keys, ((0, 0), (0, 0), (0, dq - dk)))
    got = solution.luong_attention(query, square, values, mask=mask)
    _close(got, _loop_luong(query, square, values, None, mask))


def test_scores_of_1000_stay_exact_without_warnings() -> None:
    """Scores near +-1000: the loops' and the reference's weights agree, with no RuntimeWarning."""
    query, keys, values, w_q, w_k, v, _, mask = _inputs(5, 3, 6, 4, 4, 2, 5, 0.5)
    v = 1000.0 * v / np.abs(v).sum()
    w_q, w_k = 50.0 * w_q, 50.0 * w_k
    q_dot = 1000.0 * query / np.abs(query).sum(axis=-1, keepdims=True)
    with np.errstate(over="raise", divide="raise", invalid="raise"):  # numpy's RuntimeWarnings
        additive = solution.additive_attention(query, keys, values, w_q, w_k, v, mask=mask)
        dot = solution.luong_attention(q_dot, np.sign(keys), values, mask=mask)
    _close(additive, _loop_additive(query, keys, values, w_q, w_k, v, mask))
    _close(dot, _loop_luong(q_dot, np.sign(keys), values, None, mask))
    assert np.abs(np.einsum("bk,bsk->bs", q_dot, np.sign(keys))).max() > 500


@pytest.mark.parametrize("seed, batch, length, dq, dk, dv, hidden, keep", SHAPES[1:3])
def test_luong_dot_is_torch_sdpa_without_scaling(seed, batch, length, dq, dk, dv, hidden, keep):
    """torch's scaled_dot_product_attention with scale=1 and attn_mask = mask (True = attend)."""
    query, keys, values, *_, mask = _inputs(seed, batch, length, dk, dk, dv, hidden, keep)
    context, _ = solution.luong_attention(query, keys, values, mask=mask)
    want = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(query)[:, None, :],
        torch.tensor(keys),
        torch.tensor(values),
        attn_mask=torch.tensor(mask)[:, None, :],
        scale=1.0,
    )[:, 0]
    np.testing.assert_allclose(context, want.numpy(), rtol=1e-10, atol=1e-12)


def test_hand_fixtures_are_the_solutions_values() -> None:
    f = fixtures
    add = [
        np.array(a) for a in (f.ADD_QUERY, f.ADD_KEYS, f.ADD_VALUES, f.ADD_W_Q, f.ADD_W_K, f.ADD_V)
    ]
    want = (np.array(f.ADD_CONTEXT), np.array(f.ADD_WEIGHTS))
    _close(solution.additive_attention(*add, mask=np.array(f.ADD_MASK)), want)
    _close(_loop_additive(*add, np.array(f.ADD_MASK)), want)
    dot = [np.array(a) for a in (f.DOT_QUERY, f.DOT_KEYS, f.DOT_VALUES)]
    want = (np.array(f.DOT_CONTEXT), np.array(f.DOT_WEIGHTS))
    _close(solution.luong_attention(*dot, mask=np.array(f.DOT_MASK)), want)
    general = [np.array(a) for a in (f.GENERAL_QUERY, f.GENERAL_KEYS, f.GENERAL_VALUES)]
    want = (np.array(f.GENERAL_CONTEXT), np.array(f.GENERAL_WEIGHTS))
    _close(solution.luong_attention(*general, "general", np.array(f.GENERAL_W)), want)
    _close(_loop_luong(*general, f.GENERAL_W, None), want)


@pytest.mark.parametrize(
    "kwargs, named",
    [
        ({"score": "dot"}, ("Dq=3", "Dk=5")),
        ({"score": "general"}, ("None",)),
        ({"score": "general", "w": np.ones((2, 4))}, ("(2, 4)", "(3, 5)")),
        ({"score": "concat"}, ("concat",)),
    ],
)
def test_luong_value_errors_name_the_values(kwargs, named) -> None:
    query, keys, values, *_ = _inputs(6, 2, 4, 3, 5, 2, 3, None)
    with pytest.raises(ValueError) as error:
        solution.luong_attention(query, keys, values, **kwargs)
    assert all(text in str(error.value) for text in named), str(error.value)
