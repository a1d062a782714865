"""Relative position biases: T5's learned buckets and ALiBi's linear penalty.

Sinusoidal and learned encodings add a position to each token; RoPE rotates queries and keys. A
third family leaves the tokens alone and adds a bias to the attention scores that depends only on
how far the key is from the query. T5 learns one bias per head for each of a few buckets of
distance (exact for near offsets, logarithmic for far ones, one bucket for everything beyond
max_distance); ALiBi learns nothing and subtracts a fixed slope per head times the distance, which
lets a model read sequences longer than it was trained on. Implement:
- `t5_bucket`: T5's bucket of a relative position.
- `t5_bias`: the (H, L, S) bias a table of learned per-bucket values gives.
- `alibi_slopes` and `alibi_bias`: ALiBi's per-head slopes and its (H, L, L) bias.
- `attention_with_bias`: attention with an additive bias and an optional causal mask.

Conventions (this kit's, everywhere below):
- The relative position of key j seen from query i is j - i (key minus query): negative for keys
  in the past, positive for keys in the future. Positions count from 0.
- Biases are (H, L, S): head, query, key. They are added to q @ k^T / sqrt(d) before the softmax.
- Integer results (buckets) have an integer type.

References:
- Raffel et al. (2020), "Exploring the Limits of Transfer Learning with a Unified Text-to-Text
  Transformer" (T5), arXiv:1910.10683, section 2.1; Hugging Face transformers,
  `T5Attention._relative_position_bucket` (the definition t5_bucket follows exactly).
- Press et al. (2022), "Train Short, Test Long: Attention with Linear Biases Enables Input Length
  Extrapolation" (ALiBi), arXiv:2108.12409; the authors' `get_slopes` in
  github.com/ofirpress/attention_with_linear_biases.
"""

from __future__ import annotations

import numpy as np


def t5_bucket(
    relative_position: np.ndarray,
    bidirectional: bool = True,
    num_buckets: int = 32,
    max_distance: int = 128,
) -> np.ndarray:
    """T5's bucket of each relative position (key position - query position).

    relative_position: an int array of any shape. Returns an int array of the same shape.
    If bidirectional: half the buckets per side, buckets = num_buckets // 2; a positive offset
    (a future key) adds `buckets` to its bucket, and n = |relative_position|. Else (causal)
    buckets = num_buckets and n = max(-relative_position, 0): future keys share bucket 0.
    With max_exact = buckets // 2: n < max_exact is its own bucket n; larger n go to
    max_exact + int(log(n / max_exact) / log(max_distance / max_exact) * (buckets - max_exact)),
    natural logs, int() truncating toward 0, and capped at buckets - 1 (every n from about
    max_distance on shares the last bucket).
    Examples (defaults 32, 128, bidirectional): -1 -> 1, 1 -> 17, -8 -> 8, -200 -> 15.
    """
    # TODO(position_bias): halve the buckets if bidirectional (future keys in the upper
    # half), take n, then n itself below max_exact and the capped logarithmic bucket above it.
    raise NotImplementedError


def t5_bias(
    query_len: int,
    key_len: int,
    table: np.ndarray,
    bidirectional: bool = True,
    max_distance: int = 128,
) -> np.ndarray:
    """T5's relative position bias: bias[h, i, j] = table[t5_bucket(j - i, ...), h].

    query_len L, key_len S: query i and key j both count from 0. table: (num_buckets, H), a
    learned value per bucket and head; num_buckets = table.shape[0] is passed to t5_bucket with
    bidirectional and max_distance. Returns (H, L, S).
    """
    # TODO(position_bias): the offsets j - i as an (L, S) int array, their buckets, then
    # look each up in the table and move the head axis first.
    raise NotImplementedError


def alibi_slopes(num_heads: int) -> np.ndarray:
    """ALiBi's slope of each head, as the authors' get_slopes: (H,) floats.

    For H a power of 2: slope h (h = 0, 1, ..., H - 1) is 2 ** (-8 * (h + 1) / H), a geometric
    sequence from 2 ** (-8 / H) down to 2 ** -8.
    Otherwise, with n the largest power of 2 below H: the n slopes for n heads, followed by the
    first H - n of the slopes at EVEN positions (0, 2, 4, ...) of the list for 2n heads.
    Example: H = 6 gives the 4 slopes of 4 heads, 2**-2, 2**-4, 2**-6, 2**-8, then 2**-1 and
    2**-3 (positions 0 and 2 of the 8-head list).
    num_heads < 1 raises ValueError naming num_heads and its value.
    """
    # TODO(position_bias): check num_heads; the power-of-2 formula, plus every other slope
    # of the list for twice the largest power of 2 below H when H is not one.
    raise NotImplementedError


def alibi_bias(seq_len: int, num_heads: int) -> np.ndarray:
    """ALiBi's bias: bias[h, i, j] = slopes[h] * (j - i), shape (H, L, L) with L = seq_len.

    Negative for past keys (j < i), growing with the distance; the causal mask is applied
    separately (entries j > i are positive here). Not slopes[h] * j (the fairseq and Bloom form,
    which gives the same attention after the softmax but another bias).
    num_heads < 1 raises ValueError, as alibi_slopes.
    """
    # TODO(position_bias): slopes[h] * (j - i) for every head, query i and key j.
    raise NotImplementedError


def attention_with_bias(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, bias: np.ndarray, causal: bool = False
) -> np.ndarray:
    """softmax(q @ k^T / sqrt(d) + bias) @ v per head, with an optional causal mask.

    q: (H, L, d), k: (H, S, d), v: (H, S, d_v); bias: broadcastable to (H, L, S) (e.g. t5_bias
    or alibi_bias, or (L, S) shared by every head). The scale 1/sqrt(d), d = q.shape[-1], is
    applied to q @ k^T BEFORE the bias is added (T5 folds it into its initialisation; here it is
    explicit). causal=True: query i sees keys j <= i only; it needs L == S, else ValueError naming
    both lengths (e.g. "L=3, S=4"). Returns (H, L, d_v).
    """
    # TODO(position_bias): check the lengths when causal; scale q @ k^T by 1/sqrt(d), add the bias,
    # mask the future when causal, softmax over the keys, @ v.
    raise NotImplementedError
