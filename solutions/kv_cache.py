"""KV cache: decoding one token at a time without recomputing the past.

A decoder generates text one token at a time, and every new token attends to all the tokens before
it. Their keys and values do not change once computed, so a decoder keeps them in a cache and
projects only the new tokens. Implement:
- `KVCache`: a store for the keys and values of up to `max_len` positions, split into heads,
  oldest first, that grows by `append`.
- `attend_with_cache`: multi-head self-attention for the next t tokens (a prompt of several
  tokens, then one at a time): project them, append their keys and values to the cache, and let
  each attend to every cached position up to and including its own.
Heads are split exactly as in the attention exercise's `multi_head_attention`: head h uses columns
h*d_k:(h+1)*d_k of Q = x @ w_q, K = x @ w_k, V = x @ w_v, with d_k = D // num_heads, and is scaled
by 1/sqrt(d_k). Feeding a sequence in any chunks must give the same rows as causal multi-head
attention over the whole sequence at once. Never modify an input array in place; where a docstring
says "raises ValueError", raise it with a message that says what was wrong.

References:
- Vaswani et al. (2017), "Attention Is All You Need", arXiv:1706.03762, sections 3.2.2 (multi-head
  attention) and 3.2.3 (masking in the decoder).
- Pope et al. (2022), "Efficiently Scaling Transformer Inference", arXiv:2211.05102, section 2
  (the KV cache; prefill of the prompt, then incremental decoding).
- Hugging Face transformers documentation, "Caching" (past_key_values, one new token per step).
"""

from __future__ import annotations

import numpy as np


class KVCache:
    """The keys and values of the positions decoded so far, for every batch row and head.

    KVCache(max_len, batch, num_heads, head_dim) starts empty and holds at most max_len positions.
    append(k, v): k and v of shape (batch, num_heads, t, head_dim), t >= 1, the keys and values of
        the next t positions (already projected and split into heads). Raises ValueError if the
        cache would then hold more than max_len positions (exactly max_len is fine).
    keys, values: arrays of shape (batch, num_heads, len, head_dim): the filled part only (no
        unused room), oldest position first.
    len(cache): the number of cached positions.
    """

    def __init__(self, max_len: int, batch: int, num_heads: int, head_dim: int) -> None:
        self.max_len = max_len
        self._k = np.zeros((batch, num_heads, max_len, head_dim))  # (B, h, max_len, d_k)
        self._v = np.zeros((batch, num_heads, max_len, head_dim))  # (B, h, max_len, d_k)
        self._len = 0  # positions filled so far: the next append writes from here

    def append(self, k: np.ndarray, v: np.ndarray) -> None:
        """Add the keys and values of the next t positions, k and v (batch, num_heads, t, head_dim).

        Raises ValueError if the cache would hold more than max_len positions.
        """
        batch, num_heads, _, head_dim = self._k.shape
        for name, array in (("k", k), ("v", v)):
            if array.ndim != 4 or array.shape[:2] + array.shape[3:] != (batch, num_heads, head_dim):
                raise ValueError(
                    f"{name} must have shape (batch={batch}, num_heads={num_heads}, t, "
                    f"head_dim={head_dim}), got {array.shape}"
                )
        t = k.shape[2]
        if t < 1 or v.shape[2] != t:
            raise ValueError(
                f"k and v must hold the same t >= 1 positions, got {t} and {v.shape[2]}"
            )
        if self._len + t > self.max_len:
            raise ValueError(
                f"cannot append {t} positions: the cache holds {self._len} of "
                f"max_len={self.max_len}"
            )
        self._k[:, :, self._len : self._len + t] = k  # copies: the caller's array stays theirs
        self._v[:, :, self._len : self._len + t] = v
        self._len += t

    @property
    def keys(self) -> np.ndarray:
        """The cached keys, (batch, num_heads, len, head_dim), oldest first."""
        return self._k[:, :, : self._len]  # (B, h, len, d_k)

    @property
    def values(self) -> np.ndarray:
        """The cached values, (batch, num_heads, len, head_dim), oldest first."""
        return self._v[:, :, : self._len]  # (B, h, len, d_k)

    def __len__(self) -> int:
        """The number of cached positions."""
        return self._len


def attend_with_cache(
    x_new: np.ndarray,
    w_q: np.ndarray,
    w_k: np.ndarray,
    w_v: np.ndarray,
    w_o: np.ndarray,
    num_heads: int,
    cache: KVCache,
) -> np.ndarray:
    """Causal multi-head self-attention for the next t tokens, using and filling the cache.

    x_new (B, t, D): the next t tokens (a prompt of several tokens, then one at a time), at
    absolute positions len(cache) .. len(cache) + t - 1. w_q, w_k, w_v, w_o (D, D), no biases.
    1. Q = x_new @ w_q, K = x_new @ w_k, V = x_new @ w_v, each (B, t, D), split into heads
       (B, num_heads, t, d_k) with d_k = D // num_heads: head h takes columns h*d_k:(h+1)*d_k
       (reshape to (B, t, num_heads, d_k), then swap the t and head axes).
    2. Append K and V (split into heads, not x_new) to the cache.
    3. Each head attends over everything cached: scores = Q @ keys^T / sqrt(d_k), with the causal
       rule by absolute position: the token at position p attends to positions <= p, which
       includes the earlier tokens of the same call and itself, but not the later ones.
    4. Concatenate the heads in order back to (B, t, D) and multiply by w_o.
    Returns (B, t, D). Any chunking of a sequence gives the same rows as causal multi-head
    attention over the whole sequence.
    """
    _, t, d_model = x_new.shape
    if d_model % num_heads != 0:
        raise ValueError(f"D={d_model} is not divisible by num_heads={num_heads}")
    head_dim = d_model // num_heads
    q = _split_heads(x_new @ w_q, num_heads)  # (B, h, t, d_k)
    k = _split_heads(x_new @ w_k, num_heads)  # (B, h, t, d_k)
    v = _split_heads(x_new @ w_v, num_heads)  # (B, h, t, d_k)
    start = len(cache)  # absolute position of x_new[:, 0]
    cache.append(k, v)  # before attending: every token also attends to itself
    keys, values = cache.keys, cache.values  # (B, h, S, d_k), S = start + t
    scores = q @ keys.swapaxes(-1, -2) / np.sqrt(head_dim)  # (B, h, t, S)
    allowed = np.arange(keys.shape[2]) <= start + np.arange(t)[:, None]  # (t, S): j <= p
    weights = _softmax(np.where(allowed, scores, -np.inf))  # (B, h, t, S)
    return _merge_heads(weights @ values) @ w_o  # (B, t, D)


def _split_heads(x: np.ndarray, num_heads: int) -> np.ndarray:
    """(B, t, D) -> (B, h, t, d_k): head h gets columns h*d_k:(h+1)*d_k."""
    batch, t, d_model = x.shape
    return x.reshape(batch, t, num_heads, d_model // num_heads).transpose(0, 2, 1, 3)


def _merge_heads(x: np.ndarray) -> np.ndarray:
    """(B, h, t, d_k) -> (B, t, D): the heads side by side, in order."""
    batch, num_heads, t, head_dim = x.shape
    return x.transpose(0, 2, 1, 3).reshape(batch, t, num_heads * head_dim)


def _softmax(scores: np.ndarray) -> np.ndarray:
    """Softmax over the last axis, stable: subtract the row maximum first."""
    exp = np.exp(scores - scores.max(axis=-1, keepdims=True))
    return exp / exp.sum(axis=-1, keepdims=True)
