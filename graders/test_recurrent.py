"""Grader for recurrent: rnn_forward, rnn_backward (BPTT), lstm_cell, lstm_forward and
gradient_norms (time first, x @ w weights, one bias, PyTorch's gate order i, f, g, o).

Three levels: the hand-computed fixtures (a two-step RNN, a BPTT whose tanh derivatives are all 1,
an LSTM cell whose gates are 1/4, 3/4 and 0.6), the reference on random inputs of several shapes
with printed seeds (T = 1, long sequences with small and large w_hh, B > 1 always, D != H so a
transposed weight has the wrong shape, and square weights where it would not), and the contract's
properties (a prefix of the sequence gives a prefix of hs, a gradient at step t reaches only steps
up to t, lstm_forward over one step is lstm_cell, norms that shrink with a small w_hh and grow by
exactly its scale with zero states). Classic mistakes are recomputed here on purpose so a failure
can name them.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.checks import bare_name, gradient_dict
from transformer_kit.grader.compare import Mismatch, as_array, assert_close, unpack
from transformer_kit.graders.fixtures import recurrent as fixtures
from transformer_kit.solutions import recurrent as reference

# --- the classic mistakes, by name ----------------------------------------------------------------

HS_SHIFTED = (
    "hs holds h_0 .. h_{T-1}: h0 was stored before the first step and h_T is missing; hs[t - 1] "
    "is the state AFTER input t, hs[-1] is h_T"
)
HS_WITH_H0 = "hs includes h0 as its first entry: hs holds h_1 .. h_T only, (T, B, H)"
ONLY_LAST = "only the last state h_T was returned: rnn_forward returns every state, (T, B, H)"
W_HH_T = "h @ w_hh.T (nn.RNN's weight_hh layout): here w_hh is (H, H) and acts as h @ w_hh"
NO_H0 = "h0 ignored (the recurrence started from zeros): h_1 = tanh(x_1 @ w_xh + h0 @ w_hh + b)"
NO_TANH = "the tanh is missing: h_t = tanh(x_t @ w_xh + h_{t-1} @ w_hh + b)"
BIAS_TWICE = (
    "b added twice (nn.RNN's bias_ih and bias_hh both loaded with b): the kit's one b is their sum"
)

LAST_STEP_ONLY = (
    "gradients only from the last step: dhs holds the loss gradient at EVERY step; add dhs[t - 1] "
    "to what flows back into h_t"
)
H0_ZERO = "the gradient for h0 is zero: it is what flows back past the first step, da_1 @ w_hh.T"
H0_MISSING = 'the gradient for h0 is missing: return it under "h0", what flows back past step 1'
NO_TANH_GRAD = "the tanh's derivative is missing: multiply by 1 - h_t**2 before going further back"
TANH_GRAD_OFF = (
    "the tanh's derivative taken at the wrong step (1 - h_{t-1}**2): step t's tanh has derivative "
    "1 - h_t**2"
)
TRUNCATED = (
    "no gradient flows through time (truncated to one step): what reaches h_t goes on to h_{t-1} "
    "through da_t @ w_hh.T"
)
CARRY_NOT_T = "the gradient sent back through w_hh instead of w_hh.T: dL/dh_{t-1} = da_t @ w_hh.T"
GRAD_T = (
    "a weight's gradient is transposed: it has its weight's shape, x_t.T @ da_t, h_{t-1}.T @ da_t"
)
GRAD_MEAN = (
    "the gradients were divided by B: rnn_backward differentiates sum(dhs * hs), a sum over the "
    "batch and the steps"
)
GRAD_SIGN = "a sign error: the gradient of sum(dhs * hs) has the sign of dhs"

CS231N = (
    "the gates read in CS231n's order i, f, o, g: this kit uses PyTorch's i, f, g, o (the tanh "
    "candidate g is the third block, the output gate the fourth)"
)
TF_ORDER = (
    "the gates read in TensorFlow 1's LSTMCell order i, j, f, o (j the candidate): this kit uses "
    "PyTorch's i, f, g, o"
)
TF_FORGET_BIAS = (
    "TensorFlow 1's LSTMCell (order i, j, f, o and forget_bias = 1.0 added to f): this kit uses "
    "PyTorch's i, f, g, o and no extra forget bias"
)
FORGET_BIAS = (
    "a forget bias of 1.0 added (TensorFlow's and Keras's default): here b alone is the bias"
)
NO_TANH_C = "h_new = o * c_new: the cell state goes through tanh first, h_new = o * tanh(c_new)"
NO_INPUT_GATE = "the input gate is missing: c_new = f * c + i * g"
G_SIGMOID = "the candidate g went through sigmoid: g = tanh(its block), only i, f, o are sigmoid"
SWAPPED = "h and c swapped: return (h_new, c_new), in that order"
NN_LSTM_SHAPE = "nn.LSTM's (num_layers, B, H) = (1, B, H): return h_T and c_T as (B, H)"
LAST_C_IN_HS = "hs holds the cell states c_t: hs is the hidden states h_1 .. h_T"

PER_EXAMPLE = (
    "one norm per example (T, B): the contract asks one Frobenius norm over the whole (B, H) "
    "gradient at each step"
)
PRE_ACTIVATION = (
    "the norms are of the gradient w.r.t. the pre-activation (after the tanh's derivative): take "
    "them w.r.t. h_t itself"
)
NORMS_REVERSED = (
    "the norms are in reverse order: entry t - 1 is for h_t, so the last entry is h_T's sqrt(B * H)"
)
NORMS_SQUARED = "squared norms: the Frobenius norm is sqrt(sum(g ** 2))"
NORMS_NO_TANH = "the tanh's derivative is missing: dL/dh_{t-1} = (dL/dh_t * (1 - h_t**2)) @ w_hh.T"
NORMS_W_HH = "the gradient sent back through w_hh instead of w_hh.T"
NORMS_MEAN = "the loss taken as mean(h_T): it is sum(h_T), so dL/dh_T is all ones"
NORMS_WITH_H0 = "a norm for h0 too (T + 1 entries): one entry per h_1 .. h_T"

DRAWS = "drawn in this order with np.random.default_rng(seed).standard_normal"


@contextmanager
def _quiet() -> Iterator[None]:
    """Mistakes recomputed on purpose may overflow: no warnings from them."""
    with np.errstate(all="ignore"):
        yield


# --- the forward pass with a switch per mistake ---------------------------------------------------


def _rnn(
    xs: Any,
    h0: Any,
    w_xh: Any,
    w_hh: Any,
    b: Any,
    *,
    act: Any = np.tanh,
    transposed: bool = False,
    start: Any = None,
    bias: float = 1.0,
) -> np.ndarray:
    h = h0 if start is None else start
    w = w_hh.T if transposed else w_hh
    states = []
    for x in xs:
        h = act(x @ w_xh + h @ w + bias * b)
        states.append(h)
    return np.stack(states)


def forward_mistakes(xs: Any, h0: Any, w_xh: Any, w_hh: Any, b: Any) -> dict[str, Any]:
    """What each classic mistake returns for rnn_forward(xs, h0, w_xh, w_hh, b)."""
    hs = reference.rnn_forward(xs, h0, w_xh, w_hh, b)
    with _quiet():
        wrong: dict[str, Any] = {
            HS_SHIFTED: np.concatenate([h0[None], hs[:-1]]),
            HS_WITH_H0: np.concatenate([h0[None], hs]),
            ONLY_LAST: hs[-1],
            NO_H0: _rnn(xs, h0, w_xh, w_hh, b, start=np.zeros_like(h0)),
            NO_TANH: _rnn(xs, h0, w_xh, w_hh, b, act=lambda z: z),
            BIAS_TWICE: _rnn(xs, h0, w_xh, w_hh, b, bias=2.0),
        }
        if w_hh.shape[0] > 1:
            wrong[W_HH_T] = _rnn(xs, h0, w_xh, w_hh, b, transposed=True)
    return wrong


# --- BPTT with a switch per mistake ---------------------------------------------------------------


def _bptt(
    xs: Any,
    h0: Any,
    w_xh: Any,
    w_hh: Any,
    b: Any,
    dhs: Any,
    *,
    last_only: bool = False,
    derivative: str = "h_t",
    carry: str = "w_hh.T",
) -> dict[str, np.ndarray]:
    """rnn_backward with one mistake switched on."""
    hs = reference.rnn_forward(xs, h0, w_xh, w_hh, b)
    previous = np.concatenate([h0[None], hs[:-1]])
    if last_only:
        dhs = np.concatenate([np.zeros_like(dhs[:-1]), dhs[-1:]])
    grads = {k: np.zeros(v.shape) for k, v in (("xs", xs), ("w_xh", w_xh), ("w_hh", w_hh))}
    grads["b"] = np.zeros(b.shape)
    carried = np.zeros(h0.shape)
    for t in reversed(range(xs.shape[0])):
        slope = {"h_t": 1 - hs[t] ** 2, "none": 1.0, "h_t-1": 1 - previous[t] ** 2}[derivative]
        da = (dhs[t] + carried) * slope
        grads["xs"][t] = da @ w_xh.T
        grads["w_xh"] += xs[t].T @ da
        grads["w_hh"] += previous[t].T @ da
        grads["b"] += da.sum(axis=0)
        carried = {"w_hh.T": da @ w_hh.T, "w_hh": da @ w_hh, "none": 0 * carried}[carry]
    grads["h0"] = da @ w_hh.T if carry == "none" else carried
    return grads


def backward_mistakes(args: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
    """What each classic mistake returns, per gradient key, for rnn_backward(*args)."""
    h0, w_hh = args[1], args[3]
    right = reference.rnn_backward(*args)
    with _quiet():
        switched = {
            LAST_STEP_ONLY: _bptt(*args, last_only=True),
            NO_TANH_GRAD: _bptt(*args, derivative="none"),
            TANH_GRAD_OFF: _bptt(*args, derivative="h_t-1"),
            TRUNCATED: _bptt(*args, carry="none"),
        }
        if w_hh.shape[0] > 1:
            switched[CARRY_NOT_T] = _bptt(*args, carry="w_hh")
    wrong: dict[str, dict[str, Any]] = {key: {} for key in right}
    for name, grads in switched.items():
        for key in right:
            wrong[key][name] = grads[key]
    for key, value in right.items():
        if h0.shape[0] > 1:
            wrong[key][GRAD_MEAN] = value / h0.shape[0]
        wrong[key][GRAD_SIGN] = -value
    wrong["h0"][H0_ZERO] = np.zeros_like(right["h0"])
    for key in ("w_xh", "w_hh"):
        wrong[key][GRAD_T] = right[key].T
    return wrong


KEYS = ("xs", "h0", "w_xh", "w_hh", "b")


def as_gradients(got: Any, call: str) -> Mapping[str, Any]:
    if (
        isinstance(got, dict)
        and "h0" not in got
        and not any(bare_name(k, KEYS) == "h0" for k in got)
    ):
        raise Mismatch(
            "the dict of gradients has no gradient for h0",
            call=call,
            expected="keys " + ", ".join(f'"{key}"' for key in KEYS),
            got="keys " + (", ".join(repr(k) for k in got) or "(none)"),
            diagnosis=H0_MISSING,
        )
    return gradient_dict(got, KEYS, function="rnn_backward", call=call, misnamed=_misnamed)


def _misnamed(extra: list[Any]) -> str:
    return (
        'name the gradients exactly "xs", "h0", "w_xh", "w_hh" and "b", after the arguments'
        if extra
        else ""
    )


# --- the LSTM with a switch per mistake -----------------------------------------------------------


def _sigmoid(z: Any) -> Any:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def _cell(
    x: Any,
    h: Any,
    c: Any,
    w_ih: Any,
    w_hh: Any,
    b: Any,
    *,
    order: str = "ifgo",
    forget_bias: float = 0.0,
    bias: float = 1.0,
    tanh_c: bool = True,
    input_gate: bool = True,
    g_act: Any = np.tanh,
) -> tuple[np.ndarray, np.ndarray]:
    hidden = h.shape[-1]
    z = x @ w_ih + h @ w_hh + bias * b
    blocks = dict(zip(order, (z[:, k * hidden : (k + 1) * hidden] for k in range(4)), strict=True))
    i, f, o = _sigmoid(blocks["i"]), _sigmoid(blocks["f"] + forget_bias), _sigmoid(blocks["o"])
    g = g_act(blocks["g"])
    c_new = f * c + (i * g if input_gate else g)
    return o * (np.tanh(c_new) if tanh_c else c_new), c_new


CELL_MISTAKES: dict[str, dict[str, Any]] = {
    CS231N: {"order": "ifog"},
    TF_FORGET_BIAS: {"order": "igfo", "forget_bias": 1.0},
    TF_ORDER: {"order": "igfo"},
    FORGET_BIAS: {"forget_bias": 1.0},
    BIAS_TWICE: {"bias": 2.0},
    NO_TANH_C: {"tanh_c": False},
    NO_INPUT_GATE: {"input_gate": False},
    G_SIGMOID: {"g_act": _sigmoid},
}


def cell_mistakes(args: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
    """What each classic mistake returns as h_new and c_new for lstm_cell(*args)."""
    h_new, c_new = reference.lstm_cell(*args)
    wrong: dict[str, dict[str, Any]] = {"h": {SWAPPED: c_new}, "c": {SWAPPED: h_new}}
    for name, options in CELL_MISTAKES.items():
        h_bad, c_bad = _cell(*args, **options)
        wrong["h"][name], wrong["c"][name] = h_bad, c_bad
    return wrong


def _lstm(xs: Any, h0: Any, c0: Any, w_ih: Any, w_hh: Any, b: Any, **options: Any) -> Any:
    """hs, h_T, c_T and the cell states c_1 .. c_T, with the mistake `options` switched on."""
    h, c, states, cells = h0, c0, [], []
    for x in xs:
        h, c = _cell(x, h, c, w_ih, w_hh, b, **options)
        states.append(h)
        cells.append(c)
    return np.stack(states), h, c, np.stack(cells)


def lstm_mistakes(args: tuple[Any, ...]) -> dict[str, dict[str, Any]]:
    """What each classic mistake returns as hs, h_T and c_T for lstm_forward(*args)."""
    hs, (h_t, c_t) = reference.lstm_forward(*args)
    cells = _lstm(*args)[3]
    wrong: dict[str, dict[str, Any]] = {
        "hs": {
            HS_WITH_H0: np.concatenate([args[1][None], hs]),
            ONLY_LAST: h_t,
            LAST_C_IN_HS: cells,
        },
        "h": {NN_LSTM_SHAPE: h_t[None], SWAPPED: c_t},
        "c": {NN_LSTM_SHAPE: c_t[None], SWAPPED: h_t},
    }
    for name, options in CELL_MISTAKES.items():
        bad_hs, bad_h, bad_c, _ = _lstm(*args, **options)
        wrong["hs"][name], wrong["h"][name], wrong["c"][name] = bad_hs, bad_h, bad_c
    return wrong


# --- gradient_norms with a switch per mistake -----------------------------------------------------


def _norm_grads(
    xs: Any,
    h0: Any,
    w_xh: Any,
    w_hh: Any,
    b: Any,
    *,
    start: float = 1.0,
    slope: bool = True,
    transposed: bool = True,
) -> tuple[np.ndarray, list[np.ndarray], list[np.ndarray]]:
    """hs, dL/dh_t for t = 1..T and dL/d(pre-activation)_t, with one mistake switched on."""
    hs = reference.rnn_forward(xs, h0, w_xh, w_hh, b)
    grad = np.full(hs.shape[1:], start)
    by_state, by_pre = [np.zeros(0)] * len(hs), [np.zeros(0)] * len(hs)
    for t in reversed(range(len(hs))):
        by_state[t] = grad
        by_pre[t] = grad * (1 - hs[t] ** 2) if slope else grad
        grad = by_pre[t] @ (w_hh.T if transposed else w_hh)
    return hs, by_state, [*by_pre, grad]


def norm_mistakes(xs: Any, h0: Any, w_xh: Any, w_hh: Any, b: Any) -> dict[str, Any]:
    """What each classic mistake returns for gradient_norms(xs, h0, w_xh, w_hh, b)."""
    right = reference.gradient_norms(xs, h0, w_xh, w_hh, b)
    with _quiet():
        _, states, pre = _norm_grads(xs, h0, w_xh, w_hh, b)
        batch, hidden = h0.shape
        wrong: dict[str, Any] = {
            PER_EXAMPLE: np.stack([np.linalg.norm(g, axis=-1) for g in states]),
            PRE_ACTIVATION: np.array([np.linalg.norm(g) for g in pre[:-1]]),
            NORMS_REVERSED: right[::-1],
            NORMS_SQUARED: right**2,
            NORMS_MEAN: right / (batch * hidden),
            NORMS_WITH_H0: np.append(np.linalg.norm(pre[-1]), right),
        }
        _, no_slope, _ = _norm_grads(xs, h0, w_xh, w_hh, b, slope=False)
        wrong[NORMS_NO_TANH] = np.array([np.linalg.norm(g) for g in no_slope])
        if hidden > 1:
            _, plain, _ = _norm_grads(xs, h0, w_xh, w_hh, b, transposed=False)
            wrong[NORMS_W_HH] = np.array([np.linalg.norm(g) for g in plain])
    return {name: value for name, value in wrong.items() if not _same(value, right)}


def _same(value: Any, right: np.ndarray) -> bool:
    value = np.asarray(value)
    return value.shape == right.shape and bool(np.allclose(value, right, rtol=1e-4, atol=1e-6))


# --- random inputs --------------------------------------------------------------------------------


def random_rnn(
    seed: int, steps: int, batch: int, d_in: int, hidden: int, scale: float
) -> tuple[np.ndarray, ...]:
    """xs (T, B, D), h0 (B, H), w_xh (D, H), w_hh (H, H) scaled by scale / sqrt(H), b (H,) and
    dhs (T, B, H)."""
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((steps, batch, d_in))
    h0 = 0.5 * rng.standard_normal((batch, hidden))
    w_xh = rng.standard_normal((d_in, hidden)) / math.sqrt(d_in)
    w_hh = scale * rng.standard_normal((hidden, hidden)) / math.sqrt(hidden)
    b = 0.1 * rng.standard_normal(hidden)
    dhs = rng.standard_normal((steps, batch, hidden))
    return xs, h0, w_xh, w_hh, b, dhs


def rnn_text(name: str, seed: int, xs: Any, hidden: int, scale: float) -> str:
    steps, batch, d_in = xs.shape
    return (
        f"{name}(xs ({steps}, {batch}, {d_in}), h0 ({batch}, {hidden}), w_xh ({d_in}, {hidden}), "
        f"w_hh ({hidden}, {hidden}), b ({hidden},)), seed={seed}: xs = g, h0 = 0.5 * g, "
        f"w_xh = g / sqrt(D), w_hh = {scale} * g / sqrt(H), b = 0.1 * g, dhs = g, with each g "
        f"{DRAWS}"
    )


# (seed, T, B, D, H, w_hh scale): T = 1, D != H, B > 1 everywhere, H = 1 once, a long sequence with
# a small w_hh (vanishing) and one with a large w_hh (exploding, then saturating)
CASES = [
    (0, 3, 2, 4, 3, 1.0),
    (1, 1, 3, 2, 5, 1.0),
    (2, 5, 4, 3, 3, 0.8),
    (3, 4, 2, 2, 1, 1.5),
    (4, 20, 2, 3, 4, 0.3),
    (5, 16, 3, 2, 4, 3.0),
]
IDS = [f"seed{c[0]}-T{c[1]}" for c in CASES]


def check_forward(student: Any, args: tuple[Any, ...], call: str, expected: Any = None) -> Any:
    want = reference.rnn_forward(*args) if expected is None else expected
    got = student.rnn_forward(*args)
    assert_close(got, want, call=call, what="hs", mistakes=forward_mistakes(*args))
    return as_array(got, call=call, what="hs")


def check_backward(
    student: Any, args: tuple[Any, ...], call: str, expected: Mapping[str, Any] | None = None
) -> None:
    """Keys first (h0's named), then each gradient, naming the classic mistakes."""
    want = expected or reference.rnn_backward(*args)
    grads = as_gradients(student.rnn_backward(*args), call)
    wrong = backward_mistakes(args)
    for key in KEYS:
        what = f'gradient "{key}"'
        assert_close(grads[key], want[key], call=call, what=what, mistakes=wrong[key])


def check_cell(
    student: Any, args: tuple[Any, ...], call: str, expected: tuple[Any, Any] | None = None
) -> None:
    want_h, want_c = expected or reference.lstm_cell(*args)
    got = unpack(student.lstm_cell(*args), 2, call=call, what="result (h_new, c_new)")
    wrong = cell_mistakes(args)
    assert_close(got[0], want_h, call=call, what="h_new (first result)", mistakes=wrong["h"])
    assert_close(got[1], want_c, call=call, what="c_new (second result)", mistakes=wrong["c"])


def check_lstm(student: Any, args: tuple[Any, ...], call: str) -> None:
    hs, (h_t, c_t) = reference.lstm_forward(*args)
    got = unpack(student.lstm_forward(*args), 2, call=call, what="result (hs, (h_T, c_T))")
    final = unpack(got[1], 2, call=call, what="second result (h_T, c_T)")
    wrong = lstm_mistakes(args)
    assert_close(got[0], hs, call=call, what="hs (first result)", mistakes=wrong["hs"])
    assert_close(final[0], h_t, call=call, what="h_T", mistakes=wrong["h"])
    assert_close(final[1], c_t, call=call, what="c_T", mistakes=wrong["c"])


def check_norms(student: Any, args: tuple[Any, ...], call: str, expected: Any = None) -> Any:
    want = reference.gradient_norms(*args) if expected is None else expected
    got = student.gradient_norms(*args)
    assert_close(got, want, call=call, what="norms", mistakes=norm_mistakes(*args))
    return as_array(got, call=call, what="norms")


# --- rnn_forward ----------------------------------------------------------------------------------


def _hand(*values: Any) -> tuple[np.ndarray, ...]:
    return tuple(np.array(v, dtype=np.float64) for v in values)


@pytest.mark.weight(2)
def test_forward_hand(student: Any) -> None:
    """rnn_forward on a two-step, two-example sequence by hand"""
    f = fixtures
    args = _hand(f.FORWARD_XS, f.FORWARD_H0, f.FORWARD_W_XH, f.FORWARD_W_HH, f.FORWARD_B)
    call = (
        f"rnn_forward(xs={f.FORWARD_XS}, h0={f.FORWARD_H0}, w_xh={f.FORWARD_W_XH}, "
        f"w_hh={f.FORWARD_W_HH}, b={f.FORWARD_B})"
    )
    check_forward(student, args, call, np.array(f.FORWARD_HS))


@pytest.mark.weight(3)
@pytest.mark.parametrize("seed, steps, batch, d_in, hidden, scale", CASES, ids=IDS)
def test_forward_random(
    student: Any, seed: int, steps: int, batch: int, d_in: int, hidden: int, scale: float
) -> None:
    """rnn_forward matches the reference on random sequences"""
    xs, h0, w_xh, w_hh, b, _ = random_rnn(seed, steps, batch, d_in, hidden, scale)
    check_forward(
        student, (xs, h0, w_xh, w_hh, b), rnn_text("rnn_forward", seed, xs, hidden, scale)
    )


@pytest.mark.weight(1)
def test_forward_continues(student: Any) -> None:
    """the first k steps give the first k states, and the rest continues from hs[k - 1]"""
    xs, h0, w_xh, w_hh, b, _ = random_rnn(10, 6, 3, 2, 4, 1.0)
    call = rnn_text("rnn_forward", 10, xs, 4, 1.0)
    hs = check_forward(student, (xs, h0, w_xh, w_hh, b), call)
    for k in (1, 4):
        head_call = f"rnn_forward(xs[:{k}], h0, w_xh, w_hh, b), the same seed=10"
        head = student.rnn_forward(xs[:k], h0, w_xh, w_hh, b)
        assert_close(
            head, hs[:k], call=head_call, what=f"hs of the first {k} steps (your hs[:{k}])"
        )
        tail_call = f"rnn_forward(xs[{k}:], hs[{k - 1}], w_xh, w_hh, b), the same seed=10"
        tail = student.rnn_forward(xs[k:], hs[k - 1], w_xh, w_hh, b)
        assert_close(tail, hs[k:], call=tail_call, what=f"hs from step {k + 1} (your hs[{k}:])")


# --- rnn_backward ---------------------------------------------------------------------------------


@pytest.mark.weight(3)
def test_backward_hand(student: Any) -> None:
    """rnn_backward by hand: every state is 0, so every tanh derivative is 1"""
    f = fixtures
    args = _hand(
        f.BACKWARD_XS, f.BACKWARD_H0, f.BACKWARD_W_XH, f.BACKWARD_W_HH, f.BACKWARD_B, f.BACKWARD_DHS
    )
    call = (
        f"rnn_backward(xs={f.BACKWARD_XS}, h0={f.BACKWARD_H0}, w_xh={f.BACKWARD_W_XH}, "
        f"w_hh={f.BACKWARD_W_HH}, b={f.BACKWARD_B}, dhs={f.BACKWARD_DHS})"
    )
    want = {key: np.array(value) for key, value in f.BACKWARD_GRADS.items()}
    check_backward(student, args, call, want)


@pytest.mark.weight(5)
@pytest.mark.parametrize("seed, steps, batch, d_in, hidden, scale", CASES, ids=IDS)
def test_backward_random(
    student: Any, seed: int, steps: int, batch: int, d_in: int, hidden: int, scale: float
) -> None:
    """rnn_backward matches the reference on random sequences, a gradient at every step"""
    args = random_rnn(seed, steps, batch, d_in, hidden, scale)
    check_backward(student, args, rnn_text("rnn_backward", seed, args[0], hidden, scale))


@pytest.mark.weight(1)
def test_backward_reaches_only_the_past(student: Any) -> None:
    """a loss gradient at step t moves xs[:t] and nothing after it"""
    xs, h0, w_xh, w_hh, b, dhs = random_rnn(11, 5, 2, 3, 4, 1.0)
    dhs[3:] = 0.0
    args = (xs, h0, w_xh, w_hh, b, dhs)
    call = rnn_text("rnn_backward", 11, xs, 4, 1.0) + "; then dhs[3:] = 0"
    check_backward(student, args, call)
    got = as_array(as_gradients(student.rnn_backward(*args), call)["xs"], call=call)
    assert_close(got[3:], np.zeros_like(got[3:]), call=call, what='gradient "xs" after step 3')


# --- lstm_cell and lstm_forward -------------------------------------------------------------------


def random_lstm(seed: int, steps: int, batch: int, d_in: int, hidden: int) -> tuple[Any, ...]:
    """xs (T, B, D), h0, c0 (B, H), w_ih (D, 4H), w_hh (H, 4H), b (4H,)."""
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((steps, batch, d_in))
    h0 = 0.5 * rng.standard_normal((batch, hidden))
    c0 = rng.standard_normal((batch, hidden))
    w_ih = rng.standard_normal((d_in, 4 * hidden)) / math.sqrt(d_in)
    w_hh = rng.standard_normal((hidden, 4 * hidden)) / math.sqrt(hidden)
    b = 0.5 * rng.standard_normal(4 * hidden)
    return xs, h0, c0, w_ih, w_hh, b


def lstm_text(name: str, seed: int, xs: Any, hidden: int) -> str:
    steps, batch, d_in = xs.shape
    return (
        f"{name}(xs ({steps}, {batch}, {d_in}), h0 and c0 ({batch}, {hidden}), w_ih ({d_in}, "
        f"{4 * hidden}), w_hh ({hidden}, {4 * hidden}), b ({4 * hidden},)), seed={seed}: "
        f"xs = g, h0 = 0.5 * g, c0 = g, w_ih = g / sqrt(D), w_hh = g / sqrt(H), b = 0.5 * g, "
        f"with each g {DRAWS}"
    )


# (seed, T, B, D, H)
LSTM_CASES = [(20, 3, 2, 3, 2), (21, 1, 3, 2, 4), (22, 6, 2, 4, 3), (23, 12, 4, 2, 1)]
LSTM_IDS = [f"seed{c[0]}-T{c[1]}" for c in LSTM_CASES]


@pytest.mark.weight(2)
def test_cell_hand(student: Any) -> None:
    """lstm_cell by hand: gates of 1/4, 3/4 and 0.6 from logarithms"""
    f = fixtures
    args = _hand(f.CELL_X, f.CELL_H, f.CELL_C, f.CELL_W_IH, f.CELL_W_HH, f.CELL_B)
    call = (
        f"lstm_cell(x={f.CELL_X}, h={f.CELL_H}, c={f.CELL_C}, w_ih=[[ln 3, -ln 3, ln 2, ln 3]], "
        f"w_hh=[[-ln 3, ln 3, 0, -ln 3]], b={f.CELL_B})"
    )
    check_cell(student, args, call, (np.array(f.CELL_H_NEW), np.array(f.CELL_C_NEW)))


@pytest.mark.weight(2)
@pytest.mark.parametrize("seed, steps, batch, d_in, hidden", LSTM_CASES, ids=LSTM_IDS)
def test_cell_random(
    student: Any, seed: int, steps: int, batch: int, d_in: int, hidden: int
) -> None:
    """lstm_cell matches the reference on random states"""
    xs, h0, c0, w_ih, w_hh, b = random_lstm(seed, steps, batch, d_in, hidden)
    call = lstm_text("lstm_cell", seed, xs, hidden) + "; x = xs[0], h = h0, c = c0"
    check_cell(student, (xs[0], h0, c0, w_ih, w_hh, b), call)


@pytest.mark.weight(2)
@pytest.mark.parametrize("seed, steps, batch, d_in, hidden", LSTM_CASES, ids=LSTM_IDS)
def test_lstm_random(
    student: Any, seed: int, steps: int, batch: int, d_in: int, hidden: int
) -> None:
    """lstm_forward matches the reference on random sequences"""
    args = random_lstm(seed, steps, batch, d_in, hidden)
    check_lstm(student, args, lstm_text("lstm_forward", seed, args[0], hidden))


@pytest.mark.weight(1)
def test_lstm_one_step_is_the_cell(student: Any) -> None:
    """lstm_forward over one step returns lstm_cell's h_new (as hs[0] and h_T) and c_new"""
    xs, h0, c0, w_ih, w_hh, b = random_lstm(24, 1, 2, 3, 2)
    call = lstm_text("lstm_forward and lstm_cell", 24, xs, 2)
    check_lstm(student, (xs, h0, c0, w_ih, w_hh, b), call)
    check_cell(student, (xs[0], h0, c0, w_ih, w_hh, b), call)
    h_new, c_new = unpack(student.lstm_cell(xs[0], h0, c0, w_ih, w_hh, b), 2, call=call)
    hs, (_, c_t) = unpack(student.lstm_forward(xs, h0, c0, w_ih, w_hh, b), 2, call=call)
    assert_close(hs, as_array(h_new, call=call)[None], call=call, what="hs (your h_new as hs[0])")
    assert_close(c_t, c_new, call=call, what="c_T (your c_new)")


# --- gradient_norms -------------------------------------------------------------------------------


@pytest.mark.weight(1)
def test_norms_hand(student: Any) -> None:
    """gradient_norms by hand: zero states and w_hh = 2 double the gradient per step back"""
    f = fixtures
    args = _hand(f.BACKWARD_XS, f.BACKWARD_H0, f.BACKWARD_W_XH, f.BACKWARD_W_HH, f.BACKWARD_B)
    call = (
        f"gradient_norms(xs={f.BACKWARD_XS}, h0={f.BACKWARD_H0}, w_xh={f.BACKWARD_W_XH}, "
        f"w_hh={f.BACKWARD_W_HH}, b={f.BACKWARD_B})"
    )
    check_norms(student, args, call, np.array(f.NORMS))


@pytest.mark.weight(2)
@pytest.mark.parametrize("seed, steps, batch, d_in, hidden, scale", CASES, ids=IDS)
def test_norms_random(
    student: Any, seed: int, steps: int, batch: int, d_in: int, hidden: int, scale: float
) -> None:
    """gradient_norms matches the reference on random sequences"""
    xs, h0, w_xh, w_hh, b, _ = random_rnn(seed, steps, batch, d_in, hidden, scale)
    call = rnn_text("gradient_norms", seed, xs, hidden, scale)
    check_norms(student, (xs, h0, w_xh, w_hh, b), call)


@pytest.mark.visible
@pytest.mark.weight(1)
def test_norms_last_is_sqrt_bh(student: Any) -> None:
    """the last norm is that of dL/dh_T = ones (B, H): sqrt(B * H)"""
    xs, h0, w_xh, w_hh, b, _ = random_rnn(12, 4, 3, 2, 5, 1.0)
    call = rnn_text("gradient_norms", 12, xs, 5, 1.0)
    norms = as_array(student.gradient_norms(xs, h0, w_xh, w_hh, b), call=call, what="norms")
    if norms.shape != (4,):
        raise Mismatch(
            "the norms have the wrong shape: one norm per step, for h_1 .. h_T",
            call=call,
            expected="shape (4,)",
            got=f"shape {norms.shape}",
        )
    assert_close(norms[-1], math.sqrt(15), call=call, what="norms[-1] (sqrt(B * H) = sqrt(15))")


@pytest.mark.weight(1)
def test_norms_vanish(student: Any) -> None:
    """with a small w_hh the norms shrink going back: the first is a tiny fraction of the last"""
    xs, h0, w_xh, w_hh, b, _ = random_rnn(4, 20, 2, 3, 4, 0.3)
    call = rnn_text("gradient_norms", 4, xs, 4, 0.3)
    norms = check_norms(student, (xs, h0, w_xh, w_hh, b), call)
    if not norms[0] < 1e-6 * norms[-1]:
        raise Mismatch(
            "the gradient did not vanish going back 20 steps with a small w_hh",
            call=call,
            expected=f"norms[0] < 1e-6 * norms[-1] = {1e-6 * norms[-1]:.3g}",
            got=f"norms[0] = {norms[0]:.3g}",
        )


@pytest.mark.weight(1)
def test_norms_explode_from_zero_states(student: Any) -> None:
    """with every h_t = 0 and w_hh = 1.5 * an orthogonal matrix the norms grow by 1.5 per step back

    Zero inputs, h0 and b keep every h_t at 0 (tanh' = 1), so each step back multiplies the
    gradient by w_hh.T exactly: norm t is sqrt(B * H) * 1.5 ** (T - t).
    """
    steps, batch, hidden = 10, 2, 3
    rotation, _ = np.linalg.qr(np.random.default_rng(13).standard_normal((hidden, hidden)))
    w_hh = 1.5 * rotation
    xs, h0 = np.zeros((steps, batch, 2)), np.zeros((batch, hidden))
    w_xh, b = np.ones((2, hidden)), np.zeros(hidden)
    call = (
        "gradient_norms(xs = zeros (10, 2, 2), h0 = zeros (2, 3), w_xh = ones (2, 3), "
        "w_hh = 1.5 * Q, b = zeros (3,)), Q the orthogonal factor of np.linalg.qr of a (3, 3) "
        f"{DRAWS} (seed=13)"
    )
    want = math.sqrt(batch * hidden) * 1.5 ** np.arange(steps - 1, -1, -1)
    check_norms(student, (xs, h0, w_xh, w_hh, b), call, want)
