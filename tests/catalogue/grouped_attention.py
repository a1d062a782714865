"""Known-wrong and correct-but-different versions of solutions/grouped_attention.py."""

from __future__ import annotations

from catalogue import Variant

SCORES = "scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (B, h, L, L)"
MASKING = "scores = np.where(mask, scores, -np.inf)  # blocked positions: exp(-inf) = 0"
SHIFT = "scores = scores - scores.max(axis=-1, keepdims=True)  # stable softmax"
NORMALISE = "weights = weights / weights.sum(axis=-1, keepdims=True)  # (B, h, L, L)"
SPLIT = "return t.reshape(batch, seq_len, heads, d_k).transpose(0, 2, 1, 3)"
MERGE = "concat = heads.transpose(0, 2, 1, 3).reshape(batch, seq_len, num_heads * d_k)"
PROJECT = "return concat @ w_o  # (B, L, D)"
GQA_K = "k = _split(x @ w_k, num_kv_heads, d_k)  # (B, g, L, d_k)"
GQA_V = "v = _split(x @ w_v, num_kv_heads, d_k)  # (B, g, L, d_k)"
REPEAT_K = "k = np.repeat(k, group, axis=1)  # (B, h, L, d_k): query head h gets kv head h // group"
REPEAT_V = "v = np.repeat(v, group, axis=1)  # (B, h, L, d_k)"
GQA_RETURN = "return _merge(_attend(q, k, v, mask), w_o)  # (B, L, D)"
KV_CHECK = """    if num_kv_heads < 1:
        raise ValueError(f"num_kv_heads must be at least 1, got num_kv_heads = {num_kv_heads}")
"""
GROUP_CHECK = """    if num_heads % num_kv_heads != 0:
        raise ValueError(
            f"num_heads = {num_heads} is not divisible by num_kv_heads = {num_kv_heads}: "
            "every key/value head must serve the same number of query heads"
        )
"""
MLA_RETURN = "return _merge(_attend(q, k, v, mask), w_o), latent"
UK_HEADS = "w_uk_heads = w_uk.reshape(d_c, num_heads, d_k).transpose(1, 0, 2)  # (h, d_c, d_k)"
ABSORBED = "scores = q_latent @ np.swapaxes(latent, -1, -2)[:, None]  # (B, h, L, L)"
ABSORBED_RETURN = "return scores / np.sqrt(d_k)"

WRONG = [
    Variant(
        "kv heads tiled (query head h -> kv head h % num_kv_heads)",
        passes=False,
        replace=(
            (REPEAT_K, "k = np.tile(k, (1, group, 1, 1))"),
            (REPEAT_V, "v = np.tile(v, (1, group, 1, 1))"),
        ),
        message="kv head h % num_kv_heads (tiling",
    ),
    Variant(
        "torch Tensor.repeat instead of repeat_interleave",
        passes=False,
        replace=(
            (REPEAT_K, "k = torch.from_numpy(k).repeat(1, group, 1, 1).numpy()"),
            (REPEAT_V, "v = torch.from_numpy(v).repeat(1, group, 1, 1).numpy()"),
        ),
        code="""
        import torch
        """,
        message="torch's Tensor.repeat or np.tile",
    ),
    Variant(
        "kv projection repeated column by column",
        passes=False,
        replace=(
            (GQA_K, "k = _split(np.repeat(x @ w_k, group, axis=-1), num_heads, d_k)"),
            (GQA_V, "v = _split(np.repeat(x @ w_v, group, axis=-1), num_heads, d_k)"),
            (REPEAT_K, "pass"),
            (REPEAT_V, "pass"),
        ),
        message="kv repeated column by column",
    ),
    Variant(
        "no 1/sqrt(d_k) scale",
        passes=False,
        replace=((SCORES, "scores = q @ np.swapaxes(k, -1, -2)"),),
        message="no 1/sqrt(d_k) scaling",
    ),
    Variant(
        "scaled by 1/sqrt(D) instead of 1/sqrt(d_k)",
        passes=False,
        replace=(
            (SCORES, "scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1] * q.shape[1])"),
        ),
        message="1/sqrt(D) instead of 1/sqrt(d_k)",
    ),
    Variant(
        "GQA scaled by the width of K, 1/sqrt(num_kv_heads * d_k)",
        passes=False,
        replace=(
            (GQA_RETURN, "return _merge(_attend(q / np.sqrt(num_kv_heads), k, v, mask), w_o)"),
        ),
        message="1/sqrt(num_kv_heads * d_k), the width of K",
    ),
    Variant(
        "latent attention scaled by the latent width d_c",
        passes=False,
        replace=(
            (
                MLA_RETURN,
                "return _merge(_attend(q * np.sqrt(d_k / latent.shape[-1]), k, v, mask), w_o), "
                "latent",
            ),
        ),
        message="1/sqrt(d_c), the latent width",
    ),
    Variant(
        "no check that num_kv_heads divides num_heads",
        passes=False,
        replace=((GROUP_CHECK, ""),),
        message="no check of num_heads % num_kv_heads",
    ),
    Variant(
        "no check of num_kv_heads < 1",
        passes=False,
        replace=((KV_CHECK, ""),),
        message="check num_kv_heads < 1 first",
    ),
    Variant(
        "divisibility error without the values",
        passes=False,
        replace=(
            (
                GROUP_CHECK,
                "    if num_heads % num_kv_heads != 0:\n"
                '        raise ValueError("bad head count")\n',
            ),
        ),
        message="does not name num_heads = 4 and num_kv_heads = 3",
    ),
    Variant(
        "inverted mask",
        passes=False,
        replace=((MASKING, "scores = np.where(mask, -np.inf, scores)"),),
        message="inverted mask",
    ),
    Variant(
        "masked scores set to 0",
        passes=False,
        replace=((MASKING, "scores = np.where(mask, scores, 0.0)"),),
        message="masked scores set to 0 instead of -inf",
    ),
    Variant(
        "softmax over the queries",
        passes=False,
        replace=(
            (SHIFT, "scores = scores - scores.max(axis=-2, keepdims=True)"),
            (NORMALISE, "weights = weights / weights.sum(axis=-2, keepdims=True)"),
        ),
        message="softmax over the wrong axis (-2, the queries)",
    ),
    Variant(
        "head split without transpose",
        passes=False,
        replace=((SPLIT, "return t.reshape(batch, heads, seq_len, d_k)"),),
        message="head split without transpose",
    ),
    Variant(
        "heads merged without transpose",
        passes=False,
        replace=((MERGE, "concat = heads.reshape(batch, seq_len, num_heads * d_k)"),),
        message="heads merged without transpose",
    ),
    Variant(
        "no output projection",
        passes=False,
        replace=((PROJECT, "return concat"),),
        message="forgotten output projection w_o",
    ),
    Variant(
        "GQA keys and values swapped",
        passes=False,
        replace=(
            (GQA_K, "k = _split(x @ w_v, num_kv_heads, d_k)"),
            (GQA_V, "v = _split(x @ w_k, num_kv_heads, d_k)"),
        ),
        message="keys and values swapped",
    ),
    Variant(
        "the keys cached instead of the latent",
        passes=False,
        replace=((MLA_RETURN, "return _merge(_attend(q, k, v, mask), w_o), latent @ w_uk"),),
        message="the keys K = latent @ w_uk returned as the latent",
    ),
    Variant(
        "(latent, output) swapped",
        passes=False,
        replace=((MLA_RETURN, "return latent, _merge(_attend(q, k, v, mask), w_o)"),),
        message="(latent, output) returned in the wrong order",
    ),
    Variant(
        "absorbed scores without the scale",
        passes=False,
        replace=((ABSORBED_RETURN, "return scores"),),
        message="absorbed scores without the 1/sqrt(d_k) scale",
    ),
    Variant(
        "absorbed scores with a strided slice of w_uk",
        passes=False,
        replace=(
            (UK_HEADS, "w_uk_heads = np.stack([w_uk[:, h::num_heads] for h in range(num_heads)])"),
        ),
        message="w_uk sliced with a stride",
    ),
    Variant(
        "absorbed scores transposed",
        passes=False,
        replace=((ABSORBED_RETURN, "return np.swapaxes(scores, -1, -2) / np.sqrt(d_k)"),),
        message="the scores are transposed",
    ),
    Variant(
        "absorbed scores softmaxed",
        passes=False,
        replace=(
            (
                ABSORBED_RETURN,
                "scores = scores / np.sqrt(d_k)\n"
                "    e = np.exp(scores - scores.max(axis=-1, keepdims=True))\n"
                "    return e / e.sum(axis=-1, keepdims=True)",
            ),
        ),
        message="the softmax weights returned instead of the scores",
    ),
    # --- found in public code (issue 26)
    Variant(
        "DeepSeek's RMSNorm on the latent (kv_a_layernorm)",
        passes=False,
        replace=(
            (
                "    latent = x @ w_dkv  # (B, L, d_c): what the cache keeps\n",
                "    latent = x @ w_dkv\n"
                "    latent = latent / np.sqrt((latent**2).mean(axis=-1, keepdims=True) + 1e-6)\n",
            ),
        ),
        message="the latent is RMS-normalized (DeepSeek's kv_a_layernorm)",
    ),
    Variant(
        "GQA with each group's queries summed into one",
        passes=False,
        code="""
        def grouped_query_attention(x, w_q, w_k, w_v, w_o, num_heads, num_kv_heads, mask=None):
            batch, seq_len, width = x.shape
            d_k = width // num_heads
            group = num_heads // num_kv_heads
            q = _split(x @ w_q, num_heads, d_k)
            q = q.reshape(batch, num_kv_heads, group, seq_len, d_k).sum(axis=2)
            k = _split(x @ w_k, num_kv_heads, d_k)
            v = _split(x @ w_v, num_kv_heads, d_k)
            return _merge(_attend(q, k, v, mask), w_o)
        """,
        message="never sum or average the queries of a group",
    ),
]

RIGHT = [
    Variant(
        "loops over heads and einsum",
        passes=True,
        code="""
        def _check(D, num_heads):
            if num_heads < 1 or D % num_heads:
                raise ValueError(f"D={D} must be a multiple of num_heads={num_heads}")
            return D // num_heads


        def _heads(q, k, v, mask, num_heads, kv_of):
            B, L, D = q.shape
            d_k = D // num_heads
            full = None if mask is None else np.broadcast_to(mask, (B, num_heads, L, L))
            outs = []
            for h in range(num_heads):
                j = kv_of(h)
                qh = q[:, :, h * d_k : (h + 1) * d_k]
                kh = k[:, :, j * d_k : (j + 1) * d_k]
                vh = v[:, :, j * d_k : (j + 1) * d_k]
                s = np.einsum("bld,bsd->bls", qh, kh) / np.sqrt(d_k)
                if full is not None:
                    s = np.where(full[:, h], s, -1e30)
                s = s - s.max(axis=-1, keepdims=True)
                w = np.exp(s)
                w = w / w.sum(axis=-1, keepdims=True)
                outs.append(np.einsum("bls,bsd->bld", w, vh))
            return np.concatenate(outs, axis=-1)


        def grouped_query_attention(x, w_q, w_k, w_v, w_o, num_heads, num_kv_heads, mask=None):
            _check(x.shape[-1], num_heads)
            if num_kv_heads < 1 or num_heads % num_kv_heads:
                raise ValueError(
                    f"num_kv_heads={num_kv_heads} must be >= 1 and divide num_heads={num_heads}"
                )
            group = num_heads // num_kv_heads
            out = _heads(x @ w_q, x @ w_k, x @ w_v, mask, num_heads, lambda h: h // group)
            return np.einsum("bld,de->ble", out, w_o)


        def latent_attention(x, w_q, w_dkv, w_uk, w_uv, w_o, num_heads, mask=None):
            _check(x.shape[-1], num_heads)
            c = np.einsum("bld,dc->blc", x, w_dkv)
            out = _heads(x @ w_q, c @ w_uk, c @ w_uv, mask, num_heads, lambda h: h)
            return out @ w_o, c


        def absorbed_scores(x, w_q, w_dkv, w_uk, num_heads):
            d_k = _check(x.shape[-1], num_heads)
            c = x @ w_dkv
            q = x @ w_q
            per_head = []
            for h in range(num_heads):
                cols = slice(h * d_k, (h + 1) * d_k)
                q_c = q[:, :, cols] @ w_uk[:, cols].T  # (B, L, d_c)
                per_head.append(np.einsum("blc,bsc->bls", q_c, c) / np.sqrt(d_k))
            return np.stack(per_head, axis=1)
        """,
    ),
    Variant(
        "torch inside (scaled_dot_product_attention with enable_gqa)",
        passes=True,
        code="""
        import torch
        import torch.nn.functional as F


        def _t(a):
            return torch.as_tensor(np.asarray(a), dtype=torch.float64)


        def _torch_heads(t, n):
            B, L, W = t.shape
            return t.view(B, L, n, W // n).transpose(1, 2)


        def grouped_query_attention(x, w_q, w_k, w_v, w_o, num_heads, num_kv_heads, mask=None):
            B, L, D = x.shape
            if D % num_heads:
                raise ValueError(f"D = {D} is not divisible by num_heads = {num_heads}")
            if num_kv_heads < 1:
                raise ValueError(f"num_kv_heads = {num_kv_heads} must be at least 1")
            if num_heads % num_kv_heads:
                raise ValueError(f"num_heads {num_heads} % num_kv_heads {num_kv_heads} != 0")
            x = _t(x)
            q = _torch_heads(x @ _t(w_q), num_heads)
            k = _torch_heads(x @ _t(w_k), num_kv_heads)
            v = _torch_heads(x @ _t(w_v), num_kv_heads)
            m = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=m, enable_gqa=True)
            return out.transpose(1, 2).reshape(B, L, D) @ _t(w_o)


        def latent_attention(x, w_q, w_dkv, w_uk, w_uv, w_o, num_heads, mask=None):
            B, L, D = x.shape
            if D % num_heads:
                raise ValueError(f"D = {D} is not divisible by num_heads = {num_heads}")
            c = _t(x) @ _t(w_dkv)
            q = _torch_heads(_t(x) @ _t(w_q), num_heads)
            k = _torch_heads(c @ _t(w_uk), num_heads)
            v = _torch_heads(c @ _t(w_uv), num_heads)
            m = None if mask is None else torch.as_tensor(np.asarray(mask, dtype=bool))
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=m)
            return out.transpose(1, 2).reshape(B, L, D) @ _t(w_o), c


        def absorbed_scores(x, w_q, w_dkv, w_uk, num_heads):
            B, L, D = x.shape
            if D % num_heads:
                raise ValueError(f"D = {D} is not divisible by num_heads = {num_heads}")
            d_k = D // num_heads
            c = _t(x) @ _t(w_dkv)  # (B, L, d_c)
            q = _torch_heads(_t(x) @ _t(w_q), num_heads)  # (B, h, L, d_k)
            w = _t(w_uk).view(-1, num_heads, d_k).permute(1, 2, 0)  # (h, d_k, d_c)
            return (q @ w) @ c.transpose(1, 2).unsqueeze(1) / d_k**0.5
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        _split64, _attend64, _merge64 = _split, _attend, _merge


        def _split(t, heads, d_k):
            return _split64(np.asarray(t, dtype=np.float32), heads, d_k)


        def _attend(q, k, v, mask):
            f = np.float32
            return _attend64(q.astype(f), k.astype(f), v.astype(f), mask).astype(f)


        def _merge(heads, w_o):
            return _merge64(heads.astype(np.float32), np.asarray(w_o, dtype=np.float32))


        _gqa64, _mla64, _abs64 = grouped_query_attention, latent_attention, absorbed_scores


        def grouped_query_attention(x, w_q, w_k, w_v, w_o, num_heads, num_kv_heads, mask=None):
            f = np.float32
            args = (a.astype(f) for a in (x, w_q, w_k, w_v, w_o))
            return _gqa64(*args, num_heads, num_kv_heads, mask)


        def latent_attention(x, w_q, w_dkv, w_uk, w_uv, w_o, num_heads, mask=None):
            args = (a.astype(np.float32) for a in (x, w_q, w_dkv, w_uk, w_uv, w_o))
            return _mla64(*args, num_heads, mask)


        def absorbed_scores(x, w_q, w_dkv, w_uk, num_heads):
            args = (a.astype(np.float32) for a in (x, w_q, w_dkv, w_uk))
            return _abs64(*args, num_heads)
        """,
    ),
    Variant(
        "grouped queries without repeating kv; latent attention through absorbed scores",
        passes=True,
        code="""
        def grouped_query_attention(x, w_q, w_k, w_v, w_o, num_heads, num_kv_heads, mask=None):
            B, L, D = x.shape
            d_k = _head_width(D, num_heads)
            if num_kv_heads < 1 or num_heads % num_kv_heads:
                raise ValueError(
                    f"num_kv_heads = {num_kv_heads}: must be at least 1 and a divisor "
                    f"of num_heads = {num_heads}"
                )
            g, group = num_kv_heads, num_heads // num_kv_heads
            q = (x @ w_q).reshape(B, L, g, group, d_k).transpose(0, 2, 3, 1, 4)  # (B,g,G,L,d)
            k = (x @ w_k).reshape(B, L, g, d_k).transpose(0, 2, 1, 3)[:, :, None]  # (B,g,1,L,d)
            v = (x @ w_v).reshape(B, L, g, d_k).transpose(0, 2, 1, 3)[:, :, None]
            s = q @ np.swapaxes(k, -1, -2) / np.sqrt(d_k)  # (B, g, G, L, L)
            if mask is not None:
                full = np.broadcast_to(mask, (B, num_heads, L, L)).reshape(B, g, group, L, L)
                s = np.where(full, s, -np.inf)
            w = np.exp(s - s.max(axis=-1, keepdims=True))
            out = (w / w.sum(axis=-1, keepdims=True)) @ v  # (B, g, G, L, d_k)
            return out.transpose(0, 3, 1, 2, 4).reshape(B, L, D) @ w_o


        def latent_attention(x, w_q, w_dkv, w_uk, w_uv, w_o, num_heads, mask=None):
            B, L, D = x.shape
            d_k = _head_width(D, num_heads)
            c = x @ w_dkv
            s = absorbed_scores(x, w_q, w_dkv, w_uk, num_heads)  # (B, h, L, L), scaled
            if mask is not None:
                s = np.where(mask, s, -np.inf)
            w = np.exp(s - s.max(axis=-1, keepdims=True))
            w = w / w.sum(axis=-1, keepdims=True)
            # absorb w_uv into the output side too: (w @ c) @ w_uv_h, per head
            w_uv_heads = w_uv.reshape(-1, num_heads, d_k).transpose(1, 0, 2)  # (h, d_c, d_k)
            heads = (w @ c[:, None]) @ w_uv_heads  # (B, h, L, d_k)
            return heads.transpose(0, 2, 1, 3).reshape(B, L, D) @ w_o, c
        """,
    ),
]

VARIANTS = WRONG + RIGHT
