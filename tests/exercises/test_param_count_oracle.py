"""The param_count solution against a GPT-2-style model built from torch modules.

The oracle is `sum(p.numel() for p in model.parameters())` (a tied lm_head shares the embedding's
weight, so `parameters()` yields it once) and the numel of each submodule for the breakdown.
Models are built on the meta device: shapes without memory, so GPT-2 medium costs nothing.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from torch import nn

from transformer_kit.graders.fixtures import param_count as fixtures
from transformer_kit.solutions import param_count as solution

KEYS = fixtures.KEYS


class Block(nn.Module):
    """Pre-LayerNorm GPT-2 block: x + attn(ln_1(x)), then x + mlp(ln_2(x))."""

    def __init__(self, d_model: int, n_heads: int, d_ff: int, bias: bool) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(d_model)  # scale and shift, whatever `bias` says
        self.attn = nn.MultiheadAttention(d_model, n_heads, bias=bias, batch_first=True)
        self.ln_2 = nn.LayerNorm(d_model)
        self.mlp = nn.Sequential(
            nn.Linear(d_model, d_ff, bias=bias), nn.GELU(), nn.Linear(d_ff, d_model, bias=bias)
        )


class GPT(nn.Module):
    def __init__(
        self,
        vocab_size: int,
        d_model: int,
        n_layers: int,
        n_heads: int,
        d_ff: int,
        max_seq_len: int = 0,
        bias: bool = True,
        tied_embeddings: bool = True,
    ) -> None:
        super().__init__()
        self.wte = nn.Embedding(vocab_size, d_model)
        self.wpe = nn.Embedding(max_seq_len, d_model) if max_seq_len else None
        self.blocks = nn.ModuleList(Block(d_model, n_heads, d_ff, bias) for _ in range(n_layers))
        self.ln_f = nn.LayerNorm(d_model)
        self.lm_head = nn.Linear(d_model, vocab_size, bias=False)
        if tied_embeddings:
            self.lm_head.weight = self.wte.weight


def build(*args: int, **kwargs: object) -> GPT:
    with torch.device("meta"):
        return GPT(*args, **kwargs)  # type: ignore[arg-type]


def numel(module: nn.Module | None, skip: tuple[torch.Tensor, ...] = ()) -> int:
    if module is None:
        return 0
    return sum(p.numel() for p in module.parameters() if not any(p is s for s in skip))


def oracle_total(model: GPT) -> int:
    return sum(p.numel() for p in model.parameters())


def oracle_breakdown(model: GPT) -> dict[str, int]:
    return {
        "token_embedding": numel(model.wte),
        "position_embedding": numel(model.wpe),
        "attention": sum(numel(block.attn) for block in model.blocks),
        "mlp": sum(numel(block.mlp) for block in model.blocks),
        "layernorm": sum(numel(b.ln_1) + numel(b.ln_2) for b in model.blocks) + numel(model.ln_f),
        "lm_head": numel(model.lm_head, skip=(model.wte.weight,)),
    }


SIZES = [
    (10, 4, 1, 2, 8),  # the hand-counted tiny model
    (7, 6, 2, 3, 10),
    (33, 9, 2, 1, 7),  # one head
    (97, 12, 4, 12, 5),  # d_k = 1, d_ff < d_model
    (1000, 64, 3, 4, 96),  # d_ff != 4 * d_model
    (50257, 768, 12, 12, 3072),  # GPT-2 small
    (50257, 1024, 24, 16, 4096),  # GPT-2 medium
]
FLAGS = list(itertools.product([0, 17, 1024], [True, False], [True, False]))


@pytest.mark.parametrize("sizes", SIZES, ids=lambda s: "-".join(map(str, s)))
def test_total_and_breakdown_match_torch_model(sizes: tuple[int, ...]) -> None:
    for max_seq_len, bias, tied in FLAGS:
        kwargs = {"max_seq_len": max_seq_len, "bias": bias, "tied_embeddings": tied}
        model = build(*sizes, **kwargs)
        breakdown = solution.parameter_breakdown(*sizes, **kwargs)
        assert breakdown == oracle_breakdown(model), (sizes, kwargs)
        assert list(breakdown) == KEYS
        assert solution.count_parameters(*sizes, **kwargs) == oracle_total(model), (sizes, kwargs)
        assert sum(oracle_breakdown(model).values()) == oracle_total(model)


@pytest.mark.parametrize("seed", range(6))
def test_random_sizes_match_torch_model(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n_heads = int(rng.integers(1, 9))
    sizes = (
        int(rng.integers(2, 5000)),
        n_heads * int(rng.integers(1, 33)),
        int(rng.integers(1, 9)),
        n_heads,
        int(rng.integers(1, 1000)),
    )
    kwargs = {
        "max_seq_len": int(rng.integers(0, 3)) * int(rng.integers(1, 2048)),
        "bias": bool(rng.integers(2)),
        "tied_embeddings": bool(rng.integers(2)),
    }
    model = build(*sizes, **kwargs)
    assert solution.parameter_breakdown(*sizes, **kwargs) == oracle_breakdown(model)
    assert solution.count_parameters(*sizes, **kwargs) == oracle_total(model)


def test_types_are_python_ints() -> None:
    breakdown = solution.parameter_breakdown(50257, 768, 12, 12, 3072, max_seq_len=1024)
    assert all(type(v) is int for v in breakdown.values())
    assert type(solution.count_parameters(50257, 768, 12, 12, 3072)) is int


def test_torch_encoder_layer_is_one_block() -> None:
    """nn.TransformerEncoderLayer (norm_first) is a GPT-2 block: attention + mlp + 2 LayerNorms."""
    for d_model, n_heads, d_ff in [(4, 2, 8), (768, 12, 3072), (12, 3, 5)]:
        with torch.device("meta"):
            layer = nn.TransformerEncoderLayer(d_model, n_heads, d_ff, norm_first=True)
        one = solution.parameter_breakdown(10, d_model, 1, n_heads, d_ff)
        per_block = one["attention"] + one["mlp"] + one["layernorm"] - 2 * d_model  # minus ln_f
        assert numel(layer) == per_block


def test_published_gpt2_sizes() -> None:
    """The totals Hugging Face's GPT2LMHeadModel.num_parameters() reports (tied, with biases)."""
    published = {
        (50257, 768, 12, 12, 3072): 124_439_808,  # gpt2
        (50257, 1024, 24, 16, 4096): 354_823_168,  # gpt2-medium
        (50257, 1280, 36, 20, 5120): 774_030_080,  # gpt2-large
        (50257, 1600, 48, 25, 6400): 1_557_611_200,  # gpt2-xl
    }
    for sizes, total in published.items():
        assert solution.count_parameters(*sizes, max_seq_len=1024) == total, sizes
        assert oracle_total(build(*sizes, max_seq_len=1024)) == total, sizes


def test_kaplan_formula_without_biases() -> None:
    """Kaplan et al.: 12 * n_layers * d_model**2 non-embedding weights when d_ff = 4 * d_model."""
    for vocab, d_model, n_layers, n_heads in [(50257, 768, 12, 12), (100, 8, 3, 2), (5, 6, 7, 3)]:
        total = solution.count_parameters(
            vocab, d_model, n_layers, n_heads, 4 * d_model, bias=False
        )
        layernorms = (2 * n_layers + 1) * 2 * d_model
        assert total == vocab * d_model + 12 * n_layers * d_model**2 + layernorms


def test_not_divisible_raises_like_torch() -> None:
    for d_model, n_heads in [*fixtures.NOT_DIVISIBLE, (12, 5), (7, 2)]:
        with pytest.raises(AssertionError), torch.device("meta"):
            nn.MultiheadAttention(d_model, n_heads)  # torch rejects these heads too
        for function in (solution.parameter_breakdown, solution.count_parameters):
            with pytest.raises(ValueError, match=rf"d_model={d_model}.*n_heads={n_heads}"):
                function(50, d_model, 2, n_heads, 4 * d_model)


def test_hand_fixtures() -> None:
    args, kwargs = fixtures.GPT2_SMALL_ARGS, fixtures.GPT2_SMALL_KWARGS
    assert solution.parameter_breakdown(*args, **kwargs) == fixtures.GPT2_SMALL_BREAKDOWN
    assert sum(fixtures.GPT2_SMALL_BREAKDOWN.values()) == fixtures.GPT2_SMALL_TOTAL
    assert oracle_total(build(*args, **kwargs)) == fixtures.GPT2_SMALL_TOTAL
    variants = {
        "tied_embeddings": (False, fixtures.GPT2_SMALL_UNTIED_TOTAL),
        "bias": (False, fixtures.GPT2_SMALL_NO_BIAS_TOTAL),
        "max_seq_len": (0, fixtures.GPT2_SMALL_NO_POSITIONS_TOTAL),
    }
    for name, (value, total) in variants.items():
        changed = {**kwargs, name: value}
        assert solution.count_parameters(*args, **changed) == total, name
        assert oracle_total(build(*args, **changed)) == total, name
    for case in fixtures.TINY_CASES:
        args, kwargs = case["args"], case["kwargs"]
        assert sum(case["breakdown"].values()) == case["total"], case["id"]
        assert solution.parameter_breakdown(*args, **kwargs) == case["breakdown"], case["id"]
        assert solution.count_parameters(*args, **kwargs) == case["total"], case["id"]
        assert oracle_breakdown(build(*args, **kwargs)) == case["breakdown"], case["id"]
