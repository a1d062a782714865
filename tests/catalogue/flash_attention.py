"""Known-wrong and correct-but-different versions of solutions/flash_attention.py."""

from __future__ import annotations

from catalogue import Variant

L_LINE = "        l = l * rescale + p.sum(axis=-1)  # noqa: E741\n"
ACC_LINE = "        acc = acc * rescale[..., None] + p @ v[..., start:stop, :]\n"
MASK_LINE = "            scores = np.where(np.arange(start, stop) <= rows, scores, -np.inf)\n"
OUT_LINE = "    output = acc / l[..., None]  # (..., L, d_v)\n"
RETURN_LINE = "    return output, m + np.log(l)\n"
SCALE_LINE = "    scale = 1.0 / np.sqrt(width)\n"
M_START_LINE = "    m = np.full((*lead, seq_q), -np.inf)  # running max (..., L)\n"
BLOCK_CHECK = (
    "    if block_size < 1:\n"
    '        raise ValueError(f"block_size must be at least 1, got block_size={block_size}")\n'
)
CAUSAL_CHECK = "    if causal and seq_q != seq_k:\n"
MERGE_M = "    m = np.maximum(m1, m2)\n"
MERGE_L = "    l = l1 * np.exp(m1 - m) + l2 * np.exp(m2 - m)  # noqa: E741\n"
FULL_MATRIX = "holds the whole (L, S) score matrix: process keys in blocks of block_size"
BLOCK_MASK = "            scores = np.where(np.arange(start, stop) <= rows, scores, -np.inf)\n"

VARIANTS: list[Variant] = [
    # --- wrong ----------------------------------------------------------------------------------
    Variant(
        "full score matrix (numpy)",
        passes=False,
        code="""
        def flash_attention(q, k, v, block_size=64, causal=False):
            if block_size < 1:
                raise ValueError(f"block_size must be at least 1, got {block_size}")
            if causal and q.shape[-2] != k.shape[-2]:
                raise ValueError(f"causal needs L == S, got L={q.shape[-2]}, S={k.shape[-2]}")
            scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(q.shape[-1])  # (..., L, S)
            if causal:
                scores = np.where(np.tril(np.ones(scores.shape[-2:], bool)), scores, -np.inf)
            m = scores.max(axis=-1, keepdims=True)
            e = np.exp(scores - m)
            total = e.sum(axis=-1, keepdims=True)
            return (e / total) @ v, (m + np.log(total))[..., 0]
        """,
        message=FULL_MATRIX,
    ),
    Variant(
        "full score matrix (torch)",
        passes=False,
        code="""
        import torch


        def flash_attention(q, k, v, block_size=64, causal=False):
            if block_size < 1:
                raise ValueError(f"block_size must be at least 1, got {block_size}")
            if causal and q.shape[-2] != k.shape[-2]:
                raise ValueError(f"causal needs L == S, got L={q.shape[-2]}, S={k.shape[-2]}")
            q, k, v = (torch.from_numpy(np.asarray(t)) for t in (q, k, v))
            scores = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
            if causal:
                keep = torch.ones(scores.shape[-2:], dtype=torch.bool).tril()
                scores = scores.masked_fill(~keep, float("-inf"))
            return torch.softmax(scores, dim=-1) @ v, torch.logsumexp(scores, dim=-1)
        """,
        message=FULL_MATRIX,
    ),
    Variant(
        "accumulator not rescaled",
        passes=False,
        replace=((ACC_LINE, "        acc = acc + p @ v[..., start:stop, :]\n"),),
        message="the output accumulator is not rescaled",
    ),
    Variant(
        "running sum not rescaled",
        passes=False,
        replace=((L_LINE, "        l = l + p.sum(axis=-1)  # noqa: E741\n"),),
        message="the running sum l is not rescaled",
    ),
    Variant(
        "nothing rescaled",
        passes=False,
        replace=(
            (ACC_LINE, "        acc = acc + p @ v[..., start:stop, :]\n"),
            (L_LINE, "        l = l + p.sum(axis=-1)  # noqa: E741\n"),
        ),
        message="neither the running sum nor the accumulator is rescaled",
    ),
    Variant(
        "a division per block",
        passes=False,
        replace=(
            (ACC_LINE, ACC_LINE + "        acc = acc / l[..., None]\n"),
            (OUT_LINE, "    output = acc\n"),
        ),
        message="a division per block",
    ),
    Variant(
        "output never divided by the sum",
        passes=False,
        replace=((OUT_LINE, "    output = acc\n"),),
        message="the output is never divided by the running sum",
    ),
    Variant(
        "causal mask j < i",
        passes=False,
        replace=((MASK_LINE, MASK_LINE.replace("<= rows", "< rows")),),
        message="off-by-one causal mask",
    ),
    Variant(
        "causal mask with the index inside the block",
        passes=False,
        replace=(
            (MASK_LINE, MASK_LINE.replace("np.arange(start, stop)", "np.arange(stop - start)")),
        ),
        message="index inside its block",
    ),
    Variant(
        "logsumexp in log base 2",
        passes=False,
        replace=((RETURN_LINE, "    return output, m + np.log2(l)\n"),),
        message="logsumexp in log base 2",
    ),
    Variant(
        "logsumexp without the max",
        passes=False,
        replace=((RETURN_LINE, "    return output, np.log(l)\n"),),
        message="the running max is missing from logsumexp",
    ),
    Variant(
        "results swapped",
        passes=False,
        replace=((RETURN_LINE, "    return m + np.log(l), output\n"),),
        message="returned in the wrong order",
    ),
    Variant(
        "no 1/sqrt(d) scaling",
        passes=False,
        replace=((SCALE_LINE, "    scale = 1.0\n"),),
        message="no 1/sqrt(d) scaling",
    ),
    Variant(
        "running max started at 0",
        passes=False,
        replace=((M_START_LINE, "    m = np.zeros((*lead, seq_q))\n"),),
        message="the running max starts at 0 instead of -inf",
    ),
    Variant(
        "block_size not checked",
        passes=False,
        replace=((BLOCK_CHECK, ""),),
        message="check block_size yourself first",
    ),
    Variant(
        "causal with L != S not rejected (mask aligned top-left)",
        passes=False,
        replace=((CAUSAL_CHECK, "    if False:\n"),),
        message="align the mask top-left or bottom-right",
    ),
    Variant(
        "merge without rescaling",
        passes=False,
        replace=((MERGE_L, "    l = l1 + l2  # noqa: E741\n"),),
        message="the sums were added without rescaling (l1 + l2)",
    ),
    Variant(
        "merge takes the min",
        passes=False,
        replace=((MERGE_M, "    m = np.minimum(m1, m2)\n"),),
        message="m is the min of the two maxima",
    ),
    Variant(
        "merge with inverted rescale factors",
        passes=False,
        replace=((MERGE_L, "    l = l1 * np.exp(m - m1) + l2 * np.exp(m - m2)  # noqa: E741\n"),),
        message="the rescale factors are inverted",
    ),
    Variant(
        "merge through exp(m1) and exp(m2)",
        passes=False,
        replace=(
            (MERGE_L, "    l = (l1 * np.exp(m1) + l2 * np.exp(m2)) / np.exp(m)  # noqa: E741\n"),
        ),
        message="overflow for large scores",
    ),
    # --- wrong: found in public code (issue 26) -------------------------------------------------
    Variant(
        "the output buffer shaped like q (d_v must equal d)",
        passes=False,
        replace=(
            (
                "    acc = np.zeros((*lead, seq_q, v.shape[-1]))  # running sum of exp(score - m)"
                " * v\n",
                "    acc = np.zeros(q.shape)\n",
            ),
        ),
        message="the output buffer was made in q's shape",
    ),
    Variant(
        "the causal flag ignored",
        passes=False,
        replace=(("        if causal:\n", "        if False:\n"),),
        message="the causal flag is ignored",
    ),
    # --- right ----------------------------------------------------------------------------------
    Variant(
        "einsum and a loop over blocks",
        passes=True,
        code="""
        def flash_attention(q, k, v, block_size=64, causal=False):
            if block_size < 1:
                raise ValueError(f"block_size={block_size} is not >= 1")
            L, S = q.shape[-2], k.shape[-2]
            if causal and L != S:
                raise ValueError(f"causal needs L == S, got L={L}, S={S}")
            lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
            q = np.broadcast_to(q, (*lead, *q.shape[-2:]))
            m = np.full((*lead, L), -np.inf)
            l = np.zeros((*lead, L))
            acc = np.zeros((*lead, L, v.shape[-1]))
            for start in range(0, S, block_size):
                kb, vb = (t[..., start:start + block_size, :] for t in (k, v))
                kb = np.broadcast_to(kb, (*lead, *kb.shape[-2:]))
                vb = np.broadcast_to(vb, (*lead, *vb.shape[-2:]))
                s = np.einsum("...id,...jd->...ij", q, kb) / np.sqrt(q.shape[-1])
                if causal:
                    j = start + np.arange(s.shape[-1])
                    s = np.where(j[None, :] <= np.arange(L)[:, None], s, -np.inf)
                m_new = np.maximum(m, s.max(axis=-1))
                a = np.exp(m - m_new)
                p = np.exp(s - m_new[..., None])
                l = l * a + p.sum(axis=-1)
                acc = acc * a[..., None] + np.einsum("...ij,...jd->...id", p, vb)
                m = m_new
            return acc / l[..., None], m + np.log(l)


        def merge_softmax_stats(m1, l1, m2, l2):
            m = np.where(m1 > m2, m1, m2)
            return m, np.exp(m1 - m) * l1 + np.exp(m2 - m) * l2
        """,
    ),
    Variant(
        "torch inside, blocked",
        passes=True,
        code="""
        import torch


        def flash_attention(q, k, v, block_size=64, causal=False):
            if block_size < 1:
                raise ValueError(f"block_size must be >= 1, got {block_size}")
            q, k, v = (torch.from_numpy(np.asarray(t)) for t in (q, k, v))
            L, S = q.shape[-2], k.shape[-2]
            if causal and L != S:
                raise ValueError(f"causal=True needs L == S, got L={L}, S={S}")
            lead = torch.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
            m = torch.full((*lead, L), float("-inf"), dtype=torch.float64)
            l = torch.zeros((*lead, L), dtype=torch.float64)
            acc = torch.zeros((*lead, L, v.shape[-1]), dtype=torch.float64)
            rows = torch.arange(L)[:, None]
            for start in range(0, S, block_size):
                s = q @ k[..., start:start + block_size, :].transpose(-1, -2) / q.shape[-1] ** 0.5
                if causal:
                    cols = torch.arange(start, start + s.shape[-1])[None, :]
                    s = s.masked_fill(cols > rows, float("-inf"))
                m_new = torch.maximum(m, s.amax(dim=-1))
                a = torch.exp(m - m_new)
                p = torch.exp(s - m_new[..., None])
                l = l * a + p.sum(dim=-1)
                acc = acc * a[..., None] + p @ v[..., start:start + block_size, :]
                m = m_new
            return acc / l[..., None], m + torch.log(l)
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        _flash64 = flash_attention


        def flash_attention(q, k, v, block_size=64, causal=False):
            f32 = lambda t: np.asarray(t, dtype=np.float32)
            out, lse = _flash64(f32(q), f32(k), f32(v), block_size, causal)
            return out.astype(np.float32), lse.astype(np.float32)


        def merge_softmax_stats(m1, l1, m2, l2):
            m1, l1, m2, l2 = (np.asarray(t, dtype=np.float32) for t in (m1, l1, m2, l2))
            m = np.maximum(m1, m2)
            return m, l1 * np.exp(m1 - m) + l2 * np.exp(m2 - m)
        """,
    ),
    Variant(
        "FlashAttention-1: normalised accumulator, query blocks too",
        passes=True,
        code="""
        def flash_attention(q, k, v, block_size=64, causal=False):
            if block_size < 1:
                raise ValueError(f"bad block_size {block_size}")
            L, S = q.shape[-2], k.shape[-2]
            if causal and L != S:
                raise ValueError(f"causal needs L == S, got {L} and {S}")
            lead = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
            out = np.zeros((*lead, L, v.shape[-1]))
            lse = np.zeros((*lead, L))
            for qs in range(0, L, 256):  # query tiles of 256 rows
                qb = q[..., qs:qs + 256, :]
                rows = np.arange(qs, qs + qb.shape[-2])[:, None]
                m = np.full((*lead, qb.shape[-2]), -np.inf)
                l = np.zeros_like(m)
                o = np.zeros((*lead, qb.shape[-2], v.shape[-1]))  # kept normalised
                for ks in range(0, S, block_size):
                    kb, vb = k[..., ks:ks + block_size, :], v[..., ks:ks + block_size, :]
                    s = qb @ np.swapaxes(kb, -1, -2) / np.sqrt(q.shape[-1])
                    if causal:
                        s = np.where(np.arange(ks, ks + s.shape[-1]) <= rows, s, -np.inf)
                    m_b = s.max(axis=-1)
                    p = np.exp(s - np.where(np.isneginf(m_b), 0.0, m_b)[..., None])
                    l_b = p.sum(axis=-1)
                    m_new, l_new = merge_softmax_stats(m, l, m_b, l_b)
                    with np.errstate(invalid="ignore"):
                        a = np.nan_to_num(np.exp(m - m_new))
                        b = np.nan_to_num(np.exp(m_b - m_new))
                    o = ((l * a)[..., None] * o + b[..., None] * (p @ vb)) / l_new[..., None]
                    m, l = m_new, l_new
                out[..., qs:qs + 256, :] = o
                lse[..., qs:qs + 256] = m + np.log(l)
            return out, lse
        """,
    ),
    Variant(
        "merge through logaddexp",
        passes=True,
        replace=(
            (
                MERGE_L,
                "    log_l = np.logaddexp(m1 + np.log(l1), m2 + np.log(l2))\n"
                "    l = np.exp(log_l - m)  # noqa: E741\n",
            ),
        ),
    ),
    Variant(
        "blocks of scores, but a full (L, S) float64 causal mask made first (32 MiB at 2048)",
        passes=False,
        replace=(
            (
                "    rows = np.arange(seq_q)[:, None]  # (L, 1) query positions\n",
                "    rows = np.arange(seq_q)[:, None]  # (L, 1) query positions\n"
                "    bias = np.triu(np.full((seq_q, seq_k), -np.inf), 1) if causal else None\n",
            ),
            (BLOCK_MASK, "            scores = scores + bias[:, start:stop]\n"),
        ),
        message="holds a whole (L, S) causal mask",
    ),
]
