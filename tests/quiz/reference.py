"""The quiz's numeric answers, worked out again independently of transformer_kit.quiz.formulas:
from the definitions (numpy arrays, explicit loops and sums where the kit uses closed forms), so
a slip in either shows as a disagreement. Keyed by formula name; every value in the unit the
check's prompt states."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np

P = Mapping[str, float]
GIGA = 10**9


def _softmax(logits: list[float]) -> np.ndarray:
    e = np.exp(np.asarray(logits, dtype=np.float64) - max(logits))
    return e / e.sum()


def _kv_bytes_per_sequence(p: P) -> float:
    per_token_per_layer = 2 * p["kv_heads"] * p["d_head"]  # one key and one value per KV head
    return per_token_per_layer * p["layers"] * p["n"] * p["bytes"]


def _ffn(d: float, d_ff: float) -> float:
    up = d * d_ff + d_ff  # weights and bias into the hidden layer
    down = d_ff * d + d  # and back out
    return up + down


def _zero_bytes(p: P, sharded: set[str]) -> float:
    """Per GPU: fp16 weights (2 B), fp16 gradients (2 B), fp32 Adam state (4 + 4 + 4 B)."""
    psi = p["params_billion"] * GIGA
    parts = {"weights": 2 * psi, "gradients": 2 * psi, "optimizer": 12 * psi}
    return sum(size / p["gpus"] if name in sharded else size for name, size in parts.items())


def _six_nd(p: P) -> float:
    return 6 * (p["params_billion"] * GIGA) * (p["tokens_billion"] * GIGA)


REFERENCE: dict[str, Callable[[P], float]] = {
    "score_flops": lambda p: 2 * p["d"] * p["n"] * p["n"],
    "attention_flops": lambda p: 2 * (2 * p["n"] * p["n"] * p["d"]),
    "score_matrix_gb": lambda p: p["n"] * p["n"] * p["heads"] * p["batch"] * p["bytes"] / GIGA,
    "dot_variance": lambda p: float(np.sum(np.full(int(p["d_k"]), p["vq"] * p["vk"]))),
    "scaled_dot_std": lambda p: math.sqrt(p["d_k"] * p["vq"] * p["vk"]) / math.sqrt(p["d_k"]),
    "unscaled_dot_std": lambda p: float(np.sqrt(np.sum(np.ones(int(p["d_k"]))))),
    "softmax_top": lambda p: float(_softmax([p["a"], p["b"], p["c"]]).max()),
    "softmax_top_temperature": lambda p: float(
        _softmax([p["a"] / p["t"], p["b"] / p["t"], p["c"] / p["t"]]).max()
    ),
    "head_dim": lambda p: p["d"] / p["h"],
    "attention_params": lambda p: 4 * (p["d"] * p["d"] + p["d"]),
    "masked_entries": lambda p: float(np.triu(np.ones((int(p["n"]), int(p["n"]))), k=1).sum()),
    "kv_cache_gb": lambda p: _kv_bytes_per_sequence(p) * p["batch"] / GIGA,
    "kv_cache_max_batch": lambda p: float(p["memory_gb"] * GIGA // _kv_bytes_per_sequence(p)),
    "gqa_saving": lambda p: (2 * p["heads"]) / (2 * p["kv_heads"]),
    "kv_projections_without_cache": lambda p: float(
        sum(p["prompt"] + step for step in range(int(p["new"])))
    ),
    "mla_ratio": lambda p: (p["heads"] * p["d_head"] + p["heads"] * p["d_head"]) / p["c"],
    "beam_candidates": lambda p: p["vocab"] * p["beam"],
    "ffn_params": lambda p: _ffn(p["d"], p["d_ff"]),
    "block_params": lambda p: (
        (4 * p["d"] * p["d"] + 4 * p["d"]) + _ffn(p["d"], p["d_ff"]) + 2 * (2 * p["d"])
    ),
    "model_params_billion": lambda p: (
        (p["layers"] * (4 * p["d"] ** 2 + 2 * p["d"] * (4 * p["d"])) + p["d"] * p["vocab"]) / GIGA
    ),
    "embedding_params_million": lambda p: p["d"] * p["vocab"] / 10**6,
    "layernorm_params": lambda p: p["norms"] * (p["d"] + p["d"]),
    "lora_params_million": lambda p: (
        p["layers"] * p["matrices"] * (p["d"] * p["r"] + p["r"] * p["d"]) / 10**6
    ),
    "lora_percent": lambda p: (
        (p["d_in"] * p["r"] + p["r"] * p["d_out"]) / (p["d_in"] * p["d_out"]) * 100
    ),
    "chinchilla_tokens_billion": lambda p: p["params_billion"] * 20,
    "chinchilla_params_billion": lambda p: _solve_chinchilla(p["flops"]) / GIGA,
    "training_flops": _six_nd,
    "training_days": lambda p: (
        _six_nd(p) / (p["mfu"] * p["peak_tflops"] * 10**12 * p["gpus"]) / (24 * 3600)
    ),
    "mfu_percent": lambda p: (
        6
        * p["params_billion"]
        * GIGA
        * p["tokens_per_second"]
        / (p["peak_tflops"] * 10**12 * p["gpus"])
        * 100
    ),
    "zero1_gb": lambda p: _zero_bytes(p, {"optimizer"}) / GIGA,
    "zero2_gb": lambda p: _zero_bytes(p, {"optimizer", "gradients"}) / GIGA,
    "zero3_gb": lambda p: _zero_bytes(p, {"optimizer", "gradients", "weights"}) / GIGA,
    "noam_lr": lambda p: (
        (1 / math.sqrt(p["d"]))
        * (1 / math.sqrt(p["step"]) if p["step"] >= p["warmup"] else p["step"] / p["warmup"] ** 1.5)
    ),
    "linear_warmup_lr": lambda p: (
        p["peak"] * p["step"] / p["warmup"] if p["step"] < p["warmup"] else p["peak"]
    ),
    "momentum_step": lambda p: _momentum(p),
    "gradient_step": lambda p: _gradient_step(p),
    "rnn_gradient_factor": lambda p: math.prod([p["factor"]] * int(p["steps"])),
    "entropy_nats": lambda p: float(
        -sum(q * np.log(q) for q in (p["p1"], p["p2"], 1 - p["p1"] - p["p2"]))
    ),
    "max_entropy_bits": lambda p: float(
        -sum((1 / p["n"]) * math.log2(1 / p["n"]) for _ in range(int(p["n"])))
    ),
    "cross_entropy_nats": lambda p: math.log(1 / p["p"]),
    "perplexity": lambda p: math.e ** p["loss"],
    "kl_bernoulli": lambda p: _kl([p["p"], 1 - p["p"]], [p["q"], 1 - p["q"]]),
    "cosine": lambda p: _cosine([p["a1"], p["a2"], p["a3"]], [p["b1"], p["b2"], p["b3"]]),
    "scalar_projection": lambda p: float(
        np.dot([p["a1"], p["a2"]], [p["b1"], p["b2"]]) / np.linalg.norm([p["b1"], p["b2"]])
    ),
    "l1_norm": lambda p: float(np.linalg.norm([p["x"], p["y"], p["z"]], ord=1)),
    "l2_norm": lambda p: float(np.linalg.norm([p["x"], p["y"], p["z"]])),
    "posterior": lambda p: _bayes(p["prior"], p["sensitivity"], p["false_positive"]),
    "matmul_flops": lambda p: float(
        2 * np.prod([p["n"], p["m"]]) * p["d"]  # N*M outputs, D multiply-adds each
    ),
    "low_rank_storage": lambda p: p["n"] * p["r"] + p["m"] * p["r"],
    "sigmoid": lambda p: math.exp(p["z"]) / (1 + math.exp(p["z"])),
    "sinusoid": lambda p: math.sin(p["pos"] * math.exp(-math.log(10_000) * 2 * p["i"] / p["d"])),
    "rope_angle": lambda p: p["pos"] / 10_000 ** (2 * p["i"] / p["d"]),
    "rms_first": lambda p: p["x1"] / float(np.sqrt(np.mean(np.square([p["x1"], p["x2"]])))),
    "bpe_vocab": lambda p: float(len(range(int(p["base"]))) + int(p["merges"])),
    "ce_from_perplexity": lambda p: math.log(p["ppl"]),
}


def _solve_chinchilla(flops: float) -> float:
    """N with 6 N (20 N) = C, by bisection (not the closed form)."""
    low, high = 1.0, 1e15
    for _ in range(200):
        middle = (low + high) / 2
        low, high = (middle, high) if 120 * middle * middle < flops else (low, middle)
    return (low + high) / 2


def _momentum(p: P) -> float:
    velocity = p["beta"] * p["v"] + p["g"]
    return p["w"] - p["lr"] * velocity


def _gradient_step(p: P) -> float:
    prediction = p["w"] * p["x"]
    d_loss_d_prediction = 2 * (prediction - p["y"])
    return p["w"] - p["lr"] * d_loss_d_prediction * p["x"]


def _kl(p: list[float], q: list[float]) -> float:
    cross = -sum(a * math.log(b) for a, b in zip(p, q, strict=True))
    entropy = -sum(a * math.log(a) for a in p)
    return cross - entropy


def _cosine(a: list[float], b: list[float]) -> float:
    return float(np.dot(a, b) / (np.linalg.norm(a) * np.linalg.norm(b)))


def _bayes(prior: float, sensitivity: float, false_positive: float) -> float:
    population = 1_000_000
    sick = population * prior
    true_positives = sick * sensitivity
    false_positives = (population - sick) * false_positive
    return true_positives / (true_positives + false_positives)


def _attention_by_hand() -> float:
    q = k = np.eye(2)
    v = np.array([[1.0, 2.0], [3.0, 4.0]])
    scores = q @ k.T / np.sqrt(2)
    weights = np.exp(scores) / np.exp(scores).sum(axis=1, keepdims=True)
    return float((weights @ v)[0, 0])


def _three_steps() -> float:
    w = 5.0
    for _ in range(3):
        w -= 0.1 * 2 * (w * 2 - 2) * 2
    return w


def _mlp_forward() -> float:
    hidden = np.maximum(np.array([[0.5, -0.5], [0.5, 0.5]]) @ np.array([1.0, 2.0]), 0)
    return float((np.array([[1.0, 1.0]]) @ hidden)[0])


def _mlp_backward_w2_second() -> float:
    x = np.array([1.0, 2.0])
    w1, w2 = np.array([[0.5, -0.5], [0.5, 0.5]]), np.array([1.0, 1.0])
    hidden = np.maximum(w1 @ x, 0)
    d_loss_d_y = 2 * (w2 @ hidden - 1.0)
    return float((d_loss_d_y * hidden)[1])


# the checks with one fixed answer, by id
FIXED: dict[str, Callable[[], float]] = {
    "attention.attention-by-hand": _attention_by_hand,
    "math.gd-three-steps": _three_steps,
    "math.mlp-forward": _mlp_forward,
    "math.mlp-backward": _mlp_backward_w2_second,
}
