"""The `moe` reference against independent oracles: Hugging Face's Mixtral router, expert loop and
`load_balancing_loss_func` transcribed into torch (transformers 4.38 to 4.46,
src/transformers/models/mixtral/modeling_mixtral.py: `MixtralSparseMoeBlock.forward` and
`load_balancing_loss_func` without an attention mask), Mistral's reference order (top-k on the
logits, then a softmax; mistral-inference's `MoeLayer`), plain loops over tokens and experts, the
Switch/GShard cumsum dispatch, exact fractions for the capacity, and the hand fixtures."""

from __future__ import annotations

import math
from fractions import Fraction

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from transformer_kit.graders.fixtures import moe as fixtures
from transformer_kit.solutions import moe as solution


def hf_router(router_logits: torch.Tensor, top_k: int) -> tuple[torch.Tensor, torch.Tensor]:
    """MixtralSparseMoeBlock.forward's routing, as transformers writes it."""
    routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float)
    routing_weights, selected_experts = torch.topk(routing_weights, top_k, dim=-1)
    routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
    return routing_weights, selected_experts


def hf_moe_block(x: np.ndarray, w_router: np.ndarray, experts: list, top_k: int) -> np.ndarray:
    """MixtralSparseMoeBlock.forward in float64 with the kit's experts relu(x @ w1) @ w2 (Mixtral's
    own experts are SwiGLU; the routing and the index_add_ loop are transformers')."""
    hidden_states = torch.tensor(x)
    router_logits = hidden_states @ torch.tensor(w_router)
    routing_weights = F.softmax(router_logits, dim=1, dtype=torch.float64)
    routing_weights, selected_experts = torch.topk(routing_weights, top_k, dim=-1)
    routing_weights /= routing_weights.sum(dim=-1, keepdim=True)
    final_hidden_states = torch.zeros_like(hidden_states)
    num_experts = len(experts)
    expert_mask = F.one_hot(selected_experts, num_classes=num_experts).permute(2, 1, 0)
    for expert_idx in range(num_experts):
        w1, w2 = (torch.tensor(experts[expert_idx][n]) for n in ("w1", "w2"))
        idx, top_x = torch.where(expert_mask[expert_idx])
        current_state = hidden_states[None, top_x].reshape(-1, hidden_states.shape[-1])
        current_hidden_states = torch.relu(current_state @ w1) @ w2
        current_hidden_states = current_hidden_states * routing_weights[top_x, idx, None]
        final_hidden_states.index_add_(0, top_x, current_hidden_states)
    return final_hidden_states.numpy()


def hf_load_balancing_loss(gate_logits: tuple[torch.Tensor, ...], num_experts: int, top_k: int):
    """load_balancing_loss_func (transformers >= 4.38), attention_mask None."""
    concatenated_gate_logits = torch.cat(list(gate_logits), dim=0)
    routing_weights = F.softmax(concatenated_gate_logits, dim=-1)
    _, selected_experts = torch.topk(routing_weights, top_k, dim=-1)
    expert_mask = F.one_hot(selected_experts, num_experts)
    tokens_per_expert = torch.mean(expert_mask.float(), dim=0)
    router_prob_per_expert = torch.mean(routing_weights, dim=0)
    overall_loss = torch.sum(tokens_per_expert * router_prob_per_expert.unsqueeze(0))
    return overall_loss * num_experts


def random_layer(seed: int, tokens: int, width: int, hidden: int, num_experts: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((tokens, width))
    w_router = rng.standard_normal((width, num_experts))
    experts = [
        {"w1": rng.standard_normal((width, hidden)), "w2": rng.standard_normal((hidden, width))}
        for _ in range(num_experts)
    ]
    return x, w_router, experts


SHAPES = [(0, 5, 4, 2), (1, 8, 8, 2), (2, 6, 3, 3), (3, 7, 6, 1), (4, 3, 5, 4), (5, 16, 8, 2)]


@pytest.mark.parametrize("seed, tokens, num_experts, k", SHAPES)
def test_router_matches_mixtral_and_mistral(seed, tokens, num_experts, k) -> None:
    logits = 2.0 * np.random.default_rng(seed).standard_normal((tokens, num_experts))
    weights, experts = solution.router_top_k(logits, k)
    assert experts.dtype.kind == "i" and experts.shape == (tokens, k)
    hf_weights, hf_experts = hf_router(torch.tensor(logits), k)  # float32, as Mixtral computes
    np.testing.assert_array_equal(experts, hf_experts.numpy())
    np.testing.assert_allclose(weights, hf_weights.numpy(), rtol=1e-6)
    # mistral-inference: topk on the gate logits, then softmax over the k chosen
    top_logits, top_experts = torch.topk(torch.tensor(logits), k, dim=-1)
    np.testing.assert_array_equal(experts, top_experts.numpy())
    np.testing.assert_allclose(weights, F.softmax(top_logits, dim=-1).numpy(), rtol=1e-12)


@pytest.mark.parametrize(
    "seed, tokens, width, hidden, num_experts, k",
    [(10, 5, 4, 6, 4, 2), (11, 6, 3, 5, 3, 3), (12, 4, 6, 3, 8, 1), (13, 7, 5, 4, 5, 2)],
)
def test_forward_matches_the_mixtral_block_and_loops(
    seed, tokens, width, hidden, num_experts, k
) -> None:
    x, w_router, experts = random_layer(seed, tokens, width, hidden, num_experts)
    got = solution.moe_forward(x, w_router, experts, k)
    np.testing.assert_allclose(got, hf_moe_block(x, w_router, experts, k), rtol=1e-12, atol=1e-12)
    # loops over tokens and experts, every probability by hand
    loops = np.zeros_like(x)
    for t in range(tokens):
        z = [float(x[t] @ w_router[:, e]) for e in range(num_experts)]
        p = [math.exp(v - max(z)) for v in z]
        chosen = sorted(range(num_experts), key=lambda e: -p[e])[:k]
        total = sum(p[e] for e in chosen)
        for e in chosen:
            h = np.maximum(x[t] @ experts[e]["w1"], 0.0) @ experts[e]["w2"]
            loops[t] += p[e] / total * h
    np.testing.assert_allclose(got, loops, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed, tokens, num_experts, k", SHAPES)
def test_loss_matches_load_balancing_loss_func(seed, tokens, num_experts, k) -> None:
    logits = 2.0 * np.random.default_rng(seed).standard_normal((tokens, num_experts))
    experts = solution.router_top_k(logits, k)[1]
    got = solution.load_balancing_loss(logits, experts)
    assert isinstance(got, float)
    want = hf_load_balancing_loss((torch.tensor(logits),), num_experts, k).item()
    assert got == pytest.approx(want, rel=1e-6)  # expert_mask.float() is float32


def test_loss_counts_every_slot_by_loops() -> None:
    """Experts listed twice, by loops: f_e = count over (token, slot) / T, P_e the mean prob."""
    rng = np.random.default_rng(7)
    logits = rng.standard_normal((6, 3))
    experts = rng.integers(0, 3, size=(6, 2))
    probs = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    want = 0.0
    for e in range(3):
        f = sum(1 for t in range(6) for j in range(2) if experts[t, j] == e) / 6
        want += f * sum(probs[t, e] for t in range(6)) / 6
    assert solution.load_balancing_loss(logits, experts) == pytest.approx(3 * want, rel=1e-12)


def test_loss_is_k_when_routing_is_uniform() -> None:
    for k in (1, 2, 3):
        experts = np.arange(12 * k).reshape(12, k) % 4
        assert solution.load_balancing_loss(np.zeros((12, 4)), experts) == pytest.approx(k)


def test_capacity_is_exact_where_graded() -> None:
    """T a multiple of E and binary capacity factors: the float formula equals exact fractions,
    and DeepSpeed's order (T / E) * (cf * k) too."""
    for num_experts in (1, 2, 4, 8, 16):
        for num_tokens in range(num_experts, 40 * num_experts, num_experts):
            for k in (1, 2, 3):
                for cf in (0.5, 0.75, 1.0, 1.25, 1.5, 2.0):
                    exact = math.ceil(Fraction(cf) * num_tokens * k / num_experts)
                    got = solution.expert_capacity(num_tokens, num_experts, k, cf)
                    assert type(got) is int and got == exact
                    assert math.ceil((num_tokens / num_experts) * (cf * k)) == exact


def gshard_dispatch(experts: np.ndarray, num_experts: int, capacity: int) -> np.ndarray:
    """Slot-major position in each expert's buffer by a cumsum over one-hot assignments
    (Switch Transformer / GShard style, deterministic for every slot)."""
    mask = F.one_hot(torch.tensor(experts).T, num_experts)  # (k, T, E)
    position = mask.reshape(-1, num_experts).cumsum(dim=0).reshape(mask.shape) - 1
    kept = ((position < capacity) & (mask == 1)).any(dim=-1)  # (k, T)
    return kept.T.numpy()


@pytest.mark.parametrize("seed", range(6))
def test_dispatch_matches_the_cumsum_form(seed: int) -> None:
    rng = np.random.default_rng(seed)
    tokens, num_experts, k = int(rng.integers(2, 12)), int(rng.integers(2, 6)), 2
    logits = rng.standard_normal((tokens, num_experts))
    experts = solution.router_top_k(logits, k)[1]
    for capacity in range(0, tokens * k + 1):
        got = solution.dispatch_mask(experts, num_experts, capacity)
        assert got.dtype == np.bool_
        np.testing.assert_array_equal(got, gshard_dispatch(experts, num_experts, capacity))
        load = np.bincount(experts[got], minlength=num_experts)
        assert load.max(initial=0) <= capacity


def test_hand_fixtures_are_the_solutions_values() -> None:
    weights, experts = solution.router_top_k(np.array(fixtures.ROUTER_LOGITS), fixtures.ROUTER_K)
    np.testing.assert_allclose(weights, fixtures.ROUTER_WEIGHTS, rtol=1e-12)
    np.testing.assert_array_equal(experts, fixtures.ROUTER_EXPERTS)
    x, w_router = np.array(fixtures.MOE_X), np.array(fixtures.MOE_W_ROUTER)
    experts_list = [{n: np.array(w) for n, w in e.items()} for e in fixtures.MOE_EXPERTS]
    for k, want in ((2, fixtures.MOE_Y_K2), (1, fixtures.MOE_Y_K1)):
        got = solution.moe_forward(x, w_router, experts_list, k)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    logits = np.array(fixtures.LOSS_LOGITS)
    for chosen, want in (
        (fixtures.LOSS_EXPERTS_K1, fixtures.LOSS_K1),
        (fixtures.LOSS_EXPERTS_K2, fixtures.LOSS_K2),
    ):
        assert solution.load_balancing_loss(logits, np.array(chosen)) == pytest.approx(want)
    for args, want in fixtures.CAPACITIES:
        assert solution.expert_capacity(*args) == want
    kept = solution.dispatch_mask(
        np.array(fixtures.DISPATCH_EXPERTS),
        fixtures.DISPATCH_NUM_EXPERTS,
        fixtures.DISPATCH_CAPACITY,
    )
    np.testing.assert_array_equal(kept, fixtures.DISPATCH_KEPT)


def test_k_out_of_range_names_k_and_e() -> None:
    for k in (0, 5):
        with pytest.raises(ValueError, match=rf"k={k}.*E=4"):
            solution.router_top_k(np.zeros((2, 4)), k)
    with pytest.raises(ValueError, match="num_experts=0"):
        solution.expert_capacity(8, 0, 2, 1.0)
