"""Byte-pair encoding (BPE): learn a tokenizer's merges from word counts, encode, decode.

A BPE tokenizer starts from single characters and learns, one step at a time, which two adjacent
symbols to glue together: the pair that occurs most often in the training words. The list of
merges, in the order they were learned, is the tokenizer. Implement (plain Python is enough;
numpy or torch inside is fine too):
- `train_bpe(word_counts, num_merges)`: learn up to num_merges merges from a dict word -> count.
- `encode(word, merges)`: split a word into symbols by replaying the merges.
- `decode(symbols)`: glue the symbols back into the word.

Conventions, everywhere in this file:
- A word starts as its characters, `list(word)`: no end-of-word marker (no "</w>"), no byte
  mapping (no GPT-2 bytes_to_unicode), no special tokens. A symbol is a str; merging the pair
  (a, b) makes the symbol a + b.
- A merge is a 2-tuple of str, (left, right); merges is a list of them, first learned first.
- Counting: every adjacent pair of symbols in every word, each occurrence weighted by the
  word's count. Overlapping occurrences all count: the word "aaa" with count 3 adds 2 * 3 = 6
  to the pair ("a", "a").
- Merging a pair rewrites every word, left to right, without overlap: "aaa" becomes
  ["aa", "a"], never ["a", "aa"]; "aaaa" becomes ["aa", "aa"]. Only whole adjacent symbols
  merge: ("a", "b") does not apply to ["aa", "b"].
- Ties: the largest (count, pair) under Python's tuple order wins, so among equally frequent
  pairs the lexicographically greatest tuple, e.g. ("s", "t") beats ("e", "s"), and
  ("ab", "d") beats ("a", "bz") (compare the tuples, not the merged strings "abd" < "abz").
  This is CS336's rule; minbpe and Sennrich's learn_bpe take the first pair seen instead.
- No minimum frequency: a pair that occurs once is still merged.
- Never modify the arguments (the word_counts dict, the merges list) in place.
- Results are plain lists of str (merges: a list of 2-tuples of str); they are compared exactly.

References:
- Sennrich, Haddow and Birch, "Neural Machine Translation of Rare Words with Subword Units"
  (ACL 2016), https://arxiv.org/abs/1508.07909, algorithm 1.
- Radford et al., "Language Models are Unsupervised Multitask Learners" (GPT-2, 2019), and
  openai/gpt-2 src/encoder.py, `Encoder.bpe` (the rank loop encode equals for learned merges).
- Stanford CS336 (2025), assignment 1, "BPE tokenizer training" (the tie rule);
  karpathy/minbpe (a readable implementation with the first-seen tie rule).
"""

from __future__ import annotations


def train_bpe(word_counts: dict[str, int], num_merges: int) -> list[tuple[str, str]]:
    """Learn up to num_merges merges from word_counts (dict word -> positive int count).

    Every word starts as list(word). Then, num_merges times:
      1. count every adjacent pair of symbols in every word, each occurrence weighted by the
         word's count ("aaa" with count 1 holds ("a", "a") twice: it adds 2);
      2. take the most frequent pair; ties go to the largest (count, pair) under Python's tuple
         order, i.e. the lexicographically greatest pair tuple;
      3. merge every occurrence of it in every word, left to right, without overlap;
      4. record it.
    Stop early when no word has two symbols left (there is no pair to count). A pair that
    occurs once is still merged (no minimum frequency). num_merges = 0 returns [].
    Returns the merges in the order they were learned: a list of 2-tuples of str.
    Example: train_bpe({"aaa": 1, "ab": 1}, 5) == [("a", "a"), ("aa", "a"), ("a", "b")]
      step 1: ("a", "a") 2, ("a", "b") 1             -> ("a", "a"); "aaa" -> ["aa", "a"]
      step 2: ("aa", "a") 1, ("a", "b") 1, a tie     -> ("aa", "a") > ("a", "b")
      step 3: ("a", "b") 1                           -> ("a", "b"); then every word is one symbol
    """
    # TODO(bpe): start every word as list(word); count weighted pairs, take the max of
    # (count, pair), merge it left to right in every word, record it; stop when no pair is left.
    raise NotImplementedError


def encode(word: str, merges: list[tuple[str, str]]) -> list[str]:
    """Split word into symbols with a list of merges: returns a list of str.

    Start from list(word); for each merge (a, b), in list order, rewrite the symbols once, left
    to right: wherever a is followed by b, replace the two by a + b (without overlap, as in
    train_bpe). For merges learned by train_bpe this equals GPT-2's loop that repeatedly merges
    the lowest-ranked (earliest) pair present; for a hand-written list the in-order rule above is
    the definition. Characters the merges never mention stay single symbols (no "<unk>").
    Example: encode("lowest", [("l", "o"), ("lo", "w"), ("e", "s")]) == ["low", "es", "t"].
    Example: encode("abc", [("ab", "c"), ("a", "b")]) == ["ab", "c"] (("ab", "c") comes first,
    when there is no "ab" yet).
    """
    # TODO(bpe): start from list(word) and apply each merge, in order, left to right.
    raise NotImplementedError


def decode(symbols: list[str]) -> str:
    """Glue symbols back into a string: "".join(symbols) (no separator, nothing stripped).

    decode(encode(word, merges)) == word for every word and every list of merges.
    """
    # TODO(bpe): join the symbols.
    raise NotImplementedError
