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
    if window < 1:
        raise ValueError(f"window must be >= 1, got window={window}")
    n = len(tokens)
    return [
        (tokens[i], tokens[j])
        for i in range(n)
        for j in range(max(0, i - window), min(n, i + window + 1))
        if j != i
    ]


def noise_distribution(counts: np.ndarray, power: float = 0.75) -> np.ndarray:
    """word2vec's noise distribution: counts**power / sum(counts**power).

    counts: (V,) non-negative word counts; power > 0 (word2vec's 3/4 by default: it flattens the
    unigram distribution, so rare words are drawn more often than their frequency). A zero count
    stays 0. Returns a new (V,) array that sums to 1. A negative count, power <= 0, an empty array
    or all counts 0 raises ValueError naming the argument and its value.
    """
    counts = np.asarray(counts, dtype=np.float64)
    if power <= 0:
        raise ValueError(f"power must be > 0, got power={power}")
    if counts.size == 0:
        raise ValueError(f"counts must not be empty, got counts.shape={counts.shape}")
    if (counts < 0).any():
        raise ValueError(f"counts must be >= 0, got counts={counts.tolist()}")
    if not (counts > 0).any():
        raise ValueError(f"counts must not all be 0, got counts={counts.tolist()}")
    weights = counts**power  # (V,)
    return weights / weights.sum()


def _log_sigmoid(s: np.ndarray) -> np.ndarray:
    """log(sigmoid(s)) = min(s, 0) - log(1 + exp(-|s|)): exact and warning-free for |s| = 1000."""
    return np.minimum(s, 0.0) - np.log1p(np.exp(-np.abs(s)))


def _sigmoid(s: np.ndarray) -> np.ndarray:
    e = np.exp(-np.abs(s))  # in (0, 1]: never overflows
    return np.where(s >= 0, 1.0 / (1.0 + e), e / (1.0 + e))


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
    s_context = u_context @ v_center  # float
    s_negatives = u_negatives @ v_center  # (K,)
    loss = -_log_sigmoid(s_context) - np.sum(_log_sigmoid(-s_negatives))
    d_context = _sigmoid(s_context) - 1.0  # d loss / d s_context = -sigmoid(-s_context)
    d_negatives = _sigmoid(s_negatives)  # (K,), d loss / d s_negatives
    grads = {
        "v_center": d_context * u_context + d_negatives @ u_negatives,  # (d,)
        "u_context": d_context * v_center,  # (d,)
        "u_negatives": d_negatives[:, None] * v_center[None, :],  # (K, d)
    }
    return float(loss), grads


def softmax_loss(
    v_center: np.ndarray, context: int, u_all: np.ndarray
) -> tuple[float, dict[str, np.ndarray]]:
    """The naive full-softmax skip-gram loss of one pair, and its gradients.

    v_center: (d,); u_all: (V, d), every word's output vector; context: an int in [0, V).
    loss = -log softmax(u_all @ v_center)[context], stable for scores of +-1000 (subtract the max
    score before exp). Returns (loss, grads): loss a float; grads a dict with exactly the keys
    "v_center" (d,) and "u_all" (V, d).
    """
    scores = u_all @ v_center  # (V,)
    shifted = scores - scores.max()
    log_z = np.log(np.sum(np.exp(shifted)))  # log-sum-exp of the shifted scores
    d_scores = np.exp(shifted - log_z)  # (V,) softmax
    d_scores[context] -= 1.0  # softmax - one_hot(context)
    grads = {"v_center": u_all.T @ d_scores, "u_all": np.outer(d_scores, v_center)}
    return float(log_z - shifted[context]), grads


def most_similar(embeddings: np.ndarray, index: int, k: int) -> list[int]:
    """The k words most similar to word `index` by cosine similarity, most similar first.

    embeddings: (V, d). Cosine similarity u . v / (|u| |v|), with a zero vector's similarity 0 to
    everything. The word itself is excluded. Ties (exactly equal similarities) go to the lower
    index. k > V - 1 returns all V - 1 others; k = 0 returns []. Returns a list of ints.
    k < 0 raises ValueError naming k and its value.
    """
    if k < 0:
        raise ValueError(f"k must be >= 0, got k={k}")
    norms = np.linalg.norm(embeddings, axis=1)  # (V,)
    dots = embeddings @ embeddings[index]  # (V,)
    scale = norms * norms[index]
    similarity = np.divide(dots, scale, out=np.zeros_like(dots), where=scale > 0)
    order = np.lexsort((np.arange(len(similarity)), -similarity))  # by -similarity, then index
    return [int(i) for i in order if i != index][:k]
