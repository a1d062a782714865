"""solutions/retrieval.py against independent oracles; the hand fixtures and the grader's cases.

Oracles:
- brute force in plain Python: cosine similarity with math.fsum and math.sqrt, top-k by sorting
  (-similarity, index) pairs, MMR by scoring every unselected document in every round with the
  max over the selected ones recomputed from scratch, and chunks cut from the definition;
- torch.nn.functional.cosine_similarity for the cosine;
- LangChain's maximal_marginal_relevance (langchain_core/vectorstores/utils.py, with its numpy
  _cosine_similarity), transcribed below as a contrast: it agrees with the contract's MMR except in
  its first pick, by similarity alone, which the contract replaces by the formula (so lam = 0
  starts at doc 0).
The grader's random cases are checked to keep their similarities and MMR scores at least 1e-5
apart, where float32 arithmetic cannot reorder them.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence

import numpy as np
import pytest
import torch

from transformer_kit.graders import test_retrieval as grader
from transformer_kit.graders.fixtures import retrieval as fixtures
from transformer_kit.solutions import retrieval as solution

Vector = Sequence[float]
MARGIN = 1e-5

# ----------------------------------------------------------------------------------------------
# Brute force in plain Python


def py_cosine(a: Vector, b: Vector) -> float:
    norm_a = math.sqrt(math.fsum(x * x for x in a))
    norm_b = math.sqrt(math.fsum(x * x for x in b))
    if norm_a == 0 or norm_b == 0:
        return 0.0
    return math.fsum((x / norm_a) * (y / norm_b) for x, y in zip(a, b, strict=True))


def py_top_k(query: Vector, docs: Sequence[Vector], k: int) -> list[int]:
    sims = [py_cosine(query, d) for d in docs]
    return sorted(range(len(docs)), key=lambda i: (-sims[i], i))[:k]


def py_scores(
    query: Vector, docs: Sequence[Vector], lam: float, selected: list[int]
) -> dict[int, float]:
    """Every unselected doc's MMR score, the max over the selected recomputed from scratch."""
    scores = {}
    for d in range(len(docs)):
        if d not in selected:
            redundancy = max((py_cosine(docs[d], docs[s]) for s in selected), default=0.0)
            scores[d] = lam * py_cosine(query, docs[d]) - (1 - lam) * redundancy
    return scores


def py_mmr(query: Vector, docs: Sequence[Vector], k: int, lam: float) -> list[int]:
    selected: list[int] = []
    while len(selected) < min(k, len(docs)):
        scores = py_scores(query, docs, lam, selected)
        selected.append(min(scores, key=lambda d: (-scores[d], d)))
    return selected


def py_chunks(text: str, size: int, overlap: int) -> list[str]:
    """Chunk i at i * (size - overlap), until one reaches the end of the text."""
    chunks: list[str] = []
    i = 0
    while text and (not chunks or (i - 1) * (size - overlap) + size < len(text)):
        chunks.append(text[i * (size - overlap) : i * (size - overlap) + size])
        i += 1
    return chunks


def langchain_mmr(
    query_embedding: np.ndarray, embedding_list: np.ndarray, lambda_mult: float, k: int
) -> list[int]:
    """LangChain's maximal_marginal_relevance (langchain_core/vectorstores/utils.py), transcribed
    with its numpy _cosine_similarity (dot / outer product of norms, nan and inf set to 0)."""

    def cosine(x: np.ndarray, y: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            similarity = np.dot(x, y.T) / np.outer(
                np.linalg.norm(x, axis=1), np.linalg.norm(y, axis=1)
            )
        similarity[np.isnan(similarity) | np.isinf(similarity)] = 0.0
        return similarity

    if min(k, len(embedding_list)) <= 0:
        return []
    similarity_to_query = cosine(query_embedding[None, :], embedding_list)[0]
    idxs = [int(np.argmax(similarity_to_query))]  # the first pick: similarity alone
    selected = np.array([embedding_list[idxs[0]]])
    while len(idxs) < min(k, len(embedding_list)):
        best_score, idx_to_add = -np.inf, -1
        similarity_to_selected = cosine(embedding_list, selected)
        for i, query_score in enumerate(similarity_to_query):
            if i in idxs:
                continue
            redundant_score = max(similarity_to_selected[i])
            equation_score = lambda_mult * query_score - (1 - lambda_mult) * redundant_score
            if equation_score > best_score:
                best_score, idx_to_add = equation_score, i
        idxs.append(idx_to_add)
        selected = np.append(selected, [embedding_list[idx_to_add]], axis=0)
    return idxs


# ----------------------------------------------------------------------------------------------
# The hand fixtures


def test_cosine_fixtures() -> None:
    a, b = fixtures.COSINE_A, fixtures.COSINE_B
    brute = [[py_cosine(x, y) for y in b] for x in a]
    np.testing.assert_allclose(brute, fixtures.COSINE_EXPECTED, rtol=0, atol=1e-15)
    np.testing.assert_allclose(solution.cosine_similarity(np.array(a), np.array(b)), brute)
    for scale_a in fixtures.SCALES:
        for scale_b in fixtures.SCALES:
            x = [scale_a * v for v in fixtures.DIRECTION_A]
            y = [scale_b * v for v in fixtures.DIRECTION_B]
            assert py_cosine(x, y) == pytest.approx(fixtures.SCALED_COSINE, rel=1e-12)


def test_top_k_fixtures() -> None:
    groups = [
        (fixtures.TOP_K_QUERY, fixtures.TOP_K_DOCS, fixtures.TOP_K_CASES),
        (fixtures.TIES_QUERY, fixtures.TIES_DOCS, fixtures.TIES_CASES),
        (fixtures.ZERO_QUERY, fixtures.ZERO_DOCS, [(4, fixtures.ZERO_EXPECTED)]),
    ]
    for query, docs, cases in groups:
        for k, expected in cases:
            assert py_top_k(query, docs, k) == expected
            assert solution.top_k(np.array(query), np.array(docs), k) == expected


def test_mmr_fixtures() -> None:
    groups = [
        (fixtures.DUP_QUERY, fixtures.DUP_DOCS, fixtures.DUP_CASES),
        (fixtures.EDGE_QUERY, fixtures.EDGE_DOCS, fixtures.EDGE_CASES),
        (
            fixtures.NEGATIVE_QUERY,
            fixtures.NEGATIVE_DOCS,
            [(4, fixtures.NEGATIVE_LAM, fixtures.NEGATIVE_EXPECTED)],
        ),
        (fixtures.SUM_QUERY, fixtures.SUM_DOCS, [(4, fixtures.SUM_LAM, fixtures.SUM_EXPECTED)]),
        ([0.0, 0.0], fixtures.ZERO_QUERY_DOCS, [(2, 0.5, fixtures.ZERO_QUERY_EXPECTED)]),
    ]
    for query, docs, cases in groups:
        for k, lam, expected in cases:
            assert py_mmr(query, docs, k, lam) == expected
            assert solution.mmr(np.array(query), np.array(docs), k, lam) == expected


def test_each_mmr_fixture_exposes_its_mistake_by_name() -> None:
    """The case written for a mistake gives another answer under it, and the grader names that
    mistake first (no mistake listed before it gives the same answer)."""
    cases = {
        grader.MMR_FLOOR: (
            fixtures.NEGATIVE_QUERY,
            fixtures.NEGATIVE_DOCS,
            4,
            fixtures.NEGATIVE_LAM,
        ),
        grader.MMR_SUM: (fixtures.SUM_QUERY, fixtures.SUM_DOCS, 4, fixtures.SUM_LAM),
        grader.MMR_LANGCHAIN: (fixtures.EDGE_QUERY, fixtures.EDGE_DOCS, 3, 0.0),
        grader.MMR_SWAPPED: (fixtures.DUP_QUERY, fixtures.DUP_DOCS, 2, 0.25),
    }
    for mistake, (query, docs, k, lam) in cases.items():
        q, d = np.array(query), np.array(docs)
        mistakes = grader.mmr_mistakes(q, d, k, lam)
        assert mistakes[mistake] != solution.mmr(q, d, k, lam), mistake
        named = [name for name, value in mistakes.items() if value == mistakes[mistake]]
        assert named[0] == mistake, named


def test_chunk_fixtures() -> None:
    for text, size, overlap, expected in fixtures.CHUNK_CASES:
        assert py_chunks(text, size, overlap) == expected
        assert solution.chunk_text(text, size, overlap) == expected


def test_chunks_on_every_small_case() -> None:
    for length in range(0, 13):
        text = "".join(chr(ord("a") + i) for i in range(length))
        for size in range(1, 7):
            for overlap in range(size):
                assert solution.chunk_text(text, size, overlap) == py_chunks(text, size, overlap)


# ----------------------------------------------------------------------------------------------
# Random inputs: the grader's cases and more


def test_cosine_matches_brute_force_and_torch() -> None:
    for seed, n, m, dim in grader.COSINE_SEEDS:
        rng = np.random.default_rng(seed)
        a, b = grader._random_vectors(rng, n, dim), grader._random_vectors(rng, m, dim)
        got = solution.cosine_similarity(a, b)
        brute = [[py_cosine(x, y) for y in b.tolist()] for x in a.tolist()]
        np.testing.assert_allclose(got, brute, rtol=1e-12, atol=1e-15)
        with_torch = torch.nn.functional.cosine_similarity(
            torch.tensor(a)[:, None, :], torch.tensor(b)[None, :, :], dim=-1
        )
        np.testing.assert_allclose(got, with_torch.numpy(), rtol=1e-10, atol=1e-15)


def _corpora() -> list[tuple[np.ndarray, np.ndarray]]:
    seeds = [(s, c, d) for s, c, d in grader.TOP_K_SEEDS]
    seeds += [(s, c, d) for s, c, d, _ in grader.MMR_SEEDS]
    return [grader._random_corpus(seed, count, dim) for seed, count, dim in seeds]


def test_graded_top_k_cases_match_brute_force_with_clear_gaps() -> None:
    for query, docs in _corpora():
        sims = sorted(py_cosine(query.tolist(), d) for d in docs.tolist())
        assert min(b - a for a, b in itertools.pairwise(sims)) > MARGIN
        for k in (1, 3, len(docs)):
            assert solution.top_k(query, docs, k) == py_top_k(query.tolist(), docs.tolist(), k)


def test_graded_mmr_cases_match_brute_force_with_clear_winners() -> None:
    for seed, count, dim, lam in grader.MMR_SEEDS:
        query, docs = grader._random_corpus(seed, count, dim)
        q, d = query.tolist(), docs.tolist()
        expected = py_mmr(q, d, count, lam)
        for round_ in range(count - 1):  # the last round has one candidate
            scores = sorted(py_scores(q, d, lam, expected[:round_]).values(), reverse=True)
            assert scores[0] - scores[1] > MARGIN, (seed, round_)
        for k in (4, count + 2):
            assert solution.mmr(query, docs, k, lam) == expected[:k]
        assert solution.mmr(query, docs, 5, 1.0) == py_top_k(q, d, 5)


# ----------------------------------------------------------------------------------------------
# LangChain's MMR as a contrast


@pytest.mark.parametrize("seed", range(6))
def test_langchain_agrees_when_lam_is_positive(seed: int) -> None:
    query, docs = grader._random_corpus(200 + seed, 9, 4)
    for lam in (0.2, 0.5, 0.9):
        assert solution.mmr(query, docs, 6, lam) == langchain_mmr(query, docs, lam, 6)


def test_langchain_differs_in_its_first_pick_at_lam_0() -> None:
    query, docs = np.array(fixtures.EDGE_QUERY), np.array(fixtures.EDGE_DOCS)
    assert langchain_mmr(query, docs, 0.0, 3)[0] == 1  # the most similar doc
    assert solution.mmr(query, docs, 3, 0.0)[0] == 0  # the formula: every first score is 0


def test_a_zero_query_is_allowed() -> None:
    docs = np.array(fixtures.ZERO_QUERY_DOCS)
    expected = py_mmr([0.0, 0.0], fixtures.ZERO_QUERY_DOCS, 3, 0.5)
    assert solution.mmr(np.zeros(2), docs, 3, 0.5) == expected
    assert solution.top_k(np.zeros(2), docs, 3) == [0, 1, 2]
