"""Likely-mistake lines of the attention family: the graders of attention, grouped_attention
and transformer_block name these mistakes the same way."""

SCALE_BY_D_K = "scores scaled by 1/d_k instead of 1/sqrt(d_k): take the square root"
SCALE_BY_D = (
    "scores scaled by 1/sqrt(D) instead of 1/sqrt(d_k): each head is scaled by its own width "
    "d_k = D // num_heads"
)
AXIS_QUERIES = (
    "softmax over the wrong axis (-2, the queries): normalise over the keys, the last axis"
)
AXIS_HEADS = "softmax over the wrong axis (1, the heads): normalise over the keys, the last axis"
INVERTED = "inverted mask (True treated as blocked): True means 'may attend'"
AFTER_SOFTMAX = (
    "mask applied after softmax without renormalising: set the masked scores to -inf "
    "before the softmax, so the remaining weights still sum to 1"
)
FILL_ZERO = (
    "masked scores set to 0 instead of -inf: exp(0) still gives them weight; use -np.inf "
    "(or a large negative number such as -1e9)"
)
MERGE_NO_TRANSPOSE = (
    "heads merged without transpose: transpose (B, h, L, d_k) to (B, L, h, d_k) before "
    "reshaping to (B, L, D)"
)
NO_W_O = "forgotten output projection w_o: multiply the concatenated heads by w_o"
