"""Grader for bpe: train_bpe, encode and decode on hand-made corpora, random corpora (seeds in
each call) and the properties the contract implies (decode inverts encode, a longer training run
extends a shorter one, scaling every count changes nothing).

Merges and token lists are compared exactly (a list or a tuple of str passes; a merge may be any
2-sequence of str). Every classic mistake is made on purpose below, on the same input, so that a
failure can name the one the learner's result matches.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import Mismatch, describe
from transformer_kit.grader.failures import StudentRaised
from transformer_kit.graders.fixtures import bpe as fixtures
from transformer_kit.solutions import bpe as reference

Merges = list[tuple[str, str]]

# --------------------------------------------------------------------------------------------
# Classic mistakes, by name

UNWEIGHTED = (
    "each pair was counted once per word, ignoring the word's count: weight every occurrence "
    "by the word's count"
)
DISTINCT = (
    "a pair that occurs twice in a word was counted once: count every occurrence, weighted by "
    'the count ("aaa" holds ("a", "a") twice)'
)
NON_OVERLAPPING_COUNT = (
    'overlapping occurrences were not counted (str.count style): "aaa" holds ("a", "a") twice, '
    "at positions 0 and 1"
)
TIE_SMALLEST = (
    "ties went to the smallest pair: take the largest (count, pair) tuple, the greatest pair "
    "among equally frequent ones"
)
TIE_FIRST = (
    "ties went to the first pair seen (minbpe's, Sennrich's and Counter.most_common's rule): "
    "this kit takes the largest (count, pair) tuple"
)
TIE_STRING = (
    'ties were broken by comparing the merged strings: compare the pair tuples, ("ab", "d") '
    'beats ("a", "bz") although "abd" < "abz"'
)
RIGHT_TO_LEFT = (
    'merged right to left: merge left to right without overlap, "aaa" becomes ["aa", "a"], '
    'not ["a", "aa"]'
)
OVERLAP = (
    "overlapping merges: after merging symbols i and i+1, continue at i+2, so that every "
    'character lands in exactly one symbol ("aaa" becomes ["aa", "a"])'
)
FIRST_ONLY = "only the first occurrence in a word was merged: merge every occurrence"
STRING_REPLACE = (
    'merged by string replacement across symbol boundaries: ("a", "b") merges two whole '
    'symbols "a" and "b", it does not apply to ["aa", "b"]'
)
MIN_FREQUENCY = (
    "stopped when the best pair occurs only once (Sennrich's min_frequency = 2): this kit "
    "merges it too, and stops only when no word has two symbols left"
)
STALE_COUNTS = (
    "the pair counts were not recomputed after each merge: count the pairs of the current "
    "symbols at every step"
)
END_OF_WORD = (
    'an end-of-word marker "</w>" (Sennrich\'s original BPE): this kit has none, words start '
    "as list(word)"
)
BYTE_LEVEL = (
    "the symbols started as UTF-8 bytes (GPT-2's byte-level BPE): this kit starts from the "
    "characters, list(word)"
)
ONE_TOO_FEW = "one merge too few: learn num_merges merges (unless no pair is left)"
LONGEST_MATCH = (
    "encoded by longest match against the learned tokens (WordPiece style): BPE replays the "
    "merges, one after another, in list order"
)
RANK_LOOP = (
    "GPT-2's rank loop (merge the lowest-ranked pair present, again and again): for a "
    "hand-written list the merges apply once each, in list order"
)
REVERSED = "the merges were applied in reverse order: the first merge in the list is applied first"
DROPPED = (
    "characters that no merge mentions were dropped or replaced: they stay single symbols "
    '(no "<unk>")'
)
SEPARATOR = 'the symbols were joined with a separator: decode is "".join(symbols)'

TRAIN_MISTAKES = {
    "unweighted": UNWEIGHTED,
    "distinct": DISTINCT,
    "non_overlapping_count": NON_OVERLAPPING_COUNT,
    "tie_smallest": TIE_SMALLEST,
    "tie_first": TIE_FIRST,
    "tie_string": TIE_STRING,
    "right_to_left": RIGHT_TO_LEFT,
    "overlap": OVERLAP,
    "first_only": FIRST_ONLY,
    "string_replace": STRING_REPLACE,
    "min_frequency": MIN_FREQUENCY,
    "stale_counts": STALE_COUNTS,
    "end_of_word": END_OF_WORD,
    "byte_level": BYTE_LEVEL,
    "one_too_few": ONE_TOO_FEW,
}
ENCODE_MISTAKES = {
    "longest_match": LONGEST_MATCH,
    "rank_loop": RANK_LOOP,
    "reversed": REVERSED,
    "right_to_left": RIGHT_TO_LEFT,
    "overlap": OVERLAP,
    "first_only": FIRST_ONLY,
    "string_replace": STRING_REPLACE,
    "dropped": DROPPED,
}


def merge_variant(symbols: list[str], pair: tuple[str, str], mistake: str = "") -> list[str]:
    """symbols with pair merged, correctly or with one merging mistake made on purpose."""
    left, right = pair
    if mistake == "string_replace":
        return " ".join(symbols).replace(f"{left} {right}", left + right).split(" ")
    if mistake == "right_to_left":
        return _right_to_left(symbols, pair)
    merged, i, done = [], 0, False
    while i < len(symbols):
        if (
            i + 1 < len(symbols)
            and symbols[i] == left
            and symbols[i + 1] == right
            and not (done and mistake == "first_only")
        ):
            merged.append(left + right)
            i += 1 if mistake == "overlap" else 2
            done = True
        else:
            merged.append(symbols[i])
            i += 1
    return merged


def _right_to_left(symbols: list[str], pair: tuple[str, str]) -> list[str]:
    left, right = pair
    merged, i = [], len(symbols) - 1
    while i >= 0:
        if i >= 1 and symbols[i - 1] == left and symbols[i] == right:
            merged.append(left + right)
            i -= 2
        else:
            merged.append(symbols[i])
            i -= 1
    return merged[::-1]


def _start(word: str, mistake: str) -> list[str]:
    if mistake == "end_of_word":
        return [*word[:-1], word[-1] + "</w>"] if word else []
    if mistake == "byte_level":
        return list(word.encode("utf-8").decode("latin-1"))
    return list(word)


def _pair_counts(words: list[tuple[list[str], int]], mistake: str) -> dict[tuple[str, str], int]:
    counts: dict[tuple[str, str], int] = {}
    for symbols, count in words:
        pairs = list(itertools.pairwise(symbols))
        if mistake == "distinct":
            pairs = list(dict.fromkeys(pairs))
        elif mistake == "non_overlapping_count":  # each pair as str.count would count it
            pairs = [p for p in dict.fromkeys(pairs) for _ in range(_count_apart(symbols, p))]
        for pair in pairs:
            counts[pair] = counts.get(pair, 0) + (1 if mistake == "unweighted" else count)
    return counts


def _count_apart(symbols: list[str], pair: tuple[str, str]) -> int:
    """Occurrences of pair in symbols that do not overlap, counted left to right."""
    count, i = 0, 0
    while i + 1 < len(symbols):
        if (symbols[i], symbols[i + 1]) == pair:
            count, i = count + 1, i + 2
        else:
            i += 1
    return count


def _best(counts: Mapping[tuple[str, str], int], mistake: str) -> tuple[str, str]:
    top = max(counts.values())
    tied = [pair for pair, count in counts.items() if count == top]
    if mistake == "tie_smallest":
        return min(tied)
    if mistake == "tie_first":
        return tied[0]
    if mistake == "tie_string":
        return max(tied, key=lambda pair: pair[0] + pair[1])
    return max(tied)


def train_variant(word_counts: Mapping[str, int], num_merges: int, mistake: str = "") -> Merges:
    """train_bpe with one mistake from TRAIN_MISTAKES made on purpose ("" for none)."""
    words = [(_start(word, mistake), int(count)) for word, count in word_counts.items()]
    steps = num_merges - 1 if mistake == "one_too_few" else num_merges
    merging = (
        mistake if mistake in ("right_to_left", "overlap", "first_only", "string_replace") else ""
    )
    stale = _pair_counts(words, "") if mistake == "stale_counts" else None
    merges: Merges = []
    for _ in range(max(steps, 0)):
        if stale is not None:
            counts = {p: c for p, c in stale.items() if p not in merges}
        else:
            counts = _pair_counts(words, mistake)
        if not counts:
            break
        best = _best(counts, mistake)
        if mistake == "min_frequency" and counts[best] < 2:
            break
        merges.append(best)
        words = [(merge_variant(symbols, best, merging), count) for symbols, count in words]
    return merges


def encode_variant(word: str, merges: Sequence[tuple[str, str]], mistake: str = "") -> list[str]:
    """encode with one mistake from ENCODE_MISTAKES made on purpose ("" for none)."""
    merges = [(str(a), str(b)) for a, b in merges]
    if mistake == "longest_match":
        vocab = {a + b for a, b in merges} | set(word)
        symbols, i = [], 0
        while i < len(word):
            j = max(k for k in range(i + 1, len(word) + 1) if word[i:k] in vocab)
            symbols.append(word[i:j])
            i = j
        return symbols
    if mistake == "rank_loop":
        return rank_loop(word, merges)
    if mistake == "dropped":
        known = {c for a, b in merges for c in a + b}
        return encode_variant("".join(c for c in word if c in known), merges)
    if mistake in GLUED_MARKER:
        return glued_marker_encode(word, merges, rank=mistake == "glued_marker_rank_loop")
    symbols = list(word)
    for pair in merges[::-1] if mistake == "reversed" else merges:
        symbols = merge_variant(symbols, pair, "" if mistake == "reversed" else mistake)
    return symbols


def rank_loop(word: str, merges: Sequence[tuple[str, str]]) -> list[str]:
    """GPT-2's encoder.bpe: merge the lowest-ranked pair present until none is in the list."""
    ranks = {pair: i for i, pair in reversed(list(enumerate(merges)))}
    symbols = list(word)
    while len(symbols) > 1:
        pairs = set(itertools.pairwise(symbols))
        best = min(pairs, key=lambda pair: ranks.get(pair, float("inf")))
        if best not in ranks:
            break
        symbols = merge_variant(symbols, best)
    return symbols


# --------------------------------------------------------------------------------------------
# Reading the learner's results


def as_symbols(got: Any, *, call: str, what: str = "result") -> list[str]:
    """A list (or tuple) of str, or a Mismatch saying why it is not one."""
    if got is None:
        raise Mismatch(f"the {what} is None: did the function forget to `return`?", call=call)
    if isinstance(got, str) or not isinstance(got, (list, tuple)):
        raise Mismatch(
            f"the {what} should be a list of str (the symbols)", call=call, got=_short(got)
        )
    bad = next((i for i, s in enumerate(got) if not isinstance(s, str)), None)
    if bad is not None:
        raise Mismatch(
            f"entry {bad} of the {what} should be a str, got {describe(got[bad])}",
            call=call,
            got=_short(got),
        )
    return [str(s) for s in got]


def as_merges(got: Any, *, call: str) -> Merges:
    """A list (or tuple) of 2-tuples of str, or a Mismatch saying why it is not one."""
    if got is None:
        raise Mismatch("the result is None: did the function forget to `return`?", call=call)
    if not isinstance(got, (list, tuple)):
        raise Mismatch(
            "the result should be a list of merges, 2-tuples of str", call=call, got=_short(got)
        )
    merges: Merges = []
    for i, item in enumerate(got):
        if (
            not isinstance(item, (list, tuple))
            or len(item) != 2
            or not all(isinstance(s, str) for s in item)
        ):
            raise Mismatch(
                f"merge {i} of the result should be a 2-tuple of str, (left, right)",
                call=call,
                got=_short(item),
            )
        merges.append((str(item[0]), str(item[1])))
    return merges


def _short(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def named(matches: Sequence[str]) -> str:
    """The mistakes a result matches, each once (one result can fit several)."""
    return "; or ".join(dict.fromkeys(matches))


def _first_difference(got: Sequence[Any], want: Sequence[Any], what: str) -> str:
    for i, (a, b) in enumerate(zip(got, want, strict=False)):
        if a != b:
            return f"{what} {i}: expected {b!r}, got {a!r}"
    return f"expected {len(want)} {what}s, got {len(got)}"


def check_merges(
    got: Any,
    expected: Merges,
    *,
    call: str,
    word_counts: Mapping[str, int],
    num_merges: int,
    summary: str = "",
) -> None:
    """The learner's merges equal `expected`, or a Mismatch naming the mistake they match."""
    merges = as_merges(got, call=call)
    if merges == expected:
        return
    wrongs = [
        (text, train_variant(word_counts, num_merges, key)) for key, text in TRAIN_MISTAKES.items()
    ]
    diagnosis = named([text for text, wrong in wrongs if wrong == merges])
    if not diagnosis:
        pieces = [a + b for a, b in merges] + [s for pair in merges for s in pair]
        foreign = [p for p in pieces if not any(p in word for word in word_counts)]
        if any("</w>" in p for p in foreign):
            diagnosis = END_OF_WORD
        elif foreign:
            diagnosis = (
                f"the merge symbol {foreign[0]!r} is not a piece of any training word: symbols "
                "start as list(word) (no byte mapping, no marker) and a merge joins two of them"
            )
        elif len(merges) > num_merges:
            diagnosis = f"more than num_merges={num_merges} merges"
        elif len(set(merges)) < len(merges):
            diagnosis = (
                "a merge was learned twice: after merging a pair, count again on the merged symbols"
            )
        elif len(merges) < len(expected):
            diagnosis = (
                "stopped too early: learn num_merges merges, stopping only when no word has "
                "two symbols left"
            )
    prefix = f"{summary}: " if summary else ""
    raise Mismatch(
        f"{prefix}the merges are wrong",
        call=call,
        expected=_short(expected, 400),
        got=_short(merges, 400),
        where=_first_difference(merges, expected, "merge"),
        diagnosis=diagnosis,
    )


def check_symbols(
    got: Any,
    expected: list[str],
    *,
    call: str,
    word: str,
    merges: Sequence[tuple[str, str]],
    summary: str = "",
) -> None:
    """The learner's symbols equal `expected`, or a Mismatch naming the mistake they match."""
    symbols = as_symbols(got, call=call)
    if symbols == expected:
        return
    wrongs = [(text, encode_variant(word, merges, key)) for key, text in ENCODE_MISTAKES.items()]
    diagnosis = named([text for text, wrong in wrongs if wrong == symbols])
    if not diagnosis:
        if "".join(symbols) != word:
            diagnosis = (
                f"the symbols do not join back into the word: {''.join(symbols)!r} != {word!r} "
                "(every character lands in exactly one symbol)"
            )
        elif any("</w>" in s for s in symbols):
            diagnosis = END_OF_WORD
    prefix = f"{summary}: " if summary else ""
    raise Mismatch(
        f"{prefix}the symbols are wrong",
        call=call,
        expected=repr(expected),
        got=_short(symbols),
        where=_first_difference(symbols, expected, "symbol"),
        diagnosis=diagnosis,
    )


# --------------------------------------------------------------------------------------------
# Runners


def _call_train(student: Any, word_counts: dict[str, int], num_merges: int, call: str) -> Any:
    try:
        return student.train_bpe(dict(word_counts), num_merges)
    except StudentRaised as error:
        if error.not_implemented or "ValueError" not in error.type_names:
            raise
        if "empty" not in error.text:
            raise
        raise Mismatch(
            error.summary,
            call=call,
            details=[f"where:\n{error.where}"] if error.where else [],
            diagnosis="max() of no pairs: when no word has two symbols left, stop and return "
            "the merges learned so far",
        ) from None


def run_train(
    student: Any,
    word_counts: dict[str, int],
    num_merges: int,
    call: str = "",
    expected: Merges | None = None,
    summary: str = "",
) -> Merges:
    call = call or f"train_bpe({word_counts!r}, {num_merges})"
    got = _call_train(student, word_counts, num_merges, call)
    if expected is None:
        expected = reference.train_bpe(word_counts, num_merges)
    check_merges(
        got, expected, call=call, word_counts=word_counts, num_merges=num_merges, summary=summary
    )
    return expected


def run_encode(
    student: Any, word: str, merges: Merges, expected: list[str] | None = None, call: str = ""
) -> None:
    call = call or f"encode({word!r}, {merges!r})"
    got = student.encode(word, [tuple(m) for m in merges])
    if expected is None:
        expected = reference.encode(word, merges)
    check_symbols(got, expected, call=call, word=word, merges=merges)


def random_corpus(seed: int, letters: str, words: int, max_len: int) -> dict[str, int]:
    """Seeded words over a small alphabet (many ties), counts 1 to 6."""
    rng = np.random.default_rng(seed)
    corpus: dict[str, int] = {}
    while len(corpus) < words:
        length = int(rng.integers(1, max_len + 1))
        word = "".join(rng.choice(list(letters), size=length))
        corpus.setdefault(word, int(rng.integers(1, 7)))
    return corpus


def corpus_call(name: str, corpus: Mapping[str, int], num_merges: int, seed: int) -> str:
    return (
        f"{name}(word_counts, {num_merges}) with word_counts = random corpus (seed={seed}) "
        f"= {dict(corpus)!r}"
    )


# --------------------------------------------------------------------------------------------
# train_bpe on hand-made corpora

FIXTURE_CORPORA = {
    "classic": (fixtures.CLASSIC_WORDS, fixtures.CLASSIC_MERGES, fixtures.CLASSIC_EXPECTED),
    "repeats": (fixtures.REPEATS_WORDS, fixtures.REPEATS_MERGES, fixtures.REPEATS_EXPECTED),
    "tuple_tie": (fixtures.TUPLE_TIE_WORDS, fixtures.TUPLE_TIE_MERGES, fixtures.TUPLE_TIE_EXPECTED),
    "three_way": (fixtures.THREE_WAY_WORDS, fixtures.THREE_WAY_MERGES, fixtures.THREE_WAY_EXPECTED),
}


@pytest.mark.weight(2)
def test_train_classic(student: Any) -> None:
    """train_bpe learns the classic corpus's merges (weighted counts, greatest pair on a tie)"""
    words, num_merges, expected = FIXTURE_CORPORA["classic"]
    run_train(student, words, num_merges, expected=list(expected))


@pytest.mark.weight(2)
def test_train_repeated_letters(student: Any) -> None:
    """train_bpe counts overlapping pairs, merges left to right, merges a pair seen once"""
    words, num_merges, expected = FIXTURE_CORPORA["repeats"]
    run_train(student, words, num_merges, expected=list(expected))


def test_train_tuple_tie(student: Any) -> None:
    """train_bpe breaks a tie by comparing pair tuples, not merged strings"""
    words, num_merges, expected = FIXTURE_CORPORA["tuple_tie"]
    run_train(student, words, num_merges, expected=list(expected))


def test_train_three_way_tie(student: Any) -> None:
    """train_bpe breaks a three-way tie by the greatest pair"""
    words, num_merges, expected = FIXTURE_CORPORA["three_way"]
    run_train(student, words, num_merges, expected=list(expected))


def test_train_nothing_to_merge(student: Any) -> None:
    """train_bpe stops when no word has two symbols left, and learns nothing for num_merges=0"""
    run_train(
        student,
        fixtures.SINGLES_WORDS,
        fixtures.SINGLES_MERGES,
        expected=list(fixtures.SINGLES_EXPECTED),
        summary="every word is a single character, so there is no pair to merge",
    )
    run_train(student, fixtures.CLASSIC_WORDS, 0, expected=[], summary="num_merges=0")


def test_train_characters_not_bytes(student: Any) -> None:
    """train_bpe starts from characters: no byte mapping, no end-of-word marker"""
    run_train(student, {"café": 3, "naïve": 2, "cafés": 1}, 6)


# --------------------------------------------------------------------------------------------
# train_bpe on random corpora

# (seed, letters, words, max_len, num_merges)
RANDOM_CORPORA = [
    (1, "ab", 5, 6, 6),
    (2, "abc", 8, 6, 10),
    (3, "abcd", 10, 7, 12),
    (4, "ab", 3, 8, 20),  # runs out of pairs before num_merges
    (5, "abcde", 12, 5, 8),
]


@pytest.mark.weight(2)
@pytest.mark.parametrize("spec", RANDOM_CORPORA, ids=lambda s: f"seed={s[0]}")
def test_train_random(student: Any, spec: tuple[int, str, int, int, int]) -> None:
    """train_bpe matches the reference on random corpora"""
    seed, letters, words, max_len, num_merges = spec
    corpus = random_corpus(seed, letters, words, max_len)
    run_train(student, corpus, num_merges, corpus_call("train_bpe", corpus, num_merges, seed))


# --------------------------------------------------------------------------------------------
# encode and decode


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "case", fixtures.ENCODE_CASES, ids=[f"{c[0]}-{i}" for i, c in enumerate(fixtures.ENCODE_CASES)]
)
def test_encode_fixture(student: Any, case: tuple[str, Merges, list[str], str]) -> None:
    """encode applies the merges in list order, left to right (hand-made cases)"""
    word, merges, expected, _how = case
    run_encode(student, word, list(merges), expected=list(expected))


@pytest.mark.parametrize("seed", [6, 7], ids=lambda s: f"seed={s}")
def test_encode_random(student: Any, seed: int) -> None:
    """encode matches the reference on learned merges, for seen and unseen words"""
    corpus = random_corpus(seed, "abcd", 8, 6)
    merges = reference.train_bpe(corpus, 8)
    rng = np.random.default_rng(seed + 100)
    words = list(corpus)[:4] + [
        "".join(rng.choice(list("abcdx"), size=int(rng.integers(3, 9)))) for _ in range(4)
    ]
    for word in words:
        call = (
            f"encode({word!r}, merges) with merges = train_bpe(random corpus (seed={seed}), 8) "
            f"= {merges!r}, corpus = {corpus!r}"
        )
        run_encode(student, word, merges, call=call)


@pytest.mark.parametrize("case", fixtures.DECODE_CASES, ids=lambda c: repr(c[1]))
def test_decode(student: Any, case: tuple[list[str], str]) -> None:
    """decode joins the symbols"""
    symbols, expected = case
    call = f"decode({symbols!r})"
    got = student.decode(list(symbols))
    if isinstance(got, str) and got == expected:
        return
    if not isinstance(got, str):
        raise Mismatch(
            "the result should be a str", call=call, expected=repr(expected), got=_short(got)
        )
    separated = [sep.join(symbols) for sep in (" ", ",", "|")]
    raise Mismatch(
        "the decoded string is wrong",
        call=call,
        expected=repr(expected),
        got=repr(got),
        diagnosis=SEPARATOR if got in separated else "",
    )


# --------------------------------------------------------------------------------------------
# Properties


def test_decode_inverts_encode(student: Any) -> None:
    """decode(encode(word, merges)) == word, your encode and decode together"""
    merges = reference.train_bpe(fixtures.CLASSIC_WORDS, 8)
    for word in ("lowest", "newer", "wider", "slowly", "aaa"):
        symbols = as_symbols(student.encode(word, merges), call=f"encode({word!r}, merges)")
        call = f"decode(encode({word!r}, merges)) with merges = {merges!r}"
        back = student.decode(symbols)
        if not isinstance(back, str) or back != word:
            raise Mismatch(
                "decode(encode(word)) is not the word",
                call=call,
                expected=repr(word),
                got=_short(back),
                details=[f"encode gave {symbols!r}"],
            )


def test_train_longer_extends_shorter(student: Any) -> None:
    """train_bpe(wc, 4) is the start of train_bpe(wc, 9)"""
    corpus = random_corpus(8, "abc", 6, 6)
    long = run_train(student, corpus, 9, corpus_call("train_bpe", corpus, 9, 8))
    run_train(
        student,
        corpus,
        4,
        corpus_call("train_bpe", corpus, 4, 8),
        expected=long[:4],
        summary="the first 4 merges must be the first 4 of train_bpe(word_counts, 9)",
    )


def test_train_scaled_counts(student: Any) -> None:
    """multiplying every count by 3 learns the same merges"""
    corpus = fixtures.CLASSIC_WORDS
    scaled = {word: 3 * count for word, count in corpus.items()}
    expected = reference.train_bpe(corpus, 8)
    run_train(
        student,
        scaled,
        8,
        expected=expected,
        summary="every count times 3 must learn the same merges as the counts themselves",
    )


def test_every_training_word_one_token(student: Any) -> None:
    """with enough merges, your encode turns each training word into one symbol"""
    corpus = {"hug": 3, "pug": 2, "hugs": 1}
    call = f"train_bpe({corpus!r}, 50)"
    merges = as_merges(_call_train(student, corpus, 50, call), call=call)
    check_merges(
        merges,
        reference.train_bpe(corpus, 50),
        call=call,
        word_counts=corpus,
        num_merges=50,
        summary="encode can make each training word one symbol only with every merge learned",
    )
    for word in corpus:
        got = student.encode(word, merges)
        check_symbols(
            got,
            [word],
            call=f"encode({word!r}, train_bpe({corpus!r}, 50)) with your merges {merges!r}",
            word=word,
            merges=merges,
            summary="after training to the end, a training word is a single symbol",
        )


# --------------------------------------------------------------------------------------------
# Conventions of public code that are mistakes here (issue 26)

GLUED_MARKER_TEXT = (
    'subword-nmt\'s end-of-word marker, "</w>" glued to the last character (then stripped): '
    "a merge can then never apply across the end of a word; this kit has no marker, a word "
    "starts as list(word)"
)
GLUED_MARKER = {
    "glued_marker": GLUED_MARKER_TEXT,
    "glued_marker_rank_loop": GLUED_MARKER_TEXT + " (and GPT-2's rank loop: " + RANK_LOOP + ")",
}
ENCODE_MISTAKES.update(GLUED_MARKER)


def glued_marker_encode(word: str, merges: Sequence[tuple[str, str]], *, rank: bool) -> list[str]:
    """subword-nmt's encode: the last character carries "</w>" while merging (in list order, or
    by GPT-2's rank loop as apply_bpe.py does), and loses it at the end."""
    if not word:
        return []
    symbols = [*word[:-1], word[-1] + "</w>"]
    if rank:
        ranks = {pair: i for i, pair in reversed(list(enumerate(merges)))}
        while len(symbols) > 1:
            best = min(itertools.pairwise(symbols), key=lambda pair: ranks.get(pair, len(merges)))
            if best not in ranks:
                break
            symbols = merge_variant(symbols, best)
    else:
        for pair in merges:
            symbols = merge_variant(symbols, pair)
    return [*symbols[:-1], symbols[-1].removesuffix("</w>")]
