"""The answers of the parameterised numeric checks: a registry of named functions.

A check names its function in `formula`; the function receives the drawn numbers by the names the
check's `params` give them, and returns the answer in the unit the check's prompt states.
Conventions: one multiply-add is 2 FLOPs; GB is 10^9 bytes; logarithms are natural unless a name
says bits.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

Params = Mapping[str, float]
FORMULAS: dict[str, Callable[[Params], float]] = {}
GB = 1e9
DAY = 86_400


def formula(function: Callable[[Params], float]) -> Callable[[Params], float]:
    FORMULAS[function.__name__] = function
    return function


def _softmax(logits: list[float], temperature: float = 1.0) -> list[float]:
    peak = max(logits)
    weights = [math.exp((x - peak) / temperature) for x in logits]
    return [w / sum(weights) for w in weights]


# attention
@formula
def score_flops(p: Params) -> float:
    """QK^T for one head: n x n dot products of length d."""
    return 2 * p["n"] ** 2 * p["d"]


@formula
def attention_flops(p: Params) -> float:
    """QK^T and the weighted sum of V, over all heads (h * d_head = d)."""
    return 4 * p["n"] ** 2 * p["d"]


@formula
def score_matrix_gb(p: Params) -> float:
    return p["batch"] * p["heads"] * p["n"] ** 2 * p["bytes"] / GB


@formula
def dot_variance(p: Params) -> float:
    """q.k with independent zero-mean components of variances vq and vk."""
    return p["d_k"] * p["vq"] * p["vk"]


@formula
def scaled_dot_std(p: Params) -> float:
    """q.k / sqrt(d_k): the d_k cancels."""
    return math.sqrt(p["vq"] * p["vk"])


@formula
def unscaled_dot_std(p: Params) -> float:
    return math.sqrt(p["d_k"])


@formula
def softmax_top(p: Params) -> float:
    return max(_softmax([p["a"], p["b"], p["c"]]))


@formula
def softmax_top_temperature(p: Params) -> float:
    return max(_softmax([p["a"], p["b"], p["c"]], p["t"]))


@formula
def head_dim(p: Params) -> float:
    return p["d"] / p["h"]


@formula
def attention_params(p: Params) -> float:
    """W_Q, W_K, W_V, W_O with their biases."""
    return 4 * p["d"] ** 2 + 4 * p["d"]


@formula
def masked_entries(p: Params) -> float:
    """Scores a causal mask hides: the strict upper triangle."""
    return p["n"] * (p["n"] - 1) / 2


# inference
@formula
def kv_cache_gb(p: Params) -> float:
    return 2 * p["layers"] * p["kv_heads"] * p["d_head"] * p["n"] * p["batch"] * p["bytes"] / GB


@formula
def kv_cache_max_batch(p: Params) -> float:
    per_sequence = 2 * p["layers"] * p["kv_heads"] * p["d_head"] * p["n"] * p["bytes"]
    return math.floor(p["memory_gb"] * GB / per_sequence)


@formula
def gqa_saving(p: Params) -> float:
    return p["heads"] / p["kv_heads"]


@formula
def kv_projections_without_cache(p: Params) -> float:
    """K and V rows computed to generate `new` tokens after a prompt of `prompt` tokens when
    every step recomputes the whole prefix (the step for token t sees t - 1 tokens)."""
    return sum(range(int(p["prompt"]), int(p["prompt"] + p["new"])))


@formula
def mla_ratio(p: Params) -> float:
    """Full keys and values per token per layer against one shared latent of size c."""
    return 2 * p["heads"] * p["d_head"] / p["c"]


@formula
def beam_candidates(p: Params) -> float:
    return p["beam"] * p["vocab"]


# parameters
@formula
def ffn_params(p: Params) -> float:
    return 2 * p["d"] * p["d_ff"] + p["d_ff"] + p["d"]


@formula
def block_params(p: Params) -> float:
    """Attention, FFN and two LayerNorms, with biases."""
    d, d_ff = p["d"], p["d_ff"]
    return 4 * d * d + 4 * d + 2 * d * d_ff + d_ff + d + 4 * d


@formula
def model_params_billion(p: Params) -> float:
    """Blocks without biases or norms (12 d^2 with d_ff = 4d) and a tied embedding."""
    return (12 * p["layers"] * p["d"] ** 2 + p["vocab"] * p["d"]) / 1e9


@formula
def embedding_params_million(p: Params) -> float:
    return p["vocab"] * p["d"] / 1e6


@formula
def layernorm_params(p: Params) -> float:
    return 2 * p["d"] * p["norms"]


@formula
def lora_params_million(p: Params) -> float:
    return p["layers"] * p["matrices"] * p["r"] * 2 * p["d"] / 1e6


@formula
def lora_percent(p: Params) -> float:
    return 100 * p["r"] * (p["d_in"] + p["d_out"]) / (p["d_in"] * p["d_out"])


# training
@formula
def chinchilla_tokens_billion(p: Params) -> float:
    return 20 * p["params_billion"]


@formula
def chinchilla_params_billion(p: Params) -> float:
    """C = 6 N D with D = 20 N."""
    return math.sqrt(p["flops"] / 120) / 1e9


@formula
def training_flops(p: Params) -> float:
    return 6 * p["params_billion"] * 1e9 * p["tokens_billion"] * 1e9


@formula
def training_days(p: Params) -> float:
    work = 6 * p["params_billion"] * 1e9 * p["tokens_billion"] * 1e9
    return work / (p["gpus"] * p["peak_tflops"] * 1e12 * p["mfu"]) / DAY


@formula
def mfu_percent(p: Params) -> float:
    used = 6 * p["params_billion"] * 1e9 * p["tokens_per_second"]
    return 100 * used / (p["gpus"] * p["peak_tflops"] * 1e12)


@formula
def zero1_gb(p: Params) -> float:
    """Mixed-precision Adam: 2 bytes weights, 2 gradients, 12 optimizer state per parameter."""
    psi = p["params_billion"] * 1e9
    return (4 * psi + 12 * psi / p["gpus"]) / GB


@formula
def zero2_gb(p: Params) -> float:
    psi = p["params_billion"] * 1e9
    return (2 * psi + 14 * psi / p["gpus"]) / GB


@formula
def zero3_gb(p: Params) -> float:
    return 16 * p["params_billion"] * 1e9 / p["gpus"] / GB


@formula
def noam_lr(p: Params) -> float:
    t, warmup = p["step"], p["warmup"]
    return math.pow(p["d"], -0.5) * min(math.pow(t, -0.5), t * math.pow(warmup, -1.5))


@formula
def linear_warmup_lr(p: Params) -> float:
    return p["peak"] * min(1.0, p["step"] / p["warmup"])


@formula
def momentum_step(p: Params) -> float:
    return p["w"] - p["lr"] * (p["beta"] * p["v"] + p["g"])


@formula
def gradient_step(p: Params) -> float:
    """One step on L = (w x - y)^2."""
    return p["w"] - p["lr"] * 2 * (p["w"] * p["x"] - p["y"]) * p["x"]


@formula
def rnn_gradient_factor(p: Params) -> float:
    return math.pow(p["factor"], p["steps"])


# probability and vectors
@formula
def entropy_nats(p: Params) -> float:
    probs = (p["p1"], p["p2"], 1 - p["p1"] - p["p2"])
    return -sum(q * math.log(q) for q in probs)


@formula
def max_entropy_bits(p: Params) -> float:
    return math.log2(p["n"])


@formula
def cross_entropy_nats(p: Params) -> float:
    return -math.log(p["p"])


@formula
def perplexity(p: Params) -> float:
    return math.exp(p["loss"])


@formula
def kl_bernoulli(p: Params) -> float:
    a, b = p["p"], p["q"]
    return a * math.log(a / b) + (1 - a) * math.log((1 - a) / (1 - b))


@formula
def cosine(p: Params) -> float:
    a, b = (p["a1"], p["a2"], p["a3"]), (p["b1"], p["b2"], p["b3"])
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    return dot / (math.hypot(*a) * math.hypot(*b))


@formula
def scalar_projection(p: Params) -> float:
    return (p["a1"] * p["b1"] + p["a2"] * p["b2"]) / math.hypot(p["b1"], p["b2"])


@formula
def l1_norm(p: Params) -> float:
    return abs(p["x"]) + abs(p["y"]) + abs(p["z"])


@formula
def l2_norm(p: Params) -> float:
    return math.sqrt(p["x"] ** 2 + p["y"] ** 2 + p["z"] ** 2)


@formula
def posterior(p: Params) -> float:
    hit = p["sensitivity"] * p["prior"]
    return hit / (hit + p["false_positive"] * (1 - p["prior"]))


@formula
def matmul_flops(p: Params) -> float:
    return 2 * p["n"] * p["d"] * p["m"]


@formula
def low_rank_storage(p: Params) -> float:
    return p["n"] * p["r"] + p["r"] * p["m"]


@formula
def sigmoid(p: Params) -> float:
    return 1 / (1 + math.exp(-p["z"]))


@formula
def sinusoid(p: Params) -> float:
    """PE(pos, 2i) = sin(pos / 10000^(2i/d))."""
    return math.sin(p["pos"] / 10_000 ** (2 * p["i"] / p["d"]))


@formula
def rope_angle(p: Params) -> float:
    return p["pos"] * math.pow(10_000, -2 * p["i"] / p["d"])


@formula
def rms_first(p: Params) -> float:
    return p["x1"] / math.sqrt((p["x1"] ** 2 + p["x2"] ** 2) / 2)


# tokens and language models
@formula
def bpe_vocab(p: Params) -> float:
    return p["base"] + p["merges"]


@formula
def ce_from_perplexity(p: Params) -> float:
    return math.log(p["ppl"])
