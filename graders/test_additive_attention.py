"""Grader for additive_attention: additive_attention (Bahdanau) and luong_attention (dot and
general), for one decoder step of a batch, with a boolean mask where True means "may attend".

Three levels: the hand-computed fixtures (logarithms that make every exponential a whole number),
the reference on random inputs of several shapes with printed seeds (B > 1 always, Dq != Dk != A so
a swapped weight has the wrong shape, square ones where it would not, masks that remove most keys
and leave one), and the contract's properties (scores of +-1000, masked keys whose values cannot
matter, keys permuted with their values, "dot" as "general" with w = I, the ValueErrors). Classic
mistakes are recomputed here on purpose so a failure can name them.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import Mismatch, assert_close, assert_raises, unpack
from transformer_kit.graders.fixtures import additive_attention as fixtures
from transformer_kit.graders.messages import attention as messages
from transformer_kit.solutions import additive_attention as reference

# --- the classic mistakes, by name ----------------------------------------------------------------

SCALED_A = (
    "the additive scores scaled by 1/sqrt(A) (as scaled dot-product attention): Bahdanau's "
    "scores v . tanh(...) are not scaled"
)
SCALED_DK = (
    "the additive scores scaled by 1/sqrt(Dk) (as scaled dot-product attention): Bahdanau's "
    "scores v . tanh(...) are not scaled"
)
NO_TANH = "the tanh is missing: scores = v . tanh(query @ w_q + key @ w_k)"
NO_V = "the scores summed over A instead of a dot with v: scores = tanh(...) @ v"
W_SWAPPED = "w_q and w_k swapped: the query goes through w_q (Dq, A), each key through w_k (Dk, A)"
AXIS_BATCH = (
    "softmax over the batch axis (0): normalise each example's scores over its S keys, the last "
    "axis"
)
INVERTED = (
    "inverted mask (True treated as ignored, as nn.MultiheadAttention's key_padding_mask): here "
    "True means 'may attend'"
)
MASK_IGNORED = "the mask is not applied: set the scores where mask is False to -inf before softmax"
UNSTABLE = (
    "softmax without subtracting each row's max: exp(1000) overflows; subtract the row's max "
    "score first (the result is the same)"
)
LUONG_SCALED = (
    "Luong's scores scaled by 1/sqrt(d) (as scaled dot-product attention): Luong's scores are "
    "not scaled"
)
GENERAL_W_T = (
    "the general score with w transposed, query @ w.T @ key: it is query @ w @ key with w (Dq, Dk)"
)

DRAWS = "drawn in this order with np.random.default_rng(seed)"


@contextmanager
def _quiet() -> Iterator[None]:
    """Mistakes recomputed on purpose overflow or divide 0 by 0: no warnings from them."""
    with np.errstate(all="ignore"):
        yield


# --- the attention with a switch per mistake ------------------------------------------------------


def _weights(
    scores: Any, mask: Any, *, how: str = "fill", axis: int = -1, shift: bool = True
) -> Any:
    """A softmax of the scores with one mask or softmax mistake switched on."""
    if mask is not None and how in ("fill", "inverted"):
        scores = np.where(mask if how == "fill" else ~mask, scores, -np.inf)
    if mask is not None and how == "zero":
        scores = np.where(mask, scores, 0.0)
    top = scores.max(axis=axis, keepdims=True) if shift else 0.0
    e = np.exp(scores - top)
    weights = e / e.sum(axis=axis, keepdims=True)
    return weights * mask if mask is not None and how == "after" else weights


SOFTMAX_MISTAKES: dict[str, dict[str, Any]] = {
    AXIS_BATCH: {"axis": 0},
    messages.AFTER_SOFTMAX: {"how": "after"},
    INVERTED: {"how": "inverted"},
    messages.FILL_ZERO: {"how": "zero"},
    MASK_IGNORED: {"how": "none"},
    UNSTABLE: {"shift": False},
}


def _results(scores: Any, values: Any, mask: Any, **options: Any) -> tuple[Any, Any]:
    weights = _weights(scores, mask, **options)
    return np.einsum("bs,bsd->bd", weights, values), weights


def _differ(value: Any, right: Any) -> bool:
    return not np.allclose(value, right, rtol=1e-4, atol=1e-6, equal_nan=True)


def _named(
    wrong_scores: dict[str, Any], scores: Any, values: Any, mask: Any
) -> dict[str, dict[str, Any]]:
    """Each mistake's context and weights, from its scores or its softmax, where they differ."""
    right_context, right_weights = _results(scores, values, mask)
    wrong: dict[str, dict[str, Any]] = {"context": {}, "weights": {}}
    with _quiet():
        made = {name: _results(s, values, mask) for name, s in wrong_scores.items()}
        made |= {name: _results(scores, values, mask, **o) for name, o in SOFTMAX_MISTAKES.items()}
    for name, (context, weights) in made.items():
        if _differ(weights, right_weights) or _differ(context, right_context):
            wrong["context"][name], wrong["weights"][name] = context, weights
    return wrong


def _additive_scores(query: Any, keys: Any, w_q: Any, w_k: Any, v: Any) -> Any:
    return np.tanh((query @ w_q)[:, None, :] + keys @ w_k) @ v


def additive_mistakes(args: tuple[Any, ...], mask: Any) -> dict[str, dict[str, Any]]:
    """What each classic mistake returns for additive_attention(*args, mask=mask)."""
    query, keys, values, w_q, w_k, v = args
    hidden = (query @ w_q)[:, None, :] + keys @ w_k
    scores = np.tanh(hidden) @ v
    wrong_scores = {
        SCALED_A: scores / math.sqrt(v.shape[0]),
        SCALED_DK: scores / math.sqrt(keys.shape[-1]),
        NO_TANH: hidden @ v,
        NO_V: np.tanh(hidden).sum(axis=-1),
    }
    if w_q.shape == w_k.shape:
        wrong_scores[W_SWAPPED] = _additive_scores(query, keys, w_k, w_q, v)
    return _named(wrong_scores, scores, values, mask)


def luong_mistakes(args: tuple[Any, ...], score: str, w: Any, mask: Any) -> dict[str, Any]:
    """What each classic mistake returns for luong_attention(*args, score, w, mask=mask)."""
    query, keys, values = args
    projected = query if score == "dot" else query @ w
    scores = np.einsum("bk,bsk->bs", projected, keys)
    wrong_scores = {LUONG_SCALED: scores / math.sqrt(keys.shape[-1])}
    if score == "general" and w.shape[0] == w.shape[1]:
        wrong_scores[GENERAL_W_T] = np.einsum("bk,bsk->bs", query @ w.T, keys)
    return _named(wrong_scores, scores, values, mask)


# --- checks ---------------------------------------------------------------------------------------


def _check_pair(got: Any, want: tuple[Any, Any], wrong: dict[str, Any], call: str) -> None:
    """(context, weights): the pair, then the weights (they name the most), then the context."""
    context, weights = unpack(got, 2, call=call, what="result (context, weights)")
    assert_close(
        weights, want[1], call=call, what="second result (weights)", mistakes=wrong["weights"]
    )
    assert_close(
        context, want[0], call=call, what="first result (context)", mistakes=wrong["context"]
    )


def check_additive(
    student: Any, args: tuple[Any, ...], mask: Any, call: str, expected: Any = None
) -> None:
    want = expected or reference.additive_attention(*args, mask=mask)
    got = student.additive_attention(*args, mask=mask)
    _check_pair(got, want, additive_mistakes(args, mask), call)


def check_luong(
    student: Any,
    args: tuple[Any, ...],
    score: str,
    w: Any,
    mask: Any,
    call: str,
    expected: Any = None,
) -> None:
    want = expected or reference.luong_attention(*args, score=score, w=w, mask=mask)
    got = student.luong_attention(*args, score=score, w=w, mask=mask)
    _check_pair(got, want, luong_mistakes(args, score, w, mask), call)


def _hand(*values: Any) -> tuple[np.ndarray, ...]:
    return tuple(np.array(v, dtype=np.float64) for v in values)


# --- random inputs --------------------------------------------------------------------------------


def random_mask(rng: np.random.Generator, batch: int, length: int, keep: float) -> np.ndarray:
    """Each key kept with probability `keep`, and one random key of each row always kept."""
    mask = rng.random((batch, length)) < keep
    mask[np.arange(batch), rng.integers(0, length, batch)] = True
    return mask


def random_attention(
    seed: int, batch: int, length: int, dq: int, dk: int, dv: int, keep: float | None
) -> tuple[tuple[np.ndarray, ...], np.ndarray | None]:
    """(query (B, Dq), keys (B, S, Dk), values (B, S, Dv)) and a mask (B, S) or None."""
    rng = np.random.default_rng(seed)
    query = rng.standard_normal((batch, dq))
    keys = rng.standard_normal((batch, length, dk))
    values = rng.standard_normal((batch, length, dv))
    mask = None if keep is None else random_mask(rng, batch, length, keep)
    return (query, keys, values), mask


def random_weights(seed: int, dq: int, dk: int, hidden: int) -> tuple[np.ndarray, ...]:
    """w_q (Dq, A), w_k (Dk, A), v (A,) and Luong's w (Dq, Dk), from default_rng(seed + 100)."""
    rng = np.random.default_rng(seed + 100)
    w_q = rng.standard_normal((dq, hidden))
    w_k = rng.standard_normal((dk, hidden))
    v = 2.0 * rng.standard_normal(hidden)
    w = rng.standard_normal((dq, dk))
    return w_q, w_k, v, w


def inputs_text(seed: int, args: tuple[Any, ...], mask: Any, keep: float | None) -> str:
    query, keys, values = args[:3]
    masked = "no mask" if mask is None else f"a mask (B, S) of rng.random((B, S)) < {keep}"
    return (
        f"query {query.shape}, keys {keys.shape}, values {values.shape}, {masked}; seed={seed}: "
        f"query, keys and values {DRAWS}.standard_normal, then the mask, with one key per row "
        "(rng.integers) kept; w_q = g, w_k = g, v = 2 * g and Luong's w = g, each g drawn in "
        "this order with np.random.default_rng(seed + 100).standard_normal"
    )


# (seed, B, S, Dq, Dk, Dv, A, keep): B > 1 always, Dq != Dk != A in most, square weights in one
# (swapped or transposed ones fit there), masks that remove most keys (keep 0.2) and none at all
CASES = [
    (0, 2, 5, 3, 4, 2, 6, None),
    (1, 3, 7, 4, 4, 3, 4, 0.5),
    (2, 4, 9, 2, 5, 1, 3, 0.2),
    (3, 2, 1, 3, 2, 4, 5, None),
    (4, 5, 12, 6, 3, 2, 7, 0.2),
]
IDS = [f"seed{c[0]}-S{c[2]}" + ("" if c[7] is None else f"-keep{c[7]}") for c in CASES]


# --- additive_attention ---------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_additive_hand(student: Any) -> None:
    """additive_attention by hand: weights 16/21, 4/21, 1/21 and, with a key masked, 1/5, 4/5, 0"""
    f = fixtures
    args = _hand(f.ADD_QUERY, f.ADD_KEYS, f.ADD_VALUES, f.ADD_W_Q, f.ADD_W_K, f.ADD_V)
    call = (
        f"additive_attention(query={f.ADD_QUERY}, keys={f.ADD_KEYS}, values={f.ADD_VALUES}, "
        f"w_q=[[ln 3]], w_k=[[ln 3]], v=[2.5 ln 2], mask={f.ADD_MASK})"
    )
    want = (np.array(f.ADD_CONTEXT), np.array(f.ADD_WEIGHTS))
    check_additive(student, args, np.array(f.ADD_MASK), call, want)


@pytest.mark.weight(3)
@pytest.mark.parametrize("seed, batch, length, dq, dk, dv, hidden, keep", CASES, ids=IDS)
def test_additive_random(
    student: Any,
    seed: int,
    batch: int,
    length: int,
    dq: int,
    dk: int,
    dv: int,
    hidden: int,
    keep: float | None,
) -> None:
    """additive_attention matches the reference on random inputs, masked and not"""
    (query, keys, values), mask = random_attention(seed, batch, length, dq, dk, dv, keep)
    w_q, w_k, v, _ = random_weights(seed, dq, dk, hidden)
    args = (query, keys, values, w_q, w_k, v)
    call = f"additive_attention({inputs_text(seed, args, mask, keep)}, A={hidden})"
    check_additive(student, args, mask, call)


@pytest.mark.weight(1)
def test_additive_large_scores(student: Any) -> None:
    """additive_attention stays finite and exact when v makes the scores reach +-1000"""
    (query, keys, values), mask = random_attention(5, 3, 6, 4, 4, 2, 0.5)
    w_q, w_k, v, _ = random_weights(5, 4, 4, 5)
    v = 1000.0 * v / np.abs(v).sum()  # |scores| up to 1000, reached where the tanh saturates
    w_q, w_k = 50.0 * w_q, 50.0 * w_k
    args = (query, keys, values, w_q, w_k, v)
    call = (
        f"additive_attention({inputs_text(5, args, mask, 0.5)}, A=5), then w_q and w_k times 50 "
        "and v scaled to sum(|v|) = 1000"
    )
    check_additive(student, args, mask, call)


@pytest.mark.weight(1)
def test_additive_masked_values_do_not_matter(student: Any) -> None:
    """changing the values of masked keys leaves the context as it was, and the weights too"""
    (query, keys, values), mask = random_attention(6, 3, 8, 3, 2, 4, 0.3)
    w_q, w_k, v, _ = random_weights(6, 3, 2, 4)
    args = (query, keys, values, w_q, w_k, v)
    call = f"additive_attention({inputs_text(6, args, mask, 0.3)}, A=4)"
    check_additive(student, args, mask, call)
    changed = np.where(mask[..., None], values, 1e3)
    first = reference.additive_attention(*args, mask=mask)
    changed_call = call + ", then again with the masked keys' values set to 1000"
    check_additive(student, (query, keys, changed, w_q, w_k, v), mask, changed_call, first)


@pytest.mark.weight(1)
def test_additive_keys_permuted(student: Any) -> None:
    """permuting the keys with their values permutes the weights and keeps the context"""
    (query, keys, values), _ = random_attention(7, 2, 6, 3, 5, 2, None)
    w_q, w_k, v, _ = random_weights(7, 3, 5, 4)
    args = (query, keys, values, w_q, w_k, v)
    call = f"additive_attention({inputs_text(7, args, None, None)}, A=4)"
    context, weights = reference.additive_attention(*args)
    order = np.array([3, 0, 5, 1, 4, 2])
    moved = (query, keys[:, order], values[:, order], w_q, w_k, v)
    moved_call = call + f", with keys and values reordered by {order.tolist()}"
    check_additive(student, moved, None, moved_call, (context, weights[:, order]))


# --- luong_attention ------------------------------------------------------------------------------


@pytest.mark.weight(1)
def test_luong_dot_hand(student: Any) -> None:
    """luong_attention "dot" by hand: weights 2/7, 1/7, 4/7 and, masked, 9/10, 0, 1/10"""
    f = fixtures
    args = _hand(f.DOT_QUERY, f.DOT_KEYS, f.DOT_VALUES)
    call = (
        f"luong_attention(query=[[ln 2, 0], [0, ln 3]], keys={f.DOT_KEYS}, "
        f"values={f.DOT_VALUES}, score='dot', mask={f.DOT_MASK})"
    )
    want = (np.array(f.DOT_CONTEXT), np.array(f.DOT_WEIGHTS))
    check_luong(student, args, "dot", None, np.array(f.DOT_MASK), call, want)


@pytest.mark.weight(1)
def test_luong_general_hand(student: Any) -> None:
    """luong_attention "general" by hand, w not symmetric: weights 9/13, 3/13, 1/13 and 4/7, ..."""
    f = fixtures
    args = _hand(f.GENERAL_QUERY, f.GENERAL_KEYS, f.GENERAL_VALUES)
    call = (
        f"luong_attention(query={f.GENERAL_QUERY}, keys={f.GENERAL_KEYS}, "
        f"values={f.GENERAL_VALUES}, score='general', w=[[0, ln 3], [ln 2, 0]])"
    )
    want = (np.array(f.GENERAL_CONTEXT), np.array(f.GENERAL_WEIGHTS))
    check_luong(student, args, "general", np.array(f.GENERAL_W), None, call, want)


LUONG_CASES = [(score, *case) for score in ("dot", "general") for case in CASES]
LUONG_IDS = [f"{score}-{name}" for score in ("dot", "general") for name in IDS]


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "score, seed, batch, length, dq, dk, dv, hidden, keep", LUONG_CASES, ids=LUONG_IDS
)
def test_luong_random(
    student: Any,
    score: str,
    seed: int,
    batch: int,
    length: int,
    dq: int,
    dk: int,
    dv: int,
    hidden: int,
    keep: float | None,
) -> None:
    """luong_attention matches the reference on random inputs, both scores"""
    dq = dk if score == "dot" else dq
    args, mask = random_attention(seed, batch, length, dq, dk, dv, keep)
    w = random_weights(seed, dq, dk, hidden)[3] if score == "general" else None
    call = f"luong_attention({inputs_text(seed, args, mask, keep)}, score={score!r})"
    check_luong(student, args, score, w, mask, call)


@pytest.mark.weight(1)
def test_luong_large_scores(student: Any) -> None:
    """luong_attention stays finite and exact for scores of +-1000"""
    (query, keys, values), mask = random_attention(8, 3, 5, 4, 4, 2, 0.6)
    query = 1000.0 * query / np.abs(query).sum(axis=-1, keepdims=True)
    keys = np.sign(keys)  # every score query . key lies in [-1000, 1000], extremes reached
    call = (
        f"luong_attention({inputs_text(8, (query, keys, values), mask, 0.6)}, score='dot'), "
        "then each query row scaled to sum(|q|) = 1000 and keys = sign(keys)"
    )
    check_luong(student, (query, keys, values), "dot", None, mask, call)


@pytest.mark.weight(1)
def test_luong_dot_is_general_with_identity(student: Any) -> None:
    """score "general" with w = I gives score "dot", and "dot" ignores w"""
    (query, keys, values), mask = random_attention(9, 3, 6, 4, 4, 3, 0.4)
    call = f"luong_attention({inputs_text(9, (query, keys, values), mask, 0.4)}"
    dot = reference.luong_attention(query, keys, values, mask=mask)
    check_luong(student, (query, keys, values), "general", np.eye(4), mask, call + ", w=I)", dot)
    ignored = 3.0 * np.ones((4, 4))
    check_luong(student, (query, keys, values), "dot", ignored, mask, call + ", 'dot', w=3)", dot)


def _names_all(text: str, *values: Any) -> bool:
    return all(re.search(rf"(?<![\w.]){re.escape(str(v))}(?![\w.])", text) for v in values)


def _check_value_error(
    student: Any, kwargs: dict[str, Any], call: str, names: tuple[Any, ...]
) -> None:
    """luong_attention(**kwargs) raises ValueError with a message naming every one of `names`."""
    text = assert_raises("ValueError", student.luong_attention, call=call, **kwargs)
    if not _names_all(text, *names):
        listed = ", ".join(str(n) for n in names)
        raise Mismatch(
            "raised ValueError, but the message does not name the values that are wrong",
            call=call,
            expected=f"ValueError with a message that names {listed}",
            got=f"ValueError: {text}",
        )


@pytest.mark.visible
@pytest.mark.weight(1)
def test_luong_value_errors(student: Any) -> None:
    """luong_attention raises ValueError naming the wrong values: Dq != Dk, w, an unknown score"""
    (query, keys, values), _ = random_attention(10, 2, 4, 3, 5, 2, None)
    base = {"query": query, "keys": keys, "values": values}
    shapes = "query (2, 3), keys (2, 4, 5), values (2, 4, 2)"
    _check_value_error(
        student, {**base, "score": "dot"}, f"luong_attention({shapes}, score='dot')", (3, 5)
    )
    _check_value_error(
        student,
        {**base, "score": "general", "w": np.ones((2, 4))},
        f"luong_attention({shapes}, score='general', w of shape (2, 4))",
        (2, 4),
    )
    _check_value_error(
        student,
        {**base, "score": "general"},
        f"luong_attention({shapes}, score='general', w=None)",
        ("w",),
    )
    square = {**base, "keys": keys[..., :3]}  # Dq = Dk = 3: "dot" would run
    _check_value_error(
        student,
        {**square, "score": "concat", "w": np.ones((3, 3))},
        "luong_attention(query (2, 3), keys (2, 4, 3), values (2, 4, 2), score='concat', "
        "w of shape (3, 3))",
        ("concat",),
    )
