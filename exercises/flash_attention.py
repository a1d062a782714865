"""FlashAttention's forward pass in numpy: attention without the (L, S) score matrix.

Plain attention builds every score q_i . k_j / sqrt(d) at once, an (L, S) matrix: 32 MiB of
float64 for L = S = 2048, and a softmax holds several such temporaries. FlashAttention reads the
keys in blocks and keeps, for every query row, only three running quantities:
    m    the largest scaled score seen so far                          (..., L)
    l    the sum of exp(score - m) over the keys seen so far            (..., L)
    acc  the sum of exp(score - m) * v_j over the keys seen so far      (..., L, d_v)
When a new block raises the max from m to m_new, everything summed so far was taken relative to
the old max, so it is multiplied by exp(m - m_new) before the block's own terms are added (the
"online softmax"). After the last block, output = acc / l and logsumexp = m + log(l).

Implement two functions (numpy; computing with torch inside is fine too):
- `merge_softmax_stats(m1, l1, m2, l2)`: combine the statistics (max, sum of exponentials) of two
  disjoint sets of scores into those of their union. This is the heart of the algorithm.
- `flash_attention(q, k, v, block_size=64, causal=False)`: attention over blocks of block_size
  keys with a running max and sum; returns (output, logsumexp).

Conventions, everywhere in this file:
- Inputs are float64 numpy arrays. Never modify an input in place.
- Shapes: L = query positions, S = key/value positions, d = width of q and k, d_v = width of v,
  `...` = any leading (batch, head) axes, broadcast against each other as numpy's matmul does.
- Scores are scaled by 1/sqrt(d), d = q.shape[-1]. logsumexp uses the natural log.

References:
- Dao, Fu, Ermon, Rudra, Re, "FlashAttention: Fast and Memory-Efficient Exact Attention with
  IO-Awareness" (2022), Algorithm 1, https://arxiv.org/abs/2205.14135
- Dao, "FlashAttention-2" (2023), Algorithm 1 (the unnormalised accumulator used here),
  https://arxiv.org/abs/2307.08691
- Milakov, Gimelshein, "Online normalizer calculation for softmax" (2018),
  https://arxiv.org/abs/1805.02867
- PyTorch: `torch.nn.functional.scaled_dot_product_attention`, `torch.logsumexp`.
"""

from __future__ import annotations

import numpy as np


def merge_softmax_stats(
    m1: np.ndarray, l1: np.ndarray, m2: np.ndarray, l2: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Merge the softmax statistics of two disjoint sets of scores: returns (m, l).

    (m1, l1) describe a set of scores s: m1 = max(s), l1 = sum(exp(s - m1)); (m2, l2) another
    set. All four are arrays of the same shape (one pair per row). The union has
        m = max(m1, m2)                                    (elementwise)
        l = l1 * exp(m1 - m) + l2 * exp(m2 - m)
    Each sum is rescaled from its own max to the common one; neither exp can overflow, since
    m1 - m <= 0 and m2 - m <= 0. An empty set is m = -inf, l = 0: merging it changes nothing.
    (Both sets empty, m1 = m2 = -inf, is not graded.) Returns two arrays of the input's shape.
    """
    # TODO(flash_attention): m = the elementwise max; rescale each sum to it; return (m, l).
    raise NotImplementedError


def flash_attention(
    q: np.ndarray, k: np.ndarray, v: np.ndarray, block_size: int = 64, causal: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Attention computed over blocks of keys with an online softmax: returns (output, lse).

    q (..., L, d), k (..., S, d), v (..., S, d_v); leading axes broadcast.
    The result equals scaled_dot_product_attention's output, softmax(q @ k^T / sqrt(d)) @ v,
    shape (..., L, d_v), and logsumexp (..., L) is, per query row, the natural log of the sum
    over keys of exp(scaled score), after masking (torch.logsumexp of the masked scores).
    Keys are read in blocks k[..., j:j + block_size, :] (the last block may be shorter); for each
    block, per query row: update the running max m, rescale the running sum l and the output
    accumulator by exp(m_old - m_new), add the block's exp(scores - m_new) and its
    exp(scores - m_new) @ v_block. Divide by l once, at the end. Start m at -inf, not 0.
    Memory: never hold a full (L, S) score matrix. For q, k, v (2048, 64) and block_size 128,
    the call's peak memory above its start must stay under 16 MiB (a full float64 score matrix
    alone is 32 MiB). How you group the queries is free.
    causal=True: query i attends to keys j <= i (mind the block's offset: key j of the block
    starting at `start` is position start + j); it needs L == S.
    Raises ValueError (saying which value is wrong) if block_size < 1, or if causal and L != S.
    """
    # TODO(flash_attention): loop over key blocks with a running max, sum and accumulator;
    # divide once at the end; return (output, m + log(l)).
    raise NotImplementedError
