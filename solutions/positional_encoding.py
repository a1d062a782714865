"""Positional encodings: sinusoidal, learned, and rotary (RoPE).

Attention by itself does not know the order of the tokens. Implement three ways to tell it:
- `sinusoidal_encoding`: the fixed sin/cos table of the original transformer, added to the
  token embeddings.
- `add_learned_positions`: a trained table of position vectors (GPT-2), added to the token
  embeddings; it has one row per position up to `max_len` and cannot go further.
- `apply_rope`: rotary position embedding, applied to queries and keys; it rotates each pair of
  dimensions by an angle proportional to the position, so that q . k after the rotation depends
  only on the distance between the two positions.
Return new arrays (never modify an input in place). Where a docstring says "raises ValueError",
raise it with a message that says what was wrong.

References:
- Vaswani et al. (2017), "Attention Is All You Need", section 3.5 (sinusoidal encoding).
- Radford et al. (2019), "Language Models are Unsupervised Multitask Learners" (GPT-2, learned
  positions).
- Su et al. (2021), "RoFormer: Enhanced Transformer with Rotary Position Embedding",
  arXiv:2104.09864, section 3.4.2 (interleaved pairs).
"""

from __future__ import annotations

import numpy as np


def sinusoidal_encoding(seq_len: int, d_model: int, base: float = 10000.0) -> np.ndarray:
    """The sinusoidal position table, shape (seq_len, d_model).

    For position n = 0..seq_len-1 and pair index k = 0..d_model/2-1:
        PE[n, 2k]     = sin(n / base**(2k / d_model))
        PE[n, 2k + 1] = cos(n / base**(2k / d_model))
    Columns 2k and 2k+1 share one frequency; sin goes in the even column, cos in the odd one
    (interleaved, not [sin..., cos...] halves). Odd d_model raises ValueError.
    """
    if d_model % 2 != 0:
        raise ValueError(f"d_model must be even (sin/cos pairs), got d_model={d_model}")
    positions = np.arange(seq_len, dtype=np.float64)[:, None]  # (L, 1)
    exponents = np.arange(0, d_model, 2, dtype=np.float64) / d_model  # (D/2,) the 2k / d_model
    angles = positions / base**exponents  # (L, D/2)
    pe = np.stack([np.sin(angles), np.cos(angles)], axis=-1)  # (L, D/2, 2)
    return pe.reshape(seq_len, d_model)  # (L, D): sin, cos, sin, cos, ...


def add_learned_positions(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Add a learned position table to token embeddings.

    x (B, L, D): token embeddings. table (max_len, D): one learned vector per position.
    Returns x + table[:L], shape (B, L, D): row n of the table goes to position n.
    L > max_len raises ValueError (a learned table cannot extrapolate); L == max_len is fine.
    """
    seq_len, max_len = x.shape[-2], table.shape[0]
    if seq_len > max_len:
        raise ValueError(
            f"sequence length {seq_len} is longer than the position table "
            f"(max_len={max_len}): a learned table cannot extrapolate"
        )
    return x + table[:seq_len]  # (B, L, D) + (L, D)


def apply_rope(
    x: np.ndarray, positions: np.ndarray | None = None, base: float = 10000.0
) -> np.ndarray:
    """Rotary position embedding (RoPE) of queries or keys.

    x (..., L, D) with D even; any leading axes (batch, heads). positions: ints, shape (L,),
    the position of each of the L rows; default 0..L-1.
    Pairs are interleaved: (x[2i], x[2i+1]) for i = 0..D/2-1 is rotated by the angle
    p * base**(-2i / D), where p is the row's position:
        out[2i]     = x[2i] * cos - x[2i+1] * sin
        out[2i + 1] = x[2i] * sin + x[2i+1] * cos
    (The split-half layout of some libraries, pairs (i, i + D/2), is another convention and
    fails here.) Returns an array of the shape of x. Odd D raises ValueError.
    """
    seq_len, dim = x.shape[-2], x.shape[-1]
    if dim % 2 != 0:
        raise ValueError(f"the last axis of x must be even (pairs of dimensions), got D={dim}")
    if positions is None:
        positions = np.arange(seq_len)
    positions = np.asarray(positions, dtype=np.float64)  # (L,)
    if positions.shape != (seq_len,):
        raise ValueError(
            f"positions must have shape ({seq_len},), one per row of x, got {positions.shape}"
        )
    inv_freq = base ** (-np.arange(0, dim, 2, dtype=np.float64) / dim)  # (D/2,)
    angles = positions[:, None] * inv_freq  # (L, D/2)
    cos, sin = np.cos(angles), np.sin(angles)  # (L, D/2) each
    even, odd = x[..., 0::2], x[..., 1::2]  # (..., L, D/2) each
    out_even = even * cos - odd * sin  # (..., L, D/2)
    out_odd = even * sin + odd * cos  # (..., L, D/2)
    rotated = np.stack([out_even, out_odd], axis=-1)  # (..., L, D/2, 2)
    return rotated.reshape(x.shape)  # (..., L, D): interleaved again
