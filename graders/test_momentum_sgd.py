"""Grader for momentum_sgd: sgd_step, sgd_momentum_step (PyTorch's form) and fit_line."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import Mismatch, as_array, assert_close, unpack
from transformer_kit.graders.fixtures import momentum_sgd as fixtures
from transformer_kit.graders.messages.together import same_numbers
from transformer_kit.solutions import momentum_sgd as reference

EMA = (
    "the EMA form v = momentum * v + (1 - momentum) * grad: this kit uses PyTorch's "
    "v_new = momentum * velocity + grad"
)
LR_FOLDED = (
    "lr folded into the velocity (v = momentum * v + lr * grad, then w - v): keep lr out of v, "
    "v_new = momentum * velocity + grad and w_new = w - lr * v_new"
)
SUTSKEVER = (
    "Sutskever's form (v = momentum * v - lr * grad, then w + v): this kit uses PyTorch's, "
    "v_new = momentum * velocity + grad and w_new = w - lr * v_new (no lr in v, and the step "
    "subtracts it)"
)
OLD_VELOCITY = "the step used the old velocity: compute v_new first, then w_new = w - lr * v_new"
SIGN = "a sign error: gradient descent steps against the gradient, w - lr * (...)"
SWAPPED = "the two results are swapped: return (w_new, v_new) in that order"
NO_VELOCITY = "the velocity was left out of the step (a plain SGD step, w - lr * grad)"
RETURNED_OLD_V = "returned the old velocity instead of v_new"
NO_FACTOR_2 = "the gradient is missing its factor 2: d/dw (w x - y)^2 = 2 x (w x - y)"
NO_FACTOR_X = "the gradient is missing its factor x (chain rule): d/dw (w x - y)^2 = 2 x (w x - y)"
NO_FACTOR_2_OR_X = (
    "the gradient is missing its factor 2, or it is missing its factor x (here x is 2 as well): "
    "d/dw (w x - y)^2 = 2 x (w x - y)"
)
STARTS_WITH_W0 = "the list starts with w0: return only the weights after each step"
NOT_CARRIED = (
    "the velocity is not carried between steps (it restarts at 0 every step): pass each step's "
    "v_new into the next step"
)


def close(
    got: Any, expected: Any, *, call: str, what: str = "result", mistakes: Mapping[str, Any]
) -> None:
    """assert_close, and name a mistake by its value even when the shapes differ."""
    try:
        assert_close(got, expected, call=call, what=what, mistakes=mistakes)
    except Mismatch as failure:
        failure.diagnosis = _match(got, mistakes) or failure.diagnosis
        raise


def _match(got: Any, mistakes: Mapping[str, Any]) -> str:
    try:
        array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return ""
    for description, value in mistakes.items():
        wrong = np.asarray(value, dtype=np.float64)
        if wrong.shape == array.shape and np.allclose(array, wrong, rtol=1e-4, atol=1e-6):
            return description
    return ""


# --- the classic mistakes, made on purpose ----------------------------------------------------


def step_mistakes(
    w: Any, grad: Any, velocity: Any, lr: float, momentum: float
) -> tuple[dict[str, Any], dict[str, Any]]:
    """What each classic mistake returns as (w_new, v_new) for one momentum step."""
    w_ref, v_ref = reference.sgd_momentum_step(w, grad, velocity, lr, momentum)
    v_ema = momentum * velocity + (1 - momentum) * grad
    v_folded = momentum * velocity + lr * grad
    v_sutskever = momentum * velocity - lr * grad
    w_mistakes = {
        EMA: w - lr * v_ema,
        LR_FOLDED: w - v_folded,
        SUTSKEVER: w + v_sutskever,
        OLD_VELOCITY: w - lr * velocity,
        SIGN: w + lr * v_ref,
        NO_VELOCITY: w - lr * grad,
        SWAPPED: v_ref,
    }
    v_mistakes = {
        EMA: v_ema,
        LR_FOLDED: v_folded,
        SUTSKEVER: v_sutskever,
        RETURNED_OLD_V: velocity,
        SWAPPED: w_ref,
    }
    return w_mistakes, v_mistakes


def trajectory(
    w0: float,
    x: float,
    y: float,
    lr: float,
    steps: int,
    momentum: float,
    *,
    rule: str = "pytorch",
    grad: Callable[[float], float] | None = None,
    carry: bool = True,
) -> list[float]:
    """fit_line with a mistake: `rule` names the update, `grad` the gradient used."""
    grad = grad or (lambda w: 2 * x * (w * x - y))
    w, v, weights = float(w0), 0.0, []
    for _ in range(steps):
        g, v = grad(w), v if carry else 0.0
        if rule == "ema":
            v = momentum * v + (1 - momentum) * g
            w = w - lr * v
        elif rule == "old velocity":
            w, v = w - lr * v, momentum * v + g
        elif rule == "sign":
            v = momentum * v + g
            w = w + lr * v
        else:
            v = momentum * v + g
            w = w - lr * v
        weights.append(w)
    return weights


def fit_mistakes(
    w0: float, x: float, y: float, lr: float, steps: int, momentum: float
) -> dict[str, Any]:
    """What fit_line returns with each classic mistake (first match wins)."""
    args = (w0, x, y, lr, steps, momentum)
    good = reference.fit_line(*args)
    no_2 = trajectory(*args, grad=lambda w: x * (w * x - y))
    no_x = trajectory(*args, grad=lambda w: 2 * (w * x - y))
    factor = {NO_FACTOR_2_OR_X: no_2} if np.allclose(no_2, no_x) else {NO_FACTOR_2: no_2}
    return same_numbers(
        {
            # with momentum 0, [w0, w1, ...] is also what "the old velocity" gives: w0 comes first
            STARTS_WITH_W0: [w0, *good[:-1]],
            STARTS_WITH_W0 + f" (this list has {steps + 1} values, not {steps})": [w0, *good],
            EMA: trajectory(*args, rule="ema"),
            OLD_VELOCITY: trajectory(*args, rule="old velocity"),
            SIGN: trajectory(*args, rule="sign"),
            **factor,
            NO_FACTOR_X: no_x,
            NOT_CARRIED: trajectory(*args, carry=False),
        }
    )


def check_fit_line(student: Any, args: tuple[Any, ...], expected: Any, call: str) -> None:
    w0, x, y, lr, steps, *rest = args
    momentum = rest[0] if rest else 0.0
    got = student.fit_line(*args)
    mistakes = fit_mistakes(w0, x, y, lr, steps, momentum)
    close(got, expected, call=call, what="list of weights", mistakes=mistakes)


def check_step(
    student: Any, args: tuple[Any, ...], call: str, expected: tuple[Any, Any] | None = None
) -> None:
    """One momentum step: w_new first (it names more mistakes), then v_new."""
    w_ref, v_ref = expected or reference.sgd_momentum_step(*args)
    w_mistakes, v_mistakes = step_mistakes(*args)
    w_new, v_new = unpack(student.sgd_momentum_step(*args), 2, call=call)
    close(w_new, w_ref, call=call, what="w_new (first result)", mistakes=w_mistakes)
    close(v_new, v_ref, call=call, what="v_new (second result)", mistakes=v_mistakes)


# --- sgd_step ---------------------------------------------------------------------------------


@pytest.mark.weight(2)
@pytest.mark.visible
def test_sgd_step_hand(student: Any) -> None:
    """sgd_step on hand examples"""
    w, grad = np.array(fixtures.SGD_W), np.array(fixtures.SGD_GRAD)
    call = f"sgd_step(w={fixtures.SGD_W}, grad={fixtures.SGD_GRAD}, lr={fixtures.SGD_LR})"
    got = student.sgd_step(w, grad, fixtures.SGD_LR)
    close(got, fixtures.SGD_EXPECTED, call=call, mistakes={SIGN: w + fixtures.SGD_LR * grad})
    # the first step of the notes' problem, in scalars: grad = 2 * 2 * (5 * 2 - 2) = 32
    got = student.sgd_step(5.0, 32.0, 0.1)
    close(got, 1.8, call="sgd_step(5.0, 32.0, 0.1)", mistakes={SIGN: 8.2})


@pytest.mark.parametrize(
    "seed, shape", [(0, (5,)), (1, (2, 3)), (2, (2, 3, 4))], ids=["seed0", "seed1", "seed2"]
)
def test_sgd_step_random(student: Any, seed: int, shape: tuple[int, ...]) -> None:
    """sgd_step matches the reference on random arrays"""
    rng = np.random.default_rng(seed)
    w, grad, lr = rng.standard_normal(shape), rng.standard_normal(shape), 0.05
    call = f"sgd_step(w {shape}, grad {shape}, lr={lr}), seed={seed}"
    got = student.sgd_step(w, grad, lr)
    close(got, reference.sgd_step(w, grad, lr), call=call, mistakes={SIGN: w + lr * grad})


# --- sgd_momentum_step ------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_momentum_step_hand(student: Any) -> None:
    """sgd_momentum_step on the notes' problem (scalars)"""
    args = (
        fixtures.MOMENTUM_W,
        fixtures.MOMENTUM_GRAD,
        fixtures.MOMENTUM_V,
        fixtures.MOMENTUM_LR,
        fixtures.MOMENTUM_BETA,
    )
    call = "sgd_momentum_step(w=0.5, grad=0.2, velocity=0.1, lr=0.1, momentum=0.9)"
    check_step(student, args, call, (fixtures.MOMENTUM_W_NEW, fixtures.MOMENTUM_V_NEW))


def test_momentum_step_hand_arrays(student: Any) -> None:
    """sgd_momentum_step on a hand example with arrays"""
    w, grad, v = (np.array(a) for a in (fixtures.ARRAY_W, fixtures.ARRAY_GRAD, fixtures.ARRAY_V))
    args = (w, grad, v, fixtures.ARRAY_LR, fixtures.ARRAY_BETA)
    call = (
        f"sgd_momentum_step(w={fixtures.ARRAY_W}, grad={fixtures.ARRAY_GRAD}, "
        f"velocity={fixtures.ARRAY_V}, lr={fixtures.ARRAY_LR}, momentum={fixtures.ARRAY_BETA})"
    )
    check_step(student, args, call, (fixtures.ARRAY_W_NEW, fixtures.ARRAY_V_NEW))


@pytest.mark.parametrize(
    "seed, shape, lr, momentum",
    [(0, (5,), 0.2, 0.9), (1, (2, 3), 0.05, 0.5), (2, (2, 3, 4), 0.3, 0.99)],
    ids=["seed0", "seed1", "seed2"],
)
def test_momentum_step_random(
    student: Any, seed: int, shape: tuple[int, ...], lr: float, momentum: float
) -> None:
    """sgd_momentum_step matches the reference on random arrays"""
    rng = np.random.default_rng(seed)
    w, grad, v = (rng.standard_normal(shape) for _ in range(3))
    call = (
        f"sgd_momentum_step(w {shape}, grad {shape}, velocity {shape}, lr={lr}, "
        f"momentum={momentum}), seed={seed}"
    )
    check_step(student, (w, grad, v, lr, momentum), call)


def test_momentum_zero_is_sgd(student: Any) -> None:
    """with momentum 0, a momentum step is a plain sgd step"""
    rng = np.random.default_rng(3)
    w, grad, v = (rng.standard_normal((2, 3)) for _ in range(3))
    call = "sgd_momentum_step(w (2, 3), grad (2, 3), velocity (2, 3), lr=0.1, momentum=0.0), seed=3"
    check_step(student, (w, grad, v, 0.1, 0.0), call, (w - 0.1 * grad, grad))


# --- fit_line -----------------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_fit_line_hand(student: Any) -> None:
    """fit_line on the notes' problem: [1.8, 1.16, 1.032]"""
    call = "fit_line(5.0, 2.0, 2.0, 0.1, 3)"
    check_fit_line(student, fixtures.FIT_ARGS, fixtures.FIT_EXPECTED, call)


@pytest.mark.weight(2)
def test_fit_line_momentum_hand(student: Any) -> None:
    """fit_line with momentum on a hand example"""
    w0, x, y, lr, steps, momentum = fixtures.FIT_MOMENTUM_ARGS
    call = f"fit_line({w0}, {x}, {y}, {lr}, {steps}, momentum={momentum})"
    args = (w0, x, y, lr, steps)
    got = student.fit_line(*args, momentum=momentum)
    mistakes = fit_mistakes(*args, momentum)
    close(got, fixtures.FIT_MOMENTUM_EXPECTED, call=call, what="list of weights", mistakes=mistakes)


@pytest.mark.parametrize(
    "w0, x, y, lr, steps, momentum",
    [
        (1.0, 3.0, -1.5, 0.02, 6, 0.9),
        (-2.0, 0.5, 1.0, 0.5, 5, 0.0),
        (0.0, -1.5, 2.0, 0.05, 8, 0.7),
    ],
    ids=["case1", "case2", "case3"],
)
def test_fit_line_cases(
    student: Any, w0: float, x: float, y: float, lr: float, steps: int, momentum: float
) -> None:
    """fit_line matches the reference"""
    call = f"fit_line({w0}, {x}, {y}, {lr}, {steps}, momentum={momentum})"
    args = (w0, x, y, lr, steps, momentum)
    check_fit_line(student, args, reference.fit_line(*args), call)


def test_fit_line_length(student: Any) -> None:
    """fit_line returns one weight per step"""
    for steps in (1, 4):
        call = f"fit_line(3.0, 1.0, 1.0, 0.1, {steps}, momentum=0.5)"
        args = (3.0, 1.0, 1.0, 0.1, steps, 0.5)
        check_fit_line(student, args, reference.fit_line(*args), call)


def test_fit_line_converges(student: Any) -> None:
    """fit_line converges to w = y / x"""
    call = "fit_line(5.0, 2.0, 3.0, 0.05, 60, momentum=0.5)"
    args = (5.0, 2.0, 3.0, 0.05, 60, 0.5)
    got = student.fit_line(*args)
    weights = as_array(got, call=call, what="list of weights")
    if weights.shape != (60,):
        check_fit_line(student, args, reference.fit_line(*args), call)
    assert_close(weights[-1], 1.5, call=call, what="last weight", atol=1e-4)
