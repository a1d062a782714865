"""Attention before transformers: Bahdanau's additive and Luong's multiplicative scores.

An encoder-decoder RNN translated a sentence by squeezing it into one vector until Bahdanau, Cho and
Bengio let each decoder step look back at every encoder state: score each state against the
decoder's query, turn the scores into weights with a softmax, and average the states with them.
Luong, Pham and Manning then replaced the small scoring network by a dot product. Implement, for one
decoder step of a batch:
- `additive_attention`: scores v . tanh(query @ w_q + key @ w_k), Bahdanau's.
- `luong_attention`: scores query . key ("dot") or query @ w @ key ("general"), Luong's.

Conventions (this kit's, everywhere below):
- Batch first: query (B, Dq) is one decoder state per example; keys (B, S, Dk) and values (B, S, Dv)
  are the S encoder states per example (in the papers keys and values are the same states).
- Weights act on the right of row vectors, x @ w.
- No 1/sqrt(d) scaling anywhere (that came later, with the transformer's scaled dot product).
- mask (B, S) bool, True = may attend (as scaled dot-product attention's boolean mask; the opposite
  of nn.MultiheadAttention's key_padding_mask, where True means ignore). A masked position gets
  weight 0 and the other weights of its row still sum to 1. Rows with every position masked are
  not graded.
- The softmax is stable: scores of +-1000 give finite weights (subtract each row's max first).

References:
- Bahdanau, Cho and Bengio (2015), "Neural Machine Translation by Jointly Learning to Align and
  Translate", arXiv:1409.0473, appendix A.1.2 (e = v^T tanh(W s + U h)).
- Luong, Pham and Manning (2015), "Effective Approaches to Attention-based Neural Machine
  Translation", arXiv:1508.04025, section 3.1 (the dot, general and concat scores).
"""

from __future__ import annotations

import numpy as np


def additive_attention(
    query: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    w_q: np.ndarray,
    w_k: np.ndarray,
    v: np.ndarray,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Bahdanau (additive) attention for one decoder step: returns (context, weights).

    query: (B, Dq), keys: (B, S, Dk), values: (B, S, Dv), w_q: (Dq, A), w_k: (Dk, A), v: (A,).
    scores[b, s] = v . tanh(query[b] @ w_q + keys[b, s] @ w_k), shape (B, S), not scaled.
    weights = softmax of the scores over s (the keys of one example, not the batch), stable for
    scores of +-1000. mask: None or (B, S) bool, True = may attend: fill the masked scores with -inf
    (or a very negative number) BEFORE the softmax, so masked weights are 0 and each row still sums
    to 1. context[b] = sum over s of weights[b, s] * values[b, s], shape (B, Dv).
    Returns context (B, Dv) and weights (B, S). Does not modify its inputs.
    """
    # TODO(additive_attention): project the query (B, A) and the keys (B, S, A),
    # add them (the query broadcast over S), tanh, dot with v: scores (B, S);
    # mask with -inf, a stable softmax over s, then the weighted sum of values.
    raise NotImplementedError


def luong_attention(
    query: np.ndarray,
    keys: np.ndarray,
    values: np.ndarray,
    score: str = "dot",
    w: np.ndarray | None = None,
    mask: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Luong (multiplicative) attention for one decoder step: returns (context, weights).

    query: (B, Dq), keys: (B, S, Dk), values: (B, S, Dv); mask, weights and context as in
    additive_attention (True = may attend, stable softmax over s, context (B, Dv), weights (B, S)).
    score="dot": scores[b, s] = query[b] . keys[b, s]; needs Dq == Dk (else ValueError naming both,
    e.g. "Dq=7, Dk=11"); w is ignored.
    score="general": scores[b, s] = query[b] @ w @ keys[b, s] with w (Dq, Dk), in that orientation;
    w None or of another shape raises ValueError naming the shape expected and the one given.
    No 1/sqrt(d) scaling. Any other score raises ValueError naming it.
    """
    # TODO(additive_attention): check score (and Dq, Dk, w) first; scores are
    # query . key or (query @ w) . key, (B, S); then the same masked, stable
    # softmax and weighted sum as additive_attention.
    raise NotImplementedError
