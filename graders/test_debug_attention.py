"""Grader for debug_attention: an attention head whose weights come out nearly uniform, fixed.

Each planted bug has a test of its own that fails while it is there (the test's `bugs` marker
names it, and the report counts those still failing), whatever else is still broken: keys
projected with w_q, layer-normalised queries, scores divided by d_k, a softmax over the query
axis, a mask that multiplies the scores, an entropy that is nan at a zero weight. The scale is
checked on scores whose rows mirror each other (a softmax over either axis gives the same
numbers), the axis by the row sums (which no scale changes), the mask by its exact zeros (which
neither changes). Then the whole layer against the reference, and the scenario: with the trained
weights of make_inputs(0) every query looks up its target, sharply, and never the padding.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.checks import assert_cured
from transformer_kit.grader.compare import Mismatch, as_array, assert_shape, unpack
from transformer_kit.graders.fixtures import debug_attention as fixtures
from transformer_kit.graders.messages import attention as messages
from transformer_kit.solutions import debug_attention as reference

KEYS_WITH_WQ = (
    "the keys were projected with w_q: k = x @ w_k (with w_q every query matches the queries "
    "like itself and looks up the wrong key)"
)
LAYER_NORM = (
    "the queries were layer-normalised (without a learned scale): their size is what makes "
    "attention sharp, so normalising them flattens it; q = x @ w_q"
)
SCALE_DK = f"{messages.SCALE_BY_D_K} (dividing by more flattens the weights toward uniform)"
AXIS = f"{messages.AXIS_QUERIES} (each column summed to 1 instead of each row)"
MASK_MULTIPLIES = (
    f"the mask multiplies the scores, so a masked score becomes 0: {messages.FILL_ZERO}"
)
MASK_INVERTED = messages.INVERTED
ENTROPY_NAN = (
    "0 * log(0) is nan (log(0) = -inf): count 0 log 0 as 0, e.g. "
    "np.where(w > 0, w * np.log(w), 0) computed on a safe log, or scipy.special.xlogy"
)
ENTROPY_BITS = "the entropy is in bits (log2): use the natural log, nats"
WRONG_TARGET = (
    "a query looks up the wrong key: the scores must compare each query with the keys, "
    "q = x @ w_q against k = x @ w_k"
)


def layer_norm(t: np.ndarray) -> np.ndarray:
    """The planted mistake: each row standardised, no learned scale."""
    return (t - t.mean(axis=-1, keepdims=True)) / (t.std(axis=-1, keepdims=True) + 1e-5)


def random_layer(seed: int, length: int) -> tuple[np.ndarray, ...]:
    """x (length, 6), w_q and w_k (6, 4), w_v (6, 3) from np.random.default_rng(seed)."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(length, 6))
    return x, rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=(6, 3))


# --- project -------------------------------------------------------------------------------


@pytest.mark.bugs("project: keys projected with w_q")
@pytest.mark.parametrize("seed", [0, 1])
def test_keys_and_values(student: Any, seed: int) -> None:
    """project's keys are x @ w_k and its values x @ w_v"""
    x, w_q, w_k, w_v = random_layer(seed, 5)
    call = f"project(x (5, 6), w_q (6, 4), w_k (6, 4), w_v (6, 3)), seed={seed}"
    _, k, v = unpack(student.project(x, w_q, w_k, w_v), 3, call=call)
    symptom = "the queries find the wrong keys"
    assert_cured(
        k, x @ w_k, call=call, what="keys", symptom=symptom, mistakes={KEYS_WITH_WQ: x @ w_q}
    )
    assert_cured(v, x @ w_v, call=call, what="values", symptom="the output is wrong")


@pytest.mark.bugs("project: layer norm on the queries")
@pytest.mark.parametrize("seed", [0, 1])
def test_queries(student: Any, seed: int) -> None:
    """project's queries are x @ w_q"""
    x, w_q, w_k, w_v = random_layer(seed, 5)
    call = f"project(x (5, 6), w_q (6, 4), w_k (6, 4), w_v (6, 3)), seed={seed}"
    q, _, _ = unpack(student.project(x, w_q, w_k, w_v), 3, call=call)
    assert_cured(
        q,
        x @ w_q,
        call=call,
        what="queries",
        symptom="the attention is flat",
        mistakes={LAYER_NORM: layer_norm(x @ w_q)},
    )


# --- attention_weights -------------------------------------------------------------------------


@pytest.mark.bugs("attention_weights: scores divided by d_k")
def test_scale(student: Any) -> None:
    """attention_weights divides the scores by sqrt(d_k)"""
    eye2, eye4 = np.array(fixtures.IDENTITY), 2.0 * np.eye(4)
    for q, expected in [(eye2, fixtures.IDENTITY_WEIGHTS), (eye4, None)]:
        d_k = q.shape[1]
        scores = q @ q.T
        call = f"attention_weights(q, k) with q = k = {q.tolist()}"
        want = reference.attention_weights(q, q) if expected is None else expected
        flat = np.exp(scores / d_k) / np.exp(scores / d_k).sum(axis=-1, keepdims=True)
        assert_cured(
            student.attention_weights(q, q),
            want,
            call=call,
            what="weights",
            symptom="the attention is flat",
            mistakes={SCALE_DK: flat},
        )


@pytest.mark.bugs("attention_weights: softmax over the query axis")
@pytest.mark.parametrize("seed", [0, 1])
def test_rows_sum_to_one(student: Any, seed: int) -> None:
    """attention_weights' rows sum to 1 (a softmax over the keys)"""
    rng = np.random.default_rng(seed)
    q, k = rng.normal(size=(3, 4)), rng.normal(size=(5, 4))
    call = f"attention_weights(q (3, 4), k (5, 4)), seed={seed}"
    got = student.attention_weights(q, k)
    assert_shape(got, (3, 5), call=call, what="weights")
    weights = as_array(got, call=call, what="weights")
    sums = weights.sum(axis=-1)
    if not np.allclose(sums, 1.0, rtol=1e-6, atol=1e-6):
        columns = np.allclose(weights.sum(axis=0), 1.0, rtol=1e-6, atol=1e-6)
        raise Mismatch(
            "the attention is not a distribution over the keys: its rows do not sum to 1",
            call=call,
            expected="every row sums to 1",
            got=f"row sums {np.round(sums, 4).tolist()}",
            diagnosis=AXIS if columns else "",
        )


@pytest.mark.bugs("attention_weights: mask multiplies the scores")
@pytest.mark.parametrize("seed", [0, 1])
def test_masked_weights_are_zero(student: Any, seed: int) -> None:
    """attention_weights gives masked positions weight exactly 0"""
    rng = np.random.default_rng(seed)
    q, k = 3 * rng.normal(size=(4, 3)), 3 * rng.normal(size=(4, 3))
    mask = np.tril(np.ones((4, 4), dtype=bool))
    call = f"attention_weights(q (4, 3), k (4, 3), mask=causal (4, 4)), seed={seed}"
    got = student.attention_weights(q, k, mask)
    assert_shape(got, (4, 4), call=call, what="weights")
    weights = as_array(got, call=call, what="weights")
    leaked = weights[~mask]
    if np.any(leaked != 0.0):
        inverted = not np.any(weights[mask] > 0.0)  # a row masked entirely is nan
        raise Mismatch(
            "masked positions still get weight",
            call=call,
            expected="weight exactly 0 above the diagonal",
            got=f"weights up to {np.nanmax(np.abs(leaked)):.4g} there",
            diagnosis=MASK_INVERTED if inverted else MASK_MULTIPLIES,
        )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attention_weights_random(student: Any, seed: int) -> None:
    """attention_weights matches the reference with and without a mask"""
    rng = np.random.default_rng(seed)
    length, keys, d_k = 2 + seed, 3 + seed, 2 * seed + 1
    q, k = rng.normal(size=(length, d_k)), rng.normal(size=(keys, d_k))
    mask = rng.random((length, keys)) < 0.7
    mask[:, 0] = True  # no row entirely masked
    for given, shown in [(None, "None"), (mask, "random")]:
        call = f"attention_weights(q {q.shape}, k {k.shape}, mask={shown}), seed={seed}"
        assert_cured(
            student.attention_weights(q, k, given),
            reference.attention_weights(q, k, given),
            call=call,
            what="weights",
            symptom="the attention is wrong",
        )


# --- weights_entropy ---------------------------------------------------------------------------


@pytest.mark.bugs("weights_entropy: 0 log 0")
def test_entropy(student: Any) -> None:
    """weights_entropy is finite where a weight is 0 (hand fixture)"""
    weights = np.array(fixtures.ENTROPY_WEIGHTS)
    call = f"weights_entropy({fixtures.ENTROPY_WEIGHTS})"
    expected = np.array(fixtures.ENTROPY_EXPECTED)
    assert_cured(
        student.weights_entropy(weights),
        expected,
        call=call,
        what="entropies",
        symptom="the entropy is not a number",
        mistakes={ENTROPY_BITS: expected / np.log(2)},
        nonfinite=ENTROPY_NAN,
    )


# --- the layer as a whole ----------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_attend(student: Any, seed: int) -> None:
    """attend returns weights @ v and the weights"""
    x, w_q, w_k, w_v = random_layer(seed, 4)
    mask = np.tril(np.ones((4, 4), dtype=bool))
    call = f"attend(x (4, 6), w_q, w_k, w_v, mask=causal), seed={seed}"
    output, weights = unpack(student.attend(x, w_q, w_k, w_v, mask), 2, call=call)
    want_output, want_weights = reference.attend(x, w_q, w_k, w_v, mask)
    assert_cured(weights, want_weights, call=call, what="weights", symptom="the attention is wrong")
    assert_cured(output, want_output, call=call, what="output", symptom="the output is wrong")


@pytest.mark.weight(3)
def test_scenario(student: Any) -> None:
    """the scenario: the trained head looks up each target sharply and never the padding"""
    x, w_q, w_k, w_v = reference.make_inputs(0)
    call = "attend(*make_inputs(0), PADDING_MASK)"
    _, got = unpack(student.attend(x, w_q, w_k, w_v, reference.PADDING_MASK), 2, call=call)
    assert_shape(got, (6, 6), call=call, what="weights")
    weights = as_array(got, call=call, what="weights")
    if np.any(weights[:, 5] != 0.0):
        raise Mismatch(
            "the padding key gets weight",
            call=call,
            expected="weights[:, 5] exactly 0",
            got=f"weights[:, 5] = {np.round(weights[:, 5], 4).tolist()}",
        )
    looked_up = weights.argmax(axis=-1)
    if looked_up.tolist() != list(reference.TARGETS):
        raise Mismatch(
            "queries look up the wrong keys",
            call=call,
            expected=f"row argmax {list(reference.TARGETS)}",
            got=f"row argmax {looked_up.tolist()}",
            diagnosis=WRONG_TARGET,
        )
    entropy = float(reference.weights_entropy(weights).mean())
    if not entropy < reference.ENTROPY_THRESHOLD:
        raise Mismatch(
            "the attention is nearly uniform",
            call=call,
            expected=f"a mean row entropy below {reference.ENTROPY_THRESHOLD} nats",
            got=f"{entropy:.4g} nats (uniform over the five keys is {np.log(5):.4g})",
        )
