"""Grader for `normalization`: layer_norm, rms_norm, layer_norm_backward and BatchNorm.

Three levels: the hand-computed fixtures (graders/fixtures/normalization.py: rows whose
var + eps is a perfect square, a constant row, rows of tiny variance where the place of eps
shows), the reference on random inputs of several shapes with fixed seeds, and the properties of
the contract (rows independent of each other, shift and scale invariance, gradients that sum to
0 along a row, the momentum limits, eval with the batch's statistics equals training, N = 1
refused). Classic mistakes are recomputed here on purpose so a failure can name them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.checks import bare_name, gradient_dict
from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    assert_raises,
    assert_shape,
    unpack,
)
from transformer_kit.graders.fixtures import normalization as fixtures
from transformer_kit.solutions import normalization as reference

LN_EPS = 1e-5  # layer_norm's, layer_norm_backward's and BatchNorm's default eps
RMS_EPS = 1e-6  # rms_norm's default eps
KEYS = ("x", "gamma", "beta")
DRAWS = "drawn in this order from np.random.default_rng(seed)"

# --- the classic mistakes, in words -------------------------------------------------------------

EPS_OUTSIDE = (
    "eps outside the square root: divide by sqrt(var + eps), not by sqrt(var) + eps "
    "(the two differ where the variance is tiny)"
)
EPS_MISSING = "eps left out: divide by sqrt(var + eps) (without eps a constant row is 0 / 0)"
UNBIASED = (
    "the unbiased variance (divide by D - 1, ddof=1): LayerNorm uses the biased variance, "
    "divide by D (np.var's default)"
)
BATCH_AXIS = (
    "normalized over the batch axis (axis 0), as BatchNorm does: LayerNorm normalizes each row "
    "on its own, over the last axis (axis=-1, keepdims=True)"
)
ALL_AXES = (
    "one mean and variance for the whole array: take them per row, over the last axis only "
    "(axis=-1, keepdims=True)"
)
SEQUENCE_AXIS = (
    "normalized over axis 1 (for x (B, L, D) the sequence axis; axis=1 is only the last axis "
    "of a 2-D x): use axis=-1, the features, so that any number of leading axes works"
)
SWAPPED = "gamma and beta swapped: y = x_hat * gamma + beta (gamma scales, beta shifts)"
NO_AFFINE = "gamma and beta not applied: y = x_hat * gamma + beta"
NO_SQRT = "divided by the variance, not the standard deviation: divide by sqrt(var + eps)"
NOT_CENTRED = (
    "the mean is not subtracted (that is RMSNorm with a beta): LayerNorm centres each row, "
    "(x - mean) / sqrt(var + eps)"
)
RMS_CENTRED = (
    "the mean is subtracted (that is LayerNorm): RMSNorm does not centre, it divides x itself "
    "by sqrt(mean(x**2) + eps)"
)
RMS_EPS_OUTSIDE = (
    "eps outside the square root: divide by sqrt(mean(x**2) + eps), not by "
    "sqrt(mean(x**2)) + eps (the two differ where the row is tiny)"
)
RMS_L2 = (
    "divided by the L2 norm sqrt(sum(x**2)): RMSNorm uses the MEAN of the squares over the "
    "last axis"
)
RMS_NO_SQRT = "divided by the mean square, not its root: divide by sqrt(mean(x**2) + eps)"
RMS_BATCH_AXIS = (
    "the mean of the squares over the batch axis (axis 0): RMSNorm rescales each row on its "
    "own, over the last axis (axis=-1, keepdims=True)"
)
RMS_NO_GAMMA = "gamma not applied: y = x / sqrt(mean(x**2) + eps) * gamma"
RMS_MACHINE_EPS = (
    "eps left out, or machine epsilon (torch.nn.RMSNorm's default when eps=None): "
    "rms_norm's default is eps=1e-6 (Llama's), and pass the eps it is given on to your code "
    "(nn.RMSNorm(D, eps=eps))"
)
RMS_LN_DEFAULT = "eps = 1e-5, LayerNorm's default: rms_norm's default eps is 1e-6 (Llama's)"
LN_RMS_DEFAULT = "eps = 1e-6, RMSNorm's default: layer_norm's default eps is 1e-5 (PyTorch's)"

BACK_CONSTANT = (
    "the mean and the variance treated as constants (dL/dx = dy * gamma / sqrt(var + eps)): "
    "both depend on x, so with g = dy * gamma, dL/dx = (g - mean(g) - x_hat * mean(g * x_hat)) "
    "/ sqrt(var + eps)"
)
BACK_NO_MEAN = (
    "the path through the mean is missing: every x moves the mean, which subtracts mean(g) "
    "(g = dy * gamma, the mean over the row) from dL/dx before the division by sqrt(var + eps)"
)
BACK_NO_VAR = (
    "the path through the variance is missing: every x moves the variance, which subtracts "
    "x_hat * mean(g * x_hat) (g = dy * gamma) from dL/dx before the division by sqrt(var + eps)"
)
BACK_NO_GAMMA = "gamma left out of dL/dx: the gradient that reaches x_hat is g = dy * gamma, not dy"
BACK_SUMS = (
    "sums where means belong: dL/dx = (g - mean(g) - x_hat * mean(g * x_hat)) / sqrt(var + eps), "
    "the means over the D features of the row (or divide those sums by D)"
)
BACK_EPS_OUTSIDE = (
    "the gradient of a LayerNorm with eps outside the square root: the forward pass is "
    "(x - mean) / sqrt(var + eps), and its 1 / sqrt(var + eps) is what the chain rule goes through"
)
BACK_UNBIASED = (
    "the gradient of a LayerNorm with the unbiased variance (D - 1): the variance divides by D"
)
GAMMA_WITH_X = (
    'gradient "gamma" from x instead of x_hat: y = x_hat * gamma + beta, so '
    "dL/dgamma = sum of dy * x_hat over every leading axis"
)
GAMMA_TIMES_GAMMA = 'gradient "gamma" multiplied by gamma: dL/dgamma = sum of dy * x_hat'
SUM_NOT_MEAN = (
    "averaged over the rows: each row uses the same {name}, so its gradient is the SUM over "
    "every leading axis"
)
NOT_SUMMED = (
    "not summed over the rows: {name} is shared by every row, so sum over every leading axis "
    "(axis=tuple(range(x.ndim - 1))); the result has shape (D,)"
)
AXIS0_ONLY = (
    "summed over axis 0 only: for x (B, L, D), {name} is shared by all B * L rows, so sum over "
    "every leading axis, axis=tuple(range(x.ndim - 1))"
)
BETA_TIMES_GAMMA = (
    'gradient "beta" multiplied by gamma: beta is added after gamma, dL/dbeta = sum of dy'
)

BN_UNBIASED = (
    "normalized with the unbiased batch variance (N - 1): y uses the biased one (divide by N); "
    "only the running variance gets the unbiased one"
)
BN_FEATURE_AXIS = (
    "normalized each example over its channels (axis 1), as LayerNorm does: BatchNorm "
    "normalizes each channel over the batch, axis 0"
)
BN_RUNNING_USED = (
    "normalized with the running statistics (that is eval mode): in training mode y uses the "
    "batch's own mean and variance"
)
BN_UPDATED_USED = (
    "normalized with the updated running statistics: in training mode y uses the batch's own "
    "mean and (biased) variance"
)
KERAS = (
    "Keras's momentum convention, momentum * running + (1 - momentum) * batch: in PyTorch's "
    "(this kit's) momentum weighs the NEW batch, (1 - momentum) * running + momentum * batch"
)
RUNNING_BIASED = (
    "the running variance from the biased batch variance: PyTorch (and this kit) feed the "
    "unbiased one, divided by N - 1, into running_var"
)
KERAS_BIASED = (
    "Keras's momentum convention and the biased variance: new_running_var = (1 - momentum) * "
    "running_var + momentum * unbiased batch variance (divide by N - 1)"
)
NOT_UPDATED = (
    "the running statistic came back unchanged: return (1 - momentum) * running + momentum * "
    "batch statistic"
)
BATCH_ONLY = (
    "returned the batch statistic itself, without the running one: (1 - momentum) * running + "
    "momentum * batch statistic"
)
RUNNING_STD = (
    "a running standard deviation: running_var tracks the (unbiased) variance, not its square root"
)
RUNNING_ORDER = (
    "the running statistics in the wrong order: return (y, new_running_mean, new_running_var)"
)
RUNNING_FEATURE_AXIS = (
    "statistics over axis 1 (one per example): BatchNorm keeps one mean and one variance per "
    "channel, over the batch axis 0, shape (C,)"
)
EVAL_BATCH = (
    "normalized with the batch's own statistics (that is training mode): in eval mode use "
    "running_mean and running_var"
)
EVAL_NO_SQRT = (
    "running_var used as a standard deviation: it is a variance, divide by sqrt(running_var + eps)"
)
EVAL_STATS_SWAPPED = "running_mean and running_var swapped (check the argument order)"
N1_HINT = (
    "check x.shape[0] first: with one example there is no batch variance (PyTorch refuses it in "
    "training mode), raise ValueError naming N"
)


def _eps_ignored(given: float, used: float) -> str:
    return f"the eps argument is ignored ({used:g} used instead of eps={given:g}): pass eps on"


# --- the computations, with one step done the way a classic mistake does it ---------------------


def _normalize(
    x: np.ndarray,
    eps: float,
    *,
    axis: int | tuple[int, ...] | None = -1,
    ddof: int = 0,
    where: str = "inside",
    centre: bool = True,
) -> np.ndarray:
    """(x - mean) / sqrt(var + eps) over `axis`, or one of its mistaken forms."""
    mean = x.mean(axis=axis, keepdims=True) if centre else 0.0
    count = x.size if axis is None else np.prod([x.shape[a] for a in np.atleast_1d(axis)])
    with np.errstate(all="ignore"):
        var = ((x - mean) ** 2).sum(axis=axis, keepdims=True) / max(count - ddof, 1)
        if where == "outside":
            return (x - mean) / (np.sqrt(var) + eps)
        if where == "no sqrt":
            return (x - mean) / (var + eps)
        return (x - mean) / np.sqrt(var + eps)


def layer_norm_mistakes(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float, *, default_eps: bool = False
) -> dict[str, np.ndarray]:
    """{description of a classic mistake: what layer_norm returns with it}."""
    affine = lambda x_hat: x_hat * gamma + beta  # noqa: E731
    mistakes = {
        EPS_OUTSIDE: affine(_normalize(x, eps, where="outside")),
        EPS_MISSING: affine(_normalize(x, 0.0)),
        UNBIASED: affine(_normalize(x, eps, ddof=1)),
        NO_SQRT: affine(_normalize(x, eps, where="no sqrt")),
        NOT_CENTRED: affine(_normalize(x, eps, centre=False)),
        SWAPPED: _normalize(x, eps) * beta + gamma,
        NO_AFFINE: _normalize(x, eps),
    }
    if x.ndim >= 2:
        mistakes[BATCH_AXIS] = affine(_normalize(x, eps, axis=0))
        mistakes[ALL_AXES] = affine(_normalize(x, eps, axis=None))
    if x.ndim >= 3:
        mistakes[SEQUENCE_AXIS] = affine(_normalize(x, eps, axis=1))
    mistakes |= public_layer_norm_mistakes(x, gamma, beta, eps)
    if default_eps:
        mistakes[LN_RMS_DEFAULT] = affine(_normalize(x, RMS_EPS))
    else:
        for used in (LN_EPS, RMS_EPS):
            if used != eps:
                mistakes[_eps_ignored(eps, used)] = affine(_normalize(x, used))
    return mistakes


def _rms(
    x: np.ndarray, eps: float, *, axis: int = -1, reduce: str = "mean", where: str = "inside"
) -> np.ndarray:
    """x / sqrt(mean(x**2) + eps) over `axis`, or one of its mistaken forms."""
    with np.errstate(all="ignore"):
        squares = (x**2).sum(axis=axis, keepdims=True)
        square = squares if reduce == "sum" else squares / x.shape[axis]
        if where == "outside":
            return x / (np.sqrt(square) + eps)
        if where == "no sqrt":
            return x / (square + eps)
        return x / np.sqrt(square + eps)


def rms_norm_mistakes(
    x: np.ndarray, gamma: np.ndarray, eps: float, *, default_eps: bool = False
) -> dict[str, np.ndarray]:
    """{description of a classic mistake: what rms_norm returns with it}."""
    mistakes = {
        RMS_CENTRED: _normalize(x, eps) * gamma,
        RMS_EPS_OUTSIDE: _rms(x, eps, where="outside") * gamma,
        RMS_L2: _rms(x, eps, reduce="sum") * gamma,
        RMS_NO_SQRT: _rms(x, eps, where="no sqrt") * gamma,
        RMS_NO_GAMMA: _rms(x, eps),
        RMS_MACHINE_EPS: _rms(x, float(np.finfo(np.float64).eps)) * gamma,
        RMS_MACHINE_EPS + " (float32's machine epsilon here)": (
            _rms(x, float(np.finfo(np.float32).eps)) * gamma
        ),
    }
    if x.ndim >= 2:
        mistakes[RMS_BATCH_AXIS] = _rms(x, eps, axis=0) * gamma
    mistakes[RMS_GEMMA] = _rms(x, eps) * (1.0 + gamma)
    if default_eps:
        mistakes[RMS_LN_DEFAULT] = _rms(x, LN_EPS) * gamma
    else:
        for used in (RMS_EPS, LN_EPS):
            if used != eps:
                mistakes[_eps_ignored(eps, used)] = _rms(x, used) * gamma
    return mistakes


def _backward_x(
    x: np.ndarray,
    dy: np.ndarray,
    gamma: np.ndarray,
    eps: float,
    *,
    mean_path: bool = True,
    var_path: bool = True,
    use_gamma: bool = True,
    sums: bool = False,
    where: str = "inside",
    ddof: int = 0,
) -> np.ndarray:
    """dL/dx of sum(dy * layer_norm(x)), by the chain rule, or with one of its classic mistakes.

    x_hat = c * k(var), c = x - mean, var = sum(c**2) / (D - ddof), k = 1 / sqrt(var + eps)
    (or 1 / (sqrt(var) + eps) with eps outside)."""
    d = x.shape[-1]
    c = x - x.mean(axis=-1, keepdims=True)
    var = (c**2).sum(axis=-1, keepdims=True) / max(d - ddof, 1)
    with np.errstate(all="ignore"):
        if where == "outside":
            std = np.sqrt(var)
            k, dk = 1.0 / (std + eps), -1.0 / ((std + eps) ** 2 * 2.0 * std)
        else:
            k, dk = 1.0 / np.sqrt(var + eps), -0.5 * (var + eps) ** -1.5
        g = dy * gamma if use_gamma else dy
        if sums:  # the compact formula with sums in place of means
            x_hat = c * k
            return k * (g - g.sum(-1, keepdims=True) - x_hat * (g * x_hat).sum(-1, keepdims=True))
        d_c = g * k
        if var_path:
            d_c = d_c + (g * c).sum(axis=-1, keepdims=True) * dk * 2.0 * c / max(d - ddof, 1)
        return d_c - d_c.mean(axis=-1, keepdims=True) if mean_path else d_c


def gradient_mistakes(
    x: np.ndarray, dy: np.ndarray, gamma: np.ndarray, eps: float
) -> dict[str, dict[str, np.ndarray]]:
    """For each key, {description of a classic mistake: the gradient it gives}."""
    args = (x, dy, gamma, eps)
    with np.errstate(all="ignore"):
        x_hat = _normalize(x, eps)
    leading = tuple(range(x.ndim - 1))
    grad_x = {
        BACK_CONSTANT: _backward_x(*args, mean_path=False, var_path=False),
        BACK_NO_MEAN: _backward_x(*args, mean_path=False),
        BACK_NO_VAR: _backward_x(*args, var_path=False),
        BACK_NO_GAMMA: _backward_x(*args, use_gamma=False),
        BACK_SUMS: _backward_x(*args, sums=True),
        BACK_EPS_OUTSIDE: _backward_x(*args, where="outside"),
        BACK_UNBIASED: _backward_x(*args, ddof=1),
        BACK_NO_GAMMA + "; and " + BACK_CONSTANT: _backward_x(
            *args, use_gamma=False, mean_path=False, var_path=False
        ),
    }
    grad_gamma = {
        GAMMA_WITH_X: (dy * x).sum(axis=leading),
        GAMMA_TIMES_GAMMA: (dy * x_hat * gamma).sum(axis=leading),
    }
    grad_beta = {BETA_TIMES_GAMMA: (dy * gamma).sum(axis=leading)}
    for name, per_row, wrong in (("gamma", dy * x_hat, grad_gamma), ("beta", dy, grad_beta)):
        if x.ndim >= 2:
            wrong[f'gradient "{name}" ' + SUM_NOT_MEAN.format(name=name)] = per_row.mean(
                axis=leading
            )
            wrong[f'gradient "{name}" ' + NOT_SUMMED.format(name=name)] = per_row
        if x.ndim >= 3:
            wrong[f'gradient "{name}" ' + AXIS0_ONLY.format(name=name)] = per_row.sum(axis=0)
    return {"x": grad_x, "gamma": grad_gamma, "beta": grad_beta}


def _batch_norm(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    momentum: float,
    eps: float,
    *,
    keras: bool = False,
    running_ddof: int = 1,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    n = x.shape[0]
    mean, var = x.mean(axis=0), x.var(axis=0)
    batch_var = var * n / (n - running_ddof)
    weight = 1.0 - momentum if keras else momentum
    y = (x - mean) / np.sqrt(var + eps) * gamma + beta
    new_mean = (1 - weight) * running_mean + weight * mean
    new_var = (1 - weight) * running_var + weight * batch_var
    return y, new_mean, new_var


def batch_norm_mistakes(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    momentum: float,
    eps: float,
    *,
    default_eps: bool = True,
) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """{mistake: value} for y, new_running_mean and new_running_var."""
    args = (x, gamma, beta, running_mean, running_var, momentum, eps)
    _, ref_mean, ref_var = _batch_norm(*args)
    n = x.shape[0]
    with np.errstate(all="ignore"):
        affine = lambda x_hat: x_hat * gamma + beta  # noqa: E731
        unbiased = x.var(axis=0) * n / (n - 1)
        y = {
            EPS_OUTSIDE: affine(_normalize(x, eps, axis=0, where="outside")),
            EPS_MISSING: affine(_normalize(x, 0.0, axis=0)),
            BN_UNBIASED: affine(_normalize(x, eps, axis=0, ddof=1)),
            NO_SQRT: affine(_normalize(x, eps, axis=0, where="no sqrt")),
            BN_FEATURE_AXIS: affine(_normalize(x, eps, axis=1)),
            BN_RUNNING_USED: affine((x - running_mean) / np.sqrt(running_var + eps)),
            BN_UPDATED_USED: affine((x - ref_mean) / np.sqrt(ref_var + eps)),
            SWAPPED: _normalize(x, eps, axis=0) * beta + gamma,
            NO_AFFINE: _normalize(x, eps, axis=0),
        }
        if not default_eps and eps != LN_EPS:
            y[_eps_ignored(eps, LN_EPS)] = affine(_normalize(x, LN_EPS, axis=0))
        mean = x.mean(axis=0)
        new_mean = {
            KERAS: momentum * running_mean + (1 - momentum) * mean,
            NOT_UPDATED: running_mean,
            BATCH_ONLY: mean,
            RUNNING_ORDER: ref_var,
        }
        new_var = {
            RUNNING_BIASED: _batch_norm(*args, running_ddof=0)[2],
            KERAS: _batch_norm(*args, keras=True)[2],
            KERAS_BIASED: _batch_norm(*args, keras=True, running_ddof=0)[2],
            NOT_UPDATED: running_var,
            BATCH_ONLY: unbiased,
            BATCH_ONLY + " (and the biased one)": x.var(axis=0),
            RUNNING_STD: (1 - momentum) * running_var + momentum * np.sqrt(unbiased),
            RUNNING_ORDER: ref_mean,
        }
        if n == x.shape[1] >= 2:  # statistics per example only have the shape (C,) when N == C
            new_mean[RUNNING_FEATURE_AXIS] = (1 - momentum) * running_mean + momentum * x.mean(1)
            new_var[RUNNING_FEATURE_AXIS] = (1 - momentum) * running_var + momentum * x.var(
                axis=1, ddof=1
            )
    return y, new_mean, new_var


def eval_mistakes(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    eps: float,
) -> dict[str, np.ndarray]:
    with np.errstate(all="ignore"):
        affine = lambda x_hat: x_hat * gamma + beta  # noqa: E731
        mistakes = {
            EVAL_BATCH: affine(_normalize(x, eps, axis=0)),
            EVAL_BATCH + " (with the unbiased variance)": affine(
                _normalize(x, eps, axis=0, ddof=1)
            ),
            EVAL_NO_SQRT: affine((x - running_mean) / (running_var + eps)),
            EPS_OUTSIDE: affine((x - running_mean) / (np.sqrt(running_var) + eps)),
            EPS_MISSING: affine((x - running_mean) / np.sqrt(running_var)),
            EVAL_STATS_SWAPPED: affine((x - running_var) / np.sqrt(running_mean + eps)),
            SWAPPED: (x - running_mean) / np.sqrt(running_var + eps) * beta + gamma,
            NO_AFFINE: (x - running_mean) / np.sqrt(running_var + eps),
        }
        if eps != LN_EPS:
            mistakes[_eps_ignored(eps, LN_EPS)] = affine(
                (x - running_mean) / np.sqrt(running_var + LN_EPS)
            )
    return mistakes


# --- checks ---------------------------------------------------------------------------------------


def _as_gradients(got: Any, *, call: str) -> Mapping[str, Any]:
    """`got` as a dict with exactly the keys x, gamma, beta, or a Mismatch saying why not."""
    return gradient_dict(got, KEYS, function="layer_norm_backward", call=call, misnamed=_misnamed)


def _misnamed(extra: list[Any]) -> str:
    if any(bare_name(key, KEYS) in KEYS for key in extra):
        return 'name each gradient exactly after its argument: "x", not "dx", "grad_x" or "d_x"'
    if any(str(key).lower() in ("weight", "bias", "input") for key in extra):
        return (
            'PyTorch\'s parameter names (weight, bias): this kit names the gradients "x", '
            '"gamma" and "beta"'
        )
    return ""


def _check_gradients(
    got: Any,
    expected: Mapping[str, Any],
    x: np.ndarray,
    dy: np.ndarray,
    gamma: np.ndarray,
    eps: float,
    *,
    call: str,
) -> None:
    """Keys, then every shape, then every value, naming the classic mistakes."""
    grads = _as_gradients(got, call=call)
    wrong = gradient_mistakes(x, dy, gamma, eps)
    for key in KEYS:
        what = f'gradient "{key}"'
        assert_shape(grads[key], np.shape(expected[key]), call=call, what=what, mistakes=wrong[key])
    for key in KEYS:
        assert_close(
            grads[key], expected[key], call=call, what=f'gradient "{key}"', mistakes=wrong[key]
        )


def _check_batch_norm(
    got: Any, expected: tuple[Any, Any, Any], mistakes: tuple[dict[str, Any], ...], *, call: str
) -> None:
    """(y, new_running_mean, new_running_var): the tuple, then each part, mistakes named."""
    parts = unpack(got, 3, call=call, what="result (y, new_running_mean, new_running_var)")
    names = ("y (first result)", "new_running_mean (second result)", "new_running_var (third)")
    for part, want, wrong, what in zip(parts, expected, mistakes, names, strict=True):
        assert_close(part, want, call=call, what=what, mistakes=wrong)


def _draw(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Rows with their own offset and spread, so centring and scaling both matter."""
    offset = rng.uniform(-2.0, 2.0, (*shape[:-1], 1))
    spread = rng.uniform(0.5, 3.0, (*shape[:-1], 1))
    return offset + spread * rng.standard_normal(shape)


def _random_ln(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    d = shape[-1]
    x = _draw(rng, shape)
    return x, rng.standard_normal(d), rng.standard_normal(d), rng.standard_normal(shape)


LN_DRAWS = (
    "x = offset + spread * standard_normal(shape) with offset ~ uniform(-2, 2) and spread ~ "
    "uniform(0.5, 3) per row, then gamma, beta, dy standard normal, " + DRAWS
)


def _eps_text(eps: float | None) -> str:
    return "" if eps is None else f", eps={eps:g}"


def _with_eps(eps: float | None) -> dict[str, float]:
    return {} if eps is None else {"eps": eps}


# --- layer_norm -----------------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_layer_norm_hand(student: Any) -> None:
    """layer_norm on hand-computed rows (eps = 0.5, a constant row)"""
    x, gamma, beta = (np.array(v) for v in (fixtures.LN_X, fixtures.LN_GAMMA, fixtures.LN_BETA))
    call = (
        f"layer_norm(x={fixtures.LN_X}, gamma={fixtures.LN_GAMMA}, beta={fixtures.LN_BETA}, "
        f"eps={fixtures.LN_EPS})"
    )
    got = student.layer_norm(x, gamma, beta, eps=fixtures.LN_EPS)
    mistakes = layer_norm_mistakes(x, gamma, beta, fixtures.LN_EPS)
    assert_close(got, fixtures.LN_Y, call=call, mistakes=mistakes)


@pytest.mark.weight(2)
def test_layer_norm_tiny_variance(student: Any) -> None:
    """layer_norm on a row of tiny variance, where eps inside or outside the root shows"""
    x, gamma, beta = (
        np.array(v) for v in (fixtures.TINY_X, fixtures.TINY_GAMMA, fixtures.TINY_BETA)
    )
    call = (
        f"layer_norm(x=0.5 + [a, -a, -a, a] with a = 2**-10 (var = a**2, below eps), "
        f"gamma={fixtures.TINY_GAMMA}, beta={fixtures.TINY_BETA}) with the default eps"
    )
    got = student.layer_norm(x, gamma, beta)
    mistakes = layer_norm_mistakes(x, gamma, beta, LN_EPS, default_eps=True)
    assert_close(got, fixtures.TINY_Y, call=call, mistakes=mistakes)


@pytest.mark.parametrize(
    "seed, shape, eps",
    [(0, (6,), None), (1, (3, 5), None), (2, (2, 3, 4), 0.1), (3, (2, 2, 2, 8), None)],
    ids=["1d", "2d", "3d-eps", "4d"],
)
def test_layer_norm_random(
    student: Any, seed: int, shape: tuple[int, ...], eps: float | None
) -> None:
    """layer_norm matches the reference on random inputs"""
    x, gamma, beta, _ = _random_ln(seed, shape)
    d = shape[-1]
    call = (
        f"layer_norm(x {shape}, gamma ({d},), beta ({d},){_eps_text(eps)}); seed={seed}: "
        + LN_DRAWS
    )
    got = student.layer_norm(x, gamma, beta, **_with_eps(eps))
    used = LN_EPS if eps is None else eps
    mistakes = layer_norm_mistakes(x, gamma, beta, used, default_eps=eps is None)
    assert_close(got, reference.layer_norm(x, gamma, beta, used), call=call, mistakes=mistakes)


def test_layer_norm_rows_independent(student: Any) -> None:
    """each row is normalized on its own: a row alone gives the same as inside a batch"""
    x, gamma, beta, _ = _random_ln(10, (4, 6))
    x[2] += 10.0  # one row far from the others
    call = "layer_norm(x (4, 6), gamma (6,), beta (6,)); seed=10 (then 10 added to row 2): "
    got = student.layer_norm(x, gamma, beta)
    mistakes = layer_norm_mistakes(x, gamma, beta, LN_EPS, default_eps=True)
    assert_close(got, reference.layer_norm(x, gamma, beta), call=call + LN_DRAWS, mistakes=mistakes)
    whole = as_array(got, call=call)
    for i in range(x.shape[0]):
        alone = student.layer_norm(x[i : i + 1], gamma, beta)
        assert_close(
            alone,
            whole[i : i + 1],
            call=f"layer_norm(x[{i}:{i + 1}], gamma, beta) against row {i} of layer_norm(x, ...)",
            what=f"row {i} normalized alone",
            mistakes={BATCH_AXIS: np.zeros((1, x.shape[1])) + beta},
        )


def test_layer_norm_invariances(student: Any) -> None:
    """layer_norm ignores a shift of each row, and a scale s with eps scaled by s**2"""
    x, gamma, beta, _ = _random_ln(11, (3, 5))
    base = student.layer_norm(x, gamma, beta, eps=0.01)
    call = "layer_norm(x (3, 5), gamma, beta, eps=0.01); seed=11"
    assert_close(
        base,
        reference.layer_norm(x, gamma, beta, 0.01),
        call=call,
        mistakes=layer_norm_mistakes(x, gamma, beta, 0.01),
    )
    shift = np.array([[3.0], [-7.0], [100.0]])
    shifted = student.layer_norm(x + shift, gamma, beta, eps=0.01)
    assert_close(
        shifted,
        base,
        call="layer_norm(x + [[3], [-7], [100]], gamma, beta, eps=0.01) against the unshifted x",
        what="result for shifted rows",
        mistakes={NOT_CENTRED: reference.rms_norm(x + shift, gamma, 0.01) + beta},
    )
    scaled = student.layer_norm(4.0 * x, gamma, beta, eps=0.16)
    assert_close(
        scaled,
        base,
        call="layer_norm(4 * x, gamma, beta, eps=0.16) against layer_norm(x, ..., eps=0.01)",
        what="result for scaled rows",
    )


# --- rms_norm -------------------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_rms_norm_hand(student: Any) -> None:
    """rms_norm on hand-computed rows (eps = 1, a row of zeros)"""
    x, gamma = np.array(fixtures.RMS_X), np.array(fixtures.RMS_GAMMA)
    call = f"rms_norm(x={fixtures.RMS_X}, gamma={fixtures.RMS_GAMMA}, eps={fixtures.RMS_EPS})"
    got = student.rms_norm(x, gamma, eps=fixtures.RMS_EPS)
    mistakes = rms_norm_mistakes(x, gamma, fixtures.RMS_EPS)
    assert_close(got, fixtures.RMS_Y, call=call, mistakes=mistakes)


@pytest.mark.weight(1)
def test_rms_norm_default_eps(student: Any) -> None:
    """rms_norm's default eps is 1e-6: a row whose mean square is about eps"""
    x, gamma = np.array(fixtures.RMS_TINY_X), np.array(fixtures.RMS_TINY_GAMMA)
    call = (
        f"rms_norm(x=[a, -a, a, -a] with a = 2**-10 (mean square 9.5e-7), "
        f"gamma={fixtures.RMS_TINY_GAMMA}) with the default eps"
    )
    got = student.rms_norm(x, gamma)
    mistakes = rms_norm_mistakes(x, gamma, RMS_EPS, default_eps=True)
    assert_close(got, fixtures.RMS_TINY_Y, call=call, mistakes=mistakes)


@pytest.mark.parametrize(
    "seed, shape, eps",
    [(20, (5,), None), (21, (4, 6), None), (22, (2, 3, 4), 1e-3)],
    ids=["1d", "2d", "3d-eps"],
)
def test_rms_norm_random(
    student: Any, seed: int, shape: tuple[int, ...], eps: float | None
) -> None:
    """rms_norm matches the reference on random inputs"""
    x, gamma, _, _ = _random_ln(seed, shape)
    call = f"rms_norm(x {shape}, gamma ({shape[-1]},){_eps_text(eps)}); seed={seed}: " + LN_DRAWS
    got = student.rms_norm(x, gamma, **_with_eps(eps))
    used = RMS_EPS if eps is None else eps
    mistakes = rms_norm_mistakes(x, gamma, used, default_eps=eps is None)
    assert_close(got, reference.rms_norm(x, gamma, used), call=call, mistakes=mistakes)


def test_rms_norm_scale_invariance(student: Any) -> None:
    """rms_norm(s * x, eps * s**2) equals rms_norm(x, eps); rows are independent"""
    x, gamma, _, _ = _random_ln(23, (3, 4))
    base = student.rms_norm(x, gamma, eps=0.01)
    call = "rms_norm(x (3, 4), gamma (4,), eps=0.01); seed=23"
    assert_close(
        base,
        reference.rms_norm(x, gamma, 0.01),
        call=call,
        mistakes=rms_norm_mistakes(x, gamma, 0.01),
    )
    for i, s in enumerate((0.5, 2.0, 8.0)):  # row i scaled by s, eps by s**2
        got = student.rms_norm(s * x[i : i + 1], gamma, eps=0.01 * s**2)
        assert_close(
            got,
            as_array(base, call=call)[i : i + 1],
            call=f"rms_norm({s:g} * x[{i}:{i + 1}], gamma, eps={0.01 * s**2:g}) against row {i} "
            "of rms_norm(x, gamma, eps=0.01)",
            what=f"row {i} scaled",
        )


# --- layer_norm_backward --------------------------------------------------------------------------


@pytest.mark.weight(3)
def test_layer_norm_backward_hand(student: Any) -> None:
    """layer_norm_backward on the hand-computed rows (eps = 0.5)"""
    x, dy, gamma = (np.array(v) for v in (fixtures.BACK_X, fixtures.BACK_DY, fixtures.BACK_GAMMA))
    call = (
        f"layer_norm_backward(x={fixtures.BACK_X}, dy={fixtures.BACK_DY}, "
        f"gamma={fixtures.BACK_GAMMA}, eps={fixtures.BACK_EPS})"
    )
    expected = {
        "x": fixtures.BACK_GRAD_X,
        "gamma": fixtures.BACK_GRAD_GAMMA,
        "beta": fixtures.BACK_GRAD_BETA,
    }
    got = student.layer_norm_backward(x, dy, gamma, eps=fixtures.BACK_EPS)
    _check_gradients(got, expected, x, dy, gamma, fixtures.BACK_EPS, call=call)


@pytest.mark.weight(2)
def test_layer_norm_backward_keys(student: Any) -> None:
    """layer_norm_backward returns a dict with keys x, gamma, beta"""
    x, dy, gamma = (np.array(v) for v in (fixtures.BACK_X, fixtures.BACK_DY, fixtures.BACK_GAMMA))
    call = f"layer_norm_backward(x={fixtures.BACK_X}, dy={fixtures.BACK_DY}, gamma=..., eps=0.5)"
    _as_gradients(student.layer_norm_backward(x, dy, gamma, eps=fixtures.BACK_EPS), call=call)


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, shape, eps",
    [(30, (5,), None), (31, (3, 4), None), (32, (2, 3, 5), None), (33, (4, 6), 0.1)],
    ids=["1d", "2d", "3d", "2d-eps"],
)
def test_layer_norm_backward_random(
    student: Any, seed: int, shape: tuple[int, ...], eps: float | None
) -> None:
    """layer_norm_backward matches the reference on random inputs"""
    x, gamma, _, dy = _random_ln(seed, shape)
    call = (
        f"layer_norm_backward(x {shape}, dy {shape}, gamma ({shape[-1]},){_eps_text(eps)}); "
        f"seed={seed}: " + LN_DRAWS
    )
    used = LN_EPS if eps is None else eps
    got = student.layer_norm_backward(x, dy, gamma, **_with_eps(eps))
    expected = reference.layer_norm_backward(x, dy, gamma, used)
    _check_gradients(got, expected, x, dy, gamma, used, call=call)


@pytest.mark.weight(2)
def test_layer_norm_backward_tiny_variance(student: Any) -> None:
    """layer_norm_backward through a row of tiny variance (default eps)"""
    x = np.array([*fixtures.TINY_X, [1.0, -2.0, 0.5, 3.0]])
    dy = np.array([[1.0, -0.5, 0.25, 2.0], [0.5, 1.0, -1.0, 0.0]])
    gamma = np.array([1.5, -1.0, 0.5, 2.0])
    call = (
        "layer_norm_backward(x=[0.5 + [a, -a, -a, a], [1, -2, 0.5, 3]] with a = 2**-10, "
        f"dy={dy.tolist()}, gamma={gamma.tolist()}) with the default eps"
    )
    got = student.layer_norm_backward(x, dy, gamma)
    _check_gradients(
        got, reference.layer_norm_backward(x, dy, gamma), x, dy, gamma, LN_EPS, call=call
    )


def test_layer_norm_backward_rows_sum_to_zero(student: Any) -> None:
    """dL/dx sums to 0 along each row (shifting a whole row changes nothing)"""
    x, gamma, _, dy = _random_ln(34, (3, 5))
    call = f"layer_norm_backward(x (3, 5), dy (3, 5), gamma (5,)); seed=34: {LN_DRAWS}"
    grads = _as_gradients(student.layer_norm_backward(x, dy, gamma), call=call)
    d_x = as_array(grads["x"], call=call, what='gradient "x"')
    wrong = gradient_mistakes(x, dy, gamma, LN_EPS)["x"]
    assert_shape(d_x, x.shape, call=call, what='gradient "x"', mistakes=wrong)
    sums = d_x.sum(axis=-1)
    if not np.allclose(sums, 0.0, atol=1e-6 * max(1.0, float(np.abs(d_x).max()))):
        raise Mismatch(
            'the rows of gradient "x" do not sum to 0',
            call=call,
            expected="sum over the last axis = [0, 0, 0]",
            got=f"sums {np.round(sums, 6).tolist()}",
            diagnosis=BACK_NO_MEAN,
        )


# --- batch_norm_train -----------------------------------------------------------------------------


def _random_bn(seed: int, n: int, c: int) -> tuple[np.ndarray, ...]:
    rng = np.random.default_rng(seed)
    x = rng.uniform(-2.0, 2.0, c) + rng.uniform(0.5, 3.0, c) * rng.standard_normal((n, c))
    gamma, beta = rng.standard_normal(c), rng.standard_normal(c)
    return x, gamma, beta, rng.standard_normal(c), rng.uniform(0.5, 2.0, c)


BN_DRAWS = (
    "x = offset + spread * standard_normal((N, C)) with offset ~ uniform(-2, 2) and spread ~ "
    "uniform(0.5, 3) per channel, then gamma, beta, running_mean standard normal and "
    "running_var ~ uniform(0.5, 2), " + DRAWS
)


@pytest.mark.weight(2)
def test_batch_norm_train_hand(student: Any) -> None:
    """batch_norm_train on a hand-computed batch (momentum = 0.25, eps = 0.5)"""
    names = ("BN_X", "BN_GAMMA", "BN_BETA", "BN_RUNNING_MEAN", "BN_RUNNING_VAR")
    x, gamma, beta, running_mean, running_var = (np.array(getattr(fixtures, n)) for n in names)
    call = (
        f"batch_norm_train(x={fixtures.BN_X}, gamma={fixtures.BN_GAMMA}, "
        f"beta={fixtures.BN_BETA}, running_mean={fixtures.BN_RUNNING_MEAN}, "
        f"running_var={fixtures.BN_RUNNING_VAR}, momentum=0.25, eps=0.5)"
    )
    got = student.batch_norm_train(
        x,
        gamma,
        beta,
        running_mean,
        running_var,
        momentum=fixtures.BN_MOMENTUM,
        eps=fixtures.BN_EPS,
    )
    mistakes = batch_norm_mistakes(
        x,
        gamma,
        beta,
        running_mean,
        running_var,
        fixtures.BN_MOMENTUM,
        fixtures.BN_EPS,
        default_eps=False,
    )
    expected = (fixtures.BN_Y, fixtures.BN_NEW_RUNNING_MEAN, fixtures.BN_NEW_RUNNING_VAR)
    _check_batch_norm(got, expected, mistakes, call=call)


@pytest.mark.parametrize(
    "seed, n, c, momentum, eps",
    [(40, 2, 3, None, None), (41, 5, 4, None, None), (42, 8, 1, 0.3, None), (43, 3, 3, 0.05, 1e-3)],
    ids=["N2", "N5", "C1-momentum", "square-eps"],
)
def test_batch_norm_train_random(
    student: Any, seed: int, n: int, c: int, momentum: float | None, eps: float | None
) -> None:
    """batch_norm_train matches the reference on random batches"""
    args = _random_bn(seed, n, c)
    options = {**({} if momentum is None else {"momentum": momentum}), **_with_eps(eps)}
    shown = "".join(f", {k}={v:g}" for k, v in options.items())
    call = (
        f"batch_norm_train(x ({n}, {c}), gamma, beta, running_mean, running_var ({c},){shown}); "
        f"seed={seed}: {BN_DRAWS}"
    )
    used_momentum = 0.1 if momentum is None else momentum
    used_eps = LN_EPS if eps is None else eps
    got = student.batch_norm_train(*args, **options)
    expected = reference.batch_norm_train(*args, used_momentum, used_eps)
    mistakes = batch_norm_mistakes(*args, used_momentum, used_eps, default_eps=eps is None)
    _check_batch_norm(got, expected, mistakes, call=call)


@pytest.mark.weight(1)
def test_batch_norm_train_tiny_variance(student: Any) -> None:
    """batch_norm_train on a channel of tiny variance (default eps)"""
    a = fixtures.TINY_A
    x = np.array([[0.5 + a, 1.0], [0.5 - a, -1.0], [0.5 - a, 2.0], [0.5 + a, 0.0]])
    gamma, beta = np.array([2.0, 1.0]), np.array([0.0, 1.0])
    running_mean, running_var = np.array([0.0, 0.0]), np.array([1.0, 1.0])
    args = (x, gamma, beta, running_mean, running_var)
    call = (
        "batch_norm_train(x (4, 2) whose column 0 is 0.5 + [a, -a, -a, a] with a = 2**-10 "
        f"(var below eps) and column 1 [1, -1, 2, 0], gamma={gamma.tolist()}, "
        f"beta={beta.tolist()}, running_mean=[0, 0], running_var=[1, 1])"
    )
    got = student.batch_norm_train(*args)
    _check_batch_norm(
        got,
        reference.batch_norm_train(*args),
        batch_norm_mistakes(*args, 0.1, LN_EPS),
        call=call,
    )


@pytest.mark.weight(2)
def test_batch_norm_train_one_example_raises(student: Any) -> None:
    """batch_norm_train with N = 1 raises ValueError naming N"""
    x, gamma, beta, running_mean, running_var = _random_bn(44, 1, 3)
    call = "batch_norm_train(x (1, 3), gamma (3,), beta (3,), running_mean (3,), running_var (3,))"
    try:
        text = assert_raises(
            "ValueError",
            student.batch_norm_train,
            x,
            gamma,
            beta,
            running_mean,
            running_var,
            call=call,
        )
    except Mismatch as failure:
        failure.diagnosis = failure.diagnosis or N1_HINT
        raise
    if not re.search(r"(?<![\d.])1(?![\d.])", text):
        raise Mismatch(
            "the ValueError does not say what was wrong: name the batch size N = 1",
            call=call,
            expected="a message naming N = 1 (or the shape (1, 3))",
            got=f"ValueError: {text}",
        )


def test_batch_norm_train_momentum_limits(student: Any) -> None:
    """momentum 1 keeps only the batch's statistics, momentum 0 only the running ones"""
    args = _random_bn(45, 4, 3)
    for momentum in (1.0, 0.0):
        call = (
            f"batch_norm_train(x (4, 3), gamma, beta, running_mean, running_var (3,), "
            f"momentum={momentum:g}); seed=45: {BN_DRAWS}"
        )
        got = student.batch_norm_train(*args, momentum=momentum)
        expected = reference.batch_norm_train(*args, momentum)
        mistakes = batch_norm_mistakes(*args, momentum, LN_EPS)
        if momentum == 1.0:  # the batch statistics, whatever the running ones were
            mistakes[2].pop(BATCH_ONLY)
        _check_batch_norm(got, expected, mistakes, call=call)


def test_batch_norm_y_ignores_running(student: Any) -> None:
    """in training mode y depends on the batch only, not on the running statistics"""
    x, gamma, beta, running_mean, running_var = _random_bn(46, 5, 2)
    shifted_mean, scaled_var = running_mean + 3.0, running_var * 4.0
    call = (
        "batch_norm_train(x (5, 2), gamma, beta, running_mean + 3, running_var * 4); "
        f"seed=46: {BN_DRAWS}"
    )
    got = unpack(
        student.batch_norm_train(x, gamma, beta, shifted_mean, scaled_var),
        3,
        call=call,
        what="result (y, new_running_mean, new_running_var)",
    )
    y_mistakes = batch_norm_mistakes(x, gamma, beta, shifted_mean, scaled_var, 0.1, LN_EPS)[0]
    expected = reference.batch_norm_train(x, gamma, beta, running_mean, running_var)[0]
    assert_close(got[0], expected, call=call, what="y (first result)", mistakes=y_mistakes)


# --- batch_norm_eval ------------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_batch_norm_eval_hand(student: Any) -> None:
    """batch_norm_eval on a hand-computed batch (eps = 0.5)"""
    x, gamma, beta = (np.array(v) for v in (fixtures.BN_X, fixtures.BN_GAMMA, fixtures.BN_BETA))
    running_mean = np.array(fixtures.BN_EVAL_RUNNING_MEAN)
    running_var = np.array(fixtures.BN_EVAL_RUNNING_VAR)
    call = (
        f"batch_norm_eval(x={fixtures.BN_X}, gamma={fixtures.BN_GAMMA}, beta={fixtures.BN_BETA}, "
        f"running_mean={fixtures.BN_EVAL_RUNNING_MEAN}, "
        f"running_var={fixtures.BN_EVAL_RUNNING_VAR}, eps=0.5)"
    )
    got = student.batch_norm_eval(
        x, gamma, beta, running_mean, running_var, eps=fixtures.BN_EVAL_EPS
    )
    mistakes = eval_mistakes(x, gamma, beta, running_mean, running_var, fixtures.BN_EVAL_EPS)
    assert_close(got, fixtures.BN_EVAL_Y, call=call, mistakes=mistakes)


@pytest.mark.parametrize("seed, n, c", [(50, 1, 3), (51, 4, 2), (52, 6, 5)], ids=["N1", "N4", "N6"])
def test_batch_norm_eval_random(student: Any, seed: int, n: int, c: int) -> None:
    """batch_norm_eval matches the reference on random batches (N = 1 is fine in eval mode)"""
    args = _random_bn(seed, n, c)
    call = (
        f"batch_norm_eval(x ({n}, {c}), gamma, beta, running_mean, running_var ({c},)); "
        f"seed={seed}: {BN_DRAWS}"
    )
    got = student.batch_norm_eval(*args)
    mistakes = eval_mistakes(*args, LN_EPS)
    if n == 1:
        mistakes = {k: v for k, v in mistakes.items() if not k.startswith(EVAL_BATCH)}
    assert_close(got, reference.batch_norm_eval(*args), call=call, mistakes=mistakes)


def test_batch_norm_eval_matches_train(student: Any) -> None:
    """eval with the batch's own mean and biased variance gives training mode's y"""
    x, gamma, beta, running_mean, running_var = _random_bn(53, 5, 3)
    y_train = reference.batch_norm_train(x, gamma, beta, running_mean, running_var)[0]
    mean, var = x.mean(axis=0), x.var(axis=0)
    call = (
        "batch_norm_eval(x (5, 3), gamma, beta, running_mean=x.mean(axis=0), "
        f"running_var=x.var(axis=0)); seed=53: {BN_DRAWS}"
    )
    got = student.batch_norm_eval(x, gamma, beta, mean, var)
    assert_close(got, y_train, call=call, mistakes=eval_mistakes(x, gamma, beta, mean, var, LN_EPS))


# --- conventions and mistakes found in public code (issue 26) -------------------------------------

RMS_GEMMA = (
    "scaled by (1 + gamma), Gemma's RMSNorm (its checkpoints store gamma - 1): here gamma is the "
    "scale itself, y = x / sqrt(mean(x**2) + eps) * gamma"
)
UNBIASED_AND_EPS_OUTSIDE = "two mistakes at once: " + UNBIASED + "; and also " + EPS_OUTSIDE


def public_layer_norm_mistakes(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float
) -> dict[str, np.ndarray]:
    """What layer_norm returns with the mistakes of public implementations that no single
    classic mistake explains (torch's x.std() is unbiased, and some add eps to it)."""
    x_hat = _normalize(x, eps, ddof=1, where="outside")
    return {UNBIASED_AND_EPS_OUTSIDE: x_hat * gamma + beta}
