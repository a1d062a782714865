"""Grader for retrieval: cosine_similarity, top_k, mmr and chunk_text.

Three levels: the hand fixtures (graders/fixtures/retrieval.py: zero vectors, norms from 1e-6 to
1e6, duplicate documents, lam = 0 and 1, a negative maximum in MMR, chunk sizes that divide the
text and ones that do not, overlap 0), the reference on random inputs of several shapes with
printed seeds (whose similarities and MMR scores keep at least 1e-6 apart, so float32 agrees), and
the contract's properties (scaling a vector leaves every cosine as it was, mmr at lam = 1 is
top_k, the chunks without their overlaps rebuild the text). Classic mistakes are recomputed here
on the same inputs so a failure can name them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    assert_raises_naming,
    assert_shape,
    describe,
)
from transformer_kit.graders.fixtures import retrieval as fixtures
from transformer_kit.solutions import retrieval as reference

# ----------------------------------------------------------------------------------------------
# The classic mistakes, by name (what the learner reads after "likely mistake:").

DOT = (
    "the dot product without the norms: cosine similarity divides a . b by |a| |b|, so a long "
    "vector is not more similar than a short one pointing the same way"
)
EPS_PRODUCT = (
    "an eps added to |a| |b| (such as + 1e-8): at small norms it swamps the product; leave the "
    "norms alone and give only a zero vector similarity 0 (or clamp each norm at 1e-12)"
)
EPS_NORMS = (
    "an eps added to each norm (such as |a| + 1e-8): at norms of 1e-6 it is 1% of the norm; "
    "divide by the norms themselves, and give only a zero vector similarity 0"
)
NAN_ZERO = "0 / 0 for a zero vector: its similarity with everything is 0, not nan"
SQUARED = "divided by the squared norms: the cosine divides by |a| |b|, the square roots"
ASCENDING = "the least similar first: sort by similarity, most similar first"
TIES_HIGH = (
    "ties went to the higher index (an ascending sort reversed): ties go to the lower index; "
    "sort -similarity with a stable sort"
)
TOP_DOT = "ranked by dot product: rank by cosine similarity (a long vector is not more similar)"
MMR_SUM = (
    "the redundancy is the sum of the similarities to the selected docs: it is the max over "
    "them, the similarity to the closest selected doc"
)
MMR_SWAPPED = (
    "lam on the wrong term: the score is lam * sim(query, d) - (1 - lam) * max sim(d, s), so "
    "lam = 1 is pure relevance"
)
MMR_FLOOR = (
    "the maximum over the selected docs never went below 0 (started from zeros and "
    "np.maximum): once something is selected, it is the max over the selected docs, negative or "
    "not"
)
MMR_LANGCHAIN = (
    "the first pick by similarity alone, as LangChain's maximal_marginal_relevance does: here "
    "the first pick follows the formula too, so at lam = 0 every first score is 0 and it is doc 0"
)
MMR_DOT = "similarities as dot products: MMR uses cosine similarity throughout"
MMR_NO_EXCLUDE = "picked a doc twice: exclude the selected docs from every later round"
CHUNK_STRIDE_SIZE = (
    "the chunks start every size characters, ignoring the overlap: chunk i starts at "
    "i * (size - overlap)"
)
CHUNK_STRIDE_PLUS = "the chunks start every size + overlap characters: the stride is size - overlap"
CHUNK_TAIL = (
    "an extra tail chunk: the last chunk is the first one that reaches the end of the text; "
    "stop there instead of starting a chunk at every position below len(text)"
)
CHUNK_WHOLE = (
    "only whole windows: the last chunk may be shorter than size, so the end of the text is "
    "never lost"
)
CHUNK_EMPTY = 'an empty text gives no chunk at all, [], not [""]'
INT_LIST = (
    "return the indices as a list of Python ints ([int(i) for i in order]); a 1-D integer array "
    "is fine too, floats are not indices"
)


@contextmanager
def _quiet() -> Iterator[None]:
    """The mistakes divide 0 by 0 on purpose: no warnings from them."""
    with np.errstate(all="ignore"):
        yield


# ----------------------------------------------------------------------------------------------
# The mistakes, recomputed on the grader's inputs


def _norms(x: np.ndarray) -> np.ndarray:
    return np.linalg.norm(x, axis=-1, keepdims=True)


def cosine_mistakes(a: np.ndarray, b: np.ndarray) -> dict[str, np.ndarray]:
    dot = a @ b.T
    product = _norms(a) * _norms(b).T
    with _quiet():
        return {
            DOT: dot,
            EPS_PRODUCT: dot / (product + 1e-8),
            EPS_NORMS: dot / ((_norms(a) + 1e-8) * (_norms(b) + 1e-8).T),
            NAN_ZERO: dot / product,
            SQUARED: dot / product**2,
        }


def _similarities(x: np.ndarray, y: np.ndarray, dot: bool = False) -> np.ndarray:
    """Dot products, or cosines with 0 for a zero vector (the mistakes' own, not the reference's:
    a visible test may not read the reference)."""
    if dot:
        return x @ y.T
    norms = _norms(x) * _norms(y).T
    with _quiet():
        return np.where(norms > 0, (x @ y.T) / norms, 0.0)


def top_k_mistakes(query: np.ndarray, docs: np.ndarray, k: int) -> dict[str, list[int]]:
    cosine = _similarities(query[None, :], docs)[0]
    return {
        ASCENDING: np.argsort(cosine, kind="stable")[:k].tolist(),
        TIES_HIGH: np.argsort(cosine, kind="stable")[::-1][:k].tolist(),
        TOP_DOT: np.argsort(-(docs @ query), kind="stable")[:k].tolist(),
    }


def _mmr(query: np.ndarray, docs: np.ndarray, k: int, lam: float, **mistake: bool) -> list[int]:
    """mmr with one mistake, named by its option."""
    relevance = _similarities(query[None, :], docs, mistake.get("dot", False))[0]
    between = _similarities(docs, docs, mistake.get("dot", False))
    weight, penalty = (1 - lam, lam) if mistake.get("swapped") else (lam, 1 - lam)
    selected: list[int] = []
    for _ in range(min(k, len(docs))):
        if not selected:
            redundancy = np.zeros(len(docs))
        elif mistake.get("sum"):
            redundancy = between[:, selected].sum(axis=1)
        else:
            redundancy = between[:, selected].max(axis=1)
        if mistake.get("floor"):
            redundancy = np.maximum(redundancy, 0.0)
        score = weight * relevance - penalty * redundancy
        if not selected and mistake.get("langchain"):
            score = relevance.copy()
        if not mistake.get("no_exclude"):
            score[selected] = -np.inf
        selected.append(int(np.argmax(score)))
    return selected


MMR_MISTAKES = {
    MMR_SUM: {"sum": True},
    MMR_SWAPPED: {"swapped": True},
    MMR_FLOOR: {"floor": True},
    MMR_LANGCHAIN: {"langchain": True},
    MMR_DOT: {"dot": True},
    MMR_NO_EXCLUDE: {"no_exclude": True},
}


def mmr_mistakes(query: np.ndarray, docs: np.ndarray, k: int, lam: float) -> dict[str, list[int]]:
    return {name: _mmr(query, docs, k, lam, **options) for name, options in MMR_MISTAKES.items()}


def chunk_mistakes(text: str, size: int, overlap: int) -> dict[str, list[str]]:
    def windows(stride: int, stop: int) -> list[str]:
        return [text[i : i + size] for i in range(0, max(stop, 0), stride)]

    stride = size - overlap
    mistakes = {
        CHUNK_STRIDE_SIZE: reference.chunk_text(text, size, 0),
        CHUNK_STRIDE_PLUS: windows(size + overlap, len(text)),
        CHUNK_TAIL: windows(stride, len(text)),
        CHUNK_WHOLE: windows(stride, len(text) - size + 1),
    }
    if not text:
        mistakes[CHUNK_EMPTY] = [""]
    return mistakes


# ----------------------------------------------------------------------------------------------
# Checks
def _naming(named: list[str]) -> str:
    """The diagnosis for the mistakes whose result is the learner's: one named, or each."""
    if len(named) > 1:
        return "one of these mistakes (they give the same answer here): " + "; or ".join(named)
    return named[0] if named else ""


def as_indices(got: Any, *, call: str) -> list[int]:
    """A list of ints (or a 1-D integer array), else a Mismatch saying why it is not one."""
    if isinstance(got, np.ndarray) and got.ndim == 1 and got.dtype.kind in "iu":
        return [int(i) for i in got]
    if isinstance(got, (list, tuple)) and all(
        isinstance(i, int) and not isinstance(i, bool) for i in got
    ):
        return list(got)
    raise Mismatch(
        "the result should be a list of ints (document indices)",
        call=call,
        got=describe(got) if not isinstance(got, (list, tuple)) else repr(got)[:200],
        diagnosis=INT_LIST,
    )


def check_indices(
    got: Any, expected: list[int], *, call: str, mistakes: dict[str, list[int]]
) -> None:
    indices = as_indices(got, call=call)
    if indices == expected:
        return
    named = [name for name, value in mistakes.items() if value == indices and value != expected]
    first = next(
        (i for i, (a, b) in enumerate(zip(indices, expected, strict=False)) if a != b),
        min(len(indices), len(expected)),
    )
    raise Mismatch(
        "the indices are wrong" if len(indices) == len(expected) else "the wrong number of indices",
        call=call,
        expected=str(expected),
        got=str(indices),
        where=f"position {first} of the list",
        diagnosis=_naming(named),
    )


def check_chunks(got: Any, expected: list[str], *, call: str, mistakes: dict[str, Any]) -> None:
    if not isinstance(got, (list, tuple)) or not all(isinstance(c, str) for c in got):
        raise Mismatch("the result should be a list of str", call=call, got=describe(got))
    if list(got) == expected:
        return
    named = [name for name, value in mistakes.items() if value == list(got)]
    raise Mismatch(
        "the chunks are wrong",
        call=call,
        expected=repr(expected),
        got=repr(list(got))[:300],
        diagnosis=_naming(named),
    )


def _cosine(student: Any, a: np.ndarray, b: np.ndarray, call: str) -> None:
    with _quiet():
        assert_close(
            student.cosine_similarity(a, b),
            reference.cosine_similarity(a, b),
            call=call,
            what="similarities",
            mistakes=cosine_mistakes(a, b),
        )


def _top_k(student: Any, query: np.ndarray, docs: np.ndarray, k: int, call: str) -> None:
    check_indices(
        student.top_k(query, docs, k),
        reference.top_k(query, docs, k),
        call=call,
        mistakes=top_k_mistakes(query, docs, k),
    )


def _mmr_check(
    student: Any, query: np.ndarray, docs: np.ndarray, k: int, lam: float, call: str
) -> None:
    check_indices(
        student.mmr(query, docs, k, lam),
        reference.mmr(query, docs, k, lam),
        call=call,
        mistakes=mmr_mistakes(query, docs, k, lam),
    )


# ----------------------------------------------------------------------------------------------
# cosine_similarity


@pytest.mark.weight(1)
@pytest.mark.visible
def test_cosine_hand(student: Any) -> None:
    """cosine_similarity on small vectors, a zero vector among them"""
    a, b = np.array(fixtures.COSINE_A), np.array(fixtures.COSINE_B)
    call = f"cosine_similarity(a={fixtures.COSINE_A}, b={fixtures.COSINE_B})"
    with _quiet():
        assert_close(
            student.cosine_similarity(a, b),
            fixtures.COSINE_EXPECTED,
            call=call,
            what="similarities",
            mistakes=cosine_mistakes(a, b),
        )


@pytest.mark.weight(1)
def test_cosine_tiny_and_huge_norms(student: Any) -> None:
    """cosine_similarity holds for norms from 1e-6 to 1e6 (no eps added to the norms)"""
    for scale_a in fixtures.SCALES:
        for scale_b in fixtures.SCALES:
            a = scale_a * np.array([fixtures.DIRECTION_A])
            b = scale_b * np.array([fixtures.DIRECTION_B])
            call = (
                f"cosine_similarity(a={scale_a:g} * {[fixtures.DIRECTION_A]}, "
                f"b={scale_b:g} * {[fixtures.DIRECTION_B]})"
            )
            with _quiet():
                assert_close(
                    student.cosine_similarity(a, b),
                    [[fixtures.SCALED_COSINE]],
                    call=call,
                    what="similarities",
                    mistakes=cosine_mistakes(a, b),
                )


COSINE_SEEDS = [(80, 4, 6, 3), (81, 1, 5, 8), (82, 7, 2, 16)]


def _random_vectors(rng: np.random.Generator, count: int, dim: int) -> np.ndarray:
    """Normal vectors scaled by 10 ** uniform(-6, 6), the last one zero."""
    vectors = rng.standard_normal((count, dim)) * 10.0 ** rng.uniform(-6, 6, size=(count, 1))
    vectors[-1] = 0.0
    return vectors


@pytest.mark.weight(1)
def test_cosine_reference(student: Any) -> None:
    """cosine_similarity matches the reference on random vectors of norms 1e-6 .. 1e6"""
    for seed, n, m, dim in COSINE_SEEDS:
        rng = np.random.default_rng(seed)
        a, b = _random_vectors(rng, n, dim), _random_vectors(rng, m, dim)
        call = (
            f"cosine_similarity(a ({n}, {dim}), b ({m}, {dim})), normal rows times "
            f"10 ** uniform(-6, 6), the last row of each zero, seed={seed}"
        )
        _cosine(student, a, b, call)


@pytest.mark.weight(1)
def test_cosine_ignores_scale(student: Any) -> None:
    """scaling a vector by a positive number leaves its similarities as they were"""
    rng = np.random.default_rng(83)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal((5, 4))
    first_call = "cosine_similarity(a, b), normal a (3, 4), b (5, 4), seed=83"
    base = as_array(student.cosine_similarity(a, b), call=first_call, what="similarities")
    assert_shape(base, (3, 5), call=first_call, what="similarities")
    scale = np.array([[1e-4], [3.0], [1e5]])
    call = "cosine_similarity(a * [[1e-4], [3], [1e5]], b), normal a (3, 4), b (5, 4), seed=83"
    with _quiet():
        assert_close(
            student.cosine_similarity(a * scale, b),
            base,
            call=call,
            what="similarities",
            mistakes=cosine_mistakes(a * scale, b),
        )


# ----------------------------------------------------------------------------------------------
# top_k


@pytest.mark.weight(1)
@pytest.mark.visible
def test_top_k_hand(student: Any) -> None:
    """top_k on the docstring's example, k from 1 to more than M"""
    query, docs = np.array(fixtures.TOP_K_QUERY), np.array(fixtures.TOP_K_DOCS)
    for k, expected in fixtures.TOP_K_CASES:
        call = f"top_k(query={fixtures.TOP_K_QUERY}, docs={fixtures.TOP_K_DOCS}, k={k})"
        check_indices(
            student.top_k(query, docs, k),
            expected,
            call=call,
            mistakes=top_k_mistakes(query, docs, k),
        )


@pytest.mark.weight(1)
def test_top_k_ties_and_zero_vectors(student: Any) -> None:
    """top_k: duplicate docs and zero vectors tie, to the lower index; long docs are no closer"""
    cases = [
        (fixtures.TIES_QUERY, fixtures.TIES_DOCS, k, expected)
        for k, expected in fixtures.TIES_CASES
    ]
    cases.append((fixtures.ZERO_QUERY, fixtures.ZERO_DOCS, 4, fixtures.ZERO_EXPECTED))
    for query, docs, k, expected in cases:
        q, d = np.array(query), np.array(docs)
        with _quiet():
            mistakes = top_k_mistakes(q, d, k)
        check_indices(
            student.top_k(q, d, k),
            expected,
            call=f"top_k(query={query}, docs={docs}, k={k})",
            mistakes=mistakes,
        )


TOP_K_SEEDS = [(90, 12, 5), (91, 7, 3), (92, 20, 8)]


@pytest.mark.weight(1)
def test_top_k_reference(student: Any) -> None:
    """top_k matches the reference on random docs of norms 1e-3 .. 1e3"""
    for seed, count, dim in TOP_K_SEEDS:
        query, docs = _random_corpus(seed, count, dim)
        for k in (1, 3, count):
            call = f"top_k({_corpus_text(seed, count, dim)}, k={k})"
            _top_k(student, query, docs, k, call)


@pytest.mark.weight(1)
def test_top_k_bad_k(student: Any) -> None:
    """top_k raises ValueError naming k when k < 1"""
    query, docs = np.array(fixtures.TOP_K_QUERY), np.array(fixtures.TOP_K_DOCS)
    for k in (0, -2):
        call = f"top_k(query={fixtures.TOP_K_QUERY}, docs={fixtures.TOP_K_DOCS}, k={k})"
        assert_raises_naming(student.top_k, query, docs, k, call=call, name="k", value=k)


def _random_corpus(seed: int, count: int, dim: int) -> tuple[np.ndarray, np.ndarray]:
    """A normal query and docs whose norms spread over 10 ** uniform(-3, 3)."""
    rng = np.random.default_rng(seed)
    query = rng.standard_normal(dim)
    docs = rng.standard_normal((count, dim)) * 10.0 ** rng.uniform(-3, 3, size=(count, 1))
    return query, docs


def _corpus_text(seed: int, count: int, dim: int) -> str:
    return (
        f"query = normal({dim}), docs = normal(({count}, {dim})) * 10 ** uniform(-3, 3) per row, "
        f"rng = default_rng({seed})"
    )


# ----------------------------------------------------------------------------------------------
# mmr


def _mmr_hand(student: Any, query: list[float], docs: list[list[float]], cases: Any) -> None:
    for k, lam, expected in cases:
        q, d = np.array(query), np.array(docs)
        check_indices(
            student.mmr(q, d, k, lam),
            expected,
            call=f"mmr(query={query}, docs={docs}, k={k}, lam={lam})",
            mistakes=mmr_mistakes(q, d, k, lam),
        )


@pytest.mark.weight(1)
@pytest.mark.visible
def test_mmr_duplicates(student: Any) -> None:
    """mmr passes over a duplicate of a selected doc as lam goes down (the docstring's example)"""
    _mmr_hand(student, fixtures.DUP_QUERY, fixtures.DUP_DOCS, fixtures.DUP_CASES)


@pytest.mark.weight(1)
def test_mmr_lam_0_and_1(student: Any) -> None:
    """mmr at lam = 0 starts at doc 0 (every first score is 0); at lam = 1 it is top_k"""
    _mmr_hand(student, fixtures.EDGE_QUERY, fixtures.EDGE_DOCS, fixtures.EDGE_CASES)


@pytest.mark.weight(1)
def test_mmr_redundancy_is_the_max(student: Any) -> None:
    """mmr's redundancy is the max similarity to the selected docs, even when negative"""
    _mmr_hand(
        student,
        fixtures.NEGATIVE_QUERY,
        fixtures.NEGATIVE_DOCS,
        [(4, fixtures.NEGATIVE_LAM, fixtures.NEGATIVE_EXPECTED)],
    )
    _mmr_hand(
        student,
        fixtures.SUM_QUERY,
        fixtures.SUM_DOCS,
        [(4, fixtures.SUM_LAM, fixtures.SUM_EXPECTED)],
    )
    _mmr_hand(
        student, [0.0, 0.0], fixtures.ZERO_QUERY_DOCS, [(2, 0.5, fixtures.ZERO_QUERY_EXPECTED)]
    )


MMR_SEEDS = [(100, 10, 4, 0.3), (101, 8, 3, 0.7), (102, 14, 6, 0.5)]


@pytest.mark.weight(1)
def test_mmr_reference(student: Any) -> None:
    """mmr matches the reference on random docs; lam = 1 matches top_k"""
    for seed, count, dim, lam in MMR_SEEDS:
        query, docs = _random_corpus(seed, count, dim)
        for k in (4, count + 2):
            _mmr_check(
                student,
                query,
                docs,
                k,
                lam,
                f"mmr({_corpus_text(seed, count, dim)}, k={k}, lam={lam})",
            )
        call = f"mmr({_corpus_text(seed, count, dim)}, k=5, lam=1.0)"
        check_indices(
            student.mmr(query, docs, 5, 1.0),
            reference.top_k(query, docs, 5),
            call=call,
            mistakes=mmr_mistakes(query, docs, 5, 1.0),
        )


@pytest.mark.weight(1)
def test_mmr_bad_arguments(student: Any) -> None:
    """mmr raises ValueError naming lam outside [0, 1] or k < 1"""
    query, docs = np.array(fixtures.DUP_QUERY), np.array(fixtures.DUP_DOCS)
    for k, lam, name, value in ((2, 1.5, "lam", 1.5), (2, -0.5, "lam", -0.5), (0, 0.5, "k", 0)):
        call = f"mmr(query={fixtures.DUP_QUERY}, docs={fixtures.DUP_DOCS}, k={k}, lam={lam})"
        assert_raises_naming(student.mmr, query, docs, k, lam, call=call, name=name, value=value)


# ----------------------------------------------------------------------------------------------
# chunk_text


@pytest.mark.weight(2)
def test_chunk_hand(student: Any) -> None:
    """chunk_text: windows every size - overlap characters, the last one reaching the end"""
    for text, size, overlap, expected in fixtures.CHUNK_CASES:
        call = f"chunk_text(text={text!r}, size={size}, overlap={overlap})"
        check_chunks(
            student.chunk_text(text, size, overlap),
            expected,
            call=call,
            mistakes=chunk_mistakes(text, size, overlap),
        )


@pytest.mark.weight(1)
def test_chunk_reference_and_rebuild(student: Any) -> None:
    """chunk_text matches the reference on random texts, and its chunks rebuild the text"""
    rng = np.random.default_rng(110)
    for _ in range(25):
        length, size = int(rng.integers(0, 40)), int(rng.integers(1, 10))
        overlap = int(rng.integers(0, size))
        text = "".join(rng.choice(list("abcdefghij"), size=length))
        call = f"chunk_text(text={text!r}, size={size}, overlap={overlap})"
        got = student.chunk_text(text, size, overlap)
        expected = reference.chunk_text(text, size, overlap)
        mistakes = chunk_mistakes(text, size, overlap)
        if isinstance(got, list) and all(isinstance(c, str) for c in got):
            rebuilt = "".join(got[:1] + [chunk[overlap:] for chunk in got[1:]])
            if rebuilt != text:
                named = [name for name, value in mistakes.items() if value == got]
                raise Mismatch(
                    "the chunks, each without its first `overlap` characters but the first, do "
                    "not rebuild the text",
                    call=call,
                    expected=repr(text),
                    got=repr(rebuilt)[:300],
                    diagnosis=_naming(named),
                )
        check_chunks(got, expected, call=call, mistakes=mistakes)


@pytest.mark.weight(1)
def test_chunk_bad_arguments(student: Any) -> None:
    """chunk_text raises ValueError naming size < 1 or overlap outside [0, size)"""
    for size, overlap, name, value in fixtures.CHUNK_BAD:
        call = f"chunk_text(text='abcdefgh', size={size}, overlap={overlap})"
        assert_raises_naming(
            student.chunk_text, "abcdefgh", size, overlap, call=call, name=name, value=value
        )
