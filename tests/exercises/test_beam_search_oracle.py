"""solutions/beam_search.py against independent oracles; the grader's cases against their claims.

Oracles: an exhaustive search over every sequence (itertools.product), a step-by-step argmax in
plain Python, and a second beam search written another way (a bounded heapq per step, tuples,
no sorting during the search). The models here are torch's: log_softmax of seeded normal logits,
one independent row per prefix.
"""

from __future__ import annotations

import functools
import heapq
import itertools
import math
import zlib
from collections.abc import Callable, Sequence

import numpy as np
import pytest
import torch

from transformer_kit.graders import test_beam_search as grader
from transformer_kit.graders.fixtures import beam_search as fixtures
from transformer_kit.solutions import beam_search as solution

Beams = list[tuple[list[int], float]]
LogProbFn = Callable[[Sequence[int]], np.ndarray]


def torch_model(seed: int, vocab: int, eos_id: int = 0, eos_bias: float = 0.0) -> LogProbFn:
    """log_softmax of seeded logits; the seed of a row is a hash of (seed, prefix)."""

    @functools.cache
    def row(prefix: tuple[int, ...]) -> np.ndarray:
        generator = torch.Generator().manual_seed(zlib.crc32(repr((seed, prefix)).encode()))
        logits = 2.0 * torch.randn(vocab, generator=generator, dtype=torch.float64)
        logits[eos_id] += eos_bias
        return torch.log_softmax(logits, dim=0).numpy()

    return lambda tokens: row(tuple(int(t) for t in tokens)).copy()


def random_config(rng: np.random.Generator) -> dict:
    vocab = int(rng.integers(2, 7))
    bos_id, eos_id = (int(i) for i in rng.choice(vocab, size=2, replace=False))
    return {
        "vocab": vocab,
        "bos_id": bos_id,
        "eos_id": eos_id,
        "beam_width": int(rng.integers(1, 6)),
        "max_len": int(rng.integers(1, 7)),
        "length_penalty": float(rng.choice([0.0, 0.5, 1.0, 2.0])),
        "eos_bias": float(rng.uniform(-1.0, 2.0)),
    }


def same(got: Beams, want: Beams, rtol: float = 1e-12) -> bool:
    return (
        len(got) == len(want)
        and [t for t, _ in got] == [t for t, _ in want]
        and bool(np.allclose([s for _, s in got], [s for _, s in want], rtol=rtol, atol=1e-12))
    )


# --------------------------------------------------------------------------------------------
# Oracles


def stepwise_argmax(lm: LogProbFn, bos_id: int, eos_id: int, max_len: int) -> list[int]:
    """Greedy in plain Python: the largest log-prob, the lowest id among equals."""
    tokens = [bos_id]
    while len(tokens) - 1 < max_len and not (len(tokens) > 1 and tokens[-1] == eos_id):
        row = [float(x) for x in lm(list(tokens))]
        best = 0
        for i in range(1, len(row)):
            if row[i] > row[best]:
                best = i
        tokens.append(best)
    return tokens


def heap_search(
    lm: LogProbFn,
    bos_id: int,
    eos_id: int,
    beam_width: int,
    max_len: int,
    length_penalty: float = 0.0,
    gaps: list[float] | None = None,
) -> Beams:
    """The contract's search with a bounded min-heap per step; `gaps` collects, per step, how
    far the worst kept expansion is above the best dropped one (the margin against ties)."""
    beam: list[tuple[float, tuple[int, ...]]] = [(0.0, (bos_id,))]
    done: list[tuple[float, tuple[int, ...]]] = []
    for _ in range(max_len):
        if not beam or len(done) >= beam_width:
            break
        room = beam_width - len(done)
        heap: list[tuple[float, tuple[int, ...]]] = []
        dropped = -math.inf
        for score, prefix in beam:
            for token, log_prob in enumerate(lm(list(prefix))):
                item = (score + float(log_prob), (*prefix, token))
                if len(heap) < room:
                    heapq.heappush(heap, item)
                else:
                    dropped = max(dropped, heapq.heappushpop(heap, item)[0])
        if gaps is not None and dropped > -math.inf:
            gaps.append(heap[0][0] - dropped)
        beam = [item for item in heap if item[1][-1] != eos_id]
        done += [item for item in heap if item[1][-1] == eos_id]
    done += beam
    scored = [(score / (len(seq) - 1) ** length_penalty, seq) for score, seq in done]
    return [(list(seq), score) for score, seq in heapq.nlargest(beam_width, scored)]


def exhaustive(
    lm: LogProbFn, bos_id: int, eos_id: int, vocab: int, max_len: int, length_penalty: float
) -> Beams:
    """Every sequence: eos_id at the end only, or max_len tokens without it; best first."""
    found = []
    for length in range(1, max_len + 1):
        for generated in itertools.product(range(vocab), repeat=length):
            if eos_id in generated[:-1]:
                continue
            if length < max_len and generated[-1] != eos_id:
                continue
            tokens = [bos_id, *generated]
            score = sum(float(lm(tokens[:i])[tokens[i]]) for i in range(1, len(tokens)))
            found.append((tokens, score / length**length_penalty))
    return sorted(found, key=lambda hyp: hyp[1], reverse=True)


# --------------------------------------------------------------------------------------------
# The solution against the oracles


@pytest.mark.parametrize("seed", range(40))
def test_greedy_is_stepwise_argmax(seed: int) -> None:
    config = random_config(np.random.default_rng(seed))
    lm = torch_model(seed, config["vocab"], config["eos_id"], config["eos_bias"])
    args = (config["bos_id"], config["eos_id"], config["max_len"])
    assert solution.greedy_decode(lm, *args) == stepwise_argmax(lm, *args)


def test_greedy_ties_and_zero_length() -> None:
    flat = lambda tokens: np.log(np.full(4, 0.25))  # noqa: E731
    assert solution.greedy_decode(flat, 2, 3, 3) == [2, 0, 0, 0]  # every step ties: id 0
    assert solution.greedy_decode(flat, 2, 0, 3) == [2, 0]  # id 0 is eos: stop
    assert solution.greedy_decode(flat, 2, 0, 0) == [2]  # max_len 0: bos only


@pytest.mark.parametrize("seed", range(300))
def test_beam_matches_heapq_search(seed: int) -> None:
    config = random_config(np.random.default_rng(1000 + seed))
    lm = torch_model(seed, config["vocab"], config["eos_id"], config["eos_bias"])
    args = (config["bos_id"], config["eos_id"], config["beam_width"], config["max_len"])
    got = solution.beam_search(lm, *args, config["length_penalty"])
    assert same(got, heap_search(lm, *args, config["length_penalty"]))
    assert len(got) <= config["beam_width"]
    assert all(tokens[0] == config["bos_id"] for tokens, _ in got)
    assert all(isinstance(t, int) for tokens, _ in got for t in tokens)
    assert all(type(score) is float for _, score in got)


@pytest.mark.parametrize(
    ("vocab", "max_len", "length_penalty"),
    [(2, 1, 0.0), (2, 3, 0.0), (3, 2, 1.0), (3, 3, 0.5), (4, 2, 0.0), (4, 3, 2.0)],
)
@pytest.mark.parametrize("seed", range(3))
def test_wide_beam_is_exhaustive(
    vocab: int, max_len: int, length_penalty: float, seed: int
) -> None:
    lm = torch_model(seed, vocab, eos_id=1)
    got = solution.beam_search(lm, 0, 1, vocab**max_len, max_len, length_penalty)
    every = exhaustive(lm, 0, 1, vocab, max_len, length_penalty)
    assert got[0][0] == every[0][0]  # the best hypothesis is the best sequence overall
    assert same(got, every, rtol=1e-10)  # and every sequence is there, best first


@pytest.mark.parametrize("seed", range(30))
def test_width_one_is_greedy(seed: int) -> None:
    config = random_config(np.random.default_rng(2000 + seed))
    lm = torch_model(seed, config["vocab"], config["eos_id"], config["eos_bias"])
    args = (config["bos_id"], config["eos_id"])
    (tokens, score), *rest = solution.beam_search(
        lm, *args, 1, config["max_len"], config["length_penalty"]
    )
    assert rest == []
    assert tokens == stepwise_argmax(lm, *args, config["max_len"])
    raw = sum(float(lm(tokens[:i])[tokens[i]]) for i in range(1, len(tokens)))
    assert score == pytest.approx(raw / (len(tokens) - 1) ** config["length_penalty"])


def test_solution_does_not_keep_the_prefix_it_passes() -> None:
    """log_prob_fn may keep or change the list it gets: the search must not care."""
    lm = torch_model(7, 4, eos_id=1)
    seen: list[list[int]] = []

    def hostile(tokens: list[int]) -> np.ndarray:
        row = lm(tokens)
        seen.append(tokens)
        tokens.append(99)  # a careless model that appends to its argument
        return row

    assert solution.greedy_decode(hostile, 0, 1, 4) == solution.greedy_decode(lm, 0, 1, 4)
    assert same(solution.beam_search(hostile, 0, 1, 3, 4), solution.beam_search(lm, 0, 1, 3, 4))


# --------------------------------------------------------------------------------------------
# The hand fixtures


def fixture_fn(rows: dict) -> LogProbFn:
    return lambda tokens: np.log(np.asarray(rows.get(tuple(tokens), fixtures.DEFAULT)))


@pytest.mark.parametrize("rows", [fixtures.MODEL_A, fixtures.MODEL_B, fixtures.MODEL_T])
def test_fixture_rows_are_distributions(rows: dict) -> None:
    for row in [*rows.values(), fixtures.DEFAULT]:
        assert len(row) == 4 and min(row) > 0 and math.isclose(sum(row), 1.0)


def test_fixture_greedy() -> None:
    a, b, t = (fixture_fn(m) for m in (fixtures.MODEL_A, fixtures.MODEL_B, fixtures.MODEL_T))
    assert solution.greedy_decode(a, 0, 1, 3) == fixtures.GREEDY_A
    assert solution.greedy_decode(b, 0, 1, 3) == fixtures.GREEDY_B
    assert solution.greedy_decode(b, 0, 1, 2) == fixtures.GREEDY_B_MAX_LEN_2
    assert solution.greedy_decode(b, 0, 1, 1) == fixtures.GREEDY_B_MAX_LEN_1
    assert solution.greedy_decode(t, 0, 1, 3) == fixtures.GREEDY_T


@pytest.mark.parametrize(
    ("rows", "spec"),
    [
        (fixtures.MODEL_A, fixtures.BEAM_A),
        (fixtures.MODEL_B, fixtures.BEAM_B),
        (fixtures.MODEL_B, fixtures.BEAM_B_PENALTY),
        (fixtures.MODEL_B, fixtures.BEAM_B_LIVE_AT_MAX_LEN),
    ],
)
def test_fixture_beams(rows: dict, spec: dict) -> None:
    lm = fixture_fn(rows)
    args = (0, 1, spec["beam_width"], spec["max_len"], spec["length_penalty"])
    got = solution.beam_search(lm, *args)
    assert same(got, spec["expected"], rtol=1e-12)
    assert same(heap_search(lm, *args), spec["expected"], rtol=1e-12)


def test_fixture_a_beam_beats_greedy() -> None:
    (best_tokens, best), *others = fixtures.BEAM_A["expected"]
    greedy = [score for tokens, score in others if tokens == fixtures.GREEDY_A]
    assert best_tokens != fixtures.GREEDY_A
    assert greedy and best > greedy[0]


def test_fixture_b_budget_matters() -> None:
    """Keeping beam_width at every step gives another answer on model B (the point of it)."""
    lm = fixture_fn(fixtures.MODEL_B)
    wrong = grader.beam_variant(lm, 0, 1, 3, 3, 0.0, budget="shared")
    assert not same(wrong, fixtures.BEAM_B["expected"])


# --------------------------------------------------------------------------------------------
# The grader: its variants, its cases and their margins


def grader_cases() -> list[grader.Case]:
    return [
        *grader.GREEDY_CASES,
        grader.GREEDY_EOS_CASE,
        grader.GREEDY_LONG_CASE,
        *grader.BEAM_CASES,
        *grader.EXHAUSTIVE_CASES,
        *grader.WIDTH_ONE_CASES,
        grader.EARLY_EOS_CASE,
        grader.LONG_CASE,
    ]


def beam_args(case: grader.Case) -> tuple[int, int, int, int, float]:
    return case.bos_id, case.eos_id, case.beam_width, case.max_len, case.length_penalty


@pytest.mark.parametrize("seed", range(100))
def test_grader_variant_without_mistake_is_the_contract(seed: int) -> None:
    config = random_config(np.random.default_rng(3000 + seed))
    lm = torch_model(seed, config["vocab"], config["eos_id"], config["eos_bias"])
    args = (config["bos_id"], config["eos_id"], config["beam_width"], config["max_len"])
    penalty = config["length_penalty"]
    assert same(grader.beam_variant(lm, *args, penalty), solution.beam_search(lm, *args, penalty))
    greedy_args = (config["bos_id"], config["eos_id"], config["max_len"])
    assert grader.greedy_variant(lm, *greedy_args, "") == solution.greedy_decode(lm, *greedy_args)


@pytest.mark.parametrize("case", grader.EXHAUSTIVE_CASES)
def test_grader_brute_force(case: grader.Case) -> None:
    assert case.beam_width >= case.vocab**case.max_len
    lm = grader.plain_fn(case.model)
    args = (case.bos_id, case.eos_id, case.vocab, case.max_len, case.length_penalty)
    assert same(grader.brute_force(case.model, *args), exhaustive(lm, *args), rtol=1e-12)


def test_grader_cases_have_no_near_ties() -> None:
    """Every choice in the grader's random cases wins by a margin float32 arithmetic keeps."""
    for case in grader_cases():
        lm = grader.plain_fn(case.model)
        tokens = [case.bos_id]
        for _ in range(case.max_len):  # greedy: the best beats the second best
            row = np.sort(lm(tokens))
            assert row[-1] - row[-2] > 1e-3, case
            tokens.append(int(np.argmax(lm(tokens))))
            if tokens[-1] == case.eos_id:
                break
        gaps: list[float] = []
        found = heap_search(lm, *beam_args(case), gaps=gaps)
        assert min(gaps, default=1.0) > 1e-3, case
        scores = [score for _, score in found]
        assert all(a - b > 1e-3 for a, b in itertools.pairwise(scores)), case


def test_grader_cases_do_what_they_say() -> None:
    def greedy(case: grader.Case) -> list[int]:
        lm = grader.plain_fn(case.model)
        return solution.greedy_decode(lm, case.bos_id, case.eos_id, case.max_len)

    stops = greedy(grader.GREEDY_EOS_CASE)
    assert stops[-1] == grader.GREEDY_EOS_CASE.eos_id
    assert len(stops) - 1 < grader.GREEDY_EOS_CASE.max_len
    long = greedy(grader.GREEDY_LONG_CASE)
    assert len(long) - 1 == grader.GREEDY_LONG_CASE.max_len
    assert grader.GREEDY_LONG_CASE.eos_id not in long[1:]

    early = grader.EARLY_EOS_CASE
    lm = grader.plain_fn(early.model)
    found = solution.beam_search(lm, *beam_args(early))
    assert any(len(t) - 1 < early.max_len and t[-1] == early.eos_id for t, _ in found)
    assert not same(grader.beam_variant(lm, *beam_args(early), budget="shared"), found)

    long_case = grader.LONG_CASE
    lm = grader.plain_fn(long_case.model)
    found = solution.beam_search(lm, *beam_args(long_case))
    assert len(found) == long_case.beam_width
    assert all(len(t) - 1 == long_case.max_len and long_case.eos_id not in t for t, _ in found)

    for case in grader.EXHAUSTIVE_CASES + grader.WIDTH_ONE_CASES + grader.BEAM_CASES:
        assert case.bos_id != case.eos_id and max(case.bos_id, case.eos_id) < case.vocab


def test_every_grader_mistake_shows_somewhere() -> None:
    """Each named mistake gives a result different from the contract's on some grader case, so
    its message can appear (the catalogue checks that learners' versions of it fail)."""
    shown = set()
    for case in grader_cases():
        lm = grader.plain_fn(case.model)
        right = solution.beam_search(lm, *beam_args(case))
        for index, (_, options) in enumerate(grader.BEAM_MISTAKES):
            if not same(grader.beam_variant(lm, *beam_args(case), **options), right):
                shown.add(("beam", index))
        greedy_args = (case.bos_id, case.eos_id, case.max_len)
        for mistake in grader.GREEDY_MISTAKES:
            if mistake == "tie_highest":
                continue  # random models never tie: the hand-made model T is for this one
            wrong = grader.greedy_variant(lm, *greedy_args, mistake)
            if wrong != solution.greedy_decode(lm, *greedy_args):
                shown.add(("greedy", mistake))
    expected = {("beam", index) for index in range(len(grader.BEAM_MISTAKES))}
    expected |= {("greedy", m) for m in grader.GREEDY_MISTAKES if m != "tie_highest"}
    assert expected - shown == set()
    t = fixture_fn(fixtures.MODEL_T)
    assert grader.greedy_variant(t, 0, 1, 3, "tie_highest") != fixtures.GREEDY_T
