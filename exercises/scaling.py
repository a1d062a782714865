"""Scaling arithmetic: the back-of-the-envelope numbers an interviewer asks for.

Implement
- `training_flops`: the compute of a training run, 6 * N * D.
- `chinchilla_optimal`: the compute-optimal model size and token count for a budget.
- `forward_flops_per_token`: Kaplan et al.'s forward cost of one token, attention included.
- `attention_flops`: the FLOPs of one layer's two attention products.
- `training_days`: wall-clock days of a run on a GPU cluster.
- `model_flops_utilization`: the fraction of peak FLOP/s a run achieves (MFU).
- `kv_cache_bytes`: the memory of the keys and values kept while decoding.
- `zero_memory_per_gpu`: the training memory per GPU under ZeRO stages 0 to 3.

Conventions for the whole module
- N is the number of parameters, D the number of training tokens; both are plain numbers.
- A FLOP is one floating-point operation: a multiply-add is 2 FLOPs, so a (m, k) @ (k, n) matrix
  product costs 2 * m * k * n.
- Counts are of FLOPs, parameters and bytes, never GB or TB, however large. Two results are in
  other units: training_days in days of 86400 seconds, model_flops_utilization as a fraction.
- Arguments are plain Python numbers (sizes such as n_layers or batch are ints).
- Every result is one real scalar (a Python number, a numpy scalar, a 0-d array or tensor), not an
  array of shape (1,). Floats are compared with rtol=1e-6; kv_cache_bytes is an int and must be
  exact.

References
- Kaplan et al., "Scaling Laws for Neural Language Models" (2020), section 2.1 and table 1: the
  forward pass costs 2N + 2 n_layer n_ctx d FLOPs per token, training about 6N per token.
- Hoffmann et al., "Training Compute-Optimal Large Language Models" (2022), the Chinchilla paper:
  about 20 tokens per parameter; Chinchilla is 70B parameters trained on 1.4T tokens.
- Brown et al., "Language Models are Few-Shot Learners" (2020): GPT-3 175B, 300B tokens,
  3.14e23 training FLOPs.
- Chowdhery et al., "PaLM" (2022), appendix B: model FLOPs utilization.
- Rajbhandari et al., "ZeRO: Memory Optimizations Toward Training Trillion Parameter Models"
  (2020), figure 1: 16 bytes per parameter for mixed-precision Adam, and its 7.5B example.
"""

from __future__ import annotations

import numpy as np  # noqa: F401  (there if you want it: plain arithmetic is enough)


def training_flops(n_params: float, n_tokens: float) -> float:
    """FLOPs to train a model of `n_params` parameters on `n_tokens` tokens: 6 * N * D.

    Each token costs 2N in the forward pass (a multiply and an add per weight) and 4N in the
    backward pass (gradients with respect to the activations and to the weights, 2N each).
    Example: GPT-3, training_flops(175e9, 300e9) = 3.15e23 (the paper reports 3.14e23).
    """
    # TODO(scaling): return the forward plus backward FLOPs of N parameters over D tokens
    raise NotImplementedError


def chinchilla_optimal(compute: float, tokens_per_param: float = 20.0) -> tuple[float, float]:
    """The compute-optimal (n_params, n_tokens) for a budget of `compute` FLOPs.

    The N and D with 6 * N * D = compute and D = tokens_per_param * N (Chinchilla's rule of thumb
    is 20 tokens per parameter). Returns the tuple (n_params, n_tokens) in that order, both floats
    (not rounded). Example: chinchilla_optimal(1.2e20, 5.0) = (2e9, 1e10), since
    6 * 2e9 * 1e10 = 1.2e20 and 1e10 = 5 * 2e9.
    """
    # TODO(scaling): solve 6 * N * D = compute with D = tokens_per_param * N
    raise NotImplementedError


def forward_flops_per_token(
    n_params: float, n_layers: int, context_len: int, d_model: int
) -> float:
    """Kaplan et al.'s forward-pass FLOPs for one token.

    2 * n_params + 2 * n_layers * context_len * d_model (Kaplan et al. 2020, table 1): 2N for
    the weights (a multiply-add per parameter), plus Kaplan's attention term, the token's query
    against the context_len keys of the context in each of the n_layers layers. (Kaplan counts
    that one product per token, so this term is 2, not 4, times n_layers * context_len *
    d_model: keep it as written.) n_params is already the non-embedding N: no embeddings.
    Example: forward_flops_per_token(10_000, 3, 100, 16) = 20_000 + 9_600 = 29_600.
    """
    # TODO(scaling): the weights' term plus the attention term
    raise NotImplementedError


def attention_flops(seq_len: int, d_model: int) -> float:
    """FLOPs of one layer's q @ k^T and weights @ v for one sequence: 4 * seq_len**2 * d_model.

    All heads together (the heads split d_model, so their sum is the same as one wide head), and
    no causal halving (the masked half is computed too). q @ k^T is (L, d) @ (d, L): 2 * L * d * L;
    weights @ v is (L, L) @ (L, d): 2 * L * L * d. The projections by W_q, W_k, W_v, W_o are not
    included. Example: attention_flops(3, 2) = 36 + 36 = 72.
    """
    # TODO(scaling): add up the costs of the two matrix products
    raise NotImplementedError


def training_days(
    n_params: float, n_tokens: float, n_gpus: int, peak_flops_per_gpu: float, mfu: float
) -> float:
    """Wall-clock days to train: training_flops / (n_gpus * peak_flops_per_gpu * mfu) / 86400.

    peak_flops_per_gpu is in FLOP/s (an A100 does 312e12 in bf16); mfu is the fraction of that
    peak the run achieves (0.4 means 40%). A day is 86400 seconds.
    Example: training_days(1e9, 1.44e10, 10, 1e14, 0.5) = 8.64e19 / 5e14 / 86400 = 2.0.
    """
    # TODO(scaling): FLOPs / achieved FLOP/s gives seconds; convert to days
    raise NotImplementedError


def model_flops_utilization(
    n_params: float, tokens_per_second: float, n_gpus: int, peak_flops_per_gpu: float
) -> float:
    """The fraction of peak the training achieves: 6 * N * tokens_per_second / (n_gpus * peak).

    A fraction (0.5 means 50%), not a percentage. tokens_per_second is the throughput of the whole
    cluster; peak_flops_per_gpu is in FLOP/s.
    Example: model_flops_utilization(1e9, 1e5, 8, 1.5e14) = 6e14 / 1.2e15 = 0.5.
    """
    # TODO(scaling): achieved FLOP/s over the peak FLOP/s of all GPUs
    raise NotImplementedError


def kv_cache_bytes(
    batch: int,
    seq_len: int,
    n_layers: int,
    num_kv_heads: int,
    head_dim: int,
    bytes_per_value: int = 2,
) -> int:
    """Bytes of the KV cache: 2 * batch * seq_len * n_layers * num_kv_heads * head_dim * bytes.

    The 2 is for keys and values: every layer stores both, for every position of every sequence,
    for each of its num_kv_heads key/value heads (fewer than the query heads under grouped-query
    attention). bytes_per_value defaults to 2 (fp16 or bf16). An int, compared exactly (a float
    passes only when it is that whole number): keep the arithmetic in integers.
    Example: Llama-2-70B (80 layers, 8 KV heads of 128) at 4096 tokens in fp16,
    kv_cache_bytes(1, 4096, 80, 8, 128) = 1,342,177,280 bytes (1.25 GiB).
    """
    # TODO(scaling): multiply the sizes in integers (keys and values, every layer)
    raise NotImplementedError


def zero_memory_per_gpu(n_params: float, n_gpus: int, stage: int) -> float:
    """Bytes per GPU of weights, gradients and optimizer state under ZeRO, mixed-precision Adam.

    Per parameter: 2 bytes of fp16 weights, 2 bytes of fp16 gradients, 12 bytes of optimizer state
    (an fp32 master copy of the weights, Adam's m and v: 4 + 4 + 4). ZeRO partitions them over
    the n_gpus data-parallel GPUs, one more kind per stage:
      stage 0 (plain data parallelism)            16 * N
      stage 1 (optimizer state partitioned)       4 * N + 12 * N / n_gpus
      stage 2 (and the gradients)                 2 * N + 14 * N / n_gpus
      stage 3 (and the weights)                   16 * N / n_gpus
    Activations are not counted. Any other stage raises ValueError naming it.
    Example: zero_memory_per_gpu(1000, 4, 1) = 4000 + 12000 / 4 = 7000.
    """
    # TODO(scaling): one formula per stage; raise ValueError for any other stage
    raise NotImplementedError
