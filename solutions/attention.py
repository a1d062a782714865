"""Attention: softmax, a causal mask, scaled dot-product attention and multi-head attention.

Implement four functions (numpy; computing with torch inside is fine too):
- `softmax(x, axis=-1)`: a numerically stable softmax along one axis.
- `causal_mask(seq_len)`: which positions may attend to which in a decoder.
- `scaled_dot_product_attention(q, k, v, mask=None)`: softmax(q k^T / sqrt(d_k)) v, and the weights.
- `multi_head_attention(x, w_q, w_k, w_v, w_o, num_heads, mask=None, context=None)`: project,
  split into heads, attend per head, concatenate, project again (self- or cross-attention).

Conventions, everywhere in this file:
- Inputs are float64 numpy arrays. Never modify an input in place (`x -= ...` is an error).
- A mask is a bool array and True means "may attend". A masked position gets weight exactly 0
  and the remaining weights of its row still sum to 1. Rows with every position masked are
  not graded.
- Shapes use B = batch, L = query positions, S = key/value positions, D = model width,
  h = num_heads, d_k = D // h = width of one head, and `...` = any leading (batch) axes.

References:
- Vaswani et al., "Attention Is All You Need" (2017), section 3.2, https://arxiv.org/abs/1706.03762
- A. Karpathy, nanoGPT `model.py`, class CausalSelfAttention, https://github.com/karpathy/nanoGPT
- PyTorch: `torch.nn.MultiheadAttention`, `torch.nn.functional.scaled_dot_product_attention`.
"""

from __future__ import annotations

import numpy as np


def softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """Softmax of `x` along `axis`: exp(x) / sum(exp(x)), same shape as `x`.

    Numerically stable: subtracting the max along `axis` first changes nothing mathematically
    and keeps np.exp from overflowing, so softmax([1000, 1001, 1002]) is finite and equals
    softmax([0, 1, 2]). Do not modify `x` in place.
    """
    x = np.asarray(x, dtype=np.float64)
    shifted = x - x.max(axis=axis, keepdims=True)  # largest entry along axis is 0
    exp = np.exp(shifted)
    return exp / exp.sum(axis=axis, keepdims=True)


def causal_mask(seq_len: int) -> np.ndarray:
    """The (seq_len, seq_len) bool mask of a decoder: True on and below the diagonal.

    mask[i, j] is True when position i may attend to position j, i.e. when j <= i.
    """
    return np.tril(np.ones((seq_len, seq_len), dtype=bool))  # (L, L)


def scaled_dot_product_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """softmax(q k^T / sqrt(d_k)) v. Returns (output, weights).

    q (..., L, d_k), k (..., S, d_k), v (..., S, d_v); the leading axes `...` broadcast.
    scores = q @ k^T / sqrt(d_k), shape (..., L, S); weights = softmax(scores) over the last
    axis (over the keys), so each row of weights sums to 1.
    mask: bool, broadcastable to (..., L, S); True = may attend. A masked position gets weight
    0 and the other weights of its row still sum to 1 (mask the scores BEFORE the softmax).
    Returns output (..., L, d_v) = weights @ v and weights (..., L, S).
    """
    d_k = q.shape[-1]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)  # (..., L, S)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)  # blocked positions: exp(-inf) = 0
    weights = softmax(scores, axis=-1)  # (..., L, S)
    output = weights @ v  # (..., L, d_v)
    return output, weights


def multi_head_attention(
    x: np.ndarray,
    w_q: np.ndarray,
    w_k: np.ndarray,
    w_v: np.ndarray,
    w_o: np.ndarray,
    num_heads: int,
    mask: np.ndarray | None = None,
    context: np.ndarray | None = None,
) -> np.ndarray:
    """Multi-head attention of x over context (self-attention when context is None).

    x (B, L, D); context (B, S, D) or None, and None means context = x.
    Q = x @ w_q, K = context @ w_k, V = context @ w_v, each w_* (D, D), no biases.
    Head h uses columns h*d_k:(h+1)*d_k of Q, K and V, with d_k = D // num_heads, and its
    scores are scaled by 1/sqrt(d_k) (not 1/sqrt(D)). The heads' outputs are concatenated in
    order, back to (B, L, D), then multiplied by w_o.
    mask: bool, broadcastable to (B, num_heads, L, S); True = may attend.
    Returns (B, L, D). If D is not divisible by num_heads, raises ValueError with a message
    saying so. Tip: scaled_dot_product_attention on (B, h, L, d_k) arrays attends every head.
    """
    batch, seq_len, width = x.shape
    if width % num_heads != 0:
        raise ValueError(
            f"D = {width} is not divisible by num_heads = {num_heads}: "
            "every head needs d_k = D // num_heads columns"
        )
    d_k = width // num_heads
    if context is None:
        context = x  # self-attention
    src_len = context.shape[1]
    q = x @ w_q  # (B, L, D)
    k = context @ w_k  # (B, S, D)
    v = context @ w_v  # (B, S, D)
    # split heads: (B, L, D) -> (B, L, h, d_k) -> (B, h, L, d_k)
    q = q.reshape(batch, seq_len, num_heads, d_k).transpose(0, 2, 1, 3)  # (B, h, L, d_k)
    k = k.reshape(batch, src_len, num_heads, d_k).transpose(0, 2, 1, 3)  # (B, h, S, d_k)
    v = v.reshape(batch, src_len, num_heads, d_k).transpose(0, 2, 1, 3)  # (B, h, S, d_k)
    heads, _ = scaled_dot_product_attention(q, k, v, mask)  # (B, h, L, d_k)
    # concatenate heads in order: (B, h, L, d_k) -> (B, L, h, d_k) -> (B, L, D)
    concat = heads.transpose(0, 2, 1, 3).reshape(batch, seq_len, width)
    return concat @ w_o  # (B, L, D)
