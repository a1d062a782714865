"""Speculative decoding: a small draft model proposes, the large target model verifies.

A large model generates one token per forward pass. Speculative decoding lets a cheap draft model
propose k tokens x_0 .. x_{k-1} (each drawn from the draft's distribution q_i), then runs the
target model once over all of them, which gives its distributions p_0 .. p_k at those k positions
and one more. Each proposal is accepted with probability min(1, p_i[x_i] / q_i[x_i]); at the first
rejection the step draws a replacement from the residual distribution max(0, p_i - q_i)
(normalised) and stops; if all k are accepted it draws a bonus token from p_k. The tokens it emits
are distributed exactly as if the target model had generated them one by one: the speed-up costs
no quality. Implement (numpy; torch inside is fine too):
- `acceptance_probability(p, q)`: how often a token drawn from q is accepted.
- `residual_distribution(p, q)`: where a rejected token is resampled from.
- `speculative_step(draft_tokens, draft_probs, target_probs, u, u_next)`: one verification step,
  with the random numbers given as arguments (so the result is reproducible).
- `expected_tokens_per_step(alpha, k)`: the tokens one step yields on average.

Conventions, everywhere in this file:
- A distribution is a float64 numpy array (V,) over the vocabulary of V tokens, summing to 1.
  Rows of a (n, V) array are n distributions, one per position.
- Token ids are ints in 0 .. V-1. Counts and token ids are returned as Python ints (int(...) of a
  numpy integer): a float such as 2.0 is not a token id.
- Random numbers are arguments, floats in [0, 1): u[i] decides proposal i, u_next the token drawn
  at the end of the step. Draw that token by inverse CDF in vocabulary order (the rule of the
  sampling exercise's sample_token, applied to probabilities): the smallest id i with
  cumsum(dist)[i] > u_next, strictly; if rounding leaves every total <= u_next, the last id with
  a non-zero probability.
- Never modify an input in place.

References:
- Leviathan, Kalman and Matias, "Fast Inference from Transformers via Speculative Decoding"
  (2023), https://arxiv.org/abs/2211.17192 (Algorithm 1; the expected number of tokens per step,
  equation 1)
- Chen et al., "Accelerating Large Language Model Decoding with Speculative Sampling" (2023),
  https://arxiv.org/abs/2302.01318 (Algorithm 2: accept when u < min(1, p / q))
- Hugging Face transformers, `_speculative_sampling` (generation/utils.py).
"""

from __future__ import annotations

import numpy as np


def acceptance_probability(p: np.ndarray, q: np.ndarray) -> float:
    """The probability that a token drawn from the draft q is accepted by the target p.

    p, q (V,): the target's and the draft's distributions over the next token. Returns
    sum over x of min(p[x], q[x]) as a float: 1 minus the total variation distance between p and
    q (1 when q == p, 0 when they share no token).
    Example: p = [0.5, 0.5, 0], q = [0.25, 0.25, 0.5] gives 0.25 + 0.25 + 0 = 0.5.
    """
    return float(np.minimum(np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64)).sum())


def residual_distribution(p: np.ndarray, q: np.ndarray) -> np.ndarray:
    """The distribution a rejected token is resampled from: max(0, p - q), normalised to sum 1.

    p, q (V,): target and draft distributions. Returns an array (V,). The residual puts mass only
    where the target wants more than the draft gave. When max(0, p - q) sums to exactly 0
    (q == p), there is nothing to normalise: return p itself (a copy).
    Example: p = [0.5, 0.25, 0.25], q = [0.25, 0.5, 0.25] gives max(0, p - q) = [0.25, 0, 0],
    normalised [1, 0, 0].
    """
    p = np.asarray(p, dtype=np.float64)
    excess = np.maximum(p - np.asarray(q, dtype=np.float64), 0.0)
    mass = excess.sum()
    if mass == 0:
        return p.copy()
    return excess / mass


def _inverse_cdf(dist: np.ndarray, u: float) -> int:
    """The smallest id whose cumulative total is > u, else the last id with non-zero mass."""
    above = np.flatnonzero(np.cumsum(dist) > u)
    if above.size:
        return int(above[0])
    return int(np.flatnonzero(dist > 0)[-1])  # rounding left every total <= u


def speculative_step(
    draft_tokens: np.ndarray,
    draft_probs: np.ndarray,
    target_probs: np.ndarray,
    u: np.ndarray,
    u_next: float,
) -> tuple[int, int]:
    """Verify k proposed tokens against the target; returns (accepted, next_token) as ints.

    draft_tokens (k,) int: the proposals x_0 .. x_{k-1}; draft_probs (k, V): q_i, the draft's
    distribution at proposal i (q_i[x_i] > 0); target_probs (k + 1, V): p_i, the target's
    distributions at those k positions and one more; u (k,) and u_next: floats in [0, 1).
    k = 0 is allowed (no proposals: the step is plain sampling from p_0).
    1. For i = 0, 1, ...: proposal i is accepted when u[i] < min(1, p_i[x_i] / q_i[x_i]),
       strictly. The first rejection stops the step (later proposals are never looked at).
    2. accepted = how many proposals were accepted before the first rejection (0 .. k).
    3. next_token is drawn with u_next by inverse CDF (see the module's conventions) from
       residual_distribution(p_n, q_n) at the first rejected position n, or from p_k, the bonus
       distribution, when all k were accepted.
    The step emits draft_tokens[:accepted] followed by next_token: accepted + 1 tokens.
    Example: k = 1, draft_tokens = [1], draft_probs = [[0.25, 0.5, 0.25]], target_probs =
    [[0.5, 0.25, 0.25], [0, 0, 1]]: the ratio is 0.25 / 0.5 = 0.5, so u = [0.25] accepts (0.25 <
    0.5) and the bonus from p_1 = [0, 0, 1] is token 2: (1, 2) for any u_next; u = [0.75] rejects
    and the residual is [1, 0, 0]: (0, 0) for any u_next.
    """
    tokens = np.asarray(draft_tokens).reshape(-1)
    q = np.asarray(draft_probs, dtype=np.float64)
    p = np.asarray(target_probs, dtype=np.float64)
    for i, token in enumerate(tokens):
        ratio = p[i, token] / q[i, token]
        if not u[i] < min(1.0, ratio):
            return i, _inverse_cdf(residual_distribution(p[i], q[i]), u_next)
    return len(tokens), _inverse_cdf(p[len(tokens)], u_next)


def expected_tokens_per_step(alpha: float, k: int) -> float:
    """The expected number of tokens one step yields when each proposal is accepted with
    probability alpha, independently: (1 - alpha ** (k + 1)) / (1 - alpha).

    That is 1 + alpha + alpha ** 2 + ... + alpha ** k: the step always yields one token (the
    replacement or the bonus), plus each accepted proposal. alpha = 1 gives k + 1 (every proposal
    and the bonus; the formula would divide 0 by 0). Returns a float.
    alpha outside [0, 1] or k < 0 raises ValueError with a message naming the argument and its
    value (e.g. "alpha must be in [0, 1], got alpha=1.5").
    Example: alpha = 0.5, k = 2 gives (1 - 0.125) / 0.5 = 1.75 = 1 + 0.5 + 0.25.
    """
    if not 0 <= alpha <= 1:
        raise ValueError(f"alpha must be in [0, 1], got alpha={alpha!r}")
    if k < 0:
        raise ValueError(f"k must be >= 0, got k={k!r}")
    if alpha == 1:
        return float(k + 1)
    return float((1 - alpha ** (k + 1)) / (1 - alpha))
