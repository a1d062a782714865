"""Grader for word2vec: skipgram_pairs (a fixed window, in order), noise_distribution (unigram to
the 3/4), sgns_loss and softmax_loss (stable at dot products of +-1000, gradients per row) and
most_similar (cosine, ties to the lower index).

Three levels: the hand fixtures (graders/fixtures/word2vec.py), the reference on random inputs of
several sizes with printed seeds (repeated negatives, words with count 0, scores of +-1000, zero
rows and identical rows), and the contract's properties (a window at least the sentence's length
pairs every two positions, every pair appears reversed too, power 1 is the unigram distribution,
the sgns gradient of a repeated word is the same row twice, shifting all softmax scores leaves the
loss, k above V - 1 returns everything). Classic mistakes are recomputed here on purpose so that a
failure names them ("likely mistake").
"""

from __future__ import annotations

from collections import Counter
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.checks import gradient_dict
from transformer_kit.grader.compare import (
    Mismatch,
    assert_close,
    assert_raises,
    assert_raises_naming,
    unpack,
)
from transformer_kit.grader.warned import assert_stable
from transformer_kit.graders.fixtures import word2vec as fixtures
from transformer_kit.solutions import word2vec as reference

# --- the classic mistakes, by name ----------------------------------------------------------------

PAIRS_SELF = "the centre is paired with itself (j = i): only 1 <= |i - j| <= window"
PAIRS_EXCLUSIVE = "the window is exclusive (|i - j| < window): take every j with |i - j| <= window"
PAIRS_SWAPPED = "the pairs are (context, centre): each pair is (tokens[i], tokens[j]), centre first"
PAIRS_RIGHT_ONLY = (
    "only the context to the right: take j on both sides, i - window <= j <= i + window"
)
PAIRS_POSITIONS = "positions (i, j) instead of tokens: the pair is (tokens[i], tokens[j])"
PAIRS_ORDER = (
    "the right pairs in another order: for every i in order, the j in increasing order (not by "
    "distance from i, not grouped by offset)"
)
PAIRS_SHRUNK = (
    "the window shrinks (at random, as word2vec.c does, or at the sentence's edges by more than "
    "the edge): here every j with 1 <= |i - j| <= window inside the sentence"
)
NOISE_NO_POWER = "counts not raised to the power: counts**power / sum(counts**power)"
NOISE_NOT_RENORMALISED = (
    "the power was applied after normalising: (counts / sum)**power no longer sums to 1; "
    "normalise counts**power"
)
NOISE_SMOOTHED = "the counts were smoothed (+1): a zero count stays 0"
UNSTABLE = (
    "an overflow: exp of a large number (exp(1000) = inf, inf / inf = nan, log(0) = -inf): use "
    "log sigmoid(s) = min(s, 0) - log1p(exp(-|s|)) and shift the scores by their max"
)
SGNS_EPS = (
    "log(sigmoid(s) + eps) (or clipped probabilities): the loss is capped at dot products of "
    "-1000; compute log sigmoid from s itself, min(s, 0) - log1p(exp(-|s|))"
)
SGNS_NEG_SIGN = "the negatives' term is log sigmoid(+u_k . v): it is log sigmoid(-u_k . v)"
SGNS_NEG_MEAN = "the negatives were averaged: their terms are summed over k"
SGNS_SUMMED = (
    "the gradients of a repeated negative were summed into its rows: row k is the derivative "
    "with respect to row k alone (a word drawn twice has two rows, each its own gradient)"
)
SGNS_UNIQUE = (
    "one row per distinct negative: u_negatives' gradient has K rows, one per row of u_negatives"
)
GRAD_SIGN = "a sign error: the gradient of -log sigmoid(s) is (sigmoid(s) - 1) ds"
GRAD_NO_NEGATIVES = "v_center's gradient leaves out the negatives: add sum_k sigmoid(s_k) u_k"
SOFTMAX_CONTEXT_ROW = (
    "only the context's row of u_all gets a gradient: every row gets softmax[w] * v, the context "
    "row minus v"
)
SOFTMAX_NO_ONE_HOT = (
    "the one-hot was not subtracted: d loss / d scores = softmax - one_hot(context)"
)
SIM_SELF = "the word itself was not excluded: it is always its own best match"
SIM_DOT = "ranked by the dot product, not the cosine: divide by both norms"
SIM_TIES_HIGH = (
    "ties went to the higher index (a reversed argsort): equal similarities, lower first"
)
SIM_ASCENDING = "least similar first: sort by descending similarity"
SIM_BY_VALUE = (
    "every row equal to the word's was excluded: only the word itself (its index) is excluded"
)

DRAWS = "drawn in this order with np.random.default_rng(seed)"


def quiet(function: Any) -> Any:
    """A mistake recomputed here may overflow on purpose: no warning in the grading process."""

    def wrapped(*args: Any, **kwargs: Any) -> Any:
        with np.errstate(all="ignore"):
            return function(*args, **kwargs)

    return wrapped


# --- integers and their lists ---------------------------------------------------------------------


def _is_int(value: Any) -> bool:
    return isinstance(value, (int, np.integer)) and not isinstance(value, (bool, np.bool_))


def int_list(got: Any, *, call: str, what: str) -> list[int]:
    """A list (or tuple, or 1-D integer array) of integers, as Python ints, or a Mismatch."""
    if isinstance(got, np.ndarray) and got.ndim == 1 and got.dtype.kind in "iu":
        return [int(v) for v in got]
    if not isinstance(got, (list, tuple)) or not all(_is_int(v) for v in got):
        kinds = sorted({type(v).__name__ for v in got} if isinstance(got, (list, tuple)) else [])
        raise Mismatch(
            f"the {what} is not a list of ints",
            call=call,
            expected="a list of Python ints (or a 1-D integer array)",
            got=f"{type(got).__name__} of {', '.join(kinds)}" if kinds else type(got).__name__,
            diagnosis="indices are integers: convert with int(i) (a float 3.0 is not an index)",
        )
    return [int(v) for v in got]


def pair_list(got: Any, *, call: str) -> list[tuple[int, int]]:
    """A list of (centre, context) pairs of ints, as tuples, or a Mismatch."""
    if not isinstance(got, (list, tuple)):
        raise Mismatch(
            "the result is not a list of pairs",
            call=call,
            expected="a list of 2-tuples of ints",
            got=type(got).__name__,
        )
    pairs = []
    for index, pair in enumerate(got):
        if not isinstance(pair, (list, tuple)) or len(pair) != 2 or not all(map(_is_int, pair)):
            raise Mismatch(
                "the result is not a list of pairs of ints",
                call=call,
                expected="a list of 2-tuples of ints, e.g. (5, 6)",
                got=f"item {index}: {pair!r:.80}",
                diagnosis="each pair is (tokens[i], tokens[j]), two ints",
            )
        pairs.append((int(pair[0]), int(pair[1])))
    return pairs


def exact(
    got: list[Any], want: list[Any], *, call: str, what: str, mistakes: dict[str, list[Any]]
) -> None:
    """The lists are equal, or a Mismatch naming the mistake that gives the learner's list."""
    if got == want:
        return
    diagnosis = next((name for name, value in mistakes.items() if value == got), "")
    first = next((i for i, (a, b) in enumerate(zip(got, want, strict=False)) if a != b), None)
    where = (
        f"index {first}: expected {want[first]!r}, got {got[first]!r}" if first is not None else ""
    )
    raise Mismatch(
        f"the {what} is wrong" + ("" if len(got) == len(want) else f" ({len(got)} items)"),
        call=call,
        expected=f"{want!r:.400}",
        got=f"{got!r:.400}",
        where=where or f"expected {len(want)} items, got {len(got)}",
        diagnosis=diagnosis,
    )


# --- skipgram_pairs -------------------------------------------------------------------------------


def _pairs(
    tokens: list[int], window: int, low: int = 1, right_only: bool = False
) -> list[tuple[int, int]]:
    """Pairs with offsets low <= |i - j| <= window (low = 0 pairs the centre with itself)."""
    n = len(tokens)
    return [
        (tokens[i], tokens[j])
        for i in range(n)
        for j in range(0 if right_only else max(0, i - window), min(n, i + window + 1))
        if low <= abs(i - j) and (j > i or not right_only)
    ]


def pair_mistakes(tokens: list[int], window: int) -> dict[str, list[tuple[int, int]]]:
    right = _pairs(tokens, window)
    n = len(tokens)
    by_distance = [
        (tokens[i], tokens[i + d])
        for i in range(n)
        for d in sorted(range(-window, window + 1), key=lambda d: (abs(d), d))
        if d and 0 <= i + d < n
    ]
    positions = [(i, j) for i in range(n) for j in range(n) if 1 <= abs(i - j) <= window]
    wrong = {
        PAIRS_SELF: _pairs(tokens, window, low=0),
        PAIRS_EXCLUSIVE: _pairs(tokens, window - 1) if window > 1 else [],
        PAIRS_SWAPPED: [(c, t) for t, c in right],
        PAIRS_RIGHT_ONLY: _pairs(tokens, window, right_only=True),
        PAIRS_POSITIONS: positions,
        PAIRS_ORDER: by_distance,
    }
    return {name: value for name, value in wrong.items() if value != right}


def check_pairs(student: Any, tokens: list[int], window: int, call: str, expected: Any) -> None:
    got = pair_list(student.skipgram_pairs(tokens, window), call=call)
    want = [tuple(p) for p in expected]
    mistakes = pair_mistakes(tokens, window)
    if sorted(got) == sorted(want):
        mistakes[PAIRS_ORDER] = got
    elif len(got) < len(want) and not Counter(got) - Counter(want):
        mistakes[PAIRS_SHRUNK] = got
    exact(got, want, call=call, what="list of pairs", mistakes=mistakes)


@pytest.mark.weight(1)
@pytest.mark.visible
def test_pairs_example(student: Any) -> None:
    """skipgram_pairs([5, 6, 7], 1) is [(5, 6), (6, 5), (6, 7), (7, 6)]"""
    call = "skipgram_pairs(tokens=[5, 6, 7], window=1)"
    check_pairs(student, [5, 6, 7], 1, call, [(5, 6), (6, 5), (6, 7), (7, 6)])


@pytest.mark.weight(1)
def test_pairs_hand(student: Any) -> None:
    """skipgram_pairs on hand examples: windows of 1, 2 and 5, a repeated token, short sentences"""
    for (tokens, window), want in fixtures.PAIRS:
        call = f"skipgram_pairs(tokens={tokens}, window={window})"
        check_pairs(student, tokens, window, call, want)


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, n, window", [(0, 12, 2), (1, 9, 3), (2, 6, 10), (3, 20, 1)], ids=lambda v: str(v)
)
def test_pairs_random(student: Any, seed: int, n: int, window: int) -> None:
    """skipgram_pairs matches the reference on random sentences (repeated words among them)"""
    tokens = [int(t) for t in np.random.default_rng(seed).integers(0, 6, n)]
    call = (
        f"skipgram_pairs(tokens={tokens}, window={window}), seed={seed}: tokens = "
        "np.random.default_rng(seed).integers(0, 6, n)"
    )
    check_pairs(student, tokens, window, call, reference.skipgram_pairs(tokens, window))


@pytest.mark.weight(1)
def test_pairs_properties(student: Any) -> None:
    """a window as long as the sentence pairs every two positions, and each pair comes reversed"""
    tokens = [10, 11, 12, 13, 14]
    call = "skipgram_pairs(tokens=[10, 11, 12, 13, 14], window=4)"
    got = pair_list(student.skipgram_pairs(tokens, 4), call=call)
    want = [(a, b) for a in tokens for b in tokens if a != b]  # distinct tokens: every ordered pair
    check_pairs(student, tokens, 4, call, want)
    reversed_pairs = sorted((b, a) for a, b in got)
    exact(reversed_pairs, sorted(got), call=call, what="set of reversed pairs", mistakes={})


@pytest.mark.weight(1)
@pytest.mark.visible
def test_pairs_bad_window(student: Any) -> None:
    """skipgram_pairs raises ValueError for window < 1"""
    for window in (0, -2):
        call = f"skipgram_pairs(tokens=[1, 2, 3], window={window})"
        assert_raises_naming(
            student.skipgram_pairs, [1, 2, 3], window, call=call, name="window", value=window
        )


# --- noise_distribution ---------------------------------------------------------------------------


def noise_mistakes(counts: np.ndarray, power: float) -> dict[str, Any]:
    return {
        NOISE_NO_POWER: counts / counts.sum(),
        NOISE_NOT_RENORMALISED: (counts / counts.sum()) ** power,
        NOISE_SMOOTHED: (counts + 1) ** power / ((counts + 1) ** power).sum(),
    }


def check_noise(student: Any, counts: Any, power: float, call: str, expected: Any = None) -> None:
    want = reference.noise_distribution(counts, power) if expected is None else expected
    got = student.noise_distribution(counts, power)
    mistakes = noise_mistakes(counts, power)
    assert_close(got, want, call=call, what="distribution", mistakes=mistakes)


@pytest.mark.weight(1)
def test_noise_hand(student: Any) -> None:
    """noise_distribution([16, 1, 0, 81]) at powers 0.75 and 0.5: [2/9, 1/36, 0, 3/4] and /14"""
    counts = np.array(fixtures.NOISE_COUNTS)
    for power, want in fixtures.NOISE:
        call = f"noise_distribution(counts={fixtures.NOISE_COUNTS}, power={power})"
        check_noise(student, counts, power, call, np.array(want))
    call = f"noise_distribution(counts={fixtures.NOISE_COUNTS})  (the default power, 0.75)"
    got = student.noise_distribution(counts)
    assert_close(got, fixtures.NOISE[0][1], call=call, what="distribution")


@pytest.mark.weight(1)
def test_noise_random(student: Any) -> None:
    """noise_distribution matches the reference on Zipf-like counts, and power 1 is the unigram"""
    rng = np.random.default_rng(10)
    counts = np.floor(1000.0 / np.arange(1, 31) * rng.random(30))  # some are 0
    call = "noise_distribution(counts (30,), power=0.75), seed=10: floor(1000 / rank * uniform)"
    check_noise(student, counts, 0.75, call)
    call = call.replace("power=0.75", "power=1.0")
    check_noise(student, counts, 1.0, call, counts / counts.sum())


@pytest.mark.weight(1)
@pytest.mark.visible
def test_noise_bad_arguments(student: Any) -> None:
    """noise_distribution raises ValueError for a negative count, power <= 0, [] and all zeros"""
    good = np.array([1.0, 2.0])
    for power in (0.0, -0.75):
        call = f"noise_distribution(counts=[1.0, 2.0], power={power})"
        assert_raises_naming(
            student.noise_distribution, good, power, call=call, name="power", value=power
        )
    for counts in ([3.0, -1.0], [0.0, 0.0]):
        call = f"noise_distribution(counts={counts}, power=0.75)"
        value = counts[1] if counts[1] else None  # the negative count; all zeros: the name
        assert_raises_naming(
            student.noise_distribution,
            np.array(counts),
            0.75,
            call=call,
            name="counts",
            value=value,
        )
    call = "noise_distribution(counts=[] (shape (0,)), power=0.75)"
    assert_raises("ValueError", student.noise_distribution, np.zeros(0), 0.75, call=call)


# --- sgns_loss ------------------------------------------------------------------------------------

SGNS_KEYS = ("v_center", "u_context", "u_negatives")


def log_sigmoid(s: Any) -> Any:
    return np.minimum(s, 0.0) - np.log1p(np.exp(-np.abs(s)))


@quiet
def sgns_mistakes(v: Any, u_c: Any, u_n: Any) -> dict[str, dict[str, Any]]:
    """Each mistake's loss ("loss") and gradients, by key."""
    s_c, s_n = u_c @ v, u_n @ v
    sig_c, sig_n = 1 / (1 + np.exp(-s_c)), 1 / (1 + np.exp(-s_n))
    log_c, log_n = log_sigmoid(s_c), log_sigmoid(-s_n)
    loss: dict[str, Any] = {SGNS_NEG_SIGN: -log_c - np.sum(log_sigmoid(s_n))}
    if len(s_n) > 1:
        loss[SGNS_NEG_MEAN] = -log_c - np.mean(log_n)
    for eps in (1e-7, 1e-8, 1e-10, 1e-12):
        loss[f"{SGNS_EPS} (eps = {eps:g}?)"] = -np.log(sig_c + eps) - np.sum(
            np.log(1 - sig_n + eps)
        )
    right = reference.sgns_loss(v, u_c, u_n)[1]
    rows = {tuple(row) for row in u_n}
    summed = np.array([sum(right["u_negatives"][(u_n == row).all(1)]) for row in u_n])
    unique = np.array([summed[(u_n == row).all(1)][0] for row in sorted(rows)])
    negatives: dict[str, Any] = {GRAD_SIGN: -right["u_negatives"]}
    if len(rows) < len(u_n):
        negatives |= {SGNS_SUMMED: summed, SGNS_UNIQUE: unique}
    return {
        "loss": loss,
        "v_center": {
            GRAD_SIGN: -right["v_center"],
            GRAD_NO_NEGATIVES: (sig_c - 1) * u_c,
        },
        "u_context": {GRAD_SIGN: -right["u_context"]},
        "u_negatives": negatives,
    }


def check_sgns(student: Any, args: tuple[Any, ...], call: str, expected: Any = None) -> None:
    want_loss, want = reference.sgns_loss(*args) if expected is None else expected
    result = assert_stable(lambda: student.sgns_loss(*args), call=call, mistake=UNSTABLE)
    loss, grads = unpack(result, 2, call=call, what="result (loss, grads)")
    wrong = sgns_mistakes(*args)
    finite(assert_close, loss, want_loss, call=call, what="loss", mistakes=wrong["loss"])
    grads = gradient_dict(grads, SGNS_KEYS, function="sgns_loss", call=call, misnamed=misnamed)
    for key in SGNS_KEYS:
        what = f'gradient "{key}"'
        finite(assert_close, grads[key], want[key], call=call, what=what, mistakes=wrong[key])


def misnamed(extra: list[Any]) -> str:
    """Why a dict of gradients has other keys: the keys are the arguments' names."""
    return (
        "name each gradient after its argument: the keys are the parameters' names" if extra else ""
    )


def finite(check: Any, *args: Any, **kwargs: Any) -> None:
    """`check`, naming an overflow where the learner's value is nan or inf."""
    try:
        check(*args, **kwargs)
    except Mismatch as failure:
        if "nan or inf" in failure.summary:
            failure.diagnosis = UNSTABLE
        raise


@pytest.mark.weight(2)
def test_sgns_hand(student: Any) -> None:
    """sgns_loss on a hand example with a repeated negative (loss 6 ln 2 - 2 ln 3)"""
    args = tuple(np.array(v) for v in (fixtures.SGNS_V, fixtures.SGNS_CONTEXT))
    args += (np.array(fixtures.SGNS_NEGATIVES),)
    call = (
        "sgns_loss(v_center=[1, 2], u_context=[ln 3, 0], "
        "u_negatives=[[2, -1], [-ln 3, 0], [2, -1]])"
    )
    want = {key: np.array(value) for key, value in fixtures.SGNS_GRADS.items()}
    check_sgns(student, args, call, (fixtures.SGNS_LOSS, want))


@pytest.mark.weight(1)
def test_sgns_large(student: Any) -> None:
    """sgns_loss at dot products of -1000 (context) and +1000 (negative): loss 2000 exactly"""
    args = tuple(np.array(v) for v in fixtures.SGNS_LARGE)
    call = "sgns_loss(v_center=[1, 0], u_context=[-1000, 0], u_negatives=[[1000, 0]])"
    want = {key: np.array(value) for key, value in fixtures.SGNS_LARGE_GRADS.items()}
    check_sgns(student, args, call, (fixtures.SGNS_LARGE_LOSS, want))


def sgns_problem(seed: int, d: int, k: int, scale: float) -> tuple[np.ndarray, ...]:
    """v, u_context (d,), u_negatives (k, d) of size `scale`, the last row a copy of the first."""
    rng = np.random.default_rng(seed)
    v, u_c = rng.standard_normal(d), scale * rng.standard_normal(d)
    u_n = scale * rng.standard_normal((k, d))
    u_n[-1] = u_n[0]
    return v, u_c, u_n


# (seed, d, K, scale): scale 300 gives dot products of several hundred (exp overflows)
SGNS_CASES = [(20, 4, 3, 1.0), (21, 8, 5, 0.5), (22, 3, 2, 300.0), (23, 16, 6, 2.0)]


@pytest.mark.weight(2)
@pytest.mark.parametrize("seed, d, k, scale", SGNS_CASES, ids=[f"seed{c[0]}" for c in SGNS_CASES])
def test_sgns_random(student: Any, seed: int, d: int, k: int, scale: float) -> None:
    """sgns_loss matches the reference on random vectors (the last negative repeats the first)"""
    args = sgns_problem(seed, d, k, scale)
    call = (
        f"sgns_loss(v_center ({d},), u_context ({d},), u_negatives ({k}, {d})), seed={seed}: "
        f"v standard normal, u_context and u_negatives {scale} * standard normal, {DRAWS}, "
        "then u_negatives[-1] = u_negatives[0]"
    )
    check_sgns(student, args, call)


# --- softmax_loss ---------------------------------------------------------------------------------

SOFTMAX_KEYS = ("v_center", "u_all")


def softmax_mistakes(v: Any, context: int, u_all: Any) -> dict[str, dict[str, Any]]:
    """Each mistake's gradients, by key."""
    right = reference.softmax_loss(v, context, u_all)[1]
    only_row = np.zeros_like(u_all)
    only_row[context] = right["u_all"][context]
    scores = u_all @ v
    p = np.exp(scores - scores.max())
    p /= p.sum()  # softmax, without the one-hot
    return {
        "v_center": {GRAD_SIGN: -right["v_center"], SOFTMAX_NO_ONE_HOT: u_all.T @ p},
        "u_all": {
            GRAD_SIGN: -right["u_all"],
            SOFTMAX_CONTEXT_ROW: only_row,
            SOFTMAX_NO_ONE_HOT: np.outer(p, v),
        },
    }


def check_softmax(
    student: Any, args: tuple[Any, ...], call: str, expected: Any = None, loss_only: bool = False
) -> None:
    want_loss, want = reference.softmax_loss(*args) if expected is None else expected
    result = assert_stable(lambda: student.softmax_loss(*args), call=call, mistake=UNSTABLE)
    loss, grads = unpack(result, 2, call=call, what="result (loss, grads)")
    finite(assert_close, loss, want_loss, call=call, what="loss")
    if loss_only:
        return
    grads = gradient_dict(
        grads, SOFTMAX_KEYS, function="softmax_loss", call=call, misnamed=misnamed
    )
    wrong = softmax_mistakes(*args)
    for key in SOFTMAX_KEYS:
        what = f'gradient "{key}"'
        finite(assert_close, grads[key], want[key], call=call, what=what, mistakes=wrong[key])


@pytest.mark.weight(2)
def test_softmax_hand(student: Any) -> None:
    """softmax_loss on a hand example: scores [0, ln 2, 0], context 1, loss ln 2"""
    v, u_all = np.array(fixtures.SOFTMAX_V), np.array(fixtures.SOFTMAX_U)
    call = "softmax_loss(v_center=[1, 0], context=1, u_all=[[0, 5], [ln 2, 0], [0, -1]])"
    want = {key: np.array(value) for key, value in fixtures.SOFTMAX_GRADS.items()}
    check_softmax(
        student, (v, fixtures.SOFTMAX_CONTEXT, u_all), call, (fixtures.SOFTMAX_LOSS, want)
    )


@pytest.mark.weight(1)
def test_softmax_large(student: Any) -> None:
    """softmax_loss at scores [1000, 0, -1000]: losses 0, 1000 and 2000, finite gradients"""
    v, u_all = np.ones(1), np.array(fixtures.SOFTMAX_LARGE_U)
    for context, loss in enumerate(fixtures.SOFTMAX_LARGE_LOSSES):
        call = f"softmax_loss(v_center=[1], context={context}, u_all=[[1000], [0], [-1000]])"
        want = reference.softmax_loss(v, context, u_all)
        check_softmax(student, (v, context, u_all), call, (loss, want[1]))


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, v_size, d, context",
    [(30, 5, 3, 0), (31, 10, 4, 7), (32, 2, 6, 1)],
    ids=["seed30", "seed31", "seed32"],
)
def test_softmax_random(student: Any, seed: int, v_size: int, d: int, context: int) -> None:
    """softmax_loss matches the reference on random vectors, and shifting every score keeps it"""
    rng = np.random.default_rng(seed)
    v, u_all = rng.standard_normal(d), rng.standard_normal((v_size, d))
    call = (
        f"softmax_loss(v_center ({d},), context={context}, u_all ({v_size}, {d})), seed={seed}: "
        f"v_center, u_all standard normal {DRAWS}"
    )
    check_softmax(student, (v, context, u_all), call)
    shifted = u_all + 800.0 * v / (v @ v)  # every score + 800: the same softmax, the same loss
    call += "; then u_all + 800 * v / (v . v) (every score + 800)"
    want = reference.softmax_loss(v, context, u_all)[0]
    check_softmax(student, (v, context, shifted), call, (want, {}), loss_only=True)


# --- most_similar ---------------------------------------------------------------------------------


def similar_mistakes(embeddings: Any, index: int, k: int) -> dict[str, list[int]]:
    e = np.asarray(embeddings, dtype=np.float64)
    norms = np.linalg.norm(e, axis=1)
    dots = e @ e[index]
    scale = norms * norms[index]
    cos = np.divide(dots, scale, out=np.zeros_like(dots), where=scale > 0)
    ids = np.arange(len(e))

    def ranked(score: np.ndarray, keep: np.ndarray, reverse_ties: bool = False) -> list[int]:
        tie = -ids if reverse_ties else ids
        return [int(i) for i in np.lexsort((tie, -score)) if keep[i]][:k]

    others = ids != index
    return {
        SIM_SELF: [int(i) for i in np.lexsort((ids, -cos))][:k],
        SIM_DOT: ranked(dots, others),
        SIM_TIES_HIGH: ranked(cos, others, reverse_ties=True),
        SIM_ASCENDING: ranked(-cos, others),
        SIM_BY_VALUE: ranked(cos, ~(e == e[index]).all(axis=1)),
    }


def check_similar(student: Any, embeddings: Any, index: int, k: int, call: str, want: Any) -> None:
    got = int_list(student.most_similar(embeddings, index, k), call=call, what="result")
    mistakes = {
        name: value
        for name, value in similar_mistakes(embeddings, index, k).items()
        if value != want
    }
    exact(got, list(want), call=call, what="list of indices", mistakes=mistakes)


@pytest.mark.weight(2)
def test_similar_hand(student: Any) -> None:
    """most_similar on hand rows: identical rows, a zero row, orthogonal rows, k above V - 1"""
    embeddings = np.array(fixtures.EMBEDDINGS, dtype=np.float64)
    for (index, k), want in fixtures.SIMILAR:
        call = f"most_similar(embeddings={fixtures.EMBEDDINGS}, index={index}, k={k})"
        check_similar(student, embeddings, index, k, call, want)


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, v_size, d, index, k",
    [(40, 12, 4, 3, 5), (41, 30, 8, 0, 29), (42, 6, 3, 5, 2)],
    ids=["seed40", "seed41", "seed42"],
)
def test_similar_random(student: Any, seed: int, v_size: int, d: int, index: int, k: int) -> None:
    """most_similar matches the reference on random embeddings with copies and a zero row"""
    rng = np.random.default_rng(seed)
    embeddings = rng.standard_normal((v_size, d)) * rng.uniform(0.1, 10.0, (v_size, 1))
    embeddings[1] = 0.0
    embeddings[2] = embeddings[index]
    call = (
        f"most_similar(embeddings ({v_size}, {d}), index={index}, k={k}), seed={seed}: standard "
        f"normal rows times uniform(0.1, 10) lengths {DRAWS}, then row 1 = 0, "
        f"row 2 = row {index}"
    )
    check_similar(student, embeddings, index, k, call, reference.most_similar(embeddings, index, k))


@pytest.mark.weight(1)
@pytest.mark.visible
def test_similar_bad_k(student: Any) -> None:
    """most_similar raises ValueError for k < 0"""
    embeddings = np.eye(3)
    call = "most_similar(embeddings=np.eye(3), index=0, k=-1)"
    assert_raises_naming(student.most_similar, embeddings, 0, -1, call=call, name="k", value=-1)
