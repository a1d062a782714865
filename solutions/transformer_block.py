"""A GPT-2 decoder block and model: GELU, a pre-LayerNorm block, and the forward pass to logits.

Implement three functions (numpy; computing with torch inside is fine too):
- `gelu(x, approximate="none")`: the Gaussian error linear unit, exact or with the tanh formula.
- `transformer_block(x, params, num_heads)`: one GPT-2 block, causal self-attention then an MLP,
  each behind its own LayerNorm and inside its own residual connection.
- `gpt_forward(tokens, params, num_heads)`: token and position embeddings, the blocks in order,
  a final LayerNorm and the tied output head, giving logits.

Conventions, everywhere in this file:
- Inputs are float64 numpy arrays (tokens are int64). Never modify an input in place, nor the
  dicts and lists that hold them (`params["w_q"] = ...`, `x += ...` are errors).
- Shapes use B = batch, L (or T) = positions, D = model width, h = num_heads, d_k = D // h = the
  width of one head, F = the MLP's hidden width (4 * D in GPT-2), V = vocabulary size.
- Weights are in the `x @ W` layout: W has shape (in, out), the transpose of `nn.Linear.weight`.
  The query, key and value weights are separate (GPT-2's checkpoint fuses them into c_attn).
- Every layer_norm here, the final one too, is over the last axis with the biased variance
  (divide by D) and eps = 1e-5 inside the square root: (y - mean) / sqrt(var + eps) * g + b.
- No dropout anywhere. This file is self-contained: write your own layer_norm, softmax and
  attention helpers in it (it cannot import another exercise).

References:
- Radford et al., "Language Models are Unsupervised Multitask Learners" (GPT-2, 2019), section 2.3
  (LayerNorm moved to the input of each sub-block, a final LayerNorm after the last block).
- Hendrycks and Gimpel, "Gaussian Error Linear Units (GELUs)" (2016), https://arxiv.org/abs/1606.08415
- A. Karpathy, nanoGPT `model.py`, classes Block, MLP, CausalSelfAttention and GPT,
  https://github.com/karpathy/nanoGPT
- PyTorch: `torch.nn.functional.gelu`, `torch.nn.LayerNorm`, `torch.nn.MultiheadAttention`.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

_LN_EPS = 1e-5  # GPT-2's layer_norm_epsilon, every LayerNorm of the model
_ERF = np.frompyfunc(math.erf, 1, 1)  # math.erf, elementwise (numpy has no erf)


def _layer_norm(y: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(y - mean) / sqrt(var + 1e-5) * g + b over the last axis, var biased."""
    mean = y.mean(axis=-1, keepdims=True)  # (..., 1)
    var = ((y - mean) ** 2).mean(axis=-1, keepdims=True)  # (..., 1), divide by D
    return (y - mean) / np.sqrt(var + _LN_EPS) * g + b


def _softmax(s: np.ndarray) -> np.ndarray:
    """A stable softmax over the last axis."""
    e = np.exp(s - s.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def _causal_self_attention(y: np.ndarray, p: dict[str, Any], num_heads: int) -> np.ndarray:
    """Multi-head causal self-attention with biases on y (B, L, D)."""
    batch, seq_len, width = y.shape
    d_k = width // num_heads
    q = y @ p["w_q"] + p["b_q"]  # (B, L, D)
    k = y @ p["w_k"] + p["b_k"]  # (B, L, D)
    v = y @ p["w_v"] + p["b_v"]  # (B, L, D)
    # split heads: (B, L, D) -> (B, L, h, d_k) -> (B, h, L, d_k)
    q, k, v = (
        a.reshape(batch, seq_len, num_heads, d_k).transpose(0, 2, 1, 3) for a in (q, k, v)
    )  # each (B, h, L, d_k)
    scores = q @ k.transpose(0, 1, 3, 2) / np.sqrt(d_k)  # (B, h, L, L)
    allowed = np.tril(np.ones((seq_len, seq_len), dtype=bool))  # key j <= query i
    weights = _softmax(np.where(allowed, scores, -np.inf))  # (B, h, L, L)
    heads = weights @ v  # (B, h, L, d_k)
    concat = heads.transpose(0, 2, 1, 3).reshape(batch, seq_len, width)  # (B, L, D)
    return concat @ p["w_o"] + p["b_o"]


def gelu(x: np.ndarray, approximate: str = "none") -> np.ndarray:
    """GELU, elementwise, as torch.nn.functional.gelu; same shape as x.

    approximate="none" (the default): x * Phi(x) = 0.5 * x * (1 + erf(x / sqrt(2))), Phi the
    standard normal CDF. approximate="tanh": 0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 *
    x**3))), the formula GPT-2 uses. approximate must be exactly "none" or "tanh": anything else
    raises ValueError with a message naming it. numpy has no erf: use math.erf elementwise
    (np.vectorize(math.erf) or np.frompyfunc) or torch.erf.
    """
    if not isinstance(approximate, str) or approximate not in ("none", "tanh"):
        raise ValueError(f"approximate must be 'none' or 'tanh', got approximate={approximate!r}")
    x = np.asarray(x, dtype=np.float64)
    if approximate == "tanh":
        inner = math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)
        return 0.5 * x * (1.0 + np.tanh(inner))
    erf = np.asarray(_ERF(x / math.sqrt(2.0)), dtype=np.float64)  # frompyfunc gives objects
    return 0.5 * x * (1.0 + erf)


def transformer_block(x: np.ndarray, params: dict[str, Any], num_heads: int) -> np.ndarray:
    """One GPT-2 (pre-LayerNorm) decoder block on x (B, L, D). Returns (B, L, D).

        h   = x + attention(layer_norm(x, ln1_g, ln1_b))
        out = h + (gelu(layer_norm(h, ln2_g, ln2_b) @ w_fc + b_fc, "tanh") @ w_proj + b_proj)

    attention is causal multi-head self-attention with biases: Q = y @ w_q + b_q, K = y @ w_k +
    b_k, V = y @ w_v + b_v; head i uses columns i*d_k:(i+1)*d_k, d_k = D // num_heads, its
    scores scaled by 1/sqrt(d_k); query position i may attend to key positions j <= i only; the
    heads are concatenated in order and projected, concat @ w_o + b_o.
    params (a dict, keys and shapes):
        ln1_g, ln1_b, ln2_g, ln2_b, b_q, b_k, b_v, b_o, b_proj  (D,)
        w_q, w_k, w_v, w_o (D, D);  w_fc (D, F);  b_fc (F,);  w_proj (F, D)
    The weights are in the x @ W layout (nn.Linear.weight.T). Each layer_norm is over the last
    axis, biased variance, eps = 1e-5 inside the square root. No dropout. The GELU of the MLP is
    the tanh one. D not divisible by num_heads raises ValueError naming D and num_heads.
    """
    width = x.shape[-1]
    if width % num_heads != 0:
        raise ValueError(
            f"D = {width} is not divisible by num_heads = {num_heads}: "
            "every head needs d_k = D // num_heads columns"
        )
    p = params
    h = x + _causal_self_attention(_layer_norm(x, p["ln1_g"], p["ln1_b"]), p, num_heads)
    y = _layer_norm(h, p["ln2_g"], p["ln2_b"])  # (B, L, D)
    hidden = gelu(y @ p["w_fc"] + p["b_fc"], "tanh")  # (B, L, F)
    return h + (hidden @ p["w_proj"] + p["b_proj"])  # (B, L, D)


def gpt_forward(tokens: np.ndarray, params: dict[str, Any], num_heads: int) -> np.ndarray:
    """The GPT-2 forward pass: logits (B, T, V) for tokens (B, T) of int ids.

        h = wte[tokens] + wpe[:T]            token embedding plus the position's, (B, T, D)
        h = transformer_block(h, block, num_heads) for each block of params["blocks"], in order
        logits = layer_norm(h, lnf_g, lnf_b) @ wte.T      final LayerNorm, then the tied head
    params: wte (V, D) the token embeddings, wpe (max_len, D) one row per position 0, 1, ...,
    lnf_g and lnf_b (D,), and "blocks", a list (possibly empty) of dicts as transformer_block
    takes. The output head has no weight of its own: it is wte, transposed (weight tying). The
    final layer_norm uses eps = 1e-5 too. T > len(wpe) raises ValueError naming T and len(wpe).
    """
    seq_len = tokens.shape[1]
    wte, wpe = params["wte"], params["wpe"]
    if seq_len > len(wpe):
        raise ValueError(
            f"T = {seq_len} tokens, but wpe has positions for only {len(wpe)} (max_len)"
        )
    h = wte[tokens] + wpe[:seq_len]  # (B, T, D)
    for block in params["blocks"]:
        h = transformer_block(h, block, num_heads)
    return _layer_norm(h, params["lnf_g"], params["lnf_b"]) @ wte.T  # (B, T, V)
