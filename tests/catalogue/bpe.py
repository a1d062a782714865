"""Known-wrong and correct-but-different versions of solutions/bpe.py."""

from __future__ import annotations

from catalogue import Variant

COUNT = "counts[pair] = counts.get(pair, 0) + count"
BEST = "best = max(counts, key=lambda pair: (counts[pair], pair))"
PAIRS = "for pair in itertools.pairwise(symbols):"
STEP = "            merged.append(left + right)\n            i += 2\n"
STOP = "        if not counts:\n            break  # every word is a single symbol\n"

WRONG = [
    # ---- train_bpe: counting
    Variant(
        "pairs counted once per word, not by count",
        passes=False,
        replace=((COUNT, "counts[pair] = counts.get(pair, 0) + 1"),),
        message="counted once per word, ignoring the word's count",
    ),
    Variant(
        "a repeated pair counted once per word",
        passes=False,
        replace=((PAIRS, "for pair in set(itertools.pairwise(symbols)):"),),
        message="a pair that occurs twice in a word was counted once",
    ),
    Variant(
        "pairs counted with str.count (no overlaps)",
        passes=False,
        replace=(
            (
                PAIRS,
                "for pair in [p for p in dict.fromkeys(itertools.pairwise(symbols))"
                " for _ in range(_apart(symbols, p))]:",
            ),
        ),
        code="""
        def _apart(symbols, pair):  # scans like str.count: a match skips past its end
            found, i = 0, 0
            while i + 1 < len(symbols):
                if (symbols[i], symbols[i + 1]) == pair:
                    found, i = found + 1, i + 2
                else:
                    i += 1
            return found
        """,
        message="overlapping occurrences were not counted",
    ),
    Variant(
        "counts not recomputed after a merge",
        passes=False,
        code="""
        def train_bpe(word_counts, num_merges):
            counts = {}
            for word, count in word_counts.items():
                for pair in zip(word, word[1:]):
                    counts[pair] = counts.get(pair, 0) + count
            merges = []
            for _ in range(num_merges):
                left = {p: c for p, c in counts.items() if p not in merges}
                if not left:
                    break
                merges.append(max(left, key=lambda p: (left[p], p)))
            return merges
        """,
        message="the pair counts were not recomputed after each merge",
    ),
    # ---- train_bpe: ties
    Variant(
        "ties to the smallest pair",
        passes=False,
        replace=((BEST, "best = min(counts, key=lambda pair: (-counts[pair], pair))"),),
        message="ties went to the smallest pair",
    ),
    Variant(
        "ties to the first pair seen (Counter.most_common, minbpe)",
        passes=False,
        replace=((BEST, "best = __import__('collections').Counter(counts).most_common(1)[0][0]"),),
        message="ties went to the first pair seen",
    ),
    Variant(
        "ties by the merged string",
        passes=False,
        replace=((BEST, "best = max(counts, key=lambda pair: (counts[pair], pair[0] + pair[1]))"),),
        message="ties were broken by comparing the merged strings",
    ),
    # ---- merging
    Variant(
        "merges right to left",
        passes=False,
        code="""
        def _merge(symbols, pair):
            out, i = [], len(symbols) - 1
            while i >= 0:
                if i >= 1 and (symbols[i - 1], symbols[i]) == tuple(pair):
                    out.insert(0, pair[0] + pair[1])
                    i -= 2
                else:
                    out.insert(0, symbols[i])
                    i -= 1
            return out
        """,
        message="merged right to left",
    ),
    Variant(
        "overlapping merges (i += 1 after a merge)",
        passes=False,
        replace=((STEP, "            merged.append(left + right)\n            i += 1\n"),),
        message="overlapping merges",
    ),
    Variant(
        "merge by string replacement across symbol boundaries",
        passes=False,
        code="""
        def _merge(symbols, pair):
            text = " ".join(symbols).replace(pair[0] + " " + pair[1], pair[0] + pair[1])
            return text.split(" ")
        """,
        message="merged by string replacement across symbol boundaries",
    ),
    # ---- train_bpe: stopping and starting
    Variant(
        "min_frequency 2 (Sennrich's learn_bpe)",
        passes=False,
        replace=(
            (STOP, "        if not counts or max(counts.values()) < 2:\n            break\n"),
        ),
        message="stopped when the best pair occurs only once",
    ),
    Variant(
        "no stop when no pair is left (max of nothing)",
        passes=False,
        replace=((STOP, ""),),
        message="when no word has two symbols left, stop",
    ),
    Variant(
        "one merge too few",
        passes=False,
        replace=(("    for _ in range(num_merges):\n", "    for _ in range(num_merges - 1):\n"),),
        message="one merge too few",
    ),
    Variant(
        "end-of-word marker </w>",
        passes=False,
        replace=(
            (
                "words = [(list(word), int(count))",
                "words = [([*word[:-1], word[-1] + '</w>'], int(count))",
            ),
        ),
        message='an end-of-word marker "</w>"',
    ),
    Variant(
        "byte-level symbols (UTF-8 bytes)",
        passes=False,
        replace=(
            (
                "words = [(list(word), int(count))",
                "words = [(list(word.encode('utf-8').decode('latin-1')), int(count))",
            ),
        ),
        message="the symbols started as UTF-8 bytes",
    ),
    Variant(
        "deletes single-letter words from word_counts",
        passes=False,
        code="""
        _train = train_bpe

        def train_bpe(word_counts, num_merges):
            merges = _train(word_counts, num_merges)
            for word in [w for w in word_counts if len(w) < 2]:
                del word_counts[word]  # nothing to merge in them
            return merges
        """,
        message="modified its input",
    ),
    # ---- encode
    Variant(
        "encode by longest match",
        passes=False,
        code="""
        def encode(word, merges):
            vocab = {a + b for a, b in merges} | set(word)
            symbols, i = [], 0
            while i < len(word):
                j = len(word)
                while word[i:j] not in vocab:
                    j -= 1
                symbols.append(word[i:j])
                i = j
            return symbols
        """,
        message="encoded by longest match",
    ),
    Variant(
        "encode with GPT-2's rank loop",
        passes=False,
        code="""
        def encode(word, merges):
            ranks = {}
            for i, pair in enumerate(merges):
                ranks.setdefault(tuple(pair), i)
            symbols = list(word)
            while len(symbols) > 1:
                pairs = set(zip(symbols, symbols[1:]))
                best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
                if best not in ranks:
                    break
                symbols = _merge(symbols, best)
            return symbols
        """,
        message="GPT-2's rank loop",
    ),
    Variant(
        "encode applies the merges in reverse order",
        passes=False,
        replace=(("    for pair in merges:\n", "    for pair in reversed(merges):\n"),),
        message="the merges were applied in reverse order",
    ),
    Variant(
        "encode merges only the first occurrence",
        passes=False,
        code="""
        def encode(word, merges):
            symbols = list(word)
            for a, b in merges:
                for i in range(len(symbols) - 1):
                    if symbols[i] == a and symbols[i + 1] == b:
                        symbols[i : i + 2] = [a + b]
                        break
            return symbols
        """,
        message="only the first occurrence in a word was merged",
    ),
    Variant(
        "encode drops characters no merge mentions",
        passes=False,
        code="""
        _encode = encode

        def encode(word, merges):
            known = set("".join(a + b for a, b in merges))
            return _encode("".join(c for c in word if c in known), merges)
        """,
        message="characters that no merge mentions were dropped",
    ),
    # ---- decode
    Variant(
        "decode joins with spaces",
        passes=False,
        replace=(('    return "".join(symbols)\n', '    return " ".join(symbols)\n'),),
        message="joined with a separator",
    ),
    # ---- found in public code (issue 26)
    Variant(
        "encode with subword-nmt's </w> glued to the last character",
        passes=False,
        code="""
        def encode(word, merges):
            symbols = list(word[:-1]) + [word[-1] + "</w>"] if word else []
            for pair in merges:
                symbols = _merge(symbols, (pair[0], pair[1]))
            return symbols[:-1] + [symbols[-1].replace("</w>", "")] if symbols else []
        """,
        message='subword-nmt\'s end-of-word marker, "</w>" glued to the last character',
    ),
    Variant(
        "subword-nmt's apply_bpe: </w> glued, and the lowest-ranked pair merged again and again",
        passes=False,
        code="""
        def encode(word, merges):
            ranks = {}
            for i, pair in enumerate(merges):
                ranks.setdefault(tuple(pair), i)
            symbols = tuple(word[:-1]) + (word[-1] + "</w>",)
            while len(symbols) > 1:
                pairs = set(zip(symbols, symbols[1:]))
                best = min(pairs, key=lambda p: ranks.get(p, float("inf")))
                if best not in ranks:
                    break
                symbols = tuple(_merge(list(symbols), best))
            if symbols[-1] == "</w>":
                symbols = symbols[:-1]
            elif symbols[-1].endswith("</w>"):
                symbols = symbols[:-1] + (symbols[-1][:-4],)
            return list(symbols)
        """,
        message='subword-nmt\'s end-of-word marker, "</w>" glued to the last character',
    ),
    Variant(
        "num_merges read as the vocabulary size (minbpe's vocab_size - 256)",
        passes=False,
        replace=(
            (
                "    for _ in range(num_merges):\n",
                "    alphabet = {c for word in word_counts for c in word}\n"
                "    for _ in range(num_merges - len(alphabet)):\n",
            ),
        ),
        message="stopped too early",
    ),
]

RIGHT = [
    Variant(
        "Counter, sorted tie-break and list slicing",
        passes=True,
        code="""
        from collections import Counter

        def train_bpe(word_counts, num_merges):
            words = {tuple(word): count for word, count in word_counts.items()}
            merges = []
            while len(merges) < num_merges:
                counts = Counter()
                for symbols, count in words.items():
                    for i in range(len(symbols) - 1):
                        counts[symbols[i], symbols[i + 1]] += count
                if not counts:
                    break
                best = sorted(counts.items(), key=lambda kv: (kv[1], kv[0]))[-1][0]
                merges.append(best)
                new = {}
                for symbols, count in words.items():
                    new[tuple(_merge(list(symbols), best))] = count
                words = new
            return merges
        """,
    ),
    Variant(
        "regex merges on a joined string (Sennrich's way), tuples out",
        passes=True,
        code="""
        import re

        SEP = "\\x00"

        def _merge(symbols, pair):
            text = SEP.join(symbols)
            bigram = re.escape(pair[0] + SEP + pair[1])
            pattern = "(?<![^" + SEP + "])" + bigram + "(?![^" + SEP + "])"
            return re.sub(pattern, lambda m: pair[0] + pair[1], text).split(SEP)

        _encode = encode

        def encode(word, merges):
            return tuple(_encode(word, merges))
        """,
    ),
    Variant(
        "torch.bincount pair counts, numpy string results",
        passes=True,
        code="""
        import numpy as np
        import torch

        def train_bpe(word_counts, num_merges):
            words = [(list(w), c) for w, c in word_counts.items()]
            merges = []
            for _ in range(num_merges):
                vocab = sorted({s for symbols, _ in words for s in symbols})
                index = {s: i for i, s in enumerate(vocab)}
                ids, weights = [], []
                for symbols, count in words:
                    for a, b in zip(symbols, symbols[1:]):
                        ids.append(index[a] * len(vocab) + index[b])
                        weights.append(float(count))
                if not ids:
                    break
                weights = torch.tensor(weights, dtype=torch.float64)
                totals = torch.bincount(torch.tensor(ids), weights)
                top = totals.max()
                tied = torch.nonzero(totals == top).flatten().tolist()
                best = max((vocab[k // len(vocab)], vocab[k % len(vocab)]) for k in tied)
                merges.append((np.str_(best[0]), np.str_(best[1])))
                words = [(_merge(symbols, best), c) for symbols, c in words]
            return merges
        """,
    ),
    Variant(
        "recursive encode, merges as lists, decode by accumulation",
        passes=True,
        code="""
        _train = train_bpe

        def train_bpe(word_counts, num_merges):
            return [list(m) for m in _train(word_counts, num_merges)]

        def encode(word, merges):
            def apply(symbols, rest):
                if not rest:
                    return symbols
                return apply(_merge(symbols, tuple(rest[0])), rest[1:])

            return apply(list(word), list(merges))

        def decode(symbols):
            text = ""
            for s in symbols:
                text += s
            return text
        """,
    ),
]

VARIANTS: list[Variant] = WRONG + RIGHT
