"""The warm-up answers (fixtures and solution) against independent computations.

torch autograd for the MLP, torch's softmax and scaled_dot_product_attention for attention,
torch.optim.SGD for gradient descent and momentum, plain math for entropy and Bayes, and the
param_count formula plus a GPT-2 built from torch modules (on the meta device) for the count.
"""

from __future__ import annotations

import importlib.util
import math
from fractions import Fraction
from types import ModuleType

import numpy as np
import pytest
import torch
from support import REPO

from transformer_kit.graders.fixtures import warmups as fixtures
from transformer_kit.solutions import warmups as solution

NAMES = [
    "GD_WEIGHTS",
    "GD_LOSSES",
    "MLP_HIDDEN",
    "MLP_OUTPUT",
    "MLP_LOSS",
    "MLP_GRAD_W2",
    "MLP_GRAD_W1",
    "MOMENTUM_VELOCITY",
    "MOMENTUM_WEIGHT",
    "ATTENTION_WEIGHTS",
    "ATTENTION_OUTPUT",
    "SOFTMAX_1_2_3",
    "SOFTMAX_10_20_30",
    "ENTROPY_07_02_01",
    "BAYES_POSTERIOR",
    "GPT2_SMALL_PARAMS",
]


def assert_answer(name: str, value: object, rtol: float = 1e-6, atol: float = 1e-9) -> None:
    """Both the fixture and the solution agree with the independent value."""
    expected = np.asarray(value, dtype=np.float64)
    for source in (fixtures, solution):
        got = np.asarray(getattr(source, name), dtype=np.float64)
        assert got.shape == expected.shape, (source.__name__, name)
        np.testing.assert_allclose(got, expected, rtol=rtol, atol=atol, err_msg=name)


def stub_module() -> ModuleType:
    path = REPO / "exercises" / "warmups.py"
    spec = importlib.util.spec_from_file_location("warmups_stub", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_every_answer_is_defined_and_the_stub_leaves_them_none() -> None:
    stub = stub_module()
    for name in NAMES:
        assert getattr(stub, name) is None, name
        assert getattr(solution, name) is not None, name
        assert getattr(fixtures, name) is not None, name
    defined = {n for n in vars(solution) if n.isupper()}
    assert defined == set(NAMES)
    assert {n for n in vars(stub) if n.isupper()} == set(NAMES)


def test_gradient_descent_with_torch_sgd() -> None:
    w = torch.tensor(5.0, dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([w], lr=0.1)
    weights, losses = [], []
    for _ in range(3):
        optimizer.zero_grad()
        loss = (w * 2.0 - 2.0) ** 2
        losses.append(loss.item())  # before the step
        loss.backward()
        optimizer.step()
        weights.append(w.item())
    assert_answer("GD_WEIGHTS", weights)
    assert_answer("GD_LOSSES", losses)


def test_mlp_with_autograd() -> None:
    x = torch.tensor([1.0, 2.0], dtype=torch.float64)
    w1 = torch.tensor([[0.5, -0.5], [0.5, 0.5]], dtype=torch.float64, requires_grad=True)
    b1 = torch.zeros(2, dtype=torch.float64, requires_grad=True)
    w2 = torch.tensor([[1.0, 1.0]], dtype=torch.float64, requires_grad=True)
    b2 = torch.zeros(1, dtype=torch.float64, requires_grad=True)
    h = torch.relu(w1 @ x + b1)  # column layout: W1 x
    y = w2 @ h + b2  # (1,)
    loss = torch.nn.functional.mse_loss(y, torch.ones(1, dtype=torch.float64))
    loss.backward()
    assert_answer("MLP_HIDDEN", h.detach().numpy())
    assert_answer("MLP_OUTPUT", y.item())
    assert_answer("MLP_LOSS", loss.item())
    assert_answer("MLP_GRAD_W2", w2.grad.numpy())
    assert_answer("MLP_GRAD_W1", w1.grad.numpy())


def test_momentum_step_with_torch_sgd() -> None:
    w = torch.nn.Parameter(torch.tensor(0.5, dtype=torch.float64))
    optimizer = torch.optim.SGD([w], lr=0.1, momentum=0.9)
    optimizer.state[w]["momentum_buffer"] = torch.tensor(0.1, dtype=torch.float64)  # v = 0.1
    w.grad = torch.tensor(0.2, dtype=torch.float64)
    optimizer.step()
    assert_answer("MOMENTUM_VELOCITY", optimizer.state[w]["momentum_buffer"].item())
    assert_answer("MOMENTUM_WEIGHT", w.item())


def test_attention_with_torch() -> None:
    q = k = torch.eye(2, dtype=torch.float64)
    v = torch.tensor([[1.0, 2.0], [3.0, 4.0]], dtype=torch.float64)
    weights = torch.softmax(q @ k.T / math.sqrt(2), dim=-1)
    output = torch.nn.functional.scaled_dot_product_attention(q[None], k[None], v[None])[0]
    assert_answer("ATTENTION_WEIGHTS", weights.numpy())
    assert_answer("ATTENTION_OUTPUT", output.numpy())
    np.testing.assert_allclose(output.numpy(), weights.numpy() @ v.numpy(), rtol=1e-12)


def test_softmax_with_torch() -> None:
    for name, z in (("SOFTMAX_1_2_3", [1.0, 2.0, 3.0]), ("SOFTMAX_10_20_30", [10.0, 20.0, 30.0])):
        expected = torch.softmax(torch.tensor(z, dtype=torch.float64), dim=0).numpy()
        assert_answer(name, expected, atol=1e-15)


def test_entropy_with_math_and_torch() -> None:
    p = [0.7, 0.2, 0.1]
    by_hand = -sum(pi * math.log(pi) for pi in p)
    by_torch = torch.distributions.Categorical(probs=torch.tensor(p)).entropy().item()
    assert by_hand == pytest.approx(by_torch, rel=1e-6)
    assert_answer("ENTROPY_07_02_01", by_hand)


def test_bayes_with_fractions() -> None:
    prior, sensitivity, false_positive = Fraction(1, 100), Fraction(9, 10), Fraction(5, 100)
    evidence = prior * sensitivity + (1 - prior) * false_positive
    posterior = prior * sensitivity / evidence
    assert posterior == Fraction(2, 13)
    assert_answer("BAYES_POSTERIOR", float(posterior))


def param_count_formula(
    vocab_size: int, d_model: int, n_layers: int, d_ff: int, max_seq_len: int
) -> int:
    """contract/exercises.md, param_count: bias=True, tied_embeddings=True."""
    token_embedding = vocab_size * d_model
    position_embedding = max_seq_len * d_model
    attention = n_layers * (4 * d_model * d_model + 4 * d_model)
    mlp = n_layers * (d_model * d_ff + d_ff + d_ff * d_model + d_model)
    layernorm = (2 * n_layers + 1) * 2 * d_model
    return token_embedding + position_embedding + attention + mlp + layernorm


def torch_gpt2_count(
    vocab_size: int, d_model: int, n_layers: int, n_heads: int, d_ff: int, max_seq_len: int
) -> int:
    """GPT-2 from torch modules on the meta device (no memory), lm_head tied to wte."""
    with torch.device("meta"):
        blocks = [
            torch.nn.ModuleDict(
                {
                    "ln_1": torch.nn.LayerNorm(d_model),
                    "attn": torch.nn.MultiheadAttention(d_model, n_heads, bias=True),
                    "ln_2": torch.nn.LayerNorm(d_model),
                    "fc": torch.nn.Linear(d_model, d_ff),
                    "proj": torch.nn.Linear(d_ff, d_model),
                }
            )
            for _ in range(n_layers)
        ]
        model = torch.nn.ModuleDict(
            {
                "wte": torch.nn.Embedding(vocab_size, d_model),
                "wpe": torch.nn.Embedding(max_seq_len, d_model),
                "h": torch.nn.ModuleList(blocks),
                "ln_f": torch.nn.LayerNorm(d_model),
            }
        )
        lm_head = torch.nn.Linear(d_model, vocab_size, bias=False)
        lm_head.weight = model["wte"].weight  # tied
    parameters = {id(p): p for p in [*model.parameters(), *lm_head.parameters()]}
    return sum(p.numel() for p in parameters.values())


def test_gpt2_small_params() -> None:
    formula = param_count_formula(50257, 768, 12, 3072, 1024)
    assert formula == 124_439_808
    assert torch_gpt2_count(50257, 768, 12, 12, 3072, 1024) == formula
    assert formula == fixtures.GPT2_SMALL_PARAMS
    assert formula == solution.GPT2_SMALL_PARAMS
    assert isinstance(fixtures.GPT2_SMALL_PARAMS, int)
    assert isinstance(solution.GPT2_SMALL_PARAMS, int)
