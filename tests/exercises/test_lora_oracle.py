"""The `lora` reference against independent oracles: torch autograd on the same expression (and a
PEFT-style torch layer in nn.Linear's layout), torch.optim.SGD with F.mse_loss for the fit,
central finite differences, parameter counts of torch modules and published figures (the LoRA
paper's GPT-3 adapter sizes, PEFT's README), and the hand-computed fixtures."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from transformer_kit.graders.fixtures import lora as fixtures
from transformer_kit.solutions import lora as solution

# (seed, leading axes of x, d_in, d_out, r, alpha)
SHAPES = [
    (0, (4,), 5, 3, 2, 8.0),
    (1, (3,), 4, 4, 2, 16.0),
    (2, (2, 3), 6, 6, 4, 8.0),
    (3, (), 3, 5, 2, 1.0),
    (4, (7,), 8, 2, 3, 32.0),
    (5, (1,), 2, 9, 1, 0.5),
]


def _random(seed: int, lead: tuple[int, ...], d_in: int, d_out: int, r: int):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((*lead, d_in))
    w = rng.standard_normal((d_in, d_out))
    a = rng.standard_normal((d_in, r))
    b = rng.standard_normal((r, d_out))
    dy = rng.standard_normal((*lead, d_out))
    return x, w, a, b, dy


def _t(value, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(value), dtype=torch.float64, requires_grad=grad)


def _torch_layer(x, w, a, b, alpha, dy):
    """y and the gradients of sum(dy * y) for w, a, b by torch autograd, float64."""
    tx, tw, ta, tb = _t(x), _t(w, True), _t(a, True), _t(b, True)
    y = tx @ tw + (alpha / a.shape[1]) * (tx @ ta) @ tb
    (y * _t(dy)).sum().backward()
    return y.detach().numpy(), tw.grad.numpy(), ta.grad.numpy(), tb.grad.numpy()


def _peft_style(x, w, a, b, alpha):
    """The layer as PEFT builds it, in nn.Linear's (out, in) layout: base(x) + lora_B(lora_A(x)) *
    scaling, with lora_A.weight = a.T (r, d_in), lora_B.weight = b.T (d_out, r)."""
    d_in, r = a.shape
    d_out = w.shape[1]
    base = torch.nn.Linear(d_in, d_out, bias=False, dtype=torch.float64)
    lora_a = torch.nn.Linear(d_in, r, bias=False, dtype=torch.float64)
    lora_b = torch.nn.Linear(r, d_out, bias=False, dtype=torch.float64)
    with torch.no_grad():
        base.weight.copy_(_t(w).T)
        lora_a.weight.copy_(_t(a).T)
        lora_b.weight.copy_(_t(b).T)
        return (base(_t(x)) + lora_b(lora_a(_t(x))) * (alpha / r)).numpy()


@pytest.mark.parametrize("seed, lead, d_in, d_out, r, alpha", SHAPES)
def test_forward_and_merge_match_torch(seed, lead, d_in, d_out, r, alpha) -> None:
    x, w, a, b, dy = _random(seed, lead, d_in, d_out, r)
    want, *_ = _torch_layer(x, w, a, b, alpha, dy)
    got = solution.lora_forward(x, w, a, b, alpha)
    assert got.shape == (*lead, d_out)
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(got, _peft_style(x, w, a, b, alpha), rtol=1e-12, atol=1e-12)
    merged = solution.merge_lora(w, a, b, alpha)
    assert merged.shape == w.shape and merged is not w
    np.testing.assert_allclose(x @ merged, want, rtol=1e-10, atol=1e-12)
    # torch.addmm(w, a, b, alpha=s) is w + s * a @ b, the merge PEFT performs (transposed)
    addmm = torch.addmm(_t(w), _t(a), _t(b), alpha=alpha / r).numpy()
    np.testing.assert_allclose(merged, addmm, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed, lead, d_in, d_out, r, alpha", [s for s in SHAPES if len(s[1]) == 1])
def test_backward_matches_torch_autograd(seed, lead, d_in, d_out, r, alpha) -> None:
    x, w, a, b, dy = _random(seed, lead, d_in, d_out, r)
    _, grad_w, grad_a, grad_b = _torch_layer(x, w, a, b, alpha, dy)
    grads = solution.lora_backward(x, dy, a, b, alpha)
    assert set(grads) == {"a", "b"}  # torch has a gradient for w too: the frozen w gets none here
    assert grad_w.shape == w.shape
    assert grads["a"].shape == a.shape and grads["b"].shape == b.shape
    np.testing.assert_allclose(grads["a"], grad_a, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(grads["b"], grad_b, rtol=1e-10, atol=1e-12)


def test_backward_matches_finite_differences() -> None:
    x, w, a, b, dy = _random(9, (4,), 3, 2, 2)
    alpha, h = 3.0, 1e-6
    grads = solution.lora_backward(x, dy, a, b, alpha)
    for key, param in (("a", a), ("b", b)):
        numeric = np.zeros_like(param)
        for index in np.ndindex(param.shape):
            up, down = param.copy(), param.copy()
            up[index] += h
            down[index] -= h
            args_up = (up, b) if key == "a" else (a, up)
            args_down = (down, b) if key == "a" else (a, down)
            f_up = np.sum(dy * solution.lora_forward(x, w, *args_up, alpha))
            f_down = np.sum(dy * solution.lora_forward(x, w, *args_down, alpha))
            numeric[index] = (f_up - f_down) / (2 * h)
        np.testing.assert_allclose(grads[key], numeric, rtol=1e-6, atol=1e-8, err_msg=key)


def _torch_fit(x, y, w, rank, alpha, lr, steps):
    """lora_fit by torch.optim.SGD on F.mse_loss, from the contract's start."""
    a0 = np.random.default_rng(0).normal(0, 1 / rank, size=(w.shape[0], rank))
    ta = _t(a0, True)
    tb = torch.zeros(rank, w.shape[1], dtype=torch.float64, requires_grad=True)
    optimizer = torch.optim.SGD([ta, tb], lr=lr)
    tx, ty, tw = _t(x), _t(y), _t(w)
    losses = []
    for _ in range(steps):
        optimizer.zero_grad()
        loss = torch.nn.functional.mse_loss(tx @ tw + (alpha / rank) * (tx @ ta) @ tb, ty)
        losses.append(loss.item())
        loss.backward()
        optimizer.step()
    return ta.detach().numpy(), tb.detach().numpy(), losses


@pytest.mark.parametrize(
    "seed, n, d_in, d_out, rank, alpha, lr, steps",
    [
        (20, 6, 4, 3, 2, 4.0, 0.05, 5),
        (21, 8, 5, 5, 3, 6.0, 0.02, 6),
        (22, 5, 3, 4, 2, 1.0, 0.1, 4),
        (30, 10, 6, 4, 2, 4.0, 0.02, 40),
        (31, 3, 2, 2, 1, 2.0, 0.1, 3),
    ],
)
def test_fit_matches_torch_sgd(seed, n, d_in, d_out, rank, alpha, lr, steps) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d_in))
    w = rng.standard_normal((d_in, d_out))
    y = x @ w + rng.standard_normal((n, d_out))
    want_a, want_b, want_losses = _torch_fit(x, y, w, rank, alpha, lr, steps)
    a, b, losses = solution.lora_fit(x, y, w, rank, alpha, lr, steps)
    assert isinstance(losses, list) and len(losses) == steps
    assert all(isinstance(v, float) for v in losses)
    np.testing.assert_allclose(losses, want_losses, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(a, want_a, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(b, want_b, rtol=1e-10, atol=1e-12)
    assert losses[0] == pytest.approx(float(np.mean((x @ w - y) ** 2)), rel=1e-12)


def test_init_is_the_contract_draw() -> None:
    for d_in, rank in ((1, 1), (5, 2), (3, 4), (8, 1)):
        got = solution.lora_init(d_in, rank)
        assert got.shape == (d_in, rank)
        # numpy's Generator.normal(loc, scale) is loc + scale * standard_normal, draw for draw
        want = np.random.default_rng(0).standard_normal((d_in, rank)) / rank
        np.testing.assert_allclose(got, want, rtol=1e-15, atol=0)
        np.testing.assert_array_equal(got, solution.lora_init(d_in, rank))
    torch_free = np.random.Generator(np.random.PCG64(0)).normal()  # default_rng(0) is PCG64(0)
    assert torch_free == pytest.approx(fixtures.INIT_G, rel=1e-15)


def _count(*modules: torch.nn.Module) -> int:
    return sum(p.numel() for m in modules for p in m.parameters())


@pytest.mark.parametrize(
    "d_in, d_out, r", [(4096, 4096, 8), (768, 3072, 4), (10, 20, 2), (3, 7, 1), (64, 64, 64)]
)
def test_fraction_counts_torch_parameters(d_in, d_out, r) -> None:
    frozen = torch.nn.Linear(d_in, d_out, bias=False, device="meta")
    lora_a = torch.nn.Linear(d_in, r, bias=False, device="meta")
    lora_b = torch.nn.Linear(r, d_out, bias=False, device="meta")
    want = _count(lora_a, lora_b) / _count(frozen)
    assert solution.lora_parameter_fraction(d_in, d_out, r) == pytest.approx(want, rel=1e-15)


def test_fraction_published_figures() -> None:
    # LoRA paper (Hu et al. 2021), Table 4: GPT-3 175B (d_model 12288, 96 layers) with W_q and W_v
    # adapted has 4.7M trainable parameters at r = 1 and 37.7M at r = 8.
    d, matrices = 12288, 96 * 2
    for r, published in ((1, 4.7e6), (8, 37.7e6)):
        count = solution.lora_parameter_fraction(d, d, r) * d * d * matrices
        assert round(count) == r * 2 * d * matrices
        assert count == pytest.approx(published, rel=0.01)
    # PEFT's README: mt0-large (d_model 1024; q and v of 72 attention blocks) with r = 8:
    # "trainable params: 2359296 || all params: 1231940608 || trainable%: 0.19151053100118282";
    # PEFT's percentage divides by all parameters, ours by the frozen matrices only.
    count = solution.lora_parameter_fraction(1024, 1024, 8) * 1024 * 1024 * 72 * 2
    assert round(count) == 2359296
    peft_percent = 100 * 2359296 / 1231940608
    assert peft_percent == pytest.approx(0.19151053100118282, rel=1e-12)
    assert solution.lora_parameter_fraction(1024, 1024, 8) == 1 / 64


def test_hand_fixtures_match_the_oracles() -> None:
    x, w, a, b = (np.array(v) for v in (fixtures.X, fixtures.W, fixtures.A, fixtures.B))
    dy = np.array(fixtures.DY)
    y, _, grad_a, grad_b = _torch_layer(x, w, a, b, fixtures.ALPHA, dy)
    np.testing.assert_allclose(y, fixtures.FORWARD, rtol=0, atol=1e-14)
    np.testing.assert_allclose(x @ np.array(fixtures.MERGED), fixtures.FORWARD, atol=1e-14)
    merged = torch.addmm(_t(w), _t(a), _t(b), alpha=fixtures.ALPHA / a.shape[1]).numpy()
    np.testing.assert_allclose(merged, fixtures.MERGED, atol=1e-14)
    np.testing.assert_allclose(grad_a, fixtures.GRAD_A, atol=1e-14)
    np.testing.assert_allclose(grad_b, fixtures.GRAD_B, atol=1e-14)
    for (d_in, d_out, r), value in fixtures.FRACTIONS:
        assert r * (d_in + d_out) / (d_in * d_out) == pytest.approx(value, rel=1e-15)
    fx, fy, fw, rank, alpha, lr, steps = fixtures.FIT_ARGS
    want_a, want_b, want_losses = _torch_fit(
        np.array(fx), np.array(fy), np.array(fw), rank, alpha, lr, steps
    )
    np.testing.assert_allclose(want_losses, fixtures.FIT_LOSSES, rtol=1e-14)
    np.testing.assert_allclose(want_a, fixtures.FIT_A, rtol=1e-14)
    np.testing.assert_allclose(want_b, fixtures.FIT_B, rtol=1e-14)
    # and the reference agrees with all of them
    np.testing.assert_allclose(solution.lora_forward(x, w, a, b, fixtures.ALPHA), fixtures.FORWARD)
    np.testing.assert_allclose(solution.merge_lora(w, a, b, fixtures.ALPHA), fixtures.MERGED)
    grads = solution.lora_backward(x, dy, a, b, fixtures.ALPHA)
    np.testing.assert_allclose(grads["a"], fixtures.GRAD_A)
    np.testing.assert_allclose(grads["b"], fixtures.GRAD_B)
    got = solution.lora_fit(np.array(fx), np.array(fy), np.array(fw), rank, alpha, lr, steps)
    np.testing.assert_allclose(got[2], fixtures.FIT_LOSSES, rtol=1e-14)
    np.testing.assert_allclose(got[0], fixtures.FIT_A, rtol=1e-14)
    np.testing.assert_allclose(got[1], fixtures.FIT_B, rtol=1e-14)


def test_inputs_are_not_modified() -> None:
    x, w, a, b, dy = _random(40, (3,), 4, 4, 2)
    copies = [v.copy() for v in (x, w, a, b, dy)]
    solution.lora_forward(x, w, a, b, 2.0)
    solution.merge_lora(w, a, b, 2.0)
    solution.lora_backward(x, dy, a, b, 2.0)
    solution.lora_fit(x, dy, w, 2, 2.0, 0.1, 3)
    for before, now in zip(copies, (x, w, a, b, dy), strict=True):
        np.testing.assert_array_equal(before, now)
