"""solutions/bpe.py against independent oracles; the grader's fixtures against their claims.

Oracles:
- a brute-force trainer: every candidate pair of the current vocabulary (vocab x vocab) counted
  by scanning every position of every word, the winner found by sorting all candidates by
  (count, pair); words merged by regular expressions on a separator-joined string (Sennrich's
  way), not by the solution's list walk;
- GPT-2's encoder (openai/gpt-2 src/encoder.py, `Encoder.bpe`: repeatedly merge the pair of
  lowest rank), which the contract says equals the in-order rule for merges train_bpe learns;
- an in-order encoder written with the same regular expressions, for hand-written merge lists;
- a published example: the Hugging Face NLP course, chapter 6, "Byte-Pair Encoding
  tokenization" (corpus hug 10, pug 5, pun 12, bun 4, hugs 5: the first merges are
  ("u", "g") with 20, ("u", "n") with 16, ("h", "ug") with 15; "bug" encodes to ["b", "ug"]).
"""

from __future__ import annotations

import itertools
import re

import numpy as np
import pytest

from transformer_kit.graders import test_bpe as grader
from transformer_kit.graders.fixtures import bpe as fixtures
from transformer_kit.solutions import bpe as solution

SEP = "\x00"

# --------------------------------------------------------------------------------------------
# Oracles


def regex_merge(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    """Sennrich's learn_bpe merge: a regex over the symbols joined by a separator."""
    text = SEP.join(symbols)
    bigram = re.escape(pair[0] + SEP + pair[1])
    pattern = re.compile(f"(?<![^{SEP}]){bigram}(?![^{SEP}])")
    return pattern.sub(lambda _: pair[0] + pair[1], text).split(SEP)


def brute_force_train(word_counts: dict[str, int], num_merges: int) -> list[tuple[str, str]]:
    words = {word: list(word) for word in word_counts}
    merges: list[tuple[str, str]] = []
    for _ in range(num_merges):
        vocab = sorted({s for symbols in words.values() for s in symbols})
        scored = []
        for pair in itertools.product(vocab, vocab):
            total = sum(
                word_counts[word]
                for word, symbols in words.items()
                for i in range(len(symbols) - 1)
                if symbols[i] == pair[0] and symbols[i + 1] == pair[1]
            )
            if total > 0:
                scored.append((total, pair))
        if not scored:
            break
        scored.sort(reverse=True)
        best = scored[0][1]
        merges.append(best)
        words = {word: regex_merge(symbols, best) for word, symbols in words.items()}
    return merges


def in_order_encode(word: str, merges: list[tuple[str, str]]) -> list[str]:
    symbols = list(word)
    for pair in merges:
        symbols = regex_merge(symbols, pair)
    return symbols


def gpt2_bpe(word: str, merges: list[tuple[str, str]]) -> list[str]:
    """openai/gpt-2 src/encoder.py, Encoder.bpe (without its cache and byte mapping)."""
    bpe_ranks = dict(zip(merges, range(len(merges)), strict=True))

    def get_pairs(w: tuple[str, ...]) -> set[tuple[str, str]]:
        return set(itertools.pairwise(w))

    w = tuple(word)
    pairs = get_pairs(w)
    if not pairs:
        return list(w)
    while True:
        bigram = min(pairs, key=lambda pair: bpe_ranks.get(pair, float("inf")))
        if bigram not in bpe_ranks:
            break
        first, second = bigram
        new_word: list[str] = []
        i = 0
        while i < len(w):
            try:
                j = w.index(first, i)
                new_word.extend(w[i:j])
                i = j
            except ValueError:
                new_word.extend(w[i:])
                break
            if w[i] == first and i < len(w) - 1 and w[i + 1] == second:
                new_word.append(first + second)
                i += 2
            else:
                new_word.append(w[i])
                i += 1
        w = tuple(new_word)
        if len(w) == 1:
            break
        pairs = get_pairs(w)
    return list(w)


def random_corpus(rng: np.random.Generator) -> dict[str, int]:
    letters = list("abcdef"[: int(rng.integers(2, 7))])
    corpus: dict[str, int] = {}
    for _ in range(int(rng.integers(1, 12))):
        word = "".join(rng.choice(letters, size=int(rng.integers(1, 9))))
        corpus[word] = int(rng.integers(1, 9))
    return corpus


# --------------------------------------------------------------------------------------------
# The solution against the oracles


@pytest.mark.parametrize("seed", range(40))
def test_train_matches_brute_force(seed: int) -> None:
    rng = np.random.default_rng(seed)
    corpus = random_corpus(rng)
    num_merges = int(rng.integers(0, 25))
    assert solution.train_bpe(corpus, num_merges) == brute_force_train(corpus, num_merges)


@pytest.mark.parametrize("seed", range(40))
def test_encode_equals_gpt2_rank_loop_for_learned_merges(seed: int) -> None:
    rng = np.random.default_rng(1000 + seed)
    corpus = random_corpus(rng)
    merges = solution.train_bpe(corpus, int(rng.integers(1, 25)))
    words = [*corpus, *("".join(rng.choice(list("abcdefxy"), size=5)) for _ in range(5))]
    for word in words:
        assert solution.encode(word, merges) == gpt2_bpe(word, merges), word
        assert solution.encode(word, merges) == in_order_encode(word, merges), word
        assert solution.decode(solution.encode(word, merges)) == word


def test_published_example_hugging_face_course() -> None:
    corpus = {"hug": 10, "pug": 5, "pun": 12, "bun": 4, "hugs": 5}
    merges = solution.train_bpe(corpus, 3)
    assert merges == [("u", "g"), ("u", "n"), ("h", "ug")]
    assert solution.encode("bug", merges) == ["b", "ug"]
    assert brute_force_train(corpus, 3) == merges


def test_regex_merge_is_left_to_right() -> None:
    assert regex_merge(list("aaa"), ("a", "a")) == ["aa", "a"]
    assert regex_merge(["aa", "b"], ("a", "b")) == ["aa", "b"]


# --------------------------------------------------------------------------------------------
# The grader's fixtures and claims


@pytest.mark.parametrize("name", list(grader.FIXTURE_CORPORA))
def test_train_fixtures_match_the_oracle(name: str) -> None:
    words, num_merges, expected = grader.FIXTURE_CORPORA[name]
    assert brute_force_train(words, num_merges) == expected
    assert solution.train_bpe(words, num_merges) == expected


def test_singles_fixture() -> None:
    assert brute_force_train(fixtures.SINGLES_WORDS, fixtures.SINGLES_MERGES) == []
    assert brute_force_train(fixtures.CLASSIC_WORDS, 0) == []


@pytest.mark.parametrize("case", fixtures.ENCODE_CASES, ids=lambda c: c[0])
def test_encode_fixtures_match_the_oracle(case: tuple) -> None:
    word, merges, expected, _ = case
    assert in_order_encode(word, list(merges)) == expected
    assert solution.encode(word, list(merges)) == expected


def test_decode_fixtures() -> None:
    for symbols, expected in fixtures.DECODE_CASES:
        assert "".join(symbols) == expected == solution.decode(symbols)


def test_fixture_comments_hold() -> None:
    # counting every word once gives (w, e) first on the classic corpus
    assert grader.train_variant(fixtures.CLASSIC_WORDS, 1, "unweighted") == [("w", "e")]
    # counting a pair once per word gives (b, b) first on the repeats corpus
    assert grader.train_variant(fixtures.REPEATS_WORDS, 1, "distinct") == [("b", "b")]
    # the tuple tie: smallest, first seen and merged string all take ("a", "bz") at step 3
    for mistake in ("tie_smallest", "tie_first", "tie_string"):
        got = grader.train_variant(fixtures.TUPLE_TIE_WORDS, 3, mistake)
        assert got[2] == ("a", "bz"), mistake
    three = fixtures.THREE_WAY_WORDS
    assert grader.train_variant(three, 1, "tie_first") == [("b", "a")]
    assert grader.train_variant(three, 1, "tie_smallest") == [("a", "b")]
    # GPT-2's rank loop differs from the in-order rule on a hand-written list
    assert gpt2_bpe("abc", [("ab", "c"), ("a", "b")]) == ["abc"]


def test_grader_variants_without_mistake_are_the_solution() -> None:
    rng = np.random.default_rng(7)
    for _ in range(30):
        corpus = random_corpus(rng)
        merges = grader.train_variant(corpus, 10)
        assert merges == brute_force_train(corpus, 10)
        for word in corpus:
            assert grader.encode_variant(word, merges) == in_order_encode(word, merges)
            assert grader.encode_variant(word, merges, "rank_loop") == gpt2_bpe(word, merges)


def test_every_train_mistake_is_caught_somewhere() -> None:
    """Each mistake the grader names changes the result of at least one graded input."""
    inputs = [(w, n) for w, n, _ in grader.FIXTURE_CORPORA.values()]
    inputs += [({"café": 3, "naïve": 2, "cafés": 1}, 6)]
    inputs += [
        (grader.random_corpus(seed, letters, words, max_len), n)
        for seed, letters, words, max_len, n in grader.RANDOM_CORPORA
    ]
    for mistake in grader.TRAIN_MISTAKES:
        assert any(
            grader.train_variant(w, n, mistake) != solution.train_bpe(w, n) for w, n in inputs
        ), mistake


def test_every_encode_mistake_is_caught_somewhere() -> None:
    for mistake in grader.ENCODE_MISTAKES:
        assert any(
            grader.encode_variant(word, list(merges), mistake) != expected
            for word, merges, expected, _ in fixtures.ENCODE_CASES
        ), mistake
