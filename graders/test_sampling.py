"""Hidden grader for `sampling`: temperature, top-k, top-p, min-p and inverse-CDF sampling.

Three levels: the hand fixtures (graders/fixtures/sampling.py: ties at the k-th logit, exact CDF
boundaries, -inf tokens, a total that rounds below 1, logits above 709), the reference solution on
random inputs of several shapes (the seed is in every call shown), and the contract's properties
(k >= V and p = 1 keep everything, the nucleus is the smallest set reaching p, the most likely
token always survives, shifting a row's logits shifts the result, -inf is never sampled).
Classic mistakes are recomputed here on the same inputs, so a failure can name them.
Rows whose running totals lie within 1e-6 of p (or whose probabilities lie within 1e-6 of
min_p * max) are not graded; tests/exercises/test_sampling_oracle.py checks every case here
keeps clear.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    assert_raises,
    assert_shape,
    show,
)
from transformer_kit.grader.failures import StudentRaised
from transformer_kit.graders.fixtures import sampling as fixtures
from transformer_kit.solutions import sampling as reference

INF = np.inf
Filter = Callable[[np.ndarray], np.ndarray]

# ----------------------------------------------------------------------------------------------
# The classic mistakes, by name (what the learner reads after "likely mistake:").

T_MULTIPLIED = "the logits were multiplied by the temperature: divide, logits / temperature"
T_PROBS = (
    "returned probabilities (softmax(logits / T)): return the scaled logits, logits / temperature"
)
T_NO_CHECK = (
    "temperature <= 0 must raise ValueError (greedy decoding is argmax, not T = 0): check "
    "temperature > 0 before dividing"
)
PROBS = (
    "returned probabilities instead of logits: a filter returns the logits, each kept token's "
    "logit unchanged and -inf for the dropped ones"
)
FILL = "dropped tokens must be exactly -np.inf (not -1e9, not the dtype's minimum, not 0)"
UNSTABLE = (
    "the softmax overflows for logits above 709: subtract each row's max before np.exp "
    "(exp(1000) = inf, and inf / inf = nan)"
)
GLOBAL = (
    "one threshold (or one softmax) for the whole array: filter each row on its own, over the "
    "last axis (the vocabulary)"
)
K_PLUS_ONE = (
    "kept k + 1 tokens: the threshold is the k-th largest logit (index V - k of the ascending "
    "sort), not the (k+1)-th"
)
K_STRICT = (
    "the k-th largest logit itself was dropped (logits > threshold): keep every logit >= the "
    "k-th largest"
)
K_TIES = (
    "ties at the k-th value were broken (exactly k tokens kept, as argsort or torch.topk's "
    "indices do): keep every logit >= the k-th largest, all tied tokens included"
)
K_SMALLEST = (
    "the threshold is the k-th smallest logit: sort largest first (or take index V - k of the "
    "ascending sort)"
)
K_WRAP = (
    "k > V wrapped around (a negative index into the sorted row): k >= V keeps every logit, "
    "return a copy"
)
K_AXIS = "top-k along the wrong axis: the vocabulary is the last axis, each row has its own k-th"
K_RAISES = "k >= V must keep every logit (not raise): there is nothing to drop"
P_CROSSING = (
    "the token that crosses p was dropped (kept only tokens whose total INCLUDING themselves "
    "is < p): keep a token when the total of the tokens BEFORE it is < p"
)
P_ASCENDING = "sorted least likely first: sort by probability, most likely first"
P_UNSORTED = (
    "the running totals were taken in vocabulary order: sort the tokens by probability (most "
    "likely first) before summing"
)
P_SORTED_OUTPUT = (
    "the result is in sorted order: put each kept logit back at its own token id (undo the sort)"
)
P_LOGIT_TOTALS = "the running totals are of logits: sum probabilities (softmax of the row)"
M_ABSOLUTE = (
    "min_p used as an absolute threshold (probs >= min_p): scale it by the row's highest "
    "probability, probs >= min_p * max(probs)"
)
M_LOGITS = (
    "compared logits, not probabilities (logits >= min_p * max logit): compare softmax "
    "probabilities, probs >= min_p * max(probs)"
)
M_INVERTED = "kept the tokens below the threshold: keep probs >= min_p * max(probs)"
M_STRICT = (
    "a strict > against the threshold: at min_p = 1 it keeps nothing (no probability is above "
    "the highest); keep probs >= min_p * max(probs), which keeps the most likely tokens"
)
P_ONE_TOKEN = (
    "a vocabulary of one token lost it: the most likely token is always kept (a cutoff such as "
    "(1 - p) / (V - 1), llama2.c's, divides by zero at V = 1)"
)
S_GE = (
    "'>=' instead of '>': the token is the smallest i with cumsum(probs)[i] > u (strictly); a "
    "total equal to u does not choose its token"
)
S_SORTED_ID = (
    "sampled in sorted order (most likely first): the inverse CDF walks the vocabulary in id "
    "order, cumsum over ids 0, 1, 2, ..."
)
S_SORTED_POS = (
    "returned a position in the sorted order, not a token id (and the CDF walks the vocabulary "
    "in id order)"
)
S_ARGMAX = "ignored u and returned the argmax (greedy): choose by the cumulative totals and u"
S_ONE_MINUS = "compared the totals with 1 - u: the token is the smallest i with cumsum > u"
S_FALLBACK_LEN = (
    "returned len(logits) when every total is <= u: fall back to the last token with non-zero "
    "probability"
)
S_FALLBACK_LAST = (
    "fell back to the last index, a token at -inf (probability 0): fall back to the last token "
    "with non-zero probability"
)
S_FALLBACK_ZERO = (
    "returned 0 when no total exceeds u (np.argmax of an all-False array is 0): fall back to "
    "the last token with non-zero probability"
)
S_FALLBACK_RAISES = (
    "no fallback when rounding leaves every total <= u (u just below 1): return the last token "
    "with non-zero probability instead of failing"
)
OVERFLOW = "an overflow (exp of a large number?) or a division by zero"  # compare.py's default
S_NOT_SCALAR = "return one token id as a scalar (int(i)), not an array or a list"


@contextmanager
def _quiet() -> Iterator[None]:
    """The mistakes overflow or divide by zero on purpose: no warnings from them."""
    with np.errstate(all="ignore"):
        yield


def _softmax(x: np.ndarray, stable: bool = True) -> np.ndarray:
    with _quiet():
        exp = np.exp(x - x.max(axis=-1, keepdims=True) if stable else x)
        return exp / exp.sum(axis=-1, keepdims=True)


def _fill(logits: np.ndarray, keep: np.ndarray) -> np.ndarray:
    return np.where(keep, logits, -INF)


def _whole(one_row: Filter, logits: np.ndarray) -> np.ndarray:
    """A row filter applied to the whole array flattened into one row (the GLOBAL mistake)."""
    return one_row(logits.reshape(-1)).reshape(logits.shape)


def _probability_forms(logits: np.ndarray, expected: np.ndarray) -> dict[str, np.ndarray]:
    """What a filter returns when it hands back probabilities instead of logits."""
    kept = np.isfinite(expected)
    return {
        PROBS: _softmax(expected),  # renormalised over the kept tokens, 0 at the dropped ones
        f"{PROBS} (here the kept tokens' probabilities, 0 for the others)": np.where(
            kept, _softmax(logits), 0.0
        ),
    }


def _sorted_keep(probs: np.ndarray, p: float, *, inclusive: bool, ascending: bool) -> np.ndarray:
    """Nucleus keep-mask, with the crossing or the sort-order mistake when asked."""
    order = np.argsort(probs if ascending else -probs, axis=-1, kind="stable")
    sorted_probs = np.take_along_axis(probs, order, axis=-1)
    totals = np.cumsum(sorted_probs, axis=-1)
    before = totals - sorted_probs if not inclusive else totals
    keep = np.empty(probs.shape, dtype=bool)
    np.put_along_axis(keep, order, before < p, axis=-1)
    return keep


# ----------------------------------------------------------------------------------------------
# The mistakes, recomputed on the grader's inputs


def temperature_mistakes(logits: np.ndarray, temperature: float) -> dict[str, np.ndarray]:
    with _quiet():
        return {
            T_MULTIPLIED: logits * temperature,
            T_PROBS: _softmax(logits / temperature),
        }


def top_k_mistakes(logits: np.ndarray, k: int) -> dict[str, np.ndarray]:
    vocab = logits.shape[-1]
    ascending = np.sort(logits, axis=-1)
    expected = reference.top_k_logits(logits, k)
    mistakes: dict[str, np.ndarray] = {}
    if k < vocab:
        kth = ascending[..., vocab - k, None]
        mistakes[K_PLUS_ONE] = _fill(logits, logits >= ascending[..., vocab - k - 1, None])
        mistakes[K_STRICT] = _fill(logits, logits > kth)
    if k <= vocab:
        mistakes[K_SMALLEST] = _fill(logits, logits >= ascending[..., k - 1, None])
    if vocab < k < 2 * vocab:
        mistakes[K_WRAP] = _fill(logits, logits >= ascending[..., vocab - k, None])
    if logits.ndim > 1:
        if k < logits.size:
            flat = np.sort(logits, axis=None)
            mistakes[GLOBAL] = _fill(logits, logits >= flat[logits.size - k])
        if k <= logits.shape[0]:
            down = np.sort(logits, axis=0)
            mistakes[K_AXIS] = _fill(logits, logits >= down[logits.shape[0] - k])
    mistakes.update(_probability_forms(logits, expected))
    return mistakes


def _top_p(logits: np.ndarray, p: float, **mistake: Any) -> np.ndarray:
    """top_p_logits with one mistake: inclusive totals, ascending sort, no sort, unstable."""
    if mistake.get("logit_totals"):
        order = np.argsort(-logits, axis=-1, kind="stable")
        sorted_logits = np.take_along_axis(logits, order, axis=-1)
        before = np.cumsum(sorted_logits, axis=-1) - sorted_logits
        keep = np.empty(logits.shape, dtype=bool)
        np.put_along_axis(keep, order, before < p, axis=-1)
        return _fill(logits, keep)
    probs = _softmax(logits, stable=not mistake.get("unstable", False))
    if mistake.get("unsorted"):
        before = np.cumsum(probs, axis=-1) - probs
        return _fill(logits, before < p)
    with _quiet():
        keep = _sorted_keep(
            probs,
            p,
            inclusive=mistake.get("inclusive", False),
            ascending=mistake.get("ascending", False),
        )
    return _fill(logits, keep)


def top_p_mistakes(logits: np.ndarray, p: float) -> dict[str, np.ndarray]:
    expected = reference.top_p_logits(logits, p)
    probs = _softmax(logits)
    order = np.argsort(-probs, axis=-1, kind="stable")
    with _quiet():
        mistakes = {
            P_CROSSING: _top_p(logits, p, inclusive=True),
            P_ASCENDING: _top_p(logits, p, ascending=True),
            P_UNSORTED: _top_p(logits, p, unsorted=True),
            P_SORTED_OUTPUT: np.take_along_axis(expected, order, axis=-1),
            P_LOGIT_TOTALS: _top_p(logits, p, logit_totals=True),
            UNSTABLE: _top_p(logits, p, unstable=True),
        }
        if logits.ndim > 1:
            mistakes[GLOBAL] = _whole(lambda row: reference.top_p_logits(row, p), logits)
        mistakes.update(public_top_p_mistakes(logits, p))
    mistakes.update(_probability_forms(logits, expected))
    return mistakes


def min_p_mistakes(logits: np.ndarray, min_p: float) -> dict[str, np.ndarray]:
    expected = reference.min_p_logits(logits, min_p)
    probs = _softmax(logits)
    threshold = min_p * probs.max(axis=-1, keepdims=True)
    with _quiet():
        unstable = _softmax(logits, stable=False)
        mistakes = {  # a strict > first: at min_p = 1 it is what keeps nothing, as others do
            M_STRICT: _fill(logits, probs > threshold),
            M_ABSOLUTE: _fill(logits, probs >= min_p),
            M_LOGITS: _fill(logits, logits >= min_p * logits.max(axis=-1, keepdims=True)),
            M_INVERTED: _fill(logits, probs < threshold),
            UNSTABLE: _fill(logits, unstable >= min_p * unstable.max(axis=-1, keepdims=True)),
        }
        if logits.ndim > 1:
            mistakes[GLOBAL] = _whole(lambda row: reference.min_p_logits(row, min_p), logits)
    mistakes.update(_probability_forms(logits, expected))
    return mistakes


def _first_above(totals: np.ndarray, u: float, probs: np.ndarray) -> int:
    above = np.flatnonzero(totals > u)
    return int(above[0]) if above.size else int(np.flatnonzero(probs > 0)[-1])


def sample_mistakes(logits: np.ndarray, u: float) -> dict[str, int]:
    probs = _softmax(logits)
    totals = np.cumsum(probs)
    order = np.argsort(-probs, kind="stable")
    sorted_probs = probs[order]
    position = _first_above(np.cumsum(sorted_probs), u, sorted_probs)
    mistakes: dict[str, int] = {}
    at_least = np.flatnonzero(totals >= u)
    if at_least.size:
        mistakes[S_GE] = int(at_least[0])
    mistakes[S_SORTED_ID] = int(order[position])
    mistakes[S_SORTED_POS] = position
    if not (totals > u).any():
        mistakes[S_FALLBACK_LEN] = len(logits)
        mistakes[S_FALLBACK_LAST] = len(logits) - 1
        mistakes[S_FALLBACK_ZERO] = 0
    mistakes[S_ONE_MINUS] = _first_above(totals, 1 - u, probs)
    mistakes[S_ARGMAX] = int(np.argmax(logits))
    return mistakes


# ----------------------------------------------------------------------------------------------
# Checks


def _kept_lines(got: np.ndarray, expected: np.ndarray, logits: np.ndarray) -> list[str]:
    """Which token ids each differing row kept (a kept token keeps its logit), first three."""
    with _quiet():
        got_kept = np.isfinite(logits) & np.isclose(got, logits, rtol=1e-4, atol=1e-6)
    want_kept = np.isfinite(expected)
    rows_got = got_kept.reshape(-1, got.shape[-1]) if got.ndim else got_kept.reshape(1, -1)
    rows_want = want_kept.reshape(-1, expected.shape[-1])
    lines = []
    for index, (mine, theirs) in enumerate(zip(rows_got, rows_want, strict=True)):
        if not np.array_equal(mine, theirs):
            row = f"row {index}: " if len(rows_want) > 1 else ""
            lines.append(
                f"{row}kept token ids {np.flatnonzero(mine).tolist()} (with their logits), "
                f"expected {np.flatnonzero(theirs).tolist()}"
            )
    return lines[:3]


def _first_wrong(failure: Mismatch, got: np.ndarray, expected: np.ndarray) -> None:
    """Point at a really wrong entry: compare.py ranks -inf == -inf as an infinite error."""
    with _quiet():
        wrong = ~np.isclose(got, expected, rtol=1e-4, atol=1e-6, equal_nan=True)
    if not wrong.any():
        return
    index = tuple(int(i) for i in np.argwhere(wrong)[0])
    place = f"index {index}" if index else "the value"
    failure.where = f"{place}: expected {expected[index]:.6g}, got {got[index]:.6g}"
    failure.details = [d for d in failure.details if not d.startswith("also wrong")]


def _selection_summary(got: np.ndarray, expected: np.ndarray, logits: np.ndarray) -> str:
    with _quiet():
        got_kept = np.isfinite(logits) & np.isclose(got, logits, rtol=1e-4, atol=1e-6)
    want_kept = np.isfinite(expected)
    lost, extra = int((want_kept & ~got_kept).sum()), int((got_kept & ~want_kept).sum())
    parts = [f"{lost} token(s) that should be kept were dropped (-inf)"] if lost else []
    parts += [f"{extra} token(s) that should be dropped were kept"] if extra else []
    return "the wrong tokens were kept: " + ("; ".join(parts) or "the values are misplaced")


def _fill_diagnosis(got: np.ndarray, expected: np.ndarray, logits: np.ndarray) -> str:
    """A right selection written with the wrong 'dropped' value (-1e9, finfo.min, 0)."""
    dropped = ~np.isfinite(expected)
    kept = ~dropped
    if not dropped.any() or not np.allclose(got[kept], expected[kept], rtol=1e-4, atol=1e-6):
        return ""
    values = got[dropped]
    if np.isfinite(values).any() and (np.all(values < -1e3) or np.all(values == 0)):
        shown = ", ".join(f"{v:g}" for v in np.unique(values)[:2])
        return f"dropped tokens were set to {shown}: {FILL}"
    return ""


def check_filtered(
    got: Any,
    expected: np.ndarray,
    logits: np.ndarray,
    *,
    call: str,
    mistakes: Mapping[str, Any],
    k: int | None = None,
    fallback: str = "",
) -> None:
    """A filter's result: shape, then values (-inf where dropped), naming a mistake if it can."""
    try:
        with _quiet():  # inf - inf inside the comparison of -inf entries
            assert_close(got, expected, call=call, what="filtered logits", mistakes=mistakes)
    except Mismatch as failure:
        try:
            array = np.asarray(got, dtype=np.float64)
        except (TypeError, ValueError):
            raise failure from None
        if array.shape == expected.shape:
            _first_wrong(failure, array, expected)
            failure.details = _kept_lines(array, expected, logits) + failure.details
            if "nan or inf" in failure.summary and not np.isnan(array).any():
                # -inf where a kept logit belongs: a selection mistake, not an overflow
                failure.summary = _selection_summary(array, expected, logits)
                if failure.diagnosis == OVERFLOW:
                    failure.diagnosis = ""
            fill = _fill_diagnosis(array, expected, logits)
            if fill:
                failure.details = []  # the side-by-side picture of -1e9s says nothing more
            failure.diagnosis = (
                failure.diagnosis
                or fill
                or (_tie_diagnosis(array, expected, logits, k) if k is not None else "")
                or fallback
            )
        raise


def _tie_diagnosis(got: np.ndarray, expected: np.ndarray, logits: np.ndarray, k: int) -> str:
    """Exactly k of the tokens >= the k-th largest kept, when ties made more of them."""
    with _quiet():
        got_kept = np.isfinite(logits) & np.isclose(got, logits, rtol=1e-4, atol=1e-6)
    want_kept = np.isfinite(expected)
    counts = got_kept.reshape(-1, got.shape[-1]).sum(axis=-1)
    if np.all(got_kept <= want_kept) and np.all(counts == min(k, got.shape[-1])):
        return K_TIES
    return ""


def check_token(got: Any, expected: int, *, call: str, mistakes: Mapping[str, int]) -> None:
    """A token id: a real scalar equal to the expected int exactly."""
    wrong = {name: value for name, value in mistakes.items() if value != expected}
    try:
        assert_close(got, expected, call=call, what="token id", rtol=0, atol=0, mistakes=wrong)
    except Mismatch as failure:
        if failure.got.startswith("shape"):
            failure.diagnosis = S_NOT_SCALAR
        elif failure.summary == "the token id is wrong":
            failure.expected = f"token id {expected}"
            value = np.asarray(got, dtype=np.float64)
            failure.got = f"token id {value.item():g}" if value.shape == () else failure.got
        raise


def _close(got: Any, expected: Any, **options: Any) -> None:
    """assert_close without numpy's warnings about inf - inf (-inf entries are expected)."""
    with _quiet():
        assert_close(got, expected, **options)


def _text(values: Any) -> str:
    return show(np.asarray(values, dtype=np.float64))


def _random_logits(seed: int, shape: tuple[int, ...], masked: float = 0.0) -> np.ndarray:
    """2 * standard normal logits; with `masked`, that fraction set to -inf (never a row's max)."""
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.standard_normal(shape)
    if masked:
        drop = rng.random(shape) < masked
        np.put_along_axis(drop, logits.argmax(axis=-1)[..., None], False, axis=-1)
        logits[drop] = -INF
    return logits


def _random_text(seed: int, shape: tuple[int, ...], masked: float = 0.0) -> str:
    hidden = f", {masked:.0%} of them -inf" if masked else ""
    return f"logits {shape} = 2 * normal{hidden}, seed={seed}"


def _raises_naming(function: Any, value: Any, *args: Any, call: str, name: str) -> None:
    """The call raises ValueError and its message names the offending value."""
    try:
        text = assert_raises("ValueError", function, *args, call=call)
    except Mismatch as failure:
        if not failure.diagnosis:
            failure.diagnosis = (
                f"check {name} yourself first and raise ValueError(f'... got {name}={{{name}}}')"
            )
        raise
    forms = {repr(value), str(value), f"{value:g}"}
    if not any(form in text for form in forms):
        raise Mismatch(
            f"raised ValueError, but the message does not name the offending value {value!r}",
            call=call,
            expected=f"a message like '{name} must be ..., got {name}={value!r}'",
            got=f"ValueError: {text}",
            diagnosis="the message must say what was wrong: include the value you were given",
        )


def _plain_int(value: Any) -> Any:
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None
    return array.item() if array.shape == () else None


def _outcome(error: Exception) -> str:
    if isinstance(error, StudentRaised):
        return f"raised {error.type_name}: {error.text}"
    if isinstance(error, Mismatch):
        return error.got or error.summary
    return str(error)


def _check_large(
    student: Any, name: str, label: str, argument: float, mistakes: Callable[..., Any]
) -> None:
    """A filter on 1000 + log q: right when the same row minus 1000 is right, or it overflows."""
    logits = np.array(fixtures.LARGE_LOGITS)
    expected = reference.top_p_logits if name == "top_p_logits" else reference.min_p_logits
    want = expected(logits, argument)
    call = (
        f"{name}(logits=1000 + log([0.5, 0.1, 0.25, 0.15]) - log(0.5) = {_text(logits)}, "
        f"{label}={argument})"
    )
    got = getattr(student, name)(logits, argument)
    try:
        check_filtered(got, want, logits, call=call, mistakes={})
    except Mismatch as failure:
        small = getattr(student, name)(logits - 1000.0, argument)
        try:  # the same probabilities with small logits
            with _quiet():
                assert_close(small, want - 1000.0, call=call)
        except Mismatch:  # wrong for small logits too: name that mistake instead
            check_filtered(got, want, logits, call=call, mistakes=mistakes(logits, argument))
        failure.diagnosis = UNSTABLE
        raise


# ----------------------------------------------------------------------------------------------
# apply_temperature


@pytest.mark.weight(1)
def test_temperature_hand(student: Any) -> None:
    """apply_temperature divides the logits by T (hand examples)"""
    logits = np.array(fixtures.TEMPERATURE_LOGITS)
    for temperature, expected in fixtures.TEMPERATURE_CASES:
        call = f"apply_temperature(logits={_text(logits)}, temperature={temperature})"
        _close(
            student.apply_temperature(logits, temperature),
            expected,
            call=call,
            mistakes=temperature_mistakes(logits, temperature),
        )
    logits = np.array(fixtures.TEMPERATURE_MASKED_LOGITS)
    temperature = fixtures.TEMPERATURE_MASKED_T
    call = f"apply_temperature(logits={_text(logits)}, temperature={temperature})"
    _close(
        student.apply_temperature(logits, temperature),
        fixtures.TEMPERATURE_MASKED_EXPECTED,
        call=call,
        mistakes=temperature_mistakes(logits, temperature),
    )


TEMPERATURE_CASES = [(30, (5,), 0.7), (31, (2, 4), 1.5), (32, (2, 3, 4), 0.1), (33, (6,), 1.0)]


@pytest.mark.weight(1)
def test_temperature_reference(student: Any) -> None:
    """apply_temperature matches the reference on random logits"""
    for seed, shape, temperature in TEMPERATURE_CASES:
        logits = _random_logits(seed, shape)
        call = f"apply_temperature({_random_text(seed, shape)}, temperature={temperature})"
        _close(
            student.apply_temperature(logits, temperature),
            reference.apply_temperature(logits, temperature),
            call=call,
            mistakes=temperature_mistakes(logits, temperature),
        )


@pytest.mark.weight(1)
@pytest.mark.visible
def test_temperature_not_positive(student: Any) -> None:
    """apply_temperature raises ValueError for temperature <= 0"""
    logits = np.array(fixtures.TEMPERATURE_LOGITS)
    for temperature in (0.0, -1.0):
        call = f"apply_temperature(logits={_text(logits)}, temperature={temperature})"
        try:
            _raises_naming(
                student.apply_temperature,
                temperature,
                logits,
                temperature,
                call=call,
                name="temperature",
            )
        except Mismatch as failure:
            if "returned normally" in failure.summary:
                failure.diagnosis = T_NO_CHECK
            raise


# ----------------------------------------------------------------------------------------------
# top_k_logits


def _check_top_k(student: Any, logits: np.ndarray, k: int, call: str) -> None:
    check_filtered(
        student.top_k_logits(logits, k),
        reference.top_k_logits(logits, k),
        logits,
        call=call,
        mistakes=top_k_mistakes(logits, k),
        k=k,
    )


@pytest.mark.weight(1)
def test_top_k_hand(student: Any) -> None:
    """top_k_logits on a hand example, k = 1, 2, 3"""
    logits = np.array(fixtures.TOP_K_LOGITS)
    for k, expected in fixtures.TOP_K_CASES:
        call = f"top_k_logits(logits={_text(logits)}, k={k})"
        check_filtered(
            student.top_k_logits(logits, k),
            np.array(expected),
            logits,
            call=call,
            mistakes=top_k_mistakes(logits, k),
            k=k,
        )


@pytest.mark.weight(1)
def test_top_k_ties(student: Any) -> None:
    """top_k_logits keeps every logit tied with the k-th largest"""
    logits = np.array(fixtures.TOP_K_TIE_LOGITS)
    k = fixtures.TOP_K_TIE_K
    call = f"top_k_logits(logits={_text(logits)}, k={k})"
    check_filtered(
        student.top_k_logits(logits, k),
        np.array(fixtures.TOP_K_TIE_EXPECTED),
        logits,
        call=call,
        mistakes=top_k_mistakes(logits, k),
        k=k,
    )
    # ties on random integer logits, several rows: values 0..3, so most rows tie at the k-th
    rng = np.random.default_rng(5)
    logits = rng.integers(0, 4, size=(4, 7)).astype(np.float64)
    call = "top_k_logits(logits (4, 7) = integers 0..3, seed=5, k=3)"
    _check_top_k(student, logits, 3, call)


@pytest.mark.weight(1)
def test_top_k_rows(student: Any) -> None:
    """top_k_logits finds each row's own k-th largest (hand example)"""
    logits = np.array(fixtures.TOP_K_ROWS)
    k = fixtures.TOP_K_ROWS_K
    call = f"top_k_logits(logits={fixtures.TOP_K_ROWS}, k={k})"
    check_filtered(
        student.top_k_logits(logits, k),
        np.array(fixtures.TOP_K_ROWS_EXPECTED),
        logits,
        call=call,
        mistakes=top_k_mistakes(logits, k),
        k=k,
    )


TOP_K_CASES = [
    (0, (8,), 3, 0.0),
    (1, (3, 7), 2, 0.0),
    (2, (2, 3, 6), 4, 0.0),
    (3, (4, 6), 3, 0.3),
    (4, (5, 5), 1, 0.0),
]


@pytest.mark.weight(2)
def test_top_k_reference(student: Any) -> None:
    """top_k_logits matches the reference on random logits of several shapes"""
    for seed, shape, k, masked in TOP_K_CASES:
        logits = _random_logits(seed, shape, masked)
        call = f"top_k_logits({_random_text(seed, shape, masked)}, k={k})"
        _check_top_k(student, logits, k, call)


@pytest.mark.weight(1)
def test_top_k_at_least_vocab(student: Any) -> None:
    """top_k_logits with k >= V keeps every logit"""
    for seed, shape, k in ((6, (5,), 5), (7, (2, 5), 7), (8, (3, 4), 100)):
        logits = _random_logits(seed, shape)
        call = f"top_k_logits({_random_text(seed, shape)}, k={k}) with V = {shape[-1]}"
        try:
            got = student.top_k_logits(logits, k)
        except StudentRaised as error:
            if error.not_implemented:
                raise
            raise Mismatch(
                f"raised {error.type_name}: {error.text}",
                call=call,
                expected="the logits unchanged",
                diagnosis=K_RAISES,
            ) from None
        check_filtered(got, logits, logits, call=call, mistakes=top_k_mistakes(logits, k))


@pytest.mark.weight(1)
@pytest.mark.visible
def test_top_k_invalid(student: Any) -> None:
    """top_k_logits raises ValueError for k < 1"""
    logits = np.array(fixtures.TOP_K_LOGITS)
    for k in (0, -2):
        call = f"top_k_logits(logits={_text(logits)}, k={k})"
        _raises_naming(student.top_k_logits, k, logits, k, call=call, name="k")


# ----------------------------------------------------------------------------------------------
# top_p_logits


def _check_top_p(
    student: Any,
    logits: np.ndarray,
    p: float,
    call: str,
    expected: Any = None,
    more: Mapping[str, Any] | None = None,
) -> None:
    """`more`: mistakes of this case, named before the usual ones."""
    want = reference.top_p_logits(logits, p) if expected is None else np.array(expected)
    with rows_indexed(logits, call=call):
        got = student.top_p_logits(logits, p)
    check_filtered(
        got,
        want,
        logits,
        call=call,
        mistakes={**(more or {}), **top_p_mistakes(logits, p)},
    )


@pytest.mark.weight(2)
def test_top_p_hand(student: Any) -> None:
    """top_p_logits on probabilities [0.5, 0.1, 0.25, 0.15] for several p"""
    logits = np.array(fixtures.LOGITS)
    for p, expected in fixtures.TOP_P_CASES:
        call = f"top_p_logits(logits=log([0.5, 0.1, 0.25, 0.15]), p={p})"
        _check_top_p(student, logits, p, call, expected)


@pytest.mark.weight(1)
def test_top_p_large_logits(student: Any) -> None:
    """top_p_logits is stable for logits above 709"""
    _check_large(student, "top_p_logits", "p", fixtures.LARGE_P, top_p_mistakes)


TOP_P_CASES = [
    (10, (8,), 0.9, 0.0),
    (11, (3, 7), 0.5, 0.0),
    (12, (2, 3, 6), 0.75, 0.0),
    (13, (4, 6), 0.95, 0.3),
    (14, (2, 9), 0.2, 0.0),
]


@pytest.mark.weight(2)
def test_top_p_reference(student: Any) -> None:
    """top_p_logits matches the reference on random logits of several shapes"""
    for seed, shape, p, masked in TOP_P_CASES:
        logits = _random_logits(seed, shape, masked)
        call = f"top_p_logits({_random_text(seed, shape, masked)}, p={p})"
        _check_top_p(student, logits, p, call)


@pytest.mark.weight(1)
def test_top_p_one_keeps_everything(student: Any) -> None:
    """top_p_logits with p = 1 keeps every token"""
    for seed, shape, masked in ((15, (6,), 0.0), (16, (3, 5), 0.0), (17, (2, 6), 0.3)):
        logits = _random_logits(seed, shape, masked)
        call = f"top_p_logits({_random_text(seed, shape, masked)}, p=1.0)"
        _check_top_p(student, logits, 1.0, call, logits)


@pytest.mark.weight(1)
def test_top_p_one_token(student: Any) -> None:
    """top_p_logits over a vocabulary of one token keeps it"""
    for p in (0.5, 0.9):
        logits = np.array([[1.5], [-2.0]])  # two rows, V = 1: each row's only token stays
        call = f"top_p_logits(logits=[[1.5], [-2.0]], p={p})"
        _check_top_p(student, logits, p, call, logits, {P_ONE_TOKEN: np.full((2, 1), -np.inf)})


@pytest.mark.weight(1)
def test_top_p_nucleus(student: Any) -> None:
    """top_p_logits keeps the smallest set reaching p, and always the most likely token"""
    for seed, shape, p in ((18, (3, 8), 0.7), (19, (4, 6), 1e-3)):
        logits = _random_logits(seed, shape)
        call = f"top_p_logits({_random_text(seed, shape)}, p={p})"
        got = student.top_p_logits(logits, p)
        expected = reference.top_p_logits(logits, p)
        mistakes = top_p_mistakes(logits, p)
        assert_shape(got, shape, call=call, what="filtered logits", mistakes=mistakes)
        array = as_array(got, call=call)
        probs = _softmax(logits)
        kept = np.isfinite(array)
        with _quiet():
            well_formed = np.all(np.isneginf(array) | np.isclose(array, logits))
        for row in range(shape[0] if well_formed else 0):  # else: check_filtered says why
            mass = probs[row][kept[row]]
            top = int(np.argmax(probs[row]))
            reaches = mass.sum() >= p - 1e-6
            smallest = mass.size and mass.sum() - mass.min() < p
            if kept[row, top] and reaches and smallest:
                continue
            raise Mismatch(
                f"row {row} is not the nucleus: the smallest set of most likely tokens whose "
                f"total reaches p={p}",
                call=call,
                expected=f"token ids {np.flatnonzero(np.isfinite(expected[row])).tolist()}",
                got=f"token ids {np.flatnonzero(kept[row]).tolist()} with total {mass.sum():.6g}",
                diagnosis=next(
                    (
                        name
                        for name, value in mistakes.items()
                        if np.array_equal(np.isfinite(value[row]), kept[row])
                    ),
                    "keep a token when the total of the more likely tokens before it is < p",
                ),
            )
        check_filtered(got, expected, logits, call=call, mistakes=mistakes)


@pytest.mark.weight(1)
@pytest.mark.visible
def test_top_p_invalid(student: Any) -> None:
    """top_p_logits raises ValueError unless 0 < p <= 1"""
    logits = np.array(fixtures.LOGITS)
    for p in (0.0, -0.1, 1.5):
        call = f"top_p_logits(logits=log([0.5, 0.1, 0.25, 0.15]), p={p})"
        _raises_naming(student.top_p_logits, p, logits, p, call=call, name="p")


# ----------------------------------------------------------------------------------------------
# min_p_logits


def _check_min_p(
    student: Any, logits: np.ndarray, min_p: float, call: str, expected: Any = None
) -> None:
    want = reference.min_p_logits(logits, min_p) if expected is None else np.array(expected)
    check_filtered(
        student.min_p_logits(logits, min_p),
        want,
        logits,
        call=call,
        mistakes=min_p_mistakes(logits, min_p),
    )


@pytest.mark.weight(2)
def test_min_p_hand(student: Any) -> None:
    """min_p_logits on probabilities [0.5, 0.1, 0.25, 0.15] for several min_p"""
    logits = np.array(fixtures.LOGITS)
    for min_p, expected in fixtures.MIN_P_CASES:
        call = f"min_p_logits(logits=log([0.5, 0.1, 0.25, 0.15]), min_p={min_p})"
        _check_min_p(student, logits, min_p, call, expected)


@pytest.mark.weight(1)
def test_min_p_large_logits(student: Any) -> None:
    """min_p_logits is stable for logits above 709"""
    _check_large(student, "min_p_logits", "min_p", fixtures.LARGE_MIN_P, min_p_mistakes)


MIN_P_CASES = [
    (20, (8,), 0.1, 0.0),
    (21, (3, 7), 0.3, 0.0),
    (22, (2, 3, 6), 0.05, 0.0),
    (23, (4, 6), 0.2, 0.3),
    (24, (2, 5), 0.6, 0.0),
]


@pytest.mark.weight(2)
def test_min_p_reference(student: Any) -> None:
    """min_p_logits matches the reference on random logits of several shapes"""
    for seed, shape, min_p, masked in MIN_P_CASES:
        logits = _random_logits(seed, shape, masked)
        call = f"min_p_logits({_random_text(seed, shape, masked)}, min_p={min_p})"
        _check_min_p(student, logits, min_p, call)


@pytest.mark.weight(1)
def test_min_p_zero_keeps_everything(student: Any) -> None:
    """min_p_logits with min_p = 0 keeps every token"""
    for seed, shape in ((25, (6,)), (26, (3, 5))):
        logits = _random_logits(seed, shape)
        call = f"min_p_logits({_random_text(seed, shape)}, min_p=0.0)"
        _check_min_p(student, logits, 0.0, call, logits)


@pytest.mark.weight(1)
def test_min_p_one_keeps_the_most_likely(student: Any) -> None:
    """min_p_logits with min_p = 1 keeps exactly the most likely tokens (ties too)"""
    # probabilities [0.4, 0.2, 0.4]: threshold 1 * 0.4, so tokens 0 and 2 (equal logits) stay
    logits = np.log([0.4, 0.2, 0.4])
    call = "min_p_logits(logits=log([0.4, 0.2, 0.4]), min_p=1.0)"
    _check_min_p(student, logits, 1.0, call, [logits[0], -np.inf, logits[2]])


@pytest.mark.weight(1)
@pytest.mark.visible
def test_min_p_invalid(student: Any) -> None:
    """min_p_logits raises ValueError unless 0 <= min_p <= 1"""
    logits = np.array(fixtures.LOGITS)
    for min_p in (-0.1, 1.5):
        call = f"min_p_logits(logits=log([0.5, 0.1, 0.25, 0.15]), min_p={min_p})"
        _raises_naming(student.min_p_logits, min_p, logits, min_p, call=call, name="min_p")


# ----------------------------------------------------------------------------------------------
# Properties shared by the filters


@pytest.mark.weight(1)
def test_filters_shift_invariant(student: Any) -> None:
    """adding a constant to a row's logits adds it to the filtered row (same tokens kept)"""
    seed, shape = 27, (3, 6)
    logits = _random_logits(seed, shape)
    shift = np.array([[50.0], [-30.0], [7.5]])  # one constant per row
    shifted = logits + shift
    text = f"logits + [[50], [-30], [7.5]] with {_random_text(seed, shape)}"
    for name, argument, reference_fn, mistakes in (
        ("top_p_logits", 0.6, reference.top_p_logits, top_p_mistakes),
        ("min_p_logits", 0.3, reference.min_p_logits, min_p_mistakes),
    ):
        label = "p" if name == "top_p_logits" else "min_p"
        call = f"{name}({text}, {label}={argument})"
        check_filtered(
            getattr(student, name)(shifted, argument),
            reference_fn(logits, argument) + shift,
            shifted,
            call=call,
            mistakes=mistakes(shifted, argument),
        )


@pytest.mark.weight(1)
def test_filters_compose(student: Any) -> None:
    """filters accept -inf logits: top_p and min_p after top_k, temperature after top_k"""
    seed, shape = 28, (3, 8)
    logits = _random_logits(seed, shape)
    after_k = reference.top_k_logits(logits, 5)  # three -inf per row
    text = f"top_k_logits({_random_text(seed, shape)}, k=5)"
    _check_top_p(student, after_k, 0.8, f"top_p_logits({text}, p=0.8)")
    _check_min_p(student, after_k, 0.2, f"min_p_logits({text}, min_p=0.2)")
    _close(
        student.apply_temperature(after_k, 0.5),
        after_k / 0.5,
        call=f"apply_temperature({text}, temperature=0.5)",
        mistakes=temperature_mistakes(after_k, 0.5),
    )


# ----------------------------------------------------------------------------------------------
# sample_token


def _check_sample(student: Any, logits: np.ndarray, u: float, expected: int, call: str) -> None:
    check_token(
        student.sample_token(logits, u), expected, call=call, mistakes=sample_mistakes(logits, u)
    )


@pytest.mark.weight(2)
def test_sample_hand(student: Any) -> None:
    """sample_token on probabilities [0.5, 0.1, 0.25, 0.15] (totals 0.5, 0.6, 0.85, 1)"""
    logits = np.array(fixtures.LOGITS)
    for u, expected in fixtures.SAMPLE_CASES:
        call = f"sample_token(logits=log([0.5, 0.1, 0.25, 0.15]), u={u})"
        _check_sample(student, logits, u, expected, call)


@pytest.mark.weight(2)
def test_sample_exact_boundaries(student: Any) -> None:
    """sample_token at u equal to a cumulative total picks the next token (total > u)"""
    for values, cases in (
        (fixtures.UNIFORM_LOGITS, fixtures.BOUNDARY_CASES),
        (fixtures.MASKED_FIRST_LOGITS, fixtures.MASKED_FIRST_CASES),
        (fixtures.MASKED_MIDDLE_LOGITS, fixtures.MASKED_MIDDLE_CASES),
    ):
        logits = np.array(values)
        for u, expected in cases:
            call = f"sample_token(logits={_text(logits)}, u={u})"
            _check_sample(student, logits, u, expected, call)


@pytest.mark.weight(1)
def test_sample_rounding_fallback(student: Any) -> None:
    """sample_token falls back to the last non-zero-probability token when every total <= u"""
    logits = np.array(fixtures.ROUNDING_LOGITS)
    u = fixtures.ROUNDING_U
    call = f"sample_token(logits={_text(logits)}, u={u!r})"
    try:
        got = student.sample_token(logits, u)
    except StudentRaised as error:
        if error.not_implemented:
            raise
        raise Mismatch(
            f"raised {error.type_name}: {error.text}",
            call=call,
            expected=f"token id {fixtures.ROUNDING_EXPECTED}",
            diagnosis=S_FALLBACK_RAISES,
        ) from None
    check_token(got, fixtures.ROUNDING_EXPECTED, call=call, mistakes=sample_mistakes(logits, u))


@pytest.mark.weight(1)
def test_sample_large_logits(student: Any) -> None:
    """sample_token is stable for logits above 709"""
    logits = np.array(fixtures.LARGE_LOGITS)
    for u, expected in fixtures.SAMPLE_CASES[:3]:
        call = f"sample_token(logits={_text(logits)}, u={u})"
        try:
            got = student.sample_token(logits, u)
            check_token(got, expected, call=call, mistakes={})
        except (Mismatch, StudentRaised) as error:
            if isinstance(error, StudentRaised) and error.not_implemented:
                raise
            small = student.sample_token(logits - 1000.0, u)  # the same probabilities
            if _plain_int(small) != expected:  # wrong for small logits too: say how
                _check_sample(student, logits - 1000.0, u, expected, f"{call} - 1000")
            raise Mismatch(
                "sample_token fails for large logits but not for the same logits minus 1000",
                call=call,
                expected=f"token id {expected}",
                got=_outcome(error),
                diagnosis=UNSTABLE,
            ) from None


SAMPLE_SEEDS = [(40, 6, 0.0), (41, 10, 0.0), (42, 8, 0.4), (43, 5, 0.0)]
SAMPLE_GRID = 25  # u = (j + 0.5) / SAMPLE_GRID in the distribution test


def _sample_inputs(seed: int, vocab: int, masked: float) -> tuple[np.ndarray, list[float]]:
    """Random logits and four u values, each at least 1e-4 away from every cumulative total."""
    logits = _random_logits(seed, (vocab,), masked)
    totals = np.cumsum(_softmax(logits))
    rng = np.random.default_rng(seed + 1000)
    us: list[float] = []
    while len(us) < 4:
        u = float(rng.random())
        if np.min(np.abs(totals - u)) > 1e-4:
            us.append(round(u, 6))
    return logits, us


@pytest.mark.weight(2)
def test_sample_reference(student: Any) -> None:
    """sample_token matches the reference on random logits and u"""
    for seed, vocab, masked in SAMPLE_SEEDS:
        logits, us = _sample_inputs(seed, vocab, masked)
        for u in us:
            call = f"sample_token({_random_text(seed, (vocab,), masked)}, u={u})"
            _check_sample(student, logits, u, reference.sample_token(logits, u), call)


@pytest.mark.weight(1)
def test_sample_distribution(student: Any) -> None:
    """sample_token over a grid of u reproduces the probabilities and never picks -inf"""
    seed, vocab, masked, grid = 44, 6, 0.3, SAMPLE_GRID
    logits = _random_logits(seed, (vocab,), masked)
    probs = _softmax(logits)
    us = [(j + 0.5) / grid for j in range(grid)]
    counts = np.zeros(vocab)
    previous = -1
    for u in us:
        call = f"sample_token({_random_text(seed, (vocab,), masked)}, u={u})"
        got = student.sample_token(logits, u)
        want = reference.sample_token(logits, u)
        check_token(got, want, call=call, mistakes=sample_mistakes(logits, u))
        token = int(as_array(got, call=call))
        if token < previous:
            raise Mismatch(
                "the token id went down as u went up: inverse-CDF sampling in id order is "
                "monotone in u",
                call=call,
                got=f"token {token} after token {previous} for a smaller u",
                diagnosis=S_SORTED_ID,
            )
        previous = token
        counts[token] += 1
    expected = probs * grid
    if np.any(np.abs(counts - expected) > 1.0) or np.any(counts[probs == 0]):
        raise Mismatch(
            f"over the grid u = (j + 0.5) / {grid}, the tokens do not follow the probabilities",
            call=f"sample_token({_random_text(seed, (vocab,), masked)}, u) for {grid} values of u",
            expected=f"counts within 1 of {show(np.round(expected, 2))}",
            got=f"counts {show(counts)}",
        )


# ----------------------------------------------------------------------------------------------
# Mistakes of public code (issue 26)

P_ROWS_INDEXED = (
    "the dropped token ids were used to index the batch's first axis (convai's "
    "logits[sorted_indices[remove]] = -inf: right for one row, but on a batch it drops whole "
    "rows, or raises IndexError): drop per row, e.g. scatter the sorted mask back with "
    "np.put_along_axis and np.where(keep, logits, -np.inf)"
)


def public_top_p_mistakes(logits: np.ndarray, p: float) -> dict[str, np.ndarray]:
    """What top_p_logits returns with the mistakes of public implementations (on a batch)."""
    if logits.ndim < 2:
        return {}
    order = np.argsort(-logits, axis=-1, kind="stable")
    totals = np.cumsum(np.take_along_axis(_softmax(logits), order, axis=-1), axis=-1)
    remove = np.zeros(logits.shape, dtype=bool)
    remove[..., 1:] = totals[..., :-1] > p  # convai's shift: keep the token that crosses p
    ids = order[remove]  # flat token ids: then used as indices of the first axis
    if ids.size and ids.max() >= logits.shape[0]:
        return {}  # that raises IndexError: rows_indexed names it
    rows = logits.copy()
    rows[ids] = -INF
    return {P_ROWS_INDEXED: rows}


@contextmanager
def rows_indexed(logits: np.ndarray, *, call: str) -> Iterator[None]:
    """An IndexError on the first axis of a batch, named: token ids indexed the rows."""
    try:
        yield
    except StudentRaised as error:
        first_axis = "axis 0" in error.text or "dimension 0" in error.text
        if logits.ndim < 2 or "IndexError" not in error.type_names or not first_axis:
            raise
        raise Mismatch(
            error.summary,
            call=call,
            details=[f"where:\n{error.where}"] if error.where else [],
            diagnosis=P_ROWS_INDEXED,
        ) from None
