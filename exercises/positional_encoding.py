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
    # TODO(positional_encoding): build the (seq_len, d_model) table of sin and cos columns.
    raise NotImplementedError


def add_learned_positions(x: np.ndarray, table: np.ndarray) -> np.ndarray:
    """Add a learned position table to token embeddings.

    x (B, L, D): token embeddings. table (max_len, D): one learned vector per position.
    Returns x + table[:L], shape (B, L, D): row n of the table goes to position n.
    L > max_len raises ValueError (a learned table cannot extrapolate); L == max_len is fine.
    """
    # TODO(positional_encoding): check L against the table's length, then add its first L rows.
    raise NotImplementedError


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
    # TODO(positional_encoding): rotate each pair (x[2i], x[2i+1]) by p * base**(-2i / D).
    raise NotImplementedError
