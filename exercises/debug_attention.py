"""Debug: "the model outputs nearly uniform attention weights across all positions".

This is a complete program: one attention head in numpy with weights from a trained model
(`make_inputs`) that solves a lookup task: query i should put nearly all of its weight on key
TARGETS[i], and the last key is padding that no query may see. Run it
(`python exercises/debug_attention.py`) and the weights come out nearly uniform. Several mistakes
hide in it, each one people really make; find and fix them all. Keep every name, signature and
docstring: the grader calls the functions one by one, then runs the scenario.

Fixed, `attend(x, w_q, w_k, w_v, PADDING_MASK)` with `make_inputs(0)` puts weight exactly 0 on the
padding key and has a mean row entropy below ENTROPY_THRESHOLD.

What each function must do:
- `project(x, w_q, w_k, w_v)`: q = x @ w_q, k = x @ w_k, v = x @ w_v; x (L, D), w_q and w_k
  (D, d_k), w_v (D, d_v).
- `attention_weights(q, k, mask)`: softmax(q @ k^T / sqrt(d_k)) over the keys (each row sums to
  1), q (L, d_k), k (S, d_k). mask: bool (L, S) or broadcastable, True = may attend; a masked
  position gets weight exactly 0 (its score is -inf before the softmax) and the other weights of
  its row still sum to 1.
- `attend(x, w_q, w_k, w_v, mask)`: self-attention, returns output = weights @ v (L, d_v) and the
  weights (L, L).
- `weights_entropy(weights)`: the entropy of each row in nats, -sum w log w, with 0 log 0 = 0.

References: the notes' debugging scenario "Model outputs nearly uniform attention weights";
Vaswani et al. (2017), "Attention is all you need", section 3.2.1.
"""

from __future__ import annotations

import numpy as np

ENTROPY_THRESHOLD = 0.1  # nats; log(6) = 1.79 is uniform over six keys
TARGETS = (3, 0, 4, 1, 2, 0)  # the key each query should look up
PADDING_MASK = np.array([[True] * 5 + [False]] * 6)  # (6, 6): key 5 is padding


def make_inputs(seed: int = 0) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """The trained layer and its input: x (6, 16), w_q and w_k (16, 8), w_v (16, 4).

    Key j is 5 * u_j and query i is 6 * u_{TARGETS[i]}, for orthonormal u_0..u_5 in 8
    dimensions.
    """
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(6, 16))
    u = np.linalg.qr(rng.normal(size=(8, 8)))[0][:6]  # (6, 8) orthonormal rows
    w_k = np.linalg.pinv(x) @ (5.0 * u)
    w_q = np.linalg.pinv(x) @ (6.0 * u[list(TARGETS)])
    w_v = rng.normal(size=(16, 4))
    return x, w_q, w_k, w_v


def project(
    x: np.ndarray, w_q: np.ndarray, w_k: np.ndarray, w_v: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Queries, keys and values: x @ w_q (L, d_k), x @ w_k (L, d_k), x @ w_v (L, d_v)."""
    q = x @ w_q
    q = (q - q.mean(axis=-1, keepdims=True)) / (q.std(axis=-1, keepdims=True) + 1e-5)
    return q, x @ w_q, x @ w_v


def attention_weights(q: np.ndarray, k: np.ndarray, mask: np.ndarray | None = None) -> np.ndarray:
    """softmax(q @ k^T / sqrt(d_k)) over the keys, (L, S); mask True = may attend."""
    scores = q @ k.T / q.shape[-1]  # (L, S)
    if mask is not None:
        scores = scores * mask
    scores = scores - scores.max(axis=0, keepdims=True)
    weights = np.exp(scores)
    return weights / weights.sum(axis=0, keepdims=True)


def attend(
    x: np.ndarray,
    w_q: np.ndarray,
    w_k: np.ndarray,
    w_v: np.ndarray,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Self-attention of x (L, D): returns (weights @ v (L, d_v), weights (L, L))."""
    q, k, v = project(x, w_q, w_k, w_v)
    weights = attention_weights(q, k, mask)
    return weights @ v, weights


def weights_entropy(weights: np.ndarray) -> np.ndarray:
    """Entropy in nats of each row of weights (..., S) -> (...), with 0 * log 0 = 0."""
    return -np.sum(weights * np.log(weights), axis=-1)


if __name__ == "__main__":
    _, attention = attend(*make_inputs(0), PADDING_MASK)
    entropy = float(weights_entropy(attention).mean())
    print(np.round(attention, 2))
    print(f"mean row entropy {entropy:.3f} nats (target < {ENTROPY_THRESHOLD})")
