"""Grader for moe: router_top_k, moe_forward, load_balancing_loss, expert_capacity and
dispatch_mask (Mixtral's router: softmax, top-k, renormalise; the Switch/Mixtral balancing loss;
GShard's capacity with first choices dispatched first).

Three levels: the hand fixtures (logits that are logs of whole numbers, a two-expert layer, a
loss with an expert listed twice, capacities at factors 0.5 and 1.25, a token whose experts are
both full), the reference on random inputs of several shapes with printed seeds (k = 1, k = E and
between; square routers so a transposed one has the right shape), and the contract's properties
(ties graded by probability only, k = E keeps every expert and is the dense mixture, tokens are
routed on their own, uniform routing costs k, a capacity of T * k keeps every assignment and 0
none). Integer and boolean
results must have integer and boolean types. Classic mistakes are recomputed here on purpose so a
failure can name them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import (
    Mismatch,
    assert_close,
    assert_equal,
    assert_raises,
    assert_shape,
    describe,
    show,
    unpack,
)
from transformer_kit.graders.fixtures import moe as fixtures
from transformer_kit.solutions import moe as reference

# --- the classic mistakes, by name ----------------------------------------------------------------

NO_RENORM = (
    "the top-k probabilities were not renormalised (the Switch Transformer's and DeepSeek-V3's "
    "gate): divide the k probabilities by their sum, so each token's weights sum to 1"
)
SOFTMAX_OF_PROBS = (
    "a second softmax, over the k top PROBABILITIES: divide them by their sum instead (or take a "
    "softmax over the k top logits)"
)
LEAST_PROBABLE = (
    "the k LEAST probable experts (np.argsort sorts in ascending order): take the k largest, "
    "e.g. np.argsort(-probs, axis=-1)[:, :k]"
)
REVERSED = "the right experts, least probable first: the most probable expert comes first"
TOKEN_AXIS = (
    "softmax over the tokens (axis 0): the softmax is over the E experts of each token, the last "
    "axis"
)
FIRST_K = "the first k experts by index, not the k most probable"

NO_RELU = "the experts are linear: expert e maps x_t to relu(x_t @ w1) @ w2"
UNWEIGHTED = (
    "the chosen experts' outputs were added without the router's weights: y_t = sum_j "
    "weights[t, j] * expert(x_t)"
)
DENSE = (
    "every expert weighted by its softmax probability (a dense mixture): only the k chosen "
    "experts count, with their renormalised weights"
)
MEAN_OF_EXPERTS = (
    "the k chosen experts averaged (weights 1 / k): weight each by its renormalised probability"
)
ROUTER_TRANSPOSED = (
    "the router applied as x @ w_router.T: w_router is (D, E), logits = x @ w_router"
)

PER_TOKEN = (
    "f counted per token (whether token t lists e): f_e counts (token, slot) pairs, so a token "
    "listing e twice counts twice and f sums to k"
)
OVER_TK = "f divided by T * k: f_e = (number of (token, slot) pairs equal to e) / T, it sums to k"
NO_E = "the factor E (the number of experts) is missing: the loss is E * sum_e f_e * P_e"
FIRST_SLOT = "f counted from the first choices only: count every slot, experts[:, j] for all j"
P_FROM_LOGITS = "P taken from the logits: P_e is the mean over tokens of softmax(logits)[:, e]"
P_SUMMED = "P summed over the tokens: P_e is the MEAN of softmax(logits)[:, e] over the T tokens"

CAPACITY_DOWN = "rounded down: the capacity is rounded UP, ceil(capacity_factor * T * k / E)"
CAPACITY_ROUND = (
    "rounded to the nearest (Python's round halves to even): the capacity is rounded UP, "
    "ceil(capacity_factor * T * k / E)"
)
CAPACITY_NO_K = "k is missing: each token makes k assignments, ceil(capacity_factor * T * k / E)"
CAPACITY_NO_FACTOR = "the capacity factor is missing: ceil(capacity_factor * T * k / E)"
CAPACITY_NOT_INT = (
    "the capacity is not an integer type (np.ceil returns a float): return an int, e.g. "
    "math.ceil(...) or int(np.ceil(...))"
)

TOKEN_MAJOR = (
    "token by token (all of token 0's choices, then token 1's): take the slots in turn, every "
    "token's first choice before any token's second choice (GShard's priority)"
)
AT_CAPACITY = (
    "an expert accepted capacity + 1 assignments (<= instead of <): keep an assignment while its "
    "expert has accepted FEWER than capacity"
)
LOAD_PER_SLOT = (
    "each slot counted its own load: an expert's capacity is shared by all slots, so second "
    "choices find the room first choices left"
)
INVERTED = "True marks the dropped assignments: True means kept"
NOT_BOOL = "the mask is not a boolean array: return dtype bool (True = kept), not 0/1 numbers"
NOT_INT = (
    "the experts are not an integer array: return integer expert ids (np.argsort and "
    "torch.topk give int64), not floats"
)

DRAWS = "drawn with np.random.default_rng(seed)"

# --- the mistakes, recomputed ---------------------------------------------------------------------


def _softmax(z: np.ndarray, axis: int = -1) -> np.ndarray:
    e = np.exp(z - z.max(axis=axis, keepdims=True))
    return e / e.sum(axis=axis, keepdims=True)


def _top(probs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    chosen = np.argsort(-probs, axis=-1, kind="stable")[:, :k]
    return np.take_along_axis(probs, chosen, axis=-1), chosen


def router_mistakes(logits: np.ndarray, k: int) -> tuple[dict[str, Any], dict[str, Any]]:
    """What each classic mistake returns as (weights, experts) for router_top_k(logits, k)."""
    probs = _softmax(logits)
    top, chosen = _top(probs, k)
    least = np.argsort(probs, axis=-1, kind="stable")[:, :k]
    weights = {
        NO_RENORM: top,
        SOFTMAX_OF_PROBS: _softmax(top),
        LEAST_PROBABLE: _renorm(np.take_along_axis(probs, least, axis=-1)),
        REVERSED: _renorm(top)[:, ::-1],
    }
    tokens = _softmax(logits, axis=0)
    token_top, token_chosen = _top(tokens, k)
    weights[TOKEN_AXIS] = _renorm(token_top)
    experts = {
        LEAST_PROBABLE: least,
        REVERSED: chosen[:, ::-1],
        TOKEN_AXIS: token_chosen,
        FIRST_K: np.broadcast_to(np.arange(k), chosen.shape),
    }
    return weights, experts


def _renorm(top: np.ndarray) -> np.ndarray:
    return top / top.sum(axis=-1, keepdims=True)


def _layer(
    x: np.ndarray,
    w_router: np.ndarray,
    experts: list[dict[str, np.ndarray]],
    k: int,
    *,
    logits: np.ndarray | None = None,
    gate: Callable[[np.ndarray, np.ndarray], np.ndarray] = lambda top, _: _renorm(top),
    act: Callable[[np.ndarray], np.ndarray] = lambda h: np.maximum(h, 0.0),
) -> np.ndarray:
    """moe_forward with a mistake switched on: another gate, activation or logits."""
    probs = _softmax(x @ w_router if logits is None else logits)
    top, chosen = _top(probs, k)
    weights = gate(top, probs)
    y = np.zeros(x.shape)
    for t in range(x.shape[0]):
        for j in range(k):
            expert = experts[chosen[t, j]]
            y[t] += weights[t, j] * (act(x[t] @ expert["w1"]) @ expert["w2"])
    return y


def forward_mistakes(
    x: np.ndarray, w_router: np.ndarray, experts: list[dict[str, np.ndarray]], k: int
) -> dict[str, Any]:
    """What each classic mistake returns for moe_forward(x, w_router, experts, k)."""
    every = len(experts)
    wrong = {
        NO_RENORM: _layer(x, w_router, experts, k, gate=lambda top, _: top),
        NO_RELU: _layer(x, w_router, experts, k, act=lambda h: h),
        UNWEIGHTED: _layer(x, w_router, experts, k, gate=lambda top, _: np.ones_like(top)),
        MEAN_OF_EXPERTS: _layer(x, w_router, experts, k, gate=lambda top, _: np.ones_like(top) / k),
        DENSE: _layer(x, w_router, experts, every, gate=lambda top, _: top),
    }
    if w_router.shape[0] == w_router.shape[1]:
        wrong[ROUTER_TRANSPOSED] = _layer(x, w_router, experts, k, logits=x @ w_router.T)
    return wrong


def loss_mistakes(logits: np.ndarray, experts: np.ndarray) -> dict[str, float]:
    """What each classic mistake returns for load_balancing_loss(logits, experts)."""
    probs = _softmax(logits)
    num_tokens, num_experts = probs.shape
    counts = np.bincount(experts.reshape(-1), minlength=num_experts)
    listed = np.array([(experts == e).any(axis=1).sum() for e in range(num_experts)])
    first = np.bincount(experts[:, 0], minlength=num_experts)
    mean_prob = probs.mean(axis=0)

    def loss(count: np.ndarray, p: np.ndarray = mean_prob, scale: float = num_experts) -> float:
        return float(scale * np.sum(count / num_tokens * p))

    return {
        PER_TOKEN: loss(listed),
        OVER_TK: loss(counts / experts.shape[1]),
        NO_E: loss(counts, scale=1.0),
        FIRST_SLOT: loss(first),
        P_FROM_LOGITS: loss(counts, p=logits.mean(axis=0)),
        P_SUMMED: loss(counts, p=probs.sum(axis=0)),
    }


def capacity_mistakes(
    num_tokens: int, num_experts: int, k: int, capacity_factor: float
) -> dict[str, float]:
    load = capacity_factor * num_tokens * k / num_experts
    return {
        CAPACITY_DOWN: math.floor(load),
        CAPACITY_ROUND: round(load),
        CAPACITY_NO_K: math.ceil(capacity_factor * num_tokens / num_experts),
        CAPACITY_NO_FACTOR: math.ceil(num_tokens * k / num_experts),
    }


def _dispatch(
    experts: np.ndarray, num_experts: int, capacity: int, *, order: str = "slots", room: int = 0
) -> np.ndarray:
    """dispatch_mask with a mistake switched on: another order, or capacity + room accepted."""
    num_tokens, k = experts.shape
    kept = np.zeros((num_tokens, k), dtype=bool)
    load = np.zeros(num_experts, dtype=np.int64)
    if order == "tokens":
        pairs = [(t, j) for t in range(num_tokens) for j in range(k)]
    else:
        pairs = [(t, j) for j in range(k) for t in range(num_tokens)]
    for t, j in pairs:
        if order == "own load" and t == 0:
            load[:] = 0
        if load[experts[t, j]] < capacity + room:
            kept[t, j] = True
            load[experts[t, j]] += 1
    return kept


def dispatch_mistakes(experts: np.ndarray, num_experts: int, capacity: int) -> dict[str, Any]:
    right = reference.dispatch_mask(experts, num_experts, capacity)
    return {
        TOKEN_MAJOR: _dispatch(experts, num_experts, capacity, order="tokens"),
        AT_CAPACITY: _dispatch(experts, num_experts, capacity, room=1),
        LOAD_PER_SLOT: _dispatch(experts, num_experts, capacity, order="own load"),
        INVERTED: ~right,
    }


# --- checks ---------------------------------------------------------------------------------------


def _named(failure: Mismatch, got: np.ndarray, mistakes: Mapping[str, Any]) -> Mismatch:
    """`failure` with the first mistake whose result equals `got` exactly as its diagnosis."""
    for name, value in mistakes.items():
        wrong = np.asarray(value)
        if wrong.shape == got.shape and np.array_equal(wrong, got):
            failure.diagnosis = name
            break
    return failure


def numbers(got: Any) -> np.ndarray | None:
    """`got` as an array with its own dtype, or None where numpy cannot make one (ragged lists,
    objects)."""
    try:
        array = np.asarray(got)
    except (TypeError, ValueError):
        return None
    return array if array.dtype.kind in "biuf" else None


def integer_array(got: Any, *, call: str, what: str) -> np.ndarray:
    """`got` as an integer array, or a Mismatch: floats holding whole numbers fail too."""
    array = numbers(got)
    if array is None or array.dtype.kind not in "iu":
        raise Mismatch(
            f"the {what} should be an integer array",
            call=call,
            expected="integer expert ids (e.g. int64)",
            got=describe(got),
            diagnosis=NOT_INT,
        )
    return array


def check_router(
    student: Any, logits: np.ndarray, k: int, call: str, expected: tuple[Any, Any] | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Weights first (they name the most mistakes), then the experts, exactly."""
    want_weights, want_experts = reference.router_top_k(logits, k) if expected is None else expected
    weights, experts = unpack(
        student.router_top_k(logits, k), 2, call=call, what="result (weights, experts)"
    )
    wrong_weights, wrong_experts = router_mistakes(logits, k)
    assert_close(weights, want_weights, call=call, what="weights", mistakes=wrong_weights)
    got = integer_array(experts, call=call, what="experts (second result)")
    try:
        assert_equal(got, np.asarray(want_experts), call=call, what="experts (second result)")
    except Mismatch as failure:
        raise _named(failure, got, wrong_experts) from None
    return np.asarray(weights, dtype=np.float64), got


def check_ranked(student: Any, logits: np.ndarray, k: int, call: str) -> None:
    """Where logits tie, any order among the tied passes: the weights are graded exactly, and
    expert j must be distinct and have the j-th largest probability."""
    want_weights, _ = reference.router_top_k(logits, k)
    weights, experts = unpack(
        student.router_top_k(logits, k), 2, call=call, what="result (weights, experts)"
    )
    assert_close(
        weights, want_weights, call=call, what="weights", mistakes=router_mistakes(logits, k)[0]
    )
    got = integer_array(experts, call=call, what="experts (second result)")
    assert_shape(got, want_weights.shape, call=call, what="experts (second result)")
    num_experts = logits.shape[1]
    if got.min() < 0 or got.max() >= num_experts:
        raise Mismatch(f"an expert id outside 0..{num_experts - 1}", call=call, got=show(got))
    probs = _softmax(logits)
    ranked = np.take_along_axis(probs, got, axis=-1)
    distinct = all(len(set(row)) == k for row in got.tolist())
    if not distinct or not np.allclose(ranked, -np.sort(-probs, axis=-1)[:, :k]):
        raise Mismatch(
            "the experts are not the k most probable, most probable first (ties may come in any "
            "order)",
            call=call,
            expected="probabilities " + show(-np.sort(-probs, axis=-1)[:, :k]),
            got=f"experts {show(got)}, whose probabilities are {show(ranked)}",
        )


def check_value_error(
    function: Any, args: tuple[Any, ...], call: str, names: Mapping[str, int]
) -> None:
    """ValueError whose message names each argument of `names` and its value."""
    text = assert_raises("ValueError", function, *args, call=call)
    for name, value in names.items():
        said_name = re.search(rf"(?<![A-Za-z_]){re.escape(name)}(?![A-Za-z_])", text)
        said_value = re.search(rf"(?<![\d.]){value}(?![\d.])", text)
        if not (said_name and said_value):
            raise Mismatch(
                f"raised ValueError, but the message does not name {name} and its value {value}",
                call=call,
                expected=f'a message naming the argument and its value, e.g. "{name}={value}"',
                got=f"ValueError: {text}",
            )


def random_logits(seed: int, tokens: int, num_experts: int) -> np.ndarray:
    return 2.0 * np.random.default_rng(seed).standard_normal((tokens, num_experts))


# --- router_top_k ---------------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_router_hand(student: Any) -> None:
    """router_top_k on logits log([1, 2, 3, 4]) and log([5, 1, 3, 1]) with k = 2"""
    logits = np.array(fixtures.ROUTER_LOGITS)
    call = "router_top_k(logits=log([[1, 2, 3, 4], [5, 1, 3, 1]]), k=2)"
    want = (np.array(fixtures.ROUTER_WEIGHTS), np.array(fixtures.ROUTER_EXPERTS))
    check_router(student, logits, fixtures.ROUTER_K, call, want)


# (seed, T, E, k): k = 1, k = E, and between
ROUTER_CASES = [(0, 5, 4, 2), (1, 8, 8, 2), (2, 6, 3, 3), (3, 7, 6, 1), (4, 3, 5, 4)]


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, tokens, num_experts, k", ROUTER_CASES, ids=[f"seed{c[0]}" for c in ROUTER_CASES]
)
def test_router_random(student: Any, seed: int, tokens: int, num_experts: int, k: int) -> None:
    """router_top_k matches the reference on random logits"""
    logits = random_logits(seed, tokens, num_experts)
    call = (
        f"router_top_k(logits {logits.shape}, k={k}), seed={seed}: logits = 2 * "
        f"standard_normal, {DRAWS}"
    )
    check_router(student, logits, k, call)


@pytest.mark.weight(1)
def test_router_ties(student: Any) -> None:
    """router_top_k with tied logits: any order among ties, the same weights"""
    # ties at the top (row 0), at the k-th place (row 1), and everywhere (row 2)
    logits = np.array([[1.0, 1.0, 0.0, -1.0], [2.0, 0.5, 0.5, 0.0], [0.0, 0.0, 0.0, 0.0]])
    for k in (1, 2, 4):
        call = f"router_top_k(logits={logits.tolist()}, k={k})"
        check_ranked(student, logits, k, call)


@pytest.mark.weight(1)
def test_router_k_equals_e(student: Any) -> None:
    """with k = E every expert is kept and the weights are the softmax, sorted"""
    logits = random_logits(5, 4, 5)
    call = (
        f"router_top_k(logits {logits.shape}, k=5), seed=5: logits = 2 * standard_normal, {DRAWS}"
    )
    probs = _softmax(logits)
    order = np.argsort(-probs, axis=-1)
    check_router(student, logits, 5, call, (np.take_along_axis(probs, order, -1), order))


@pytest.mark.weight(1)
def test_router_rejects_k(student: Any) -> None:
    """router_top_k raises ValueError for k = 0 and for k > E"""
    logits = random_logits(6, 3, 4)
    check_value_error(
        student.router_top_k, (logits, 0), "router_top_k(logits (3, 4), k=0)", {"k": 0}
    )
    check_value_error(
        student.router_top_k, (logits, 5), "router_top_k(logits (3, 4), k=5)", {"k": 5}
    )


# --- moe_forward ----------------------------------------------------------------------------------


def _hand_layer() -> tuple[np.ndarray, np.ndarray, list[dict[str, np.ndarray]]]:
    experts = [{n: np.array(w) for n, w in e.items()} for e in fixtures.MOE_EXPERTS]
    return np.array(fixtures.MOE_X), np.array(fixtures.MOE_W_ROUTER), experts


def check_forward(student: Any, args: tuple[Any, ...], call: str, expected: Any = None) -> None:
    want = reference.moe_forward(*args) if expected is None else expected
    got = student.moe_forward(*args)
    assert_close(got, want, call=call, mistakes=forward_mistakes(*args))


HAND_CALL = (
    "moe_forward(x=[[1, 0], [-1, 1]], w_router=[[ln 3, 0], [0, ln 3]], experts=[{w1: I, w2: 2I}, "
    "{w1: [[0, 1], [1, 0]], w2: [[1, 0], [0, -1]]}], k=K)"
)


@pytest.mark.weight(2)
def test_forward_hand(student: Any) -> None:
    """moe_forward on a two-expert layer by hand, k = 2 and k = 1"""
    x, w_router, experts = _hand_layer()
    check_forward(
        student, (x, w_router, experts, 2), HAND_CALL.replace("K", "2"), np.array(fixtures.MOE_Y_K2)
    )
    check_forward(
        student, (x, w_router, experts, 1), HAND_CALL.replace("K", "1"), np.array(fixtures.MOE_Y_K1)
    )


def random_layer(seed: int, tokens: int, width: int, hidden: int, num_experts: int):
    """x (T, D), w_router (D, E), and E experts {w1 (D, F), w2 (F, D)}, drawn in that order."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, width))
    w_router = rng.standard_normal((width, num_experts))
    experts = [
        {"w1": rng.standard_normal((width, hidden)), "w2": rng.standard_normal((hidden, width))}
        for _ in range(num_experts)
    ]
    return x, w_router, experts


def layer_text(seed: int, tokens: int, width: int, hidden: int, num_experts: int, k: int) -> str:
    return (
        f"moe_forward(x ({tokens}, {width}), w_router ({width}, {num_experts}), {num_experts} "
        f"experts with w1 ({width}, {hidden}) and w2 ({hidden}, {width}), k={k}), seed={seed}: "
        f"x, w_router, then each expert's w1, w2, standard normal, {DRAWS}"
    )


# (seed, T, D, F, E, k): a square router (D = E) in two, k = 1 and k = E among them
FORWARD_CASES = [
    (10, 5, 4, 6, 4, 2),
    (11, 6, 3, 5, 3, 3),
    (12, 4, 6, 3, 8, 1),
    (13, 7, 5, 4, 5, 2),
]


@pytest.mark.weight(3)
@pytest.mark.parametrize(
    "seed, tokens, width, hidden, num_experts, k",
    FORWARD_CASES,
    ids=[f"seed{c[0]}" for c in FORWARD_CASES],
)
def test_forward_random(
    student: Any, seed: int, tokens: int, width: int, hidden: int, num_experts: int, k: int
) -> None:
    """moe_forward matches the reference on random layers"""
    args = (*random_layer(seed, tokens, width, hidden, num_experts), k)
    check_forward(student, args, layer_text(seed, tokens, width, hidden, num_experts, k))


@pytest.mark.weight(1)
def test_forward_k_equals_e_is_dense(student: Any) -> None:
    """with k = E the layer is the dense mixture: every expert weighted by its probability"""
    x, w_router, experts = random_layer(14, 4, 3, 4, 3)
    probs = _softmax(x @ w_router)
    dense = sum(
        probs[:, [e]] * (np.maximum(x @ expert["w1"], 0.0) @ expert["w2"])
        for e, expert in enumerate(experts)
    )
    check_forward(student, (x, w_router, experts, 3), layer_text(14, 4, 3, 4, 3, 3), dense)


@pytest.mark.weight(1)
def test_forward_tokens_independent(student: Any) -> None:
    """each token is routed on its own: the layer on tokens 1..2 equals rows 1..2 of the layer"""
    x, w_router, experts = random_layer(15, 5, 4, 3, 4)
    whole = reference.moe_forward(x, w_router, experts, 2)
    call = layer_text(15, 5, 4, 3, 4, 2) + "; then x[1:3] alone"
    check_forward(student, (x[1:3], w_router, experts, 2), call, whole[1:3])


@pytest.mark.weight(1)
def test_forward_rejects_k(student: Any) -> None:
    """moe_forward raises ValueError for k > E"""
    x, w_router, experts = random_layer(16, 3, 2, 2, 2)
    call = "moe_forward(x (3, 2), w_router (2, 2), 2 experts, k=3)"
    check_value_error(student.moe_forward, (x, w_router, experts, 3), call, {"k": 3})


# --- load_balancing_loss --------------------------------------------------------------------------


def check_loss(
    student: Any, logits: np.ndarray, experts: np.ndarray, call: str, expected: float | None = None
) -> None:
    want = reference.load_balancing_loss(logits, experts) if expected is None else expected
    got = student.load_balancing_loss(logits, experts)
    assert_close(got, want, call=call, what="loss", mistakes=loss_mistakes(logits, experts))


LOSS_CALL = "load_balancing_loss(logits=log([[3, 1], [3, 1], [1, 3], [1, 1]]), experts={})"


@pytest.mark.weight(2)
def test_loss_hand(student: Any) -> None:
    """load_balancing_loss by hand: k = 1, and k = 2 with experts listed twice"""
    logits = np.array(fixtures.LOSS_LOGITS)
    for experts, value in (
        (fixtures.LOSS_EXPERTS_K1, fixtures.LOSS_K1),
        (fixtures.LOSS_EXPERTS_K2, fixtures.LOSS_K2),
    ):
        check_loss(student, logits, np.array(experts), LOSS_CALL.format(experts), value)


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, tokens, num_experts, k", ROUTER_CASES, ids=[f"seed{c[0]}" for c in ROUTER_CASES]
)
def test_loss_random(student: Any, seed: int, tokens: int, num_experts: int, k: int) -> None:
    """load_balancing_loss matches the reference on the router's own choices"""
    logits = random_logits(seed, tokens, num_experts)
    experts = reference.router_top_k(logits, k)[1]
    call = (
        f"load_balancing_loss(logits {logits.shape}, experts = router_top_k(logits, {k})[1]), "
        f"seed={seed}: logits = 2 * standard_normal, {DRAWS}"
    )
    check_loss(student, logits, experts, call)


@pytest.mark.weight(1)
def test_loss_uniform_routing(student: Any) -> None:
    """uniform routing (equal logits, every expert chosen equally often) costs exactly k"""
    num_experts = 4
    for k in (1, 2):
        experts = (np.arange(8 * k).reshape(8, k) % num_experts).astype(np.int64)
        call = f"load_balancing_loss(logits = zeros (8, 4), experts={experts.tolist()})"
        check_loss(student, np.zeros((8, num_experts)), experts, call, float(k))


# --- expert_capacity ------------------------------------------------------------------------------


def check_capacity(student: Any, args: tuple[int, int, int, float], want: int) -> None:
    call = "expert_capacity({}, {}, {}, {})".format(*args)
    got = student.expert_capacity(*args)
    is_int = isinstance(got, int) and not isinstance(got, bool)
    if not is_int and not (
        isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind in "iu"
    ):
        raise Mismatch(
            "the capacity should be an integer",
            call=call,
            expected=f"int {want}",
            got=describe(got),
            diagnosis=CAPACITY_NOT_INT,
        )
    try:
        assert_equal(int(got), want, call=call, what="capacity")
    except Mismatch as failure:
        for name, value in capacity_mistakes(*args).items():
            if value == int(got) != want:
                failure.diagnosis = name
                break
        raise


@pytest.mark.weight(1)
@pytest.mark.visible
def test_capacity_hand(student: Any) -> None:
    """expert_capacity at capacity factors 0.5 and 1.25, rounded up"""
    for args, value in fixtures.CAPACITIES:
        check_capacity(student, args, value)


@pytest.mark.weight(1)
def test_capacity_cases(student: Any) -> None:
    """expert_capacity matches the formula (T a multiple of E, binary capacity factors)"""
    for args in (
        (12, 4, 1, 1.0),
        (64, 8, 2, 1.25),
        (6, 6, 3, 0.5),
        (32, 16, 1, 2.0),
        (10, 5, 2, 0.75),
    ):
        check_capacity(student, args, reference.expert_capacity(*args))


@pytest.mark.weight(1)
def test_capacity_rejects_no_experts(student: Any) -> None:
    """expert_capacity raises ValueError for num_experts = 0"""
    call = "expert_capacity(8, 0, 2, 1.25)"
    check_value_error(student.expert_capacity, (8, 0, 2, 1.25), call, {"num_experts": 0})


# --- dispatch_mask --------------------------------------------------------------------------------


def check_dispatch(
    student: Any,
    experts: np.ndarray,
    num_experts: int,
    capacity: int,
    call: str,
    expected: Any = None,
) -> None:
    want = reference.dispatch_mask(experts, num_experts, capacity) if expected is None else expected
    got = student.dispatch_mask(experts, num_experts, capacity)
    array = numbers(got)
    if array is None or array.dtype != np.bool_:
        raise Mismatch(
            "the mask should be a boolean array",
            call=call,
            expected=f"array of bool, shape {np.shape(want)}",
            got=describe(got),
            diagnosis=NOT_BOOL,
        )
    try:
        assert_equal(array, np.asarray(want), call=call, what="mask")
    except Mismatch as failure:
        raise _named(failure, array, dispatch_mistakes(experts, num_experts, capacity)) from None


@pytest.mark.weight(2)
def test_dispatch_hand(student: Any) -> None:
    """dispatch_mask by hand: first choices first, and a token whose experts are both full"""
    experts = np.array(fixtures.DISPATCH_EXPERTS)
    call = f"dispatch_mask(experts={fixtures.DISPATCH_EXPERTS}, num_experts=3, capacity=2)"
    check_dispatch(
        student,
        experts,
        fixtures.DISPATCH_NUM_EXPERTS,
        fixtures.DISPATCH_CAPACITY,
        call,
        np.array(fixtures.DISPATCH_KEPT),
    )


# (seed, T, E, k, capacity factor)
DISPATCH_CASES = [(20, 8, 4, 2, 0.5), (21, 8, 4, 2, 1.25), (22, 12, 3, 1, 1.0), (23, 6, 6, 3, 1.25)]


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, tokens, num_experts, k, factor",
    DISPATCH_CASES,
    ids=[f"seed{c[0]}" for c in DISPATCH_CASES],
)
def test_dispatch_random(
    student: Any, seed: int, tokens: int, num_experts: int, k: int, factor: float
) -> None:
    """dispatch_mask matches the reference on the router's own choices"""
    logits = random_logits(seed, tokens, num_experts)
    experts = reference.router_top_k(logits, k)[1]
    capacity = reference.expert_capacity(tokens, num_experts, k, factor)
    call = (
        f"dispatch_mask(experts = router_top_k(logits, {k})[1], num_experts={num_experts}, "
        f"capacity={capacity}), seed={seed}: logits ({tokens}, {num_experts}) = 2 * "
        f"standard_normal, {DRAWS}; experts={experts.tolist()}"
    )
    check_dispatch(student, experts, num_experts, capacity, call)


@pytest.mark.weight(1)
def test_dispatch_extremes(student: Any) -> None:
    """capacity T * k keeps everything, capacity 0 drops everything"""
    experts = reference.router_top_k(random_logits(24, 5, 3), 2)[1]
    for capacity, want in ((10, np.ones((5, 2), bool)), (0, np.zeros((5, 2), bool))):
        call = f"dispatch_mask(experts={experts.tolist()}, num_experts=3, capacity={capacity})"
        check_dispatch(student, experts, 3, capacity, call, want)
