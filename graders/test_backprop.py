"""Grader for `backprop`: relu, mlp_forward, mse_loss and a hand-written mlp_backward.

Three levels: the hand-computed fixtures (the notes' 2-layer example, and a batch with
pre-activations of exactly 0), the reference on random batches with fixed seeds, and the
properties of the contract (dict keys, gradient shapes, relu'(0) = 0, the loss as a mean over
every element). Classic mistakes are recomputed here on purpose so a failure can name them.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.checks import bare_name, gradient_dict
from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    assert_shape,
    describe,
)
from transformer_kit.graders.fixtures import backprop as fixtures
from transformer_kit.solutions import backprop as reference

KEYS = ("w1", "b1", "w2", "b2")
ARGS = ("x", "y", "w1", "b1", "w2", "b2")  # the order mlp_backward takes them

# (seed, N, D_in, H, D_out). Batches of several rows with several outputs, so a mean over N only
# (or over nothing) gives a different gradient; w1 square in one case and w2 in another, so a
# transposed weight gradient has the right shape and is caught by its values.
CASES = ((0, 4, 3, 5, 2), (1, 3, 4, 4, 3), (2, 5, 3, 2, 2), (3, 6, 2, 3, 1))
DRAWS = "x, w1, b1, w2, b2, y drawn in this order with np.random.default_rng(seed).standard_normal"

Params = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]


# --- inputs -------------------------------------------------------------------------------


def _hand(prefix: str) -> tuple[Params, str]:
    """A hand fixture's (x, y, w1, b1, w2, b2) and the arguments as the learner would write them."""
    values = [getattr(fixtures, f"{prefix}_{name.upper()}") for name in ARGS]
    x, y, w1, b1, w2, b2 = (np.array(v, dtype=np.float64) for v in values)
    text = ", ".join(f"{name}={value}" for name, value in zip(ARGS, values, strict=True))
    return (x, y, w1, b1, w2, b2), text


def _random(seed: int, n: int, d_in: int, hidden: int, d_out: int) -> tuple[Params, str]:
    """Standard normal (x, y, w1, b1, w2, b2) from `seed`, and the arguments described."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_in))
    w1 = rng.standard_normal((d_in, hidden))
    b1 = rng.standard_normal(hidden)
    w2 = rng.standard_normal((hidden, d_out))
    b2 = rng.standard_normal(d_out)
    y = rng.standard_normal((n, d_out))
    params = (x, y, w1, b1, w2, b2)
    text = ", ".join(f"{name} {p.shape}" for name, p in zip(ARGS, params, strict=True))
    return params, f"{text}; seed={seed}: {DRAWS}"


def _forward_args(params: Params) -> tuple[np.ndarray, ...]:
    x, _, w1, b1, w2, b2 = params
    return x, w1, b1, w2, b2


# --- classic mistakes, made on purpose ------------------------------------------------------

TRANSPOSED = (
    "transposed weight gradient: dL/dw = inputs.T @ delta (x.T @ dz for w1, h.T @ delta for "
    "w2), not delta.T @ inputs; it has the shape of w"
)
NOT_SUMMED = (
    "bias gradient not summed over the batch: a bias is added to every row, so its gradient "
    "is delta.sum(axis=0)"
)

GRADIENT_MISTAKES: tuple[tuple[str, dict[str, Any]], ...] = (
    (
        "dL/dy_hat not averaged: the loss is a mean, so dL/dy_hat = 2 (y_hat - y) / (N * D_out)",
        {"scale": lambda n, d_out: 2.0},
    ),
    (
        "dL/dy_hat averaged over N only: the mean is over all N * D_out elements, "
        "so dL/dy_hat = 2 (y_hat - y) / (N * D_out)",
        {"scale": lambda n, d_out: 2.0 / n},
    ),
    (
        "missing the factor 2: d/dy_hat (y_hat - y) ** 2 = 2 (y_hat - y)",
        {"scale": lambda n, d_out: 1.0 / (n * d_out)},
    ),
    (
        "missing the factor 2 and the 1/(N * D_out) of the mean: "
        "dL/dy_hat = 2 (y_hat - y) / (N * D_out)",
        {"scale": lambda n, d_out: 1.0},
    ),
    (
        "missing the factor 2, and averaged over N only: dL/dy_hat = 2 (y_hat - y) / (N * D_out)",
        {"scale": lambda n, d_out: 1.0 / n},
    ),
    (
        "relu mask forgotten (a mask h >= 0 is always true): "
        "the gradient only flows where z > 0, dz = dh * (z > 0)",
        {"mask": "none"},
    ),
    (
        "relu derivative taken as 1 at z = 0 (a mask z >= 0 or h >= 0): it is 0 at exactly 0, "
        "as in PyTorch, so use z > 0",
        {"mask": "z >= 0"},
    ),
    (
        "multiplied by relu(z) instead of by relu'(z): the mask (z > 0) is 1 or 0",
        {"mask": "h"},
    ),
    (
        "bias gradient averaged over the batch (mean): a bias is added to every row, "
        "so sum delta over axis 0",
        {"reduce": "mean"},
    ),
    (
        "bias gradient from the first example only: sum delta over all rows (axis 0)",
        {"reduce": "first"},
    ),
    (TRANSPOSED, {"transposed": True}),
)


def _backward(
    params: Params,
    *,
    scale: Callable[[int, int], float] | None = None,
    mask: str = "z > 0",
    reduce: str = "sum",
    transposed: bool = False,
) -> dict[str, np.ndarray]:
    """The gradients, with one step done the way a classic mistake does it."""
    x, y, w1, b1, w2, b2 = params
    n, d_out = y.shape
    z = x @ w1 + b1  # (N, H)
    h = np.maximum(z, 0.0)  # (N, H)
    factor = 2.0 / (n * d_out) if scale is None else scale(n, d_out)
    d_y = factor * (h @ w2 + b2 - y)  # (N, D_out)
    gate = {"z > 0": z > 0, "none": np.ones_like(z), "z >= 0": z >= 0, "h": h}[mask]
    d_z = (d_y @ w2.T) * gate  # (N, H)

    def weight(inputs: np.ndarray, delta: np.ndarray) -> np.ndarray:
        return delta.T @ inputs if transposed else inputs.T @ delta

    def bias(delta: np.ndarray) -> np.ndarray:
        return {"sum": delta.sum(axis=0), "mean": delta.mean(axis=0), "first": delta[0]}[reduce]

    return {"w1": weight(x, d_z), "b1": bias(d_z), "w2": weight(h, d_y), "b2": bias(d_y)}


def _gradient_mistakes(params: Params) -> dict[str, dict[str, np.ndarray]]:
    """For each key, {description of a classic mistake: the gradient it gives}."""
    wrong: dict[str, dict[str, np.ndarray]] = {key: {} for key in KEYS}
    for description, options in GRADIENT_MISTAKES:
        grads = _backward(params, **options)
        for key in KEYS:
            wrong[key][description] = grads[key]
    return wrong


def _forward_mistakes(params: Params) -> dict[str, np.ndarray]:
    x, _, w1, b1, w2, b2 = params
    z = x @ w1 + b1  # (N, H)
    h = np.maximum(z, 0.0)  # (N, H)
    return {
        "relu missing: y_hat = relu(x @ w1 + b1) @ w2 + b2": z @ w2 + b2,
        "relu applied to the output too: the output layer is linear, y_hat = h @ w2 + b2": (
            np.maximum(h @ w2 + b2, 0.0)
        ),
        "b1 not added: z = x @ w1 + b1": np.maximum(x @ w1, 0.0) @ w2 + b2,
        "b2 not added: y_hat = h @ w2 + b2": h @ w2,
        "b1 added after the relu: h = relu(x @ w1 + b1)": (np.maximum(x @ w1, 0.0) + b1) @ w2 + b2,
    }


def _loss_mistakes(y_hat: np.ndarray, y: np.ndarray) -> dict[str, float]:
    n, d_out = y.shape
    squares = (y_hat - y) ** 2
    return {
        "sum instead of mean: divide the sum of squares by N * D_out": float(squares.sum()),
        "averaged over N only: the mean is over all N * D_out elements": float(squares.sum() / n),
        "averaged over D_out only: the mean is over all N * D_out elements": float(
            squares.sum() / d_out
        ),
        "not squared: mean((y_hat - y) ** 2), not mean(|y_hat - y|)": float(
            np.abs(y_hat - y).mean()
        ),
        "square root taken (that is the RMSE): the MSE has no sqrt": float(np.sqrt(squares.mean())),
        "halved: this loss has no 1/2 in front": float(squares.mean() / 2),
    }


# --- checks -----------------------------------------------------------------------------------


def _as_gradients(got: Any, *, call: str) -> Mapping[str, Any]:
    """`got` as a dict with exactly the keys w1, b1, w2, b2, or a Mismatch saying why not."""
    return gradient_dict(got, KEYS, function="mlp_backward", call=call, misnamed=_misnamed)


def _misnamed(extra: list[Any]) -> str:
    if any(bare_name(key, KEYS) in KEYS for key in extra):
        return 'name each gradient exactly after its parameter: "w1", not "dw1", "W1" or "grad_w1"'
    return ""


def _check_gradient_shape(got: Any, shape: tuple[int, ...], key: str, *, n: int, call: str) -> None:
    """The exact shape of gradient `key`, with the shape mistakes of backprop named."""
    what = f'gradient "{key}"'
    array = as_array(got, call=call, what=what)
    if array.shape == shape:
        return
    diagnosis = ""
    if key.startswith("w") and array.shape == shape[::-1]:
        diagnosis = TRANSPOSED
    elif key.startswith("b") and n > 1 and array.shape == (n, *shape):
        diagnosis = NOT_SUMMED
    elif key.startswith("b") and array.shape == (1, *shape):
        diagnosis = (
            "an extra leading axis of length 1: sum delta over axis 0 without keepdims=True; "
            "the gradient has the shape of the bias"
        )
    if not diagnosis:
        assert_shape(array, shape, call=call, what=what)  # raises, with its own diagnosis
    raise Mismatch(
        f"the {what} has the wrong shape",
        call=call,
        expected=f"shape {shape}, the shape of {key}",
        got=f"shape {array.shape}",
        diagnosis=diagnosis,
    )


def _check_gradients(got: Any, expected: Mapping[str, Any], params: Params, *, call: str) -> None:
    """Keys, then every shape, then every value, naming the classic mistakes."""
    grads = _as_gradients(got, call=call)
    n = params[0].shape[0]
    for key in KEYS:
        shape = tuple(np.shape(expected[key]))
        _check_gradient_shape(grads[key], shape, key, n=n, call=call)
    wrong = _gradient_mistakes(params)
    for key in KEYS:
        assert_close(
            grads[key], expected[key], call=call, what=f'gradient "{key}"', mistakes=wrong[key]
        )


def _check_loss(got: Any, expected: float, mistakes: Mapping[str, float], *, call: str) -> None:
    array = as_array(got, call=call, what="loss")
    if array.shape != ():
        raise Mismatch(
            "mse_loss should return one number",
            call=call,
            expected="a float (shape ())",
            got=describe(got),
            diagnosis="a mean over some axes only: take the mean over all N * D_out elements "
            "(np.mean with no axis)",
        )
    assert_close(got, expected, call=call, what="loss", mistakes=mistakes)


# --- level 1: hand-computed fixtures ----------------------------------------------------------


@pytest.mark.weight(1)
def test_relu_values(student: Any) -> None:
    """relu is max(z, 0) elementwise"""
    z = np.array([[-2.0, -0.5, 0.0], [0.25, 1.5, 3.0]])
    mistakes = {
        "returned relu's derivative (z > 0) instead of max(z, 0)": (z > 0).astype(float),
        "returned min(z, 0): relu keeps the positive part": np.minimum(z, 0.0),
        "returned |z|: relu sets negatives to 0": np.abs(z),
    }
    expected = [[0.0, 0.0, 0.0], [0.25, 1.5, 3.0]]  # max(-2, 0), max(-0.5, 0), max(0, 0), ...
    assert_close(
        student.relu(z), expected, call=f"relu({z.tolist()})", what="result", mistakes=mistakes
    )
    cube = np.random.default_rng(7).standard_normal((2, 3, 4))
    call = "relu(z (2, 3, 4)), z = np.random.default_rng(7).standard_normal((2, 3, 4))"
    assert_close(student.relu(cube), reference.relu(cube), call=call, mistakes=mistakes)


@pytest.mark.weight(1)
def test_mlp_forward_hand(student: Any) -> None:
    """mlp_forward on the hand-computed examples"""
    for prefix in ("NOTES", "ZERO"):
        params, _ = _hand(prefix)
        x, _, w1, b1, w2, b2 = params
        call = (
            f"mlp_forward(x={x.tolist()}, w1={w1.tolist()}, b1={b1.tolist()}, "
            f"w2={w2.tolist()}, b2={b2.tolist()})"
        )
        assert_close(
            student.mlp_forward(*_forward_args(params)),
            getattr(fixtures, f"{prefix}_Y_HAT"),
            call=call,
            what="prediction y_hat",
            mistakes=_forward_mistakes(params),
        )


@pytest.mark.weight(1)
def test_mse_loss_hand(student: Any) -> None:
    """mse_loss on the hand-computed examples"""
    for prefix in ("NOTES", "ZERO"):
        y_hat = np.array(getattr(fixtures, f"{prefix}_Y_HAT"))
        y = np.array(getattr(fixtures, f"{prefix}_Y"))
        _check_loss(
            student.mse_loss(y_hat, y),
            getattr(fixtures, f"{prefix}_LOSS"),
            _loss_mistakes(y_hat, y),
            call=f"mse_loss(y_hat={y_hat.tolist()}, y={y.tolist()})",
        )


@pytest.mark.weight(3)
def test_mlp_backward_notes(student: Any) -> None:
    """mlp_backward on the notes' 2-layer example"""
    params, text = _hand("NOTES")
    expected = {key: getattr(fixtures, f"NOTES_GRAD_{key.upper()}") for key in KEYS}
    _check_gradients(student.mlp_backward(*params), expected, params, call=f"mlp_backward({text})")


# --- level 2: the reference on random batches -------------------------------------------------


@pytest.mark.weight(1)
def test_mlp_forward_random(student: Any) -> None:
    """mlp_forward matches the reference on random batches"""
    for case in CASES:
        params, text = _random(*case)
        call = f"mlp_forward({text.replace(f'y {params[1].shape}, ', '')})"
        assert_close(
            student.mlp_forward(*_forward_args(params)),
            reference.mlp_forward(*_forward_args(params)),
            call=call,
            what="prediction y_hat",
            mistakes=_forward_mistakes(params),
        )


@pytest.mark.weight(1)
def test_mse_loss_random(student: Any) -> None:
    """mse_loss is the mean over all elements of a random batch"""
    for seed, n, d_out in ((10, 4, 3), (11, 2, 5)):
        rng = np.random.default_rng(seed)
        y_hat = rng.standard_normal((n, d_out))
        y = rng.standard_normal((n, d_out))
        _check_loss(
            student.mse_loss(y_hat, y),
            reference.mse_loss(y_hat, y),
            _loss_mistakes(y_hat, y),
            call=f"mse_loss(y_hat {y_hat.shape}, y {y.shape}); seed={seed}: y_hat, y drawn in "
            "this order with np.random.default_rng(seed).standard_normal",
        )


@pytest.mark.weight(5)
def test_mlp_backward_random(student: Any) -> None:
    """mlp_backward matches the reference on random batches"""
    for case in CASES:
        params, text = _random(*case)
        _check_gradients(
            student.mlp_backward(*params),
            reference.mlp_backward(*params),
            params,
            call=f"mlp_backward({text})",
        )


# --- level 3: properties of the contract ------------------------------------------------------


@pytest.mark.weight(2)
def test_gradient_keys(student: Any) -> None:
    """mlp_backward returns a dict with keys w1, b1, w2, b2"""
    params, text = _hand("NOTES")
    _as_gradients(student.mlp_backward(*params), call=f"mlp_backward({text})")


@pytest.mark.weight(2)
@pytest.mark.visible
def test_gradient_shapes(student: Any) -> None:
    """each gradient has the shape of its parameter"""
    for case in ((4, 4, 2, 3, 1), (5, 3, 5, 2, 4)):
        params, text = _random(*case)
        call = f"mlp_backward({text})"
        grads = _as_gradients(student.mlp_backward(*params), call=call)
        n = params[0].shape[0]
        for key, param in zip(ARGS[2:], params[2:], strict=True):
            _check_gradient_shape(grads[key], param.shape, key, n=n, call=call)


@pytest.mark.weight(3)
def test_relu_gradient_at_zero(student: Any) -> None:
    """the gradient through a pre-activation of exactly 0 is 0"""
    params, text = _hand("ZERO")
    expected = {key: getattr(fixtures, f"ZERO_GRAD_{key.upper()}") for key in KEYS}
    _check_gradients(
        student.mlp_backward(*params),
        expected,
        params,
        call=f"mlp_backward({text}), where z = x @ w1 + b1 = {fixtures.ZERO_Z}",
    )
