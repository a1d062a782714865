"""Word2vec: skip-gram pairs, the noise distribution, negative sampling and nearest neighbours.

Skip-gram learns two vectors per word, an input vector v (the word as a centre) and an output
vector u (the word as a context), so that u_context . v_center is large for words seen together.
The full softmax over the vocabulary is the objective; negative sampling replaces it with one
logistic regression against the true context and K sampled "noise" words. Implement:
- `skipgram_pairs`: the (centre, context) training pairs of a sentence for a fixed window.
- `noise_distribution`: word2vec's unigram distribution raised to the power 3/4.
- `sgns_loss`: the negative-sampling loss of one pair and its gradients, stable for large scores.
- `softmax_loss`: the naive full-softmax loss of one pair and its gradients, stable too.
- `most_similar`: the k nearest words by cosine similarity.

Conventions (this kit's, everywhere below):
- Token ids and indices are Python ints; results that are ids are ints (Python or numpy integer),
  never floats.
- Vectors are rows: v_center (d,), u_context (d,), u_negatives (K, d), u_all and embeddings (V, d).
- "Stable" means exact for dot products of +-1000 with no RuntimeWarning (overflow, divide,
  invalid): use log(sigmoid(s)) = min(s, 0) - log(1 + exp(-|s|)) and shift scores by their max.
- Bad arguments raise ValueError naming the argument and its value ("window=0").

References:
- Mikolov et al. (2013), "Distributed Representations of Words and Phrases and their
  Compositionality", NeurIPS (negative sampling, equation 4; the unigram distribution to the 3/4).
- Goldberg and Levy (2014), "word2vec Explained: Deriving Mikolov et al.'s Negative-Sampling
  Word-Embedding Method", arXiv:1402.3722 (the loss and its gradients).
- word2vec.c (Mikolov, 2013): shrinks the window at random (`b = next_random % window`) and
  subsamples frequent words; this kit's pairs do neither.
"""

from __future__ import annotations

import numpy as np


def skipgram_pairs(tokens: list[int], window: int) -> list[tuple[int, int]]:
    """Every (centre, context) pair of a sentence, for a fixed window.

    tokens: a list of ints. For every position i in order, every j with 1 <= |i - j| <= window and
    0 <= j < len(tokens), in increasing j: the pair (tokens[i], tokens[j]). A window larger than
    the sentence just takes every other position. No subsampling and no random shrinking of the
    window (word2vec.c shrinks it at random; here it is fixed).
    Example: skipgram_pairs([5, 6, 7], 1) == [(5, 6), (6, 5), (6, 7), (7, 6)].
    Returns a list of 2-tuples of ints. window < 1 raises ValueError naming window and its value.
    """
    # TODO(word2vec): check window; each i, then each j != i within window and the list.
    raise NotImplementedError


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """word2vec's noise distribution: counts**power / sum(counts**power).

    counts: (V,) non-negative word counts; power > 0 (word2vec's 3/4 by default: it flattens the
    unigram distribution, so rare words are drawn more often than their frequency). A zero count
    stays 0. Returns a new (V,) array that sums to 1. A negative count, power <= 0, an empty array
    or all counts 0 raises ValueError naming the argument and its value.
    """
    # TODO(word2vec): check counts and power, then counts**power normalised to sum to 1.
    raise NotImplementedError


def sgns_loss(
    v_center: np.ndarray, u_context: np.ndarray, u_negatives: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """Skip-gram with negative sampling for one (centre, context) pair, and its gradients.

    v_center: (d,) the centre word's input vector; u_context: (d,) the context word's output
    vector; u_negatives: (K, d), K >= 1, the sampled negatives' output vectors (a word drawn twice
    appears twice and counts twice).
    loss = -log sigmoid(u_context . v_center) - sum_k log sigmoid(-u_negatives[k] . v_center),
    stable: a context dot product of -1000 adds exactly 1000 (log(sigmoid(s) + eps) fails).
    Returns (loss, grads): loss a float; grads a dict with exactly the keys "v_center" (d,),
    "u_context" (d,) and "u_negatives" (K, d), where row k is the derivative with respect to row k
    (a repeated word's rows are NOT summed into one).
    """
    # TODO(word2vec): two dot products, a stable log-sigmoid, then the chain rule.
    raise NotImplementedError


def softmax_loss(
    v_center: np.ndarray, context: int, u_all: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """The naive full-softmax skip-gram loss of one pair, and its gradients.

    v_center: (d,); u_all: (V, d), every word's output vector; context: an int in [0, V).
    loss = -log softmax(u_all @ v_center)[context], stable for scores of +-1000 (subtract the max
    score before exp). Returns (loss, grads): loss a float; grads a dict with exactly the keys
    "v_center" (d,) and "u_all" (V, d).
    """
    # TODO(word2vec): scores = u_all @ v_center, shifted by their max; loss and softmax - one_hot.
    raise NotImplementedError


def most_similar(embeddings: np.ndarray, index: int, k: int) -> list[int]:
    """The k words most similar to word `index` by cosine similarity, most similar first.

    embeddings: (V, d). Cosine similarity u . v / (|u| |v|), with a zero vector's similarity 0 to
    everything. The word itself is excluded. Ties (exactly equal similarities) go to the lower
    index. k > V - 1 returns all V - 1 others; k = 0 returns []. Returns a list of ints.
    k < 0 raises ValueError naming k and its value.
    """
    # TODO(word2vec): cosines (0 for a zero vector), drop index, sort by -similarity then index.
    raise NotImplementedError
