"""The `recurrent` reference against independent oracles: torch.nn.RNN, nn.LSTM and nn.LSTMCell
loaded with the contract's weights (weight_ih = w.T, weight_hh = w.T, bias_ih = b, bias_hh = 0),
torch autograd for every gradient (BPTT and the norms of dL/dh_t), and the hand fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from transformer_kit.graders.fixtures import recurrent as fixtures
from transformer_kit.solutions import recurrent as solution

# (seed, T, B, D, H, w_hh scale): T = 1, B > 1 everywhere, D != H, a long sequence with a small
# w_hh (vanishing) and one with a large w_hh (exploding until tanh saturates)
SHAPES = [
    (0, 3, 2, 4, 3, 1.0),
    (1, 1, 3, 2, 5, 1.0),
    (2, 6, 4, 3, 3, 0.8),
    (3, 30, 2, 3, 4, 0.3),
    (4, 25, 3, 2, 4, 3.0),
]


def _rnn_inputs(seed: int, steps: int, batch: int, d_in: int, hidden: int, scale: float):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((steps, batch, d_in))
    h0 = 0.5 * rng.standard_normal((batch, hidden))
    w_xh = rng.standard_normal((d_in, hidden)) / math.sqrt(d_in)
    w_hh = scale * rng.standard_normal((hidden, hidden)) / math.sqrt(hidden)
    b = 0.1 * rng.standard_normal(hidden)
    dhs = rng.standard_normal((steps, batch, hidden))
    return xs, h0, w_xh, w_hh, b, dhs


def _lstm_inputs(seed: int, steps: int, batch: int, d_in: int, hidden: int):
    rng = np.random.default_rng(seed)
    xs = rng.standard_normal((steps, batch, d_in))
    h0, c0 = rng.standard_normal((2, batch, hidden))
    w_ih = rng.standard_normal((d_in, 4 * hidden)) / math.sqrt(d_in)
    w_hh = rng.standard_normal((hidden, 4 * hidden)) / math.sqrt(hidden)
    b = rng.standard_normal(4 * hidden)
    return xs, h0, c0, w_ih, w_hh, b


def _t(value, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(value), dtype=torch.float64, requires_grad=grad)


def _load(layer: torch.nn.Module, w_ih, w_hh, b, bias_hh=None) -> torch.nn.Module:
    """The contract's weights in torch's layout: weight = w.T, bias_ih = b, bias_hh = 0 (or the
    given bias_hh, for the contrast)."""
    suffix = "_l0" if hasattr(layer, "weight_ih_l0") else ""
    with torch.no_grad():
        getattr(layer, "weight_ih" + suffix).copy_(_t(w_ih).T)
        getattr(layer, "weight_hh" + suffix).copy_(_t(w_hh).T)
        getattr(layer, "bias_ih" + suffix).copy_(_t(b))
        getattr(layer, "bias_hh" + suffix).copy_(
            _t(np.zeros_like(b) if bias_hh is None else bias_hh)
        )
    return layer


def _torch_rnn(xs, h0, w_xh, w_hh, b, bias_hh=None) -> np.ndarray:
    layer = torch.nn.RNN(w_xh.shape[0], w_xh.shape[1], nonlinearity="tanh", dtype=torch.float64)
    _load(layer, w_xh, w_hh, b, bias_hh)
    with torch.no_grad():
        hs, h_last = layer(_t(xs), _t(h0)[None])
    np.testing.assert_array_equal(hs[-1].numpy(), h_last[0].numpy())
    return hs.numpy()


@pytest.mark.parametrize("seed, steps, batch, d_in, hidden, scale", SHAPES)
def test_rnn_forward_matches_nn_rnn(seed, steps, batch, d_in, hidden, scale) -> None:
    xs, h0, w_xh, w_hh, b, _ = _rnn_inputs(seed, steps, batch, d_in, hidden, scale)
    got = solution.rnn_forward(xs, h0, w_xh, w_hh, b)
    assert got.shape == (steps, batch, hidden)
    np.testing.assert_allclose(got, _torch_rnn(xs, h0, w_xh, w_hh, b), rtol=1e-12, atol=1e-12)


def test_both_torch_biases_loaded_with_b_count_it_twice() -> None:
    """The contrast the contract names: bias_hh = b as well is the network with bias 2 * b."""
    xs, h0, w_xh, w_hh, b, _ = _rnn_inputs(5, 4, 2, 3, 3, 1.0)
    twice = _torch_rnn(xs, h0, w_xh, w_hh, b, bias_hh=b)
    assert not np.allclose(twice, solution.rnn_forward(xs, h0, w_xh, w_hh, b), rtol=1e-4)
    np.testing.assert_allclose(twice, solution.rnn_forward(xs, h0, w_xh, w_hh, 2 * b), rtol=1e-12)


def _autograd_bptt(xs, h0, w_xh, w_hh, b, dhs) -> dict[str, np.ndarray]:
    """The gradients of sum(dhs * hs) through nn.RNN, by autograd."""
    leaves = {"xs": _t(xs, True), "h0": _t(h0, True)}
    layer = _load(torch.nn.RNN(w_xh.shape[0], w_xh.shape[1], dtype=torch.float64), w_xh, w_hh, b)
    hs, _ = layer(leaves["xs"], leaves["h0"][None])
    (hs * _t(dhs)).sum().backward()
    grads = {key: leaf.grad.numpy() for key, leaf in leaves.items()}
    grads["w_xh"] = layer.weight_ih_l0.grad.numpy().T
    grads["w_hh"] = layer.weight_hh_l0.grad.numpy().T
    grads["b"] = layer.bias_ih_l0.grad.numpy()
    # bias_hh = 0 gets the same gradient as bias_ih: the two are one bias
    np.testing.assert_allclose(layer.bias_hh_l0.grad.numpy(), grads["b"], rtol=1e-12)
    return grads


@pytest.mark.parametrize("seed, steps, batch, d_in, hidden, scale", SHAPES)
def test_rnn_backward_matches_autograd(seed, steps, batch, d_in, hidden, scale) -> None:
    args = _rnn_inputs(seed, steps, batch, d_in, hidden, scale)
    got = solution.rnn_backward(*args)
    want = _autograd_bptt(*args)
    assert set(got) == {"xs", "h0", "w_xh", "w_hh", "b"}
    for key, value in want.items():
        assert got[key].shape == value.shape, key
        np.testing.assert_allclose(got[key], value, rtol=1e-9, atol=1e-12, err_msg=key)


def test_rnn_backward_uses_every_steps_gradient() -> None:
    """Gradients only from the last step differ: the contract's dhs is not only at h_T."""
    xs, h0, w_xh, w_hh, b, dhs = _rnn_inputs(6, 5, 2, 3, 4, 1.0)
    last_only = np.zeros_like(dhs)
    last_only[-1] = dhs[-1]
    full = solution.rnn_backward(xs, h0, w_xh, w_hh, b, dhs)["w_hh"]
    partial = _autograd_bptt(xs, h0, w_xh, w_hh, b, last_only)["w_hh"]
    assert not np.allclose(full, partial, rtol=1e-4)


@pytest.mark.parametrize("seed, steps, batch, d_in, hidden", [(10, 1, 2, 3, 2), (11, 7, 3, 2, 4)])
def test_lstm_matches_nn_lstm_and_lstm_cell(seed, steps, batch, d_in, hidden) -> None:
    xs, h0, c0, w_ih, w_hh, b = _lstm_inputs(seed, steps, batch, d_in, hidden)
    lstm = _load(torch.nn.LSTM(d_in, hidden, dtype=torch.float64), w_ih, w_hh, b)
    cell = _load(torch.nn.LSTMCell(d_in, hidden, dtype=torch.float64), w_ih, w_hh, b)
    with torch.no_grad():
        want_hs, (want_h, want_c) = lstm(_t(xs), (_t(h0)[None], _t(c0)[None]))
        cell_h, cell_c = cell(_t(xs[0]), (_t(h0), _t(c0)))
    assert want_h.shape == (1, batch, hidden)  # nn.LSTM's final states; the kit's are (B, H)
    hs, (h_t, c_t) = solution.lstm_forward(xs, h0, c0, w_ih, w_hh, b)
    assert hs.shape == (steps, batch, hidden) and h_t.shape == c_t.shape == (batch, hidden)
    np.testing.assert_allclose(hs, want_hs.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(h_t, want_h[0].numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c_t, want_c[0].numpy(), rtol=1e-12, atol=1e-12)
    h_new, c_new = solution.lstm_cell(xs[0], h0, c0, w_ih, w_hh, b)
    np.testing.assert_allclose(h_new, cell_h.numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(c_new, cell_c.numpy(), rtol=1e-12, atol=1e-12)


def test_cs231n_gate_order_is_another_network() -> None:
    """Reading the blocks as i, f, o, g (CS231n) is nn.LSTM with its g and o blocks swapped."""
    xs, h0, c0, w_ih, w_hh, b = _lstm_inputs(12, 1, 2, 3, 2)

    def swap(w: np.ndarray) -> np.ndarray:
        i, f, g, o = np.split(w, 4, axis=-1)
        return np.concatenate([i, f, o, g], axis=-1)

    cell = _load(torch.nn.LSTMCell(3, 2, dtype=torch.float64), swap(w_ih), swap(w_hh), swap(b))
    with torch.no_grad():
        swapped_h, _ = cell(_t(xs[0]), (_t(h0), _t(c0)))
    h_new, _ = solution.lstm_cell(xs[0], h0, c0, w_ih, w_hh, b)
    assert not np.allclose(h_new, swapped_h.numpy(), rtol=1e-4)


def _autograd_norms(xs, h0, w_xh, w_hh, b) -> np.ndarray:
    """|dL/dh_t| for L = sum(h_T), t = 1..T, by autograd through an explicit loop."""
    w_xh_t, w_hh_t, b_t = _t(w_xh), _t(w_hh), _t(b)
    h, states = _t(h0, True), []
    for x in _t(xs):
        h = torch.tanh(x @ w_xh_t + h @ w_hh_t + b_t)
        h.retain_grad()
        states.append(h)
    states[-1].sum().backward()
    return np.array([torch.linalg.norm(s.grad).item() for s in states])


@pytest.mark.parametrize("seed, steps, batch, d_in, hidden, scale", SHAPES)
def test_gradient_norms_match_autograd(seed, steps, batch, d_in, hidden, scale) -> None:
    xs, h0, w_xh, w_hh, b, _ = _rnn_inputs(seed, steps, batch, d_in, hidden, scale)
    got = solution.gradient_norms(xs, h0, w_xh, w_hh, b)
    assert got.shape == (steps,)
    np.testing.assert_allclose(got, _autograd_norms(xs, h0, w_xh, w_hh, b), rtol=1e-9, atol=1e-300)
    assert got[-1] == pytest.approx(math.sqrt(batch * hidden))


def test_small_w_hh_vanishes() -> None:
    """30 steps back with w_hh scaled by 0.3: the gradient at h_1 is a vanishing fraction."""
    xs, h0, w_xh, w_hh, b, _ = _rnn_inputs(3, 30, 2, 3, 4, 0.3)
    norms = solution.gradient_norms(xs, h0, w_xh, w_hh, b)
    assert norms[0] < 1e-10 * norms[-1]


def test_hand_fixtures_are_the_solutions_values() -> None:
    f = fixtures
    forward = (f.FORWARD_XS, f.FORWARD_H0, f.FORWARD_W_XH, f.FORWARD_W_HH, f.FORWARD_B)
    np.testing.assert_allclose(
        solution.rnn_forward(*(np.array(v) for v in forward)), f.FORWARD_HS, rtol=1e-12
    )
    backward = (f.BACKWARD_XS, f.BACKWARD_H0, f.BACKWARD_W_XH, f.BACKWARD_W_HH, f.BACKWARD_B)
    arrays = [np.array(v) for v in backward]
    grads = solution.rnn_backward(*arrays, np.array(f.BACKWARD_DHS))
    for key, value in f.BACKWARD_GRADS.items():
        np.testing.assert_allclose(grads[key], value, rtol=1e-12, atol=1e-12, err_msg=key)
    auto = _autograd_bptt(*arrays, np.array(f.BACKWARD_DHS))
    for key, value in f.BACKWARD_GRADS.items():
        np.testing.assert_allclose(auto[key], value, rtol=1e-12, atol=1e-12, err_msg=key)
    np.testing.assert_allclose(solution.gradient_norms(*arrays), f.NORMS, rtol=1e-12)
    cell = (f.CELL_X, f.CELL_H, f.CELL_C, f.CELL_W_IH, f.CELL_W_HH, f.CELL_B)
    h_new, c_new = solution.lstm_cell(*(np.array(v) for v in cell))
    np.testing.assert_allclose(h_new, f.CELL_H_NEW, rtol=1e-12)
    np.testing.assert_allclose(c_new, f.CELL_C_NEW, rtol=1e-12)
