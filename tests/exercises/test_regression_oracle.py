"""solutions/regression.py against independent oracles, and the hand fixtures.

Oracles:
- `numpy.linalg.lstsq` on the centred system augmented with sqrt(l2) * I rows (ridge as least
  squares), and scikit-learn's Ridge and LogisticRegression objectives written out here (sklearn is
  not a dependency): Ridge(alpha) minimises ||y - x w - b||^2 + alpha ||w||^2 with b free;
  LogisticRegression(C) minimises C * sum(BCE) + ||w||^2 / 2, i.e. l2 = 1 / (2 C N) on the mean;
- torch: `torch.sigmoid`, `F.binary_cross_entropy_with_logits`, autograd for the logistic and
  dropout gradients, `torch.optim.SGD` for the fit;
- dropout written as x * (u >= p) / (1 - p).
The solution must also stay free of numpy's floating-point warnings at logits of +-1000.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from transformer_kit.graders import test_regression as grader
from transformer_kit.graders.fixtures import regression as fixtures
from transformer_kit.solutions import regression as solution

# numpy's RuntimeWarnings that the contract counts as failures (underflow to 0 is exact here)
WARNINGS = {"over": "raise", "divide": "raise", "invalid": "raise"}


def _t(value, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(value), dtype=torch.float64, requires_grad=grad)


def _ridge_lstsq(x: np.ndarray, y: np.ndarray, l2: float) -> tuple[np.ndarray, float]:
    """Ridge as ordinary least squares: [xc; sqrt(l2) I] w ~ [yc; 0], then b from the means."""
    d = x.shape[1]
    a = np.vstack([x - x.mean(axis=0), np.sqrt(l2) * np.eye(d)])
    target = np.concatenate([y - y.mean(), np.zeros(d)])
    w = np.linalg.lstsq(a, target, rcond=None)[0]
    return w, float(y.mean() - x.mean(axis=0) @ w)


@pytest.mark.parametrize("seed, n, d, shift, l2", grader.LINEAR_CASES)
def test_linear_fit_is_lstsq_on_the_augmented_system(seed, n, d, shift, l2) -> None:
    x, y = grader.linear_problem(seed, n, d, shift)
    w, b = solution.linear_fit(x, y, l2)
    want_w, want_b = _ridge_lstsq(x, y, l2)
    np.testing.assert_allclose(w, want_w, rtol=1e-7, atol=1e-9)
    assert b == pytest.approx(want_b, rel=1e-7, abs=1e-7)


@pytest.mark.parametrize("seed, n, d, shift, l2", grader.LINEAR_CASES)
def test_linear_fit_is_the_minimum_of_sklearns_ridge_objective(seed, n, d, shift, l2) -> None:
    """Ridge(alpha=l2, fit_intercept=True): the gradient of ||y - x w - b||^2 + l2 ||w||^2 is 0."""
    x, y = grader.linear_problem(seed, n, d, shift)
    w, b = solution.linear_fit(x, y, l2)
    tw, tb = _t(w, True), _t(b, True)
    loss = ((_t(y) - _t(x) @ tw - tb) ** 2).sum() + l2 * (tw**2).sum()
    loss.backward()
    scale = float(np.abs(x).max() * np.abs(y).max() * n)
    np.testing.assert_allclose(tw.grad.numpy(), 0.0, atol=1e-8 * scale)
    assert abs(float(tb.grad)) < 1e-8 * scale


def test_the_named_ridge_mistakes_differ_on_the_graders_cases() -> None:
    """Every linear_fit mistake the grader names gives another w on at least one random case."""
    shown = set()
    for seed, n, d, shift, l2 in grader.LINEAR_CASES:
        x, y = grader.linear_problem(seed, n, d, shift)
        w = solution.linear_fit(x, y, l2)[0]
        for name, (wrong_w, _) in grader.linear_mistakes(x, y, l2).items():
            if not np.allclose(wrong_w, w, rtol=1e-3):
                shown.add(name)
    assert shown == set(grader.linear_mistakes(*grader.linear_problem(1, 12, 3, 1000.0), 5.0))


def test_sigmoid_is_torchs() -> None:
    z = np.concatenate([np.linspace(-50, 50, 101), [-1000.0, -745.0, 0.0, 745.0, 1000.0]])
    with np.errstate(**WARNINGS):
        got = solution.sigmoid(z.reshape(2, -1))
    want = torch.sigmoid(_t(z)).numpy()
    np.testing.assert_allclose(got.reshape(-1), want, rtol=1e-12, atol=1e-300)


@pytest.mark.parametrize("seed, n, scale", [(0, 7, 1.0), (1, 50, 1000.0), (2, 3, 30.0)])
def test_bce_is_torchs(seed, n, scale) -> None:
    rng = np.random.default_rng(seed)
    z, y = scale * rng.standard_normal(n), rng.random(n)  # soft targets too
    y[: n // 2] = np.round(y[: n // 2])
    with np.errstate(**WARNINGS):
        got = solution.bce_with_logits(z, y)
    want = F.binary_cross_entropy_with_logits(_t(z), _t(y)).item()
    assert got == pytest.approx(want, rel=1e-12)


def test_bce_at_a_thousand_is_torchs() -> None:
    z, y = np.array([1000.0, -1000.0, 1000.0, -1000.0]), np.array([0.0, 0.0, 1.0, 1.0])
    with np.errstate(**WARNINGS):
        got = solution.bce_with_logits(z, y)
    assert got == F.binary_cross_entropy_with_logits(_t(z), _t(y)).item() == 500.0


@pytest.mark.parametrize("seed, n, d, scale, l2", grader.GRAD_CASES)
def test_logistic_grad_is_autograd(seed, n, d, scale, l2) -> None:
    x, y, w, b = grader.logistic_problem(seed, n, d, scale)
    with np.errstate(**WARNINGS):
        dw, db = solution.logistic_grad(x, y, w, b, l2)
    tw, tb = _t(w, True), _t(b, True)
    loss = F.binary_cross_entropy_with_logits(_t(x) @ tw + tb, _t(y)) + l2 * (tw**2).sum()
    loss.backward()
    np.testing.assert_allclose(dw, tw.grad.numpy(), rtol=1e-10, atol=1e-12)
    assert db == pytest.approx(float(tb.grad), rel=1e-10, abs=1e-12)


@pytest.mark.parametrize("c", [0.1, 1.0, 25.0])
def test_logistic_grad_matches_sklearns_c(c) -> None:
    """LogisticRegression(C)'s objective C * sum(BCE) + ||w||^2 / 2, divided by C * N, is the mean
    BCE + l2 * ||w||^2 with l2 = 1 / (2 C N): the same minimiser, gradients scaled by C * N."""
    x, y, w, b = grader.logistic_problem(5, 9, 3, 1.0)
    n = x.shape[0]
    tw, tb = _t(w, True), _t(b, True)
    logits = _t(x) @ tw + tb
    objective = c * F.binary_cross_entropy_with_logits(logits, _t(y), reduction="sum")
    (objective + 0.5 * (tw**2).sum()).backward()
    dw, db = solution.logistic_grad(x, y, w, b, 1 / (2 * c * n))
    np.testing.assert_allclose(c * n * dw, tw.grad.numpy(), rtol=1e-10)
    assert c * n * db == pytest.approx(float(tb.grad), rel=1e-10)


@pytest.mark.parametrize(
    "seed, n, d, lr, steps, l2", [(40, 20, 3, 0.5, 25, 0.01), (42, 30, 4, 0.1, 5, 1.0)]
)
def test_logistic_fit_is_torch_sgd(seed, n, d, lr, steps, l2) -> None:
    x, y, _, _ = grader.logistic_problem(seed, n, d, 1.0)
    w, b, losses = solution.logistic_fit(x, y, lr, steps, l2)
    tw = torch.zeros(d, dtype=torch.float64, requires_grad=True)
    tb = torch.zeros((), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([tw, tb], lr=lr)
    want = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = F.binary_cross_entropy_with_logits(_t(x) @ tw + tb, _t(y)) + l2 * (tw**2).sum()
        want.append(loss.item())
        loss.backward()
        optimizer.step()
    np.testing.assert_allclose(losses, want, rtol=1e-10)
    np.testing.assert_allclose(w, tw.detach().numpy(), rtol=1e-9)
    assert b == pytest.approx(tb.item(), rel=1e-9)


@pytest.mark.parametrize("seed, shape, p", grader.DROPOUT_CASES)
def test_dropout_is_the_mask_formula_and_its_backward_autograd(seed, shape, p) -> None:
    x, u = grader.dropout_problem(seed, shape)
    np.testing.assert_allclose(solution.dropout(x, p, u), x * (u >= p) / (1 - p), rtol=1e-15)
    tx = _t(x, True)
    dy = np.random.default_rng(seed + 100).standard_normal(shape)
    (_t(dy) * (tx * _t(u >= p) / (1 - p))).sum().backward()
    np.testing.assert_allclose(solution.dropout_backward(dy, p, u), tx.grad.numpy(), rtol=1e-15)


def test_dropout_at_evaluation_is_a_copy() -> None:
    x, u = grader.dropout_problem(3, (2, 3))
    out = solution.dropout(x, 0.5, u, training=False)
    np.testing.assert_array_equal(out, x)
    assert not np.shares_memory(out, x)


@pytest.mark.parametrize("p", [1.0, -0.1, 1.5])
def test_dropout_rejects_p_in_both_modes(p) -> None:
    x = np.ones(3)
    for training in (True, False):
        with pytest.raises(ValueError, match=f"p={p}"):
            solution.dropout(x, p, np.zeros(3), training)


def test_the_hand_fixtures_are_the_solutions_values() -> None:
    x, y = np.array(fixtures.LINEAR_X), np.array(fixtures.LINEAR_Y)
    for l2, w, b in fixtures.LINEAR_FITS:
        got_w, got_b = solution.linear_fit(x, y, l2)
        np.testing.assert_allclose(got_w, w, rtol=1e-12)
        assert got_b == pytest.approx(b, abs=1e-12)
    np.testing.assert_allclose(solution.sigmoid(np.array(fixtures.SIGMOID_Z)), fixtures.SIGMOID)
    bce = solution.bce_with_logits(np.array(fixtures.BCE_Z), np.array(fixtures.BCE_Y))
    assert bce == pytest.approx(fixtures.BCE, rel=1e-12)
    soft = solution.bce_with_logits(np.array(fixtures.BCE_SOFT_Z), np.array(fixtures.BCE_SOFT_Y))
    assert soft == pytest.approx(fixtures.BCE_SOFT, rel=1e-12)
    args = (np.array(fixtures.GRAD_X), np.array(fixtures.GRAD_Y), np.array(fixtures.GRAD_W))
    dw, db = solution.logistic_grad(*args, 0.0, fixtures.GRAD_L2)
    np.testing.assert_allclose(dw, fixtures.GRAD_DW, rtol=1e-12)
    assert db == pytest.approx(fixtures.GRAD_DB, rel=1e-12)
    fit = solution.logistic_fit(
        np.array(fixtures.FIT_X),
        np.array(fixtures.FIT_Y),
        fixtures.FIT_LR,
        fixtures.FIT_STEPS,
        fixtures.FIT_L2,
    )
    np.testing.assert_allclose(fit[0], fixtures.FIT_W, rtol=1e-12)
    assert fit[1] == pytest.approx(fixtures.FIT_B, rel=1e-12)
    np.testing.assert_allclose(fit[2], fixtures.FIT_LOSSES, rtol=1e-12)
    p, u = fixtures.DROPOUT_P, np.array(fixtures.DROPOUT_U)
    np.testing.assert_allclose(
        solution.dropout(np.array(fixtures.DROPOUT_X), p, u), fixtures.DROPOUT
    )
    dx = solution.dropout_backward(np.array(fixtures.DROPOUT_DY), p, u)
    np.testing.assert_allclose(dx, fixtures.DROPOUT_DX)
