"""Grader for debug_nan: a numpy classifier whose loss turns to nan, fixed.

Each planted bug has a test of its own that fails while it is there (the test's `bugs` marker
names it, and the report counts those still failing), whatever else is still broken: a zero
variance on a constant feature, a softmax that overflows above 709, the log of a probability that
underflowed, a gradient summed over the batch, clipping that never clips, an update that climbs
the gradient. Then the program as a whole: the gradients of the loss, a few steps against the
reference, and the training run of the scenario (finite losses that fall below LOSS_THRESHOLD).
A fix that hides a symptom fails its bug's own test: clamping a probability away from 0 gives the
wrong loss, clipping leaves a summed gradient N times too large, skipping a nan step trains less.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.checks import assert_cured
from transformer_kit.grader.compare import Mismatch, assert_close, describe, unpack
from transformer_kit.graders.fixtures import debug_nan as fixtures
from transformer_kit.solutions import debug_nan as reference

ZERO_VARIANCE = (
    "a feature with zero variance divided by 0 (x.std() is 0 for a constant column, 0 / 0 is "
    "nan): put eps inside the root, (x - mean) / sqrt(var + eps)"
)
OVERFLOW = (
    "softmax overflows for logits above 709 (exp(1000) is inf, inf / inf is nan): subtract the "
    "row's max before exp, or compute log-sum-exp"
)
UNDERFLOW = (
    "log of a probability that underflowed to 0 (log(0) = -inf): compute log_softmax = shifted "
    "- log(sum(exp(shifted))) and take the target's entry, never log(softmax)"
)
CONSTANT_NOT_ZERO = (
    "a constant feature must become 0 and the others (x - mean) / sqrt(var + eps): replacing "
    "the nan afterwards (np.nan_to_num) or another spread gives other values"
)
CLAMPED = (
    "the log's argument was clamped (log(p + eps) or np.clip): that hides the -inf but gives the "
    "wrong loss; compute log_softmax = shifted - log(sum(exp(shifted)))"
)
SUMMED = (
    "the gradient is summed over the batch, not averaged: divide (softmax - one_hot) by N (the "
    "loss is a mean; a summed gradient makes every step N times larger, a learning rate blown up "
    "by the batch size, and clipping it only hides that)"
)
NEVER_CLIPS = (
    "clipping never clips: the gradients come back unchanged although their norm is above "
    "max_norm (a scaled copy made and dropped, e.g. `g = g * scale` in a loop): return "
    "{name: g * scale} with scale = max_norm / (norm + 1e-6)"
)
CLIPS_SMALL = (
    "gradients whose norm is below max_norm were scaled: clip only when the norm is above "
    "max_norm (never scale up)"
)
SIGN = (
    "the update climbs the gradient (params + lr * grads): gradient descent steps against it, "
    "params - lr * grads"
)
BACKWARD = "backward's gradients are wrong: check each line against the chain rule of forward"
DATA_CHANGED = "train's first loss differs: keep init_params(x.shape[1], seed) and normalize(x)"
SKIPPED = (
    "train returned fewer losses than steps: a step whose loss is nan was skipped (or the loop "
    "stopped early); cure the nan instead, every step records its loss"
)


def grads_of(got: Any, *, call: str) -> dict[str, Any]:
    """A dict with exactly the gradients of w1, b1, w2, b2."""
    if not isinstance(got, dict) or set(got) != set(reference.init_params(2)):
        raise Mismatch(
            "the result should be a dict of gradients",
            call=call,
            expected='a dict {"w1": ..., "b1": ..., "w2": ..., "b2": ...}',
            got=describe(got),
        )
    return got


def random_params(seed: int, d_in: int) -> dict[str, np.ndarray]:
    """Weights and non-zero biases drawn with np.random.default_rng(seed)."""
    rng = np.random.default_rng(seed)
    params = reference.init_params(d_in, seed)
    return {name: value + 0.1 * rng.normal(size=value.shape) for name, value in params.items()}


# --- normalize ------------------------------------------------------------------------------


@pytest.mark.bugs("normalize: zero variance")
def test_normalize_hand_fixture(student: Any) -> None:
    """normalize maps a constant feature to 0 (hand fixture)"""
    x = np.array(fixtures.NORMALIZE_X)
    call = f"normalize({x.tolist()})"
    got = student.normalize(x)
    assert_cured(
        got,
        fixtures.NORMALIZE_EXPECTED,
        call=call,
        what="result",
        symptom="nan from the first step",
        nonfinite=ZERO_VARIANCE,
        otherwise=CONSTANT_NOT_ZERO,
    )


@pytest.mark.bugs("normalize: zero variance")
@pytest.mark.parametrize("seed", [0, 1])
def test_normalize_random(student: Any, seed: int) -> None:
    """normalize standardises raw counts and constant columns"""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(9, 4))
    x[:, 1] = 1e4 * x[:, 1] + 3e4  # a raw count
    x[:, 2] = -7.0  # a constant feature
    call = f"normalize(x (9, 4) with a constant column 2), seed={seed}"
    assert_cured(
        student.normalize(x),
        reference.normalize(x),
        call=call,
        what="result",
        symptom="nan from the first step",
        nonfinite=ZERO_VARIANCE,
        otherwise=CONSTANT_NOT_ZERO,
    )


# --- cross_entropy --------------------------------------------------------------------------


@pytest.mark.bugs("cross_entropy: softmax overflow")
def test_large_logits(student: Any) -> None:
    """cross_entropy is finite for logits of 1000 and 1e4"""
    for logits, targets, loss in [
        (fixtures.LARGE_LOGITS, fixtures.LARGE_TARGETS, fixtures.LARGE_LOSS),
        (np.array(fixtures.LARGE_LOGITS) * 10 - 9000, fixtures.LARGE_TARGETS, None),
    ]:
        x, y = np.array(logits, dtype=float), np.array(targets)
        call = f"cross_entropy({x.tolist()}, {y.tolist()})"
        got_loss, got_grad = unpack(student.cross_entropy(x, y), 2, call=call)
        want_loss, want_grad = reference.cross_entropy(x, y)
        symptom = "the loss is nan once the logits grow"
        assert_cured(
            got_loss,
            want_loss if loss is None else loss,
            call=call,
            what="loss",
            symptom=symptom,
            nonfinite=OVERFLOW,
        )
        assert_cured(
            got_grad, want_grad, call=call, what="gradient", symptom=symptom, nonfinite=OVERFLOW
        )


@pytest.mark.bugs("cross_entropy: log of an underflowed probability")
def test_tiny_probability(student: Any) -> None:
    """cross_entropy is finite when the target's probability is below 1e-300"""
    x, y = np.array(fixtures.TINY_LOGITS), np.array(fixtures.TINY_TARGETS)
    call = f"cross_entropy({x.tolist()}, {y.tolist()})"
    got_loss, _ = unpack(student.cross_entropy(x, y), 2, call=call)
    symptom = "the loss is inf when the model is confidently wrong"
    assert_cured(
        got_loss,
        fixtures.TINY_LOSS,
        call=call,
        what="loss",
        symptom=symptom,
        nonfinite=UNDERFLOW,
        otherwise=CLAMPED,
    )


@pytest.mark.bugs("cross_entropy: gradient summed over the batch")
@pytest.mark.parametrize("seed", [0, 1])
def test_gradient_is_a_mean(student: Any, seed: int) -> None:
    """cross_entropy's loss and gradient are means over the batch"""
    rng = np.random.default_rng(seed)
    n = 6 + seed
    x, y = 3 * rng.normal(size=(n, 4)), rng.integers(0, 4, size=n)
    call = f"cross_entropy(logits ({n}, 4), targets ({n},)), seed={seed}"
    got_loss, got_grad = unpack(student.cross_entropy(x, y), 2, call=call)
    want_loss, want_grad = reference.cross_entropy(x, y)
    symptom = "the steps are too large"
    assert_cured(
        got_loss,
        want_loss,
        call=call,
        what="loss",
        symptom="the loss is wrong",
        nonfinite=OVERFLOW,
        mistakes={"the loss is summed over the batch: take the mean": want_loss * n},
    )
    assert_cured(
        got_grad,
        want_grad,
        call=call,
        what="gradient",
        symptom=symptom,
        nonfinite=OVERFLOW,
        mistakes={SUMMED: want_grad * n},
    )


# --- clip_by_global_norm ----------------------------------------------------------------------


@pytest.mark.bugs("clip_by_global_norm: never clips")
def test_clipping(student: Any) -> None:
    """clip_by_global_norm scales large gradients down and leaves small ones"""
    grads = {name: np.array(value) for name, value in fixtures.CLIP_GRADS.items()}
    for max_norm, expected, mistake in [
        (fixtures.CLIP_TIGHT, fixtures.CLIP_TIGHT_EXPECTED, NEVER_CLIPS),
        (fixtures.CLIP_LOOSE, fixtures.CLIP_GRADS, CLIPS_SMALL),
    ]:
        call = f"clip_by_global_norm({fixtures.CLIP_GRADS}, max_norm={max_norm})"
        got = student.clip_by_global_norm(grads, max_norm)
        if not isinstance(got, dict) or set(got) != set(grads):
            raise Mismatch(
                "the result should be a dict with the same keys",
                call=call,
                expected="keys 'w', 'b'",
                got=describe(got),
            )
        for name in grads:
            try:
                assert_close(got[name], expected[name], call=call, what=f"gradient {name!r}")
            except Mismatch as failure:
                failure.summary = f"the steps are not bounded: {failure.summary}"
                failure.diagnosis = mistake
                raise


# --- the program as a whole -------------------------------------------------------------------


@pytest.mark.parametrize("seed", [0, 1])
def test_gradients_of_the_loss(student: Any, seed: int) -> None:
    """forward, cross_entropy and backward give the gradients of the mean loss"""
    rng = np.random.default_rng(seed)
    params = random_params(seed, 5)
    x, y = rng.normal(size=(8, 5)), rng.integers(0, 3, size=8)
    call = f"backward(params, *forward(params, x (8, 5)) and cross_entropy(...)), seed={seed}"
    logits, cache = unpack(student.forward(params, x), 2, call=f"forward(params, x), seed={seed}")
    assert_cured(
        logits,
        reference.forward(params, x)[0],
        call=call,
        what="logits",
        symptom="the logits are wrong",
        nonfinite=BACKWARD,
    )
    _, dlogits = unpack(student.cross_entropy(logits, y), 2, call=call)
    got = grads_of(student.backward(params, cache, dlogits), call=call)
    want_logits, want_cache = reference.forward(params, x)
    want = reference.backward(params, want_cache, reference.cross_entropy(want_logits, y)[1])
    own = grads_of(
        student.backward(params, want_cache, reference.cross_entropy(logits, y)[1]), call=call
    )
    own_right = all(np.allclose(own[k], want[k], rtol=1e-4, atol=1e-6) for k in want)
    mistake = SUMMED if own_right else BACKWARD
    for name in want:
        assert_cured(
            got[name],
            want[name],
            call=call,
            what=f"gradient {name!r}",
            symptom="the gradients are wrong",
            nonfinite=BACKWARD,
            mistakes={mistake: want[name] * 8},
        )


@pytest.mark.bugs("train: update sign")
def test_update_goes_downhill(student: Any) -> None:
    """train's small steps make the loss fall"""
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(12, 3)), rng.integers(0, 3, size=12)
    call = "train(x (12, 3), y (12,), steps=4, lr=0.01, seed=1)"
    _, losses = unpack(student.train(x, y, steps=4, lr=0.01, seed=1), 2, call=call)
    got = np.asarray(losses, dtype=float)
    if got.shape != (4,) or not np.all(np.isfinite(got)) or not np.all(np.diff(got) < 0):
        raise Mismatch(
            "the loss does not fall with small steps",
            call=call,
            expected="4 finite losses, each below the one before",
            got=describe(losses),
            diagnosis=SIGN if got.shape == (4,) and np.all(np.diff(got) > 0) else "",
        )


def test_steps_match_the_reference(student: Any) -> None:
    """train's first steps match the reference's"""
    x, y = reference.make_data(3)
    x, y = x[:40], y[:40]
    call = "train(x (40, 6), y (40,), steps=5, lr=0.5, seed=2)"
    params, losses = unpack(student.train(x, y, steps=5, lr=0.5, seed=2), 2, call=call)
    want_params, want_losses = reference.train(x, y, steps=5, lr=0.5, seed=2)
    symptom = "training goes astray"
    assert_cured(losses, want_losses, call=call, what="losses", symptom=symptom, nonfinite=OVERFLOW)
    got = grads_of(params, call=call)
    for name, value in want_params.items():
        assert_cured(
            got[name],
            value,
            call=call,
            what=f"params[{name!r}]",
            symptom=symptom,
            nonfinite=OVERFLOW,
        )


@pytest.mark.weight(3)
def test_scenario(student: Any) -> None:
    """the scenario: train(*make_data(0)) has finite losses that fall below LOSS_THRESHOLD"""
    x, y = reference.make_data(0)
    call = "train(*make_data(0))"
    _, losses = unpack(student.train(x, y), 2, call=call)
    got = np.asarray(losses, dtype=float)
    if got.ndim != 1 or len(got) != 200:
        raise Mismatch(
            "train should return one loss per step",
            call=call,
            expected="200 losses",
            got=describe(losses),
            diagnosis=SKIPPED,
        )
    bad = np.flatnonzero(~np.isfinite(got))
    if bad.size:
        raise Mismatch(
            f"the loss is {got[bad[0]]} from step {bad[0]} on",
            call=call,
            expected="finite losses",
            got=describe(losses),
        )
    first = reference.train(x, y, steps=1)[1][0]
    if not np.isclose(got[0], first, rtol=1e-4):
        raise Mismatch(
            "the first loss is wrong",
            call=call,
            expected=f"{first:.6g}",
            got=f"{got[0]:.6g}",
            diagnosis=DATA_CHANGED,
        )
    if not got[-1] < reference.LOSS_THRESHOLD:
        raise Mismatch(
            "the loss does not fall far enough",
            call=call,
            expected=f"a last loss below {reference.LOSS_THRESHOLD}",
            got=f"{got[-1]:.6g} (first {got[0]:.6g})",
        )
