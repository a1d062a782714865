"""The `normalization` reference against independent oracles: torch (`F.layer_norm`, `nn.RMSNorm`
with eps given, `nn.BatchNorm1d` in train and eval mode with its running buffers, autograd for the
backward pass, all float64), the formulas evaluated in plain Python (math, loops), central finite
differences, and the hand-computed fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from transformer_kit.graders.fixtures import normalization as fixtures
from transformer_kit.solutions import normalization as solution

# shapes (..., D): one row, a batch, a batch of sequences, four axes; D = 1 too (x_hat = 0)
LN_SHAPES = [(5,), (1, 4), (3, 6), (2, 3, 4), (2, 2, 3, 8), (4, 1)]
BN_SHAPES = [(2, 3), (4, 1), (5, 4), (16, 7), (3, 3)]  # (N, C), N = 2 the smallest allowed
SEEDS = [0, 1, 2]
EPSILONS = [1e-5, 1e-3, 0.5]


def _t(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def _rows(seed: int, shape: tuple[int, ...], *, tiny: bool = False) -> np.ndarray:
    """Rows with their own offset and spread; with `tiny`, the first row's variance is ~1e-7."""
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, (*shape[:-1], 1)) + rng.uniform(0.5, 3, (*shape[:-1], 1)) * (
        rng.standard_normal(shape)
    )
    if tiny:
        flat = x.reshape(-1, shape[-1])
        flat[0] = 0.75 + 3e-4 * rng.standard_normal(shape[-1])
    return x


def _params(seed: int, d: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed + 1000)
    return rng.standard_normal(d), rng.standard_normal(d)


# --- plain-Python formulas -----------------------------------------------------------------------


def _python_layer_norm(row: list[float], gamma: list[float], beta: list[float], eps: float):
    d = len(row)
    mean = math.fsum(row) / d
    var = math.fsum((v - mean) ** 2 for v in row) / d
    return [
        (v - mean) / math.sqrt(var + eps) * g + b for v, g, b in zip(row, gamma, beta, strict=True)
    ]


def _python_rms_norm(row: list[float], gamma: list[float], eps: float) -> list[float]:
    rms = math.sqrt(math.fsum(v * v for v in row) / len(row) + eps)
    return [v / rms * g for v, g in zip(row, gamma, strict=True)]


# --- layer_norm -----------------------------------------------------------------------------------


@pytest.mark.parametrize("eps", EPSILONS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", LN_SHAPES, ids=str)
def test_layer_norm_matches_torch(shape: tuple[int, ...], seed: int, eps: float) -> None:
    x = _rows(seed, shape, tiny=True)
    gamma, beta = _params(seed, shape[-1])
    want = F.layer_norm(_t(x), (shape[-1],), _t(gamma), _t(beta), eps).numpy()
    got = solution.layer_norm(x, gamma, beta, eps)
    assert got.shape == shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)


def test_layer_norm_default_eps_is_torchs() -> None:
    x = _rows(3, (3, 4), tiny=True)
    gamma, beta = _params(3, 4)
    want = F.layer_norm(_t(x), (4,), _t(gamma), _t(beta)).numpy()  # torch's default eps = 1e-5
    np.testing.assert_allclose(solution.layer_norm(x, gamma, beta), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_layer_norm_matches_plain_python(seed: int) -> None:
    x = _rows(seed, (4, 5), tiny=True)
    gamma, beta = _params(seed, 5)
    want = [_python_layer_norm(r, gamma.tolist(), beta.tolist(), 1e-5) for r in x.tolist()]
    np.testing.assert_allclose(solution.layer_norm(x, gamma, beta), want, rtol=1e-10, atol=1e-12)


def test_tiny_variance_row_separates_eps_placements() -> None:
    """The grader's tiny-variance row: eps inside the root differs from eps outside by far more
    than the tolerance, and the fixture's closed form is torch's value."""
    x = np.array(fixtures.TINY_X)
    ones, zeros = np.ones(4), np.zeros(4)
    inside = F.layer_norm(_t(x), (4,), eps=1e-5).numpy()
    np.testing.assert_allclose(np.abs(inside), fixtures.TINY_X_HAT_VALUE, rtol=1e-9)
    centred = x - x.mean(axis=-1, keepdims=True)
    outside = centred / (np.sqrt((centred**2).mean(axis=-1, keepdims=True)) + 1e-5)
    assert np.abs(outside - inside).min() > 0.5
    np.testing.assert_allclose(solution.layer_norm(x, ones, zeros), inside, rtol=1e-10)


# --- rms_norm -------------------------------------------------------------------------------------


def _torch_rms_norm(x: np.ndarray, gamma: np.ndarray, eps: float | None) -> np.ndarray:
    norm = torch.nn.RMSNorm(x.shape[-1], eps=eps, dtype=torch.float64)
    with torch.no_grad():
        norm.weight.copy_(_t(gamma))
        return norm(_t(x)).numpy()


@pytest.mark.parametrize("eps", [1e-6, 1e-3, 1.0])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", LN_SHAPES, ids=str)
def test_rms_norm_matches_torch(shape: tuple[int, ...], seed: int, eps: float) -> None:
    x = _rows(seed, shape, tiny=True)
    gamma, _ = _params(seed, shape[-1])
    got = solution.rms_norm(x, gamma, eps)
    assert got.shape == shape and got.dtype == np.float64
    np.testing.assert_allclose(got, _torch_rms_norm(x, gamma, eps), rtol=1e-10, atol=1e-12)


def test_rms_norm_default_eps_is_llamas_not_torchs() -> None:
    """The contract's default 1e-6 is given to torch explicitly; torch's own default (machine
    epsilon) gives a different answer on the grader's tiny row, which the grader names."""
    x, gamma = np.array(fixtures.RMS_TINY_X), np.array(fixtures.RMS_TINY_GAMMA)
    got = solution.rms_norm(x, gamma)
    np.testing.assert_allclose(got, _torch_rms_norm(x, gamma, 1e-6), rtol=1e-10)
    np.testing.assert_allclose(got, fixtures.RMS_TINY_Y, rtol=1e-12)
    torch_default = _torch_rms_norm(x, gamma, None)
    assert not np.allclose(torch_default, got, rtol=1e-2)


@pytest.mark.parametrize("seed", SEEDS)
def test_rms_norm_matches_plain_python(seed: int) -> None:
    x = _rows(seed, (3, 6), tiny=True)
    gamma, _ = _params(seed, 6)
    want = [_python_rms_norm(r, gamma.tolist(), 1e-6) for r in x.tolist()]
    np.testing.assert_allclose(solution.rms_norm(x, gamma), want, rtol=1e-10, atol=1e-12)


# --- layer_norm_backward --------------------------------------------------------------------------


def _autograd(x: np.ndarray, dy: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float):
    xt, gt, bt = (_t(a).requires_grad_(True) for a in (x, gamma, beta))
    y = F.layer_norm(xt, (x.shape[-1],), gt, bt, eps)
    (y * _t(dy)).sum().backward()
    return {"x": xt.grad.numpy(), "gamma": gt.grad.numpy(), "beta": bt.grad.numpy()}


@pytest.mark.parametrize("eps", EPSILONS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", LN_SHAPES, ids=str)
def test_layer_norm_backward_matches_autograd(
    shape: tuple[int, ...], seed: int, eps: float
) -> None:
    x = _rows(seed, shape, tiny=True)
    gamma, beta = _params(seed, shape[-1])
    dy = np.random.default_rng(seed + 2000).standard_normal(shape)
    want = _autograd(x, dy, gamma, beta, eps)
    got = solution.layer_norm_backward(x, dy, gamma, eps)
    assert list(got) == ["x", "gamma", "beta"]
    for key in got:
        assert got[key].shape == want[key].shape, key
        assert got[key].dtype == np.float64, key
        # the tiny-variance row has 1 / std ~ 300, so scale the absolute tolerance with it
        np.testing.assert_allclose(got[key], want[key], rtol=1e-8, atol=1e-9, err_msg=key)


def test_layer_norm_backward_default_eps() -> None:
    x = _rows(4, (3, 5), tiny=True)
    gamma, beta = _params(4, 5)
    dy = np.random.default_rng(4).standard_normal((3, 5))
    want = _autograd(x, dy, gamma, beta, 1e-5)
    got = solution.layer_norm_backward(x, dy, gamma)
    for key in want:
        np.testing.assert_allclose(got[key], want[key], rtol=1e-8, atol=1e-9, err_msg=key)


@pytest.mark.parametrize("seed", SEEDS)
def test_layer_norm_backward_matches_finite_differences(seed: int) -> None:
    x = _rows(seed, (2, 4))
    gamma, beta = _params(seed, 4)
    dy = np.random.default_rng(seed).standard_normal((2, 4))
    got = solution.layer_norm_backward(x, dy, gamma, 1e-3)
    step = 1e-6

    def loss(arrays: dict[str, np.ndarray]) -> float:
        y = solution.layer_norm(arrays["x"], arrays["gamma"], arrays["beta"], 1e-3)
        return math.fsum((dy * y).ravel())

    inputs = {"x": x, "gamma": gamma, "beta": beta}
    for key, value in inputs.items():
        numeric = np.zeros_like(value)
        for pos in np.ndindex(value.shape):
            plus, minus = value.copy(), value.copy()
            plus[pos] += step
            minus[pos] -= step
            numeric[pos] = (loss({**inputs, key: plus}) - loss({**inputs, key: minus})) / (2 * step)
        np.testing.assert_allclose(got[key], numeric, rtol=1e-5, atol=1e-7, err_msg=key)


# --- batch_norm_train and batch_norm_eval ---------------------------------------------------------


def _bn_inputs(seed: int, n: int, c: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2, 2, c) + rng.uniform(0.5, 3, c) * rng.standard_normal((n, c))
    x[:, 0] = 0.5 + 3e-4 * rng.standard_normal(n)  # a channel of tiny variance
    return (
        x,
        rng.standard_normal(c),
        rng.standard_normal(c),
        rng.standard_normal(c),
        rng.uniform(0.5, 2, c),
    )


def _torch_batch_norm(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    momentum: float,
    eps: float,
    *,
    train: bool,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """nn.BatchNorm1d with the given parameters and buffers; y and the buffers afterwards."""
    layer = torch.nn.BatchNorm1d(x.shape[1], eps=eps, momentum=momentum, dtype=torch.float64)
    with torch.no_grad():
        layer.weight.copy_(_t(gamma))
        layer.bias.copy_(_t(beta))
        layer.running_mean.copy_(_t(running_mean))
        layer.running_var.copy_(_t(running_var))
    layer.train(train)
    with torch.no_grad():
        y = layer(_t(x))
    return y.numpy(), layer.running_mean.numpy().copy(), layer.running_var.numpy().copy()


@pytest.mark.parametrize("momentum, eps", [(0.1, 1e-5), (0.3, 1e-3), (0.01, 0.5), (1.0, 1e-5)])
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", BN_SHAPES, ids=str)
def test_batch_norm_train_matches_torch(
    shape: tuple[int, int], seed: int, momentum: float, eps: float
) -> None:
    args = _bn_inputs(seed, *shape)
    want = _torch_batch_norm(*args, momentum, eps, train=True)
    got = solution.batch_norm_train(*args, momentum=momentum, eps=eps)
    assert isinstance(got, tuple) and len(got) == 3
    for name, g, w in zip(("y", "running_mean", "running_var"), got, want, strict=True):
        assert g.shape == w.shape, name
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12, err_msg=name)


def test_batch_norm_train_defaults_are_torchs() -> None:
    args = _bn_inputs(5, 6, 3)
    layer = torch.nn.BatchNorm1d(3)
    assert (layer.momentum, layer.eps) == (0.1, 1e-5)
    want = _torch_batch_norm(*args, 0.1, 1e-5, train=True)
    for g, w in zip(solution.batch_norm_train(*args), want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-10, atol=1e-12)


def test_batch_norm_running_var_is_unbiased_as_torch() -> None:
    """With momentum 1 the new running statistics are the batch's: torch's variance is the
    unbiased one (the contract's convention), its normalisation the biased one."""
    x, gamma, beta, running_mean, running_var = _bn_inputs(6, 4, 3)
    y, new_mean, new_var = _torch_batch_norm(
        x, np.ones(3), np.zeros(3), running_mean, running_var, 1.0, 1e-5, train=True
    )
    np.testing.assert_allclose(new_var, x.var(axis=0, ddof=1), rtol=1e-12)
    np.testing.assert_allclose(new_mean, x.mean(axis=0), rtol=1e-12)
    np.testing.assert_allclose(y, (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5), rtol=1e-10)
    got = solution.batch_norm_train(x, gamma, beta, running_mean, running_var, momentum=1.0)
    np.testing.assert_allclose(got[2], new_var, rtol=1e-12)


def test_batch_norm_one_example_raises_as_torch() -> None:
    args = _bn_inputs(7, 1, 3)
    with pytest.raises(ValueError, match="1"):
        _torch_batch_norm(*args, 0.1, 1e-5, train=True)
    with pytest.raises(ValueError, match=r"N = 1"):
        solution.batch_norm_train(*args)
    # eval mode takes one example
    want = _torch_batch_norm(*args, 0.1, 1e-5, train=False)[0]
    np.testing.assert_allclose(solution.batch_norm_eval(*args), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("eps", EPSILONS)
@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", [*BN_SHAPES, (1, 4)], ids=str)
def test_batch_norm_eval_matches_torch(shape: tuple[int, int], seed: int, eps: float) -> None:
    args = _bn_inputs(seed, *shape)
    y, new_mean, new_var = _torch_batch_norm(*args, 0.1, eps, train=False)
    np.testing.assert_array_equal(new_mean, args[3])  # eval mode updates nothing
    np.testing.assert_array_equal(new_var, args[4])
    got = solution.batch_norm_eval(*args, eps=eps)
    assert got.shape == shape
    np.testing.assert_allclose(got, y, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("seed", SEEDS)
def test_batch_norm_matches_plain_python(seed: int) -> None:
    x, gamma, beta, running_mean, running_var = _bn_inputs(seed, 5, 3)
    momentum, eps = 0.2, 1e-5
    y, new_mean, new_var = solution.batch_norm_train(
        x, gamma, beta, running_mean, running_var, momentum, eps
    )
    for j, column in enumerate(x.T.tolist()):
        n = len(column)
        mean = math.fsum(column) / n
        squares = math.fsum((v - mean) ** 2 for v in column)
        want = [(v - mean) / math.sqrt(squares / n + eps) * gamma[j] + beta[j] for v in column]
        np.testing.assert_allclose(y[:, j], want, rtol=1e-10, atol=1e-12)
        assert new_mean[j] == pytest.approx((1 - momentum) * running_mean[j] + momentum * mean)
        assert new_var[j] == pytest.approx(
            (1 - momentum) * running_var[j] + momentum * squares / (n - 1)
        )
    evaluated = solution.batch_norm_eval(x, gamma, beta, running_mean, running_var, eps)
    for (i, j), value in np.ndenumerate(evaluated):
        scale = math.sqrt(running_var[j] + eps)
        assert value == pytest.approx((x[i, j] - running_mean[j]) / scale * gamma[j] + beta[j])


# --- the hand fixtures against the oracles -------------------------------------------------------


def test_ln_fixture_matches_torch_and_solution() -> None:
    x, gamma, beta = (np.array(v) for v in (fixtures.LN_X, fixtures.LN_GAMMA, fixtures.LN_BETA))
    want = F.layer_norm(_t(x), (4,), _t(gamma), _t(beta), fixtures.LN_EPS).numpy()
    np.testing.assert_allclose(want, fixtures.LN_Y, rtol=1e-12, atol=1e-12)
    x_hat = F.layer_norm(_t(x), (4,), eps=fixtures.LN_EPS).numpy()
    np.testing.assert_allclose(x_hat, fixtures.LN_X_HAT, rtol=1e-12, atol=1e-12)
    np.testing.assert_array_equal(
        solution.layer_norm(x, gamma, beta, fixtures.LN_EPS), fixtures.LN_Y
    )
    python = [
        _python_layer_norm(r, fixtures.LN_GAMMA, fixtures.LN_BETA, 0.5) for r in fixtures.LN_X
    ]
    assert python == fixtures.LN_Y  # exact: var + eps are perfect squares


def test_tiny_fixture_matches_torch() -> None:
    x, gamma, beta = (
        np.array(v) for v in (fixtures.TINY_X, fixtures.TINY_GAMMA, fixtures.TINY_BETA)
    )
    want = F.layer_norm(_t(x), (4,), _t(gamma), _t(beta), 1e-5).numpy()
    np.testing.assert_allclose(want, fixtures.TINY_Y, rtol=1e-10)
    assert abs(fixtures.TINY_X_HAT_VALUE - 0.2950667) < 1e-7


def test_rms_fixtures_match_torch() -> None:
    x, gamma = np.array(fixtures.RMS_X), np.array(fixtures.RMS_GAMMA)
    np.testing.assert_allclose(
        _torch_rms_norm(x, gamma, fixtures.RMS_EPS), fixtures.RMS_Y, atol=1e-12
    )
    np.testing.assert_array_equal(solution.rms_norm(x, gamma, fixtures.RMS_EPS), fixtures.RMS_Y)
    assert [_python_rms_norm(r, fixtures.RMS_GAMMA, 1.0) for r in fixtures.RMS_X] == fixtures.RMS_Y
    tiny_x, tiny_gamma = np.array(fixtures.RMS_TINY_X), np.array(fixtures.RMS_TINY_GAMMA)
    np.testing.assert_allclose(
        _torch_rms_norm(tiny_x, tiny_gamma, 1e-6), fixtures.RMS_TINY_Y, rtol=1e-10
    )
    assert abs(fixtures.RMS_TINY_VALUE - 0.698673) < 1e-6


def test_backward_fixture_matches_autograd_and_solution() -> None:
    x, dy, gamma = (np.array(v) for v in (fixtures.BACK_X, fixtures.BACK_DY, fixtures.BACK_GAMMA))
    expected = {
        "x": fixtures.BACK_GRAD_X,
        "gamma": fixtures.BACK_GRAD_GAMMA,
        "beta": fixtures.BACK_GRAD_BETA,
    }
    want = _autograd(x, dy, gamma, np.zeros(4), fixtures.BACK_EPS)
    got = solution.layer_norm_backward(x, dy, gamma, fixtures.BACK_EPS)
    for key, value in expected.items():
        np.testing.assert_allclose(want[key], value, rtol=1e-12, atol=1e-12, err_msg=key)
        np.testing.assert_array_equal(got[key], value, err_msg=key)
    np.testing.assert_array_equal(np.array(fixtures.BACK_GRAD_X).sum(axis=-1), [0.0, 0.0])


def test_bn_fixtures_match_torch() -> None:
    names = ("BN_X", "BN_GAMMA", "BN_BETA", "BN_RUNNING_MEAN", "BN_RUNNING_VAR")
    args = tuple(np.array(getattr(fixtures, n)) for n in names)
    y, new_mean, new_var = _torch_batch_norm(
        *args, fixtures.BN_MOMENTUM, fixtures.BN_EPS, train=True
    )
    np.testing.assert_allclose(y, fixtures.BN_Y, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(new_mean, fixtures.BN_NEW_RUNNING_MEAN, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(new_var, fixtures.BN_NEW_RUNNING_VAR, rtol=1e-12)
    got = solution.batch_norm_train(*args, fixtures.BN_MOMENTUM, fixtures.BN_EPS)
    for g, w in zip(got, (y, new_mean, new_var), strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-12, atol=1e-12)
    x, gamma, beta = args[:3]
    eval_stats = (np.array(fixtures.BN_EVAL_RUNNING_MEAN), np.array(fixtures.BN_EVAL_RUNNING_VAR))
    want = _torch_batch_norm(x, gamma, beta, *eval_stats, 0.1, fixtures.BN_EVAL_EPS, train=False)[0]
    np.testing.assert_allclose(want, fixtures.BN_EVAL_Y, rtol=1e-12, atol=1e-12)
    got_eval = solution.batch_norm_eval(x, gamma, beta, *eval_stats, fixtures.BN_EVAL_EPS)
    np.testing.assert_array_equal(got_eval, fixtures.BN_EVAL_Y)
    # the eval fixture's running statistics are not the batch's, so using those shows
    assert not np.allclose(fixtures.BN_EVAL_Y, fixtures.BN_Y)


# --- no input modified ------------------------------------------------------------------------


def test_inputs_are_not_modified() -> None:
    x = _rows(8, (3, 4), tiny=True)
    gamma, beta = _params(8, 4)
    dy = np.random.default_rng(8).standard_normal((3, 4))
    bn = _bn_inputs(8, 4, 3)
    arrays = [x, gamma, beta, dy, *bn]
    copies = [a.copy() for a in arrays]
    solution.layer_norm(x, gamma, beta)
    solution.rms_norm(x, gamma)
    solution.layer_norm_backward(x, dy, gamma)
    _, new_mean, new_var = solution.batch_norm_train(*bn)
    assert new_mean is not bn[3] and new_var is not bn[4]
    solution.batch_norm_eval(*bn)
    for before, after in zip(copies, arrays, strict=True):
        np.testing.assert_array_equal(before, after)
