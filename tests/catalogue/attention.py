"""Known-wrong and correct-but-different versions of solutions/attention.py."""

from __future__ import annotations

from catalogue import Variant

SCORES = "scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)  # (..., L, S)"
MASKING = "scores = np.where(mask, scores, -np.inf)  # blocked positions: exp(-inf) = 0"
SOFTMAX_KEYS = "weights = softmax(scores, axis=-1)  # (..., L, S)"
SHIFT = "shifted = x - x.max(axis=axis, keepdims=True)  # largest entry along axis is 0"
NORMALISE = "return exp / exp.sum(axis=axis, keepdims=True)"
CAUSAL = "return np.tril(np.ones((seq_len, seq_len), dtype=bool))  # (L, L)"
SPLIT_Q = "q = q.reshape(batch, seq_len, num_heads, d_k).transpose(0, 2, 1, 3)  # (B, h, L, d_k)"
SPLIT_K = "k = k.reshape(batch, src_len, num_heads, d_k).transpose(0, 2, 1, 3)  # (B, h, S, d_k)"
SPLIT_V = "v = v.reshape(batch, src_len, num_heads, d_k).transpose(0, 2, 1, 3)  # (B, h, S, d_k)"
MERGE = "concat = heads.transpose(0, 2, 1, 3).reshape(batch, seq_len, width)"
PROJECT = "return concat @ w_o  # (B, L, D)"
ATTEND = "heads, _ = scaled_dot_product_attention(q, k, v, mask)  # (B, h, L, d_k)"
SELF = "    if context is None:\n        context = x  # self-attention"
CHECK = """    if width % num_heads != 0:
        raise ValueError(
            f"D = {width} is not divisible by num_heads = {num_heads}: "
            "every head needs d_k = D // num_heads columns"
        )
"""

WRONG = [
    Variant(
        "missing 1/sqrt(d_k) scale",
        passes=False,
        replace=((SCORES, "scores = q @ np.swapaxes(k, -1, -2)  # (..., L, S)"),),
        message="no 1/sqrt(d_k) scaling",
    ),
    Variant(
        "scale by 1/d_k",
        passes=False,
        replace=((SCORES, "scores = q @ np.swapaxes(k, -1, -2) / d_k  # (..., L, S)"),),
        message="1/d_k instead of 1/sqrt(d_k)",
    ),
    Variant(
        "MHA scaled by 1/sqrt(D) instead of 1/sqrt(d_k)",
        passes=False,
        replace=((ATTEND, "heads, _ = _attend_all_heads(q, k, v, mask, width)"),),
        code="""
        def _attend_all_heads(q, k, v, mask, width):
            scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(width)  # the model width, not d_k
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
            weights = softmax(scores, axis=-1)
            return weights @ v, weights
        """,
        message="1/sqrt(D) instead of 1/sqrt(d_k)",
    ),
    Variant(
        "softmax over the queries axis",
        passes=False,
        replace=((SOFTMAX_KEYS, "weights = softmax(scores, axis=-2)  # (..., L, S)"),),
        message="softmax over the wrong axis",
    ),
    Variant(
        "softmax ignores its axis argument",
        passes=False,
        replace=(
            (SHIFT, "shifted = x - x.max(axis=-1, keepdims=True)"),
            (NORMALISE, "return exp / exp.sum(axis=-1, keepdims=True)"),
        ),
        message="ignores its `axis` argument",
    ),
    Variant(
        "softmax sums over the whole array",
        passes=False,
        replace=((NORMALISE, "return exp / exp.sum()"),),
        message="the sum runs over the whole array",
    ),
    Variant(
        "unstable softmax (no max subtraction)",
        passes=False,
        replace=((SHIFT, "shifted = x"),),
        message="subtract the max",
    ),
    Variant(
        "softmax subtracts the max of the whole array",
        passes=False,
        replace=((SHIFT, "shifted = x - x.max()"),),
        message="not the max of the whole array",
    ),
    Variant(
        "softmax modifies its input in place",
        passes=False,
        code="""
        def softmax(x, axis=-1):
            x = np.asarray(x, dtype=np.float64)
            x -= x.max(axis=axis, keepdims=True)
            exp = np.exp(x)
            return exp / exp.sum(axis=axis, keepdims=True)
        """,
        message="in place",
    ),
    Variant(
        "causal_mask made on torch's meta device (a tensor with no data)",
        passes=False,
        code="""
        import torch


        def causal_mask(seq_len):
            return torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool, device="meta"))
        """,
        message="a torch tensor with no data, on the meta device",
    ),
    Variant(
        "causal_mask(1) with an extra axis, (1, 1, 1)",
        passes=False,
        replace=(
            (
                CAUSAL,
                "return np.tril(np.ones((seq_len, seq_len), dtype=bool))"
                ".reshape((1,) * (seq_len == 1) + (seq_len, seq_len))",
            ),
        ),
        message="an extra axis of length 1",
    ),
    Variant(
        "mask given a head axis inside multi_head_attention (annotated-transformer's (B, 1, S))",
        passes=False,
        replace=(
            (
                ATTEND,
                "mask = None if mask is None else mask[:, None]  # (B, 1, L, S)\n    " + ATTEND,
            ),
        ),
        message="annotated-transformer's (B, 1, S) convention",
    ),
    Variant(
        "causal_mask excludes the diagonal",
        passes=False,
        replace=((CAUSAL, "return np.tril(np.ones((seq_len, seq_len), dtype=bool), k=-1)"),),
        message="the diagonal is excluded",
    ),
    Variant(
        "causal_mask transposed (upper triangle)",
        passes=False,
        replace=((CAUSAL, "return np.triu(np.ones((seq_len, seq_len), dtype=bool))"),),
        message="the mask is transposed",
    ),
    Variant(
        "causal_mask of floats",
        passes=False,
        replace=((CAUSAL, "return np.tril(np.ones((seq_len, seq_len)))"),),
        message="should be a bool array",
    ),
    Variant(
        "inverted mask (True treated as blocked)",
        passes=False,
        replace=((MASKING, "scores = np.where(mask, -np.inf, scores)"),),
        message="inverted mask",
    ),
    Variant(
        "masked scores set to 0 instead of -inf",
        passes=False,
        replace=((MASKING, "scores = np.where(mask, scores, 0.0)"),),
        message="masked scores set to 0 instead of -inf",
    ),
    Variant(
        "mask applied after softmax without renormalising",
        passes=False,
        code="""
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
            weights = softmax(scores, axis=-1)
            if mask is not None:
                weights = weights * mask  # zeroed, but the row no longer sums to 1
            return weights @ v, weights
        """,
        message="mask applied after softmax without renormalising",
    ),
    Variant(
        "weights returned from before masking",
        passes=False,
        code="""
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])
            weights = softmax(scores, axis=-1)
            if mask is None:
                return weights @ v, weights
            masked = softmax(np.where(mask, scores, -np.inf), axis=-1)
            return masked @ v, weights
        """,
        message="the weights are returned from before masking",
    ),
    Variant(
        "sdpa returns (weights, output)",
        passes=False,
        replace=(
            ("    return output, weights\n", "    return weights, output\n"),
            (ATTEND, "_, heads = scaled_dot_product_attention(q, k, v, mask)"),
        ),
        message="returned in the wrong order",
    ),
    Variant(
        "k.T instead of swapping the last two axes",
        passes=False,
        replace=((SCORES, "scores = q @ k.T / np.sqrt(d_k)"),),
    ),
    Variant(
        "head split without transpose",
        passes=False,
        replace=(
            (SPLIT_Q, "q = q.reshape(batch, num_heads, seq_len, d_k)"),
            (SPLIT_K, "k = k.reshape(batch, num_heads, src_len, d_k)"),
            (SPLIT_V, "v = v.reshape(batch, num_heads, src_len, d_k)"),
        ),
        message="without transpose",
    ),
    Variant(
        "heads merged without transpose",
        passes=False,
        replace=((MERGE, "concat = heads.reshape(batch, seq_len, width)"),),
        message="heads merged without transpose",
    ),
    Variant(
        "forgotten output projection w_o",
        passes=False,
        replace=((PROJECT, "return concat  # (B, L, D)"),),
        message="forgotten output projection",
    ),
    Variant(
        "cross-attention ignores the context",
        passes=False,
        replace=((SELF, "    context = x  # self-attention"),),
        message="cross-attention ignoring the context",
    ),
    Variant(
        "mask not passed to the heads",
        passes=False,
        replace=((ATTEND, "heads, _ = scaled_dot_product_attention(q, k, v)"),),
        message="sees the future",
    ),
    Variant(
        "no divisibility check (numpy's reshape error instead)",
        passes=False,
        replace=((CHECK, ""),),
        message="numpy raised it, not a check of yours",
    ),
]

RIGHT = [
    Variant(
        "einsum",
        passes=True,
        code="""
        def scaled_dot_product_attention(q, k, v, mask=None):
            scores = np.einsum("...ld,...sd->...ls", q, k) / np.sqrt(q.shape[-1])
            if mask is not None:
                scores = np.where(mask, scores, -np.inf)
            weights = softmax(scores, axis=-1)
            return np.einsum("...ls,...sv->...lv", weights, v), weights


        def multi_head_attention(x, w_q, w_k, w_v, w_o, num_heads, mask=None, context=None):
            B, L, D = x.shape
            if D % num_heads:
                raise ValueError(f"D={D} is not divisible by num_heads={num_heads}")
            ctx = x if context is None else context
            d_k = D // num_heads
            split = lambda t: np.einsum("bthd->bhtd", t.reshape(B, t.shape[1], num_heads, d_k))
            q = split(np.einsum("bld,de->ble", x, w_q))
            k = split(np.einsum("bsd,de->bse", ctx, w_k))
            v = split(np.einsum("bsd,de->bse", ctx, w_v))
            heads, _ = scaled_dot_product_attention(q, k, v, mask)
            concat = np.einsum("bhld->blhd", heads).reshape(B, L, D)
            return np.einsum("bld,de->ble", concat, w_o)
        """,
    ),
    Variant(
        "loop over heads",
        passes=True,
        code="""
        def multi_head_attention(x, w_q, w_k, w_v, w_o, num_heads, mask=None, context=None):
            B, L, D = x.shape
            if D % num_heads != 0:
                raise ValueError("model width must be a multiple of num_heads")
            ctx = x if context is None else context
            S = ctx.shape[1]
            d_k = D // num_heads
            q, k, v = x @ w_q, ctx @ w_k, ctx @ w_v
            full = None if mask is None else np.broadcast_to(mask, (B, num_heads, L, S))
            outs = []
            for h in range(num_heads):
                cols = slice(h * d_k, (h + 1) * d_k)
                m = None if full is None else full[:, h]
                out, _ = scaled_dot_product_attention(q[..., cols], k[..., cols], v[..., cols], m)
                outs.append(out)
            return np.concatenate(outs, axis=-1) @ w_o
        """,
    ),
    Variant(
        "torch inside, returning tensors",
        passes=True,
        code="""
        import torch


        def softmax(x, axis=-1):
            return torch.softmax(torch.as_tensor(x), dim=axis)


        def causal_mask(seq_len):
            return torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool))


        def scaled_dot_product_attention(q, k, v, mask=None):
            q, k, v = (torch.as_tensor(t) for t in (q, k, v))
            scores = q @ k.transpose(-2, -1) / q.shape[-1] ** 0.5
            if mask is not None:
                scores = scores.masked_fill(~torch.as_tensor(mask), float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return weights @ v, weights


        def multi_head_attention(x, w_q, w_k, w_v, w_o, num_heads, mask=None, context=None):
            x = torch.as_tensor(x)
            ctx = x if context is None else torch.as_tensor(context)
            B, L, D = x.shape
            if D % num_heads:
                raise ValueError(f"{D} % {num_heads} != 0")
            heads = lambda t: t.view(B, t.shape[1], num_heads, D // num_heads).transpose(1, 2)
            q = heads(x @ torch.as_tensor(w_q))
            k = heads(ctx @ torch.as_tensor(w_k))
            v = heads(ctx @ torch.as_tensor(w_v))
            out, _ = scaled_dot_product_attention(q, k, v, mask)
            return out.transpose(1, 2).reshape(B, L, D) @ torch.as_tensor(w_o)
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        def softmax(x, axis=-1):
            x = np.asarray(x, dtype=np.float32)
            e = np.exp(x - x.max(axis=axis, keepdims=True))
            return e / e.sum(axis=axis, keepdims=True)


        def scaled_dot_product_attention(q, k, v, mask=None):
            q, k, v = (np.asarray(t, dtype=np.float32) for t in (q, k, v))
            scores = q @ np.swapaxes(k, -1, -2) / np.float32(np.sqrt(q.shape[-1]))
            if mask is not None:
                scores = np.where(mask, scores, np.float32(-np.inf))
            weights = softmax(scores, axis=-1)
            return weights @ v, weights


        _mha64 = multi_head_attention


        def multi_head_attention(x, w_q, w_k, w_v, w_o, num_heads, mask=None, context=None):
            f32 = lambda t: None if t is None else np.asarray(t, dtype=np.float32)
            args = (f32(x), f32(w_q), f32(w_k), f32(w_v), f32(w_o))
            return _mha64(*args, num_heads, mask=mask, context=f32(context))
        """,
    ),
    Variant(
        "masking with -1e9 instead of -inf",
        passes=True,
        replace=((MASKING, "scores = np.where(mask, scores, -1e9)"),),
    ),
    Variant(
        "additive mask",
        passes=True,
        replace=((MASKING, "scores = scores + np.where(mask, 0.0, -1e9)"),),
    ),
    Variant(
        "np.where softmax guarding fully masked rows",
        passes=True,
        code="""
        def softmax(x, axis=-1):
            m = np.max(x, axis=axis, keepdims=True)
            m = np.where(np.isfinite(m), m, 0.0)
            e = np.exp(x - m)
            total = np.sum(e, axis=axis, keepdims=True)
            return e / np.where(total == 0, 1.0, total)
        """,
    ),
    Variant(
        "softmax without keepdims, axes restored by hand",
        passes=True,
        code="""
        def softmax(x, axis=-1):
            m = np.expand_dims(np.max(x, axis=axis), axis)
            e = np.exp(np.subtract(x, m))
            return e / np.expand_dims(e.sum(axis=axis), axis)
        """,
    ),
    Variant(
        "softmax through logsumexp",
        passes=True,
        code="""
        def softmax(x, axis=-1):
            m = x.max(axis=axis, keepdims=True)
            lse = m + np.log(np.exp(x - m).sum(axis=axis, keepdims=True))
            return np.exp(x - lse)
        """,
    ),
    Variant(
        "scale q before the product, causal mask from aranges",
        passes=True,
        replace=(
            (SCORES, "scores = (q / np.sqrt(d_k)) @ np.swapaxes(k, -1, -2)"),
            (CAUSAL, "return np.arange(seq_len)[:, None] >= np.arange(seq_len)[None, :]"),
        ),
    ),
    Variant(
        "fused qkv projection for self-attention",
        passes=True,
        replace=(
            (
                "    q = x @ w_q  # (B, L, D)\n    k = context @ w_k  # (B, S, D)\n"
                "    v = context @ w_v  # (B, S, D)\n",
                "    q, k, v = _project(x, context, w_q, w_k, w_v)\n",
            ),
        ),
        code="""
        def _project(x, context, w_q, w_k, w_v):
            if context is x:
                qkv = x @ np.concatenate([w_q, w_k, w_v], axis=1)  # (B, L, 3D)
                return np.split(qkv, 3, axis=-1)
            return x @ w_q, context @ w_k, context @ w_v
        """,
    ),
]

VARIANTS: list[Variant] = WRONG + RIGHT
