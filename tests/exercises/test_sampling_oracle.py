"""solutions/sampling.py against independent oracles; the hand fixtures and the grader's cases.

Oracles:
- the contract's formulas evaluated one token at a time in plain Python (math.exp, sorted, a
  running total), never numpy;
- torch: `torch.topk` for the top-k threshold (as Hugging Face's TopKLogitsWarper), the
  sort-and-cumsum nucleus filter of common generation libraries in its two published forms
  (Hugging Face's TopPLogitsWarper: ascending sort, drop totals <= 1 - p; and the older
  descending "shift the mask right by one" form), Hugging Face's MinPLogitsWarper, and
  `torch.searchsorted` for inverse-CDF sampling;
- the law of large numbers: u drawn uniformly gives each token with its probability.
The grader's inputs are also checked to stay clear of what the contract does not grade (running
totals within 1e-6 of p, probabilities within 1e-6 of min_p * max).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from transformer_kit.graders import test_sampling as grader
from transformer_kit.graders.fixtures import sampling as fixtures
from transformer_kit.solutions import sampling as solution

INF = math.inf

# ----------------------------------------------------------------------------------------------
# Plain-Python oracles, one row and one token at a time


def py_softmax(row: Sequence[float]) -> list[float]:
    top = max(row)
    exps = [math.exp(x - top) if x != -INF else 0.0 for x in row]
    total = math.fsum(exps)
    return [e / total for e in exps]


def py_rows(logits: np.ndarray) -> list[list[float]]:
    return [list(map(float, row)) for row in np.asarray(logits).reshape(-1, logits.shape[-1])]


def py_filter(logits: np.ndarray, keep_row) -> np.ndarray:
    out = []
    for row in py_rows(logits):
        keep = keep_row(row)
        out.append([x if kept else -INF for x, kept in zip(row, keep, strict=True)])
    return np.array(out).reshape(logits.shape)


def py_top_k(logits: np.ndarray, k: int) -> np.ndarray:
    def keep(row: list[float]) -> list[bool]:
        kth = sorted(row, reverse=True)[min(k, len(row)) - 1]
        return [x >= kth for x in row]

    return py_filter(logits, keep)


def py_before(probs: list[float]) -> dict[int, float]:
    """For each token id, the total probability of the tokens before it, most likely first."""
    order = sorted(range(len(probs)), key=lambda i: -probs[i])
    before, total = {}, 0.0
    for i in order:
        before[i] = total
        total += probs[i]
    return before


def py_top_p(logits: np.ndarray, p: float) -> np.ndarray:
    def keep(row: list[float]) -> list[bool]:
        if p == 1:
            return [True] * len(row)
        before = py_before(py_softmax(row))
        return [before[i] < p for i in range(len(row))]

    return py_filter(logits, keep)


def py_min_p(logits: np.ndarray, min_p: float) -> np.ndarray:
    def keep(row: list[float]) -> list[bool]:
        probs = py_softmax(row)
        bar = min_p * max(probs)
        return [q >= bar for q in probs]

    return py_filter(logits, keep)


def py_sample(logits: Sequence[float], u: float) -> int:
    probs = py_softmax([float(x) for x in logits])
    total, last = 0.0, None
    for i, q in enumerate(probs):
        total += q
        if q > 0:
            last = i
        if total > u:
            return i
    assert last is not None
    return last


# ----------------------------------------------------------------------------------------------
# torch oracles, as generation libraries write them


def torch_top_k(logits: np.ndarray, k: int) -> np.ndarray:
    """Hugging Face's TopKLogitsWarper: drop every logit below torch.topk's k-th value."""
    x = torch.tensor(logits, dtype=torch.float64)
    k = min(k, x.shape[-1])
    kth = torch.topk(x, k, dim=-1).values[..., -1, None]
    return x.masked_fill(x < kth, -INF).numpy()


def torch_top_p_ascending(logits: np.ndarray, p: float) -> np.ndarray:
    """Hugging Face's TopPLogitsWarper (min_tokens_to_keep = 1)."""
    x = torch.tensor(logits, dtype=torch.float64)
    sorted_logits, order = torch.sort(x, descending=False, dim=-1)
    totals = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = totals <= 1 - p
    remove[..., -1:] = False
    return x.masked_fill(remove.scatter(-1, order, remove), -INF).numpy()


def torch_top_p_shifted(logits: np.ndarray, p: float) -> np.ndarray:
    """The descending form: remove where the total exceeds p, mask shifted right by one."""
    x = torch.tensor(logits, dtype=torch.float64)
    sorted_logits, order = torch.sort(x, descending=True, dim=-1)
    totals = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
    remove = totals > p
    remove[..., 1:] = remove[..., :-1].clone()
    remove[..., 0] = False
    return x.masked_fill(remove.scatter(-1, order, remove), -INF).numpy()


def torch_min_p(logits: np.ndarray, min_p: float) -> np.ndarray:
    """Hugging Face's MinPLogitsWarper (min_tokens_to_keep = 1)."""
    x = torch.tensor(logits, dtype=torch.float64)
    probs = torch.softmax(x, dim=-1)
    bar = min_p * probs.amax(dim=-1, keepdim=True)
    return x.masked_fill(probs < bar, -INF).numpy()


def torch_sample(logits: np.ndarray, u: float) -> int:
    probs = torch.softmax(torch.tensor(logits, dtype=torch.float64), dim=-1)
    cdf = torch.cumsum(probs, dim=-1)
    index = int(torch.searchsorted(cdf, torch.tensor([u], dtype=torch.float64), right=True))
    return index if index < len(cdf) else int(torch.nonzero(probs > 0).flatten()[-1])


def same(a: np.ndarray, b: np.ndarray) -> None:
    np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-12, atol=1e-12)


# ----------------------------------------------------------------------------------------------
# Inputs: the grader's cases and some more


def grader_filter_inputs() -> list[tuple[str, np.ndarray, float]]:
    """(kind, logits, argument) for every filter call the grader makes with a reference answer."""
    cases: list[tuple[str, np.ndarray, float]] = []
    logits = np.array(fixtures.LOGITS)
    cases += [("top_p", logits, p) for p, _ in fixtures.TOP_P_CASES]
    cases += [("min_p", logits, m) for m, _ in fixtures.MIN_P_CASES]
    large = np.array(fixtures.LARGE_LOGITS)
    cases += [("top_p", large, fixtures.LARGE_P), ("min_p", large, fixtures.LARGE_MIN_P)]
    for seed, shape, p, masked in grader.TOP_P_CASES:
        cases.append(("top_p", grader._random_logits(seed, shape, masked), p))
    for seed, shape, masked in ((15, (6,), 0.0), (16, (3, 5), 0.0), (17, (2, 6), 0.3)):
        cases.append(("top_p", grader._random_logits(seed, shape, masked), 1.0))
    for seed, shape, p in ((18, (3, 8), 0.7), (19, (4, 6), 1e-3)):
        cases.append(("top_p", grader._random_logits(seed, shape), p))
    for seed, shape, min_p, masked in grader.MIN_P_CASES:
        cases.append(("min_p", grader._random_logits(seed, shape, masked), min_p))
    for seed, shape in ((25, (6,)), (26, (3, 5))):
        cases.append(("min_p", grader._random_logits(seed, shape), 0.0))
    shifted = grader._random_logits(27, (3, 6)) + np.array([[50.0], [-30.0], [7.5]])
    cases += [("top_p", shifted, 0.6), ("min_p", shifted, 0.3)]
    after_k = solution.top_k_logits(grader._random_logits(28, (3, 8)), 5)
    cases += [("top_p", after_k, 0.8), ("min_p", after_k, 0.2)]
    return cases


EXTRA_SEEDS = [(100 + i, shape) for i, shape in enumerate([(7,), (4, 9), (2, 3, 5), (16,)])]


# ----------------------------------------------------------------------------------------------
# The hand fixtures, against the oracles


def test_temperature_fixtures() -> None:
    logits = fixtures.TEMPERATURE_LOGITS
    for temperature, expected in fixtures.TEMPERATURE_CASES:
        assert [x / temperature for x in logits] == pytest.approx(expected, rel=1e-12)
        same(torch.tensor(logits) / temperature, expected)
        same(solution.apply_temperature(np.array(logits), temperature), expected)
    masked = np.array(fixtures.TEMPERATURE_MASKED_LOGITS)
    same(
        solution.apply_temperature(masked, fixtures.TEMPERATURE_MASKED_T),
        fixtures.TEMPERATURE_MASKED_EXPECTED,
    )


def test_top_k_fixtures() -> None:
    cases = [(fixtures.TOP_K_LOGITS, k, expected) for k, expected in fixtures.TOP_K_CASES]
    cases.append((fixtures.TOP_K_TIE_LOGITS, fixtures.TOP_K_TIE_K, fixtures.TOP_K_TIE_EXPECTED))
    cases.append((fixtures.TOP_K_ROWS, fixtures.TOP_K_ROWS_K, fixtures.TOP_K_ROWS_EXPECTED))
    for values, k, expected in cases:
        logits = np.array(values)
        same(py_top_k(logits, k), expected)
        same(torch_top_k(logits, k), expected)
        same(solution.top_k_logits(logits, k), expected)


def test_probability_fixtures() -> None:
    assert math.fsum(fixtures.PROBS) == 1.0
    assert py_softmax(fixtures.LOGITS) == pytest.approx(fixtures.PROBS, rel=1e-12)
    assert py_softmax(fixtures.LARGE_LOGITS) == pytest.approx(fixtures.PROBS, rel=1e-9)
    logits = np.array(fixtures.LOGITS)
    for p, expected in fixtures.TOP_P_CASES:
        same(py_top_p(logits, p), expected)
        same(torch_top_p_ascending(logits, p), expected)
        same(torch_top_p_shifted(logits, p), expected)
        same(solution.top_p_logits(logits, p), expected)
    for min_p, expected in fixtures.MIN_P_CASES:
        same(py_min_p(logits, min_p), expected)
        same(torch_min_p(logits, min_p), expected)
        same(solution.min_p_logits(logits, min_p), expected)
    large = np.array(fixtures.LARGE_LOGITS)
    for expected, result in (
        (fixtures.LARGE_P_EXPECTED, solution.top_p_logits(large, fixtures.LARGE_P)),
        (fixtures.LARGE_P_EXPECTED, torch_top_p_ascending(large, fixtures.LARGE_P)),
        (fixtures.LARGE_MIN_P_EXPECTED, solution.min_p_logits(large, fixtures.LARGE_MIN_P)),
        (fixtures.LARGE_MIN_P_EXPECTED, py_min_p(large, fixtures.LARGE_MIN_P)),
    ):
        same(result, expected)


def test_sample_fixtures() -> None:
    groups = [
        (fixtures.LOGITS, fixtures.SAMPLE_CASES),
        (fixtures.LARGE_LOGITS, fixtures.SAMPLE_CASES),
        (fixtures.UNIFORM_LOGITS, fixtures.BOUNDARY_CASES),
        (fixtures.MASKED_FIRST_LOGITS, fixtures.MASKED_FIRST_CASES),
        (fixtures.MASKED_MIDDLE_LOGITS, fixtures.MASKED_MIDDLE_CASES),
        (fixtures.ROUNDING_LOGITS, [(fixtures.ROUNDING_U, fixtures.ROUNDING_EXPECTED)]),
    ]
    for values, cases in groups:
        for u, expected in cases:
            logits = np.array(values)
            assert py_sample(values, u) == expected, (values, u)
            assert torch_sample(logits, u) == expected, (values, u)
            got = solution.sample_token(logits, u)
            assert got == expected and type(got) is int, (values, u, got)


def test_boundary_fixtures_are_exact() -> None:
    """The boundary cases sit exactly on a total, in numpy, torch and plain Python alike."""
    for values, cases in (
        (fixtures.UNIFORM_LOGITS, fixtures.BOUNDARY_CASES),
        (fixtures.MASKED_FIRST_LOGITS, fixtures.MASKED_FIRST_CASES),
        (fixtures.MASKED_MIDDLE_LOGITS, fixtures.MASKED_MIDDLE_CASES[:1]),
    ):
        totals = np.cumsum(solution._softmax(np.array(values)))
        torch_totals = torch.cumsum(torch.softmax(torch.tensor(values), 0), 0).numpy()
        float32 = np.cumsum(solution._softmax(np.array(values, dtype=np.float32)))
        for u, _ in cases:
            assert u in totals.tolist() or u == 0.0
            assert u in torch_totals.tolist() or u == 0.0
            assert u in float32.tolist() or u == 0.0


def test_rounding_fixture_needs_the_fallback() -> None:
    """numpy's and torch's float64 totals really end below u, so the fallback is exercised."""
    logits = np.array(fixtures.ROUNDING_LOGITS)
    u = fixtures.ROUNDING_U
    assert u == np.nextafter(1.0, 0.0)
    assert np.cumsum(solution._softmax(logits))[-1] <= u
    assert float(torch.cumsum(torch.softmax(torch.tensor(logits), 0), 0)[-1]) <= u
    assert fixtures.ROUNDING_LOGITS[-1] == -INF  # the last index is not the answer


# ----------------------------------------------------------------------------------------------
# The solution against the oracles on random inputs


@pytest.mark.parametrize(("seed", "shape"), EXTRA_SEEDS)
@pytest.mark.parametrize("k", [1, 2, 4, 5, 9, 40])
def test_top_k_matches_torch_topk(seed: int, shape: tuple[int, ...], k: int) -> None:
    logits = grader._random_logits(seed, shape, masked=0.2)
    same(solution.top_k_logits(logits, k), torch_top_k(logits, k))
    same(solution.top_k_logits(logits, k), py_top_k(logits, k))


def test_top_k_ties_match_torch_topk() -> None:
    rng = np.random.default_rng(5)
    logits = rng.integers(0, 4, size=(6, 7)).astype(np.float64)
    for k in range(1, 9):
        same(solution.top_k_logits(logits, k), torch_top_k(logits, k))


@pytest.mark.parametrize(("seed", "shape"), EXTRA_SEEDS)
@pytest.mark.parametrize("p", [1e-3, 0.3, 0.5, 0.9, 0.99, 1.0])
def test_top_p_matches_generation_libraries(seed: int, shape: tuple[int, ...], p: float) -> None:
    logits = grader._random_logits(seed, shape, masked=0.2)
    expected = solution.top_p_logits(logits, p)
    same(expected, py_top_p(logits, p))
    if p < 1:  # the libraries keep a -inf token's -inf either way; at p = 1 totals round
        same(expected, torch_top_p_ascending(logits, p))
        same(expected, torch_top_p_shifted(logits, p))


@pytest.mark.parametrize(("seed", "shape"), EXTRA_SEEDS)
@pytest.mark.parametrize("min_p", [0.0, 0.05, 0.2, 0.5, 0.9])
def test_min_p_matches_hugging_face(seed: int, shape: tuple[int, ...], min_p: float) -> None:
    logits = grader._random_logits(seed, shape, masked=0.2)
    same(solution.min_p_logits(logits, min_p), torch_min_p(logits, min_p))
    same(solution.min_p_logits(logits, min_p), py_min_p(logits, min_p))


@pytest.mark.parametrize(("seed", "shape"), EXTRA_SEEDS)
def test_temperature_matches_torch(seed: int, shape: tuple[int, ...]) -> None:
    logits = grader._random_logits(seed, shape, masked=0.2)
    for temperature in (0.1, 0.7, 1.0, 2.5):
        result = solution.apply_temperature(logits, temperature)
        same(result, (torch.tensor(logits) / temperature).numpy())
        probs, torch_probs = solution._softmax(result), torch.softmax(torch.tensor(result), -1)
        same(probs, torch_probs.numpy())


def test_sample_matches_plain_python_and_torch() -> None:
    rng = np.random.default_rng(7)
    for seed, vocab, masked in [*grader.SAMPLE_SEEDS, (45, 12, 0.5), (46, 3, 0.0)]:
        logits, us = grader._sample_inputs(seed, vocab, masked)
        for u in [*us, *rng.random(20).tolist()]:
            expected = py_sample(logits.tolist(), u)
            assert solution.sample_token(logits, u) == expected
            assert torch_sample(logits, u) == expected


def test_sample_follows_the_distribution() -> None:
    """Uniform u makes each token come out with its probability; -inf never comes out."""
    logits = grader._random_logits(44, (6,), 0.3)
    probs = np.array(py_softmax(logits.tolist()))
    draws = np.random.default_rng(0).random(20_000)
    counts = np.bincount([solution.sample_token(logits, u) for u in draws], minlength=6)
    assert np.all(counts[probs == 0] == 0)
    np.testing.assert_allclose(counts / draws.size, probs, atol=0.015)


# ----------------------------------------------------------------------------------------------
# The grader's inputs against their claims


@pytest.mark.parametrize("case", range(len(grader_filter_inputs())))
def test_grader_inputs_keep_clear_of_ungraded_boundaries(case: int) -> None:
    kind, logits, argument = grader_filter_inputs()[case]
    for row in py_rows(logits):
        probs = py_softmax(row)
        if kind == "top_p" and argument < 1:
            before = py_before(probs)
            assert min(abs(total - argument) for total in before.values()) > 1e-4
        if kind == "top_p" and argument == 1:
            assert min(q for q in probs if q > 0) > 1e-4  # no total near 1 before a token
        if kind == "min_p" and argument > 0:
            bar = argument * max(probs)
            assert min(abs(q - bar) for q in probs) > 1e-5
        if kind == "min_p" and argument == 0:
            assert min(q for q in probs if q > 0) > 1e-6  # underflow would not matter either


def test_grader_filter_answers_match_the_oracles() -> None:
    for kind, logits, argument in grader_filter_inputs():
        if kind == "top_p":
            same(solution.top_p_logits(logits, argument), py_top_p(logits, argument))
        else:
            same(solution.min_p_logits(logits, argument), py_min_p(logits, argument))


def test_grader_sample_grid_keeps_clear_of_the_totals() -> None:
    """The distribution test's u = (j + 0.5) / grid lie away from every cumulative total."""
    logits = grader._random_logits(44, (6,), 0.3)
    totals = np.cumsum(py_softmax(logits.tolist()))
    grid = (np.arange(grader.SAMPLE_GRID) + 0.5) / grader.SAMPLE_GRID
    assert np.min(np.abs(totals[:, None] - grid[None, :])) > 1e-4


def test_grader_top_k_ties_are_ties() -> None:
    """The random tie case really ties at the k-th value in some row."""
    logits = np.random.default_rng(5).integers(0, 4, size=(4, 7)).astype(np.float64)
    kept = np.isfinite(solution.top_k_logits(logits, 3)).sum(axis=-1)
    assert (kept > 3).any()


def test_mistakes_differ_from_the_answer_on_the_hand_fixtures() -> None:
    """Each named top-p and min-p mistake changes at least one hand fixture's answer."""
    logits = np.array(fixtures.LOGITS)
    for name in (grader.P_CROSSING, grader.P_ASCENDING, grader.P_UNSORTED):
        assert any(
            not np.array_equal(grader.top_p_mistakes(logits, p)[name], expected)
            for p, expected in fixtures.TOP_P_CASES
        ), name
    for name in (grader.M_ABSOLUTE, grader.M_LOGITS):
        assert any(
            not np.array_equal(grader.min_p_mistakes(logits, m)[name], expected)
            for m, expected in fixtures.MIN_P_CASES
        ), name
