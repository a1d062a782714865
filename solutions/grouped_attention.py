"""Grouped-query and multi-head latent attention: two ways to shrink the KV cache.

Implement three functions (numpy; computing with torch inside is fine too):
- `grouped_query_attention(x, w_q, w_k, w_v, w_o, num_heads, num_kv_heads, mask=None)`:
  multi-head self-attention in which groups of consecutive query heads share one key/value head.
- `latent_attention(x, w_q, w_dkv, w_uk, w_uv, w_o, num_heads, mask=None)`: multi-head
  self-attention whose keys and values are both rebuilt from one small latent per position.
- `absorbed_scores(x, w_q, w_dkv, w_uk, num_heads)`: latent attention's scaled scores computed
  from the latent alone, with w_uk folded ("absorbed") into the query.

Conventions, everywhere in this file:
- Inputs are float64 numpy arrays; weights are in the `x @ W` layout (W = nn.Linear.weight.T),
  no biases. Never modify an input in place.
- Shapes: B = batch, L = positions (self-attention: keys and values come from x too), D = model
  width, h = num_heads query heads, d_k = D // h = the width of EVERY head (query, key and
  value), g = num_kv_heads key/value heads, d_c = the latent width (free, often < D).
- Head h uses columns h*d_k:(h+1)*d_k of Q (and of K and V in latent attention); key/value head
  j uses columns j*d_k:(j+1)*d_k of K = x @ w_k and V = x @ w_v.
- Every head's scores are scaled by 1/sqrt(d_k), not 1/sqrt(D) (nor by the latent width d_c).
- A mask is a bool array broadcastable to (B, h, L, L) (one entry per QUERY head); True means
  "may attend". A masked position gets weight exactly 0 and the rest of its row still sums to
  1. Rows with every position masked are not graded.
- The heads' outputs are concatenated in order, head 0 first, back to (B, L, D), then @ w_o.
- A bad head count raises ValueError with a message naming the offending values.

References:
- Ainslie et al., "GQA: Training Generalized Multi-Query Transformer Models from Multi-Head
  Checkpoints" (2023), https://arxiv.org/abs/2305.13245
- Shazeer, "Fast Transformer Decoding: One Write-Head is All You Need" (2019), multi-query
  attention, https://arxiv.org/abs/1911.02150
- DeepSeek-AI, "DeepSeek-V2" (2024), section 2.1, multi-head latent attention,
  https://arxiv.org/abs/2405.04434
- Hugging Face transformers, `modeling_llama.py`, `repeat_kv`; PyTorch:
  `torch.nn.functional.scaled_dot_product_attention(..., enable_gqa=True)`.
"""

from __future__ import annotations

import numpy as np


def _head_width(width: int, num_heads: int) -> int:
    """d_k = D // num_heads, or ValueError when the heads do not split D evenly."""
    if num_heads < 1 or width % num_heads != 0:
        raise ValueError(
            f"D = {width} is not divisible by num_heads = {num_heads}: "
            "every head needs d_k = D // num_heads columns"
        )
    return width // num_heads


def _split(t: np.ndarray, heads: int, d_k: int) -> np.ndarray:
    """(B, L, heads * d_k) -> (B, heads, L, d_k): head j takes columns j*d_k:(j+1)*d_k."""
    batch, seq_len, _ = t.shape
    return t.reshape(batch, seq_len, heads, d_k).transpose(0, 2, 1, 3)


def _attend(q: np.ndarray, k: np.ndarray, v: np.ndarray, mask: np.ndarray | None) -> np.ndarray:
    """softmax(q k^T / sqrt(d_k)) v over the last axis, with True = may attend."""
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (B, h, L, L)
    if mask is not None:
        scores = np.where(mask, scores, -np.inf)  # blocked positions: exp(-inf) = 0
    scores = scores - scores.max(axis=-1, keepdims=True)  # stable softmax
    weights = np.exp(scores)
    weights = weights / weights.sum(axis=-1, keepdims=True)  # (B, h, L, L)
    return weights @ v  # (B, h, L, d_k)


def _merge(heads: np.ndarray, w_o: np.ndarray) -> np.ndarray:
    """(B, h, L, d_k) -> (B, L, h * d_k), heads in order, then @ w_o."""
    batch, num_heads, seq_len, d_k = heads.shape
    concat = heads.transpose(0, 2, 1, 3).reshape(batch, seq_len, num_heads * d_k)
    return concat @ w_o  # (B, L, D)


def grouped_query_attention(
    x: np.ndarray,
    w_q: np.ndarray,
    w_k: np.ndarray,
    w_v: np.ndarray,
    w_o: np.ndarray,
    num_heads: int,
    num_kv_heads: int,
    mask: np.ndarray | None = None,
) -> np.ndarray:
    """Grouped-query self-attention: consecutive query heads share a key/value head.

    x (B, L, D); w_q and w_o (D, D); w_k and w_v (D, num_kv_heads * d_k), d_k = D // num_heads.
    Q = x @ w_q is split into num_heads heads, K = x @ w_k and V = x @ w_v into num_kv_heads
    heads, each d_k wide. With group = num_heads // num_kv_heads, query head h uses key/value
    head h // group: heads 0..group-1 share kv head 0, the next group share kv head 1, and so on
    (Llama's repeat_kv, torch.repeat_interleave; NOT h % num_kv_heads, which tiling gives).
    Each head: softmax(q_h k^T / sqrt(d_k)) v over the keys; heads concatenated in order, @ w_o.
    num_kv_heads == num_heads is ordinary multi-head attention; num_kv_heads == 1 is
    multi-query attention (one key/value head for all).
    mask: bool, broadcastable to (B, num_heads, L, L) (query heads); True = may attend.
    Returns (B, L, D). Raises ValueError, naming the values, when D % num_heads != 0, when
    num_kv_heads < 1, or when num_heads % num_kv_heads != 0.
    """
    width = x.shape[-1]
    d_k = _head_width(width, num_heads)
    if num_kv_heads < 1:
        raise ValueError(f"num_kv_heads must be at least 1, got num_kv_heads = {num_kv_heads}")
    if num_heads % num_kv_heads != 0:
        raise ValueError(
            f"num_heads = {num_heads} is not divisible by num_kv_heads = {num_kv_heads}: "
            "every key/value head must serve the same number of query heads"
        )
    group = num_heads // num_kv_heads
    q = _split(x @ w_q, num_heads, d_k)  # (B, h, L, d_k)
    k = _split(x @ w_k, num_kv_heads, d_k)  # (B, g, L, d_k)
    v = _split(x @ w_v, num_kv_heads, d_k)  # (B, g, L, d_k)
    k = np.repeat(k, group, axis=1)  # (B, h, L, d_k): query head h gets kv head h // group
    v = np.repeat(v, group, axis=1)  # (B, h, L, d_k)
    return _merge(_attend(q, k, v, mask), w_o)  # (B, L, D)


def latent_attention(
    x: np.ndarray,
    w_q: np.ndarray,
    w_dkv: np.ndarray,
    w_uk: np.ndarray,
    w_uv: np.ndarray,
    w_o: np.ndarray,
    num_heads: int,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Multi-head latent attention (without its RoPE part). Returns (output, latent).

    x (B, L, D); w_q and w_o (D, D); w_dkv (D, d_c); w_uk and w_uv (d_c, D); d_c is free.
    latent = x @ w_dkv, (B, L, d_c): the one small vector per position a KV cache would store.
    K = latent @ w_uk and V = latent @ w_uv (both (B, L, D)), Q = x @ w_q; then exactly
    multi-head attention: head h uses columns h*d_k:(h+1)*d_k of Q, K and V, d_k = D // num_heads,
    scores scaled by 1/sqrt(d_k) (not 1/sqrt(d_c)), mask, softmax over the keys, heads
    concatenated in order, @ w_o.
    mask: bool, broadcastable to (B, num_heads, L, L); True = may attend.
    Unlike DeepSeek-V2: no query compression, no decoupled RoPE keys, head size D // num_heads.
    Returns output (B, L, D) and latent (B, L, d_c). D % num_heads != 0 raises ValueError.
    """
    width = x.shape[-1]
    d_k = _head_width(width, num_heads)
    latent = x @ w_dkv  # (B, L, d_c): what the cache keeps
    q = _split(x @ w_q, num_heads, d_k)  # (B, h, L, d_k)
    k = _split(latent @ w_uk, num_heads, d_k)  # (B, h, L, d_k)
    v = _split(latent @ w_uv, num_heads, d_k)  # (B, h, L, d_k)
    return _merge(_attend(q, k, v, mask), w_o), latent


def absorbed_scores(
    x: np.ndarray, w_q: np.ndarray, w_dkv: np.ndarray, w_uk: np.ndarray, num_heads: int
) -> np.ndarray:
    """latent_attention's scaled scores from the latent, with w_uk absorbed into the query.

    x (B, L, D); w_q (D, D); w_dkv (D, d_c); w_uk (d_c, D); d_k = D // num_heads.
    latent = x @ w_dkv (B, L, d_c), q_h = columns h*d_k:(h+1)*d_k of x @ w_q (B, L, d_k), and
    w_uk_h = w_uk[:, h*d_k:(h+1)*d_k] (d_c, d_k). Head h's scores are
        (q_h @ w_uk_h^T) @ latent^T / sqrt(d_k),    (B, L, L), queries the rows,
    which equals q_h @ k_h^T / sqrt(d_k) with k_h = latent @ w_uk_h: the keys are never built.
    These are the scores before any mask or softmax.
    Returns (B, num_heads, L, L). D % num_heads != 0 raises ValueError.
    """
    width = x.shape[-1]
    d_k = _head_width(width, num_heads)
    d_c = w_uk.shape[0]
    latent = x @ w_dkv  # (B, L, d_c)
    q = _split(x @ w_q, num_heads, d_k)  # (B, h, L, d_k)
    w_uk_heads = w_uk.reshape(d_c, num_heads, d_k).transpose(1, 0, 2)  # (h, d_c, d_k)
    q_latent = q @ np.swapaxes(w_uk_heads, -1, -2)  # (B, h, L, d_c): q_h @ w_uk_h^T
    scores = q_latent @ np.swapaxes(latent, -1, -2)[:, None]  # (B, h, L, L)
    return scores / np.sqrt(d_k)
