"""Known-wrong and correct-but-different versions of `transformer_block`."""

from __future__ import annotations

from catalogue import Variant

H_LINE = 'h = x + _causal_self_attention(_layer_norm(x, p["ln1_g"], p["ln1_b"]), p, num_heads)'
Y_LINE = 'y = _layer_norm(h, p["ln2_g"], p["ln2_b"])  # (B, L, D)'
HIDDEN_LINE = 'hidden = gelu(y @ p["w_fc"] + p["b_fc"], "tanh")  # (B, L, F)'
RETURN_BLOCK = 'return h + (hidden @ p["w_proj"] + p["b_proj"])  # (B, L, D)'
MASKED = "weights = _softmax(np.where(allowed, scores, -np.inf))  # (B, h, L, L)"
SCALE = "scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d_k)  # (B, h, L, L)"
EMBED = "h = wte[tokens] + wpe[:seq_len]  # (B, T, D)"
HEAD = 'return _layer_norm(h, params["lnf_g"], params["lnf_b"]) @ wte.T  # (B, T, V)'
VAR = "var = ((y - mean) ** 2).mean(axis=-1, keepdims=True)  # (..., 1), divide by D"
LENGTH_CHECK = """    if seq_len > len(wpe):
        raise ValueError(
            f"T = {seq_len} tokens, but wpe has positions for only {len(wpe)} (max_len)"
        )
"""
HEADS_CHECK = """    if width % num_heads != 0:
        raise ValueError(
            f"D = {width} is not divisible by num_heads = {num_heads}: "
            "every head needs d_k = D // num_heads columns"
        )
"""
SPLIT = """    q, k, v = (
        a.reshape(batch, seq_len, num_heads, d_k).transpose(0, 2, 1, 3) for a in (q, k, v)
    )  # each (B, h, L, d_k)"""
MERGE = "concat = heads.transpose(0, 2, 1, 3).reshape(batch, seq_len, width)  # (B, L, D)"

VARIANTS: list[Variant] = [
    # --- known wrong: the block ---------------------------------------------------------------
    Variant(
        "post-LN block (the original Transformer's order)",
        passes=False,
        replace=(
            (
                H_LINE,
                'h = _layer_norm(x + _causal_self_attention(x, p, num_heads), p["ln1_g"], '
                'p["ln1_b"])',
            ),
            (Y_LINE, "y = h"),
            (
                RETURN_BLOCK,
                'return _layer_norm(h + (hidden @ p["w_proj"] + p["b_proj"]), '
                'p["ln2_g"], p["ln2_b"])',
            ),
        ),
        message="post-LN (the original Transformer's order",
    ),
    Variant(
        "the attention residual forgotten",
        passes=False,
        replace=((H_LINE, H_LINE.replace("h = x + ", "h = ")),),
        message="the attention residual is missing",
    ),
    Variant(
        "the MLP residual forgotten",
        passes=False,
        replace=((RETURN_BLOCK, 'return hidden @ p["w_proj"] + p["b_proj"]'),),
        message="the MLP residual is missing",
    ),
    Variant(
        "exact GELU in the block's MLP",
        passes=False,
        replace=((HIDDEN_LINE, 'hidden = gelu(y @ p["w_fc"] + p["b_fc"])'),),
        message="the exact (erf) GELU in the MLP",
    ),
    Variant(
        "no causal mask",
        passes=False,
        replace=((MASKED, "weights = _softmax(scores)"),),
        message="no causal mask",
    ),
    Variant(
        "scores scaled by 1/sqrt(D)",
        passes=False,
        replace=((SCALE, "scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(width)"),),
        message="scores scaled by 1/sqrt(D) instead of 1/sqrt(d_k)",
    ),
    Variant(
        "nn.Linear's layout for the attention weights (x @ W.T)",
        passes=False,
        replace=(
            *((f'y @ p["w_{n}"] + p["b_{n}"]', f'y @ p["w_{n}"].T + p["b_{n}"]') for n in "qkv"),
            ('return concat @ p["w_o"] + p["b_o"]', 'return concat @ p["w_o"].T + p["b_o"]'),
        ),
        message="nn.Linear's layout",
    ),
    Variant(
        "a parallel block (GPT-J, PaLM)",
        passes=False,
        replace=(
            (
                H_LINE,
                'a = _causal_self_attention(_layer_norm(x, p["ln1_g"], p["ln1_b"]), p, '
                "num_heads)\n    h = x",
            ),
            (RETURN_BLOCK, 'return x + a + (hidden @ p["w_proj"] + p["b_proj"])'),
        ),
        message="a parallel block (GPT-J, PaLM",
    ),
    Variant(
        "layer_norm with the unbiased variance (torch's x.var())",
        passes=False,
        replace=((VAR, "var = y.var(axis=-1, ddof=1, keepdims=True)"),),
        message="the unbiased variance (divide by D - 1",
    ),
    Variant(
        "layer_norm with eps 1e-6",
        passes=False,
        replace=(("LN_EPS = 1e-5  #", "LN_EPS = 1e-6  #"),),
        message="eps 1e-6 (or 1e-12)",
    ),
    Variant(
        "heads split and merged without transpose",
        passes=False,
        replace=(
            (SPLIT, "    q, k, v = (a.reshape(batch, num_heads, seq_len, d_k) for a in (q, k, v))"),
            (MERGE, "concat = heads.reshape(batch, seq_len, width)"),
        ),
        message="heads split without transpose",
    ),
    Variant(
        "no check of D % num_heads (numpy's reshape error)",
        passes=False,
        replace=((HEADS_CHECK, ""),),
        message="numpy raised it, not a check of yours",
    ),
    # --- known wrong: gelu --------------------------------------------------------------------
    Variant(
        'the tanh formula for approximate="none"',
        passes=False,
        code="""
        def gelu(x, approximate="none"):
            if approximate not in ("none", "tanh"):
                raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
            return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
        """,
        message='the tanh approximation for approximate="none"',
    ),
    Variant(
        "the tanh formula without its cubic term",
        passes=False,
        replace=(
            (
                "inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)",
                "inner = math.sqrt(2.0 / math.pi) * x",
            ),
        ),
        message="the cubic term is missing",
    ),
    Variant(
        "QuickGELU, x * sigmoid(1.702 x)",
        passes=False,
        code="""
        def gelu(x, approximate="none"):
            if approximate not in ("none", "tanh"):
                raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
            return x / (1.0 + np.exp(-1.702 * x))
        """,
        message="the sigmoid approximation x * sigmoid(1.702 * x)",
    ),
    Variant(
        "approximate not checked (anything but 'tanh' is exact)",
        passes=False,
        replace=(
            (
                'if not isinstance(approximate, str) or approximate not in ("none", "tanh"):',
                "if False:",
            ),
        ),
        message="should raise ValueError, but returned normally",
    ),
    # --- known wrong: the model ---------------------------------------------------------------
    Variant(
        "no final LayerNorm",
        passes=False,
        replace=((HEAD, "return h @ wte.T"),),
        message="no final LayerNorm",
    ),
    Variant(
        "an untied head (params['lm_head'])",
        passes=False,
        replace=(
            (HEAD, 'return _layer_norm(h, params["lnf_g"], params["lnf_b"]) @ params["lm_head"]'),
        ),
        message="the head is tied to the token embeddings",
    ),
    Variant(
        "positions off by one (wpe[1:T + 1])",
        passes=False,
        replace=((EMBED, "h = wte[tokens] + wpe[1 : seq_len + 1]"),),
        message="positions off by one",
    ),
    Variant(
        "token embeddings scaled by sqrt(D)",
        passes=False,
        replace=((EMBED, "h = wte[tokens] * np.sqrt(wte.shape[1]) + wpe[:seq_len]"),),
        message="token embeddings scaled by sqrt(D)",
    ),
    Variant(
        "blocks not chained (each applied to the embeddings)",
        passes=False,
        replace=(
            (
                '    for block in params["blocks"]:\n'
                "        h = transformer_block(h, block, num_heads)",
                '    out = h\n    for block in params["blocks"]:\n'
                "        out = transformer_block(h, block, num_heads)\n    h = out",
            ),
        ),
        message="every block applied to the embeddings, only the last kept",
    ),
    Variant(
        "no check of T > len(wpe) (numpy's broadcasting error)",
        passes=False,
        replace=((LENGTH_CHECK, ""),),
        message="numpy raised it, not a check of yours",
    ),
    # --- wrong: found in public code (issue 26) -------------------------------------------------
    Variant(
        "CLIP's QuickGELU in the block's MLP",
        passes=False,
        replace=(
            (
                HIDDEN_LINE,
                'pre = y @ p["w_fc"] + p["b_fc"]\n    hidden = pre / (1.0 + np.exp(-1.702 * pre))',
            ),
        ),
        message="QuickGELU in the MLP",
    ),
    Variant(
        "the original Transformer's ReLU feed-forward",
        passes=False,
        replace=((HIDDEN_LINE, 'hidden = np.maximum(y @ p["w_fc"] + p["b_fc"], 0.0)'),),
        message="a ReLU in the MLP",
    ),
    Variant(
        "two mistakes at once: no attention residual and the MLP's exact GELU",
        passes=False,
        replace=(
            (H_LINE, H_LINE.replace("h = x + ", "h = ")),
            (HIDDEN_LINE, 'hidden = gelu(y @ p["w_fc"] + p["b_fc"])  # (B, L, F)'),
        ),
        message="two mistakes at once: the attention residual is missing",
    ),
    # --- correct but different ----------------------------------------------------------------
    Variant(
        "attention with einsum",
        passes=True,
        code="""
        def _causal_self_attention(y, p, num_heads):
            b, n, d = y.shape
            dk = d // num_heads
            q, k, v = ((y @ p[f"w_{c}"] + p[f"b_{c}"]).reshape(b, n, num_heads, dk) for c in "qkv")
            scores = np.einsum("bihd,bjhd->bhij", q, k) / np.sqrt(dk)
            scores = scores + np.triu(np.full((n, n), -1e9), k=1)
            weights = _softmax(scores)
            out = np.einsum("bhij,bjhd->bihd", weights, v).reshape(b, n, d)
            return out @ p["w_o"] + p["b_o"]
        """,
    ),
    Variant(
        "loops over batch, heads and query positions",
        passes=True,
        code="""
        def _causal_self_attention(y, p, num_heads):
            b, n, d = y.shape
            dk = d // num_heads
            q, k, v = (y @ p[f"w_{c}"] + p[f"b_{c}"] for c in "qkv")
            out = np.zeros_like(y)
            for i in range(b):
                for h in range(num_heads):
                    cols = slice(h * dk, (h + 1) * dk)
                    for t in range(n):
                        s = k[i, : t + 1, cols] @ q[i, t, cols] / math.sqrt(dk)
                        w = np.exp(s - s.max())
                        out[i, t, cols] = (w / w.sum()) @ v[i, : t + 1, cols]
            return out @ p["w_o"] + p["b_o"]
        """,
    ),
    Variant(
        "torch inside (F.layer_norm, F.gelu, scaled_dot_product_attention)",
        passes=True,
        code="""
        import torch
        import torch.nn.functional as F


        def _t(a):
            return torch.as_tensor(np.asarray(a, dtype=np.float64))


        def gelu(x, approximate="none"):
            if approximate not in ("none", "tanh"):
                raise ValueError(f"approximate must be 'none' or 'tanh', got {approximate!r}")
            return F.gelu(_t(x), approximate=approximate).numpy()


        def _block_torch(x, p, num_heads):
            p = {k: _t(v) for k, v in p.items()}
            b, n, d = x.shape
            y = F.layer_norm(x, (d,), p["ln1_g"], p["ln1_b"], eps=1e-5)
            q, k, v = (
                (y @ p[f"w_{c}"] + p[f"b_{c}"]).view(b, n, num_heads, -1).transpose(1, 2)
                for c in "qkv"
            )
            a = F.scaled_dot_product_attention(q, k, v, is_causal=True)
            h = x + a.transpose(1, 2).reshape(b, n, d) @ p["w_o"] + p["b_o"]
            z = F.layer_norm(h, (d,), p["ln2_g"], p["ln2_b"], eps=1e-5)
            return h + F.gelu(z @ p["w_fc"] + p["b_fc"], approximate="tanh") @ p["w_proj"] + p[
                "b_proj"
            ]


        def transformer_block(x, params, num_heads):
            if x.shape[-1] % num_heads:
                raise ValueError(f"D = {x.shape[-1]} is not divisible by num_heads = {num_heads}")
            return _block_torch(_t(x), params, num_heads)


        def gpt_forward(tokens, params, num_heads):
            wte, wpe = _t(params["wte"]), _t(params["wpe"])
            t = tokens.shape[1]
            if t > wpe.shape[0]:
                raise ValueError(f"T = {t} is longer than max_len = {wpe.shape[0]}")
            h = wte[torch.as_tensor(tokens)] + wpe[:t]
            for block in params["blocks"]:
                h = _block_torch(h, block, num_heads)
            d = h.shape[-1]
            h = F.layer_norm(h, (d,), _t(params["lnf_g"]), _t(params["lnf_b"]), eps=1e-5)
            return h @ wte.T
        """,
    ),
    Variant(
        "float32 arithmetic throughout",
        passes=True,
        code="""
        _f64_block = transformer_block
        _f64_gpt = gpt_forward
        _f64_gelu = gelu


        def _f32(tree):
            if isinstance(tree, dict):
                return {k: _f32(v) for k, v in tree.items()}
            if isinstance(tree, list):
                return [_f32(v) for v in tree]
            return np.asarray(tree, dtype=np.float32)


        def gelu(x, approximate="none"):
            return _f64_gelu(np.asarray(x, dtype=np.float32), approximate).astype(np.float32)


        def transformer_block(x, params, num_heads):
            return _f64_block(_f32(x), _f32(params), num_heads)


        def gpt_forward(tokens, params, num_heads):
            return _f64_gpt(tokens, _f32(params), num_heads)
        """,
    ),
    Variant(
        "GPT-2's fused c_attn: one (D, 3D) product, then split",
        passes=True,
        code="""
        def _causal_self_attention(y, p, num_heads):
            b, n, d = y.shape
            dk = d // num_heads
            c_attn = np.concatenate([p["w_q"], p["w_k"], p["w_v"]], axis=1)  # (D, 3D)
            bias = np.concatenate([p["b_q"], p["b_k"], p["b_v"]])
            q, k, v = np.split(y @ c_attn + bias, 3, axis=-1)
            q, k, v = (a.reshape(b, n, num_heads, dk).transpose(0, 2, 1, 3) for a in (q, k, v))
            s = q @ k.transpose(0, 1, 3, 2) / math.sqrt(dk)
            s = np.where(np.tril(np.ones((n, n), bool)), s, -np.inf)
            out = (_softmax(s) @ v).transpose(0, 2, 1, 3).reshape(b, n, d)
            return out @ p["w_o"] + p["b_o"]
        """,
    ),
    Variant(
        "one position at a time with a KV cache, and GELU through erfc",
        passes=True,
        code="""
        def gelu(x, approximate="none"):
            if approximate == "tanh":
                u = math.sqrt(2 / math.pi) * (x + 0.044715 * x**3)
                return x / (1.0 + np.exp(-2.0 * u))  # 0.5 (1 + tanh u) = sigmoid(2u)
            if approximate != "none":
                raise ValueError(f"unknown approximate={approximate!r}: use 'none' or 'tanh'")
            erfc = np.vectorize(math.erfc, otypes=[float])
            return 0.5 * x * erfc(-x / math.sqrt(2))


        def _causal_self_attention(y, p, num_heads):
            b, n, d = y.shape
            dk = d // num_heads
            keys, values, outs = [], [], []
            for t in range(n):
                q_t, k_t, v_t = (y[:, t] @ p[f"w_{c}"] + p[f"b_{c}"] for c in "qkv")  # (B, D)
                keys.append(k_t.reshape(b, num_heads, dk))
                values.append(v_t.reshape(b, num_heads, dk))
                k_all, v_all = np.stack(keys, axis=2), np.stack(values, axis=2)  # (B, h, t+1, dk)
                s = np.einsum("bhd,bhjd->bhj", q_t.reshape(b, num_heads, dk), k_all) / math.sqrt(dk)
                w = _softmax(s)
                outs.append(np.einsum("bhj,bhjd->bhd", w, v_all).reshape(b, d))
            return np.stack(outs, axis=1) @ p["w_o"] + p["b_o"]
        """,
    ),
    Variant(
        "layer_norm with eps outside the square root",
        passes=False,
        replace=(
            (
                "return (y - mean) / np.sqrt(var + _LN_EPS) * g + b",
                "return (y - mean) / (np.sqrt(var) + _LN_EPS) * g + b",
            ),
        ),
        message="layer_norm with eps outside the square root",
    ),
    Variant(
        "torch float32 throughout (F.layer_norm on float32 tensors, as picoGPT with torch)",
        passes=True,
        code="""
        import torch
        import torch.nn.functional as F

        _f64_block = transformer_block


        def _t(a):
            return torch.as_tensor(np.asarray(a, dtype=np.float32))


        def _layer_norm(y, g, b):
            t = _t(y)
            return F.layer_norm(t, t.shape[-1:], _t(g), _t(b), eps=1e-5).numpy()


        def transformer_block(x, params, num_heads):
            params = {k: np.asarray(v, dtype=np.float32) for k, v in params.items()}
            return _f64_block(np.asarray(x, dtype=np.float32), params, num_heads)
        """,
    ),
]
