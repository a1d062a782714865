"""solutions/momentum_sgd.py against torch.optim.SGD and autograd, and the hand fixtures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transformer_kit.graders.fixtures import momentum_sgd as fixtures
from transformer_kit.solutions import momentum_sgd as solution


def torch_sgd_trajectory(
    w0: np.ndarray, grads: list[np.ndarray], lr: float, momentum: float
) -> list[tuple[np.ndarray, np.ndarray]]:
    """(w, momentum buffer) after each torch.optim.SGD step fed the given gradients."""
    param = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    optimizer = torch.optim.SGD([param], lr=lr, momentum=momentum)
    states = []
    for grad in grads:
        param.grad = torch.tensor(grad, dtype=torch.float64)
        optimizer.step()
        buffer = optimizer.state[param].get("momentum_buffer") if momentum else param.grad
        states.append((param.detach().numpy().copy(), buffer.detach().numpy().copy()))
    return states


@pytest.mark.parametrize(
    "seed, shape, lr, momentum, steps",
    [
        (0, (5,), 0.1, 0.0, 3),
        (1, (2, 3), 0.05, 0.9, 6),
        (2, (2, 3, 4), 0.3, 0.5, 4),
        (3, (7,), 0.01, 0.99, 10),
    ],
)
def test_steps_match_torch_sgd(
    seed: int, shape: tuple[int, ...], lr: float, momentum: float, steps: int
) -> None:
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(shape)
    grads = [rng.standard_normal(shape) for _ in range(steps)]
    expected = torch_sgd_trajectory(w0, grads, lr, momentum)

    w, v = w0, np.zeros(shape)
    w_plain = w0
    for grad, (w_torch, v_torch) in zip(grads, expected, strict=True):
        w, v = solution.sgd_momentum_step(w, grad, v, lr, momentum)
        np.testing.assert_allclose(w, w_torch, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(v, v_torch, rtol=1e-12, atol=1e-12)
        if momentum == 0.0:
            w_plain = solution.sgd_step(w_plain, grad, lr)
            np.testing.assert_allclose(w_plain, w_torch, rtol=1e-12, atol=1e-12)


def test_sgd_step_matches_torch_sgd_without_momentum() -> None:
    rng = np.random.default_rng(4)
    w0, grad = rng.standard_normal((3, 4)), rng.standard_normal((3, 4))
    ((w_torch, _),) = torch_sgd_trajectory(w0, [grad], 0.2, 0.0)
    np.testing.assert_allclose(solution.sgd_step(w0, grad, 0.2), w_torch, rtol=1e-12)


def torch_fit_line(
    w0: float, x: float, y: float, lr: float, steps: int, momentum: float
) -> list[float]:
    """The fit_line problem with autograd for the gradient and torch.optim.SGD for the step."""
    w = torch.tensor(float(w0), dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=lr, momentum=momentum)
    weights = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = (w * x - y) ** 2
        loss.backward()
        optimizer.step()
        weights.append(w.item())
    return weights


@pytest.mark.parametrize(
    "w0, x, y, lr, steps, momentum",
    [
        (5.0, 2.0, 2.0, 0.1, 3, 0.0),
        (5.0, 2.0, 2.0, 0.05, 3, 0.5),
        (1.0, 3.0, -1.5, 0.02, 6, 0.9),
        (-2.0, 0.5, 1.0, 0.5, 5, 0.0),
        (0.0, -1.5, 2.0, 0.05, 8, 0.7),
        (5.0, 2.0, 3.0, 0.05, 60, 0.5),
    ],
)
def test_fit_line_matches_torch(
    w0: float, x: float, y: float, lr: float, steps: int, momentum: float
) -> None:
    got = solution.fit_line(w0, x, y, lr, steps, momentum)
    assert isinstance(got, list) and len(got) == steps
    assert all(isinstance(w, float) for w in got)
    np.testing.assert_allclose(got, torch_fit_line(w0, x, y, lr, steps, momentum), rtol=1e-12)


def test_hand_fixtures() -> None:
    got = solution.sgd_step(np.array(fixtures.SGD_W), np.array(fixtures.SGD_GRAD), fixtures.SGD_LR)
    np.testing.assert_allclose(got, fixtures.SGD_EXPECTED, rtol=1e-12)

    w_new, v_new = solution.sgd_momentum_step(
        fixtures.MOMENTUM_W,
        fixtures.MOMENTUM_GRAD,
        fixtures.MOMENTUM_V,
        fixtures.MOMENTUM_LR,
        fixtures.MOMENTUM_BETA,
    )
    assert w_new == pytest.approx(fixtures.MOMENTUM_W_NEW, rel=1e-12)
    assert v_new == pytest.approx(fixtures.MOMENTUM_V_NEW, rel=1e-12)

    w_new, v_new = solution.sgd_momentum_step(
        np.array(fixtures.ARRAY_W),
        np.array(fixtures.ARRAY_GRAD),
        np.array(fixtures.ARRAY_V),
        fixtures.ARRAY_LR,
        fixtures.ARRAY_BETA,
    )
    np.testing.assert_allclose(w_new, fixtures.ARRAY_W_NEW, rtol=1e-12)
    np.testing.assert_allclose(v_new, fixtures.ARRAY_V_NEW, rtol=1e-12)

    np.testing.assert_allclose(solution.fit_line(*fixtures.FIT_ARGS), fixtures.FIT_EXPECTED)
    np.testing.assert_allclose(
        solution.fit_line(*fixtures.FIT_MOMENTUM_ARGS), fixtures.FIT_MOMENTUM_EXPECTED
    )


def test_hand_fixtures_match_torch() -> None:
    """The hand-computed numbers agree with torch too (not only with the solution)."""
    np.testing.assert_allclose(torch_fit_line(*fixtures.FIT_ARGS, 0.0), fixtures.FIT_EXPECTED)
    np.testing.assert_allclose(
        torch_fit_line(*fixtures.FIT_MOMENTUM_ARGS), fixtures.FIT_MOMENTUM_EXPECTED
    )
    # the momentum step of the notes, with the velocity 0.1 as the buffer of an earlier step:
    # one torch step fed grad g1 with momentum 0.9 from zero gives the buffer g1, so g1 = 0.1
    states = torch_sgd_trajectory(
        np.array(0.5 + fixtures.MOMENTUM_LR * fixtures.MOMENTUM_V),  # w before that step
        [np.array(fixtures.MOMENTUM_V), np.array(fixtures.MOMENTUM_GRAD)],
        fixtures.MOMENTUM_LR,
        fixtures.MOMENTUM_BETA,
    )
    assert states[0][0] == pytest.approx(fixtures.MOMENTUM_W)
    assert states[1][0] == pytest.approx(fixtures.MOMENTUM_W_NEW)
    assert states[1][1] == pytest.approx(fixtures.MOMENTUM_V_NEW)


def test_solution_does_not_modify_inputs() -> None:
    rng = np.random.default_rng(5)
    w, grad, v = (rng.standard_normal(4) for _ in range(3))
    copies = [a.copy() for a in (w, grad, v)]
    solution.sgd_step(w, grad, 0.1)
    solution.sgd_momentum_step(w, grad, v, 0.1, 0.9)
    for original, copy in zip((w, grad, v), copies, strict=True):
        np.testing.assert_array_equal(original, copy)
