"""solutions/speculative_decoding.py against independent oracles; the hand fixtures and the
grader's cases.

Oracles:
- the formulas of Leviathan et al. (2023) and Chen et al. (2023) in plain Python, with exact
  fractions where the inputs allow: the acceptance rate beta = sum min(p, q) (Leviathan, section
  3.3), the residual norm(max(0, p - q)) (both papers), Algorithm 2 of Chen et al. one proposal at
  a time, and E[tokens per step] = (1 - alpha ** (k + 1)) / (1 - alpha) (Leviathan, equation 1);
- exact enumeration: the draft's proposals weighted by their draft probabilities, u and u_next
  integrated exactly (the step is constant between the candidate thresholds, so one call per cell,
  weighted by the cell's length) give the distribution of the tokens a step emits; it must be the
  target's, p_0 for the first token and p_1 for the second. That is the theorem that makes
  speculative decoding correct, and every catalogue entry is held to it: the right ones keep it,
  the wrong ones break it unless their mistake lies where a step cannot show it (named below, and
  caught by another test of the grader, see tests/exercises/test_catalogue.py).
The grader's inputs are checked to stay clear of u[i] == p / q < 1, which the contract leaves
ungraded (Chen et al. reject there, Leviathan et al. accept).
"""

from __future__ import annotations

import importlib
import itertools
import types
from collections import defaultdict
from collections.abc import Callable, Sequence
from fractions import Fraction

import numpy as np
import pytest
from catalogue import Variant
from support import solution_source

from transformer_kit.graders import test_speculative_decoding as grader
from transformer_kit.graders.fixtures import speculative_decoding as fixtures
from transformer_kit.solutions import speculative_decoding as solution

Rows = Sequence[Sequence[float]]
StepFn = Callable[..., tuple[int, int]]

# ----------------------------------------------------------------------------------------------
# Plain-Python formulas


def py_beta(p: Sequence[float], q: Sequence[float]) -> Fraction:
    """Leviathan et al.'s beta: sum over x of min(p(x), q(x)), exactly."""
    return sum((min(Fraction(a), Fraction(b)) for a, b in zip(p, q, strict=True)), Fraction(0))


def py_residual(p: Sequence[float], q: Sequence[float]) -> list[Fraction]:
    """norm(max(0, p - q)) exactly; p itself when there is nothing to normalise."""
    excess = [max(Fraction(0), Fraction(a) - Fraction(b)) for a, b in zip(p, q, strict=True)]
    mass = sum(excess, Fraction(0))
    return [Fraction(a) for a in p] if mass == 0 else [e / mass for e in excess]


def py_draw(dist: Sequence[Fraction | float], u: float) -> int:
    """Inverse CDF in id order: the first running total > u, else the last non-zero token."""
    total = Fraction(0)
    for i, d in enumerate(dist):
        total += Fraction(d)
        if total > u:
            return i
    return max(i for i, d in enumerate(dist) if d > 0)


def py_step(tokens: Sequence[int], q: Rows, p: Rows, u: Sequence[float], u_next: float) -> tuple:
    """Chen et al.'s Algorithm 2, one proposal at a time, in exact arithmetic."""
    for i, x in enumerate(tokens):
        ratio = Fraction(p[i][x]) / Fraction(q[i][x])
        if not Fraction(u[i]) < min(Fraction(1), ratio):
            return i, py_draw(py_residual(p[i], q[i]), u_next)
    return len(tokens), py_draw(p[len(tokens)], u_next)


def py_expected_tokens(alpha: Fraction, k: int) -> Fraction:
    """Leviathan et al.'s equation 1, and k + 1 at alpha = 1."""
    return Fraction(k + 1) if alpha == 1 else (1 - alpha ** (k + 1)) / (1 - alpha)


def test_acceptance_and_residual_match_the_formulas() -> None:
    for p, q, expected in fixtures.ACCEPTANCE_CASES:
        assert py_beta(p, q) == Fraction(expected)
        assert solution.acceptance_probability(np.array(p), np.array(q)) == expected
    for p, q, expected in fixtures.RESIDUAL_CASES:
        assert np.allclose(py_residual(p, q), expected, rtol=0, atol=1e-15)
        assert np.allclose(solution.residual_distribution(np.array(p), np.array(q)), expected)
    no_mass = np.array(fixtures.NO_MASS_P)
    assert py_residual(no_mass, no_mass) == [Fraction(x) for x in fixtures.NO_MASS_P]
    assert np.array_equal(solution.residual_distribution(no_mass, no_mass), no_mass)


def test_beta_is_one_minus_the_total_variation_distance() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        p, q = rng.dirichlet(np.ones(6)), rng.dirichlet(np.ones(6))
        distance = 0.5 * sum(abs(a - b) for a, b in zip(p, q, strict=True))
        assert solution.acceptance_probability(p, q) == pytest.approx(1 - distance, abs=1e-12)


def test_expected_tokens_match_equation_1() -> None:
    for alpha, k, expected in fixtures.EXPECTED_CASES:
        assert py_expected_tokens(Fraction(alpha), k) == Fraction(expected)
        assert solution.expected_tokens_per_step(alpha, k) == expected
    for alpha in (0.1, 0.35, 0.8, 0.95, 0.999):
        for k in (0, 1, 4, 7):
            series = sum(alpha**i for i in range(k + 1))  # 1 + alpha + ... + alpha ** k
            assert solution.expected_tokens_per_step(alpha, k) == pytest.approx(series, rel=1e-12)


def _step_args(tokens: Sequence[int], q: Rows, p: Rows, u: Sequence[float]) -> tuple:
    vocab = len(p[0])
    return (
        np.array(tokens, dtype=np.int64),
        np.array(q, dtype=np.float64).reshape(len(tokens), vocab),
        np.array(p, dtype=np.float64),
        np.array(u, dtype=np.float64),
    )


def test_hand_steps_match_algorithm_2() -> None:
    for tokens, q, p, u, u_next, expected in fixtures.STEP_CASES:
        assert py_step(tokens, q, p, u, u_next) == expected
        assert solution.speculative_step(*_step_args(tokens, q, p, u), u_next) == expected
    target = fixtures.EMPTY_TARGET
    assert py_step([], [], target, [], fixtures.EMPTY_U_NEXT) == fixtures.EMPTY_EXPECTED
    got = solution.speculative_step(*_step_args([], [], target, []), fixtures.EMPTY_U_NEXT)
    assert got == fixtures.EMPTY_EXPECTED


def test_the_docstring_examples_match_the_formulas() -> None:
    p, q, expected = fixtures.EXAMPLE_ACCEPTANCE
    assert py_beta(p, q) == Fraction(expected)
    p, q, residual = fixtures.EXAMPLE_RESIDUAL
    assert py_residual(p, q) == [Fraction(x) for x in residual]
    for u, u_next, step in fixtures.EXAMPLE_STEPS:
        assert py_step([1], fixtures.EXAMPLE_DRAFT, fixtures.EXAMPLE_TARGET, u, u_next) == step
    alpha, k, tokens = fixtures.EXAMPLE_EXPECTED
    assert py_expected_tokens(Fraction(alpha), k) == Fraction(tokens)


def test_fixture_probabilities_are_eighths() -> None:
    rows = [fixtures.Q0, fixtures.P0, fixtures.Q1, fixtures.P1, fixtures.P2]
    for row in rows:
        assert sum(row) == 1
        assert all(Fraction(x).denominator <= 8 for x in row)


def _graded_steps() -> list[tuple]:
    """Every (tokens, q, p, u, u_next) the grader compares with the reference."""
    cases = [(t, q, p, u, n) for t, q, p, u, n, _ in fixtures.STEP_CASES]
    for seed, vocab, k in grader.STEP_SEEDS:
        for tokens, q, p, u, u_next in grader._random_step(seed, vocab, k):
            cases.append((tokens.tolist(), q.tolist(), p.tolist(), u.tolist(), float(u_next)))
    return cases


def test_graded_steps_avoid_the_ungraded_tie_and_match_algorithm_2() -> None:
    for tokens, q, p, u, u_next in _graded_steps():
        for i, x in enumerate(tokens):
            threshold = min(1.0, p[i][x] / q[i][x])
            assert threshold == 1.0 or abs(u[i] - threshold) >= 1e-3, (tokens, u)
        expected = py_step(tokens, q, p, u, u_next)
        assert solution.speculative_step(*_step_args(tokens, q, p, u), u_next) == expected


# ----------------------------------------------------------------------------------------------
# Exact enumeration of a step's output distribution


def _cells(points: set[float]) -> list[tuple[float, Fraction]]:
    """The midpoints of [0, 1) cut at `points`, with each cell's exact length."""
    cuts = sorted({0.0, 1.0} | {x for x in points if 0.0 < x < 1.0})
    return [((a + b) / 2, Fraction(b) - Fraction(a)) for a, b in itertools.pairwise(cuts)]


def _u_cuts(q_row: Sequence[float], p_row: Sequence[float]) -> set[float]:
    """Every threshold a step (right or wrong) may compare u with: p, q and their ratios."""
    cuts = set(q_row) | set(p_row)
    for a, b in zip(p_row, q_row, strict=True):
        cuts |= {a / b if b else 1.0, b / a if a else 1.0}
    return cuts


def _u_next_cuts(q: Rows, p: Rows) -> set[float]:
    """Every running total a step may draw from: of p, q, the residuals and the raw excess."""
    cuts: set[float] = set()
    for p_row, q_row in itertools.product(p, q or [[0.0] * len(p[0])]):
        for dist in (
            p_row,
            q_row,
            [float(x) for x in py_residual(p_row, q_row)],
            [float(x) for x in py_residual(q_row, p_row)],
            [max(0.0, a - b) for a, b in zip(p_row, q_row, strict=True)],
        ):
            cuts |= set(np.cumsum(dist).tolist())
    return cuts


def emitted(step: StepFn, q: Rows, p: Rows) -> dict[tuple[int, ...], Fraction]:
    """The exact probability of each sequence of emitted tokens (proposals drawn from q)."""
    k = len(q)
    u_cells = [_cells(_u_cuts(q[i], p[i])) for i in range(k)]
    next_cells = _cells(_u_next_cuts(q, p))
    law: dict[tuple[int, ...], Fraction] = defaultdict(Fraction)
    for tokens in itertools.product(*[np.flatnonzero(row).tolist() for row in q]):
        weight = np.prod([Fraction(q[i][x]) for i, x in enumerate(tokens)], dtype=object)
        for us in itertools.product(*u_cells):
            u = [point for point, _ in us]
            u_weight = np.prod([length for _, length in us], dtype=object)
            for u_next, length in next_cells:
                accepted, token = step(*_step_args(list(tokens), q, p, u), u_next)
                law[(*tokens[: int(accepted)], int(token))] += weight * u_weight * length
    return law


def _marginals(law: dict[tuple[int, ...], Fraction], vocab: int) -> tuple[list, list]:
    """P(first token = y), and P(second token = z) given that a second token exists."""
    first = [Fraction(0)] * vocab
    second = [Fraction(0)] * vocab
    for sequence, probability in law.items():
        first[sequence[0]] += probability
        if len(sequence) > 1:
            second[sequence[1]] += probability
    total = sum(second, Fraction(0))
    return first, [s / total for s in second] if total else second


CASES = {  # name: (draft rows q_0 .. q_{k-1}, target rows p_0 .. p_k), all in eighths
    "Q0 P0, one proposal": ([fixtures.Q0], [fixtures.P0, fixtures.P1]),
    "Q1 P1, one proposal": ([fixtures.Q1], [fixtures.P1, fixtures.P2]),
    "two proposals": ([fixtures.Q0, fixtures.Q1], [fixtures.P0, fixtures.P1, fixtures.P2]),
    "target gives a proposal no mass": ([fixtures.Q1], [[0.5, 0.5, 0.0, 0.0], fixtures.P2]),
}


def keeps_the_target(step: StepFn, q: Rows, p: Rows) -> bool:
    first, second = _marginals(emitted(step, q, p), len(p[0]))
    exact = [Fraction(x) for x in p[0]], [Fraction(x) for x in p[1]]
    return first == exact[0] and second == exact[1]


@pytest.mark.parametrize("name", list(CASES))
def test_a_step_emits_the_targets_distribution(name: str) -> None:
    q, p = CASES[name]
    assert keeps_the_target(py_step, q, p)  # the theorem, in exact arithmetic
    assert keeps_the_target(solution.speculative_step, q, p)


def test_the_enumeration_cells_are_fine_enough() -> None:
    """Within each cell the reference's step is constant: no threshold was missed."""
    q, p = CASES["two proposals"]
    for tokens in ([1, 0], [0, 2], [2, 3]):
        for i, (point, length) in enumerate(_cells(_u_cuts(q[0], p[0]))):
            spread = [point + float(length) * f for f in (-0.49, 0.49)]
            outcomes = {
                solution.speculative_step(*_step_args(tokens, q, p, [x, 0.3]), 0.6) for x in spread
            }
            assert len(outcomes) == 1, (tokens, i)


def test_the_average_step_yields_equation_1() -> None:
    """A draft whose every proposal is accepted with probability alpha = 3/8, k = 3."""
    alpha = Fraction(3, 8)
    q = [[1.0, 0.0]] * 3
    p = [[float(alpha), float(1 - alpha)]] * 4
    law = emitted(solution.speculative_step, q, p)
    mean = sum((len(s) * w for s, w in law.items()), Fraction(0))
    # 1 + 3/8 + 9/64 + 27/512 = (512 + 192 + 72 + 27) / 512
    assert mean == py_expected_tokens(alpha, 3) == Fraction(803, 512)


# ----------------------------------------------------------------------------------------------
# Every catalogue entry against the theorem

# Wrong versions whose mistake a step's output distribution cannot show, and why.
INVISIBLE = {
    "acceptance as 1 - sum |p - q| (the total variation distance without its 1/2)": "not used",
    "acceptance as the expectation over q of min(1, p / q), 0 / 0 where q = 0": "not used",
    "residual 0 / 0 when it has no mass": "a step never rejects where p == q",
    "inverse CDF with >= (the left side of the boundary)": "a boundary has measure 0",
    "accepted returned as a float": "the right numbers, of the wrong type",
    "expected tokens off by one (alpha ** k)": "not used by a step",
    "expected tokens k at alpha = 1": "not used by a step",
    "alpha not checked": "not used by a step",
    "the ValueError does not name the argument's value": "not used by a step",
}


def _variant_step(variant: Variant) -> StepFn:
    module = types.ModuleType("variant")
    exec(variant.source(solution_source("speculative_decoding")), module.__dict__)
    step: StepFn = module.speculative_step
    return step


VARIANTS: list[Variant] = importlib.import_module("catalogue.speculative_decoding").VARIANTS


@pytest.mark.parametrize("variant", VARIANTS, ids=[v.name for v in VARIANTS])
def test_catalogue_entry_against_the_theorem(variant: Variant) -> None:
    step = _variant_step(variant)
    with np.errstate(all="ignore"):
        kept = all(keeps_the_target(step, q, p) for q, p in CASES.values())
    if variant.passes or variant.name in INVISIBLE:
        assert kept, "a step of this version no longer emits the target's distribution"
    else:
        assert not kept, "this wrong version keeps the target's distribution: name why in INVISIBLE"
