"""Hidden grader for `transformer_block`: gelu, one GPT-2 block, and the GPT-2 forward pass.

Three levels: the hand fixtures (graders/fixtures/transformer_block.py: GELU at five points, a
one-head block with zero keys whose attention weights are 1 or 1/2, a block-less model with a
constant row, the block inside a model), the reference on random inputs of several shapes with
fixed seeds (printed in each call), and the contract's properties (gelu(x) - gelu(-x) = x, zero
sub-layers leave the residual stream unchanged, no future leakage, sequences independent, a
prefix's logits are the prefix of the logits, T == len(wpe) allowed, the error cases). Inputs that
expose the subtle mistakes: a token whose row is nearly constant (eps and the variance matter), an
MLP whose pre-activations sit near -2.7 (exact and tanh GELU differ most), asymmetric square
weights (x @ W against x @ W.T), V != D, more than one block. Classic mistakes are recomputed here
from a deliberately wrong copy of the reference, so a failure can name them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from functools import partial
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.checks import assert_no_future
from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    assert_raises,
    assert_shape,
    two_at_once,
)
from transformer_kit.grader.failures import StudentRaised
from transformer_kit.graders.fixtures import transformer_block as fixtures
from transformer_kit.graders.messages import attention as messages
from transformer_kit.graders.messages.together import Lazily
from transformer_kit.solutions import transformer_block as reference

LN_EPS = 1e-5
_ERF = np.vectorize(math.erf, otypes=[float])

# ----------------------------------------------------------------------------------------------
# The classic mistakes, by name (what the learner reads after "likely mistake:").

TANH_FOR_NONE = (
    'the tanh approximation for approximate="none": the default is the exact GELU, '
    "0.5 * x * (1 + erf(x / sqrt(2)))"
)
EXACT_FOR_TANH = (
    'the exact (erf) GELU for approximate="tanh": use 0.5 * x * (1 + tanh(sqrt(2 / pi) * '
    "(x + 0.044715 * x**3)))"
)
NO_CUBIC = "the cubic term is missing: tanh(sqrt(2 / pi) * (x + 0.044715 * x**3)), not of x alone"
SQRT_2PI = "sqrt(2 * pi) instead of sqrt(2 / pi) inside the tanh"
SIGMOID = (
    "the sigmoid approximation x * sigmoid(1.702 * x) (the QuickGELU of CLIP): use the erf or "
    "the tanh formula of the contract"
)
NO_SQRT2 = "erf(x) instead of erf(x / sqrt(2)): Phi(x) = 0.5 * (1 + erf(x / sqrt(2)))"
NO_HALF = "the factor 0.5 is missing: GELU = 0.5 * x * (1 + erf(x / sqrt(2)))"
PHI_ONLY = "returned Phi(x), the normal CDF, without multiplying by x: GELU = x * Phi(x)"
RELU = "a ReLU, max(x, 0): GELU is x * Phi(x), smooth and slightly negative for x < 0"

POST_LN = (
    "post-LN (the original Transformer's order, layer_norm(x + sublayer(x))): GPT-2 is pre-LN, "
    "h = x + attention(layer_norm(x)) and out = h + mlp(layer_norm(h)), no LayerNorm on the "
    "residual stream itself"
)
NO_ATTN_RESIDUAL = (
    "the attention residual is missing: h = x + attention(layer_norm(x, ln1_g, ln1_b)), add x back"
)
NO_MLP_RESIDUAL = "the MLP residual is missing: out = h + mlp(layer_norm(h, ln2_g, ln2_b)), add h"
NO_RESIDUAL = "both residual connections are missing: add the sub-layer's input to its output"
EXACT_GELU_BLOCK = (
    'the exact (erf) GELU in the MLP: GPT-2\'s MLP uses gelu(..., "tanh") (nn.GELU(approximate='
    '"tanh")), not the default'
)
RELU_BLOCK = "a ReLU in the MLP: GPT-2's MLP uses the tanh GELU"
NO_MASK = (
    "no causal mask: position i may attend only to positions j <= i (set the scores above the "
    "diagonal to -inf before the softmax)"
)
INVERTED_MASK = (
    "the causal mask is inverted or transposed (position i attends to j >= i): keep the scores "
    "on and BELOW the diagonal, np.tril"
)
NO_SCALE = "no 1/sqrt(d_k) scaling of the attention scores"
TRANSPOSED = (
    "the square weights used as x @ W.T (nn.Linear's layout): here every W is already (in, out), "
    "so Q = y @ w_q + b_q (likewise w_k, w_v, w_o)"
)
NO_QKV_BIAS = "the biases b_q, b_k, b_v are missing: Q = y @ w_q + b_q, and likewise K and V"
NO_OUT_BIAS = "the output bias b_o is missing: attention output = concat(heads) @ w_o + b_o"
SPLIT_NO_TRANSPOSE = (
    "heads split without transpose: reshape (B, L, D) to (B, L, h, d_k), then transpose to "
    "(B, h, L, d_k) (and back before merging)"
)
PARALLEL = (
    "a parallel block (GPT-J, PaLM: out = x + attention(ln1(x)) + mlp(ln2(x))): GPT-2 is "
    "sequential, the MLP reads h = x + attention(...), out = h + mlp(layer_norm(h))"
)
LN_SWAPPED = "ln1 and ln2 swapped: ln1_g, ln1_b go before attention, ln2_g, ln2_b before the MLP"
UNBIASED = (
    "layer_norm with the unbiased variance (divide by D - 1; torch's x.var() default): LayerNorm "
    "divides by D (np.var's default, unbiased=False in torch)"
)
EPS_OUTSIDE = "layer_norm with eps outside the square root: divide by sqrt(var + eps)"
EPS_SMALL = "layer_norm with eps 1e-6 (or 1e-12): GPT-2's LayerNorms use eps = 1e-5"
EPS_MISSING = "layer_norm without eps: divide by sqrt(var + 1e-5) (a constant row is then 0/0)"

NO_FINAL_LN = (
    "no final LayerNorm: logits = layer_norm(h, lnf_g, lnf_b) @ wte.T after the last block"
)
POSITIONS_OFF_BY_ONE = (
    "positions off by one: the first token gets wpe[0], so h = wte[tokens] + wpe[:T], "
    "not wpe[1:T + 1]"
)
NO_POSITIONS = "the position embeddings are missing: h = wte[tokens] + wpe[:T]"
POSITIONS_FROM_END = (
    "positions taken from the end of wpe (wpe[-T:]): position t uses row t, h = wte[tokens] + "
    "wpe[:T]"
)
SCALED_EMBEDDINGS = (
    "token embeddings scaled by sqrt(D) (the original Transformer's convention): GPT-2 adds "
    "wte[tokens] + wpe[:T] unscaled"
)
BLOCKS_REVERSED = "the blocks applied in reverse order: params['blocks'][0] comes first"
BLOCKS_NOT_CHAINED = (
    "every block applied to the embeddings, only the last kept: each block takes the previous "
    "block's output, h = transformer_block(h, block, num_heads)"
)
UNTIED = (
    "the head is tied to the token embeddings: logits = layer_norm(h, lnf_g, lnf_b) @ wte.T; "
    "params has no separate head weight"
)
LAYOUT = (
    "a matrix product with mismatched shapes: every weight is in the x @ W layout, (in, out): "
    "w_fc (D, F), w_proj (F, D) (nn.Linear.weight is the transpose); the head is @ wte.T"
)
FULL_CONTEXT = (
    "T == len(wpe) must work: positions 0..T-1 are rows wpe[:T] (an off-by-one in the positions, "
    "or in the length check?)"
)


MIXED = (
    "the sequences of a batch mix: layer_norm works over the last axis only, and each sequence "
    "attends within itself"
)
PREFIX = (
    "the first t positions depend on what comes after them, or on T: the mask must hide later "
    "tokens, and position t always uses wpe[t]"
)


@contextmanager
def _diagnosis(text: str) -> Iterator[None]:
    """A failure inside without a named mistake gets `text` as its likely mistake."""
    try:
        yield
    except Mismatch as failure:
        failure.diagnosis = failure.diagnosis or text
        raise


# ----------------------------------------------------------------------------------------------
# The computations, with one step done the way a classic mistake does it.


def _gelu(x: np.ndarray, form: str) -> np.ndarray:
    """GELU in one of its right or wrong forms."""
    with np.errstate(all="ignore"):
        if form == "none":
            return 0.5 * x * (1.0 + _ERF(x / math.sqrt(2.0)))
        if form == "tanh":
            return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * (x + 0.044715 * x**3)))
        if form == "no cubic":
            return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 / math.pi) * x))
        if form == "sqrt 2pi":
            return 0.5 * x * (1.0 + np.tanh(math.sqrt(2.0 * math.pi) * (x + 0.044715 * x**3)))
        if form == "sigmoid":
            return x / (1.0 + np.exp(-1.702 * x))
        if form == "no sqrt2":
            return 0.5 * x * (1.0 + _ERF(x))
        if form == "no half":
            return x * (1.0 + _ERF(x / math.sqrt(2.0)))
        if form == "phi":
            return 0.5 * (1.0 + _ERF(x / math.sqrt(2.0)))
        if form == "relu":
            return np.maximum(x, 0.0)
    raise AssertionError(form)


def gelu_mistakes(x: np.ndarray, approximate: str) -> dict[str, np.ndarray]:
    """{description of a classic mistake: what gelu(x, approximate) returns with it}."""
    mistakes: dict[str, np.ndarray] = {}
    if approximate == "none":
        mistakes[TANH_FOR_NONE] = _gelu(x, "tanh")
    else:
        mistakes[EXACT_FOR_TANH] = _gelu(x, "none")
        mistakes[NO_CUBIC] = _gelu(x, "no cubic")
        mistakes[SQRT_2PI] = _gelu(x, "sqrt 2pi")
    for name, form in (
        (SIGMOID, "sigmoid"),
        (NO_SQRT2, "no sqrt2"),
        (NO_HALF, "no half"),
        (PHI_ONLY, "phi"),
        (RELU, "relu"),
    ):
        mistakes[name] = _gelu(x, form)
    return mistakes


def _ln(
    y: np.ndarray, g: np.ndarray, b: np.ndarray, *, eps: float = LN_EPS, ddof: int = 0, where=""
) -> np.ndarray:
    d = y.shape[-1]
    mean = y.mean(axis=-1, keepdims=True)
    var = ((y - mean) ** 2).sum(axis=-1, keepdims=True) / max(d - ddof, 1)
    if where == "outside":
        return (y - mean) / (np.sqrt(var) + eps) * g + b
    return (y - mean) / np.sqrt(var + eps) * g + b


def _attention(y: np.ndarray, p: Mapping[str, np.ndarray], heads: int, **bad: Any) -> np.ndarray:
    """Causal multi-head self-attention with biases, or one of its classic mistakes."""
    batch, seq_len, width = y.shape
    d_k = width // heads
    weight = (lambda w: w.T) if bad.get("transposed") else (lambda w: w)
    use_bias = not bad.get("no_qkv_bias")
    q, k, v = (
        y @ weight(p[f"w_{n}"]) + (p[f"b_{n}"] if use_bias else 0.0) for n in ("q", "k", "v")
    )
    if bad.get("split") == "reshape":
        q, k, v = (a.reshape(batch, heads, seq_len, d_k) for a in (q, k, v))
    else:
        q, k, v = (a.reshape(batch, seq_len, heads, d_k).transpose(0, 2, 1, 3) for a in (q, k, v))
    scale = {"D": 1 / math.sqrt(width), "none": 1.0}.get(bad.get("scale", ""), 1 / math.sqrt(d_k))
    scores = q @ k.transpose(0, 1, 3, 2) * scale  # (B, h, L, L)
    mask = bad.get("mask", "causal")
    rows, cols = np.indices((seq_len, seq_len))
    if mask == "causal":
        scores = np.where(cols <= rows, scores, -np.inf)
    elif mask == "inverted":
        scores = np.where(cols >= rows, scores, -np.inf)
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights = weights / weights.sum(axis=-1, keepdims=True)
    out = weights @ v  # (B, h, L, d_k)
    if bad.get("split") == "reshape":
        concat = out.reshape(batch, seq_len, width)
    else:
        concat = out.transpose(0, 2, 1, 3).reshape(batch, seq_len, width)
    return concat @ weight(p["w_o"]) + (0.0 if bad.get("no_out_bias") else p["b_o"])


def _block(x: np.ndarray, p: Mapping[str, np.ndarray], heads: int, **bad: Any) -> np.ndarray:
    """The reference block, with one mistake made on purpose when asked."""
    ln_kw = {k: bad[k] for k in ("eps", "ddof", "where") if k in bad}
    first, second = ("ln2", "ln1") if bad.get("ln_swap") else ("ln1", "ln2")
    ln_a = lambda y: _ln(y, p[f"{first}_g"], p[f"{first}_b"], **ln_kw)  # noqa: E731
    ln_b = lambda y: _ln(y, p[f"{second}_g"], p[f"{second}_b"], **ln_kw)  # noqa: E731
    act = bad.get("act", "tanh")
    mlp = lambda y: _gelu(y @ p["w_fc"] + p["b_fc"], act) @ p["w_proj"] + p["b_proj"]  # noqa: E731
    residual = bad.get("residual", "both")
    keep_attn = 1.0 if residual in ("both", "mlp_only_missing") else 0.0
    keep_mlp = 1.0 if residual in ("both", "attn_only_missing") else 0.0
    if bad.get("post_ln"):
        h = ln_a(x + _attention(x, p, heads, **bad))
        return ln_b(h + mlp(h))
    if bad.get("parallel"):
        return x + _attention(ln_a(x), p, heads, **bad) + mlp(ln_b(x))
    h = keep_attn * x + _attention(ln_a(x), p, heads, **bad)
    return keep_mlp * h + mlp(ln_b(h))


BLOCK_MISTAKES: dict[str, dict[str, Any]] = {
    POST_LN: {"post_ln": True},
    NO_ATTN_RESIDUAL: {"residual": "attn_only_missing"},
    NO_MLP_RESIDUAL: {"residual": "mlp_only_missing"},
    NO_RESIDUAL: {"residual": "none"},
    EXACT_GELU_BLOCK: {"act": "none"},
    RELU_BLOCK: {"act": "relu"},
    NO_MASK: {"mask": "none"},
    INVERTED_MASK: {"mask": "inverted"},
    messages.SCALE_BY_D: {"scale": "D"},
    NO_SCALE: {"scale": "none"},
    TRANSPOSED: {"transposed": True},
    NO_QKV_BIAS: {"no_qkv_bias": True},
    NO_OUT_BIAS: {"no_out_bias": True},
    SPLIT_NO_TRANSPOSE: {"split": "reshape"},
    PARALLEL: {"parallel": True},
    LN_SWAPPED: {"ln_swap": True},
    UNBIASED: {"ddof": 1},
    EPS_OUTSIDE: {"where": "outside"},
    EPS_SMALL: {"eps": 1e-6},
    EPS_SMALL + " (1e-12 here)": {"eps": 1e-12},
    EPS_MISSING: {"eps": 0.0},
}


def block_mistakes(x: np.ndarray, p: Mapping[str, np.ndarray], heads: int) -> Mapping[str, Any]:
    """{description of a classic mistake: what transformer_block returns with it}, then every
    two of them at once (made only when no single one explains a wrong result)."""
    singles = [(name, bad) for name, bad in BLOCK_MISTAKES.items() if len(bad) == 1]
    made = [*BLOCK_MISTAKES.items(), *two_at_once(singles)]
    return Lazily((name, partial(_block, x, p, heads, **bad)) for name, bad in made)


def _gpt(tokens: np.ndarray, params: Mapping[str, Any], heads: int, **bad: Any) -> np.ndarray:
    """The reference model, with one mistake made on purpose when asked."""
    wte, wpe = params["wte"], params["wpe"]
    seq_len, width = tokens.shape[1], wte.shape[1]
    embed = wte[tokens] * (math.sqrt(width) if bad.get("scaled") else 1.0)
    positions = bad.get("positions", "start")
    if positions == "shift":
        embed = embed + wpe[1 : seq_len + 1]
    elif positions == "end":
        embed = embed + wpe[len(wpe) - seq_len :]
    elif positions == "start":
        embed = embed + wpe[:seq_len]
    blocks = list(params["blocks"])
    if bad.get("reverse"):
        blocks = blocks[::-1]
    h = embed
    for block in blocks:
        h = _block(embed if bad.get("not_chained") else h, block, heads, **bad.get("block", {}))
    if bad.get("no_final_ln"):
        return h @ wte.T
    return _ln(h, params["lnf_g"], params["lnf_b"]) @ wte.T


def gpt_mistakes(tokens: np.ndarray, params: Mapping[str, Any], heads: int) -> dict[str, Any]:
    """{description of a classic mistake: what gpt_forward returns with it}."""
    seq_len, max_len = tokens.shape[1], len(params["wpe"])
    options: dict[str, dict[str, Any]] = {NO_FINAL_LN: {"no_final_ln": True}}
    if seq_len < max_len:
        options[POSITIONS_OFF_BY_ONE] = {"positions": "shift"}
        options[POSITIONS_FROM_END] = {"positions": "end"}
    options[NO_POSITIONS] = {"positions": "none"}
    options[SCALED_EMBEDDINGS] = {"scaled": True}
    if len(params["blocks"]) > 1:
        options[BLOCKS_REVERSED] = {"reverse": True}
        options[BLOCKS_NOT_CHAINED] = {"not_chained": True}
    if params["blocks"]:
        options.update({f"in the blocks, {k}": {"block": v} for k, v in BLOCK_MISTAKES.items()})
    with np.errstate(all="ignore"):
        return {name: _gpt(tokens, params, heads, **bad) for name, bad in options.items()}


# ----------------------------------------------------------------------------------------------
# Inputs


def _arrays(params: Mapping[str, Any]) -> dict[str, Any]:
    """Fixture params (lists) as float arrays; "blocks" as a list of such dicts."""
    return {
        k: [_arrays(b) for b in v] if k == "blocks" else np.array(v, dtype=np.float64)
        for k, v in params.items()
    }


BLOCK_DRAWS = (
    "drawn from np.random.default_rng(seed): x standard normal; ln*_g = 1 + 0.5 * normal, "
    "ln*_b and every bias 0.3 * normal; w_q, w_k 1.5 * normal / sqrt(D); w_v, w_o, w_fc "
    "normal / sqrt(D); w_proj normal / sqrt(F)"
)


def _block_params(rng: np.random.Generator, width: int, hidden: int) -> dict[str, np.ndarray]:
    """Random block params: asymmetric square weights, nonzero biases, gains away from 1."""
    n = rng.standard_normal
    root = math.sqrt(width)
    return {
        "ln1_g": 1.0 + 0.5 * n(width),
        "ln1_b": 0.3 * n(width),
        "w_q": 1.5 * n((width, width)) / root,
        "b_q": 0.3 * n(width),
        "w_k": 1.5 * n((width, width)) / root,
        "b_k": 0.3 * n(width),
        "w_v": n((width, width)) / root,
        "b_v": 0.3 * n(width),
        "w_o": n((width, width)) / root,
        "b_o": 0.3 * n(width),
        "ln2_g": 1.0 + 0.5 * n(width),
        "ln2_b": 0.3 * n(width),
        "w_fc": n((width, hidden)) / root,
        "b_fc": 0.3 * n(hidden),
        "w_proj": n((hidden, width)) / math.sqrt(hidden),
        "b_proj": 0.3 * n(width),
    }


def _block_inputs(
    seed: int, batch: int, seq_len: int, width: int, hidden: int
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((batch, seq_len, width))
    return x, _block_params(rng, width, hidden)


def _block_call(x: np.ndarray, params: Mapping[str, Any], heads: int, seed: int | None) -> str:
    width, hidden = params["w_fc"].shape
    text = f"transformer_block(x {x.shape}, params (D={width}, F={hidden}), num_heads={heads})"
    return text if seed is None else f"{text}; seed={seed}: {BLOCK_DRAWS}"


GPT_DRAWS = (
    "drawn from np.random.default_rng(seed): tokens integers(0, V); wte normal; wpe 0.5 * normal; "
    "lnf_g = 1 + 0.5 * normal, lnf_b 0.3 * normal; then each block as in the block tests"
)


def _gpt_inputs(
    seed: int, batch: int, seq_len: int, vocab: int, width: int, max_len: int, hidden: int, n: int
) -> tuple[np.ndarray, dict[str, Any]]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(0, vocab, (batch, seq_len)).astype(np.int64)
    params: dict[str, Any] = {
        "wte": rng.standard_normal((vocab, width)),
        "wpe": 0.5 * rng.standard_normal((max_len, width)),
        "lnf_g": 1.0 + 0.5 * rng.standard_normal(width),
        "lnf_b": 0.3 * rng.standard_normal(width),
    }
    params["blocks"] = [_block_params(rng, width, hidden) for _ in range(n)]
    return tokens, params


def _gpt_call(tokens: np.ndarray, params: Mapping[str, Any], heads: int, seed: int | None) -> str:
    vocab, width = params["wte"].shape
    text = (
        f"gpt_forward(tokens {tokens.shape}, params (V={vocab}, D={width}, "
        f"max_len={len(params['wpe'])}, {len(params['blocks'])} blocks), num_heads={heads})"
    )
    return text if seed is None else f"{text}; seed={seed}: {GPT_DRAWS}"


def _call(function: Callable[..., Any], *args: Any, call: str) -> Any:
    """The learner's call; a KeyError or a shape error in a product is explained."""
    try:
        return function(*args)
    except StudentRaised as error:
        if error.not_implemented:
            raise
        text = error.text
        if "KeyError" in error.type_names:
            diagnosis = (
                UNTIED
                if any(w in text for w in ("head", "lm", "out", "unembed"))
                else (
                    "a key that params does not have: the block's keys are ln1_g, ln1_b, w_q, b_q, "
                    "w_k, b_k, w_v, b_v, w_o, b_o, ln2_g, ln2_b, w_fc, b_fc, w_proj, b_proj; the "
                    "model's wte, wpe, lnf_g, lnf_b, blocks"
                )
            )
        elif "broadcast" in text and "T == len(wpe)" in call:
            diagnosis = FULL_CONTEXT
        elif any(w in text for w in ("matmul", "cannot be multiplied", "core dimension")):
            diagnosis = LAYOUT
        else:
            raise
        args_text = "params' keys" if "KeyError" in error.type_names else "shapes"
        raise Mismatch(
            f"raised {error.type_name}: {text}",
            call=call,
            expected=f"a result computed from the given {args_text}",
            got=f"{error.type_name}: {text}",
            details=[f"raised at: {error.where}"] if error.where else [],
            diagnosis=diagnosis,
        ) from None


# ----------------------------------------------------------------------------------------------
# gelu


@pytest.mark.weight(2)
def test_gelu_hand(student: Any) -> None:
    """gelu at -3, -1, 0, 1, 2, exact (the default) and tanh, matches the hand computation"""
    x = np.array(fixtures.GELU_X)
    call = f"gelu(x={fixtures.GELU_X})"
    assert_close(student.gelu(x), fixtures.GELU_EXACT, call=call, mistakes=gelu_mistakes(x, "none"))
    call = f'gelu(x={fixtures.GELU_X}, approximate="tanh")'
    assert_close(
        student.gelu(x, approximate="tanh"),
        fixtures.GELU_TANH,
        call=call,
        mistakes=gelu_mistakes(x, "tanh"),
    )


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, shape", [(0, (7,)), (1, (3, 4)), (2, (2, 3, 4))], ids=["1d", "2d", "3d"]
)
def test_gelu_random(student: Any, seed: int, shape: tuple[int, ...]) -> None:
    """gelu matches the reference on random inputs of several shapes, both approximations"""
    x = 3.0 * np.random.default_rng(seed).standard_normal(shape)
    for approximate in ("none", "tanh"):
        call = (
            f'gelu(x {shape}, approximate="{approximate}"); seed={seed}: x = 3 * standard_normal '
            "from np.random.default_rng(seed)"
        )
        assert_close(
            student.gelu(x, approximate=approximate),
            reference.gelu(x, approximate),
            call=call,
            mistakes=gelu_mistakes(x, approximate),
        )


@pytest.mark.weight(1)
def test_gelu_properties(student: Any) -> None:
    """gelu(x) - gelu(-x) = x in both forms; gelu(x) -> x for large x, -> 0 for very negative x"""
    x = np.array([0.1, 0.5, 1.5, 2.7, 4.0, 6.0])
    for approximate in ("none", "tanh"):
        call = f'gelu(x, approximate="{approximate}") - gelu(-x, ...) with x = {x.tolist()}'
        plus = as_array(student.gelu(x, approximate=approximate), call=call)
        minus = as_array(student.gelu(-x, approximate=approximate), call=call)
        assert_shape(plus, x.shape, call=call)
        assert_shape(minus, x.shape, call=call)
        assert_close(
            plus - minus,
            x,
            call=call,
            what="gelu(x) - gelu(-x)",
            mistakes={NO_HALF: 2 * x, PHI_ONLY: _gelu(x, "phi") - _gelu(-x, "phi")},
        )
        far = np.array([-40.0, -12.0, 12.0, 40.0])
        call = f'gelu(x={far.tolist()}, approximate="{approximate}")'
        assert_close(
            student.gelu(far, approximate=approximate),
            [0.0, 0.0, 12.0, 40.0],
            call=call,
            mistakes=gelu_mistakes(far, approximate),
        )


BAD_APPROXIMATE = ("exact", "Tanh", "erf", "gelu", "")


@pytest.mark.weight(1)
def test_gelu_bad_approximate(student: Any) -> None:
    """gelu raises ValueError naming approximate when it is not exactly 'none' or 'tanh'"""
    x = np.array([-1.0, 0.0, 1.0])
    for value in BAD_APPROXIMATE:
        call = f"gelu(x=[-1, 0, 1], approximate={value!r})"
        try:
            text = assert_raises("ValueError", student.gelu, x, approximate=value, call=call)
        except Mismatch as failure:
            if not failure.diagnosis:
                failure.diagnosis = (
                    "check approximate first: if approximate not in ('none', 'tanh'), raise "
                    "ValueError(f\"approximate must be 'none' or 'tanh', got {approximate!r}\") "
                    "(no lower-casing, no fallback to the exact form)"
                )
            raise
        forms = {repr(value), f'"{value}"'} | ({value} if value else set())
        if not any(form in text for form in forms):
            raise Mismatch(
                f"raised ValueError, but the message does not name the offending value {value!r}",
                call=call,
                expected=f"a message like \"approximate must be 'none' or 'tanh', got {value!r}\"",
                got=f"ValueError: {text}",
                diagnosis="the message must say what was wrong: include the value you were given",
            )


# ----------------------------------------------------------------------------------------------
# transformer_block


def _check_block(
    student: Any, x: np.ndarray, params: Mapping[str, Any], heads: int, call: str
) -> np.ndarray:
    got = _call(student.transformer_block, x, params, heads, call=call)
    assert_close(
        got,
        reference.transformer_block(x, dict(params), heads),
        call=call,
        mistakes=block_mistakes(x, params, heads),
    )
    return as_array(got, call=call)


@pytest.mark.weight(2)
def test_block_hand(student: Any) -> None:
    """transformer_block on the one-head hand fixture (zero keys: weights 1, then 1/2, 1/2)"""
    x, params = np.array(fixtures.BLOCK_X), _arrays(fixtures.BLOCK_PARAMS)
    call = (
        "transformer_block(x=[[[2, 0], [0, 2]]], params = the hand fixture (gains 1, w_k = 0, "
        "w_q = w_v = w_o = I, b_o = [0.5, 0.5], w_fc = [[1], [0]], w_proj = [[1, -1]], other "
        "biases 0), num_heads=1)"
    )
    got = _call(student.transformer_block, x, params, fixtures.BLOCK_HEADS, call=call)
    assert_close(
        got,
        fixtures.BLOCK_OUT,
        call=call,
        mistakes=block_mistakes(x, params, fixtures.BLOCK_HEADS),
    )


BLOCK_CASES = [
    (10, 1, 3, 4, 1, 8),
    (11, 2, 4, 8, 2, 16),
    (12, 2, 5, 12, 3, 12),
    (13, 1, 4, 8, 4, 32),
]


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "seed, batch, seq_len, width, heads, hidden",
    BLOCK_CASES,
    ids=[f"B{c[1]}-L{c[2]}-D{c[3]}-h{c[4]}-F{c[5]}" for c in BLOCK_CASES],
)
def test_block_random(
    student: Any, seed: int, batch: int, seq_len: int, width: int, heads: int, hidden: int
) -> None:
    """transformer_block matches the reference on random inputs"""
    x, params = _block_inputs(seed, batch, seq_len, width, hidden)
    _check_block(student, x, params, heads, _block_call(x, params, heads, seed))


@pytest.mark.weight(2)
def test_block_near_constant_token(student: Any) -> None:
    """transformer_block with a token whose row is nearly constant (var ~ 1e-6, below eps)"""
    x, params = _block_inputs(20, 2, 3, 8, 16)
    # 0.5 + k / 1024, k = [1, -1, 1, -1, 2, -2, 0, 0]: mean 0.5, var = 12 / 8 / 2**20 = 1.43e-6,
    # every value, the mean and the variance exact in float32 too (float32 arithmetic passes)
    x[0, 1] = 0.5 + 2.0**-10 * np.array([1, -1, 1, -1, 2, -2, 0, 0])
    call = _block_call(x, params, 2, 20) + (
        "; then x[0, 1] = 0.5 + [1, -1, 1, -1, 2, -2, 0, 0] / 1024: a row whose variance is "
        "1.43e-6, where eps = 1e-5 dominates"
    )
    _check_block(student, x, params, 2, call)


@pytest.mark.weight(2)
def test_block_gelu_is_tanh(student: Any) -> None:
    """transformer_block's MLP uses the tanh GELU (inputs where the two forms differ most)"""
    x, params = _block_inputs(30, 1, 3, 8, 8)
    params["w_fc"] = 0.1 * params["w_fc"]
    params["b_fc"] = np.full(8, -2.7)  # pre-activations near -2.7, where the forms differ most
    params["w_proj"] = np.random.default_rng(31).uniform(0.5, 1.5, (8, 8))
    call = _block_call(x, params, 2, 30) + (
        "; then w_fc *= 0.1, b_fc = -2.7 (pre-activations near -2.7), w_proj uniform(0.5, 1.5) "
        "from default_rng(31)"
    )
    _check_block(student, x, params, 2, call)


@pytest.mark.weight(1)
def test_block_zero_sublayers_identity(student: Any) -> None:
    """with w_o, b_o, w_proj, b_proj zero, both sub-layers add 0: the block returns x"""
    x, params = _block_inputs(40, 2, 4, 8, 16)
    for key in ("w_o", "b_o", "w_proj", "b_proj"):
        params[key] = np.zeros_like(params[key])
    call = _block_call(x, params, 2, 40) + "; then w_o, b_o, w_proj, b_proj set to 0"
    got = _call(student.transformer_block, x, params, 2, call=call)
    assert_close(
        got,
        x,
        call=call,
        what="result (the residual stream x, unchanged)",
        mistakes=block_mistakes(x, params, 2),
    )


@pytest.mark.weight(2)
def test_block_no_future_leakage(student: Any) -> None:
    """transformer_block does not see the future: later tokens do not change earlier outputs"""
    seed, seq_len = 50, 6
    x, params = _block_inputs(seed, 2, seq_len, 8, 16)
    call = _block_call(x, params, 2, seed)
    base = _check_block(student, x, params, 2, call)
    assert_no_future(
        lambda changed_x, changed_call: _call(
            student.transformer_block, changed_x, params, 2, call=changed_call
        ),
        x,
        base,
        call=call,
        seed=seed + 1,
        lasts=(0, 2, 4),
        diagnosis=NO_MASK,
    )


@pytest.mark.weight(1)
def test_block_sequences_independent(student: Any) -> None:
    """each sequence of the batch is processed on its own"""
    x, params = _block_inputs(60, 3, 4, 8, 16)
    call = _block_call(x, params, 2, 60)
    whole = _check_block(student, x, params, 2, call)
    for i in range(3):
        alone_call = f"{call}, then x[{i}:{i + 1}] alone against row {i} of the batch's result"
        alone = _call(student.transformer_block, x[i : i + 1], params, 2, call=alone_call)
        with _diagnosis(MIXED):
            assert_close(alone, whole[i : i + 1], call=alone_call, what=f"sequence {i} alone")


@pytest.mark.weight(1)
def test_block_shapes(student: Any) -> None:
    """transformer_block returns (B, L, D): one token, and F != D"""
    for seed, batch, seq_len, width, heads, hidden in ((70, 1, 1, 4, 2, 12), (71, 3, 2, 6, 3, 5)):
        x, params = _block_inputs(seed, batch, seq_len, width, hidden)
        call = _block_call(x, params, heads, seed)
        got = _call(student.transformer_block, x, params, heads, call=call)
        assert_shape(got, x.shape, call=call, mistakes=block_mistakes(x, params, heads))
        assert_close(
            got,
            reference.transformer_block(x, params, heads),
            call=call,
            mistakes=block_mistakes(x, params, heads),
        )


def _check_value_error(
    function: Callable[..., Any], args: tuple[Any, ...], call: str, names: dict[str, int], hint: str
) -> None:
    """ValueError, with a message of the learner's own that names the offending values."""
    try:
        text = assert_raises("ValueError", function, *args, call=call)
    except Mismatch as failure:
        failure.diagnosis = failure.diagnosis or hint
        raise
    numpy_own = any(w in text for w in ("reshape", "broadcast", "matmul", "could not"))
    missing = [name for name, value in names.items() if str(value) not in text]
    if numpy_own or missing:
        said = " and ".join(f"{name} = {value}" for name, value in names.items())
        raise Mismatch(
            "raised ValueError, but numpy's own error, not a message that names "
            + " and ".join(names)
            if numpy_own
            else f"raised ValueError, but the message does not name {' and '.join(missing)}",
            call=call,
            expected=f"a message that says {said}",
            got=f"ValueError: {text}",
            diagnosis=hint,
        )


@pytest.mark.weight(1)
def test_block_indivisible(student: Any) -> None:
    """transformer_block raises ValueError when D is not divisible by num_heads"""
    for seed, width, heads in ((80, 6, 4), (81, 10, 3)):
        x, params = _block_inputs(seed, 1, 2, width, 8)
        call = _block_call(x, params, heads, seed)
        _check_value_error(
            student.transformer_block,
            (x, params, heads),
            call,
            {"D": width, "num_heads": heads},
            "check x.shape[-1] % num_heads first and raise ValueError(f'D = {D} is not divisible "
            "by num_heads = {num_heads}')",
        )


# ----------------------------------------------------------------------------------------------
# gpt_forward


def _check_gpt(
    student: Any, tokens: np.ndarray, params: Mapping[str, Any], heads: int, call: str
) -> np.ndarray:
    got = _call(student.gpt_forward, tokens, params, heads, call=call)
    assert_close(
        got,
        reference.gpt_forward(tokens, dict(params), heads),
        call=call,
        mistakes=gpt_mistakes(tokens, params, heads),
    )
    return as_array(got, call=call)


@pytest.mark.weight(2)
def test_gpt_hand_no_blocks(student: Any) -> None:
    """gpt_forward with no blocks: positions, the final LayerNorm and the tied head, by hand"""
    tokens = np.array(fixtures.GPT0_TOKENS, dtype=np.int64)
    params = _arrays(fixtures.GPT0_PARAMS)
    call = (
        f"gpt_forward(tokens={fixtures.GPT0_TOKENS}, params (wte={fixtures.GPT0_PARAMS['wte']}, "
        f"wpe={fixtures.GPT0_PARAMS['wpe']}, lnf_g=[1, 2], lnf_b=[0, 1], blocks=[]), "
        "num_heads=1)"
    )
    got = _call(student.gpt_forward, tokens, params, 1, call=call)
    assert_close(got, fixtures.GPT0_LOGITS, call=call, mistakes=gpt_mistakes(tokens, params, 1))


@pytest.mark.weight(1)
def test_gpt_hand_one_block(student: Any) -> None:
    """gpt_forward with the hand-fixture block as its one block"""
    tokens = np.array(fixtures.GPT1_TOKENS, dtype=np.int64)
    params = _arrays(fixtures.GPT1_PARAMS)
    call = (
        f"gpt_forward(tokens={fixtures.GPT1_TOKENS}, params (wte={fixtures.GPT1_PARAMS['wte']}, "
        f"wpe={fixtures.GPT1_PARAMS['wpe']}, lnf_g=[1, 1], lnf_b=[0, 0], blocks=[the block of "
        "the transformer_block hand fixture]), num_heads=1)"
    )
    got = _call(student.gpt_forward, tokens, params, fixtures.GPT1_HEADS, call=call)
    assert_close(
        got,
        fixtures.GPT1_LOGITS,
        call=call,
        mistakes=gpt_mistakes(tokens, params, fixtures.GPT1_HEADS),
    )


GPT_CASES = [
    # seed, B, T, V, D, max_len, h, F, blocks
    (90, 2, 4, 7, 8, 6, 2, 16, 0),
    (91, 1, 5, 11, 8, 8, 2, 16, 1),
    (92, 2, 3, 9, 12, 5, 3, 24, 2),
]


@pytest.mark.weight(3)
@pytest.mark.parametrize(
    "seed, batch, seq_len, vocab, width, max_len, heads, hidden, n",
    GPT_CASES,
    ids=[f"{c[-1]}-blocks" for c in GPT_CASES],
)
def test_gpt_random(
    student: Any,
    seed: int,
    batch: int,
    seq_len: int,
    vocab: int,
    width: int,
    max_len: int,
    heads: int,
    hidden: int,
    n: int,
) -> None:
    """gpt_forward matches the reference on random models with 0, 1 and 2 blocks"""
    tokens, params = _gpt_inputs(seed, batch, seq_len, vocab, width, max_len, hidden, n)
    _check_gpt(student, tokens, params, heads, _gpt_call(tokens, params, heads, seed))


@pytest.mark.weight(1)
def test_gpt_full_context(student: Any) -> None:
    """gpt_forward with T == len(wpe), the longest allowed input"""
    tokens, params = _gpt_inputs(100, 2, 4, 6, 8, 4, 16, 1)
    call = _gpt_call(tokens, params, 2, 100) + " (T == len(wpe) = 4)"
    _check_gpt(student, tokens, params, 2, call)


@pytest.mark.weight(1)
def test_gpt_prefix(student: Any) -> None:
    """the logits of a prefix of the tokens are the prefix of the logits (causal, positions 0..)"""
    tokens, params = _gpt_inputs(110, 2, 5, 7, 8, 8, 16, 1)
    call = _gpt_call(tokens, params, 2, 110)
    whole = _check_gpt(student, tokens, params, 2, call)
    for t in (1, 3):
        prefix_call = f"{call}, then tokens[:, :{t}] alone against logits[:, :{t}]"
        got = _call(student.gpt_forward, tokens[:, :t], params, 2, call=prefix_call)
        with _diagnosis(PREFIX):
            assert_close(
                got,
                whole[:, :t],
                call=prefix_call,
                what=f"logits of the first {t} tokens",
                mistakes={POSITIONS_FROM_END: _gpt(tokens[:, :t], params, 2, positions="end")},
            )


@pytest.mark.weight(1)
def test_gpt_shape(student: Any) -> None:
    """gpt_forward returns (B, T, V), with V != D"""
    tokens, params = _gpt_inputs(120, 3, 2, 5, 4, 3, 8, 1)
    call = _gpt_call(tokens, params, 2, 120)
    got = _call(student.gpt_forward, tokens, params, 2, call=call)
    assert_shape(got, (3, 2, 5), call=call, what="logits (B, T, V)")


@pytest.mark.weight(1)
def test_gpt_too_long(student: Any) -> None:
    """gpt_forward raises ValueError when T > len(wpe)"""
    for seed, seq_len, max_len, n in ((130, 5, 4, 0), (131, 7, 4, 1)):
        tokens, params = _gpt_inputs(seed, 1, seq_len, 6, 8, max_len, 16, n)
        call = _gpt_call(tokens, params, 2, seed)
        _check_value_error(
            student.gpt_forward,
            (tokens, params, 2),
            call,
            {"T": seq_len},
            "check tokens.shape[1] > len(wpe) first and raise ValueError(f'T = {T} is longer "
            "than the {len(wpe)} positions of wpe'): wpe[:T] silently returns fewer rows",
        )


# ----------------------------------------------------------------------------------------------
# Conventions of public code that are mistakes here (issue 26).

QUICK_GELU_BLOCK = (
    "QuickGELU in the MLP, x * sigmoid(1.702 * x) (CLIP's): GPT-2's MLP uses the tanh GELU, "
    '0.5 * x * (1 + tanh(sqrt(2 / pi) * (x + 0.044715 * x**3))), gelu(..., "tanh")'
)
ORIGINAL_TRANSFORMER = (
    "the original Transformer's block, two mistakes at once: " + POST_LN + "; and also a ReLU "
    "feed-forward (" + RELU_BLOCK + ")"
)
BLOCK_MISTAKES.update(
    {
        QUICK_GELU_BLOCK: {"act": "sigmoid"},
        ORIGINAL_TRANSFORMER: {"post_ln": True, "act": "relu"},
    }
)
