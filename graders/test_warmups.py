"""Grader for warmups: each pen-and-paper answer against the hand-computed fixtures.

Answers are compared with atol = rtol = 1e-3 (the integer exactly). A failure says which entries
are wrong and names the classic mistake it matches, but does not print the expected numbers:
the point of a pen-and-paper exercise is to find them (set SHOW_ANSWERS to print them).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from transformer_kit.grader.compare import Mismatch, as_array, assert_close, describe, show
from transformer_kit.grader.failures import NOT_IMPLEMENTED
from transformer_kit.graders.fixtures import warmups as fixtures

ATOL = 1e-3
RTOL = 1e-3
SHOW_ANSWERS = False

FORMS = {
    "GD_WEIGHTS": "a list of 3 floats, [w1, w2, w3]",
    "GD_LOSSES": "a list of 3 floats, [L(w0), L(w1), L(w2)]",
    "MLP_HIDDEN": "a list of 2 floats, [h1, h2]",
    "MLP_OUTPUT": "a float",
    "MLP_LOSS": "a float",
    "MLP_GRAD_W2": "a 1 x 2 nested list, [[a, b]]",
    "MLP_GRAD_W1": "a 2 x 2 nested list, [[a, b], [c, d]]",
    "MOMENTUM_VELOCITY": "a float",
    "MOMENTUM_WEIGHT": "a float",
    "ATTENTION_WEIGHTS": "a 2 x 2 nested list, [[a, b], [c, d]]",
    "ATTENTION_OUTPUT": "a 2 x 2 nested list, [[a, b], [c, d]]",
    "SOFTMAX_1_2_3": "a list of 3 floats",
    "SOFTMAX_10_20_30": "a list of 3 floats",
    "ENTROPY_07_02_01": "a float",
    "BAYES_POSTERIOR": "a float between 0 and 1",
    "GPT2_SMALL_PARAMS": "an int, e.g. 123_456_789",
}


# --- checking one answer -----------------------------------------------------------------------


def answer(student: Any, name: str) -> Any:
    """The learner's value of `name`, or a failure if it is still None."""
    value = getattr(student, name)
    if value is None:
        raise Mismatch(
            f"{NOT_IMPLEMENTED}: {name} is not answered yet (it is still None)",
            expected=FORMS[name],
        )
    if isinstance(value, str):
        raise Mismatch(
            f"the answer {name} is a string: write the number itself, without quotes",
            expected=FORMS[name],
            got=repr(value),
        )
    return value


def check(student: Any, name: str, mistakes: Mapping[str, Any]) -> None:
    """Form (shape) first, then the values within atol + rtol * |expected|."""
    got = answer(student, name)
    expected = np.asarray(getattr(fixtures, name), dtype=np.float64)
    what = f"answer {name}"
    array = as_array(got, call="", what=what)
    if array.shape != expected.shape:
        raise Mismatch(
            f"the {what} has the wrong form: it should be {FORMS[name]}",
            expected=f"{FORMS[name]} (shape {expected.shape})",
            got=f"{show(got)}, {describe(got)} (shape {array.shape})",
            diagnosis=match(got, mistakes) or form_hint(array.shape, expected.shape),
        )
    try:
        assert_close(got, expected, call="", what=what, rtol=RTOL, atol=ATOL, mistakes=mistakes)
    except Mismatch as failure:
        if not SHOW_ANSWERS:  # no field may hold the answer: not `where`, nor a picture
            failure.expected = ""
            failure.where = ""
            failure.details = [wrong_entries(array, expected)] if expected.ndim else []
        if expected.ndim == 0 and np.isfinite(array):
            failure.summary = f"the {what} is wrong"
        raise


def match(got: Any, mistakes: Mapping[str, Any]) -> str:
    """The description of the first mistake whose value `got` equals (any shape)."""
    try:
        array = np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError):
        return ""
    for description, value in mistakes.items():
        wrong = np.asarray(value, dtype=np.float64)
        if wrong.shape == array.shape and np.allclose(array, wrong, rtol=RTOL, atol=ATOL):
            return description
    return ""


def form_hint(got: tuple[int, ...], expected: tuple[int, ...]) -> str:
    if expected == ():
        return "write the single number itself (e.g. `0.5`), not a list"
    if got == expected[::-1]:
        return "rows and columns are swapped: row i of the matrix is the i-th inner list"
    return "check the form the comment above the constant asks for"


def wrong_entries(got: np.ndarray, expected: np.ndarray) -> str:
    """Which entries are wrong, as the learner indexes them: [1][0], [2]."""
    bad = ~np.isclose(got, expected, rtol=RTOL, atol=ATOL)
    places = ["".join(f"[{i}]" for i in index) for index in np.argwhere(bad)]
    return "wrong entries: " + ", ".join(places)


# --- the problems, worked with the classic mistakes ----------------------------------------------

X, Y, W0, LR = 2.0, 2.0, 5.0, 0.1


def descend(grad: Callable[[float], float], steps: int = 3) -> list[float]:
    w, weights = W0, []
    for _ in range(steps):
        w = w - LR * grad(w)
        weights.append(w)
    return weights


def line_loss(w: float) -> float:
    return (w * X - Y) ** 2


GD_FACTOR = "the gradient is missing a factor 2 (or x): dL/dw = 2 * x * (w x - y), here 8 (w - 1)"
GD_SIGN = "a sign error: gradient descent steps against the gradient, w - lr * dL/dw"
GD_W0 = "the list starts with w0: give the weights after each of the 3 steps, [w1, w2, w3]"
GD_AFTER = "the losses after each step: GD_LOSSES asks for the loss before each step, L(w0) first"
GD_FOUR = "4 losses: the loss before each of the 3 steps is L(w0), L(w1), L(w2)"
GD_NOT_SQUARED = "the error is not squared: L = (w x - y)^2"
GD_HALF = "a factor 1/2 in the loss: this loss is (w x - y)^2, without 1/2"

MLP_X = np.array([1.0, 2.0])
MLP_W1 = np.array([[0.5, -0.5], [0.5, 0.5]])
MLP_W2 = np.array([[1.0, 1.0]])
MLP_Z = MLP_W1 @ MLP_X  # [-0.5, 1.5]
MLP_H = np.maximum(MLP_Z, 0.0)  # [0, 1.5]
MLP_Y = (MLP_W2 @ MLP_H).item()  # 1.5
MLP_DZ = 2 * (MLP_Y - 1.0) * MLP_W2[0] * (MLP_Z > 0)  # [0, 1]

NO_RELU = "relu was not applied: h = relu(W1 x + b1) = max(W1 x + b1, 0)"
ROW_LAYOUT = "computed x W1 (row layout): this problem uses W1 x, row i of W1 dotted with x"
NOT_SQUARED = "the error is not squared: L = (y - 1)^2"
HALF = "a factor 1/2 in the loss: this loss is (y - 1)^2, without 1/2"
MISSING_2 = "the factor 2 of dL/dy = 2 (y - 1) is missing"
W2_TRANSPOSED = "dL/dW2 is transposed: it has the layout of W2, 1 x 2, written [[a, b]]"
W2_PRE_RELU = "used z = W1 x (before relu) in place of h in dL/dW2 = dL/dy h^T"
W1_TRANSPOSED = (
    "dL/dW1 is transposed: entry [i][j] is dL/dW1[i][j] = dL/dz_i * x_j "
    "(the outer product dL/dz x^T, not x dL/dz^T)"
)
NO_MASK = "the relu derivative is missing: dL/dz = dL/dh * relu'(z), and relu'(-0.5) = 0"

EMA = (
    "the EMA form v = beta * v + (1 - beta) * grad (or lr folded into v): this problem uses "
    "PyTorch's v_new = beta * v + grad"
)
LR_FOLDED = "lr folded into the velocity (w_new = w - v_new): the step is w - lr * v_new"
OLD_VELOCITY = "the step used the old velocity: w_new = w - lr * v_new, with the new v"
MOMENTUM_SIGN = "a sign error: w_new = w - lr * v_new"
NO_VELOCITY = "the velocity was left out: w_new = w - lr * v_new, and v_new includes beta * v"
DROPPED_V = "the old velocity was dropped: v_new = beta * v + grad"

NO_SCALE = "no 1/sqrt(d_k) scaling: the scores are Q K^T / sqrt(2)"
SCALE_BY_D = "scaled by 1/d_k: the scores are Q K^T / sqrt(d_k), here / sqrt(2)"
NOT_NORMALISED = "softmax not normalised: divide each exp by the sum of the exps of its row"
WRONG_ORDER = "multiplied in the wrong order: output = weights V (a 2 x 2 times V)"
PROPORTIONAL = "divided by the sum without exponentiating: softmax uses exp(z_i) / sum exp(z_j)"
NOT_SCALE_INVARIANT = (
    "the same as softmax([1, 2, 3]): softmax is not scale-invariant, multiplying the inputs "
    "by 10 makes it much sharper"
)

ENTROPY_P = np.array([0.7, 0.2, 0.1])
ENTROPY_NATS = float(-(ENTROPY_P * np.log(ENTROPY_P)).sum())
BITS = "entropy in bits (log base 2): the problem asks for nats, the natural log"
LOG10 = "entropy with log base 10: the problem asks for nats, the natural log"
NEGATIVE = "the sign: H = - sum p ln p is positive"

BASE_RATE = (
    "base-rate neglect: 0.9 is P(positive | disease), the sensitivity; P(disease | positive) "
    "also weighs in the 1% prevalence and the 99% healthy people who may test positive"
)
JOINT = "0.009 is P(disease and positive): divide it by P(positive)"
SPECIFICITY = "0.95 is P(negative | healthy): the question asks for P(disease | positive)"


def gpt2_params(
    *, tied: bool = True, final_ln: bool = True, positions: bool = True, bias: bool = True
) -> int:
    vocab, d, layers, d_ff, context = 50257, 768, 12, 3072, 1024
    attention = 4 * d * d + (4 * d if bias else 0)
    mlp = 2 * d * d_ff + ((d_ff + d) if bias else 0)
    per_layer = attention + mlp + 2 * 2 * d
    total = vocab * d + layers * per_layer
    total += context * d if positions else 0
    total += 2 * d if final_ln else 0
    total += 0 if tied else vocab * d
    return total


UNTIED = "counted an untied lm_head (another vocab_size x d_model): GPT-2 ties it to the embedding"
NO_FINAL_LN = "the final layer norm (scale and shift, 2 x 768) is missing"
NO_POSITIONS = "the position embedding (1024 x 768) is missing"
NO_BIASES = "the bias vectors are missing (4 in attention, 2 in the mlp, per layer)"


def attention(scale: float, normalise: bool = True) -> np.ndarray:
    q = k = np.eye(2)
    scores = q @ k.T * scale
    weights = np.exp(scores)
    return weights / weights.sum(axis=-1, keepdims=True) if normalise else weights


ATT_V = np.array([[1.0, 2.0], [3.0, 4.0]])


# --- one test per answer -------------------------------------------------------------------------


def test_gd_weights(student: Any) -> None:
    """GD_WEIGHTS: the weights after 3 gradient steps"""
    good = descend(lambda w: 2 * X * (w * X - Y))
    check(
        student,
        "GD_WEIGHTS",
        {
            GD_FACTOR: descend(lambda w: X * (w * X - Y)),
            GD_SIGN: descend(lambda w: -2 * X * (w * X - Y)),
            GD_W0: [W0, *good[:-1]],
            GD_W0 + " (4 values given)": [W0, *good],
        },
    )


def test_gd_losses(student: Any) -> None:
    """GD_LOSSES: the loss before each step"""
    weights = descend(lambda w: 2 * X * (w * X - Y))
    before = [W0, *weights[:-1]]
    check(
        student,
        "GD_LOSSES",
        {
            GD_AFTER: [line_loss(w) for w in weights],
            GD_FOUR: [line_loss(w) for w in [W0, *weights]],
            GD_NOT_SQUARED: [abs(w * X - Y) for w in before],
            GD_HALF: [line_loss(w) / 2 for w in before],
        },
    )


def test_mlp_hidden(student: Any) -> None:
    """MLP_HIDDEN: the hidden layer h"""
    check(student, "MLP_HIDDEN", {NO_RELU: MLP_Z, ROW_LAYOUT: np.maximum(MLP_X @ MLP_W1, 0)})


def test_mlp_output(student: Any) -> None:
    """MLP_OUTPUT: the output y"""
    row = (MLP_W2 @ np.maximum(MLP_X @ MLP_W1, 0)).item()
    check(student, "MLP_OUTPUT", {NO_RELU: (MLP_W2 @ MLP_Z).item(), ROW_LAYOUT: row})


def test_mlp_loss(student: Any) -> None:
    """MLP_LOSS: the loss L"""
    error = MLP_Y - 1.0
    check(student, "MLP_LOSS", {NOT_SQUARED: error, HALF: error**2 / 2})


def test_mlp_grad_w2(student: Any) -> None:
    """MLP_GRAD_W2: dL/dW2"""
    dy = 2 * (MLP_Y - 1.0)
    good = dy * MLP_H[None, :]  # (1, 2)
    check(
        student,
        "MLP_GRAD_W2",
        {
            W2_TRANSPOSED: good.T,
            MISSING_2: good / 2,
            W2_PRE_RELU: dy * MLP_Z[None, :],
        },
    )


def test_mlp_grad_w1(student: Any) -> None:
    """MLP_GRAD_W1: dL/dW1"""
    good = np.outer(MLP_DZ, MLP_X)
    unmasked = np.outer(2 * (MLP_Y - 1.0) * MLP_W2[0], MLP_X)
    check(
        student,
        "MLP_GRAD_W1",
        {
            W1_TRANSPOSED: good.T,
            NO_MASK: unmasked,
            NO_MASK + " (and the result is transposed)": unmasked.T,
            MISSING_2: good / 2,
        },
    )


MOM_W, MOM_G, MOM_V, MOM_LR, MOM_BETA = 0.5, 0.2, 0.1, 0.1, 0.9


def test_momentum_velocity(student: Any) -> None:
    """MOMENTUM_VELOCITY: the new velocity"""
    check(
        student,
        "MOMENTUM_VELOCITY",
        {EMA: MOM_BETA * MOM_V + (1 - MOM_BETA) * MOM_G, DROPPED_V: MOM_G},
    )


def test_momentum_weight(student: Any) -> None:
    """MOMENTUM_WEIGHT: the new weight"""
    v_new = MOM_BETA * MOM_V + MOM_G
    check(
        student,
        "MOMENTUM_WEIGHT",
        {
            EMA: MOM_W - MOM_LR * (MOM_BETA * MOM_V + (1 - MOM_BETA) * MOM_G),
            LR_FOLDED: MOM_W - (MOM_BETA * MOM_V + MOM_LR * MOM_G),
            OLD_VELOCITY: MOM_W - MOM_LR * MOM_V,
            MOMENTUM_SIGN: MOM_W + MOM_LR * v_new,
            NO_VELOCITY: MOM_W - MOM_LR * MOM_G,
        },
    )


def test_attention_weights(student: Any) -> None:
    """ATTENTION_WEIGHTS: the attention weights"""
    check(
        student,
        "ATTENTION_WEIGHTS",
        {
            NO_SCALE: attention(1.0),
            SCALE_BY_D: attention(0.5),
            NOT_NORMALISED: attention(1 / math.sqrt(2), normalise=False),
        },
    )


def test_attention_output(student: Any) -> None:
    """ATTENTION_OUTPUT: the attention output"""
    check(
        student,
        "ATTENTION_OUTPUT",
        {
            NO_SCALE: attention(1.0) @ ATT_V,
            SCALE_BY_D: attention(0.5) @ ATT_V,
            WRONG_ORDER: ATT_V @ attention(1 / math.sqrt(2)),
            NOT_NORMALISED: attention(1 / math.sqrt(2), normalise=False) @ ATT_V,
        },
    )


def softmax_mistakes(z: list[float]) -> dict[str, Any]:
    values = np.array(z)
    return {NOT_NORMALISED: np.exp(values), PROPORTIONAL: values / values.sum()}


def test_softmax_1_2_3(student: Any) -> None:
    """SOFTMAX_1_2_3: softmax([1, 2, 3])"""
    check(student, "SOFTMAX_1_2_3", softmax_mistakes([1.0, 2.0, 3.0]))


def test_softmax_10_20_30(student: Any) -> None:
    """SOFTMAX_10_20_30: softmax([10, 20, 30])"""
    mistakes = {
        **softmax_mistakes([10.0, 20.0, 30.0]),
        NOT_SCALE_INVARIANT: fixtures.SOFTMAX_1_2_3,
    }
    check(student, "SOFTMAX_10_20_30", mistakes)


def test_entropy(student: Any) -> None:
    """ENTROPY_07_02_01: the entropy in nats"""
    check(
        student,
        "ENTROPY_07_02_01",
        {
            BITS: ENTROPY_NATS / math.log(2),
            LOG10: ENTROPY_NATS / math.log(10),
            NEGATIVE: -ENTROPY_NATS,
        },
    )


def test_bayes_posterior(student: Any) -> None:
    """BAYES_POSTERIOR: P(disease | positive)"""
    check(student, "BAYES_POSTERIOR", {BASE_RATE: 0.9, JOINT: 0.01 * 0.9, SPECIFICITY: 0.95})


def test_gpt2_small_params(student: Any) -> None:
    """GPT2_SMALL_PARAMS: the parameters of GPT-2 small"""
    name = "GPT2_SMALL_PARAMS"
    got = answer(student, name)
    if isinstance(got, bool) or not isinstance(got, (int, float)):
        raise Mismatch(
            f"the answer {name} is not a number", expected=FORMS[name], got=describe(got)
        )
    expected = fixtures.GPT2_SMALL_PARAMS
    if got == expected:
        return
    mistakes = {
        UNTIED: gpt2_params(tied=False),
        NO_FINAL_LN: gpt2_params(final_ln=False),
        NO_POSITIONS: gpt2_params(positions=False),
        NO_BIASES: gpt2_params(bias=False),
    }
    named = [description for description, value in mistakes.items() if got == value]
    near = abs(got - expected) <= 0.01 * expected
    raise Mismatch(
        f"the answer {name} is wrong" + (" (within 1%: recount the small parts)" if near else ""),
        expected=f"{expected:,}" if SHOW_ANSWERS else "",
        got=f"{got:,}",
        diagnosis=named[0] if named else "",
    )
