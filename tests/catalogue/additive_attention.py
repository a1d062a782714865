"""Known-wrong and correct-but-different versions of solutions/additive_attention.py."""

from __future__ import annotations

from catalogue import Variant

ADDITIVE_SCORES = "    scores = np.tanh(hidden) @ v  # (B, S)\n"
HIDDEN = "    hidden = (query @ w_q)[:, None, :] + keys @ w_k  # (B, S, A)\n"
LUONG_SCORES = '    scores = np.einsum("bk,bsk->bs", projected, keys)  # (B, S)\n'
GENERAL = "        projected = query @ w  # (B, Dk)\n"
FILL = "        scores = np.where(mask, scores, -np.inf)\n"
SOFTMAX = (
    "    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))\n"
    "    return shifted / shifted.sum(axis=-1, keepdims=True)\n"
)
DOT_ERROR = "            raise ValueError(f\"score='dot' needs Dq == Dk, got Dq={dq}, Dk={dk}\")\n"
SCORE_CHECK = (
    '    if score not in ("dot", "general"):\n'
    "        raise ValueError(f\"score must be 'dot' or 'general', got score={score!r}\")\n"
)

VARIANTS: list[Variant] = [
    # --- wrong: the additive score --------------------------------------------------------------
    Variant(
        "additive scores scaled by 1/sqrt(A)",
        passes=False,
        replace=((ADDITIVE_SCORES, "    scores = np.tanh(hidden) @ v / np.sqrt(v.shape[0])\n"),),
        message="the additive scores scaled by 1/sqrt(A)",
    ),
    Variant(
        "additive scores scaled by 1/sqrt(Dk)",
        passes=False,
        replace=(
            (ADDITIVE_SCORES, "    scores = np.tanh(hidden) @ v / np.sqrt(keys.shape[-1])\n"),
        ),
        message="the additive scores scaled by 1/sqrt(Dk)",
    ),
    Variant(
        "tanh missing",
        passes=False,
        replace=((ADDITIVE_SCORES, "    scores = hidden @ v\n"),),
        message="the tanh is missing",
    ),
    Variant(
        "scores summed over A (no v)",
        passes=False,
        replace=((ADDITIVE_SCORES, "    scores = np.tanh(hidden).sum(axis=-1)\n"),),
        message="summed over A instead of a dot with v",
    ),
    Variant(
        "w_q and w_k swapped",
        passes=False,
        replace=((HIDDEN, "    hidden = (query @ w_k)[:, None, :] + keys @ w_q\n"),),
        message="w_q and w_k swapped",
    ),
    # --- wrong: the softmax and the mask --------------------------------------------------------
    Variant(
        "softmax over the batch axis",
        passes=False,
        replace=(
            (
                SOFTMAX,
                "    shifted = np.exp(scores - scores.max(axis=0, keepdims=True))\n"
                "    return shifted / shifted.sum(axis=0, keepdims=True)\n",
            ),
        ),
        message="softmax over the batch axis",
    ),
    Variant(
        "mask applied after the softmax",
        passes=False,
        replace=(
            (FILL, "        pass\n"),
            (
                SOFTMAX,
                "    shifted = np.exp(scores - scores.max(axis=-1, keepdims=True))\n"
                "    weights = shifted / shifted.sum(axis=-1, keepdims=True)\n"
                "    return weights if mask is None else weights * mask\n",
            ),
        ),
        message="mask applied after softmax without renormalising",
    ),
    Variant(
        "mask inverted (key_padding_mask's meaning)",
        passes=False,
        replace=((FILL, "        scores = np.where(mask, -np.inf, scores)\n"),),
        message="key_padding_mask",
    ),
    Variant(
        "masked scores set to 0",
        passes=False,
        replace=((FILL, "        scores = np.where(mask, scores, 0.0)\n"),),
        message="masked scores set to 0 instead of -inf",
    ),
    Variant(
        "mask ignored",
        passes=False,
        replace=((FILL, "        pass\n"),),
        message="the mask is not applied",
    ),
    Variant(
        "softmax without the max shift (overflows at 1000)",
        passes=False,
        replace=(
            (
                SOFTMAX,
                "    e = np.exp(scores)\n    return e / e.sum(axis=-1, keepdims=True)\n",
            ),
        ),
        message="without subtracting each row's max",
    ),
    # --- wrong: Luong ---------------------------------------------------------------------------
    Variant(
        "Luong's general score with w transposed",
        passes=False,
        replace=((GENERAL, "        projected = query @ w.T\n"),),
        message="the general score with w transposed",
    ),
    Variant(
        "Luong's scores scaled by 1/sqrt(d)",
        passes=False,
        replace=(
            (
                LUONG_SCORES,
                '    scores = np.einsum("bk,bsk->bs", projected, keys) / np.sqrt(dk)\n',
            ),
        ),
        message="Luong's scores scaled by 1/sqrt(d)",
    ),
    Variant(
        "a ValueError that names no values",
        passes=False,
        replace=((DOT_ERROR, '            raise ValueError("the sizes do not match")\n'),),
        message="does not name the values",
    ),
    Variant(
        "any other score falls back to dot",
        passes=False,
        replace=((SCORE_CHECK, ""), ('    if score == "dot":\n', '    if score != "general":\n')),
        message="should raise ValueError",
    ),
    # --- right ----------------------------------------------------------------------------------
    Variant(
        "explicit loops in plain Python, masked scores at -1e9",
        passes=True,
        code="""
        import math

        def _attend(scores, values, mask):
            context, weights = [], []
            for b, row in enumerate(scores):
                row = [s if mask is None or mask[b][j] else -1e9 for j, s in enumerate(row)]
                top = max(row)
                e = [math.exp(s - top) for s in row]
                total = sum(e)
                weights.append([x / total for x in e])
                context.append(
                    [sum(w * values[b][j][d] for j, w in enumerate(weights[-1]))
                     for d in range(len(values[b][0]))]
                )
            return np.array(context), np.array(weights)

        def additive_attention(query, keys, values, w_q, w_k, v, mask=None):
            q = query @ w_q
            scores = [
                [sum(v[a] * math.tanh(q[b][a] + (key @ w_k)[a]) for a in range(len(v)))
                 for key in keys[b]]
                for b in range(len(query))
            ]
            return _attend(scores, values, mask)
        """,
    ),
    Variant(
        "torch inside: masked_fill with -inf, torch.softmax, einsum",
        passes=True,
        code="""
        import torch

        def _t(a):
            return torch.as_tensor(np.asarray(a), dtype=torch.float64)

        def _torch_attend(scores, values, mask):
            if mask is not None:
                scores = scores.masked_fill(~torch.as_tensor(np.asarray(mask)), float("-inf"))
            weights = torch.softmax(scores, dim=-1)
            return torch.einsum("bs,bsd->bd", weights, _t(values)), weights

        def additive_attention(query, keys, values, w_q, w_k, v, mask=None):
            hidden = (_t(query) @ _t(w_q)).unsqueeze(1) + _t(keys) @ _t(w_k)
            return _torch_attend(torch.tanh(hidden) @ _t(v), values, mask)

        def luong_attention(query, keys, values, score="dot", w=None, mask=None):
            if score not in ("dot", "general"):
                raise ValueError(f"unknown score {score!r}")
            dq, dk = query.shape[-1], keys.shape[-1]
            if score == "dot" and dq != dk:
                raise ValueError(f"dot needs equal sizes: Dq={dq}, Dk={dk}")
            if score == "general" and (w is None or w.shape != (dq, dk)):
                raise ValueError(f"w must be ({dq}, {dk}), got {None if w is None else w.shape}")
            q = _t(query) if score == "dot" else _t(query) @ _t(w)
            return _torch_attend(torch.einsum("bk,bsk->bs", q, _t(keys)), values, mask)
        """,
    ),
    Variant(
        "float32 arithmetic and a log-sum-exp softmax",
        passes=True,
        code="""
        def _masked_softmax(scores, mask):
            scores = np.asarray(scores, np.float32)
            if mask is not None:
                scores = np.where(mask, scores, np.float32(-np.inf))
            return np.exp(scores - np.logaddexp.reduce(scores, axis=-1, keepdims=True))

        def _context(weights, values):
            return (weights[:, :, None] * np.asarray(values, np.float32)).sum(axis=1)
        """,
    ),
]
