"""Sampling the next token: temperature, top-k, top-p (nucleus), min-p, and inverse-CDF sampling.

A language model gives one row of logits per position, one logit per token of the vocabulary
(V tokens). Decoding turns the last row into a token. Implement the usual pipeline (numpy;
computing with torch inside is fine too):
- `apply_temperature(logits, temperature)`: logits / temperature. T < 1 sharpens the
  distribution, T > 1 flattens it. Greedy decoding is argmax, not T = 0 (T <= 0 is an error).
- `top_k_logits(logits, k)`: keep the k largest logits of each row (and every logit tied with
  the k-th), drop the rest.
- `top_p_logits(logits, p)`: nucleus filtering, keep the smallest set of most likely tokens whose
  total probability reaches p.
- `min_p_logits(logits, min_p)`: keep the tokens at least min_p times as likely as the most
  likely one.
- `sample_token(logits, u)`: turn a uniform number u in [0, 1) into a token by inverse-CDF
  sampling (the random number is an argument, so the result is reproducible).

Conventions, everywhere in this file:
- logits are float64 numpy arrays (..., V): the last axis is the vocabulary, every leading axis
  is a separate row (a batch of rows), and every row is filtered on its own.
- Probabilities are the softmax of a row over its last axis. Compute it stably (subtract the
  row's max before np.exp): logits above 709 overflow np.exp otherwise.
- A filter returns an array of the shape of its input: a kept token keeps its logit unchanged,
  a dropped token becomes exactly -np.inf (not -1e9, not the dtype's minimum). Filters return
  logits, never probabilities, so they compose: top_p_logits(top_k_logits(x, 50), 0.9).
- A logit that is already -inf has probability 0: filters keep it at -inf and sampling never
  chooses it.
- Never modify an input in place (`logits[...] = -np.inf` on the argument is an error: work
  on a copy).
- Not graded: ties in probability where the order of the tied tokens would matter (top-p's
  sort), and rows where a running total lies within 1e-6 of p (or a probability within 1e-6 of
  min_p * max): float32 arithmetic may decide those either way. Graded: top-k's ties at the
  k-th logit (all of them are kept) and sample_token at u exactly equal to a total (which walks
  the vocabulary in id order, so ties do not matter to it).

References:
- Fan, Lewis and Dauphin, "Hierarchical Neural Story Generation" (2018): top-k sampling,
  https://arxiv.org/abs/1805.04833
- Holtzman et al., "The Curious Case of Neural Text Degeneration" (2020): nucleus (top-p)
  sampling, https://arxiv.org/abs/1904.09751
- Nguyen et al., "Turning Up the Heat: Min-p Sampling for Creative and Coherent LLM Outputs"
  (2024), https://arxiv.org/abs/2407.01082
- Hugging Face transformers, `TopKLogitsWarper`, `TopPLogitsWarper`, `MinPLogitsWarper`
  (generation/logits_process.py).
"""

from __future__ import annotations

import numpy as np


def _softmax(logits: np.ndarray) -> np.ndarray:
    """Stable softmax over the last axis; -inf logits get probability exactly 0."""
    shifted = logits - logits.max(axis=-1, keepdims=True)  # the row's max becomes 0
    exp = np.exp(shifted)
    return exp / exp.sum(axis=-1, keepdims=True)


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """Divide the logits by the temperature: returns logits / temperature, the shape of logits.

    softmax(logits / T) is sharper for T < 1 and flatter for T > 1; T = 1 changes nothing.
    Divide, do not multiply. temperature <= 0 raises ValueError with a message naming the value
    (greedy decoding is argmax, not T = 0).
    """
    if not temperature > 0:
        raise ValueError(f"temperature must be > 0, got temperature={temperature!r}")
    return np.asarray(logits, dtype=np.float64) / temperature


def top_k_logits(logits: np.ndarray, k: int) -> np.ndarray:
    """Top-k filtering of each row of logits (..., V): returns an array of the same shape.

    Keeps every logit >= the k-th largest logit of its row, so a tie at the k-th value keeps
    every tied token (more than k may survive); sets the others to -inf. k >= V keeps
    everything. k < 1 raises ValueError with a message naming k.
    Example: top_k_logits([1, 3, 2, 3], 2) == [-inf, 3, -inf, 3] (the 2nd largest is 3).
    """
    if k < 1:
        raise ValueError(f"k must be at least 1, got k={k!r}")
    logits = np.asarray(logits, dtype=np.float64)
    vocab = logits.shape[-1]
    if k >= vocab:
        return logits.copy()
    kth = np.sort(logits, axis=-1)[..., vocab - k, None]  # (..., 1) the k-th largest per row
    return np.where(logits >= kth, logits, -np.inf)


def top_p_logits(logits: np.ndarray, p: float) -> np.ndarray:
    """Nucleus (top-p) filtering of each row of logits (..., V): returns the same shape.

    Per row: sort the tokens by probability (the softmax of the row), most likely first. Keep a
    token when the total probability of the tokens BEFORE it in that order is < p: the kept
    tokens are the smallest set whose total reaches p, the token that crosses p included, and
    the most likely token is always kept. Set the others to -inf; kept tokens keep their logits,
    in vocabulary order (undo the sort). p = 1 keeps every token.
    0 < p <= 1, else ValueError with a message naming p.
    Example: probabilities [0.5, 0.1, 0.25, 0.15] and p = 0.6: sorted 0.5, 0.25, 0.15, 0.1 with
    totals before them 0, 0.5, 0.75, 0.9, so tokens 0 and 2 are kept.
    """
    if not 0 < p <= 1:
        raise ValueError(f"p must be in (0, 1], got p={p!r}")
    logits = np.asarray(logits, dtype=np.float64)
    if p == 1:
        return logits.copy()
    probs = _softmax(logits)  # (..., V)
    order = np.argsort(-probs, axis=-1, kind="stable")  # most likely first
    sorted_probs = np.take_along_axis(probs, order, axis=-1)
    totals = np.cumsum(sorted_probs, axis=-1)
    before = np.concatenate([np.zeros_like(totals[..., :1]), totals[..., :-1]], axis=-1)
    keep = np.empty(probs.shape, dtype=bool)
    np.put_along_axis(keep, order, before < p, axis=-1)  # back to vocabulary order
    return np.where(keep, logits, -np.inf)


def min_p_logits(logits: np.ndarray, min_p: float) -> np.ndarray:
    """Min-p filtering of each row of logits (..., V): returns an array of the same shape.

    Per row: keeps the tokens whose probability (softmax of the row) is >= min_p times the row's
    highest probability (a threshold relative to the most likely token, not an absolute one);
    sets the others to -inf. min_p = 0 keeps everything; the most likely token is always kept.
    0 <= min_p <= 1, else ValueError with a message naming min_p.
    Example: probabilities [0.5, 0.1, 0.25, 0.15] and min_p = 0.4: the threshold is
    0.4 * 0.5 = 0.2, so tokens 0 and 2 are kept.
    """
    if not 0 <= min_p <= 1:
        raise ValueError(f"min_p must be in [0, 1], got min_p={min_p!r}")
    logits = np.asarray(logits, dtype=np.float64)
    probs = _softmax(logits)  # (..., V)
    threshold = min_p * probs.max(axis=-1, keepdims=True)  # (..., 1)
    return np.where(probs >= threshold, logits, -np.inf)


def sample_token(logits: np.ndarray, u: float) -> int:
    """Inverse-CDF sampling of one token from logits (V,) with a uniform number u in [0, 1).

    probs = softmax(logits); walk the vocabulary in id order (not sorted by probability) and
    return the smallest id i with cumsum(probs)[i] > u (strictly greater). If rounding leaves
    every total <= u (u just below 1 and the totals a hair under 1), return the last token with
    a non-zero probability. Tokens at -inf have probability 0 and are never chosen.
    Returns a Python int (int(...) of a numpy integer).
    Example: probabilities [0.5, 0.1, 0.25, 0.15] have totals [0.5, 0.6, 0.85, 1.0], so
    u = 0.55 gives 1 and u = 0.5 gives 1 too (0.5 > 0.5 is false).
    """
    probs = _softmax(np.asarray(logits, dtype=np.float64))  # (V,)
    totals = np.cumsum(probs)
    above = np.flatnonzero(totals > u)
    if above.size:
        return int(above[0])
    return int(np.flatnonzero(probs > 0)[-1])  # rounding left every total <= u
