"""Grader for adamw: adam_step (torch.optim.Adam), adamw_step (torch.optim.AdamW), cosine_lr and
clip_grad_norm (torch.nn.utils.clip_grad_norm_).

Three levels: the hand-computed fixtures (a first Adam step, a second step where eps and the L2
term matter, the same state under AdamW, a short schedule, a 3-4-5 clipping), the reference on
random inputs of several shapes with printed seeds (gradients small enough that eps's place shows,
lr * weight_decay large enough that decaying after the step shows, several carried steps), and the
contract's properties (the first step moves each weight by about lr, Adam is invariant to the
gradient's scale, AdamW with zero gradients only decays, the schedule's landmarks, one norm for all
arrays). Classic mistakes are recomputed here on purpose so a failure can name them.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    assert_shape,
    describe,
    two_at_once,
    unpack,
)
from transformer_kit.graders.fixtures import adamw as fixtures
from transformer_kit.solutions import adamw as reference

# --- the classic mistakes, by name ----------------------------------------------------------------

NO_BIAS = (
    "no bias correction: divide m by (1 - beta1**t) and v by (1 - beta2**t) before the step "
    "(the moments start at 0 and are too small early on)"
)
T_FROM_0 = (
    "the step number is off by one (t counted from 0, beta**(t + 1)): t is 1 at the first "
    "step, m_hat = m / (1 - beta1**t)"
)
T_MINUS_1 = (
    "the step number is off by one (beta**(t - 1)): at t = 1 that divides by 1 - beta**0 = 0; "
    "use beta**t with t the number of this step"
)
EPS_INSIDE = "eps inside the square root, sqrt(v_hat + eps): add it after, sqrt(v_hat) + eps"
EPS_HAT = (
    "eps added to sqrt(v) before the bias correction (the paper's efficient form and "
    "Keras's epsilon-hat, lr * sqrt(1 - beta2**t) / (1 - beta1**t) * m / (sqrt(v) + eps)): as "
    "PyTorch, add eps to sqrt(v_hat)"
)
NO_SQRT = "divided by v_hat, not by its square root: m_hat / (sqrt(v_hat) + eps)"
NO_ONE_MINUS = (
    "the moments lost their (1 - beta) factor: m = beta1 * m + (1 - beta1) * g, "
    "v = beta2 * v + (1 - beta2) * g**2"
)
SIGN = "a sign error: the step goes against the gradient, w - lr * m_hat / (sqrt(v_hat) + eps)"
WD_IGNORED = (
    "weight_decay was ignored: adam_step adds weight_decay * w to the gradient "
    "(torch.optim.Adam's L2 penalty), g = grad + weight_decay * w"
)
WD_DECOUPLED = (
    "adam_step decayed the weights directly (AdamW's decoupled decay): torch.optim.Adam folds "
    "weight_decay into the gradient, g = grad + weight_decay * w, and the moments see it"
)
L2_IN_ADAMW = (
    "AdamW as an L2 penalty (weight_decay * w added to the gradient, as Adam does): AdamW "
    "decays the weights directly, w * (1 - lr * weight_decay), and the moments see only grad"
)
DECAY_AFTER = (
    "the decay was applied after the Adam update (to the updated weights): first "
    "w * (1 - lr * weight_decay), then the Adam step"
)
DECAY_NO_LR = (
    "the decay is not scaled by lr, w * (1 - weight_decay) (the paper's form with a schedule "
    "multiplier of 1): torch.optim.AdamW uses w * (1 - lr * weight_decay)"
)
DECAY_IGNORED = (
    "weight_decay was ignored: AdamW first shrinks the weights, w * (1 - lr * weight_decay)"
)
DECAY_TWICE = (
    "the decay was applied twice, decoupled and as an L2 term in the gradient: AdamW's moments "
    "see only grad"
)
RETURNED_HAT = (
    "returned the bias-corrected m_hat / v_hat as the new state: return m and v themselves "
    "(the next step corrects them again from its own t)"
)
OLD_STATE = "returned the old moments instead of the updated m and v"
SWAPPED_MV = "m and v are swapped: return (w, m, v) in that order"

WARMUP_PLUS_1 = (
    "the warm-up is off by one, max_lr * (step + 1) / warmup_steps: the rate is 0 at step 0, "
    "max_lr * step / warmup_steps"
)
WARMUP_NANOGPT = (
    "the warm-up is nanoGPT's newer max_lr * (step + 1) / (warmup_steps + 1): this kit's starts "
    "at 0, max_lr * step / warmup_steps"
)
WARMUP_FROM_MIN = "the warm-up starts at min_lr: it rises from 0, max_lr * step / warmup_steps"
COSINE_TO_0 = (
    "the cosine decays to 0 instead of min_lr (Hugging Face's cosine schedule): "
    "min_lr + 0.5 * (1 + cos(pi * r)) * (max_lr - min_lr)"
)
COSINE_AMPLITUDE = (
    "the cosine's amplitude is max_lr instead of max_lr - min_lr: "
    "min_lr + 0.5 * (1 + cos(pi * r)) * (max_lr - min_lr)"
)
SPAN_FROM_0 = (
    "the decay's progress counts from step 0 (r = step / cosine_steps): count it from the end of "
    "the warm-up, r = (step - warmup_steps) / (cosine_steps - warmup_steps)"
)
SPAN_AFTER_WARMUP = (
    "cosine_steps counted after the warm-up (the decay ends at warmup_steps + cosine_steps): "
    "cosine_steps is the step where it ends, counted from 0 (nanoGPT's lr_decay_iters)"
)
AFTER_CONTINUES = (
    "after cosine_steps the cosine goes on (and rises again): for step > cosine_steps the rate "
    "stays at min_lr"
)
AFTER_ZERO = "after cosine_steps the rate drops to 0: for step > cosine_steps it stays at min_lr"
NO_HALF = "the cosine is missing its 0.5: 0.5 * (1 + cos(pi * r)) falls from 1 to 0"
NO_PI = "cos(r) without the pi: the half cosine is cos(pi * r), r going from 0 to 1"

PER_ARRAY = (
    "each array clipped by its own norm (Keras's clipnorm): clip_grad_norm_ takes ONE norm over "
    "every element of every array and scales all arrays by the same factor"
)
ALWAYS_SCALED = (
    "the gradients were scaled although their norm is not above max_norm: clip only when "
    "total_norm > max_norm, otherwise return them unchanged (never scale up)"
)
VALUE_CLIP = (
    "each element clipped to [-max_norm, max_norm] (clip_grad_value_, Keras's clipvalue): "
    "scale every array by max_norm / (total_norm + 1e-6)"
)
INVERTED = (
    "scaled by total_norm / max_norm (upside down): the factor is max_norm / (total_norm + 1e-6)"
)
NORM_AFTER = "returned the norm after clipping: total_norm is the norm before clipping"
NORM_SQUARED = "total_norm is the sum of squares: take its square root"
SUM_OF_NORMS = (
    "total_norm is the sum of the arrays' own norms: it is sqrt of the sum of squares of every "
    "element of every array (the norm of all of them concatenated)"
)

DRAWS = (
    "w, grad, m, v drawn in this order with np.random.default_rng(seed): w = N(0, 1), "
    "grad = scale * N(0, 1), m = scale * N(0, 1) / 2, v = (scale * N(0, 1))**2"
)

# --- Adam with a switch per mistake ---------------------------------------------------------------


def _adam(
    w: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
    *,
    decay: str,
    bias: bool = True,
    t_shift: int = 0,
    eps_at: str = "outside",
    one_minus: bool = True,
    sign: float = 1.0,
) -> dict[str, np.ndarray]:
    """One step with a mistake switched on: decay is "l2" (Adam's), "decoupled" (AdamW's),
    "after", "no lr", "none" or "twice"; returns w, m, v and the m_hat, v_hat it used."""
    w0 = np.asarray(w, dtype=np.float64)
    start = w0 * (1 - lr * weight_decay) if decay in ("decoupled", "twice") else w0
    start = w0 * (1 - weight_decay) if decay == "no lr" else start
    g = grad + weight_decay * w0 if decay in ("l2", "twice") else np.asarray(grad, np.float64)
    a, b = (1 - beta1, 1 - beta2) if one_minus else (1.0, 1.0)
    m_new, v_new = beta1 * m + a * g, beta2 * v + b * g**2
    c1 = 1 - beta1 ** (t + t_shift) if bias else 1.0
    c2 = 1 - beta2 ** (t + t_shift) if bias else 1.0
    with np.errstate(all="ignore"):
        m_hat, v_hat = m_new / c1, v_new / c2
        if eps_at == "inside":
            step = m_hat / np.sqrt(v_hat + eps)
        elif eps_at == "hat":
            step = m_hat * math.sqrt(c2) / (np.sqrt(v_new) + eps)
        elif eps_at == "no sqrt":
            step = m_hat / (v_hat + eps)
        else:
            step = m_hat / (np.sqrt(v_hat) + eps)
        w_new = start - sign * lr * step
    w_new = w_new * (1 - lr * weight_decay) if decay == "after" else w_new
    return {"w": w_new, "m": m_new, "v": v_new, "m_hat": m_hat, "v_hat": v_hat}


def step_mistakes(kind: str, args: Sequence[Any]) -> dict[str, dict[str, Any]]:
    """What each classic mistake returns as w, m and v for adam_step or adamw_step(*args)."""
    w, grad, m, v, t, lr, beta1, beta2, eps, weight_decay = args
    right = "l2" if kind == "adam" else "decoupled"

    def run(**switches: Any) -> dict[str, np.ndarray]:
        options = {"decay": right, **switches}
        return _adam(w, grad, m, v, t, lr, beta1, beta2, eps, weight_decay, **options)

    good = run()
    switches: dict[str, dict[str, Any]] = {
        NO_BIAS: {"bias": False},
        T_FROM_0: {"t_shift": 1},
        T_MINUS_1: {"t_shift": -1},
        EPS_INSIDE: {"eps_at": "inside"},
        EPS_HAT: {"eps_at": "hat"},
        NO_SQRT: {"eps_at": "no sqrt"},
        NO_ONE_MINUS: {"one_minus": False},
        SIGN: {"sign": -1.0},
    }
    if weight_decay:
        if kind == "adam":
            switches |= {WD_IGNORED: {"decay": "none"}, WD_DECOUPLED: {"decay": "decoupled"}}
        else:
            switches |= {
                L2_IN_ADAMW: {"decay": "l2"},
                DECAY_AFTER: {"decay": "after"},
                DECAY_NO_LR: {"decay": "no lr"},
                DECAY_IGNORED: {"decay": "none"},
                DECAY_TWICE: {"decay": "twice"},
            }
    # singles first; a result no single mistake explains may be two of them at once (HF's legacy
    # AdamW: epsilon-hat and the decay after the update)
    made = [*switches.items(), *two_at_once(switches.items())]
    variants = {name: run(**options) for name, options in made}
    mistakes: dict[str, dict[str, Any]] = {
        key: {name: value[key] for name, value in variants.items()} for key in ("w", "m", "v")
    }
    for key, other in (("m", "v"), ("v", "m")):
        state = {"m": m, "v": v}[key]
        mistakes[key] = {
            RETURNED_HAT: good[f"{key}_hat"],
            OLD_STATE: state,
            SWAPPED_MV: good[other],
            **mistakes[key],
        }
    return mistakes


def full_args(
    w: Any, grad: Any, m: Any, v: Any, t: int, lr: float, kind: str, **options: float
) -> tuple[Any, ...]:
    """All ten arguments, the defaults of `kind` filled in."""
    defaults = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    defaults["weight_decay"] = 0.0 if kind == "adam" else 0.01
    defaults |= options
    keys = ("beta1", "beta2", "eps", "weight_decay")
    return (w, grad, m, v, t, lr, *(defaults[k] for k in keys))


def check_step(
    student: Any,
    kind: str,
    args: Sequence[Any],
    call: str,
    expected: Sequence[Any] | None = None,
    *,
    keywords: bool = True,
    extra: Mapping[str, Any] | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One adam_step / adamw_step: w first (it names the most mistakes), then m, then v.
    Returns the learner's (w, m, v) as arrays."""
    function = student.adam_step if kind == "adam" else student.adamw_step
    w, grad, m, v, t, lr, beta1, beta2, eps, weight_decay = args
    if keywords:
        options = {"beta1": beta1, "beta2": beta2, "eps": eps, "weight_decay": weight_decay}
        got = function(w, grad, m, v, t, lr, **options)
    else:
        got = function(w, grad, m, v, t, lr)
    solve = reference.adam_step if kind == "adam" else reference.adamw_step
    want = expected or solve(*args)
    mistakes = step_mistakes(kind, args)
    if extra:
        mistakes["w"] = {**extra, **mistakes["w"]}
    got_w, got_m, got_v = unpack(got, 3, call=call, what="result (w, m, v)")
    results = []
    for name, value, target, ordinal in zip(
        "wmv", (got_w, got_m, got_v), want, ("first", "second", "third"), strict=True
    ):
        what = f"new {name} ({ordinal} result)"
        assert_close(value, target, call=call, what=what, mistakes=mistakes[name])
        results.append(as_array(value, call=call, what=what))
    return results[0], results[1], results[2]


def step_call(kind: str, args: Sequence[Any], shape: tuple[int, ...] | str, note: str = "") -> str:
    _, _, _, _, t, lr, beta1, beta2, eps, weight_decay = args
    name = "adam_step" if kind == "adam" else "adamw_step"
    arrays = ", ".join(f"{a} {shape}" for a in ("w", "grad", "m", "v"))
    return (
        f"{name}({arrays}, t={t}, lr={lr}, beta1={beta1}, beta2={beta2}, eps={eps}, "
        f"weight_decay={weight_decay}){note}"
    )


def random_state(
    seed: int, shape: tuple[int, ...], scale: float, *, fresh: bool = False
) -> tuple[np.ndarray, ...]:
    """(w, grad, m, v) as DRAWS says; fresh: m = v = 0 (the state before the first step)."""
    rng = np.random.default_rng(seed)
    w = rng.standard_normal(shape)
    grad = scale * rng.standard_normal(shape)
    m = scale * rng.standard_normal(shape) / 2
    v = (scale * rng.standard_normal(shape)) ** 2
    if fresh:
        m, v = np.zeros(shape), np.zeros(shape)
    return w, grad, m, v


def hand_args(prefix: str, kind: str) -> tuple[tuple[Any, ...], str]:
    arrays = [np.array(getattr(fixtures, f"{prefix}_{n}")) for n in ("W", "GRAD", "M", "V")]
    t, lr = getattr(fixtures, f"{prefix}_T"), getattr(fixtures, f"{prefix}_LR")
    options = {
        key: getattr(fixtures, f"{prefix}_{key.upper()}")
        for key in ("beta1", "beta2", "eps", "weight_decay")
        if hasattr(fixtures, f"{prefix}_{key.upper()}")
    }
    args = full_args(*arrays, t, lr, kind, **options)
    name = "adam_step" if kind == "adam" else "adamw_step"
    lists = ", ".join(
        f"{n}={getattr(fixtures, f'{prefix}_{n.upper()}')}" for n in ("w", "grad", "m", "v")
    )
    given = "".join(f", {k}={v}" for k, v in options.items())
    return args, f"{name}({lists}, t={t}, lr={lr}{given})"


def hand_expected(prefix: str) -> tuple[list[float], ...]:
    return tuple(getattr(fixtures, f"{prefix}_{n}_NEW") for n in ("W", "M", "V"))


# --- adam_step ------------------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_adam_first_step_hand(student: Any) -> None:
    """adam_step: the first step from zero moments, by hand"""
    args, call = hand_args("FIRST", "adam")
    check_step(student, "adam", args, call, hand_expected("FIRST"))


@pytest.mark.weight(2)
def test_adam_l2_hand(student: Any) -> None:
    """adam_step: a second step with an L2 penalty and a large eps, by hand"""
    args, call = hand_args("L2", "adam")
    check_step(student, "adam", args, call, hand_expected("L2"))


ADAM_CASES = [
    # seed, shape, scale, t, lr, beta1, beta2, eps, weight_decay
    (0, (5,), 1.0, 1, 0.1, 0.9, 0.999, 1e-8, 0.0),
    (1, (2, 3), 0.5, 3, 0.05, 0.9, 0.999, 1e-8, 0.1),
    (2, (2, 3, 4), 1.0, 10, 0.2, 0.8, 0.99, 1e-8, 0.0),
    (3, (4, 1), 2.0, 1000, 0.1, 0.9, 0.999, 1e-8, 0.3),
]


@pytest.mark.parametrize(
    "seed, shape, scale, t, lr, beta1, beta2, eps, weight_decay",
    ADAM_CASES,
    ids=[f"seed{c[0]}" for c in ADAM_CASES],
)
def test_adam_random(
    student: Any,
    seed: int,
    shape: tuple[int, ...],
    scale: float,
    t: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
) -> None:
    """adam_step matches the reference on random arrays"""
    w, grad, m, v = random_state(seed, shape, scale, fresh=t == 1)
    args = (w, grad, m, v, t, lr, beta1, beta2, eps, weight_decay)
    fresh = "; m = v = 0" if t == 1 else ""
    note = f", seed={seed}, scale={scale}: {DRAWS}{fresh}"
    check_step(student, "adam", args, step_call("adam", args, shape, note))


SMALL_CASES = [(10, (6,), 1e-6, 5, 1e-8), (11, (2, 4), 1e-3, 2, 1e-3), (12, (3, 2), 1e-7, 20, 1e-8)]


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, shape, scale, t, eps", SMALL_CASES, ids=[f"seed{c[0]}" for c in SMALL_CASES]
)
def test_adam_small_gradients(
    student: Any, seed: int, shape: tuple[int, ...], scale: float, t: int, eps: float
) -> None:
    """adam_step with gradients as small as eps (where eps's place matters)"""
    w, grad, m, v = random_state(seed, shape, scale)
    args = full_args(w, grad, m, v, t, 0.1, "adam", eps=eps)
    note = f", seed={seed}, scale={scale}: {DRAWS}"
    check_step(student, "adam", args, step_call("adam", args, shape, note))


def carried_steps(student: Any, kind: str, seed: int, steps: int, **options: float) -> None:
    """`steps` steps from zero moments, t = 1, 2, ..., each fed the learner's own w, m, v."""
    rng = np.random.default_rng(seed)
    shape = (3, 2)
    w, m, v = rng.standard_normal(shape), np.zeros(shape), np.zeros(shape)
    lr = options.pop("lr")
    for t in range(1, steps + 1):
        grad = rng.standard_normal(shape)
        args = full_args(w, grad, m, v, t, lr, kind, **options)
        note = (
            f", step {t} of {steps} from m = v = 0, each step given the w, m, v your previous "
            f"step returned; seed={seed}: w0 then one grad per step drawn with "
            "np.random.default_rng(seed).standard_normal"
        )
        w, m, v = check_step(student, kind, args, step_call(kind, args, shape, note))


@pytest.mark.weight(2)
def test_adam_several_steps(student: Any) -> None:
    """adam_step over 5 steps, the moments carried from step to step"""
    carried_steps(student, "adam", 20, 5, lr=0.05, weight_decay=0.1)


def default_mistakes(kind: str, w: Any, grad: Any, m: Any, v: Any, t: int, lr: float) -> dict:
    name = "adam_step" if kind == "adam" else "adamw_step"
    solve = reference.adam_step if kind == "adam" else reference.adamw_step
    wd, torch_name = (0.0, "Adam") if kind == "adam" else (0.01, "AdamW")
    wrong = {
        f"{name}'s default weight_decay is {wd} (as torch.optim.{torch_name})": {
            "weight_decay": 0.01 if kind == "adam" else 0.0
        },
        f"{name}'s default beta2 is 0.999": {"beta2": 0.99},
        f"{name}'s default beta1 is 0.9": {"beta1": 0.99},
        f"{name}'s default eps is 1e-8": {"eps": 1e-6},
    }
    return {text: solve(w, grad, m, v, t, lr, **change)[0] for text, change in wrong.items()}


@pytest.mark.weight(1)
def test_adam_defaults(student: Any) -> None:
    """adam_step's defaults: beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0"""
    w, grad, m, v = random_state(30, (4,), 1e-6)
    args = full_args(w, grad, m, v, 3, 0.5, "adam")
    note = f", seed=30, scale=1e-06: {DRAWS}"
    call = "adam_step(w (4,), grad (4,), m (4,), v (4,), t=3, lr=0.5) with the defaults" + note
    extra = default_mistakes("adam", w, grad, m, v, 3, 0.5)
    check_step(student, "adam", args, call, keywords=False, extra=extra)


@pytest.mark.weight(2)
def test_adam_properties(student: Any) -> None:
    """adam_step: the first step moves each weight by about lr, whatever the gradient's scale"""
    rng = np.random.default_rng(40)
    w = rng.standard_normal(6)
    grad = rng.choice([-1.0, 1.0], 6) * rng.uniform(0.01, 100.0, 6)  # |grad| from 0.01 to 100
    zeros = np.zeros(6)
    args = full_args(w, grad, zeros, zeros, 1, 0.01, "adam")
    call = step_call("adam", args, (6,), ", seed=40: grad's size spans 0.01 to 100")
    expected = (w - 0.01 * np.sign(grad), 0.1 * grad, 0.001 * grad**2)  # m_hat / sqrt(v_hat) = ±1
    check_step(student, "adam", args, call, expected)

    w, grad, m, v = random_state(41, (5,), 1.0)
    args = full_args(w, grad, m, v, 4, 0.1, "adam", eps=1e-12)
    base = f", seed=41: {DRAWS}"
    w_one, _, _ = check_step(student, "adam", args, step_call("adam", args, (5,), base))
    scaled = (w, 1000 * grad, 1000 * m, 1e6 * v, 4, 0.1, 0.9, 0.999, 1e-12, 0.0)
    note = f"{base}; grad and m times 1000, v times 1e6: the same step"
    call = step_call("adam", scaled, (5,), note)
    w_big, _, _ = check_step(student, "adam", scaled, call)
    assert_close(w_big, w_one, call=call, what="new w (the same as with the unscaled gradient)")


# --- adamw_step -----------------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_adamw_hand(student: Any) -> None:
    """adamw_step: decoupled decay, then the Adam step, by hand"""
    args, call = hand_args("W", "adamw")
    check_step(student, "adamw", args, call, hand_expected("W"))


ADAMW_CASES = [
    # seed, shape, scale, t, lr, beta1, beta2, eps, weight_decay (lr * wd large in 51 and 53)
    (50, (5,), 1.0, 1, 0.1, 0.9, 0.999, 1e-8, 0.01),
    (51, (2, 3), 1.0, 4, 0.1, 0.9, 0.999, 1e-8, 0.5),
    (52, (2, 3, 4), 0.5, 25, 0.01, 0.8, 0.99, 1e-8, 0.1),
    (53, (3, 1), 1e-6, 7, 0.3, 0.9, 0.999, 1e-8, 1.0),
]


@pytest.mark.parametrize(
    "seed, shape, scale, t, lr, beta1, beta2, eps, weight_decay",
    ADAMW_CASES,
    ids=[f"seed{c[0]}" for c in ADAMW_CASES],
)
def test_adamw_random(
    student: Any,
    seed: int,
    shape: tuple[int, ...],
    scale: float,
    t: int,
    lr: float,
    beta1: float,
    beta2: float,
    eps: float,
    weight_decay: float,
) -> None:
    """adamw_step matches the reference on random arrays"""
    w, grad, m, v = random_state(seed, shape, scale, fresh=t == 1)
    args = (w, grad, m, v, t, lr, beta1, beta2, eps, weight_decay)
    fresh = "; m = v = 0" if t == 1 else ""
    note = f", seed={seed}, scale={scale}: {DRAWS}{fresh}"
    check_step(student, "adamw", args, step_call("adamw", args, shape, note))


@pytest.mark.weight(2)
def test_adamw_several_steps(student: Any) -> None:
    """adamw_step over 5 steps, the moments carried from step to step"""
    carried_steps(student, "adamw", 60, 5, lr=0.1, weight_decay=0.4)


@pytest.mark.weight(1)
def test_adamw_defaults(student: Any) -> None:
    """adamw_step's defaults: beta1 0.9, beta2 0.999, eps 1e-8, weight_decay 0.01"""
    w, grad, m, v = random_state(70, (4,), 1e-6)
    args = full_args(w, grad, m, v, 3, 0.5, "adamw")
    note = f", seed=70, scale=1e-06: {DRAWS}"
    call = "adamw_step(w (4,), grad (4,), m (4,), v (4,), t=3, lr=0.5) with the defaults" + note
    extra = default_mistakes("adamw", w, grad, m, v, 3, 0.5)
    check_step(student, "adamw", args, call, keywords=False, extra=extra)


@pytest.mark.weight(2)
def test_adamw_decay_properties(student: Any) -> None:
    """adamw_step: with zero gradients it only decays; with weight_decay 0 it is adam_step"""
    w = np.array([2.0, -1.0, 0.5, -4.0])
    zeros = np.zeros(4)
    args = full_args(w, zeros, zeros, zeros, 1, 0.1, "adamw", weight_decay=0.5)
    call = step_call("adamw", args, (4,), "; w = [2, -1, 0.5, -4], grad = m = v = 0")
    check_step(student, "adamw", args, call, (w * 0.95, zeros, zeros))  # w * (1 - 0.1 * 0.5)

    w, grad, m, v = random_state(71, (2, 3), 1.0)
    args = full_args(w, grad, m, v, 6, 0.05, "adamw", weight_decay=0.0)
    note = f", seed=71: {DRAWS}; with weight_decay 0 AdamW is Adam"
    expected = reference.adam_step(*args)
    check_step(student, "adamw", args, step_call("adamw", args, (2, 3), note), expected)


# --- cosine_lr ------------------------------------------------------------------------------------


def schedule(
    step: int,
    max_lr: float,
    min_lr: float,
    warmup: int,
    end: int,
    *,
    warm: str = "right",
    span: str = "right",
    after: str = "min",
    amplitude: str = "right",
    half: float = 0.5,
    pi: float = math.pi,
) -> float:
    """cosine_lr with a mistake switched on."""
    if step < warmup:
        if warm == "plus 1":
            return max_lr * (step + 1) / warmup
        if warm == "nanogpt":
            return max_lr * (step + 1) / (warmup + 1)
        if warm == "from min":
            return min_lr + (max_lr - min_lr) * step / warmup
        return max_lr * step / warmup
    if span == "after warmup":
        end = warmup + end
    if step > end and after != "continue":
        return 0.0 if after == "zero" else min_lr
    ratio = step / end if span == "from 0" else (step - warmup) / (end - warmup)
    low = 0.0 if amplitude == "to 0" else min_lr
    height = max_lr if amplitude == "max" else max_lr - low
    return low + half * (1 + math.cos(pi * ratio)) * height


SCHEDULE_MISTAKES = {
    WARMUP_PLUS_1: {"warm": "plus 1"},
    WARMUP_NANOGPT: {"warm": "nanogpt"},
    WARMUP_FROM_MIN: {"warm": "from min"},
    COSINE_TO_0: {"amplitude": "to 0"},
    COSINE_AMPLITUDE: {"amplitude": "max"},
    SPAN_FROM_0: {"span": "from 0"},
    SPAN_AFTER_WARMUP: {"span": "after warmup"},
    AFTER_CONTINUES: {"after": "continue"},
    AFTER_ZERO: {"after": "zero"},
    NO_HALF: {"half": 1.0},
    NO_PI: {"pi": 1.0},
}


def check_schedule(
    student: Any, args: tuple[float, float, int, int], steps: Sequence[int], expected: Any = None
) -> None:
    """cosine_lr at every step of `steps`, compared as one schedule (so a mistake is named by
    its whole shape); each value must be one real number."""
    max_lr, min_lr, warmup, end = args
    text = f"max_lr={max_lr}, min_lr={min_lr}, warmup_steps={warmup}, cosine_steps={end}"
    values = []
    for step in steps:
        call = f"cosine_lr({step}, {text})"
        got = student.cosine_lr(step, *args)
        assert_shape(got, (), call=call, what="learning rate")
        values.append(float(as_array(got, call=call, what="learning rate")))
    if expected is None:
        expected = [reference.cosine_lr(s, *args) for s in steps]
    mistakes = {
        name: [schedule(s, *args, **switch) for s in steps]
        for name, switch in SCHEDULE_MISTAKES.items()
    }
    shown = ", ".join(str(s) for s in steps)
    call = f"cosine_lr(step, {text}) for step in [{shown}]"
    what = "learning rates for the listed steps"
    try:
        assert_close(values, expected, call=call, what=what, mistakes=mistakes)
    except Mismatch as failure:
        want, got = np.asarray(expected, dtype=np.float64), np.asarray(values)
        error = np.abs(got - want) - (1e-6 + 1e-4 * np.abs(want))
        worst = int(np.argmax(np.where(np.isnan(error), np.inf, error)))
        failure.details.insert(0, f"index ({worst},) is step {list(steps)[worst]}")
        raise


@pytest.mark.weight(2)
def test_cosine_hand(student: Any) -> None:
    """cosine_lr: warm-up over 2 steps, cosine down to step 6, by hand"""
    check_schedule(student, fixtures.COSINE_ARGS, fixtures.COSINE_STEPS, fixtures.COSINE_EXPECTED)


SCHEDULES = [
    ((0.5, 0.05, 10, 100), (0, 1, 5, 9, 10, 11, 30, 55, 80, 99, 100, 101, 150, 1000)),
    ((2.0, 0.5, 1, 5), (0, 1, 2, 3, 4, 5, 6, 7)),
    ((1.0, 0.0, 0, 10), (1, 2, 5, 8, 10, 11, 15)),  # no warm-up (step 0 is not graded)
    ((3e-4, 3e-5, 2000, 60000), (0, 1, 1000, 1999, 2000, 2001, 31000, 59999, 60000, 60001, 90000)),
]


@pytest.mark.parametrize(
    "args, steps", SCHEDULES, ids=[f"warmup{a[2]}-end{a[3]}" for a, _ in SCHEDULES]
)
def test_cosine_schedules(
    student: Any, args: tuple[float, float, int, int], steps: tuple[int, ...]
) -> None:
    """cosine_lr matches the contract's formula on several schedules"""
    check_schedule(student, args, steps)


@pytest.mark.weight(1)
def test_cosine_properties(student: Any) -> None:
    """cosine_lr's landmarks: 0, max_lr after the warm-up, the midpoint, min_lr at the end"""
    args = (1.0, 0.2, 4, 12)
    landmarks = {
        0: (0.0, "0 at step 0"),
        2: (0.5, "half of max_lr half-way through the warm-up"),
        4: (1.0, "max_lr at step warmup_steps"),
        8: (0.6, "(max_lr + min_lr) / 2 half-way through the decay"),
        12: (0.2, "min_lr at step cosine_steps"),
        40: (0.2, "min_lr after cosine_steps"),
    }
    for step, (value, what) in landmarks.items():
        call = f"cosine_lr({step}, max_lr=1.0, min_lr=0.2, warmup_steps=4, cosine_steps=12)"
        mistakes = {name: schedule(step, *args, **s) for name, s in SCHEDULE_MISTAKES.items()}
        assert_close(
            student.cosine_lr(step, *args),
            value,
            call=call,
            what=f"rate ({what})",
            mistakes=mistakes,
        )


# --- clip_grad_norm -------------------------------------------------------------------------------


def clip_mistakes(
    grads: Sequence[np.ndarray], max_norm: float
) -> tuple[dict[str, list[np.ndarray]], dict[str, float]]:
    """What each classic mistake returns: the clipped lists, and the total_norms."""
    norms = [float(np.sqrt(np.sum(g**2))) for g in grads]
    total = math.sqrt(sum(n**2 for n in norms))

    def clip_by(norm: float) -> list[np.ndarray]:
        """Every array scaled as if the total norm were `norm`."""
        return [g * (max_norm / (norm + 1e-6)) if norm > max_norm else g for g in grads]

    scale = max_norm / (total + 1e-6)
    pairs = list(zip(grads, norms, strict=True))
    lists = {
        PER_ARRAY: [g * (max_norm / (n + 1e-6)) if n > max_norm else g for g, n in pairs],
        ALWAYS_SCALED: [g * scale for g in grads],
        VALUE_CLIP: [np.clip(g, -max_norm, max_norm) for g in grads],
        INVERTED: [g * total / max_norm for g in grads] if total > max_norm else clip_by(total),
        NORM_SQUARED: clip_by(total**2),
        SUM_OF_NORMS: clip_by(sum(norms)),
    }
    totals = {
        NORM_AFTER: total * scale if total > max_norm else total,
        NORM_SQUARED: total**2,
        SUM_OF_NORMS: sum(norms),
    }
    return lists, totals


def _matches_list(got: Sequence[Any], wrong: Sequence[np.ndarray]) -> bool:
    if len(got) != len(wrong):
        return False
    for value, target in zip(got, wrong, strict=True):
        try:
            array = np.asarray(value, dtype=np.float64)
        except (TypeError, ValueError):
            return False
        if array.shape != target.shape or not np.allclose(array, target, rtol=1e-4, atol=1e-6):
            return False
    return True


def check_clip(
    student: Any,
    grads: list[np.ndarray],
    max_norm: float,
    call: str,
    expected: tuple[Sequence[Any], float] | None = None,
) -> tuple[list[np.ndarray], float]:
    """clip_grad_norm: the pair, the list's length, every array (named by the whole list), then
    total_norm. Returns the learner's clipped arrays and norm."""
    copies = [g.copy() for g in grads]
    got = student.clip_grad_norm(grads, max_norm)
    if len(grads) != len(copies):  # seen where the learner's code runs in this process
        raise Mismatch(
            "clip_grad_norm changed the length of its input list grads",
            call=call,
            diagnosis="the list was modified in place (append, pop, ...): build a new list",
        )
    for index, (now, before) in enumerate(zip(grads, copies, strict=True)):
        if not np.array_equal(now, before):  # seen where the learner's code runs in this process
            raise Mismatch(
                f"clip_grad_norm modified grads[{index}] in place",
                call=call,
                diagnosis="an in-place operation (`g *= scale`) on an input array: return new "
                "arrays (`g * scale`)",
            )
    want_list, want_norm = expected or reference.clip_grad_norm(grads, max_norm)
    list_mistakes, norm_mistakes = clip_mistakes(grads, max_norm)
    clipped, total = unpack(got, 2, call=call, what="result (clipped, total_norm)")
    if not isinstance(clipped, (list, tuple)) or len(clipped) != len(grads):
        raise Mismatch(
            f"the clipped gradients should be a list of {len(grads)} arrays, one per input",
            call=call,
            expected=f"list of length {len(grads)}",
            got=describe(clipped),
        )
    for index, (value, target) in enumerate(zip(clipped, want_list, strict=True)):
        try:
            what = f"clipped grads[{index}]"
            assert_close(value, target, call=call, what=what)
        except Mismatch as failure:
            named = [n for n, wrong in list_mistakes.items() if _matches_list(clipped, wrong)]
            failure.diagnosis = named[0] if named else failure.diagnosis
            raise
    assert_close(
        total, want_norm, call=call, what="total_norm (second result)", mistakes=norm_mistakes
    )
    arrays = [as_array(c, call=call) for c in clipped]
    return arrays, float(as_array(total, call=call))


def clip_call(grads: Sequence[np.ndarray], max_norm: float, note: str = "") -> str:
    shown = (f"{g.tolist()}" if not note else f"array {g.shape}" for g in grads)
    shapes = ", ".join(shown)
    return f"clip_grad_norm([{shapes}], max_norm={max_norm}){note}"


@pytest.mark.weight(2)
def test_clip_hand(student: Any) -> None:
    """clip_grad_norm: two arrays of norms 3 and 4, one norm 5 over both, by hand"""
    grads = [np.array(g) for g in fixtures.CLIP_GRADS]
    expected = ([np.array(g) for g in fixtures.CLIP_EXPECTED], fixtures.CLIP_NORM)
    call = clip_call(grads, fixtures.CLIP_MAX_NORM)
    check_clip(student, grads, fixtures.CLIP_MAX_NORM, call, expected)


@pytest.mark.weight(1)
def test_clip_below_max_norm(student: Any) -> None:
    """clip_grad_norm: gradients with a norm below max_norm come back unchanged"""
    grads = [np.array(g) for g in fixtures.CLIP_GRADS]
    expected = ([g.copy() for g in grads], fixtures.CLIP_NORM)
    call = clip_call(grads, fixtures.CLIP_LARGE_MAX_NORM)
    check_clip(student, grads, fixtures.CLIP_LARGE_MAX_NORM, call, expected)


CLIP_CASES = [
    (80, ((3,), (2, 3)), 1.0, 0.5),
    (81, ((4,), (), (2, 2, 2)), 1.0, 2.0),
    (82, ((7,),), 1.0, 0.1),
    (83, ((2, 3), (3,), (1,)), 100.0, 0.01),
]


@pytest.mark.parametrize(
    "seed, shapes, scale, fraction", CLIP_CASES, ids=[f"seed{c[0]}" for c in CLIP_CASES]
)
def test_clip_random(
    student: Any, seed: int, shapes: tuple[tuple[int, ...], ...], scale: float, fraction: float
) -> None:
    """clip_grad_norm matches the reference on random lists of arrays"""
    rng = np.random.default_rng(seed)
    grads = [np.asarray(scale * rng.standard_normal(shape)) for shape in shapes]
    total = math.sqrt(sum(float(np.sum(g**2)) for g in grads))
    max_norm = float(f"{fraction * total:.4g}")
    note = (
        f", seed={seed}: arrays of shapes {list(shapes)} drawn in order as "
        f"{scale} * np.random.default_rng(seed).standard_normal(shape); their norm is {total:.6g}"
    )
    check_clip(student, grads, max_norm, clip_call(grads, max_norm, note))


@pytest.mark.weight(1)
def test_clip_properties(student: Any) -> None:
    """clip_grad_norm: the clipped norm is max_norm, one factor for every array"""
    rng = np.random.default_rng(90)
    grads = [rng.standard_normal((3, 3)), 10 * rng.standard_normal(4), rng.standard_normal(2)]
    note = ", seed=90: arrays (3, 3), (4,), (2,) standard normal, the second times 10"
    call = clip_call(grads, 2.0, note)
    clipped, total = check_clip(student, grads, 2.0, call)
    after = math.sqrt(sum(float(np.sum(c**2)) for c in clipped))
    assert_close(after, 2.0, call=call, what="norm of the clipped arrays (max_norm)")
    factors = [float(np.sum(c * g) / np.sum(g * g)) for c, g in zip(clipped, grads, strict=True)]
    same = [2.0 / (total + 1e-6)] * len(grads)
    assert_close(factors, same, call=call, what="factor each array was scaled by")
