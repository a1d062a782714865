"""Grader for regression: linear_fit (ridge, unpenalised intercept), sigmoid and bce_with_logits
(stable at |z| = 1000), logistic_grad and logistic_fit (mean BCE + l2 * sum(w**2)), dropout and
dropout_backward (inverted, kept where u >= p).

Three levels: the hand fixtures (graders/fixtures/regression.py), the reference on random inputs of
several shapes with printed seeds (a column of x with mean 1000 where a penalised intercept shows,
l2 large enough that a sum and a mean weigh differently, logits of +-1000, u equal to p on some
elements), and the contract's properties (shifting x's columns moves only b, a huge l2 leaves the
mean, sigmoid(-z) = 1 - sigmoid(z), dropout's backward is dropout applied to dy, p = 0 and
training=False give x back). Classic mistakes are recomputed here on purpose so that a failure
names them ("likely mistake").
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import (
    Mismatch,
    assert_close,
    assert_raises_naming,
    unpack,
)
from transformer_kit.grader.warned import assert_stable
from transformer_kit.graders.fixtures import regression as fixtures
from transformer_kit.solutions import regression as reference

# --- the classic mistakes, by name ----------------------------------------------------------------

PENALISED_INTERCEPT = (
    "the intercept is penalised (a column of ones in x, then ridge on it): centre x and y, solve "
    "for w alone, then b = mean(y) - mean(x) @ w"
)
PENALTY_MEAN = (
    "the penalty is scaled as if the loss were a mean, (xc^T xc / N + l2 * I) w = xc^T yc / N: "
    "linear_fit's loss is a SUM of squares, so solve (xc^T xc + l2 * I) w = xc^T yc"
)
PENALTY_HALF = "the penalty is l2 / 2 * sum(w**2): linear_fit's penalty is l2 * sum(w**2)"
NO_PENALTY = "l2 is ignored: add l2 * I to xc^T xc"
UNCENTRED = (
    "the normal equations without centring, (x^T x + l2 * I) w = x^T y: centre x and y first "
    "(xc = x - mean(x, axis=0), yc = y - mean(y))"
)
NO_INTERCEPT = "no intercept (b = 0, x not centred): b = mean(y) - mean(x) @ w"

SIGMOID_SIGN = "1 / (1 + exp(z)): the sign is wrong, sigmoid(z) = 1 / (1 + exp(-z))"
SIGMOID_TANH = "(1 + tanh(z)) / 2: the tanh form needs z / 2, (1 + tanh(z / 2)) / 2"
UNSTABLE = (
    "an overflow: exp of a large number (exp(1000) = inf; inf / inf = nan, log(0) = -inf): "
    "take exp only of -|z|, e.g. log sigmoid(z) = min(z, 0) - log1p(exp(-|z|))"
)
BCE_SUM = "the losses were summed: bce_with_logits is the MEAN over the N entries"
BCE_SWAPPED = "y and 1 - y are swapped: the y term is -y * log(sigmoid(z))"
BCE_CAPPED = (
    "the loss is capped at |z| = 1000: probabilities clipped to [eps, 1 - eps] or an eps added "
    "inside the log; compute from the logits, -log sigmoid(z) = log1p(exp(-|z|)) - min(z, 0)"
)
GRAD_SUM = "the gradient of a SUM (no / N): logistic_grad differentiates the MEAN BCE"
GRAD_PENALTY_NO_2 = "the penalty's gradient is l2 * w: d/dw l2 * sum(w**2) = 2 * l2 * w"
GRAD_PENALTY_MEAN = "the penalty's gradient was divided by N: it is 2 * l2 * w, not over N"
GRAD_PENALISED_B = "b is penalised too (db has 2 * l2 * b): the intercept is not penalised"
GRAD_SIGN = "a sign error: the residual is sigmoid(x @ w + b) - y"
GRAD_NO_PENALTY = "l2 is ignored: dw has + 2 * l2 * w"
FIT_LOSS_AFTER = "the losses were recorded after each step: losses[i] is the loss BEFORE step i"
FIT_LOSS_PLAIN = "the losses leave out the penalty: record bce + l2 * sum(w**2)"
DROP_BELOW = "kept where u < p: an element is KEPT where u >= p (p is the chance to drop)"
DROP_NO_SCALE = "kept elements are not scaled: inverted dropout multiplies them by 1 / (1 - p)"
DROP_BY_P = "kept elements scaled by 1 / p: the scale is 1 / (1 - p)"
DROP_TIMES = "kept elements multiplied by 1 - p (the original paper's test-time rule): divide"
DROP_STRICT = "kept where u > p: u == p is kept too (u >= p)"
EVAL_ACTIVE = "dropout is active at evaluation: training=False returns x's values unchanged"
EVAL_SCALED = (
    "x * (1 - p) at evaluation (the original, non-inverted dropout): inverted dropout already "
    "scaled at training time, so training=False returns x unchanged"
)

DRAWS = "drawn in this order with np.random.default_rng(seed)"


def quiet(function: Any) -> Any:
    """A mistake recomputed here may overflow on purpose: no warning in the grading process."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)

    return wrapped


# --- linear_fit -------------------------------------------------------------------------------


def _ridge(x: np.ndarray, y: np.ndarray, l2: float) -> np.ndarray:
    return np.linalg.solve(x.T @ x + l2 * np.eye(x.shape[1]), x.T @ y)


@quiet
def linear_mistakes(x: np.ndarray, y: np.ndarray, l2: float) -> dict[str, tuple[Any, Any]]:
    """What each classic mistake returns as (w, b) for linear_fit(x, y, l2)."""
    n, mx, my = x.shape[0], x.mean(axis=0), y.mean()
    xc, yc = x - mx, y - my
    wrong: dict[str, tuple[Any, Any]] = {}
    ones = _ridge(np.hstack([x, np.ones((n, 1))]), y, l2)
    wrong[PENALISED_INTERCEPT] = (ones[:-1], ones[-1])
    for name, scale in ((PENALTY_MEAN, n), (PENALTY_HALF, 0.5), (NO_PENALTY, 0.0)):
        w = _ridge(xc, yc, l2 * scale)
        wrong[name] = (w, my - mx @ w)
    w = _ridge(x, y, l2)
    wrong[UNCENTRED] = (w, my - mx @ w)
    wrong[NO_INTERCEPT] = (w, 0.0)
    return wrong


def check_linear(student: Any, x: Any, y: Any, l2: float, call: str, expected: Any = None) -> Any:
    want_w, want_b = reference.linear_fit(x, y, l2) if expected is None else expected
    got = unpack(student.linear_fit(x, y, l2), 2, call=call, what="result (w, b)")
    wrong = linear_mistakes(x, y, l2)
    mistakes = {name: value[0] for name, value in wrong.items()}
    assert_close(got[0], want_w, call=call, what="w (first result)", mistakes=mistakes)
    mistakes = {name: value[1] for name, value in wrong.items()}
    assert_close(got[1], want_b, call=call, what="b (second result)", mistakes=mistakes)
    return got


def linear_problem(seed: int, n: int, d: int, shift: float) -> tuple[np.ndarray, np.ndarray]:
    """x (n, d) standard normal with `shift` added to column 0, y = x @ w_true + 3 + noise."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    x[:, 0] += shift
    y = x @ rng.standard_normal(d) + 3.0 + 0.5 * rng.standard_normal(n)
    return x, y


def linear_text(seed: int, n: int, d: int, shift: float, l2: float) -> str:
    return (
        f"linear_fit(x ({n}, {d}), y ({n},), l2={l2}), seed={seed}: x, w_true (D,), noise (N,) "
        f"standard normal {DRAWS}, x[:, 0] += {shift}, y = x @ w_true + 3 + 0.5 * noise"
    )


@pytest.mark.weight(2)
def test_linear_fit_hand(student: Any) -> None:
    """linear_fit on x = [[1], [2], [3]], y = [2, 4, 9], l2 = 0 and l2 = 2"""
    x, y = np.array(fixtures.LINEAR_X), np.array(fixtures.LINEAR_Y)
    for l2, w, b in fixtures.LINEAR_FITS:
        call = f"linear_fit(x={fixtures.LINEAR_X}, y={fixtures.LINEAR_Y}, l2={l2})"
        check_linear(student, x, y, l2, call, (np.array(w), b))


# (seed, N, D, shift of column 0, l2): means of 1000 (a penalised intercept shows), l2 up to 50
# (a sum and a mean differ by a factor N), D = 1 and N close to D
LINEAR_CASES = [
    (0, 8, 2, 0.0, 0.0),
    (1, 12, 3, 1000.0, 5.0),
    (2, 6, 1, 50.0, 50.0),
    (3, 20, 5, 0.0, 2.0),
    (4, 5, 4, 1000.0, 0.5),
]


@pytest.mark.weight(3)
@pytest.mark.parametrize(
    "seed, n, d, shift, l2", LINEAR_CASES, ids=[f"seed{c[0]}" for c in LINEAR_CASES]
)
def test_linear_fit_random(
    student: Any, seed: int, n: int, d: int, shift: float, l2: float
) -> None:
    """linear_fit matches the reference on random data"""
    x, y = linear_problem(seed, n, d, shift)
    check_linear(student, x, y, l2, linear_text(seed, n, d, shift, l2))


@pytest.mark.weight(1)
def test_linear_fit_shift_moves_only_b(student: Any) -> None:
    """adding a constant to a column of x changes only b, never w (the intercept is free)"""
    x, y = linear_problem(10, 10, 3, 0.0)
    call = linear_text(10, 10, 3, 0.0, 4.0)
    w, b = check_linear(student, x, y, 4.0, call)
    shifted = x + np.array([1000.0, -20.0, 0.0])
    call += "; then x + [1000, -20, 0]"
    got = unpack(student.linear_fit(shifted, y, 4.0), 2, call=call, what="result (w, b)")
    assert_close(
        got[0], w, call=call, what="w (first result)", mistakes=linear_mistakes(shifted, y, 4.0)
    )
    want_b = float(b) - 1000.0 * w[0] + 20.0 * w[1]
    assert_close(got[1], want_b, call=call, what="b (second result)")


@pytest.mark.weight(1)
def test_linear_fit_huge_l2(student: Any) -> None:
    """with l2 = 1e12, w is ~0 and b is mean(y) (the intercept is never shrunk)"""
    x, y = linear_problem(11, 7, 2, 100.0)
    call = linear_text(11, 7, 2, 100.0, 1e12)
    check_linear(student, x, y, 1e12, call, (np.zeros(2), float(y.mean())))


# --- checks of the arguments ----------------------------------------------------------------------


@pytest.mark.weight(1)
@pytest.mark.visible
def test_negative_l2_raises(student: Any) -> None:
    """l2 < 0 raises ValueError in linear_fit, logistic_grad and logistic_fit"""
    x, y = np.array(fixtures.GRAD_X), np.array([1.0, 0.0])
    w = np.zeros(2)
    shape = "x (2, 2), y (2,)"
    assert_raises_naming(
        student.linear_fit, x, y, -1.0, call=f"linear_fit({shape}, l2=-1.0)", name="l2", value=-1.0
    )
    call = f"logistic_grad({shape}, w=zeros(2), b=0.0, l2=-0.5)"
    assert_raises_naming(
        student.logistic_grad, x, y, w, 0.0, -0.5, call=call, name="l2", value=-0.5
    )
    call = f"logistic_fit({shape}, lr=0.1, steps=3, l2=-2.0)"
    assert_raises_naming(student.logistic_fit, x, y, 0.1, 3, -2.0, call=call, name="l2", value=-2.0)


# --- sigmoid and bce_with_logits ------------------------------------------------------------------


@quiet
def sigmoid_mistakes(z: np.ndarray) -> dict[str, Any]:
    return {SIGMOID_SIGN: 1 / (1 + np.exp(z)), SIGMOID_TANH: (1 + np.tanh(z)) / 2}


def check_sigmoid(student: Any, z: np.ndarray, call: str, expected: Any) -> None:
    got = assert_stable(lambda: student.sigmoid(z), call=call, mistake=UNSTABLE)
    try:
        assert_close(got, expected, call=call, mistakes=sigmoid_mistakes(z))
    except Mismatch as failure:
        if "nan or inf" in failure.summary:
            failure.diagnosis = UNSTABLE
        raise


@pytest.mark.weight(1)
@pytest.mark.visible
def test_sigmoid_large(student: Any) -> None:
    """sigmoid(-1000) is 0 and sigmoid(1000) is 1, finite"""
    check_sigmoid(student, np.array([-1000.0, 1000.0]), "sigmoid(z=[-1000.0, 1000.0])", [0.0, 1.0])


@pytest.mark.weight(1)
def test_sigmoid_hand(student: Any) -> None:
    """sigmoid of 0, +-ln 3 and +-1000: 0.5, 3/4, 1/4, 1 and 0, finite"""
    z = np.array(fixtures.SIGMOID_Z)
    call = f"sigmoid(z={fixtures.SIGMOID_Z})"
    check_sigmoid(student, z, call, np.array(fixtures.SIGMOID))


@pytest.mark.weight(1)
def test_sigmoid_random(student: Any) -> None:
    """sigmoid matches the reference on (3, 4, 5) logits from -800 to 800, and is odd about 1/2"""
    z = 800.0 * np.tanh(np.random.default_rng(20).standard_normal((3, 4, 5)))
    call = "sigmoid(z (3, 4, 5)), seed=20: z = 800 * tanh(standard normal)"
    check_sigmoid(student, z, call, reference.sigmoid(z))
    check_sigmoid(student, -z, call.replace("sigmoid(z", "sigmoid(-z"), 1.0 - reference.sigmoid(z))


@quiet
def bce_mistakes(z: np.ndarray, y: np.ndarray, loss: float) -> dict[str, Any]:
    """Each mistake's loss, given the right one; probabilities clipped at the usual eps."""
    p = 1 / (1 + np.exp(-z))  # exact to float64 here (an overflow gives 0), warnings silenced
    wrong: dict[str, Any] = {BCE_SUM: z.size * loss}
    wrong[BCE_SWAPPED] = np.mean(-((1 - y) * np.log(p) + y * np.log(1 - p)))
    for eps in (1e-7, 1e-8, 1e-10, 1e-12, 1e-15, 1e-16):
        clipped = np.clip(p, eps, 1 - eps)
        wrong[f"{BCE_CAPPED} (eps = {eps:g}?)"] = np.mean(
            -(y * np.log(clipped) + (1 - y) * np.log(1 - clipped))
        )
    return wrong


def check_bce(student: Any, z: Any, y: Any, call: str, expected: float) -> None:
    got = assert_stable(lambda: student.bce_with_logits(z, y), call=call, mistake=UNSTABLE)
    mistakes = bce_mistakes(z, y, expected)
    try:
        assert_close(got, expected, call=call, what="loss", mistakes=mistakes)
    except Mismatch as failure:
        if "nan or inf" in failure.summary:
            failure.diagnosis = UNSTABLE
        elif not failure.diagnosis and np.abs(z).max() >= 100:
            failure.diagnosis = BCE_CAPPED
        raise


@pytest.mark.weight(1)
@pytest.mark.visible
def test_bce_large_logit(student: Any) -> None:
    """bce_with_logits([1000], [0]) is exactly 1000 and bce_with_logits([1000], [1]) is 0"""
    for y, want in ((0.0, 1000.0), (1.0, 0.0)):
        call = f"bce_with_logits(z=[1000.0], y=[{y}])"
        check_bce(student, np.array([1000.0]), np.array([y]), call, want)


@pytest.mark.weight(1)
def test_bce_hand(student: Any) -> None:
    """bce_with_logits on hand examples: logits 0, ln 3, +-1000 and soft targets"""
    call = f"bce_with_logits(z=[0, ln 3, 1000, -1000], y={fixtures.BCE_Y})"
    check_bce(student, np.array(fixtures.BCE_Z), np.array(fixtures.BCE_Y), call, fixtures.BCE)
    z, y = np.array(fixtures.BCE_SOFT_Z), np.array(fixtures.BCE_SOFT_Y)
    call = f"bce_with_logits(z=[0, ln 3], y={fixtures.BCE_SOFT_Y})"
    check_bce(student, z, y, call, fixtures.BCE_SOFT)


@pytest.mark.weight(1)
@pytest.mark.parametrize(
    "seed, n, scale", [(21, 5, 3.0), (22, 40, 1000.0)], ids=["seed21", "seed22"]
)
def test_bce_random(student: Any, seed: int, n: int, scale: float) -> None:
    """bce_with_logits matches the reference on random logits and 0/1 targets"""
    rng = np.random.default_rng(seed)
    z, y = scale * rng.standard_normal(n), (rng.random(n) < 0.5).astype(np.float64)
    call = (
        f"bce_with_logits(z ({n},), y ({n},)), seed={seed}: z = {scale} * standard normal, "
        f"then y = (uniform < 0.5), {DRAWS}"
    )
    check_bce(student, z, y, call, reference.bce_with_logits(z, y))


# --- logistic_grad and logistic_fit ---------------------------------------------------------------


def residual_grads(x: Any, y: Any, w: Any, b: float, n: int) -> tuple[Any, float]:
    """The unpenalised gradients with the residual's sum divided by n (N: the mean; 1: a sum)."""
    r = reference.sigmoid(x @ w + b) - y  # (N,)
    return x.T @ r / n, float(r.sum() / n)


def grad_mistakes(x: Any, y: Any, w: Any, b: float, l2: float) -> dict[str, dict[str, Any]]:
    """What each classic mistake returns as dw ("w") and db ("b")."""
    n, pen = x.shape[0], 2 * l2 * w
    dw, db = residual_grads(x, y, w, b, n)
    sum_w, sum_b = residual_grads(x, y, w, b, 1)
    return {
        "w": {
            GRAD_SUM: sum_w + pen,
            GRAD_PENALTY_NO_2: dw + l2 * w,
            GRAD_PENALTY_MEAN: dw + pen / n,
            GRAD_SIGN: -dw + pen,
            GRAD_NO_PENALTY: dw,
        },
        "b": {GRAD_SUM: sum_b, GRAD_PENALISED_B: db + 2 * l2 * b, GRAD_SIGN: -db},
    }


def check_grad(student: Any, args: tuple[Any, ...], call: str, expected: Any = None) -> None:
    want_w, want_b = reference.logistic_grad(*args) if expected is None else expected
    got = unpack(student.logistic_grad(*args), 2, call=call, what="result (dw, db)")
    wrong = grad_mistakes(*args)
    assert_close(got[0], want_w, call=call, what="dw (first result)", mistakes=wrong["w"])
    assert_close(got[1], want_b, call=call, what="db (second result)", mistakes=wrong["b"])


@pytest.mark.weight(1)
def test_logistic_grad_hand(student: Any) -> None:
    """logistic_grad on a hand example: z = [-ln 3, ln 3], l2 = 0.5"""
    x, y, w = (np.array(v) for v in (fixtures.GRAD_X, fixtures.GRAD_Y, fixtures.GRAD_W))
    call = (
        f"logistic_grad(x={fixtures.GRAD_X}, y={fixtures.GRAD_Y}, w=[-ln 3, 2 ln 3], b=0.0, "
        f"l2={fixtures.GRAD_L2})"
    )
    want = (np.array(fixtures.GRAD_DW), fixtures.GRAD_DB)
    check_grad(student, (x, y, w, 0.0, fixtures.GRAD_L2), call, want)


def logistic_problem(seed: int, n: int, d: int, scale: float) -> tuple[np.ndarray, ...]:
    """x (n, d), y (n,) in {0, 1}, w (d,) and b, with logits of size about `scale`."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = (rng.random(n) < 0.5).astype(np.float64)
    w = scale * rng.standard_normal(d)
    return x, y, w, float(rng.standard_normal())


def logistic_text(name: str, seed: int, n: int, d: int, scale: float, rest: str) -> str:
    return (
        f"{name}(x ({n}, {d}), y ({n},), {rest}), seed={seed}: x standard normal, "
        f"y = (uniform < 0.5), w = {scale} * standard normal, b standard normal, {DRAWS}"
    )


# (seed, N, D, scale of w, l2): l2 = 3 where a mean and a sum of the penalty differ, w of 500
# (logits of about +-1000: sigmoid must not overflow)
GRAD_CASES = [(30, 6, 3, 1.0, 0.0), (31, 10, 2, 1.0, 3.0), (32, 4, 5, 500.0, 0.1)]


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, n, d, scale, l2", GRAD_CASES, ids=[f"seed{c[0]}" for c in GRAD_CASES]
)
def test_logistic_grad_random(
    student: Any, seed: int, n: int, d: int, scale: float, l2: float
) -> None:
    """logistic_grad matches the reference on random data"""
    x, y, w, b = logistic_problem(seed, n, d, scale)
    call = logistic_text("logistic_grad", seed, n, d, scale, f"w ({d},), b, l2={l2}")
    check_grad(student, (x, y, w, b, l2), call)


def fit_reference(
    x: Any,
    y: Any,
    lr: float,
    steps: int,
    l2: float = 0.0,
    *,
    after: bool = False,
    penalty: bool = True,
) -> tuple[Any, float, list[float]]:
    """logistic_fit as the contract says, or with the loss recorded after each step or without
    its penalty."""
    w, b, losses = np.zeros(x.shape[1]), 0.0, []

    def loss() -> float:
        return reference.bce_with_logits(x @ w + b, y) + penalty * l2 * float(np.sum(w**2))

    for _ in range(steps):
        if not after:
            losses.append(loss())
        dw, db = reference.logistic_grad(x, y, w, b, l2)
        w, b = w - lr * dw, b - lr * db
        if after:
            losses.append(loss())
    return w, b, losses


def check_fit(student: Any, args: tuple[Any, ...], call: str, expected: Any = None) -> None:
    want_w, want_b, want_losses = fit_reference(*args) if expected is None else expected
    got = unpack(student.logistic_fit(*args), 3, call=call, what="result (w, b, losses)")
    mistakes = {
        FIT_LOSS_AFTER: fit_reference(*args, after=True)[2],
        FIT_LOSS_PLAIN: fit_reference(*args, penalty=False)[2],
    }
    losses = np.asarray(want_losses, dtype=np.float64).reshape(-1)
    assert_close(got[2], losses, call=call, what="losses (third result)", mistakes=mistakes)
    assert_close(got[0], want_w, call=call, what="w (first result)")
    assert_close(got[1], want_b, call=call, what="b (second result)")


@pytest.mark.weight(1)
def test_logistic_fit_hand(student: Any) -> None:
    """logistic_fit: two steps on one example by hand (the penalty on w only)"""
    x, y = np.array(fixtures.FIT_X), np.array(fixtures.FIT_Y)
    args = (x, y, fixtures.FIT_LR, fixtures.FIT_STEPS, fixtures.FIT_L2)
    call = f"logistic_fit(x={fixtures.FIT_X}, y={fixtures.FIT_Y}, lr=1.0, steps=2, l2=0.25)"
    want = (np.array(fixtures.FIT_W), fixtures.FIT_B, fixtures.FIT_LOSSES)
    check_fit(student, args, call, want)


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, n, d, lr, steps, l2",
    [(40, 20, 3, 0.5, 25, 0.01), (41, 8, 2, 2.0, 10, 0.0), (42, 30, 4, 0.1, 5, 1.0)],
    ids=["seed40", "seed41", "seed42"],
)
def test_logistic_fit_random(
    student: Any, seed: int, n: int, d: int, lr: float, steps: int, l2: float
) -> None:
    """logistic_fit matches the reference on random data"""
    x, y, _, _ = logistic_problem(seed, n, d, 1.0)
    call = logistic_text("logistic_fit", seed, n, d, 1.0, f"lr={lr}, steps={steps}, l2={l2}")
    check_fit(student, (x, y, lr, steps, l2), call + " (w and b unused)")


@pytest.mark.weight(1)
def test_logistic_fit_no_steps(student: Any) -> None:
    """logistic_fit with steps = 0 returns w = 0, b = 0 and no losses"""
    x, y, _, _ = logistic_problem(43, 5, 3, 1.0)
    call = logistic_text("logistic_fit", 43, 5, 3, 1.0, "lr=0.1, steps=0") + " (w and b unused)"
    check_fit(student, (x, y, 0.1, 0), call, (np.zeros(3), 0.0, []))


# --- dropout and dropout_backward -----------------------------------------------------------------


def mask_mistakes(x: Any, p: float, u: Any) -> dict[str, Any]:
    """What each mask mistake returns for dropout(x, p, u) (dropout_backward(dy, p, u) alike)."""
    keep = u >= p
    wrong = {
        DROP_BELOW: x * (u < p) / (1 - p),
        DROP_NO_SCALE: x * keep,
        DROP_TIMES: x * keep * (1 - p),
        DROP_STRICT: x * (u > p) / (1 - p),
    }
    if p > 0:
        wrong[DROP_BY_P] = x * keep / p
    return wrong


def check_dropout(
    student: Any, args: tuple[Any, ...], call: str, training: bool = True, expected: Any = None
) -> None:
    x, p, u = args
    if expected is None:
        expected = reference.dropout(x, p, u, training)
    got = student.dropout(x, p, u, training)
    if training:
        mistakes = mask_mistakes(x, p, u)
    else:
        mistakes = {EVAL_ACTIVE: reference.dropout(x, p, u), EVAL_SCALED: x * (1 - p)}
    assert_close(got, expected, call=call, mistakes=mistakes)


def check_backward(student: Any, args: tuple[Any, ...], call: str, expected: Any = None) -> None:
    dy, p, u = args
    want = reference.dropout_backward(dy, p, u) if expected is None else expected
    got = student.dropout_backward(dy, p, u)
    assert_close(got, want, call=call, what="gradient", mistakes=mask_mistakes(dy, p, u))


@pytest.mark.weight(1)
def test_dropout_hand(student: Any) -> None:
    """dropout and dropout_backward with p = 0.25: kept where u >= 0.25, scaled by 4/3"""
    p, u = fixtures.DROPOUT_P, np.array(fixtures.DROPOUT_U)
    x, dy = np.array(fixtures.DROPOUT_X), np.array(fixtures.DROPOUT_DY)
    call = f"dropout(x={fixtures.DROPOUT_X}, p=0.25, u={fixtures.DROPOUT_U})"
    check_dropout(student, (x, p, u), call, expected=np.array(fixtures.DROPOUT))
    call = f"dropout_backward(dy={fixtures.DROPOUT_DY}, p=0.25, u={fixtures.DROPOUT_U})"
    check_backward(student, (dy, p, u), call, np.array(fixtures.DROPOUT_DX))


def dropout_problem(seed: int, shape: tuple[int, ...]) -> tuple[np.ndarray, np.ndarray]:
    """x standard normal and u uniform in [0, 1) rounded to tenths, so that some u equal p."""
    rng = np.random.default_rng(seed)
    return rng.standard_normal(shape), np.floor(10 * rng.random(shape)) / 10


def dropout_text(name: str, seed: int, shape: tuple[int, ...], p: float, rest: str = "") -> str:
    return (
        f"{name}(x {shape}, p={p}, u {shape}{rest}), seed={seed}: x standard normal, "
        f"u = floor(10 * uniform) / 10, {DRAWS}"
    )


# (seed, shape, p): p = 0 (keeps everything, scale 1), p = 0.9 (scale 10), batches of 2 and 3 axes
DROPOUT_CASES = [(50, (4, 5), 0.5), (51, (2, 3, 4), 0.3), (52, (6,), 0.0), (53, (3, 8), 0.9)]
DROPOUT_IDS = [f"seed{c[0]}" for c in DROPOUT_CASES]


@pytest.mark.weight(2)
@pytest.mark.parametrize("seed, shape, p", DROPOUT_CASES, ids=DROPOUT_IDS)
def test_dropout_random(student: Any, seed: int, shape: tuple[int, ...], p: float) -> None:
    """dropout (training) and dropout_backward match the reference on random inputs"""
    x, u = dropout_problem(seed, shape)
    check_dropout(student, (x, p, u), dropout_text("dropout", seed, shape, p))
    call = dropout_text("dropout_backward", seed, shape, p) + " (dy = x)"
    check_backward(student, (x, p, u), call)


@pytest.mark.weight(1)
def test_dropout_p_near_one(student: Any) -> None:
    """p = 0.999 keeps only u >= 0.999 and scales them by 1000"""
    x = np.arange(1.0, 7.0).reshape(2, 3)
    u = np.array([[0.999, 0.5, 0.9995], [0.0, 0.9989, 0.99999]])
    call = f"dropout(x=[[1, 2, 3], [4, 5, 6]], p=0.999, u={u.tolist()})"
    want = np.array([[1000.0, 0.0, 3000.0], [0.0, 0.0, 6000.0]])  # kept: x / (1 - 0.999)
    check_dropout(student, (x, 0.999, u), call, expected=want)


@pytest.mark.weight(1)
def test_dropout_evaluation(student: Any) -> None:
    """dropout with training=False returns x's values, whatever p and u are"""
    x, u = dropout_problem(54, (3, 4))
    for p in (0.0, 0.5, 0.9):
        call = dropout_text("dropout", 54, (3, 4), p, ", training=False")
        check_dropout(student, (x, p, u), call, training=False, expected=x)


@pytest.mark.weight(1)
@pytest.mark.visible
def test_dropout_bad_p_and_u(student: Any) -> None:
    """p outside [0, 1) and a u of another shape raise ValueError (training or not)"""
    x, u = np.ones((2, 3)), np.full((2, 3), 0.5)
    for p in (1.0, -0.1, 1.5):
        for training in (True, False):
            call = f"dropout(x=ones((2, 3)), p={p}, u=full((2, 3), 0.5), training={training})"
            assert_raises_naming(student.dropout, x, p, u, training, call=call, name="p", value=p)
        call = f"dropout_backward(dy=ones((2, 3)), p={p}, u=full((2, 3), 0.5))"
        assert_raises_naming(student.dropout_backward, x, p, u, call=call, name="p", value=p)
    wrong_u = np.full((3, 2), 0.5)
    call = "dropout(x=ones((2, 3)), p=0.5, u=full((3, 2), 0.5))"
    assert_raises_naming(student.dropout, x, 0.5, wrong_u, call=call, name="u", value="3, 2")
    call = "dropout_backward(dy=ones((2, 3)), p=0.5, u=full((3, 2), 0.5))"
    assert_raises_naming(
        student.dropout_backward, x, 0.5, wrong_u, call=call, name="u", value="3, 2"
    )
