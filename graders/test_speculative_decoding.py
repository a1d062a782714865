"""Grader for speculative_decoding: acceptance_probability, residual_distribution,
speculative_step and expected_tokens_per_step.

Three levels: the hand fixtures (graders/fixtures/speculative_decoding.py: multiples of 1/8, so a
running total can equal u_next exactly; a residual with no mass; every proposal accepted, so the
bonus token; a rejection before a proposal that would pass; k = 0), the reference on random
distributions with printed seeds (every u[i] at least 1e-3 from its threshold and every u_next at
least 1e-3 from a running total, so float32 arithmetic agrees), and the contract's properties (the
first token a step emits follows the target's distribution exactly, over a grid of u; a draft
equal to the target is always accepted; the tokens per step average to expected_tokens_per_step).
Classic mistakes are recomputed here on the same inputs so a failure can name them.
u[i] equal to its ratio p / q < 1 is never graded (Chen et al. reject there, Leviathan et al.
accept); tests/exercises/test_speculative_decoding_oracle.py checks every case here keeps clear.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import (
    Mismatch,
    assert_close,
    assert_raises_naming,
    describe,
    show,
    unpack,
)
from transformer_kit.graders.fixtures import speculative_decoding as fixtures
from transformer_kit.solutions import speculative_decoding as reference

# ----------------------------------------------------------------------------------------------
# The classic mistakes, by name (what the learner reads after "likely mistake:").

ACC_MAX = "summed max(p, q): the acceptance probability is the sum of min(p[x], q[x])"
ACC_TV = (
    "1 - sum |p - q| forgets the 1/2 of the total variation distance: sum min(p, q) = "
    "1 - 0.5 * sum |p - q|"
)
ACC_DISTANCE = "returned the total variation distance itself: the acceptance is 1 minus it"
ACC_PRODUCT = "summed p * q: the acceptance probability is the sum of min(p[x], q[x])"
ACC_NAN = (
    "sum q * min(1, p / q) divides 0 by 0 where q = 0: sum min(p, q) needs no division (or "
    "leave the tokens with q = 0 out)"
)
RES_REVERSED = (
    "the residual is max(0, q - p): resample from max(0, p - q), where the target wants more "
    "than the draft gave"
)
RES_UNNORMALISED = "the residual was not normalised: divide max(0, p - q) by its sum"
RES_ABS = "normalised |p - q|: the residual is max(0, p - q), the negative part clipped to 0"
RES_P = "returned p: the residual is max(0, p - q) normalised (p only when that has no mass)"
RES_NAN = "divided 0 by 0 when max(0, p - q) has no mass (q == p): return p itself in that case"
RES_UNIFORM = "a uniform distribution when max(0, p - q) has no mass: return p itself"
RES_ZEROS = "all zeros when max(0, p - q) has no mass: that is no distribution, return p"
ACCEPT_INVERTED = (
    "accepted when u < q / p (the ratio upside down): accept proposal i when u[i] < "
    "min(1, p_i[x_i] / q_i[x_i]), target over draft"
)
ACCEPT_P_ONLY = (
    "accepted when u < p_i[x_i], without dividing by q_i[x_i]: the threshold is "
    "min(1, p_i[x_i] / q_i[x_i])"
)
ACCEPT_REVERSED = "the comparison is reversed: proposal i is accepted when u[i] < min(1, p / q)"
NO_STOP = (
    "kept going after a rejection: the first rejection stops the step, and accepted counts only "
    "the proposals before it"
)
RESAMPLE_P = (
    "a rejected token was resampled from p_n, the target itself: resample from the residual "
    "max(0, p_n - q_n) normalised, or the draft's proposals skew the output"
)
RESAMPLE_REVERSED = "the replacement was drawn from max(0, q - p): the residual is max(0, p - q)"
RESAMPLE_UNNORMALISED = (
    "the replacement was drawn from max(0, p - q) without normalising it: its running totals "
    "must reach 1"
)
RESAMPLE_NEXT_ROW = (
    "the replacement was drawn at position n + 1: use p_n and q_n of the first rejected position n"
)
NO_BONUS_LAST = (
    "no bonus token: when all k proposals are accepted, draw the next token from p_k, the "
    "target's extra row (target_probs has k + 1 rows), not from p_{k-1}"
)
NO_BONUS_RESIDUAL = (
    "no bonus token: when all k proposals are accepted, draw the next token from p_k itself, "
    "not from a residual"
)
CDF_GE = (
    "'>=' instead of '>': the next token is the smallest i with cumsum(dist)[i] > u_next "
    "(strictly); a total equal to u_next does not choose its token"
)
CDF_ARGMAX = "the next token is the argmax (greedy): draw it by inverse CDF with u_next"
EXP_K = (
    "one term short, (1 - alpha ** k) / (1 - alpha): a step yields 1 + alpha + ... + alpha ** k "
    "tokens, so the power is k + 1"
)
EXP_ALPHA1_K = "alpha = 1 gives k + 1 (the k proposals and the bonus token), not k"
EXP_INFINITE = "1 / (1 - alpha) is the limit for k -> infinity: use alpha ** (k + 1)"
EXP_LINEAR = (
    "1 + alpha * k counts each proposal independently of the earlier ones: the sum is geometric"
)
INT_TYPE = (
    "return Python ints, int(accepted) and int(next_token): a count and a token id are "
    "integers, and a float such as 2.0 is neither"
)

Step = tuple[int, int]


@contextmanager
def _quiet() -> Iterator[None]:
    """The mistakes divide 0 by 0 on purpose: no warnings from them."""
    with np.errstate(all="ignore"):
        yield


# ----------------------------------------------------------------------------------------------
# The mistakes, recomputed on the grader's inputs


def acceptance_mistakes(p: np.ndarray, q: np.ndarray) -> dict[str, float]:
    distance = 0.5 * float(np.abs(p - q).sum())
    with _quiet():
        guarded = float((q * np.minimum(1.0, p / q)).sum())
    return {
        ACC_MAX: float(np.maximum(p, q).sum()),
        ACC_TV: 1.0 - 2.0 * distance,
        ACC_DISTANCE: distance,
        ACC_PRODUCT: float((p * q).sum()),
        ACC_NAN: guarded,
    }


def residual_mistakes(p: np.ndarray, q: np.ndarray) -> dict[str, np.ndarray]:
    excess = np.maximum(p - q, 0.0)
    with _quiet():
        if excess.sum() == 0:  # no mass: p is right, these are not
            return {
                RES_NAN: excess / excess.sum(),
                RES_UNIFORM: np.full_like(p, 1.0 / p.size),
                RES_ZEROS: excess,
            }
        return {
            RES_REVERSED: np.maximum(q - p, 0.0) / np.maximum(q - p, 0.0).sum(),
            RES_UNNORMALISED: excess,
            RES_ABS: np.abs(p - q) / np.abs(p - q).sum(),
            RES_P: p,
        }


def _draw(dist: np.ndarray, u: float, *, ge: bool = False) -> int:
    totals = np.cumsum(dist)
    above = np.flatnonzero(totals >= u if ge else totals > u)
    if above.size:
        return int(above[0])
    nonzero = np.flatnonzero(dist > 0)
    return int(nonzero[-1]) if nonzero.size else len(dist) - 1


def _step(
    tokens: np.ndarray,
    q: np.ndarray,
    p: np.ndarray,
    u: np.ndarray,
    u_next: float,
    **mistake: str,
) -> Step:
    """speculative_step with one mistake, named by its option."""
    accept, resample = mistake.get("accept", ""), mistake.get("resample", "")
    k, rejected = len(tokens), None
    accepted = 0
    for i, token in enumerate(tokens):
        with _quiet():
            ratio = {"inverted": q[i, token] / p[i, token], "p_only": p[i, token]}.get(
                accept, p[i, token] / q[i, token]
            )
        ok = u[i] >= min(1.0, ratio) if accept == "reversed" else u[i] < min(1.0, ratio)
        if ok:
            accepted += 1
        elif rejected is None:
            rejected = i
            if not mistake.get("no_stop"):
                break
    if rejected is None:
        bonus = mistake.get("bonus", "") if k else ""
        dist = p[k]
        if bonus == "last":
            dist = p[k - 1]
        elif bonus == "residual":
            dist = _residual(p[k - 1], q[k - 1])
    else:
        n = rejected + 1 if resample == "next_row" and rejected + 1 < k else rejected
        with _quiet():
            excess = np.maximum(p[n] - q[n], 0.0)
            dist = {
                "p": p[n],
                "reversed": _residual(q[n], p[n]),
                "unnormalised": excess,
            }.get(resample, _residual(p[n], q[n]))
    if mistake.get("cdf") == "argmax":
        return accepted, int(np.argmax(dist))
    return accepted, _draw(dist, u_next, ge=mistake.get("cdf") == "ge")


def _residual(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    excess = np.maximum(p - q, 0.0)
    return excess / excess.sum() if excess.sum() > 0 else p


STEP_MISTAKES = {
    ACCEPT_INVERTED: {"accept": "inverted"},
    ACCEPT_P_ONLY: {"accept": "p_only"},
    ACCEPT_REVERSED: {"accept": "reversed"},
    NO_STOP: {"no_stop": "yes"},
    RESAMPLE_P: {"resample": "p"},
    RESAMPLE_REVERSED: {"resample": "reversed"},
    RESAMPLE_UNNORMALISED: {"resample": "unnormalised"},
    RESAMPLE_NEXT_ROW: {"resample": "next_row"},
    NO_BONUS_LAST: {"bonus": "last"},
    NO_BONUS_RESIDUAL: {"bonus": "residual"},
    CDF_GE: {"cdf": "ge"},
    CDF_ARGMAX: {"cdf": "argmax"},
}


def step_mistakes(
    tokens: np.ndarray, q: np.ndarray, p: np.ndarray, u: np.ndarray, u_next: float
) -> dict[str, Step]:
    return {
        name: _step(tokens, q, p, u, u_next, **options) for name, options in STEP_MISTAKES.items()
    }


def expected_mistakes(alpha: float, k: int) -> dict[str, float]:
    if alpha == 1:  # the formula's 0 / 0: its own mistakes
        return {EXP_ALPHA1_K: float(k), EXP_INFINITE: np.inf, EXP_LINEAR: 1.0 + k}
    return {
        EXP_K: (1 - alpha**k) / (1 - alpha),
        EXP_INFINITE: 1 / (1 - alpha),
        EXP_LINEAR: 1 + alpha * k,
    }


# ----------------------------------------------------------------------------------------------
# Checks
def _naming(named: list[str]) -> str:
    """The diagnosis for the mistakes whose result is the learner's: one named, or each."""
    if len(named) > 1:
        return "one of these mistakes (they give the same answer here): " + "; or ".join(named)
    return named[0] if named else ""


def as_int(got: Any, *, call: str, what: str) -> int:
    """An integer result: a Python int (not bool) or a 0-d integer array, else a Mismatch."""
    if isinstance(got, int) and not isinstance(got, bool):
        return got
    if isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind in "iu":
        return int(got)
    raise Mismatch(
        f"the {what} should be an int",
        call=call,
        expected=f"{what} as an int",
        got=describe(got),
        diagnosis=INT_TYPE,
    )


def check_step(got: Any, expected: Step, *, call: str, mistakes: Mapping[str, Step]) -> None:
    """(accepted, next_token): a pair of ints equal to the expected pair, a mistake named."""
    accepted, token = unpack(got, 2, call=call, what="result (accepted, next_token)")
    pair = (
        as_int(accepted, call=call, what="accepted count"),
        as_int(token, call=call, what="next token"),
    )
    if pair == expected:
        return
    named = [name for name, value in mistakes.items() if value == pair and value != expected]
    what = "accepted count" if pair[0] != expected[0] else "next token"
    raise Mismatch(
        f"the {what} is wrong",
        call=call,
        expected=f"(accepted, next_token) = {expected}",
        got=f"{pair}",
        diagnosis=_naming(named),
    )


def _step_call(tokens: Any, q: Any, p: Any, u: Any, u_next: float, rows: str = "") -> str:
    rows = rows or f"draft_probs={show(np.asarray(q))}, target_probs={show(np.asarray(p))}"
    return f"speculative_step(draft_tokens={list(tokens)}, {rows}, u={list(u)}, u_next={u_next})"


def _run_step(student: Any, tokens: Any, q: Any, p: Any, u: Any, u_next: float, call: str) -> None:
    arrays = (
        np.asarray(tokens, dtype=np.int64),
        np.asarray(q, dtype=np.float64),
        np.asarray(p, dtype=np.float64),
        np.asarray(u, dtype=np.float64),
    )
    got = student.speculative_step(*arrays, u_next)
    expected = reference.speculative_step(*arrays, u_next)
    check_step(got, expected, call=call, mistakes=step_mistakes(*arrays, u_next))


# ----------------------------------------------------------------------------------------------
# acceptance_probability and residual_distribution


@pytest.mark.weight(1)
@pytest.mark.visible
def test_docstring_examples(student: Any) -> None:
    """the examples in the stub's docstrings"""
    p, q, expected = fixtures.EXAMPLE_ACCEPTANCE
    assert_close(
        student.acceptance_probability(np.array(p), np.array(q)),
        expected,
        call=f"acceptance_probability(p={p}, q={q})",
        what="acceptance probability",
        mistakes=acceptance_mistakes(np.array(p), np.array(q)),
    )
    p, q, residual = fixtures.EXAMPLE_RESIDUAL
    assert_close(
        student.residual_distribution(np.array(p), np.array(q)),
        residual,
        call=f"residual_distribution(p={p}, q={q})",
        what="residual distribution",
        mistakes=residual_mistakes(np.array(p), np.array(q)),
    )
    tokens, draft, target = (
        np.array([1]),
        np.array(fixtures.EXAMPLE_DRAFT),
        np.array(fixtures.EXAMPLE_TARGET),
    )
    for u, u_next, step in fixtures.EXAMPLE_STEPS:
        check_step(
            student.speculative_step(tokens, draft, target, np.array(u), u_next),
            step,
            call=_step_call([1], draft, target, u, u_next),
            mistakes=step_mistakes(tokens, draft, target, np.array(u), u_next),
        )
    alpha, k, tokens_per_step = fixtures.EXAMPLE_EXPECTED
    assert_close(
        student.expected_tokens_per_step(alpha, k),
        tokens_per_step,
        call=f"expected_tokens_per_step(alpha={alpha}, k={k})",
        what="expected number of tokens",
        mistakes=expected_mistakes(alpha, k),
    )


@pytest.mark.weight(1)
def test_acceptance_hand(student: Any) -> None:
    """acceptance_probability is the sum of min(p, q) (hand examples)"""
    for p, q, expected in fixtures.ACCEPTANCE_CASES:
        p_, q_ = np.array(p), np.array(q)
        assert_close(
            student.acceptance_probability(p_, q_),
            expected,
            call=f"acceptance_probability(p={p}, q={q})",
            what="acceptance probability",
            mistakes=acceptance_mistakes(p_, q_),
        )


@pytest.mark.weight(1)
def test_residual_hand(student: Any) -> None:
    """residual_distribution is max(0, p - q) normalised (hand examples)"""
    for p, q, expected in fixtures.RESIDUAL_CASES:
        p_, q_ = np.array(p), np.array(q)
        assert_close(
            student.residual_distribution(p_, q_),
            expected,
            call=f"residual_distribution(p={p}, q={q})",
            what="residual distribution",
            mistakes=residual_mistakes(p_, q_),
        )


@pytest.mark.weight(1)
def test_residual_without_mass(student: Any) -> None:
    """residual_distribution(p, p) is p: max(0, p - q) has no mass to normalise"""
    p = np.array(fixtures.NO_MASS_P)
    assert_close(
        student.residual_distribution(p, p.copy()),
        p,
        call=f"residual_distribution(p={fixtures.NO_MASS_P}, q={fixtures.NO_MASS_P})",
        what="residual distribution",
        mistakes=residual_mistakes(p, p),
    )


DISTRIBUTION_SEEDS = [(60, 5), (61, 8), (62, 3)]


def _random_pair(seed: int, vocab: int) -> tuple[np.ndarray, np.ndarray]:
    """Two random distributions (V,): q, and p = a mix of q and another (so they overlap)."""
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.ones(vocab))
    p = 0.5 * q + 0.5 * rng.dirichlet(np.ones(vocab))
    return p, q


def _pair_text(seed: int, vocab: int) -> str:
    return (
        f"q = dirichlet(ones({vocab})), p = 0.5 * q + 0.5 * dirichlet(ones({vocab})), "
        f"rng = default_rng({seed})"
    )


@pytest.mark.weight(1)
def test_acceptance_and_residual_reference(student: Any) -> None:
    """acceptance_probability and residual_distribution match the reference on random pairs"""
    for seed, vocab in DISTRIBUTION_SEEDS:
        p, q = _random_pair(seed, vocab)
        text = _pair_text(seed, vocab)
        assert_close(
            student.acceptance_probability(p, q),
            reference.acceptance_probability(p, q),
            call=f"acceptance_probability(p, q) with {text}",
            what="acceptance probability",
            mistakes=acceptance_mistakes(p, q),
        )
        assert_close(
            student.residual_distribution(p, q),
            reference.residual_distribution(p, q),
            call=f"residual_distribution(p, q) with {text}",
            what="residual distribution",
            mistakes=residual_mistakes(p, q),
        )


# ----------------------------------------------------------------------------------------------
# speculative_step


@pytest.mark.weight(3)
def test_step_hand(student: Any) -> None:
    """speculative_step on hand cases: rejection, acceptance, the bonus token, exact totals"""
    for tokens, q, p, u, u_next, _ in fixtures.STEP_CASES:
        _run_step(student, tokens, q, p, u, u_next, _step_call(tokens, q, p, u, u_next))


@pytest.mark.weight(1)
def test_step_without_proposals(student: Any) -> None:
    """speculative_step with k = 0 samples the next token from the only target row"""
    target = np.array(fixtures.EMPTY_TARGET)
    rows = f"draft_probs=zeros((0, 4)), target_probs={show(target)}"
    call = _step_call([], [], target, [], fixtures.EMPTY_U_NEXT, rows)
    _run_step(student, [], np.zeros((0, 4)), target, [], fixtures.EMPTY_U_NEXT, call)


STEP_SEEDS = [(70, 5, 1), (71, 6, 3), (72, 4, 4), (73, 8, 2), (74, 5, 3)]
CLEARANCE = 1e-3  # every u[i] this far from its threshold, every u_next from every total


def _random_step(seed: int, vocab: int, k: int) -> Iterator[tuple[np.ndarray, ...]]:
    """Random draft and target rows, proposals drawn from the draft, and four (u, u_next)."""
    rng = np.random.default_rng(seed)
    q = rng.dirichlet(np.ones(vocab), size=k)  # (k, V)
    p = rng.dirichlet(np.ones(vocab), size=k + 1)  # (k + 1, V)
    p[:k] = 0.5 * q + 0.5 * p[:k]  # overlapping, so proposals are often accepted
    tokens = np.array([_draw(row, rng.random()) for row in q], dtype=np.int64).reshape(k)
    thresholds = np.minimum(1.0, p[np.arange(k), tokens] / q[np.arange(k), tokens])
    for _ in range(4):
        u = np.array([_clear(rng, [t]) for t in thresholds])
        accepted, _ = reference.speculative_step(tokens, q, p, u, 0.5)
        dist = p[k] if accepted == k else reference.residual_distribution(p[accepted], q[accepted])
        yield tokens, q, p, u.reshape(k), np.array(_clear(rng, np.cumsum(dist)))


def _clear(rng: np.random.Generator, points: Any) -> float:
    """A uniform number in [0, 1) at least CLEARANCE from every one of `points`, to 6 digits."""
    while True:
        value = round(float(rng.random()), 6)
        if np.min(np.abs(np.asarray(points) - value)) > CLEARANCE:
            return value


@pytest.mark.weight(3)
def test_step_reference(student: Any) -> None:
    """speculative_step matches the reference on random distributions, proposals and u"""
    for seed, vocab, k in STEP_SEEDS:
        for tokens, q, p, u, u_next in _random_step(seed, vocab, k):
            rows = (
                f"k={k}, V={vocab}: draft_probs = dirichlet(ones(V), size=k), target_probs "
                f"mixed with them, seed={seed}"
            )
            call = _step_call(tokens.tolist(), q, p, u.round(6).tolist(), float(u_next), rows)
            _run_step(student, tokens, q, p, u, float(u_next), call)


@pytest.mark.weight(1)
def test_step_draft_equal_to_target(student: Any) -> None:
    """a draft equal to the target is always accepted: accepted = k, the bonus from p_k"""
    rng = np.random.default_rng(75)
    p = rng.dirichlet(np.ones(5), size=4)  # (k + 1, V) with k = 3
    tokens = np.array([0, 3, 1])
    u = np.array([0.999, 0.5, 0.0])
    rows = "draft_probs = target_probs[:3], target_probs = dirichlet(ones(5), size=4), seed=75"
    call = _step_call(tokens.tolist(), p[:3], p, u.tolist(), 0.3, rows)
    _run_step(student, tokens, p[:3].copy(), p, u, 0.3, call)


GRID = 4  # u and u_next at (j + 0.5) / GRID: every threshold and total is a multiple of 1 / GRID


def _grid_steps(
    student: Any, tokens: np.ndarray, q: np.ndarray, p: np.ndarray, u_values: Any
) -> Iterator[tuple[Step, Step, str, dict[str, Step]]]:
    """The learner's and the reference's step for each (u, u_next) of the grid."""
    grid = [(j + 0.5) / GRID for j in range(GRID)]
    for u in u_values(grid):
        for u_next in grid:
            u_ = np.array(u, dtype=np.float64)
            call = _step_call(tokens.tolist(), q, p, list(u), u_next)
            got = student.speculative_step(tokens, q, p, u_, u_next)
            accepted, token = unpack(got, 2, call=call, what="result (accepted, next_token)")
            pair = (
                as_int(accepted, call=call, what="accepted count"),
                as_int(token, call=call, what="next token"),
            )
            want = reference.speculative_step(tokens, q, p, u_, u_next)
            yield pair, want, call, step_mistakes(tokens, q, p, u_, u_next)


def _first_difference(
    steps: list[tuple[Step, Step, str, dict[str, Step]]],
) -> tuple[str, str]:
    """The first grid call the learner got wrong, and the mistake its result matches."""
    for got, want, call, mistakes in steps:
        if got != want:
            named = [name for name, value in mistakes.items() if value == got]
            return f"{call} gave {got}, expected {want}", _naming(named)
    return "", ""


@pytest.mark.weight(2)
def test_step_keeps_the_target_distribution(student: Any) -> None:
    """the first token a step emits follows the target's p_0 exactly, over a grid of u"""
    cases = ((fixtures.Q0, fixtures.P0, fixtures.P1), (fixtures.Q1, fixtures.P1, fixtures.P2))
    for q0, p0, p1 in cases:
        q, p = np.array([q0]), np.array([p0, p1])
        emitted = np.zeros(len(p0))
        steps = []
        for token in np.flatnonzero(q[0] > 0):  # the draft proposes token with probability q0
            tokens = np.array([token])
            for got, want, call, mistakes in _grid_steps(
                student, tokens, q, p, lambda g: [[u] for u in g]
            ):
                steps.append((got, want, call, mistakes))
                first = int(token) if got[0] == 1 else got[1]
                if 0 <= first < len(p0):
                    emitted[first] += q0[token] / GRID**2
        if not np.allclose(emitted, p0, rtol=0, atol=1e-12):
            where, diagnosis = _first_difference(steps)
            raise Mismatch(
                "the first token a step emits does not follow the target's distribution p_0",
                call=f"speculative_step with draft_probs=[{q0}], target_probs=[{p0}, {p1}], "
                f"each proposal weighted by its draft probability, u and u_next at "
                f"(j + 0.5) / {GRID}",
                expected=f"p_0 = {p0}",
                got=f"{show(emitted)}",
                where=where,
                diagnosis=diagnosis,
            )


@pytest.mark.weight(1)
def test_steps_average_expected_tokens(student: Any) -> None:
    """over a grid of u, the tokens per step average to expected_tokens_per_step(0.5, 2) = 1.75"""
    q = np.array([[1.0, 0.0], [1.0, 0.0]])  # the draft always proposes token 0
    p = np.array([[0.5, 0.5], [0.5, 0.5], [0.5, 0.5]])  # ratio 0.5: accepted half the time
    tokens = np.array([0, 0])
    steps = list(_grid_steps(student, tokens, q, p, lambda g: [[a, b] for a in g for b in g]))
    average = sum(got[0] + 1 for got, *_ in steps) / len(steps)
    if average != 1.75:  # 1 + 0.5 + 0.25
        where, diagnosis = _first_difference(steps)
        raise Mismatch(
            "the tokens per step do not average to 1 + alpha + alpha ** 2 with alpha = 0.5",
            call=f"speculative_step(draft_tokens=[0, 0], draft_probs={show(q)}, "
            f"target_probs={show(p)}) over u and u_next at (j + 0.5) / {GRID}",
            expected="an average of accepted + 1 of 1.75",
            got=f"{average:g}",
            where=where,
            diagnosis=diagnosis,
        )
    assert_close(
        student.expected_tokens_per_step(0.5, 2),
        average,
        call="expected_tokens_per_step(alpha=0.5, k=2)",
        what="expected number of tokens",
        mistakes=expected_mistakes(0.5, 2),
    )


# ----------------------------------------------------------------------------------------------
# expected_tokens_per_step


@pytest.mark.weight(1)
def test_expected_tokens_hand(student: Any) -> None:
    """expected_tokens_per_step is (1 - alpha ** (k + 1)) / (1 - alpha), k + 1 at alpha = 1"""
    for alpha, k, expected in fixtures.EXPECTED_CASES:
        assert_close(
            student.expected_tokens_per_step(alpha, k),
            expected,
            call=f"expected_tokens_per_step(alpha={alpha}, k={k})",
            what="expected number of tokens",
            mistakes=expected_mistakes(alpha, k),
        )


@pytest.mark.weight(1)
def test_expected_tokens_reference(student: Any) -> None:
    """expected_tokens_per_step matches the reference on a grid of alpha and k"""
    for alpha in (0.1, 0.35, 0.8, 0.95, 0.999):
        for k in (1, 4, 7):
            assert_close(
                student.expected_tokens_per_step(alpha, k),
                reference.expected_tokens_per_step(alpha, k),
                call=f"expected_tokens_per_step(alpha={alpha}, k={k})",
                what="expected number of tokens",
                mistakes=expected_mistakes(alpha, k),
            )


@pytest.mark.weight(1)
def test_expected_tokens_bad_arguments(student: Any) -> None:
    """expected_tokens_per_step raises ValueError naming alpha outside [0, 1] or k < 0"""
    for alpha, k, name in fixtures.EXPECTED_BAD:
        assert_raises_naming(
            student.expected_tokens_per_step,
            alpha,
            k,
            call=f"expected_tokens_per_step(alpha={alpha}, k={k})",
            name=name,
            value=alpha if name == "alpha" else k,
        )
