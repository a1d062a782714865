"""The scaling solution against independent oracles.

- torch's FLOP counter (`torch.utils.flop_counter.FlopCounterMode`, 2 FLOPs per multiply-add) on
  real matrix products: the forward and backward pass of a bias-free linear model (6 * N * D),
  one token's forward pass (2 * N + Kaplan's attention term) and one layer's attention products.
- torch tensors for memory: a KV cache built as tensors of the given dtype, and the bytes of
  mixed-precision Adam read from a real `torch.optim.Adam` after one step.
- Exact rational arithmetic (`fractions.Fraction`): every formula evaluated with no rounding.
- The defining equations, for chinchilla_optimal: 6 * N * D = compute and D = tokens_per_param * N.
- Published figures: GPT-3's 3.14e23 training FLOPs, Chinchilla's 70B parameters and 1.4T tokens
  for 5.76e23 FLOPs, Llama-2-70B's KV cache at 4096 tokens in fp16 (1,342,177,280 bytes), the ZeRO
  paper's 7.5B-parameter model on 64 GPUs (120 / 31.4 / 16.6 / 1.9 GB), PaLM 540B's MFU.
Every hand fixture of the grader is checked against these too.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Callable
from fractions import Fraction

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from transformer_kit.graders.fixtures import scaling as fixtures
from transformer_kit.solutions import scaling as solution

RTOL = 1e-12  # the reference is plain float64 arithmetic: far tighter than the grader's 1e-6


def close(got: float, expected: float | Fraction, rtol: float = RTOL) -> bool:
    return math.isclose(float(got), float(expected), rel_tol=rtol, abs_tol=0.0)


def flops_of(run: Callable[[], object]) -> int:
    with FlopCounterMode(display=False) as counter:
        run()
    return counter.get_total_flops()


# ---------------------------------------------------------------------------------------------
# Exact formulas (Fraction: no rounding anywhere)


def exact_training_flops(n: float, d: float) -> Fraction:
    return 6 * Fraction(n) * Fraction(d)


def exact_forward(n: float, layers: int, context: int, width: int) -> Fraction:
    return 2 * Fraction(n) + 2 * layers * context * width


def exact_attention(seq_len: int, width: int) -> Fraction:
    return Fraction(4 * seq_len**2 * width)


def exact_days(n: float, d: float, gpus: int, peak: float, mfu: float) -> Fraction:
    seconds = exact_training_flops(n, d) / (gpus * Fraction(peak) * Fraction(mfu))
    return seconds / (24 * 60 * 60)


def exact_mfu(n: float, tps: float, gpus: int, peak: float) -> Fraction:
    return 6 * Fraction(n) * Fraction(tps) / (gpus * Fraction(peak))


def exact_kv(batch: int, seq: int, layers: int, heads: int, dim: int, per_value: int = 2) -> int:
    return 2 * batch * seq * layers * heads * dim * per_value


def exact_zero(n: float, gpus: int, stage: int) -> Fraction:
    weights, grads, optimizer = 2 * Fraction(n), 2 * Fraction(n), 12 * Fraction(n)
    partitioned = {0: (), 1: ("o",), 2: ("o", "g"), 3: ("o", "g", "w")}[stage]
    return (
        weights / (gpus if "w" in partitioned else 1)
        + grads / (gpus if "g" in partitioned else 1)
        + optimizer / (gpus if "o" in partitioned else 1)
    )


def random_cases(seed: int, count: int = 20) -> list[dict[str, float]]:
    rng = np.random.default_rng(seed)
    return [
        {
            "n": float(np.exp(rng.uniform(np.log(1e6), np.log(1e12)))),
            "d": float(np.exp(rng.uniform(np.log(1e8), np.log(1e13)))),
            "gpus": int(rng.integers(1, 8193)),
            "peak": float(rng.choice([125e12, 312e12, 989e12])),
            "mfu": float(rng.uniform(0.05, 0.8)),
            "layers": int(rng.integers(1, 129)),
            "context": int(rng.integers(1, 131073)),
            "width": int(rng.integers(1, 16385)),
        }
        for _ in range(count)
    ]


@pytest.mark.parametrize("seed", range(3))
def test_formulas_match_exact_arithmetic(seed: int) -> None:
    for c in random_cases(seed):
        n, d, gpus, peak, mfu = c["n"], c["d"], c["gpus"], c["peak"], c["mfu"]
        assert close(solution.training_flops(n, d), exact_training_flops(n, d))
        args = (n, c["layers"], c["context"], c["width"])
        assert close(solution.forward_flops_per_token(*args), exact_forward(*args))
        assert close(
            solution.attention_flops(c["context"], c["width"]),
            exact_attention(c["context"], c["width"]),
        )
        assert close(
            solution.training_days(n, d, gpus, peak, mfu), exact_days(n, d, gpus, peak, mfu)
        )
        tps = d / 1e6  # some throughput
        assert close(
            solution.model_flops_utilization(n, tps, gpus, peak), exact_mfu(n, tps, gpus, peak)
        )
        for stage in range(4):
            assert close(solution.zero_memory_per_gpu(n, gpus, stage), exact_zero(n, gpus, stage))


@pytest.mark.parametrize("seed", range(3))
def test_kv_cache_is_an_exact_int(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        sizes = [int(rng.integers(1, 1 << 12)) for _ in range(5)]
        per_value = int(rng.choice([1, 2, 4, 8]))
        got = solution.kv_cache_bytes(*sizes, bytes_per_value=per_value)
        assert type(got) is int and got == exact_kv(*sizes, per_value)
    assert solution.kv_cache_bytes(1, 2, 3, 4, 5) == exact_kv(1, 2, 3, 4, 5, 2)  # default: 2


# ---------------------------------------------------------------------------------------------
# The defining equations of chinchilla_optimal


@pytest.mark.parametrize("seed", range(3))
def test_chinchilla_solves_its_equations(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(50):
        compute = float(np.exp(rng.uniform(np.log(1e15), np.log(1e28))))
        tpp = float(rng.uniform(0.5, 200.0))
        n, d = solution.chinchilla_optimal(compute, tpp)
        assert close(6 * n * d, compute, rtol=1e-12)
        assert close(d / n, tpp, rtol=1e-12)
        assert n > 0 and d > 0
    n, d = solution.chinchilla_optimal(1.2e20)  # default tokens_per_param = 20
    assert close(d / n, 20.0) and close(6 * n * d, 1.2e20)


# ---------------------------------------------------------------------------------------------
# torch: FLOPs counted on real matrix products


def linear_model(widths: list[int]) -> nn.Sequential:
    layers = [nn.Linear(a, b, bias=False) for a, b in itertools.pairwise(widths)]
    return nn.Sequential(*layers).double()


@pytest.mark.parametrize("widths, tokens", [([6, 10, 4], 7), ([16, 64, 64, 16], 32), ([3, 5], 1)])
def test_training_flops_is_torchs_forward_and_backward(widths: list[int], tokens: int) -> None:
    model = linear_model(widths)
    n = sum(p.numel() for p in model.parameters())
    x = torch.randn(tokens, widths[0], dtype=torch.float64, requires_grad=True)
    forward = flops_of(lambda: model(x))
    total = flops_of(lambda: model(x).sum().backward())
    assert forward == 2 * n * tokens  # a multiply-add is 2 FLOPs
    assert total == solution.training_flops(n, tokens)  # backward = 4ND: 2ND for x, 2ND for w


@pytest.mark.parametrize("layers, context, width", [(3, 100, 16), (2, 7, 4), (4, 1, 8)])
def test_forward_flops_per_token_is_torchs_count(layers: int, context: int, width: int) -> None:
    """One token through n_layers blocks of four d x d projections and an MLP; Kaplan's attention
    term is the token's query against the context's keys (q @ K^T)."""
    torch.manual_seed(0)
    blocks = [linear_model([width, width]) for _ in range(4 * layers)]
    blocks += [linear_model([width, 4 * width, width]) for _ in range(layers)]
    n = sum(p.numel() for block in blocks for p in block.parameters())
    keys = [torch.randn(context, width, dtype=torch.float64) for _ in range(layers)]
    token = torch.randn(1, width, dtype=torch.float64)

    def forward() -> None:
        for block in blocks:
            block(token)
        for k in keys:
            token @ k.T  # (1, d) @ (d, context)

    assert flops_of(forward) == solution.forward_flops_per_token(n, layers, context, width)


@pytest.mark.parametrize("seq_len, width", [(3, 2), (5, 8), (1024, 768), (17, 3)])
def test_attention_flops_is_torchs_count(seq_len: int, width: int) -> None:
    with torch.device("meta"):  # shapes only: the count needs no memory
        q, k, v = (torch.empty(seq_len, width) for _ in range(3))

        def attend() -> None:
            weights = torch.softmax(q @ k.T, dim=-1)  # (L, L)
            weights @ v  # (L, d)

        assert flops_of(attend) == solution.attention_flops(seq_len, width)


@pytest.mark.parametrize("heads", [1, 4])
def test_attention_flops_all_heads_together(heads: int) -> None:
    """Split into heads, q @ k^T and weights @ v cost the same as one wide head."""
    seq_len, width = 12, 8
    with torch.device("meta"):
        q, k, v = (torch.empty(1, heads, seq_len, width // heads) for _ in range(3))
        total = flops_of(lambda: torch.softmax(q @ k.transpose(-1, -2), -1) @ v)
    assert total == solution.attention_flops(seq_len, width)


# ---------------------------------------------------------------------------------------------
# torch: bytes of real tensors


@pytest.mark.parametrize(
    "sizes, dtype",
    [
        ((3, 3, 4, 5, 6), torch.float16),
        ((3, 7, 3, 1, 5), torch.int8),
        ((1, 10, 3, 2, 4), torch.float32),
        ((1, 4096, 80, 8, 128), torch.bfloat16),
        ((8, 512, 32, 32, 128), torch.float64),
    ],
)
def test_kv_cache_is_the_bytes_of_torch_tensors(sizes: tuple[int, ...], dtype: torch.dtype) -> None:
    batch, seq_len, layers, heads, dim = sizes
    with torch.device("meta"):
        cache = [
            (torch.empty(batch, heads, seq_len, dim, dtype=dtype),) * 2  # keys, values
            for _ in range(layers)
        ]
    nbytes = sum(t.numel() * t.element_size() for pair in cache for t in pair)
    per_value = torch.empty((), dtype=dtype).element_size()
    assert solution.kv_cache_bytes(*sizes, bytes_per_value=per_value) == nbytes


def test_sixteen_bytes_per_parameter_from_torch_adam() -> None:
    """fp16 weights and gradients, an fp32 master copy and Adam's two fp32 moments."""
    model = nn.Linear(10, 7).half()
    master = [p.detach().float().requires_grad_() for p in model.parameters()]
    optimizer = torch.optim.Adam(master)
    for p in master:
        p.grad = torch.ones_like(p)
    optimizer.step()
    for p in model.parameters():
        p.grad = torch.ones_like(p)
    n = sum(p.numel() for p in model.parameters())
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    grads = sum(p.grad.numel() * p.grad.element_size() for p in model.parameters())
    state = sum(p.numel() * p.element_size() for p in master)
    state += sum(
        value.numel() * value.element_size()
        for per_param in optimizer.state.values()
        for key, value in per_param.items()
        if key in ("exp_avg", "exp_avg_sq")
    )
    assert (weights, grads, state) == (2 * n, 2 * n, 12 * n)
    assert solution.zero_memory_per_gpu(n, 1, 0) == weights + grads + state
    for gpus in (2, 8, 64):  # each stage partitions one more kind over the GPUs
        assert close(solution.zero_memory_per_gpu(n, gpus, 1), weights + grads + state / gpus)
        assert close(solution.zero_memory_per_gpu(n, gpus, 2), weights + (grads + state) / gpus)
        assert close(solution.zero_memory_per_gpu(n, gpus, 3), (weights + grads + state) / gpus)


@pytest.mark.parametrize("stage", [4, -1, 7, 100])
def test_zero_other_stages_raise(stage: int) -> None:
    with pytest.raises(ValueError, match=str(stage)):
        solution.zero_memory_per_gpu(1e9, 8, stage)


# ---------------------------------------------------------------------------------------------
# Published figures


def test_gpt3_training_flops() -> None:
    """Brown et al. (2020), table D.1: GPT-3 175B, 300B tokens, 3.14e23 FLOPs."""
    assert close(solution.training_flops(175e9, 300e9), 3.14e23, rtol=0.005)


def test_chinchilla_70b_on_1_4t_tokens() -> None:
    """Hoffmann et al. (2022): Gopher's budget of 5.76e23 FLOPs buys Chinchilla, 70B
    parameters on 1.4T tokens (the paper counts FLOPs more finely than 6ND: 2% apart)."""
    n, d = solution.chinchilla_optimal(5.76e23)
    assert close(n, 70e9, rtol=0.02) and close(d, 1.4e12, rtol=0.02)
    assert close(solution.training_flops(70e9, 1.4e12), 5.76e23, rtol=0.025)


def test_llama2_70b_kv_cache() -> None:
    """Llama-2-70B: 80 layers, 8 KV heads (grouped-query) of 128, at 4096 tokens in fp16."""
    assert solution.kv_cache_bytes(1, 4096, 80, 8, 128) == 1_342_177_280
    assert solution.kv_cache_bytes(1, 4096, 80, 8, 128) == 1.25 * 2**30  # 1.25 GiB
    assert solution.kv_cache_bytes(1, 4096, 80, 64, 128) == 8 * 1_342_177_280  # without GQA


def test_zero_paper_figure_1() -> None:
    """Rajbhandari et al. (2020), figure 1: 7.5B parameters, 64 GPUs, K = 12."""
    published_gb = [120, 31.4, 16.6, 1.9]
    got_gb = [solution.zero_memory_per_gpu(7.5e9, 64, stage) / 1e9 for stage in range(4)]
    assert [round(value, 1) for value in got_gb] == published_gb


def test_palm_mfu() -> None:
    """Chowdhery et al. (2022), table 3: PaLM 540B at 238.3K tokens/s on 6144 TPU v4 chips
    (275e12 bf16 FLOP/s each) reaches 46.2% MFU; its count adds attention FLOPs to 6N,
    so 6N alone gives 45.7%."""
    mfu = solution.model_flops_utilization(540e9, 238.3e3, 6144, 275e12)
    assert close(mfu, 0.462, rtol=0.02) and mfu < 0.462


# ---------------------------------------------------------------------------------------------
# The grader's hand fixtures, against the oracles


def test_fixtures_against_exact_arithmetic() -> None:
    for args, _, expected in fixtures.TRAINING_FLOPS:
        assert close(expected, exact_training_flops(*args))
    for args, _, expected in fixtures.FORWARD:
        assert close(expected, exact_forward(*args))
    for args, _, expected in fixtures.ATTENTION:
        assert close(expected, exact_attention(*args))
    for args, _, expected in fixtures.TRAINING_DAYS:
        assert close(expected, exact_days(*args))
    for args, _, expected in fixtures.MFU:
        assert close(expected, exact_mfu(*args))
    for args, kwargs, expected in fixtures.KV_CACHE:
        sizes = list(args) + [kwargs.get("bytes_per_value", 2)] * (len(args) == 5)
        assert expected == exact_kv(*sizes)
    for args, _, expected in fixtures.ZERO:
        assert close(expected, exact_zero(*args))


def test_chinchilla_fixtures_solve_the_equations() -> None:
    for args, kwargs, (n, d) in fixtures.CHINCHILLA:
        compute = args[0]
        tpp = args[1] if len(args) > 1 else kwargs.get("tokens_per_param", 20.0)
        assert close(6 * n * d, compute, rtol=1e-12) and close(d / n, tpp, rtol=1e-12)


def test_fixtures_against_torch_counts() -> None:
    for (seq_len, width), _, expected in fixtures.ATTENTION:
        with torch.device("meta"):
            q, k, v = (torch.empty(seq_len, width) for _ in range(3))
            assert flops_of(lambda q=q, k=k, v=v: (q @ k.T) @ v) == expected
    for args, kwargs, expected in fixtures.KV_CACHE:
        batch, seq_len, layers, heads, dim, *rest = args
        per_value = rest[0] if rest else kwargs.get("bytes_per_value", 2)
        dtype = {1: torch.int8, 2: torch.float16, 4: torch.float32}[per_value]
        with torch.device("meta"):
            one = torch.empty(batch, heads, seq_len, dim, dtype=dtype)
        assert 2 * layers * one.numel() * one.element_size() == expected


def test_fixtures_match_published_figures() -> None:
    gpt3 = dict((args, expected) for args, _, expected in fixtures.TRAINING_FLOPS)
    assert close(gpt3[(175e9, 300e9)], 3.14e23, rtol=0.005)
    (chinchilla,) = [e for a, _, e in fixtures.CHINCHILLA if a == (5.76e23,)]
    assert close(chinchilla[0], 70e9, rtol=0.02) and close(chinchilla[1], 1.4e12, rtol=0.02)
    (llama,) = [e for a, _, e in fixtures.KV_CACHE if a == (1, 4096, 80, 8, 128)]
    assert llama == 1_342_177_280
    paper = [e for a, _, e in fixtures.ZERO if a[:2] == (7.5e9, 64)]
    assert [round(value / 1e9, 1) for value in paper] == [120, 31.4, 16.6, 1.9]


def test_fixtures_match_the_solution() -> None:
    pairs = [
        (solution.training_flops, fixtures.TRAINING_FLOPS),
        (solution.forward_flops_per_token, fixtures.FORWARD),
        (solution.attention_flops, fixtures.ATTENTION),
        (solution.training_days, fixtures.TRAINING_DAYS),
        (solution.model_flops_utilization, fixtures.MFU),
        (solution.zero_memory_per_gpu, fixtures.ZERO),
    ]
    for function, cases in pairs:
        for args, kwargs, expected in cases:
            assert close(function(*args, **kwargs), expected), (function.__name__, args)
    for args, kwargs, expected in fixtures.KV_CACHE:
        assert solution.kv_cache_bytes(*args, **kwargs) == expected
    for args, kwargs, expected in fixtures.CHINCHILLA:
        assert np.allclose(solution.chinchilla_optimal(*args, **kwargs), expected, rtol=1e-12)
