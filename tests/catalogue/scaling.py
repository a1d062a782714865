"""Known-wrong and correct-but-different versions of solutions/scaling.py."""

from __future__ import annotations

from catalogue import Variant

FLOPS = "    return 6.0 * n_params * n_tokens  # forward 2ND + backward 4ND\n"
CHIN_N = (
    "    n_params = np.sqrt(compute / (6.0 * tokens_per_param))  # 6 * N * (tpp * N) = compute\n"
)
CHIN_RETURN = "    return float(n_params), float(tokens_per_param * n_params)\n"
FORWARD = "    return 2.0 * n_params + 2.0 * n_layers * context_len * d_model\n"
ATTENTION = "    return 2.0 * seq_len * d_model * seq_len + 2.0 * seq_len * seq_len * d_model\n"
SECONDS = "    seconds = training_flops(n_params, n_tokens) / (n_gpus * peak_flops_per_gpu * mfu)\n"
DAYS = "    return seconds / 86400  # 24 * 60 * 60 seconds a day\n"
MFU = "    return 6.0 * n_params * tokens_per_second / (n_gpus * peak_flops_per_gpu)\n"
KV = "    return 2 * batch * seq_len * n_layers * num_kv_heads * head_dim * bytes_per_value\n"
STAGE_0 = "        return 16.0 * n_params\n"
STAGE_1 = "        return 4.0 * n_params + 12.0 * n_params / n_gpus\n"
STAGE_2 = "        return 2.0 * n_params + 14.0 * n_params / n_gpus\n"
STAGE_3 = "        return 16.0 * n_params / n_gpus\n"
RAISE = (
    '    raise ValueError(f"stage must be 0, 1, 2 or 3 (the ZeRO stages), got stage={stage!r}")\n'
)

VARIANTS: list[Variant] = [
    # --- training_flops ---------------------------------------------------------------------
    Variant(
        "training flops 2ND (forward only)",
        passes=False,
        replace=((FLOPS, "    return 2.0 * n_params * n_tokens\n"),),
        message="counts only the forward pass",
    ),
    Variant(
        "training flops 8ND (recomputation counted)",
        passes=False,
        replace=((FLOPS, "    return 8.0 * n_params * n_tokens\n"),),
        message="adds a recomputed forward pass",
    ),
    Variant(
        "training flops returned with shape (1,)",
        passes=False,
        replace=((FLOPS, "    return np.array([6.0 * n_params * n_tokens])\n"),),
        message="not an array: np.array([x]) or keepdims=True makes shape (1,)",
    ),
    # --- chinchilla_optimal -----------------------------------------------------------------
    Variant(
        "chinchilla D = N / 20",
        passes=False,
        replace=(
            (CHIN_N, "    n_params = np.sqrt(compute * tokens_per_param / 6.0)\n"),
            (CHIN_RETURN, "    return float(n_params), float(n_params / tokens_per_param)\n"),
        ),
        message="D = N / tokens_per_param",
    ),
    Variant(
        "chinchilla results swapped",
        passes=False,
        replace=(
            (CHIN_RETURN, "    return float(tokens_per_param * n_params), float(n_params)\n"),
        ),
        message="the two results swapped",
    ),
    Variant(
        "chinchilla without the square root",
        passes=False,
        replace=((CHIN_N, "    n_params = compute / (6.0 * tokens_per_param)\n"),),
        message="without the square root",
    ),
    Variant(
        "chinchilla with 20 hard-coded",
        passes=False,
        replace=((CHIN_N, "    n_params = np.sqrt(compute / (6.0 * 20))\n"),),
        message="tokens_per_param ignored",
    ),
    Variant(
        "chinchilla from 2ND",
        passes=False,
        replace=((CHIN_N, "    n_params = np.sqrt(compute / (2.0 * tokens_per_param))\n"),),
        message="compute = 2 * N * D used",
    ),
    # --- forward_flops_per_token ------------------------------------------------------------
    Variant(
        "forward flops without the attention term",
        passes=False,
        replace=((FORWARD, "    return 2.0 * n_params\n"),),
        message="the attention term 2 * n_layers * context_len * d_model left out",
    ),
    Variant(
        "forward flops with both attention products",
        passes=False,
        replace=(
            (FORWARD, "    return 2.0 * n_params + 4.0 * n_layers * context_len * d_model\n"),
        ),
        message="the attention term doubled",
    ),
    Variant(
        "forward flops 6N per token",
        passes=False,
        replace=(
            (FORWARD, "    return 6.0 * n_params + 2.0 * n_layers * context_len * d_model\n"),
        ),
        message="6 * N is the training cost per token",
    ),
    # --- attention_flops --------------------------------------------------------------------
    Variant(
        "attention flops with causal halving",
        passes=False,
        replace=((ATTENTION, "    return 4.0 * seq_len**2 * d_model / 2  # causal: half\n"),),
        message="a causal halving",
    ),
    Variant(
        "attention flops with seq_len and d_model swapped",
        passes=False,
        replace=((ATTENTION, "    return 4.0 * seq_len * d_model**2\n"),),
        message="seq_len and d_model swapped",
    ),
    Variant(
        "attention flops with the projections",
        passes=False,
        replace=(
            (ATTENTION, "    return 4.0 * seq_len**2 * d_model + 8.0 * seq_len * d_model**2\n"),
        ),
        message="the projections W_q, W_k, W_v, W_o",
    ),
    # --- training_days ----------------------------------------------------------------------
    Variant(
        "training days computed as hours",
        passes=False,
        replace=((DAYS, "    return seconds / 3600\n"),),
        message="days computed as hours",
    ),
    Variant(
        "training days without mfu",
        passes=False,
        replace=(
            (
                SECONDS,
                "    seconds = training_flops(n_params, n_tokens)"
                " / (n_gpus * peak_flops_per_gpu)\n",
            ),
        ),
        message="mfu left out",
    ),
    Variant(
        "training days dividing by mfu the wrong way",
        passes=False,
        replace=(
            (
                SECONDS,
                "    seconds = training_flops(n_params, n_tokens) / (n_gpus * peak_flops_per_gpu"
                " / mfu)\n",
            ),
        ),
        message="divided by mfu the wrong way",
    ),
    Variant(
        "training days are GPU-days",
        passes=False,
        replace=(
            (
                SECONDS,
                "    seconds = training_flops(n_params, n_tokens) / (peak_flops_per_gpu * mfu)\n",
            ),
        ),
        message="these are GPU-days",
    ),
    # --- model_flops_utilization ------------------------------------------------------------
    Variant(
        "mfu as a percentage",
        passes=False,
        replace=(
            (
                MFU,
                "    return 100 * 6.0 * n_params * tokens_per_second"
                " / (n_gpus * peak_flops_per_gpu)\n",
            ),
        ),
        message="returned a percentage",
    ),
    Variant(
        "mfu from 2N per token",
        passes=False,
        replace=(
            (
                MFU,
                "    return 2.0 * n_params * tokens_per_second / (n_gpus * peak_flops_per_gpu)\n",
            ),
        ),
        message="training does 6 * N FLOPs per token",
    ),
    Variant(
        "mfu without n_gpus",
        passes=False,
        replace=((MFU, "    return 6.0 * n_params * tokens_per_second / peak_flops_per_gpu\n"),),
        message="tokens_per_second is the whole cluster's",
    ),
    # --- kv_cache_bytes ---------------------------------------------------------------------
    Variant(
        "kv cache without the factor 2",
        passes=False,
        replace=(
            (
                KV,
                "    return batch * seq_len * n_layers * num_kv_heads * head_dim"
                " * bytes_per_value\n",
            ),
        ),
        message="without the factor 2",
    ),
    Variant(
        "kv cache counts values, not bytes",
        passes=False,
        replace=((KV, "    return 2 * batch * seq_len * n_layers * num_kv_heads * head_dim\n"),),
        message="counted values, not bytes",
    ),
    Variant(
        "kv cache with a default of 4 bytes",
        passes=False,
        replace=(("    bytes_per_value: int = 2,\n", "    bytes_per_value: int = 4,\n"),),
        message="default is 2 (fp16 or bf16), not 4",
    ),
    Variant(
        "kv cache for one layer",
        passes=False,
        replace=(
            (KV, "    return 2 * batch * seq_len * num_kv_heads * head_dim * bytes_per_value\n"),
        ),
        message="one layer only",
    ),
    Variant(
        "kv cache in GiB",
        passes=False,
        replace=((KV, "    return " + KV.strip()[len("return ") :] + " / 2**30\n"),),
        message="returned GiB",
    ),
    # --- zero_memory_per_gpu ----------------------------------------------------------------
    Variant(
        "zero stages 1 and 2 swapped",
        passes=False,
        replace=(
            (STAGE_1, "        return 2.0 * n_params + 14.0 * n_params / n_gpus  # (swapped)\n"),
            (STAGE_2, "        return 4.0 * n_params + 12.0 * n_params / n_gpus\n"),
        ),
        message="ZeRO stages mixed up: stage 1 computed as stage 2",
    ),
    Variant(
        "zero optimizer state of 8 bytes",
        passes=False,
        replace=(
            (STAGE_0, "        return 12.0 * n_params\n"),
            (STAGE_1, "        return 4.0 * n_params + 8.0 * n_params / n_gpus\n"),
            (STAGE_2, "        return 2.0 * n_params + 10.0 * n_params / n_gpus\n"),
            (STAGE_3, "        return 12.0 * n_params / n_gpus\n"),
        ),
        message="fp32 master copy of the weights",
    ),
    Variant(
        "zero stage 0 divided by n_gpus",
        passes=False,
        replace=((STAGE_0, "        return 16.0 * n_params / n_gpus\n"),),
        message="stage 0 is plain data parallelism",
    ),
    Variant(
        "zero in GB",
        passes=False,
        code="""
        _bytes = zero_memory_per_gpu


        def zero_memory_per_gpu(n_params, n_gpus, stage):
            return _bytes(n_params, n_gpus, stage) / 1e9
        """,
        message="returned GB",
    ),
    Variant(
        "zero without the stage check (else: stage 3)",
        passes=False,
        replace=(("    if stage == 3:\n" + STAGE_3, "    return 16.0 * n_params / n_gpus\n"),),
        message="only stages 0, 1, 2 and 3 exist",
    ),
    Variant(
        "zero as a list indexed by stage",
        passes=False,
        code="""
        def zero_memory_per_gpu(n_params, n_gpus, stage):
            table = [
                16.0 * n_params,
                4.0 * n_params + 12.0 * n_params / n_gpus,
                2.0 * n_params + 14.0 * n_params / n_gpus,
                16.0 * n_params / n_gpus,
            ]
            if stage >= len(table):
                raise ValueError(f"no ZeRO stage {stage}")
            return table[stage]
        """,
        message="a list indexed by stage takes -1 as its last item",
    ),
    Variant(
        "zero error message without the stage",
        passes=False,
        replace=((RAISE, '    raise ValueError("unknown ZeRO stage")\n'),),
        message="does not name the offending stage",
    ),
    Variant(
        "zero assert instead of ValueError",
        passes=False,
        replace=((RAISE, '    assert False, f"stage {stage}"\n'),),
        message="not `assert`",
    ),
    # --- found in public code (issue 26) ------------------------------------------------------
    Variant(
        "DeepSpeed's ZeRO-2 count, fp32 gradients kept",
        passes=False,
        replace=(
            (
                "        return 2.0 * n_params + 14.0 * n_params / n_gpus\n",
                "        return 2.0 * n_params + 18.0 * n_params / n_gpus\n",
            ),
        ),
        message="DeepSpeed's count with fp32 gradients kept",
    ),
    Variant(
        "training days from 8 * N * D (a recomputed forward pass)",
        passes=False,
        replace=(
            (
                SECONDS,
                "    seconds = 8.0 * n_params * n_tokens / (n_gpus * peak_flops_per_gpu * mfu)\n",
            ),
        ),
        message="8 * N * D counts a recomputed forward pass",
    ),
    Variant(
        "chinchilla's tokens returned as N (D = tokens_per_param * N forgotten)",
        passes=False,
        replace=((CHIN_RETURN, "    return float(n_params), float(n_params)\n"),),
        message="the second result is N again",
    ),
    # --- correct, but different ---------------------------------------------------------------
    Variant(
        "torch inside, tensors returned",
        passes=True,
        code="""
        import torch


        def _t(x):
            return torch.tensor(float(x), dtype=torch.float64)


        def training_flops(n_params, n_tokens):
            return 6 * _t(n_params) * _t(n_tokens)


        def chinchilla_optimal(compute, tokens_per_param=20.0):
            n = torch.sqrt(_t(compute) / (6 * _t(tokens_per_param)))
            return n, _t(tokens_per_param) * n


        def forward_flops_per_token(n_params, n_layers, context_len, d_model):
            return 2 * _t(n_params) + 2 * _t(n_layers) * _t(context_len) * _t(d_model)


        def attention_flops(seq_len, d_model):
            q = torch.empty(seq_len, d_model, device="meta")  # shapes only, no memory
            scores = q @ q.T  # (L, L)
            out = scores @ q  # (L, d)
            flops = 2 * q.shape[0] * q.shape[1] * scores.shape[1]
            flops += 2 * scores.shape[0] * scores.shape[1] * out.shape[1]
            return torch.tensor(flops, dtype=torch.float64)


        def training_days(n_params, n_tokens, n_gpus, peak_flops_per_gpu, mfu):
            rate = _t(n_gpus) * _t(peak_flops_per_gpu) * _t(mfu)
            return training_flops(n_params, n_tokens) / rate / 86400


        def model_flops_utilization(n_params, tokens_per_second, n_gpus, peak_flops_per_gpu):
            achieved = 6 * _t(n_params) * _t(tokens_per_second)
            return achieved / (_t(n_gpus) * _t(peak_flops_per_gpu))


        def kv_cache_bytes(batch, seq_len, n_layers, num_kv_heads, head_dim, bytes_per_value=2):
            sizes = torch.tensor([2, batch, seq_len, n_layers, num_kv_heads, head_dim,
                                  bytes_per_value], dtype=torch.int64)
            return torch.prod(sizes)  # a 0-d int64 tensor


        def zero_memory_per_gpu(n_params, n_gpus, stage):
            if stage not in (0, 1, 2, 3):
                raise ValueError(f"ZeRO has stages 0 to 3, not {stage}")
            per_param = torch.tensor([2.0, 2.0, 12.0], dtype=torch.float64)  # w, g, optimizer
            split = torch.tensor([stage >= 3, stage >= 2, stage >= 1], dtype=torch.float64)
            share = split / n_gpus + (1 - split)
            return _t(n_params) * (per_param * share).sum()
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        f32 = np.float32


        def training_flops(n_params, n_tokens):
            return f32(6) * f32(n_params) * f32(n_tokens)


        def chinchilla_optimal(compute, tokens_per_param=20.0):
            n = np.sqrt(f32(compute) / (f32(6) * f32(tokens_per_param)))
            return n, f32(tokens_per_param) * n


        def forward_flops_per_token(n_params, n_layers, context_len, d_model):
            return f32(2) * f32(n_params) + f32(2 * n_layers * context_len * d_model)


        def attention_flops(seq_len, d_model):
            return f32(4) * f32(seq_len) ** 2 * f32(d_model)


        def training_days(n_params, n_tokens, n_gpus, peak_flops_per_gpu, mfu):
            rate = f32(n_gpus) * f32(peak_flops_per_gpu) * f32(mfu)
            return training_flops(n_params, n_tokens) / rate / f32(86400)


        def model_flops_utilization(n_params, tokens_per_second, n_gpus, peak_flops_per_gpu):
            achieved = f32(6) * f32(n_params) * f32(tokens_per_second)
            return achieved / (f32(n_gpus) * f32(peak_flops_per_gpu))


        def zero_memory_per_gpu(n_params, n_gpus, stage):
            n, g = f32(n_params), f32(n_gpus)
            formulas = {0: 16 * n, 1: 4 * n + 12 * n / g, 2: 2 * n + 14 * n / g, 3: 16 * n / g}
            if stage not in formulas:
                raise ValueError(f"stage={stage} is not a ZeRO stage (0, 1, 2 or 3)")
            return formulas[stage]
        """,
    ),
    Variant(
        "loops, a bisection and timedelta",
        passes=True,
        code="""
        import datetime
        import math


        def training_flops(n_params, n_tokens):
            forward, backward = 2 * n_params * n_tokens, 4 * n_params * n_tokens
            return forward + backward


        def chinchilla_optimal(compute, tokens_per_param=20.0):
            # bisection on log N for 6 * tpp * N**2 = compute
            low, high = 0.0, math.log(compute) + 1.0
            for _ in range(200):
                mid = (low + high) / 2
                if 6 * tokens_per_param * math.exp(2 * mid) < compute:
                    low = mid
                else:
                    high = mid
            n = math.exp((low + high) / 2)
            return [n, tokens_per_param * n]  # a list is fine too


        def forward_flops_per_token(n_params, n_layers, context_len, d_model):
            total = 2 * n_params
            for _ in range(n_layers):
                total += 2 * context_len * d_model  # this layer's query-key products
            return total


        def attention_flops(seq_len, d_model):
            products = [((seq_len, d_model), (d_model, seq_len)),  # q @ k^T
                        ((seq_len, seq_len), (seq_len, d_model))]  # weights @ v
            return sum(2 * m * k * n for (m, k), (_, n) in products)


        def training_days(n_params, n_tokens, n_gpus, peak_flops_per_gpu, mfu):
            seconds = training_flops(n_params, n_tokens) / (n_gpus * peak_flops_per_gpu * mfu)
            return datetime.timedelta(seconds=seconds) / datetime.timedelta(days=1)


        def kv_cache_bytes(batch, seq_len, n_layers, num_kv_heads, head_dim, bytes_per_value=2):
            total = 1
            for size in (2, batch, seq_len, n_layers, num_kv_heads, head_dim, bytes_per_value):
                total *= size
            return float(total)  # a float that is the whole number passes


        def zero_memory_per_gpu(n_params, n_gpus, stage):
            parts = {"weights": (2, 3), "gradients": (2, 2), "optimizer": (12, 1)}
            if stage not in range(4):
                raise ValueError(f"stage {stage} does not exist: ZeRO has stages 0, 1, 2, 3")
            total = 0.0
            for per_param, from_stage in parts.values():
                share = 1 / n_gpus if stage >= from_stage else 1
                total += per_param * n_params * share
            return total
        """,
    ),
    Variant(
        "numpy scalars and 0-d arrays",
        passes=True,
        code="""
        _days = training_days
        _kv = kv_cache_bytes


        def training_days(n_params, n_tokens, n_gpus, peak_flops_per_gpu, mfu):
            return np.asarray(_days(n_params, n_tokens, n_gpus, peak_flops_per_gpu, mfu))


        def kv_cache_bytes(batch, seq_len, n_layers, num_kv_heads, head_dim, bytes_per_value=2):
            sizes = [2, batch, seq_len, n_layers, num_kv_heads, head_dim, bytes_per_value]
            return np.prod(np.array(sizes, dtype=np.int64))


        def chinchilla_optimal(compute, tokens_per_param=20.0):
            n = np.sqrt(np.float64(compute) / (6 * tokens_per_param))
            return np.array(n), np.float64(tokens_per_param) * n
        """,
    ),
]
