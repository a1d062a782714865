"""The `backprop` reference against independent oracles: torch autograd in float64, central finite
differences, and the hand-computed fixtures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transformer_kit.graders.fixtures import backprop as fixtures
from transformer_kit.solutions import backprop as solution

KEYS = ("w1", "b1", "w2", "b2")
# (N, D_in, H, D_out): single rows and batches, one output and several, square and not
SHAPES = [(1, 2, 2, 1), (4, 3, 5, 2), (3, 4, 4, 3), (5, 3, 2, 2), (6, 2, 3, 1), (8, 6, 7, 5)]
SEEDS = [0, 1, 2]

Params = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


def _random(seed: int, n: int, d_in: int, hidden: int, d_out: int) -> Params:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_in))
    w1 = rng.standard_normal((d_in, hidden))
    b1 = rng.standard_normal(hidden)
    w2 = rng.standard_normal((hidden, d_out))
    b2 = rng.standard_normal(d_out)
    y = rng.standard_normal((n, d_out))
    return x, y, w1, b1, w2, b2


def _with_zero_row(seed: int, n: int, d_in: int, hidden: int, d_out: int) -> Params:
    """x, w1 small multiples of 1/2 and 1/4 and b1 = -(x[0] @ w1): the first row's pre-activations
    are exactly 0 whatever the order of summation (every partial sum is exact in binary)."""
    _, y, _, _, w2, b2 = _random(seed, n, d_in, hidden, d_out)
    rng = np.random.default_rng(seed + 100)
    x = rng.integers(-4, 5, (n, d_in)) / 2
    w1 = rng.integers(-4, 5, (d_in, hidden)) / 4
    b1 = -(x[0] @ w1)
    return x, y, w1, b1, w2, b2


def _fixture(prefix: str) -> Params:
    names = ("X", "Y", "W1", "B1", "W2", "B2")
    x, y, w1, b1, w2, b2 = (np.array(getattr(fixtures, f"{prefix}_{n}")) for n in names)
    return x, y, w1, b1, w2, b2


def _torch_oracle(params: Params) -> tuple[np.ndarray, float, dict[str, np.ndarray]]:
    """y_hat, loss and gradients from torch autograd, float64."""
    x, y, *weights = (torch.tensor(p, dtype=torch.float64) for p in params)
    for w in weights:
        w.requires_grad_(True)
    w1, b1, w2, b2 = weights
    y_hat = torch.relu(x @ w1 + b1) @ w2 + b2
    loss = torch.nn.functional.mse_loss(y_hat, y)
    loss.backward()
    grads = {key: w.grad.numpy() for key, w in zip(KEYS, weights, strict=True)}
    return y_hat.detach().numpy(), loss.item(), grads


def _forward(params: Params) -> np.ndarray:
    x, _, w1, b1, w2, b2 = params
    return solution.mlp_forward(x, w1, b1, w2, b2)


def _assert_matches_torch(params: Params) -> None:
    want_y_hat, want_loss, want_grads = _torch_oracle(params)
    y_hat = _forward(params)
    np.testing.assert_allclose(y_hat, want_y_hat, rtol=1e-12, atol=1e-12)
    assert solution.mse_loss(y_hat, params[1]) == pytest.approx(want_loss, rel=1e-12, abs=1e-14)
    grads = solution.mlp_backward(*params)
    assert list(grads) == list(KEYS)
    for key in KEYS:
        assert grads[key].shape == want_grads[key].shape, key
        assert grads[key].dtype == np.float64, key
        np.testing.assert_allclose(grads[key], want_grads[key], rtol=1e-10, atol=1e-12, err_msg=key)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_torch_autograd(shape: tuple[int, int, int, int], seed: int) -> None:
    _assert_matches_torch(_random(seed, *shape))


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", SHAPES, ids=str)
def test_matches_torch_autograd_with_zero_preactivations(
    shape: tuple[int, int, int, int], seed: int
) -> None:
    params = _with_zero_row(seed, *shape)
    x, _, w1, b1, _, _ = params
    assert np.all(x[0] @ w1 + b1 == 0.0)
    _assert_matches_torch(params)
    # the case tells relu'(0) = 0 from relu'(0) = 1: a mask z >= 0 would change the b1 gradient
    y, w2 = params[1], params[4]
    d_h = (2.0 * (_forward(params) - y) / y.size) @ w2.T
    assert np.all(d_h[0] != 0.0)


def test_torch_relu_gradient_at_zero_is_zero() -> None:
    """The convention the contract copies: d relu / dz at exactly 0 is 0 in torch."""
    z = torch.tensor([-1.0, 0.0, 1.0], dtype=torch.float64, requires_grad=True)
    torch.relu(z).sum().backward()
    assert z.grad.tolist() == [0.0, 0.0, 1.0]


@pytest.mark.parametrize("prefix", ["NOTES", "ZERO"])
def test_fixtures_match_torch(prefix: str) -> None:
    params = _fixture(prefix)
    y_hat, loss, grads = _torch_oracle(params)
    np.testing.assert_array_equal(y_hat, getattr(fixtures, f"{prefix}_Y_HAT"))
    assert loss == getattr(fixtures, f"{prefix}_LOSS")
    for key in KEYS:
        np.testing.assert_array_equal(grads[key], getattr(fixtures, f"{prefix}_GRAD_{key.upper()}"))


@pytest.mark.parametrize("prefix", ["NOTES", "ZERO"])
def test_fixtures_match_solution(prefix: str) -> None:
    """Every intermediate value written in the fixture file, recomputed (all exact in binary)."""
    params = _fixture(prefix)
    x, y, w1, b1, w2, b2 = params
    value = lambda name: np.array(getattr(fixtures, f"{prefix}_{name}"))  # noqa: E731
    z = x @ w1 + b1
    np.testing.assert_array_equal(z, value("Z"))
    np.testing.assert_array_equal(solution.relu(z), value("H"))
    y_hat = solution.mlp_forward(x, w1, b1, w2, b2)
    np.testing.assert_array_equal(y_hat, value("Y_HAT"))
    assert solution.mse_loss(y_hat, y) == getattr(fixtures, f"{prefix}_LOSS")
    delta = 2.0 * (y_hat - y) / y.size
    np.testing.assert_array_equal(delta, value("DELTA"))
    np.testing.assert_array_equal((delta @ w2.T) * (z > 0), value("GRAD_Z"))
    grads = solution.mlp_backward(*params)
    for key in KEYS:
        np.testing.assert_array_equal(grads[key], value(f"GRAD_{key.upper()}"))


def test_notes_fixture_is_the_contract_example() -> None:
    """The values the contract states for the notes' 2-layer problem."""
    assert fixtures.NOTES_X == [[1, 2]]
    assert fixtures.NOTES_W1 == [[0.5, 0.5], [-0.5, 0.5]]
    assert fixtures.NOTES_B1 == [0, 0]
    assert fixtures.NOTES_W2 == [[1], [1]]
    assert fixtures.NOTES_B2 == [0]
    assert fixtures.NOTES_Y == [[1]]
    assert fixtures.NOTES_Y_HAT == [[1.5]]
    assert fixtures.NOTES_LOSS == 0.25
    assert fixtures.NOTES_GRAD_W1 == [[0, 1], [0, 2]]
    assert fixtures.NOTES_GRAD_B1 == [0, 1]
    assert fixtures.NOTES_GRAD_W2 == [[0], [1.5]]
    assert fixtures.NOTES_GRAD_B2 == [1]


def test_zero_fixture_has_exact_zeros_that_matter() -> None:
    """The zero fixture separates relu'(0) = 0 from relu'(0) = 1: the zeros receive gradient."""
    x, y, w1, b1, w2, b2 = _fixture("ZERO")
    z = x @ w1 + b1
    assert (z == 0).any() and (z < 0).any() and (z > 0).any()
    d_h = (2.0 * (solution.mlp_forward(x, w1, b1, w2, b2) - y) / y.size) @ w2.T
    assert np.all(d_h[z == 0] != 0)
    assert y.shape[0] > 1 and y.shape[1] > 1  # averaging over N only, or not at all, shows


@pytest.mark.parametrize("seed", SEEDS)
def test_matches_central_finite_differences(seed: int) -> None:
    params = _random(seed, 4, 3, 5, 2)
    grads = solution.mlp_backward(*params)
    eps = 1e-6

    def loss(p: Params) -> float:
        x, y, w1, b1, w2, b2 = p
        return solution.mse_loss(solution.mlp_forward(x, w1, b1, w2, b2), y)

    for index, key in enumerate(KEYS, start=2):
        numeric = np.zeros_like(params[index])
        for pos in np.ndindex(params[index].shape):
            plus, minus = list(params), list(params)
            plus[index] = params[index].copy()
            minus[index] = params[index].copy()
            plus[index][pos] += eps
            minus[index][pos] -= eps
            numeric[pos] = (loss(tuple(plus)) - loss(tuple(minus))) / (2 * eps)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-5, atol=1e-8, err_msg=key)


def test_relu_matches_torch() -> None:
    z = np.random.default_rng(3).standard_normal((3, 4, 5))
    z[0, 0, :2] = 0.0
    np.testing.assert_array_equal(solution.relu(z), torch.relu(torch.tensor(z)).numpy())


def test_inputs_are_not_modified() -> None:
    params = _with_zero_row(5, 3, 4, 2, 2)
    copies = [p.copy() for p in params]
    x, y, w1, b1, w2, b2 = params
    solution.relu(x)
    solution.mse_loss(solution.mlp_forward(x, w1, b1, w2, b2), y)
    solution.mlp_backward(*params)
    for before, after in zip(copies, params, strict=True):
        np.testing.assert_array_equal(before, after)
