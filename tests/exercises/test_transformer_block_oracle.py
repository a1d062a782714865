"""The `transformer_block` reference against independent oracles: torch (`F.gelu`, a GPT-2 block
assembled from `nn.LayerNorm`, `nn.MultiheadAttention` with biases, `nn.Linear` and
`nn.GELU(approximate="tanh")`, and `nn.TransformerEncoderLayer(norm_first=True)` with the tanh GELU
passed as a function, all float64, loaded with the same weights; the model with `nn.Embedding` and
the tied head `F.linear(h, wte)`), the formulas evaluated in plain Python (math.erf, loops), the
normal table's published values of Phi, and the hand-computed fixtures."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

from transformer_kit.graders import test_transformer_block as grader
from transformer_kit.graders.fixtures import transformer_block as fixtures
from transformer_kit.solutions import transformer_block as solution

EPS = 1e-5
BLOCK_SHAPES = [
    (1, 1, 4, 2, 8),
    (1, 3, 4, 1, 16),
    (2, 5, 8, 2, 32),
    (3, 4, 12, 3, 12),
    (2, 6, 8, 8, 8),
]
SEEDS = [0, 1]


def _t(a: Any) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64)


def _params(seed: int, width: int, hidden: int) -> dict[str, np.ndarray]:
    return grader._block_params(np.random.default_rng(seed + 500), width, hidden)


# --- torch oracles -------------------------------------------------------------------------------


class TorchBlock(nn.Module):
    """GPT-2's block from torch modules: pre-LN, causal nn.MultiheadAttention, tanh-GELU MLP."""

    def __init__(self, p: dict[str, np.ndarray], num_heads: int) -> None:
        super().__init__()
        width, hidden = p["w_fc"].shape
        self.ln_1 = nn.LayerNorm(width, eps=EPS, dtype=torch.float64)
        self.attn = nn.MultiheadAttention(
            width, num_heads, bias=True, batch_first=True, dtype=torch.float64
        )
        self.ln_2 = nn.LayerNorm(width, eps=EPS, dtype=torch.float64)
        self.c_fc = nn.Linear(width, hidden, dtype=torch.float64)
        self.gelu = nn.GELU(approximate="tanh")
        self.c_proj = nn.Linear(hidden, width, dtype=torch.float64)
        with torch.no_grad():
            self.ln_1.weight.copy_(_t(p["ln1_g"]))
            self.ln_1.bias.copy_(_t(p["ln1_b"]))
            self.ln_2.weight.copy_(_t(p["ln2_g"]))
            self.ln_2.bias.copy_(_t(p["ln2_b"]))
            # nn.Linear and in_proj compute x @ W.T: their weights are the transposes
            self.attn.in_proj_weight.copy_(_t(np.concatenate([p["w_q"].T, p["w_k"].T, p["w_v"].T])))
            self.attn.in_proj_bias.copy_(_t(np.concatenate([p["b_q"], p["b_k"], p["b_v"]])))
            self.attn.out_proj.weight.copy_(_t(p["w_o"].T))
            self.attn.out_proj.bias.copy_(_t(p["b_o"]))
            self.c_fc.weight.copy_(_t(p["w_fc"].T))
            self.c_fc.bias.copy_(_t(p["b_fc"]))
            self.c_proj.weight.copy_(_t(p["w_proj"].T))
            self.c_proj.bias.copy_(_t(p["b_proj"]))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        seq_len = x.shape[1]
        blocked = ~torch.tril(torch.ones(seq_len, seq_len, dtype=torch.bool))  # True = masked
        y = self.ln_1(x)
        a, _ = self.attn(y, y, y, attn_mask=blocked, need_weights=False)
        h = x + a
        return h + self.c_proj(self.gelu(self.c_fc(self.ln_2(h))))


def _torch_block(x: np.ndarray, p: dict[str, np.ndarray], num_heads: int) -> np.ndarray:
    with torch.no_grad():
        return TorchBlock(p, num_heads)(_t(x)).numpy()


def _encoder_layer(p: dict[str, np.ndarray], num_heads: int, norm_first: bool) -> nn.Module:
    """nn.TransformerEncoderLayer with the same weights. The tanh GELU goes in as a function:
    given as the string "gelu" (or an nn.GELU) its fast path may use the exact GELU."""
    width, hidden = p["w_fc"].shape
    layer = nn.TransformerEncoderLayer(
        width,
        num_heads,
        dim_feedforward=hidden,
        dropout=0.0,
        activation=lambda t: F.gelu(t, approximate="tanh"),
        layer_norm_eps=EPS,
        batch_first=True,
        norm_first=norm_first,
        dtype=torch.float64,
    )
    torch_block = TorchBlock(p, num_heads)
    with torch.no_grad():
        layer.self_attn.load_state_dict(torch_block.attn.state_dict())
        layer.norm1.load_state_dict(torch_block.ln_1.state_dict())
        layer.norm2.load_state_dict(torch_block.ln_2.state_dict())
        layer.linear1.load_state_dict(torch_block.c_fc.state_dict())
        layer.linear2.load_state_dict(torch_block.c_proj.state_dict())
    return layer.eval()


def _encoder_block(
    x: np.ndarray, p: dict[str, np.ndarray], num_heads: int, norm_first: bool = True
) -> np.ndarray:
    seq_len = x.shape[1]
    mask = nn.Transformer.generate_square_subsequent_mask(seq_len, dtype=torch.float64)
    with torch.no_grad():
        layer = _encoder_layer(p, num_heads, norm_first)
        return layer(_t(x), src_mask=mask, is_causal=True).numpy()


def _torch_gpt(tokens: np.ndarray, params: dict[str, Any], num_heads: int) -> np.ndarray:
    wte = nn.Embedding.from_pretrained(_t(params["wte"]))
    wpe = nn.Embedding.from_pretrained(_t(params["wpe"]))
    width = params["wte"].shape[1]
    with torch.no_grad():
        ids = torch.as_tensor(tokens)
        h = wte(ids) + wpe(torch.arange(tokens.shape[1]))
        for block in params["blocks"]:
            h = TorchBlock(block, num_heads)(h)
        h = F.layer_norm(h, (width,), _t(params["lnf_g"]), _t(params["lnf_b"]), eps=EPS)
        return F.linear(h, wte.weight).numpy()  # the tied head: h @ wte.T


# --- plain-Python formulas -----------------------------------------------------------------------


def _python_gelu(v: float, approximate: str) -> float:
    if approximate == "tanh":
        return 0.5 * v * (1 + math.tanh(math.sqrt(2 / math.pi) * (v + 0.044715 * v**3)))
    return v * 0.5 * (1 + math.erf(v / math.sqrt(2)))


def _python_layer_norm(row: list[float], g: list[float], b: list[float]) -> list[float]:
    mean = math.fsum(row) / len(row)
    var = math.fsum((v - mean) ** 2 for v in row) / len(row)
    return [
        (v - mean) / math.sqrt(var + EPS) * gi + bi for v, gi, bi in zip(row, g, b, strict=True)
    ]


def _python_block(x: list[list[float]], p: dict[str, Any], num_heads: int) -> list[list[float]]:
    """One sequence (L, D) through the block, with loops only."""
    width = len(x[0])
    d_k = width // num_heads

    def linear(row: list[float], w: list[list[float]], bias: list[float]) -> list[float]:
        return [
            math.fsum(row[i] * w[i][j] for i in range(len(row))) + bias[j] for j in range(len(bias))
        ]

    y = [_python_layer_norm(r, p["ln1_g"], p["ln1_b"]) for r in x]
    q = [linear(r, p["w_q"], p["b_q"]) for r in y]
    k = [linear(r, p["w_k"], p["b_k"]) for r in y]
    v = [linear(r, p["w_v"], p["b_v"]) for r in y]
    concat = [[0.0] * width for _ in x]
    for head in range(num_heads):
        cols = range(head * d_k, (head + 1) * d_k)
        for i in range(len(x)):
            scores = [
                math.fsum(q[i][c] * k[j][c] for c in cols) / math.sqrt(d_k) for j in range(i + 1)
            ]
            top = max(scores)
            exps = [math.exp(s - top) for s in scores]
            total = math.fsum(exps)
            for c in cols:
                concat[i][c] = math.fsum(exps[j] / total * v[j][c] for j in range(i + 1))
    h = [
        [xi + ai for xi, ai in zip(xr, linear(cr, p["w_o"], p["b_o"]), strict=True)]
        for xr, cr in zip(x, concat, strict=True)
    ]
    out = []
    for row in h:
        z = _python_layer_norm(row, p["ln2_g"], p["ln2_b"])
        hidden = [_python_gelu(u, "tanh") for u in linear(z, p["w_fc"], p["b_fc"])]
        out.append(
            [a + m for a, m in zip(row, linear(hidden, p["w_proj"], p["b_proj"]), strict=True)]
        )
    return out


# --- gelu ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(7,), (3, 4), (2, 3, 5), ()])
def test_gelu_against_torch(shape: tuple[int, ...], approximate: str) -> None:
    x = 3.0 * np.random.default_rng(len(shape)).standard_normal(shape)
    want = F.gelu(_t(x), approximate=approximate).numpy()
    got = solution.gelu(x, approximate)
    assert np.shape(got) == shape
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_against_python(approximate: str) -> None:
    values = np.linspace(-8, 8, 33)
    want = [_python_gelu(float(v), approximate) for v in values]
    np.testing.assert_allclose(solution.gelu(values, approximate), want, rtol=1e-13, atol=1e-15)


def test_gelu_published_normal_table() -> None:
    """GELU(x) / x = Phi(x): the normal table gives 0.8413, 0.9772, 0.9987 (and 1 - those)."""
    table = {1.0: 0.8413, 2.0: 0.9772, 3.0: 0.9987, -1.0: 0.1587, -2.0: 0.0228, -3.0: 0.0013}
    x = np.array(list(table))
    np.testing.assert_allclose(solution.gelu(x) / x, list(table.values()), atol=5e-5)


def test_gelu_hand_fixture_against_torch() -> None:
    x = _t(fixtures.GELU_X)
    np.testing.assert_allclose(fixtures.GELU_EXACT, F.gelu(x).numpy(), rtol=1e-13)
    np.testing.assert_allclose(
        fixtures.GELU_TANH, F.gelu(x, approximate="tanh").numpy(), rtol=1e-13
    )


@pytest.mark.parametrize("value", ["exact", "Tanh", "", "erf", None])
def test_gelu_refuses_other_approximations(value: Any) -> None:
    with pytest.raises(ValueError, match="approximate"):
        solution.gelu(np.zeros(2), value)


# --- transformer_block -------------------------------------------------------------------------


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("shape", BLOCK_SHAPES, ids=[str(s) for s in BLOCK_SHAPES])
def test_block_against_torch_modules(seed: int, shape: tuple[int, ...]) -> None:
    batch, seq_len, width, heads, hidden = shape
    x = np.random.default_rng(seed).standard_normal((batch, seq_len, width))
    p = _params(seed, width, hidden)
    want = _torch_block(x, p, heads)
    np.testing.assert_allclose(
        solution.transformer_block(x, p, heads), want, rtol=1e-10, atol=1e-12
    )
    # the grader's generator of mistakes, with no mistake asked for, is the same block
    np.testing.assert_allclose(grader._block(x, p, heads), want, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("shape", BLOCK_SHAPES[1:], ids=[str(s) for s in BLOCK_SHAPES[1:]])
def test_block_against_transformer_encoder_layer(shape: tuple[int, ...]) -> None:
    batch, seq_len, width, heads, hidden = shape
    x = np.random.default_rng(7).standard_normal((batch, seq_len, width))
    p = _params(7, width, hidden)
    got = solution.transformer_block(x, p, heads)
    np.testing.assert_allclose(got, _encoder_block(x, p, heads), rtol=1e-10, atol=1e-12)
    # the same layer post-LN is a different function, and the grader names it
    post = _encoder_block(x, p, heads, norm_first=False)
    assert not np.allclose(got, post, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(grader._block(x, p, heads, post_ln=True), post, rtol=1e-10)


@pytest.mark.parametrize("shape", [(1, 3, 4, 2, 8), (1, 4, 6, 3, 5)])
def test_block_against_python_loops(shape: tuple[int, ...]) -> None:
    _, seq_len, width, heads, hidden = shape
    x = np.random.default_rng(3).standard_normal((1, seq_len, width))
    p = _params(3, width, hidden)
    plain = {k: v.tolist() for k, v in p.items()}
    want = _python_block(x[0].tolist(), plain, heads)
    np.testing.assert_allclose(solution.transformer_block(x, p, heads)[0], want, rtol=1e-11)


def test_block_hand_fixture_against_oracles() -> None:
    p = grader._arrays(fixtures.BLOCK_PARAMS)
    x = np.array(fixtures.BLOCK_X)
    np.testing.assert_allclose(fixtures.BLOCK_OUT, _torch_block(x, p, 1), rtol=1e-12)
    np.testing.assert_allclose(
        fixtures.BLOCK_OUT[0], _python_block(fixtures.BLOCK_X[0], fixtures.BLOCK_PARAMS, 1)
    )
    np.testing.assert_allclose(solution.transformer_block(x, p, 1), fixtures.BLOCK_OUT, rtol=1e-12)


def test_block_refuses_indivisible_heads() -> None:
    p = _params(0, 6, 8)
    with pytest.raises(ValueError, match=r"6.*4"):
        solution.transformer_block(np.zeros((1, 2, 6)), p, 4)


def test_block_does_not_modify_its_inputs() -> None:
    x = np.random.default_rng(1).standard_normal((2, 3, 8))
    p = _params(1, 8, 16)
    copies = (x.copy(), {k: v.copy() for k, v in p.items()})
    solution.transformer_block(x, p, 2)
    np.testing.assert_array_equal(x, copies[0])
    assert all(np.array_equal(p[k], copies[1][k]) for k in p)


# --- gpt_forward ---------------------------------------------------------------------------------

GPT_SHAPES = [(2, 4, 7, 8, 6, 2, 16, 0), (1, 5, 11, 8, 8, 2, 16, 1), (2, 3, 9, 12, 3, 3, 24, 3)]


@pytest.mark.parametrize("shape", GPT_SHAPES, ids=[f"{s[-1]}-blocks" for s in GPT_SHAPES])
def test_gpt_against_torch(shape: tuple[int, ...]) -> None:
    batch, seq_len, vocab, width, max_len, heads, hidden, n = shape
    tokens, params = grader._gpt_inputs(11, batch, seq_len, vocab, width, max_len, hidden, n)
    want = _torch_gpt(tokens, params, heads)
    got = solution.gpt_forward(tokens, params, heads)
    assert got.shape == (batch, seq_len, vocab)
    np.testing.assert_allclose(got, want, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grader._gpt(tokens, params, heads), want, rtol=1e-10, atol=1e-12)


def test_gpt_hand_fixtures_against_torch() -> None:
    for tokens, params, heads, want in (
        (fixtures.GPT0_TOKENS, fixtures.GPT0_PARAMS, 1, fixtures.GPT0_LOGITS),
        (fixtures.GPT1_TOKENS, fixtures.GPT1_PARAMS, fixtures.GPT1_HEADS, fixtures.GPT1_LOGITS),
    ):
        ids, arrays = np.array(tokens, dtype=np.int64), grader._arrays(params)
        np.testing.assert_allclose(want, _torch_gpt(ids, arrays, heads), rtol=1e-12, atol=1e-15)
        np.testing.assert_allclose(solution.gpt_forward(ids, arrays, heads), want, atol=1e-15)


def test_gpt_length_limit() -> None:
    tokens, params = grader._gpt_inputs(12, 1, 4, 6, 8, 4, 16, 1)
    solution.gpt_forward(tokens, params, 2)  # T == len(wpe) is allowed
    with pytest.raises(ValueError, match="5"):
        solution.gpt_forward(np.zeros((1, 5), dtype=np.int64), params, 2)


def test_grader_mistakes_differ_from_the_reference() -> None:
    """Every mistake the grader names changes the result on the grader's own inputs."""
    x, p = grader._block_inputs(20, 2, 3, 8, 16)
    x[0, 1] = 0.5 + 1e-3 * np.random.default_rng(21).standard_normal(8)
    right = solution.transformer_block(x, p, 2)
    for name, wrong in grader.block_mistakes(x, p, 2).items():
        assert not np.allclose(wrong, right, rtol=1e-4, atol=1e-6, equal_nan=True), name
