"""Known-wrong and correct-but-different versions of solutions/position_bias.py."""

from __future__ import annotations

from catalogue import Variant

UPPER_HALF = "        bucket += np.where(relative > 0, buckets, 0)  # future keys: the upper half\n"
CAUSAL_N = "        n = np.maximum(-relative, 0)\n"
MAX_EXACT = "    max_exact = buckets // 2\n"
FAR = (
    "    far = np.maximum(n, max_exact) / max_exact  # >= 1, so the log is >= 0 where it is used\n"
)
RATIO = "    ratio = np.log(far) / math.log(max_distance / max_exact)\n"
LARGE = (
    "    large = max_exact + (ratio * (buckets - max_exact)).astype(np.int64)  # values >= 0: "
    "truncated\n"
)
CAP = "    large = np.minimum(large, buckets - 1)\n"
BUCKET_RETURN = "    return bucket + np.where(n < max_exact, n, large)\n"
BIAS_OFFSETS = (
    "    relative = np.arange(key_len)[None, :] - np.arange(query_len)[:, None]  # (L, S): j - i\n"
)
EXTRA_SLOPES = (
    "    return np.concatenate([slopes, _power_of_two_slopes(2 * n)[0::2][: num_heads - n]])\n"
)
ALIBI_RETURN = "    return slopes[:, None, None] * relative[None, :, :]\n"
SCORES = "    scores = q @ np.swapaxes(k, -1, -2) / math.sqrt(q.shape[-1]) + bias  # (H, L, S)\n"
MASK = "        scores = np.where(np.tril(np.ones((length, keys), dtype=bool)), scores, -np.inf)\n"
LENGTH_CHECK = "    if causal and length != keys:\n"

WRONG: list[Variant] = [
    # --- t5_bucket --------------------------------------------------------------------------------
    Variant(
        "past keys in the upper half",
        passes=False,
        replace=((UPPER_HALF, UPPER_HALF.replace("relative > 0", "relative < 0")),),
        message="the past keys in the upper half",
    ),
    Variant(
        "the logarithm in the wrong place: log(n) / log(max_distance)",
        passes=False,
        replace=(
            (FAR, "    far = np.maximum(n, max_exact)\n"),
            (RATIO, "    ratio = np.log(far) / math.log(max_distance)\n"),
        ),
        message="the logarithm in the wrong place",
    ),
    Variant(
        "log2 over a natural log",
        passes=False,
        replace=((RATIO, RATIO.replace("np.log(far)", "np.log2(far)")),),
        message="two bases mixed",
    ),
    Variant(
        "no cap at buckets - 1",
        passes=False,
        replace=((CAP, ""),),
        message="no cap",
    ),
    Variant(
        "rounded instead of truncated",
        passes=False,
        replace=(
            (
                LARGE,
                LARGE.replace(
                    "(ratio * (buckets - max_exact))", "np.round(ratio * (buckets - max_exact))"
                ),
            ),
        ),
        message="rounded to the nearest",
    ),
    Variant(
        "causal buckets from |offset|",
        passes=False,
        replace=((CAUSAL_N, "        n = np.abs(relative)\n"),),
        message="causal buckets from |offset|",
    ),
    Variant(
        "max_exact from the full num_buckets",
        passes=False,
        replace=((MAX_EXACT, "    max_exact = num_buckets // 2\n"),),
        message="max_exact from the full num_buckets",
    ),
    Variant(
        "buckets as floats",
        passes=False,
        replace=(
            (BUCKET_RETURN, "    return 1.0 * (bucket + np.where(n < max_exact, n, large))\n"),
        ),
        message="not an integer array",
    ),
    # --- t5_bias ----------------------------------------------------------------------------------
    Variant(
        "the bias of query - key",
        passes=False,
        replace=(
            (
                BIAS_OFFSETS,
                "    relative = np.arange(query_len)[:, None] - np.arange(key_len)[None, :]\n",
            ),
        ),
        message="i - j (query - key)",
    ),
    # --- ALiBi ------------------------------------------------------------------------------------
    Variant(
        "slopes 2 ** (-8 (h + 1) / H) for every H",
        passes=False,
        code="""
        def alibi_slopes(num_heads):
            if num_heads < 1:
                raise ValueError(f"num_heads={num_heads}")
            return _power_of_two_slopes(num_heads)
        """,
        message="for every H",
    ),
    Variant(
        "the extra slopes from the odd positions",
        passes=False,
        replace=((EXTRA_SLOPES, EXTRA_SLOPES.replace("[0::2]", "[1::2]")),),
        message="odd positions",
    ),
    Variant(
        "Bloom's slopes * j",
        passes=False,
        replace=(
            (
                ALIBI_RETURN,
                "    return np.broadcast_to(slopes[:, None, None] * positions, "
                "(len(slopes), seq_len, seq_len))\n",
            ),
        ),
        message="the fairseq and Bloom form",
    ),
    Variant(
        "slopes * (i - j)",
        passes=False,
        replace=((ALIBI_RETURN, "    return -slopes[:, None, None] * relative[None, :, :]\n"),),
        message="slopes[h] * (i - j)",
    ),
    # --- attention_with_bias ----------------------------------------------------------------------
    Variant(
        "the sqrt(d) scale forgotten",
        passes=False,
        replace=((SCORES, "    scores = q @ np.swapaxes(k, -1, -2) + bias\n"),),
        message="no 1/sqrt(d) scaling",
    ),
    Variant(
        "the bias scaled too",
        passes=False,
        replace=(
            (SCORES, "    scores = (q @ np.swapaxes(k, -1, -2) + bias) / math.sqrt(q.shape[-1])\n"),
        ),
        message="the bias was scaled too",
    ),
    Variant(
        "causal ignored",
        passes=False,
        replace=((MASK, "        pass\n"),),
        message="did not mask the future",
    ),
    Variant(
        "no check of the lengths when causal",
        passes=False,
        replace=((LENGTH_CHECK, "    if False:\n"),),
        message="should raise ValueError",
    ),
]

RIGHT: list[Variant] = [
    Variant(
        "plain Python loops, math.log per offset",
        passes=True,
        code="""
        def _one_bucket(rel, bidirectional, num_buckets, max_distance):
            bucket = 0
            if bidirectional:
                num_buckets //= 2
                bucket += num_buckets if rel > 0 else 0
                n = abs(rel)
            else:
                n = max(-rel, 0)
            exact = num_buckets // 2
            if n < exact:
                return bucket + n
            ratio = math.log(n / exact) / math.log(max_distance / exact)
            return bucket + min(exact + int(ratio * (num_buckets - exact)), num_buckets - 1)

        def t5_bucket(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
            flat = np.asarray(relative_position).reshape(-1).tolist()
            out = [_one_bucket(r, bidirectional, num_buckets, max_distance) for r in flat]
            return np.array(out, dtype=np.int64).reshape(np.shape(relative_position))

        def alibi_bias(seq_len, num_heads):
            slopes = alibi_slopes(num_heads).tolist()
            return np.array(
                [[[s * (j - i) for j in range(seq_len)] for i in range(seq_len)] for s in slopes]
            ).reshape(num_heads, seq_len, seq_len)

        def attention_with_bias(q, k, v, bias, causal=False):
            if causal and q.shape[-2] != k.shape[-2]:
                raise ValueError(f"L={q.shape[-2]}, S={k.shape[-2]}")
            full = np.broadcast_to(bias, (q.shape[0], q.shape[1], k.shape[1]))
            out = np.zeros((q.shape[0], q.shape[1], v.shape[-1]))
            for h in range(q.shape[0]):
                for i in range(q.shape[1]):
                    keys = range(i + 1) if causal else range(k.shape[1])
                    s = [q[h, i] @ k[h, j] / math.sqrt(q.shape[-1]) + full[h, i, j] for j in keys]
                    w = np.exp(np.array(s) - max(s))
                    out[h, i] = (w / w.sum()) @ v[h, : len(w)]
            return out
        """,
    ),
    Variant(
        "torch inside: Hugging Face's T5 bucket in float32, the ALiBi authors' get_slopes, "
        "scaled_dot_product_attention with a float mask",
        passes=True,
        code="""
        import torch

        def t5_bucket(relative_position, bidirectional=True, num_buckets=32, max_distance=128):
            relative_position = torch.as_tensor(np.asarray(relative_position))
            relative_buckets = 0
            if bidirectional:
                num_buckets //= 2
                relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
                relative_position = torch.abs(relative_position)
            else:
                relative_position = -torch.min(
                    relative_position, torch.zeros_like(relative_position)
                )
            max_exact = num_buckets // 2
            is_small = relative_position < max_exact
            relative_position_if_large = max_exact + (
                torch.log(relative_position.float() / max_exact)
                / math.log(max_distance / max_exact)
                * (num_buckets - max_exact)
            ).to(torch.long)
            relative_position_if_large = torch.min(
                relative_position_if_large,
                torch.full_like(relative_position_if_large, num_buckets - 1),
            )
            relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
            return relative_buckets

        def alibi_slopes(num_heads):
            if num_heads < 1:
                raise ValueError(f"num_heads must be positive, got num_heads={num_heads}")

            def get_slopes(n):
                def get_slopes_power_of_2(n):
                    start = 2 ** (-(2 ** -(math.log2(n) - 3)))
                    ratio = start
                    return [start * ratio**i for i in range(n)]

                if math.log2(n).is_integer():
                    return get_slopes_power_of_2(n)
                closest_power_of_2 = 2 ** math.floor(math.log2(n))
                return (
                    get_slopes_power_of_2(closest_power_of_2)
                    + get_slopes(2 * closest_power_of_2)[0::2][: n - closest_power_of_2]
                )

            return torch.tensor(get_slopes(num_heads), dtype=torch.float64)

        def attention_with_bias(q, k, v, bias, causal=False):
            L, S = q.shape[-2], k.shape[-2]
            if causal and L != S:
                raise ValueError(f"causal needs L == S: L={L}, S={S}")
            mask = torch.as_tensor(np.asarray(bias, dtype=np.float64)).expand(q.shape[0], L, S)
            if causal:
                future = torch.ones(L, S, dtype=torch.bool).triu(1)
                mask = mask.masked_fill(future, float("-inf"))
            t = [torch.as_tensor(a) for a in (q, k, v)]
            return torch.nn.functional.scaled_dot_product_attention(*t, attn_mask=mask)
        """,
    ),
    Variant(
        "float32 numpy, einsum, and the bias as slopes * j - slopes * i",
        passes=True,
        code="""
        def alibi_bias(seq_len, num_heads):
            slopes = alibi_slopes(num_heads).astype(np.float32)[:, None, None]
            j = np.arange(seq_len, dtype=np.float32)
            return slopes * j[None, None, :] - slopes * j[None, :, None]

        def attention_with_bias(q, k, v, bias, causal=False):
            if causal and q.shape[-2] != k.shape[-2]:
                raise ValueError(f"L={q.shape[-2]} queries but S={k.shape[-2]} keys")
            q32, k32, v32 = (np.asarray(a, np.float32) for a in (q, k, v))
            s = np.einsum("hld,hsd->hls", q32, k32) / np.float32(np.sqrt(q.shape[-1]))
            s = s + np.asarray(bias, np.float32)
            if causal:
                s = np.where(np.tri(s.shape[-2], s.shape[-1], dtype=bool), s, -np.inf)
            w = np.exp(s - s.max(-1, keepdims=True))
            return np.einsum("hls,hsd->hld", w / w.sum(-1, keepdims=True), v32)
        """,
    ),
]

VARIANTS: list[Variant] = WRONG + RIGHT
