"""The `attention` reference against independent oracles: torch.softmax,
torch.nn.functional.scaled_dot_product_attention, torch.nn.MultiheadAttention, plain-Python
`math` for the hand fixtures, and the hand fixtures themselves."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from transformer_kit.graders.fixtures import attention as fixtures
from transformer_kit.solutions import attention as solution

TOL = {"rtol": 1e-10, "atol": 1e-12}


def _random_mask(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """A random bool mask with at least one True in every row (no fully masked rows)."""
    mask = rng.random(shape) < 0.5
    first = rng.integers(shape[-1], size=(*shape[:-1], 1))
    np.put_along_axis(mask, first, True, axis=-1)
    return mask


# ----------------------------------------------------------------------------------------------
# softmax


@pytest.mark.parametrize(
    ("shape", "axis"),
    [((7,), -1), ((3, 5), -1), ((3, 5), 0), ((2, 3, 4), 1), ((2, 3, 4), -1), ((2, 3, 4), 0)],
)
@pytest.mark.parametrize("seed", [0, 1])
def test_softmax_matches_torch(shape: tuple[int, ...], axis: int, seed: int) -> None:
    x = 5.0 * np.random.default_rng(seed).standard_normal(shape)
    expected = torch.softmax(torch.from_numpy(x), dim=axis).numpy()
    np.testing.assert_allclose(solution.softmax(x, axis=axis), expected, **TOL)


def test_softmax_large_inputs_match_torch() -> None:
    x = np.array([[1000.0, 1001.0, 1002.0], [-1000.0, -1001.0, -1002.0], [0.0, 1.0, 2.0]])
    expected = torch.softmax(torch.from_numpy(x), dim=-1).numpy()
    got = solution.softmax(x)
    assert np.isfinite(got).all()
    np.testing.assert_allclose(got, expected, **TOL)
    np.testing.assert_allclose(got[0], got[2], **TOL)


def test_softmax_does_not_modify_its_input() -> None:
    x = np.random.default_rng(3).standard_normal((3, 4))
    before = x.copy()
    solution.softmax(x, axis=0)
    np.testing.assert_array_equal(x, before)


# ----------------------------------------------------------------------------------------------
# causal_mask


@pytest.mark.parametrize("seq_len", [1, 2, 3, 7])
def test_causal_mask_matches_brute_force(seq_len: int) -> None:
    expected = [[j <= i for j in range(seq_len)] for i in range(seq_len)]
    got = solution.causal_mask(seq_len)
    assert got.dtype == np.bool_
    np.testing.assert_array_equal(got, np.array(expected))


def test_causal_mask_is_torch_is_causal() -> None:
    """torch's is_causal=True and our mask give the same attention."""
    rng = np.random.default_rng(4)
    q, k, v = (rng.standard_normal((2, 5, 4)) for _ in range(3))
    expected = torch.nn.functional.scaled_dot_product_attention(
        *(torch.from_numpy(t) for t in (q, k, v)), is_causal=True
    ).numpy()
    output, _ = solution.scaled_dot_product_attention(q, k, v, solution.causal_mask(5))
    np.testing.assert_allclose(output, expected, **TOL)


# ----------------------------------------------------------------------------------------------
# scaled_dot_product_attention


def _torch_sdpa(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """Output from torch's sdpa; weights from the same call with v = identity (S, S)."""
    tq, tk, tv = (torch.from_numpy(t) for t in (q, k, v))
    attn_mask = None if mask is None else torch.from_numpy(mask)  # torch: True = take part
    sdpa = torch.nn.functional.scaled_dot_product_attention
    output = sdpa(tq, tk, tv, attn_mask=attn_mask)
    eye = torch.eye(k.shape[-2], dtype=torch.float64)
    weights = sdpa(tq, tk, eye.expand(*tk.shape[:-1], k.shape[-2]), attn_mask=attn_mask)
    return output.numpy(), weights.numpy()


SDPA_SHAPES = [
    # q, k, v, mask (None: no mask)
    ((3, 4), (5, 4), (5, 2), None),
    ((1, 1), (1, 1), (1, 1), None),
    ((2, 3, 4), (2, 3, 4), (2, 3, 6), (2, 3, 3)),
    ((2, 2, 4, 8), (2, 2, 6, 8), (2, 2, 6, 3), (2, 1, 4, 6)),
    ((3, 2, 5, 4), (3, 2, 5, 4), (3, 2, 5, 4), (5, 5)),
    ((2, 6, 16), (2, 7, 16), (2, 7, 5), (2, 6, 7)),
]


@pytest.mark.parametrize(("q_shape", "k_shape", "v_shape", "mask_shape"), SDPA_SHAPES)
@pytest.mark.parametrize("seed", [0, 1])
def test_sdpa_matches_torch(
    q_shape: tuple[int, ...],
    k_shape: tuple[int, ...],
    v_shape: tuple[int, ...],
    mask_shape: tuple[int, ...] | None,
    seed: int,
) -> None:
    rng = np.random.default_rng(seed)
    q, k, v = (rng.standard_normal(s) for s in (q_shape, k_shape, v_shape))
    mask = None if mask_shape is None else _random_mask(rng, mask_shape)
    expected_output, expected_weights = _torch_sdpa(q, k, v, mask)
    output, weights = solution.scaled_dot_product_attention(q, k, v, mask)
    assert output.shape == (*q_shape[:-1], v_shape[-1])
    assert weights.shape == (*q_shape[:-1], k_shape[-2])
    np.testing.assert_allclose(output, expected_output, **TOL)
    np.testing.assert_allclose(weights, expected_weights, **TOL)
    if mask is not None:
        assert (weights[~np.broadcast_to(mask, weights.shape)] == 0).all()


def test_sdpa_broadcasts_leading_axes_like_torch() -> None:
    rng = np.random.default_rng(5)
    q = rng.standard_normal((2, 1, 3, 4))
    k = rng.standard_normal((1, 2, 5, 4))
    v = rng.standard_normal((1, 2, 5, 3))
    expected_output, expected_weights = _torch_sdpa(q, k, v, None)
    output, weights = solution.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(output, expected_output, **TOL)
    np.testing.assert_allclose(weights, expected_weights, **TOL)


# ----------------------------------------------------------------------------------------------
# multi_head_attention


def _torch_mha(
    x: np.ndarray,
    weights: tuple[np.ndarray, ...],
    num_heads: int,
    mask: np.ndarray | None = None,
    context: np.ndarray | None = None,
) -> np.ndarray:
    """torch.nn.MultiheadAttention with our weights (the contract's oracle)."""
    w_q, w_k, w_v, w_o = weights
    width = x.shape[-1]
    mha = torch.nn.MultiheadAttention(width, num_heads, bias=False, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([w_q.T, w_k.T, w_v.T])))
        mha.out_proj.weight.copy_(torch.from_numpy(w_o.T))
    query = torch.from_numpy(x)
    source = query if context is None else torch.from_numpy(context)
    attn_mask = None
    if mask is not None:  # torch: True = NOT allowed, shape (L, S) or (B * h, L, S)
        batch, seq_len, src_len = x.shape[0], x.shape[1], source.shape[1]
        full = np.broadcast_to(mask, (batch, num_heads, seq_len, src_len))
        attn_mask = torch.from_numpy(~full.reshape(batch * num_heads, seq_len, src_len))
    with torch.no_grad():
        output, _ = mha(query, source, source, attn_mask=attn_mask, need_weights=False)
    return output.numpy()


def _mha_inputs(
    seed: int, batch: int, seq_len: int, width: int, src_len: int | None = None
) -> tuple[np.ndarray, tuple[np.ndarray, ...], np.ndarray | None]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, seq_len, width))
    weights = tuple(rng.standard_normal((width, width)) / np.sqrt(width) for _ in range(4))
    context = None if src_len is None else rng.standard_normal((batch, src_len, width))
    return x, weights, context


# (B, L, D, num_heads)
MHA_SHAPES = [(1, 1, 4, 1), (2, 4, 8, 2), (1, 5, 12, 3), (2, 3, 8, 4), (3, 6, 16, 8), (2, 7, 6, 6)]


@pytest.mark.parametrize(("batch", "seq_len", "width", "num_heads"), MHA_SHAPES)
@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_self_attention_matches_torch(
    batch: int, seq_len: int, width: int, num_heads: int, causal: bool, seed: int
) -> None:
    x, weights, _ = _mha_inputs(seed, batch, seq_len, width)
    mask = solution.causal_mask(seq_len) if causal else None
    got = solution.multi_head_attention(x, *weights, num_heads, mask=mask)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, _torch_mha(x, weights, num_heads, mask), **TOL)


@pytest.mark.parametrize(
    ("batch", "seq_len", "src_len", "width", "num_heads"),
    [(2, 3, 5, 8, 2), (1, 4, 2, 12, 4), (2, 1, 6, 6, 3), (3, 5, 5, 8, 1)],
)
@pytest.mark.parametrize("masked", [False, True])
@pytest.mark.parametrize("seed", [0, 1])
def test_cross_attention_matches_torch(
    batch: int, seq_len: int, src_len: int, width: int, num_heads: int, masked: bool, seed: int
) -> None:
    x, weights, context = _mha_inputs(seed, batch, seq_len, width, src_len)
    mask = None
    if masked:  # a different random mask per batch element and head
        mask = _random_mask(np.random.default_rng(seed + 10), (batch, num_heads, seq_len, src_len))
    got = solution.multi_head_attention(x, *weights, num_heads, mask=mask, context=context)
    assert got.shape == x.shape
    np.testing.assert_allclose(got, _torch_mha(x, weights, num_heads, mask, context), **TOL)


def test_padding_mask_matches_torch_key_padding_mask() -> None:
    x, weights, context = _mha_inputs(7, 2, 3, 8, 5)
    lengths = np.array([3, 4])
    padding = np.arange(5) < lengths[:, None]  # (B, S), True = real token
    w_q, w_k, w_v, w_o = weights
    mha = torch.nn.MultiheadAttention(8, 2, bias=False, batch_first=True).double()
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.from_numpy(np.concatenate([w_q.T, w_k.T, w_v.T])))
        mha.out_proj.weight.copy_(torch.from_numpy(w_o.T))
        source = torch.from_numpy(context)
        expected, _ = mha(
            torch.from_numpy(x), source, source, key_padding_mask=torch.from_numpy(~padding)
        )
    got = solution.multi_head_attention(x, *weights, 2, padding[:, None, None, :], context)
    np.testing.assert_allclose(got, expected.numpy(), **TOL)


def test_context_none_is_self_attention() -> None:
    x, weights, _ = _mha_inputs(8, 2, 4, 8)
    np.testing.assert_array_equal(
        solution.multi_head_attention(x, *weights, 2),
        solution.multi_head_attention(x, *weights, 2, context=x),
    )


@pytest.mark.parametrize(("width", "num_heads"), [(6, 4), (10, 3), (8, 3)])
def test_indivisible_width_raises_value_error(width: int, num_heads: int) -> None:
    x, weights, _ = _mha_inputs(9, 1, 2, width)
    with pytest.raises(ValueError, match="divisible"):
        solution.multi_head_attention(x, *weights, num_heads)


def test_no_future_leakage() -> None:
    x, weights, _ = _mha_inputs(10, 2, 6, 8)
    mask = solution.causal_mask(6)
    base = solution.multi_head_attention(x, *weights, 2, mask=mask)
    changed = x.copy()
    changed[:, 3:] = np.random.default_rng(11).standard_normal(changed[:, 3:].shape)
    after = solution.multi_head_attention(changed, *weights, 2, mask=mask)
    np.testing.assert_allclose(after[:, :3], base[:, :3], **TOL)
    assert not np.allclose(after[:, 3:], base[:, 3:])


def test_mha_does_not_modify_its_inputs() -> None:
    x, weights, context = _mha_inputs(12, 2, 3, 8, 4)
    before = [a.copy() for a in (x, *weights, context)]
    solution.multi_head_attention(x, *weights, 2, context=context)
    for now, then in zip((x, *weights, context), before, strict=True):
        np.testing.assert_array_equal(now, then)


# ----------------------------------------------------------------------------------------------
# the hand fixtures: their arithmetic in plain Python, then against the solution


def _plain_softmax(values: list[float]) -> list[float]:
    top = max(values)
    exps = [math.exp(v - top) for v in values]
    return [e / sum(exps) for e in exps]


def test_fixture_arithmetic_in_plain_python() -> None:
    """Every fixture number from `math` alone (8 significant digits as written)."""
    close = {"rel_tol": 1e-7, "abs_tol": 1e-9}
    for got, want in zip(_plain_softmax([1, 2, 3]), fixtures.SOFTMAX_OUTPUT, strict=True):
        assert math.isclose(got, want, **close)
    for got, want in zip(
        _plain_softmax([-1000, -1001, -1002]), fixtures.SOFTMAX_NEGATIVE_OUTPUT, strict=True
    ):
        assert math.isclose(got, want, **close)
    # sdpa with Q = K = I2: row 0 = softmax([1/sqrt(2), 0])
    a, b = _plain_softmax([1 / math.sqrt(2), 0.0])
    weights = [[a, b], [b, a]]
    output = [[a * 1 + b * 3, a * 2 + b * 4], [b * 1 + a * 3, b * 2 + a * 4]]
    expected = fixtures.SDPA_WEIGHTS + fixtures.SDPA_OUTPUT
    for got_row, want_row in zip(weights + output, expected, strict=True):
        for got, want in zip(got_row, want_row, strict=True):
            assert math.isclose(got, want, **close)
    # the masked case: row 0 = softmax([1, 0]) over keys 0, 1; row 1 = softmax([1, 1]) over 1, 2
    c, d = _plain_softmax([1.0, 0.0])
    assert fixtures.MASKED_WEIGHTS[1] == [0.0, 0.5, 0.5]
    assert fixtures.MASKED_OUTPUT[1] == [0.5, 1.0]
    expected_row = fixtures.MASKED_WEIGHTS[0] + fixtures.MASKED_OUTPUT[0]
    for got, want in zip([c, d, 0.0, c, d], expected_row, strict=True):
        assert math.isclose(got, want, **close)


def test_fixtures_match_solution() -> None:
    rtol = {"rtol": 1e-7, "atol": 1e-9}
    np.testing.assert_allclose(
        solution.softmax(np.array(fixtures.SOFTMAX_INPUT)), fixtures.SOFTMAX_OUTPUT, **rtol
    )
    np.testing.assert_allclose(
        solution.softmax(np.array(fixtures.SOFTMAX_LARGE_INPUT)),
        fixtures.SOFTMAX_LARGE_OUTPUT,
        **rtol,
    )
    np.testing.assert_allclose(
        solution.softmax(np.array(fixtures.SOFTMAX_NEGATIVE_INPUT)),
        fixtures.SOFTMAX_NEGATIVE_OUTPUT,
        **rtol,
    )
    np.testing.assert_array_equal(solution.causal_mask(3), np.array(fixtures.CAUSAL_MASK_3))
    q, k, v = (np.array(a) for a in (fixtures.SDPA_Q, fixtures.SDPA_K, fixtures.SDPA_V))
    output, weights = solution.scaled_dot_product_attention(q, k, v)
    np.testing.assert_allclose(weights, fixtures.SDPA_WEIGHTS, **rtol)
    np.testing.assert_allclose(output, fixtures.SDPA_OUTPUT, **rtol)
    q, k, v = (np.array(a) for a in (fixtures.MASKED_Q, fixtures.MASKED_K, fixtures.MASKED_V))
    output, weights = solution.scaled_dot_product_attention(q, k, v, np.array(fixtures.MASKED_MASK))
    np.testing.assert_allclose(weights, fixtures.MASKED_WEIGHTS, **rtol)
    np.testing.assert_allclose(output, fixtures.MASKED_OUTPUT, **rtol)


def test_fixtures_match_torch() -> None:
    """The sdpa fixtures once more through torch's sdpa (a third, independent computation)."""
    for names, mask in (
        (("SDPA_Q", "SDPA_K", "SDPA_V"), None),
        (("MASKED_Q", "MASKED_K", "MASKED_V"), np.array(fixtures.MASKED_MASK)),
    ):
        q, k, v = (np.array(getattr(fixtures, n)) for n in names)
        output, weights = _torch_sdpa(q, k, v, mask)
        prefix = names[0].split("_")[0]
        np.testing.assert_allclose(output, getattr(fixtures, f"{prefix}_OUTPUT"), rtol=1e-7)
        np.testing.assert_allclose(weights, getattr(fixtures, f"{prefix}_WEIGHTS"), atol=1e-8)
