"""Grader for lora: lora_forward, merge_lora, lora_backward, lora_parameter_fraction, lora_init
and lora_fit (the paper's LoRA with scale alpha / r, a (d_in, r) applied first, b (r, d_out)).

Three levels: the hand-computed fixtures (a forward pass, its merged weight, its gradients, three
fractions, a two-step fit), the reference on random inputs of several shapes with printed seeds
(ranks above 1 and alpha != r so every scale convention gives another number, d_in != r, and
square w so a transposed weight or update has the right shape and is caught by its values), and the
contract's properties (the merged weight computes the same layer, b = 0 is a no-op and gives a a
zero gradient, leading axes are independent rows, the fit starts at the loss of x @ w alone and goes
down). Classic mistakes are recomputed here on purpose so a failure can name them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.checks import bare_name, gradient_dict
from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    unpack,
)
from transformer_kit.grader.failures import StudentRaised
from transformer_kit.graders.fixtures import lora as fixtures
from transformer_kit.graders.messages.together import same_numbers
from transformer_kit.solutions import lora as reference

# --- the classic mistakes, by name ----------------------------------------------------------------

SCALE_ALPHA = "scaled by alpha instead of alpha / r: the scale is alpha / r with r = a.shape[1]"
SCALE_INVERTED = "scaled by r / alpha (upside down): the scale is alpha / r"
SCALE_RSLORA = (
    "scaled by alpha / sqrt(r) (rsLoRA's scale): this kit uses the paper's alpha / r, "
    "r = a.shape[1]"
)
NO_SCALE = "the low-rank path is not scaled: multiply (x @ a) @ b by alpha / r"
R_FROM_ROWS = (
    "r taken from a.shape[0], which is d_in (PEFT's lora_A.weight is (r, d_in), but here a is "
    "(d_in, r)): r = a.shape[1]"
)
NO_FROZEN = "the frozen term x @ w is missing: the layer is x @ w + (alpha / r) * (x @ a) @ b"
UPDATE_TRANSPOSED = (
    "the update is transposed, (a @ b).T = b.T @ a.T (the paper's B A, made for an nn.Linear "
    "weight of shape (d_out, d_in)): here w is (d_in, d_out) and the update is a @ b"
)
W_TRANSPOSED = "x @ w.T (nn.Linear's (d_out, d_in) layout): here w is (d_in, d_out), use x @ w"
MERGE_NO_SCALE = "merged without the scale, w + a @ b: the merged weight is w + (alpha / r) * a @ b"
MERGE_DELTA_ONLY = "returned only the update (alpha / r) * a @ b: the merged weight adds it to w"
MERGE_SIGN = "subtracted the update (that unmerges): merge_lora is w + (alpha / r) * a @ b"

GRAD_FOR_W = (
    "a gradient for w: w is frozen (it is not even an argument), so the dict has exactly the keys "
    '"a" and "b"'
)
GRAD_MEAN = (
    "the gradients were divided by N: lora_backward differentiates sum(dy * y), a sum over the "
    "batch (dy already carries any mean of the loss)"
)
GRAD_SWAPPED = (
    'the two gradients are swapped: "a" has a\'s shape (d_in, r), "b" has b\'s (r, d_out)'
)
GRAD_A_TRANSPOSED = (
    "the gradient for a is transposed, (r, d_in) (PEFT's lora_A.weight layout): return it in a's "
    "shape (d_in, r), s * x.T @ (dy @ b.T)"
)
GRAD_B_TRANSPOSED = (
    "the gradient for b is transposed, (d_out, r) (PEFT's lora_B.weight layout): return it in b's "
    "shape (r, d_out), s * (x @ a).T @ dy"
)
GRAD_SIGN = "a sign error: the gradient of sum(dy * y) has the sign of dy"

FRACTION_PEFT = (
    "divided by frozen + adapter parameters (PEFT's print_trainable_parameters): the fraction "
    "is r * (d_in + d_out) / (d_in * d_out), over the frozen matrix's alone"
)
FRACTION_PERCENT = (
    "a percentage (times 100): return the fraction r * (d_in + d_out) / (d_in * d_out)"
)
FRACTION_COUNT = "returned the adapter's parameter count r * (d_in + d_out): divide by d_in * d_out"
FRACTION_INVERTED = (
    "upside down (frozen over adapter): the fraction is r * (d_in + d_out) / (d_in * d_out)"
)
FRACTION_ONE_MATRIX = (
    "only one of the two matrices counted: a has d_in * r entries AND b has r * d_out"
)

INIT_STD_SQRT = (
    "a drawn with standard deviation 1 / sqrt(rank) (reading 1 / rank as the variance): numpy's "
    "normal(0, 1 / rank) takes the standard deviation, 1 / rank"
)
INIT_STD_1 = "a drawn without the 1 / rank: normal(0, 1 / rank, size=(d_in, rank))"
INIT_TRANSPOSED = (
    "a drawn as (rank, d_in) and transposed (PEFT's lora_A.weight layout): draw it directly with "
    "size=(d_in, rank)"
)
INIT_LEGACY = (
    "the legacy global generator (np.random.seed(0) and np.random.normal): use a fresh "
    "np.random.default_rng(0) on every call"
)

FIT_B_RANDOM = (
    "b initialised randomly: b starts at zeros, so the adapter starts as a no-op and losses[0] "
    "is the loss of x @ w alone"
)
FIT_SWAPPED_INIT = (
    "a and b initialised the other way round (a = 0, b random): a = lora_init(d_in, rank), "
    "b = zeros (rank, d_out)"
)
FIT_BOTH_ZERO = (
    "a and b both start at zeros: then both gradients stay 0 forever; a = lora_init(d_in, rank)"
)
FIT_SUM = "the loss is a sum: mse_loss is the mean over all N * d_out elements"
FIT_MEAN_ROWS = (
    "the loss is averaged over the N rows only (summed over d_out): mse_loss is the mean over all "
    "N * d_out elements"
)
FIT_GRAD_OF_SUM = (
    "the gradient is that of the sum, 2 * (pred - y), while the loss is the mean: the mean's "
    "gradient is 2 * (pred - y) / (N * d_out)"
)
FIT_GRAD_ROWS = (
    "the gradient is divided by N, the rows, only: the loss is the mean over all N * d_out "
    "elements, so its gradient is 2 * (pred - y) / (N * d_out)"
)
FIT_NO_FACTOR_2 = (
    "the gradient is missing its factor 2: d mean((pred - y)**2) / d pred = "
    "2 * (pred - y) / (N * d_out)"
)
FIT_LOSS_AFTER = "the losses were recorded after each step: losses[i] is the loss BEFORE step i"
FIT_SEQUENTIAL = (
    "one matrix was updated before the other's gradient was computed (so it saw the new value): "
    "compute both gradients at the current (a, b), then update both"
)
FIT_INIT = "lora_fit's start for a: "
FIT_EXTRA_LOSS = (
    "one loss too many (the loss after the last step appended): losses[i] is the loss BEFORE "
    "step i, `steps` values in all"
)

DRAWS = "drawn in this order with np.random.default_rng(seed).standard_normal"

# --- the layer with a switch per mistake ----------------------------------------------------------


def _scales(alpha: float, r: int, d_in: int) -> dict[str, float]:
    """Each scale mistake's factor, where it differs from alpha / r."""
    right = alpha / r
    wrong = {
        SCALE_ALPHA: alpha,
        SCALE_INVERTED: r / alpha if alpha else math.inf,
        SCALE_RSLORA: alpha / math.sqrt(r),
        NO_SCALE: 1.0,
        R_FROM_ROWS: alpha / d_in,
    }
    return {name: s for name, s in wrong.items() if not math.isclose(s, right, rel_tol=1e-3)}


def forward_mistakes(x: Any, w: Any, a: Any, b: Any, alpha: float) -> dict[str, Any]:
    """What each classic mistake returns for lora_forward(x, w, a, b, alpha)."""
    s = alpha / a.shape[1]
    low = (x @ a) @ b
    wrong: dict[str, Any] = {
        name: x @ w + scale * low for name, scale in _scales(alpha, a.shape[1], a.shape[0]).items()
    }
    wrong[NO_FROZEN] = s * low
    if w.shape[0] == w.shape[1]:
        wrong[UPDATE_TRANSPOSED] = x @ (w + s * (a @ b).T)
        wrong[W_TRANSPOSED] = x @ w.T + s * low
    return wrong


def merge_mistakes(w: Any, a: Any, b: Any, alpha: float) -> dict[str, Any]:
    """What each classic mistake returns for merge_lora(w, a, b, alpha)."""
    s, delta = alpha / a.shape[1], a @ b
    scales = _scales(alpha, a.shape[1], a.shape[0])
    wrong: dict[str, Any] = {MERGE_NO_SCALE: w + delta} if NO_SCALE in scales else {}
    wrong |= {name: w + scale * delta for name, scale in scales.items() if name != NO_SCALE}
    wrong[MERGE_DELTA_ONLY] = s * delta
    wrong[MERGE_SIGN] = w - s * delta
    if w.shape[0] == w.shape[1]:
        wrong[UPDATE_TRANSPOSED] = w + s * delta.T
    return wrong


def gradient_mistakes(x: Any, dy: Any, a: Any, b: Any, alpha: float) -> dict[str, dict[str, Any]]:
    """What each classic mistake returns as the gradients "a" and "b"."""
    r, n = a.shape[1], x.shape[0]
    unscaled = {"a": x.T @ (dy @ b.T), "b": (x @ a).T @ dy}
    s = alpha / r
    wrong: dict[str, dict[str, Any]] = {"a": {}, "b": {}}
    for key in ("a", "b"):
        for name, scale in _scales(alpha, r, a.shape[0]).items():
            wrong[key][name] = scale * unscaled[key]
        if n > 1:
            wrong[key][GRAD_MEAN] = s * unscaled[key] / n
        wrong[key][GRAD_SIGN] = -s * unscaled[key]
    wrong["a"][GRAD_A_TRANSPOSED] = s * unscaled["a"].T
    wrong["b"][GRAD_B_TRANSPOSED] = s * unscaled["b"].T
    wrong["a"][GRAD_SWAPPED] = s * unscaled["b"]
    wrong["b"][GRAD_SWAPPED] = s * unscaled["a"]
    return {key: same_numbers(named) for key, named in wrong.items()}


def fraction_mistakes(d_in: int, d_out: int, r: int) -> dict[str, float]:
    adapter, frozen = r * (d_in + d_out), d_in * d_out
    return {
        FRACTION_PEFT: adapter / (frozen + adapter),
        FRACTION_PERCENT: 100 * adapter / frozen,
        FRACTION_COUNT: adapter,
        FRACTION_INVERTED: frozen / adapter,
        FRACTION_ONE_MATRIX + " (counted r * d_in only)": r * d_in / frozen,
        FRACTION_ONE_MATRIX + " (counted r * d_out only)": r * d_out / frozen,
    }


def init_mistakes(d_in: int, rank: int) -> dict[str, Any]:
    legacy = np.random.RandomState(0).normal(0.0, 1.0 / rank, size=(d_in, rank))
    return {
        INIT_STD_SQRT: np.random.default_rng(0).normal(0.0, 1.0 / math.sqrt(rank), (d_in, rank)),
        INIT_STD_1: np.random.default_rng(0).normal(0.0, 1.0, (d_in, rank)),
        INIT_TRANSPOSED: np.random.default_rng(0).normal(0.0, 1.0 / rank, (rank, d_in)).T,
        INIT_LEGACY: legacy,
    }


def _fit(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    rank: int,
    alpha: float,
    lr: float,
    steps: int,
    *,
    a0: np.ndarray | None = None,
    b0: np.ndarray | None = None,
    scale: float | None = None,
    loss: str = "mean",
    grad: str = "mean",
    record: str = "before",
    order: str = "together",
) -> dict[str, Any]:
    """lora_fit with a mistake switched on; returns {"a", "b", "losses"}."""
    d_in, d_out = w.shape
    a = reference.lora_init(d_in, rank) if a0 is None else a0
    b = np.zeros((rank, d_out)) if b0 is None else b0
    s = alpha / rank if scale is None else scale
    n = x.shape[0]

    def value(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, float]:
        pred = x @ w + s * (x @ a) @ b
        sq = (pred - y) ** 2
        total = {"mean": sq.mean(), "sum": sq.sum(), "rows": sq.sum() / n}[loss]
        return pred, float(total)

    def grads(pred: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        factor = {"mean": 2 / pred.size, "sum": 2.0, "rows": 2 / n, "no 2": 1 / pred.size}[grad]
        dy = factor * (pred - y)
        return s * x.T @ (dy @ b.T), s * (x @ a).T @ dy

    losses = []
    with np.errstate(all="ignore"):
        for _ in range(steps):
            pred, current = value(a, b)
            if record == "before":
                losses.append(current)
            grad_a, grad_b = grads(pred, a, b)
            if order == "b first":
                b = b - lr * grad_b
                grad_a, _ = grads(value(a, b)[0], a, b)
                a = a - lr * grad_a
            elif order == "a first":
                a = a - lr * grad_a
                _, grad_b = grads(value(a, b)[0], a, b)
                b = b - lr * grad_b
            else:
                a, b = a - lr * grad_a, b - lr * grad_b
            if record == "after":
                losses.append(value(a, b)[1])
    return {"a": a, "b": b, "losses": losses}


def fit_mistakes(args: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
    """What each classic mistake returns as a, b and losses for lora_fit(*args)."""
    x, y, w, rank, alpha, lr, steps = args
    d_in, d_out = w.shape
    init_b = np.random.default_rng(0).normal(0.0, 1.0 / rank, size=(rank, d_out))
    runs = {
        FIT_B_RANDOM: {"b0": init_b},
        FIT_SWAPPED_INIT: {"a0": np.zeros((d_in, rank)), "b0": init_b},
        FIT_BOTH_ZERO: {"a0": np.zeros((d_in, rank))},
        FIT_SUM: {"loss": "sum", "grad": "sum"},
        FIT_MEAN_ROWS: {"loss": "rows", "grad": "rows"},
        FIT_GRAD_OF_SUM: {"grad": "sum"},
        FIT_GRAD_ROWS: {"grad": "rows"},
        FIT_NO_FACTOR_2: {"grad": "no 2"},
        FIT_LOSS_AFTER: {"record": "after"},
        FIT_SEQUENTIAL + " (here b first)": {"order": "b first"},
        FIT_SEQUENTIAL + " (here a first)": {"order": "a first"},
    }
    runs |= {name: {"scale": s} for name, s in _scales(alpha, rank, d_in).items()}
    runs |= {FIT_INIT + name: {"a0": a0} for name, a0 in init_mistakes(d_in, rank).items()}
    results = {
        name: _fit(x, y, w, rank, alpha, lr, steps, **switch) for name, switch in runs.items()
    }
    wrong = {key: {name: r[key] for name, r in results.items()} for key in ("a", "b", "losses")}
    good = reference.lora_fit(*args)
    final = float(np.mean((reference.lora_forward(x, w, good[0], good[1], alpha) - y) ** 2))
    wrong["losses"][FIT_EXTRA_LOSS] = [*good[2], final]
    return wrong


# --- checks ---------------------------------------------------------------------------------------

KEYS = ("a", "b")


def as_gradients(got: Any, *, call: str) -> Mapping[str, Any]:
    """`got` as a dict with exactly the keys "a" and "b", or a Mismatch saying why not."""
    return gradient_dict(got, KEYS, function="lora_backward", call=call, misnamed=_misnamed)


def _misnamed(extra: list[Any]) -> str:
    if any(bare_name(key, ("w", "w0")) in ("w", "w0") for key in extra):
        return GRAD_FOR_W
    return 'name the gradients exactly "a" and "b", after the parameters a and b'


def check_forward(student: Any, args: tuple[Any, ...], call: str, expected: Any = None) -> None:
    want = reference.lora_forward(*args) if expected is None else expected
    with layout_errors(args[1], call=call):
        got = student.lora_forward(*args)
    assert_close(got, want, call=call, mistakes=forward_mistakes(*args))


def check_merge(student: Any, args: tuple[Any, ...], call: str, expected: Any = None) -> Any:
    want = reference.merge_lora(*args) if expected is None else expected
    with layout_errors(args[0], call=call):
        got = student.merge_lora(*args)
    assert_close(got, want, call=call, what="merged weight", mistakes=merge_mistakes(*args))
    return as_array(got, call=call, what="merged weight")


def check_backward(
    student: Any, args: tuple[Any, ...], call: str, expected: Mapping[str, Any] | None = None
) -> dict[str, np.ndarray]:
    """Keys, then a's gradient, then b's, each naming the classic mistakes."""
    want = expected or reference.lora_backward(*args)
    grads = as_gradients(student.lora_backward(*args), call=call)
    wrong = gradient_mistakes(*args)
    for key in KEYS:
        what = f'gradient "{key}"'
        assert_close(grads[key], want[key], call=call, what=what, mistakes=wrong[key])
    return {key: as_array(grads[key], call=call) for key in KEYS}


def check_fit(
    student: Any, args: tuple[Any, ...], call: str, expected: tuple[Any, Any, Any] | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """lora_fit: the triple, then the losses (they name the most mistakes), then a and b."""
    want_a, want_b, want_losses = expected or reference.lora_fit(*args)
    got = unpack(student.lora_fit(*args), 3, call=call, what="result (a, b, losses)")
    wrong = fit_mistakes(args)
    x, y, w = args[:3]
    start = float(np.mean((x @ w - y) ** 2))
    losses = got[2]
    try:
        assert_close(losses, want_losses, call=call, what="losses", mistakes=wrong["losses"])
    except Mismatch as failure:
        try:
            first = np.asarray(losses, dtype=np.float64).reshape(-1)
        except (TypeError, ValueError):
            raise failure from None
        if not failure.diagnosis and first.size and not math.isclose(first[0], start, rel_tol=1e-5):
            failure.diagnosis = (
                f"losses[0] should be the loss of x @ w alone ({start:.6g}): the adapter must "
                "start as a no-op (b = zeros), and the loss is the mean over all N * d_out elements"
            )
        raise
    assert_close(got[0], want_a, call=call, what="a (first result)", mistakes=wrong["a"])
    assert_close(got[1], want_b, call=call, what="b (second result)", mistakes=wrong["b"])
    return tuple(as_array(v, call=call) for v in got)  # type: ignore[return-value]


def _hand_layer() -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    return tuple(np.array(v) for v in (fixtures.X, fixtures.W, fixtures.A, fixtures.B))  # type: ignore[return-value]


def random_layer(
    seed: int, lead: tuple[int, ...], d_in: int, d_out: int, r: int
) -> tuple[np.ndarray, ...]:
    """x (*lead, d_in), w, a, b, dy (*lead, d_out), drawn as DRAWS says."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, d_in))
    w = rng.standard_normal((d_in, d_out))
    a = rng.standard_normal((d_in, r))
    b = rng.standard_normal((r, d_out))
    dy = rng.standard_normal((*lead, d_out))
    return x, w, a, b, dy


def layer_text(seed: int, x: Any, w: Any, a: Any, b: Any, alpha: float, name: str) -> str:
    shapes = f"x {x.shape}, w {w.shape}, a {a.shape}, b {b.shape}"
    return f"{name}({shapes}, alpha={alpha}), seed={seed}: x, w, a, b, dy {DRAWS}"


# (seed, leading axes of x, d_in, d_out, r, alpha): ranks above 1 and alpha neither r nor 1 (every
# scale gives another number: with alpha = 1, "alpha instead of alpha / r" is "no scale"),
# d_in != r (r from a.shape[0] differs), w square in some (transposes caught by value), a single
# vector x and batches with two leading axes
CASES = [
    (0, (4,), 5, 3, 2, 8.0),
    (1, (3,), 4, 4, 2, 16.0),
    (2, (2, 3), 6, 6, 4, 8.0),
    (3, (), 3, 5, 2, 3.0),
    (4, (5,), 8, 2, 3, 32.0),
]
IDS = [f"seed{c[0]}" for c in CASES]


# --- lora_forward -------------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_forward_hand(student: Any) -> None:
    """lora_forward on a hand example (s = alpha / r = 4 / 2 = 2)"""
    x, w, a, b = _hand_layer()
    call = (
        f"lora_forward(x={fixtures.X}, w={fixtures.W}, a={fixtures.A}, b={fixtures.B}, alpha=4.0)"
    )
    check_forward(student, (x, w, a, b, fixtures.ALPHA), call, np.array(fixtures.FORWARD))


@pytest.mark.weight(2)
@pytest.mark.parametrize("seed, lead, d_in, d_out, r, alpha", CASES, ids=IDS)
def test_forward_random(
    student: Any, seed: int, lead: tuple[int, ...], d_in: int, d_out: int, r: int, alpha: float
) -> None:
    """lora_forward matches the reference on random layers"""
    x, w, a, b, _ = random_layer(seed, lead, d_in, d_out, r)
    check_forward(student, (x, w, a, b, alpha), layer_text(seed, x, w, a, b, alpha, "lora_forward"))


@pytest.mark.weight(1)
def test_forward_b_zero_is_frozen(student: Any) -> None:
    """with b = 0 (the paper's start) the adapted layer is the frozen layer x @ w"""
    x, w, a, b, _ = random_layer(10, (3,), 4, 5, 2)
    b = np.zeros_like(b)
    call = layer_text(10, x, w, a, b, 8.0, "lora_forward") + "; then b = zeros"
    check_forward(student, (x, w, a, b, 8.0), call, x @ w)


@pytest.mark.weight(1)
def test_forward_rows_independent(student: Any) -> None:
    """lora_forward on (2, 3, d_in) equals it on each row of x"""
    x, w, a, b, _ = random_layer(11, (2, 3), 4, 4, 2)
    call = layer_text(11, x, w, a, b, 6.0, "lora_forward")
    check_forward(student, (x, w, a, b, 6.0), call)
    for i, j in ((0, 0), (1, 2)):
        row_call = f"lora_forward(x[{i}, {j}] of shape (4,), w, a, b, alpha=6.0), the same seed=11"
        check_forward(student, (x[i, j], w, a, b, 6.0), row_call)


# --- merge_lora ----------------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_merge_hand(student: Any) -> None:
    """merge_lora on the hand example: w + 2 * a @ b"""
    _, w, a, b = _hand_layer()
    call = f"merge_lora(w={fixtures.W}, a={fixtures.A}, b={fixtures.B}, alpha=4.0)"
    check_merge(student, (w, a, b, fixtures.ALPHA), call, np.array(fixtures.MERGED))


@pytest.mark.weight(2)
@pytest.mark.parametrize("seed, lead, d_in, d_out, r, alpha", CASES, ids=IDS)
def test_merge_random(
    student: Any, seed: int, lead: tuple[int, ...], d_in: int, d_out: int, r: int, alpha: float
) -> None:
    """merge_lora matches the reference on random layers"""
    _, w, a, b, _ = random_layer(seed, lead, d_in, d_out, r)
    call = f"merge_lora(w {w.shape}, a {a.shape}, b {b.shape}, alpha={alpha}), seed={seed}: "
    check_merge(student, (w, a, b, alpha), call + f"x, w, a, b, dy {DRAWS}")


@pytest.mark.weight(2)
def test_merged_weight_computes_the_layer(student: Any) -> None:
    """x @ merge_lora(w, a, b, alpha) equals lora_forward(x, w, a, b, alpha)"""
    x, w, a, b, _ = random_layer(12, (4,), 5, 5, 3)
    call = layer_text(12, x, w, a, b, 12.0, "merge_lora and lora_forward")
    merged = check_merge(student, (w, a, b, 12.0), call)
    check_forward(student, (x, w, a, b, 12.0), call)
    got = as_array(student.lora_forward(x, w, a, b, 12.0), call=call)
    assert_close(x @ merged, got, call=call, what="x @ your merged weight (your lora_forward)")


# --- lora_backward --------------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_backward_hand(student: Any) -> None:
    """lora_backward on the hand example"""
    x, _, a, b = _hand_layer()
    dy = np.array(fixtures.DY)
    call = (
        f"lora_backward(x={fixtures.X}, dy={fixtures.DY}, a={fixtures.A}, b={fixtures.B}, "
        "alpha=4.0)"
    )
    want = {"a": np.array(fixtures.GRAD_A), "b": np.array(fixtures.GRAD_B)}
    check_backward(student, (x, dy, a, b, fixtures.ALPHA), call, want)


@pytest.mark.weight(3)
@pytest.mark.parametrize(
    "seed, lead, d_in, d_out, r, alpha", CASES[:3] + CASES[4:], ids=IDS[:3] + IDS[4:]
)
def test_backward_random(
    student: Any, seed: int, lead: tuple[int, ...], d_in: int, d_out: int, r: int, alpha: float
) -> None:
    """lora_backward matches the reference on random batches"""
    x, _, a, b, dy = random_layer(seed, lead[-1:], d_in, d_out, r)
    call = (
        f"lora_backward(x {x.shape}, dy {dy.shape}, a {a.shape}, b {b.shape}, alpha={alpha}), "
        f"seed={seed}: x, w, a, b, dy {DRAWS}"
    )
    check_backward(student, (x, dy, a, b, alpha), call)


@pytest.mark.weight(1)
def test_backward_square_shapes(student: Any) -> None:
    """lora_backward with d_in = r = d_out, where swapped or transposed gradients fit the shapes"""
    x, _, a, b, dy = random_layer(13, (4,), 3, 3, 3)
    call = (
        "lora_backward(x (4, 3), dy (4, 3), a (3, 3), b (3, 3), alpha=6.0), seed=13: "
        f"x, w, a, b, dy {DRAWS}"
    )
    check_backward(student, (x, dy, a, b, 6.0), call)


@pytest.mark.weight(1)
def test_backward_at_the_start(student: Any) -> None:
    """with b = 0 the gradient for a is exactly 0 (only b moves on the first step)"""
    x, _, a, b, dy = random_layer(14, (3,), 4, 2, 2)
    b = np.zeros_like(b)
    call = (
        "lora_backward(x (3, 4), dy (3, 2), a (4, 2), b = zeros (2, 2), alpha=4.0), seed=14: "
        f"x, w, a, b, dy {DRAWS}, then b = zeros"
    )
    want = {"a": np.zeros_like(a), "b": reference.lora_backward(x, dy, a, b, 4.0)["b"]}
    check_backward(student, (x, dy, a, b, 4.0), call, want)


# --- lora_parameter_fraction ----------------------------------------------------------------------


def check_fraction(
    student: Any, d_in: int, d_out: int, r: int, expected: float | None = None
) -> None:
    call = f"lora_parameter_fraction({d_in}, {d_out}, {r})"
    want = reference.lora_parameter_fraction(d_in, d_out, r) if expected is None else expected
    got = student.lora_parameter_fraction(d_in, d_out, r)
    mistakes = fraction_mistakes(d_in, d_out, r)
    assert_close(got, want, call=call, what="fraction", mistakes=mistakes)


@pytest.mark.weight(1)
def test_fraction_hand(student: Any) -> None:
    """lora_parameter_fraction: 1/256 for a 4096 x 4096 matrix at r = 8, and two more"""
    for (d_in, d_out, r), value in fixtures.FRACTIONS:
        check_fraction(student, d_in, d_out, r, value)


@pytest.mark.weight(1)
def test_fraction_cases(student: Any) -> None:
    """lora_parameter_fraction matches the formula, square and not"""
    for d_in, d_out, r in ((1024, 256, 16), (3, 7, 1), (12288, 12288, 4), (64, 64, 64)):
        check_fraction(student, d_in, d_out, r)


# --- lora_init ------------------------------------------------------------------------------------


@pytest.mark.weight(1)
def test_init_hand(student: Any) -> None:
    """lora_init(1, 1) is the first standard normal of default_rng(0)"""
    call = "lora_init(1, 1)"
    got = student.lora_init(1, 1)
    assert_close(got, [[fixtures.INIT_G]], call=call, what="a", mistakes=init_mistakes(1, 1))


@pytest.mark.weight(1)
@pytest.mark.parametrize("d_in, rank", [(5, 2), (3, 4), (8, 1)], ids=["5x2", "3x4", "8x1"])
def test_init_values(student: Any, d_in: int, rank: int) -> None:
    """lora_init matches np.random.default_rng(0).normal(0, 1 / rank, size=(d_in, rank))"""
    call = f"lora_init({d_in}, {rank})"
    got = student.lora_init(d_in, rank)
    want = reference.lora_init(d_in, rank)
    assert_close(got, want, call=call, what="a", mistakes=init_mistakes(d_in, rank))
    again = student.lora_init(d_in, rank)
    assert_close(again, want, call=call + ", called a second time", what="a (the same every call)")


# --- lora_fit -------------------------------------------------------------------------------------


def fit_problem(seed: int, n: int, d_in: int, d_out: int, rank: int) -> tuple[np.ndarray, ...]:
    """x (n, d_in), w (d_in, d_out), and y = x @ (w + u @ v) + noise: a rank-`rank` target."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_in))
    w = rng.standard_normal((d_in, d_out))
    u = rng.standard_normal((d_in, rank))
    v = rng.standard_normal((rank, d_out))
    y = x @ (w + u @ v) + 0.1 * rng.standard_normal((n, d_out))
    return x, y, w


def fit_text(seed: int, x: Any, w: Any, rank: int, alpha: float, lr: float, steps: int) -> str:
    return (
        f"lora_fit(x {x.shape}, y {(x.shape[0], w.shape[1])}, w {w.shape}, rank={rank}, "
        f"alpha={alpha}, lr={lr}, steps={steps}), seed={seed}: x, w, u (d_in, rank), "
        f"v (rank, d_out), noise {DRAWS}, y = x @ (w + u @ v) + 0.1 * noise"
    )


@pytest.mark.weight(2)
def test_fit_hand(student: Any) -> None:
    """lora_fit: two steps on one number by hand (only b moves on the first step)"""
    x, y, w, rank, alpha, lr, steps = fixtures.FIT_ARGS
    args = (np.array(x), np.array(y), np.array(w), rank, alpha, lr, steps)
    call = f"lora_fit(x={x}, y={y}, w={w}, rank={rank}, alpha={alpha}, lr={lr}, steps={steps})"
    want = (np.array(fixtures.FIT_A), np.array(fixtures.FIT_B), fixtures.FIT_LOSSES)
    check_fit(student, args, call, want)


# (seed, N, d_in, d_out, rank, alpha, lr, steps): alpha neither rank nor 1, as in CASES
FIT_CASES = [
    (20, 6, 4, 3, 2, 4.0, 0.05, 5),
    (21, 8, 5, 5, 3, 6.0, 0.02, 6),
    (22, 5, 3, 4, 2, 3.0, 0.1, 4),
]


@pytest.mark.weight(3)
@pytest.mark.parametrize(
    "seed, n, d_in, d_out, rank, alpha, lr, steps",
    FIT_CASES,
    ids=[f"seed{c[0]}" for c in FIT_CASES],
)
def test_fit_random(
    student: Any,
    seed: int,
    n: int,
    d_in: int,
    d_out: int,
    rank: int,
    alpha: float,
    lr: float,
    steps: int,
) -> None:
    """lora_fit matches the reference on random low-rank targets"""
    x, y, w = fit_problem(seed, n, d_in, d_out, rank)
    args = (x, y, w, rank, alpha, lr, steps)
    check_fit(student, args, fit_text(seed, x, w, rank, alpha, lr, steps))


@pytest.mark.weight(2)
def test_fit_properties(student: Any) -> None:
    """lora_fit starts at the loss of x @ w alone, goes down, and keeps the shapes"""
    x, y, w = fit_problem(30, 10, 6, 4, 2)
    args = (x, y, w, 2, 4.0, 0.02, 40)
    call = fit_text(30, x, w, 2, 4.0, 0.02, 40)
    _, _, losses = check_fit(student, args, call)
    start = float(np.mean((x @ w - y) ** 2))
    assert_close(losses[0], start, call=call, what="losses[0] (the loss of x @ w alone)")
    if not losses[-1] < 0.5 * losses[0]:
        raise Mismatch(
            "the loss did not go down",
            call=call,
            expected=f"losses[-1] < 0.5 * losses[0] = {0.5 * losses[0]:.6g}",
            got=f"losses[-1] = {losses[-1]:.6g}",
        )


# --- shape errors of nn.Linear's layout -----------------------------------------------------------

MATMUL_ERRORS = ("matmul", "mat1 and mat2", "shapes cannot be multiplied", "not aligned")
SUM_ERRORS = ("broadcast", "size of tensor")


@contextmanager
def layout_errors(w: np.ndarray, *, call: str) -> Iterator[None]:
    """A shape error with a non-square w, named: a product with w.T fails as a matmul, an update
    (a @ b).T added to w fails as a broadcast (nn.Linear's (d_out, d_in) layout, both)."""
    try:
        yield
    except StudentRaised as error:
        if w.shape[0] == w.shape[1] or not {"ValueError", "RuntimeError"} & set(error.type_names):
            raise
        text = error.text.lower()
        if any(words in text for words in MATMUL_ERRORS):
            diagnosis = W_TRANSPOSED
        elif any(words in text for words in SUM_ERRORS):
            diagnosis = UPDATE_TRANSPOSED
        else:
            raise
        raise Mismatch(
            error.summary,
            call=call,
            details=[f"where:\n{error.where}"] if error.where else [],
            diagnosis=diagnosis,
        ) from None
