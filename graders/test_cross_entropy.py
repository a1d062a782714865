"""Grader for `cross_entropy`: log_softmax, cross_entropy (ignore_index, label smoothing as
PyTorch), cross_entropy_grad and perplexity.

Three levels: the hand fixtures (graders/fixtures/cross_entropy.py: the notes' p = [0.7, 0.2, 0.1],
a batch with an ignored row, ignore_index as a valid class, logits above 709), the reference on
random inputs with fixed seeds (C below and above 100, so a target of -100 read as a class
shows), and the properties of the contract (shift invariance, ln C for uniform logits, ignored
rows not counted, the gradient's rows summing to 0, perplexity C for a uniform model). Classic
mistakes are recomputed here on purpose so a failure can name them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import Mismatch, as_array, assert_close, show
from transformer_kit.grader.failures import StudentRaised
from transformer_kit.graders.fixtures import cross_entropy as fixtures
from transformer_kit.solutions import cross_entropy as reference

# ----------------------------------------------------------------------------------------------
# The classic mistakes, by name (the names are what the learner reads after "likely mistake:").

LOG_OF_SOFTMAX = (
    "log(softmax(x)): a probability that underflows to 0 gives log 0 = -inf; compute "
    "log p = x - m - log(sum(exp(x - m))) directly, m the max along the axis"
)
NO_SHIFT = (
    "np.exp overflowed (or underflowed to 0): subtract the max m along the axis "
    "(keepdims=True) before np.exp and add it back, logsumexp(x) = m + log(sum(exp(x - m)))"
)
MAX_NOT_ADDED_BACK = (
    "the max was subtracted inside the exp but not added back: logsumexp(x) = "
    "m + log(sum(exp(x - m))), so log_softmax(x) = x - m - log(sum(exp(x - m)))"
)
ONLY_SHIFTED = "only the max was subtracted (x - max): also subtract log(sum(exp(x - max)))"
RETURNED_SOFTMAX = "returned softmax(x), not its logarithm"
LOG2 = "a base-2 logarithm (bits): use the natural log (nats), as PyTorch does"
WHOLE_SUM = "the sum of exps runs over the whole array: sum along `axis` (keepdims=True)"
IGNORES_AXIS = "log_softmax ignores its `axis` argument (always the last axis)"
NOT_FINITE = (
    "a nan or inf from the log-probabilities: np.exp of logits above 709 overflows, np.log of a "
    "softmax that underflowed to 0 is -inf (and 0 * inf is nan); compute "
    "log p = x - m - log(sum(exp(x - m))) with m the max of each row"
)

OVER_ALL_ROWS = (
    "the mean over all N rows, ignored rows included: divide by the number of kept rows "
    "(targets != ignore_index), not by N"
)
HARD_CODED = (
    "the ignore_index argument is not used (-100 hard-coded, or targets < 0 taken as "
    "ignored): a row is ignored when its target == ignore_index, whatever its value"
)
NOT_IGNORED = (
    "ignored rows were not ignored: a target of ignore_index was used as an index (numpy reads "
    "-100 as class C - 100 when C >= 100); drop the rows with targets == ignore_index"
)
FAIRSEQ = (
    "label smoothing over C - 1 classes (fairseq's e / (C - 1) on the other classes): as "
    "PyTorch, e / C goes to every class, the target included: "
    "-(1 - e) log p[target] - e * mean_c log p[c]"
)
SMOOTH_SUM = (
    "label smoothing with e times the SUM of log p over the classes: it is e times their MEAN "
    "(e / C per class)"
)
SMOOTH_OTHERS = (
    "label smoothing left the target out of the uniform part: e / C goes to every class, the "
    "target included (the target gets 1 - e + e / C)"
)
SMOOTH_IGNORED = (
    "label_smoothing was ignored: the loss is -(1 - e) log p[target] - e * mean_c log p[c]"
)
SMOOTH_PROBS = (
    "label smoothing applied to the predicted probabilities (-log((1 - e) p + e / C)): smooth "
    "the target distribution instead, -(1 - e) log p[target] - e * mean_c log p[c]"
)
SUMMED = "the sum over the kept rows instead of their mean: divide by the number of kept rows"
RAW_LOGITS = (
    "the logits were used as log-probabilities: take log_softmax(logits) first, "
    "loss = logsumexp(row) - row[target]"
)
SIGN = "a sign error: the loss is -log p[target], a positive number"
PER_ROW = "returned the per-row losses: return their mean over the kept rows, one number"

GRAD_SUMMED = (
    "the gradient of the SUM of the row losses: divide (softmax - one_hot) by the number of "
    "kept rows"
)
GRAD_OVER_ALL_ROWS = (
    "the gradient divided by N, ignored rows included: divide by the number of kept rows"
)
GRAD_NOT_ZEROED = (
    "ignored rows not zeroed: an ignored row does not enter the loss, so its gradient is 0"
)
GRAD_SIGN = "a sign error: the gradient is softmax - one_hot, not one_hot - softmax"
GRAD_NO_ONE_HOT = (
    "the one-hot target was not subtracted: the gradient is (softmax - one_hot) / n_kept"
)
GRAD_AXIS = "softmax over the wrong axis (0, the rows): normalise over the classes, the last axis"

PPL_MEAN_OF_EXP = (
    "the mean of the per-row exponentials: perplexity is the exponential of the MEAN loss, "
    "exp(cross_entropy)"
)
PPL_NO_EXP = "returned the cross-entropy itself: perplexity = exp(cross_entropy)"
PPL_BASE_2 = (
    "2 ** (cross-entropy in nats): either exp(loss in nats) or 2 ** (loss in bits), not mixed"
)
PPL_INVERSE = (
    "exp(-cross_entropy), the geometric mean probability: perplexity is exp(+cross_entropy)"
)
PPL_EXP_SUM = "exp of the summed loss: perplexity = exp of the MEAN loss over the kept rows"

DRAWS = (
    "logits = 2 * rng.standard_normal((N, C)), targets = rng.integers(0, C, N), "
    "with rng = np.random.default_rng(seed); then the listed rows get target ignore_index"
)


@contextmanager
def _quiet() -> Iterator[None]:
    """Wrong variants overflow or take log 0 on purpose: no warnings from them."""
    with np.errstate(all="ignore"):
        yield


# ----------------------------------------------------------------------------------------------
# What each mistake computes


def _log_softmax_mistakes(x: np.ndarray, axis: int = -1) -> dict[str, np.ndarray]:
    """Classic mistakes of log_softmax on `x` along `axis`."""
    axis = axis % x.ndim
    with _quiet():
        m = x.max(axis=axis, keepdims=True)
        exp = np.exp(x - m)
        mistakes = {
            MAX_NOT_ADDED_BACK: x - np.log(exp.sum(axis=axis, keepdims=True)),
            ONLY_SHIFTED: x - m,
            RETURNED_SOFTMAX: exp / exp.sum(axis=axis, keepdims=True),
            LOG2: reference.log_softmax(x, axis=axis) / np.log(2.0),
            WHOLE_SUM: x - m - np.log(exp.sum()),
            LOG_OF_SOFTMAX: np.log(exp / exp.sum(axis=axis, keepdims=True)),
            NO_SHIFT: x - np.log(np.exp(x).sum(axis=axis, keepdims=True)),
        }
        if axis != x.ndim - 1:
            mistakes[IGNORES_AXIS] = reference.log_softmax(x, axis=-1)
        for other in range(x.ndim):
            if other != axis:
                mistakes[f"log_softmax over the wrong axis ({other}); use axis={axis}"] = (
                    reference.log_softmax(x, axis=other)
                )
    return mistakes


def _log_p(logits: np.ndarray, log: str = "stable", axis: int = -1) -> np.ndarray:
    """Log-probabilities over the classes, computed right ("stable") or as a mistake does:
    "raw" logits, "unshifted" exp, "no max back", "log2"."""
    with _quiet():
        if log == "raw":
            return logits
        if log == "unshifted":
            return logits - np.log(np.exp(logits).sum(axis=axis, keepdims=True))
        if log == "no max back":
            exp = np.exp(logits - logits.max(axis=axis, keepdims=True))
            return logits - np.log(exp.sum(axis=axis, keepdims=True))
        scale = np.log(2.0) if log == "log2" else 1.0
        return reference.log_softmax(logits, axis=axis) / scale


def _kept_rows(targets: np.ndarray, ignore: int | None, num_classes: int) -> np.ndarray | None:
    """Indices of the rows a version keeps; None if that version would crash on these inputs."""
    if ignore is not None:
        return np.flatnonzero(targets != ignore)
    if np.any((targets < -num_classes) | (targets >= num_classes)):
        return None  # indexing with the ignored target raises IndexError
    return np.arange(targets.size)


def _row_losses(
    logits: np.ndarray,
    targets: np.ndarray,
    rows: np.ndarray,
    smoothing: float,
    *,
    smooth: str = "pytorch",
    log: str = "stable",
) -> np.ndarray:
    """The loss of each row in `rows`, smoothing and the log-probabilities (see _log_p) done
    one way or another."""
    num_classes = logits.shape[-1]
    with _quiet():
        log_p = _log_p(logits, log)[rows]  # (n, C)
        one_hot = np.zeros_like(log_p)
        one_hot[np.arange(rows.size), targets[rows]] = 1.0
        e = smoothing
        if smooth == "probs":
            picked = np.exp(log_p[np.arange(rows.size), targets[rows]])
            return -np.log((1 - e) * picked + e / num_classes)
        weights = {
            "pytorch": (1 - e) * one_hot + e / num_classes,
            "fairseq": (1 - e) * one_hot + e / max(num_classes - 1, 1) * (1 - one_hot),
            "sum": (1 - e) * one_hot + e,
            "others": (1 - e) * one_hot + e / num_classes * (1 - one_hot),
            "none": one_hot,
        }[smooth]
        return -(weights * log_p).sum(axis=-1)


def _loss(
    logits: np.ndarray,
    targets: np.ndarray,
    ignore_index: int = -100,
    smoothing: float = 0.0,
    *,
    ignore: str = "argument",
    divide: str = "kept",
    **options: Any,
) -> float | None:
    """cross_entropy, with one mistake made on purpose when asked (None: it would crash)."""
    which = {"argument": ignore_index, "-100": -100, "none": None}[ignore]
    rows = _kept_rows(targets, which, logits.shape[-1])
    if rows is None or rows.size == 0:
        return None
    losses = _row_losses(logits, targets, rows, smoothing, **options)
    total = float(losses.sum())
    return total / {"kept": rows.size, "all": targets.size, "sum": 1}[divide]


def _loss_mistakes(
    logits: np.ndarray, targets: np.ndarray, ignore_index: int = -100, smoothing: float = 0.0
) -> dict[str, Any]:
    """Classic mistakes of cross_entropy on these inputs (first match wins)."""
    args = (logits, targets, ignore_index, smoothing)
    options: dict[str, dict[str, Any]] = {
        OVER_ALL_ROWS: {"divide": "all"},
        HARD_CODED: {"ignore": "-100"},
        NOT_IGNORED: {"ignore": "none", "divide": "all"},
    }
    if smoothing:
        options[FAIRSEQ] = {"smooth": "fairseq"}
        options[SMOOTH_SUM] = {"smooth": "sum"}
        options[SMOOTH_OTHERS] = {"smooth": "others"}
        options[SMOOTH_IGNORED] = {"smooth": "none"}
        options[SMOOTH_PROBS] = {"smooth": "probs"}
    options[SUMMED] = {"divide": "sum"}
    options[MAX_NOT_ADDED_BACK] = {"log": "no max back"}
    options[RAW_LOGITS] = {"log": "raw"}
    mistakes = {name: _loss(*args, **kw) for name, kw in options.items()}
    good = _loss(*args)
    mistakes[SIGN] = None if good is None else -good
    mistakes[LOG2] = None if good is None else good / np.log(2.0)
    kept = np.flatnonzero(targets != ignore_index)
    losses = _row_losses(logits, targets, kept, smoothing)
    mistakes[PER_ROW] = losses
    full = np.zeros(targets.size)
    full[kept] = losses
    mistakes[PER_ROW + " (here with 0 for the ignored rows)"] = full
    return {name: value for name, value in mistakes.items() if value is not None}


def _grad(
    logits: np.ndarray,
    targets: np.ndarray,
    ignore_index: int = -100,
    *,
    ignore: str = "argument",
    divide: str = "kept",
    zero_ignored: bool = True,
    sign: float = 1.0,
    one_hot: bool = True,
    axis: int = -1,
    log: str = "stable",
) -> np.ndarray | None:
    """cross_entropy_grad, with one mistake made on purpose when asked (None: it would crash)."""
    which = {"argument": ignore_index, "-100": -100, "none": None}[ignore]
    rows = _kept_rows(targets, which, logits.shape[-1])
    if rows is None or rows.size == 0:
        return None
    with _quiet():
        probs = np.exp(_log_p(logits, log, axis=axis))  # (N, C)
    hot = np.zeros_like(probs)
    if one_hot:
        hot[rows, targets[rows]] = 1.0
    grad = sign * (probs - hot) / {"kept": rows.size, "all": targets.size, "sum": 1}[divide]
    if zero_ignored:
        kept = np.zeros(targets.size, dtype=bool)
        kept[rows] = True
        grad = np.where(kept[:, None], grad, 0.0)
    return grad


def _grad_mistakes(
    logits: np.ndarray, targets: np.ndarray, ignore_index: int = -100
) -> dict[str, np.ndarray]:
    """Classic mistakes of cross_entropy_grad on these inputs (first match wins)."""
    options: dict[str, dict[str, Any]] = {
        GRAD_OVER_ALL_ROWS: {"divide": "all"},
        GRAD_NOT_ZEROED: {"zero_ignored": False},
        HARD_CODED: {"ignore": "-100"},
        NOT_IGNORED: {"ignore": "none", "divide": "all"},
        GRAD_SUMMED: {"divide": "sum"},
        GRAD_SIGN: {"sign": -1.0},
        GRAD_NO_ONE_HOT: {"one_hot": False},
        GRAD_AXIS: {"axis": 0},
        NO_SHIFT: {"log": "unshifted"},
        MAX_NOT_ADDED_BACK: {"log": "no max back"},
        LOG2: {"log": "log2"},
    }
    with _quiet():
        mistakes = {
            name: _grad(logits, targets, ignore_index, **kw) for name, kw in options.items()
        }
    return {name: value for name, value in mistakes.items() if value is not None}


def _perplexity_mistakes(
    logits: np.ndarray, targets: np.ndarray, ignore_index: int = -100
) -> dict[str, float]:
    """Classic mistakes of perplexity on these inputs (first match wins)."""
    kept = np.flatnonzero(targets != ignore_index)
    losses = _row_losses(logits, targets, kept, 0.0)
    loss = float(losses.mean())
    with _quiet():
        mistakes = _perplexity_values(logits, targets, ignore_index, losses, loss)
        mistakes[PPL_ROUNDED] = round(float(np.exp(loss)), 2)
    return {name: value for name, value in mistakes.items() if value is not None}


def _perplexity_values(
    logits: np.ndarray, targets: np.ndarray, ignore_index: int, losses: np.ndarray, loss: float
) -> dict[str, float | None]:
    return {
        OVER_ALL_ROWS: float(np.exp(losses.sum() / targets.size)),
        HARD_CODED: _exp(_loss(logits, targets, ignore_index, ignore="-100")),
        NOT_IGNORED: _exp(_loss(logits, targets, ignore_index, ignore="none", divide="all")),
        PPL_MEAN_OF_EXP: float(np.mean(np.exp(losses))),
        PPL_NO_EXP: loss,
        PPL_BASE_2: float(2.0**loss),
        PPL_INVERSE: float(np.exp(-loss)),
        PPL_EXP_SUM: float(np.exp(losses.sum())),
        LOG2: _exp(loss / np.log(2.0)),
        MAX_NOT_ADDED_BACK: _exp(_loss(logits, targets, ignore_index, log="no max back")),
        RAW_LOGITS: _exp(_loss(logits, targets, ignore_index, log="raw")),
    }


def _exp(value: float | None) -> float | None:
    with _quiet():
        return None if value is None else float(np.exp(value))


# ----------------------------------------------------------------------------------------------
# Inputs and checks


def _random(
    seed: int, n: int, num_classes: int, ignored: tuple[int, ...], ignore_index: int = -100
) -> tuple[np.ndarray, np.ndarray, str]:
    """Random logits and targets, `ignored` rows set to ignore_index, and how they were drawn."""
    rng = np.random.default_rng(seed)
    logits = 2.0 * rng.standard_normal((n, num_classes))
    targets = rng.integers(0, num_classes, n)
    targets[list(ignored)] = ignore_index
    rows = f"rows {list(ignored)}" if ignored else "no rows"
    text = f"logits ({n}, {num_classes}), targets ({n},); seed={seed}: {DRAWS} ({rows})"
    return logits, targets, text


def _hand(prefix: str) -> tuple[np.ndarray, np.ndarray]:
    logits = np.array(getattr(fixtures, f"{prefix}_LOGITS"), dtype=np.float64)
    targets = np.array(getattr(fixtures, f"{prefix}_TARGETS"), dtype=np.int64)
    return logits, targets


def _options(ignore_index: int, smoothing: float = 0.0) -> str:
    parts = [] if ignore_index == -100 else [f"ignore_index={ignore_index}"]
    parts += [f"label_smoothing={smoothing}"] if smoothing else []
    return "".join(f", {p}" for p in parts)


def _scalar_close(got: Any, expected: float, *, call: str, what: str, mistakes: Mapping) -> None:
    """One real number: a nan or inf is named as an overflow before the value is compared."""
    array = as_array(got, call=call, what=what)
    if array.shape == () and not np.isfinite(array) and np.isfinite(expected):
        raise Mismatch(
            f"the {what} is {float(array)} where a finite number was expected",
            call=call,
            expected=f"{expected:.6g}",
            got=show(array),
            diagnosis=NOT_FINITE,
        )
    assert_close(got, expected, call=call, what=what, mistakes=mistakes)


def _check_loss(
    student: Any,
    logits: np.ndarray,
    targets: np.ndarray,
    ignore_index: int = -100,
    smoothing: float = 0.0,
    *,
    call: str,
    expected: float | None = None,
) -> None:
    kwargs: dict[str, Any] = {}
    if ignore_index != -100:
        kwargs["ignore_index"] = ignore_index
    if smoothing:
        kwargs["label_smoothing"] = smoothing
    with ignore_index_as_class(targets, ignore_index, call=call):
        got = student.cross_entropy(logits, targets, **kwargs)
    want = reference.cross_entropy(logits, targets, ignore_index, smoothing)
    _scalar_close(
        got,
        want if expected is None else expected,
        call=call,
        what="loss",
        mistakes=_loss_mistakes(logits, targets, ignore_index, smoothing),
    )


def _check_grad(
    student: Any,
    logits: np.ndarray,
    targets: np.ndarray,
    ignore_index: int = -100,
    *,
    call: str,
    expected: Any = None,
    got: Any = None,
) -> None:
    kwargs = {} if ignore_index == -100 else {"ignore_index": ignore_index}
    if got is None:
        with ignore_index_as_class(targets, ignore_index, call=call):
            got = student.cross_entropy_grad(logits, targets, **kwargs)
    want = reference.cross_entropy_grad(logits, targets, ignore_index)
    assert_close(
        got,
        want if expected is None else expected,
        call=call,
        what="gradient",
        mistakes=_grad_mistakes(logits, targets, ignore_index),
    )


def _check_perplexity(
    student: Any,
    logits: np.ndarray,
    targets: np.ndarray,
    ignore_index: int = -100,
    *,
    call: str,
    expected: float | None = None,
) -> None:
    kwargs = {} if ignore_index == -100 else {"ignore_index": ignore_index}
    with ignore_index_as_class(targets, ignore_index, call=call):
        got = student.perplexity(logits, targets, **kwargs)
    want = reference.perplexity(logits, targets, ignore_index)
    _scalar_close(
        got,
        want if expected is None else expected,
        call=call,
        what="perplexity",
        mistakes=_perplexity_mistakes(logits, targets, ignore_index),
    )


def _check_log_softmax(student: Any, x: np.ndarray, axis: int, expected: Any, call: str) -> None:
    got = student.log_softmax(x) if axis == -1 else student.log_softmax(x, axis=axis)
    array = as_array(got, call=call, what="log-probabilities")
    mistakes = _log_softmax_mistakes(x, axis)
    if array.shape == x.shape and not np.isfinite(array).all():
        named = {k: v for k, v in mistakes.items() if np.shape(v) == x.shape}
        diagnosis = next(
            (k for k, v in named.items() if np.allclose(array, v, equal_nan=True)), NO_SHIFT
        )
        raise Mismatch(
            "log_softmax returned nan or inf for large inputs",
            call=call,
            expected=show(np.asarray(expected)),
            got=show(array),
            diagnosis=diagnosis,
        )
    assert_close(got, expected, call=call, what="log-probabilities", mistakes=mistakes)


# ----------------------------------------------------------------------------------------------
# Level 1: hand-computed fixtures


@pytest.mark.weight(1)
def test_log_softmax_hand(student: Any) -> None:
    """log_softmax([1, 2, 3]) matches the hand computation"""
    x = np.array(fixtures.LOG_SOFTMAX_INPUT)
    _check_log_softmax(student, x, -1, fixtures.LOG_SOFTMAX_OUTPUT, "log_softmax([1., 2., 3.])")
    rows = np.array([fixtures.LOG_SOFTMAX_INPUT, [0.0, 0.0, 0.0]])
    expected = [fixtures.LOG_SOFTMAX_OUTPUT, [-np.log(3.0)] * 3]  # a uniform row: -ln 3 each
    _check_log_softmax(student, rows, -1, expected, f"log_softmax({rows.tolist()})")


@pytest.mark.weight(2)
def test_log_softmax_stable(student: Any) -> None:
    """log_softmax is finite for large inputs: log_softmax([1000, 0]) = [0, -1000]"""
    cases = [
        (fixtures.LOG_SOFTMAX_LARGE_INPUT, fixtures.LOG_SOFTMAX_LARGE_OUTPUT),
        (fixtures.LOG_SOFTMAX_NEGATIVE_INPUT, fixtures.LOG_SOFTMAX_NEGATIVE_OUTPUT),
        ([1000.0, 1001.0, 1002.0], fixtures.LOG_SOFTMAX_OUTPUT),  # = log_softmax([1, 2, 3])
    ]
    for values, expected in cases:
        x = np.array(values)
        _check_log_softmax(student, x, -1, expected, f"log_softmax({values})")


@pytest.mark.weight(1)
def test_cross_entropy_notes(student: Any) -> None:
    """cross_entropy of p = [0.7, 0.2, 0.1] with target 0 is -ln 0.7"""
    logits, targets = _hand("NOTES")
    call = "cross_entropy(logits=[[ln 0.7, ln 0.2, ln 0.1]], targets=[0])"
    _check_loss(student, logits, targets, call=call, expected=fixtures.NOTES_LOSS)


@pytest.mark.weight(2)
def test_cross_entropy_hand(student: Any) -> None:
    """cross_entropy on a hand batch with one ignored row (target -100)"""
    logits, targets = _hand("HAND")
    call = f"cross_entropy(logits={logits.tolist()}, targets={targets.tolist()})"
    _check_loss(student, logits, targets, call=call, expected=fixtures.HAND_LOSS)


@pytest.mark.weight(2)
def test_cross_entropy_smoothing_hand(student: Any) -> None:
    """cross_entropy with label_smoothing=0.1 on the hand batch (e / C to every class)"""
    logits, targets = _hand("HAND")
    e = fixtures.HAND_SMOOTHING
    call = (
        f"cross_entropy(logits={logits.tolist()}, targets={targets.tolist()}, label_smoothing={e})"
    )
    _check_loss(student, logits, targets, -100, e, call=call, expected=fixtures.HAND_SMOOTH_LOSS)


@pytest.mark.weight(1)
def test_cross_entropy_ignore_index_is_a_class(student: Any) -> None:
    """ignore_index=1, a valid class id: the rows with target 1 are ignored"""
    logits = np.array(fixtures.HAND_LOGITS)
    targets = np.array(fixtures.IGNORE_CLASS_TARGETS)
    index = fixtures.IGNORE_CLASS_INDEX
    call = (
        f"cross_entropy(logits={logits.tolist()}, targets={targets.tolist()}, ignore_index={index})"
    )
    _check_loss(student, logits, targets, index, call=call, expected=fixtures.IGNORE_CLASS_LOSS)


@pytest.mark.weight(2)
def test_cross_entropy_large_logits(student: Any) -> None:
    """cross_entropy is finite for logits above 709 (np.exp(710) overflows)"""
    logits, targets = _hand("LARGE")
    # rows [710, 712] and [0, 1000] first, where an unshifted exp overflows; then all three,
    # with row [1000, 0] whose target probability underflows to 0 (log(softmax) gives inf)
    overflow = (logits[[2, 1]], targets[[2, 1]])
    expected = (fixtures.LARGE_LOSS * 3 - 1000.0) / 2  # rows 2 and 1: (2.12692801 + 0) / 2
    for (lg, tg), want in ((overflow, expected), ((logits, targets), fixtures.LARGE_LOSS)):
        call = f"cross_entropy(logits={lg.tolist()}, targets={tg.tolist()})"
        _check_loss(student, lg, tg, call=call, expected=want)


@pytest.mark.weight(2)
def test_cross_entropy_grad_hand(student: Any) -> None:
    """cross_entropy_grad on the hand examples: (softmax - one_hot) / n_kept, 0 when ignored"""
    for prefix in ("NOTES", "HAND", "LARGE"):
        logits, targets = _hand(prefix)
        call = f"cross_entropy_grad(logits={logits.tolist()}, targets={targets.tolist()})"
        if prefix == "NOTES":
            call = "cross_entropy_grad(logits=[[ln 0.7, ln 0.2, ln 0.1]], targets=[0])"
        expected = getattr(fixtures, f"{prefix}_GRAD")
        _check_grad(student, logits, targets, call=call, expected=expected)
    logits = np.array(fixtures.HAND_LOGITS)
    targets = np.array(fixtures.IGNORE_CLASS_TARGETS)
    call = (
        f"cross_entropy_grad(logits={logits.tolist()}, targets={targets.tolist()}, "
        f"ignore_index={fixtures.IGNORE_CLASS_INDEX})"
    )
    _check_grad(
        student,
        logits,
        targets,
        fixtures.IGNORE_CLASS_INDEX,
        call=call,
        expected=fixtures.IGNORE_CLASS_GRAD,
    )


@pytest.mark.weight(2)
def test_perplexity_hand(student: Any) -> None:
    """perplexity on the hand examples: exp of the mean loss over the kept rows"""
    logits, targets = _hand("NOTES")
    call = "perplexity(logits=[[ln 0.7, ln 0.2, ln 0.1]], targets=[0])"
    _check_perplexity(student, logits, targets, call=call, expected=fixtures.NOTES_PERPLEXITY)
    for prefix in ("HAND", "PPL_LARGE"):
        logits, targets = _hand(prefix)
        call = f"perplexity(logits={logits.tolist()}, targets={targets.tolist()})"
        expected = getattr(fixtures, f"{prefix}_PERPLEXITY")
        _check_perplexity(student, logits, targets, call=call, expected=expected)
    logits = np.array(fixtures.HAND_LOGITS)
    targets = np.array(fixtures.IGNORE_CLASS_TARGETS)
    index = fixtures.IGNORE_CLASS_INDEX
    call = f"perplexity(logits={logits.tolist()}, targets={targets.tolist()}, ignore_index={index})"
    _check_perplexity(
        student, logits, targets, index, call=call, expected=fixtures.IGNORE_CLASS_PERPLEXITY
    )


# ----------------------------------------------------------------------------------------------
# Level 2: the reference on random inputs

LOG_SOFTMAX_CASES = [((5,), -1), ((3, 4), -1), ((4, 4), 0), ((2, 3, 4), 1), ((3, 130), -1)]

# (seed, N, C, ignored rows, ignore_index, label_smoothing): C below and above 100 (a target of
# -100 indexes class C - 100 when C >= 100, and raises IndexError below), ignore_index -100, a
# negative one that also indexes (-1: the last class) and a valid class id, N = 1.
LOSS_CASES = [
    (0, 6, 5, (1, 4), -100, 0.0),
    (1, 5, 7, (0,), -100, 0.2),
    (2, 8, 128, (2, 3, 7), -100, 0.0),
    (3, 4, 150, (1,), -100, 0.1),
    (4, 6, 3, (0, 5), -1, 0.3),
    (5, 7, 6, (2, 3), 4, 0.05),
    (6, 1, 4, (), -100, 0.0),
]


def _loss_case_id(case: tuple[Any, ...]) -> str:
    seed, n, num_classes, ignored, index, e = case
    _, targets, _ = _random(seed, n, num_classes, ignored, index)
    count = int((targets == index).sum())  # the listed rows, and any drawn target == index
    return f"seed{seed}-N{n}-C{num_classes}-ignored{count}-index{index}-smooth{e}"


@pytest.mark.weight(1)
def test_log_softmax_random(student: Any) -> None:
    """log_softmax matches the reference on random arrays and axes"""
    for seed, (shape, axis) in enumerate(LOG_SOFTMAX_CASES):
        x = 3.0 * np.random.default_rng(seed).standard_normal(shape)
        call = (
            f"log_softmax(x, axis={axis}), "
            f"x = 3 * np.random.default_rng({seed}).standard_normal({shape})"
        )
        _check_log_softmax(student, x, axis, reference.log_softmax(x, axis=axis), call)


@pytest.mark.weight(2)
@pytest.mark.parametrize("case", LOSS_CASES, ids=_loss_case_id)
def test_cross_entropy_random(student: Any, case: tuple[Any, ...]) -> None:
    """cross_entropy matches the reference (ignored rows, label smoothing, C above 100)"""
    seed, n, num_classes, ignored, index, e = case
    logits, targets, text = _random(seed, n, num_classes, ignored, index)
    call = f"cross_entropy({text}{_options(index, e)})"
    _check_loss(student, logits, targets, index, e, call=call)


@pytest.mark.weight(2)
@pytest.mark.parametrize("case", LOSS_CASES[::2] + LOSS_CASES[5:6], ids=_loss_case_id)
def test_cross_entropy_grad_random(student: Any, case: tuple[Any, ...]) -> None:
    """cross_entropy_grad matches the reference (ignored rows, C above 100)"""
    seed, n, num_classes, ignored, index, _ = case
    logits, targets, text = _random(seed, n, num_classes, ignored, index)
    _check_grad(
        student, logits, targets, index, call=f"cross_entropy_grad({text}{_options(index)})"
    )


@pytest.mark.weight(1)
@pytest.mark.parametrize("case", LOSS_CASES[1:4] + LOSS_CASES[4:6], ids=_loss_case_id)
def test_perplexity_random(student: Any, case: tuple[Any, ...]) -> None:
    """perplexity matches the reference (ignored rows, C above 100)"""
    seed, n, num_classes, ignored, index, _ = case
    logits, targets, text = _random(seed, n, num_classes, ignored, index)
    _check_perplexity(student, logits, targets, index, call=f"perplexity({text}{_options(index)})")


# ----------------------------------------------------------------------------------------------
# Level 3: properties of the contract


@pytest.mark.weight(1)
def test_log_softmax_properties(student: Any) -> None:
    """exp(log_softmax) sums to 1, and log_softmax(x + c) = log_softmax(x)"""
    rng = np.random.default_rng(7)
    for shape, axis in (((3, 5), -1), ((4, 3), 0)):
        x = 3.0 * rng.standard_normal(shape)
        shift_shape = list(shape)
        shift_shape[axis] = 1  # one constant per row (axis=-1) or per column (axis=0)
        shift = 800.0 + 100.0 * rng.standard_normal(shift_shape)
        call = f"log_softmax(x, axis={axis}), x = 3 * standard_normal{shape}, seed=7"
        got = as_array(student.log_softmax(x, axis=axis), call=call, what="log-probabilities")
        assert_close(
            got,
            reference.log_softmax(x, axis=axis),
            call=call,
            what="log-probabilities",
            mistakes=_log_softmax_mistakes(x, axis),
        )
        sums = np.exp(got).sum(axis=axis)
        if not np.allclose(sums, 1.0, rtol=0, atol=1e-5):
            raise Mismatch(
                f"exp(log_softmax) does not sum to 1 along axis={axis}",
                call=call,
                expected="every sum 1.0",
                got=f"sums {show(sums)}",
                diagnosis="subtract logsumexp along the same axis (keepdims=True)",
            )
        shifted_call = (
            f"log_softmax(x + c, axis={axis}), c = 800 + 100 * standard_normal"
            f"{tuple(shift_shape)} (seed=7): constant along axis {axis}, above 709"
        )
        _check_log_softmax(
            student, x + shift, axis, reference.log_softmax(x, axis=axis), shifted_call
        )


@pytest.mark.weight(1)
def test_cross_entropy_uniform_is_log_c(student: Any) -> None:
    """uniform logits give a loss of ln C, with or without smoothing"""
    for n, num_classes, e in ((3, 4, 0.0), (2, 200, 0.0), (4, 10, 0.25)):
        logits = np.zeros((n, num_classes))
        targets = np.arange(n) % num_classes
        call = (
            f"cross_entropy(np.zeros(({n}, {num_classes})), targets={targets.tolist()}"
            f"{_options(-100, e)}): every class has p = 1/{num_classes}"
        )
        _check_loss(student, logits, targets, -100, e, call=call, expected=np.log(num_classes))


@pytest.mark.weight(2)
def test_ignored_rows_do_not_count(student: Any) -> None:
    """rows with target == ignore_index change nothing: the loss equals that of the kept rows"""
    for seed, num_classes, index in ((20, 5, -100), (21, 120, -100), (22, 6, 0)):
        logits, targets, text = _random(seed, 6, num_classes, (1, 4), index)
        kept = targets != index
        kept_call = f"cross_entropy(logits[kept], targets[kept]{_options(index)}), {text}"
        kwargs = {} if index == -100 else {"ignore_index": index}
        alone = student.cross_entropy(logits[kept], targets[kept], **kwargs)
        want = reference.cross_entropy(logits[kept], targets[kept], index)
        _scalar_close(
            alone,
            want,
            call=kept_call,
            what="loss",
            mistakes=_loss_mistakes(logits[kept], targets[kept], index),
        )
        other = logits.copy()
        other[~kept] = 50.0 * np.random.default_rng(seed + 100).standard_normal(other[~kept].shape)
        for values, label in ((logits, "logits"), (other, "logits with new ignored rows")):
            call = (
                f"cross_entropy({label}, targets{_options(index)}), {text}; "
                f"rows 1 and 4 ignored, so the result should be cross_entropy of the other rows"
            )
            _check_loss(student, values, targets, index, call=call, expected=float(want))


@pytest.mark.weight(1)
def test_smoothing_extremes(student: Any) -> None:
    """label_smoothing=0 is the plain loss; label_smoothing=1 is -mean over every class of log p"""
    logits, targets, text = _random(30, 5, 4, (2,))
    for e in (0.0, 1.0):
        call = f"cross_entropy({text}, label_smoothing={e})"
        got = student.cross_entropy(logits, targets, label_smoothing=e)
        _scalar_close(
            got,
            reference.cross_entropy(logits, targets, label_smoothing=e),
            call=call,
            what="loss",
            mistakes=_loss_mistakes(logits, targets, -100, e),
        )


@pytest.mark.weight(1)
def test_grad_rows_sum_to_zero(student: Any) -> None:
    """every kept row of the gradient sums to 0, every ignored row is 0, N = 1 keeps its axis"""
    for seed, n, num_classes, ignored in ((40, 5, 4, (0, 3)), (41, 1, 6, ()), (42, 3, 101, (1,))):
        logits, targets, text = _random(seed, n, num_classes, ignored)
        call = f"cross_entropy_grad({text})"
        got = student.cross_entropy_grad(logits, targets)
        grad = as_array(got, call=call, what="gradient")
        sums = grad.sum(axis=-1) if grad.shape == logits.shape else None
        if sums is not None and np.isfinite(sums).all() and not np.allclose(sums, 0.0, atol=1e-6):
            mistakes = _grad_mistakes(logits, targets)
            named = (k for k, v in mistakes.items() if np.allclose(grad, v, rtol=1e-4, atol=1e-6))
            raise Mismatch(
                "the rows of the gradient do not sum to 0",
                call=call,
                expected="every row sum 0 (the softmax sums to 1, the one-hot too)",
                got=f"row sums {show(sums)}",
                diagnosis=next(named, "each kept row is (softmax(row) - one_hot) / n_kept"),
            )
        _check_grad(student, logits, targets, call=call, got=got)


@pytest.mark.weight(1)
def test_perplexity_uniform_is_c(student: Any) -> None:
    """a model uniform over C classes has perplexity C (ignored rows included)"""
    for n, num_classes in ((4, 10), (5, 250)):
        logits = np.zeros((n, num_classes))
        targets = np.arange(n) * 3 % num_classes
        targets[1] = -100
        call = (
            f"perplexity(np.zeros(({n}, {num_classes})), targets={targets.tolist()}): every "
            f"class has p = 1/{num_classes}"
        )
        _check_perplexity(student, logits, targets, call=call, expected=float(num_classes))


# ----------------------------------------------------------------------------------------------
# Mistakes of public code (issue 26)

PPL_ROUNDED = (
    "rounded to 2 decimals (fairseq's logging helper, round(2**loss, 2)): return the exact "
    "exp(cross_entropy); round only when printing"
)
INDEX_WITH_IGNORED = NOT_IGNORED + " (with C < 100, as here, numpy raises IndexError instead)"


@contextmanager
def ignore_index_as_class(targets: np.ndarray, ignore_index: int, *, call: str) -> Iterator[None]:
    """An IndexError on targets holding ignore_index, named: the ignored target was an index."""
    try:
        yield
    except StudentRaised as error:
        if "IndexError" not in error.type_names or not np.any(targets == ignore_index):
            raise
        raise Mismatch(
            error.summary,
            call=call,
            details=[f"where:\n{error.where}"] if error.where else [],
            diagnosis=INDEX_WITH_IGNORED,
        ) from None
