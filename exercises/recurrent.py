"""Recurrent networks: a vanilla RNN forward and backward in time, an LSTM, and why RNNs forget.

Before attention, a sequence model carried everything it knew in one hidden state, updated once per
step. Training it means backpropagation through time (BPTT): the gradient reaching step t is a
product of one Jacobian per later step, so it shrinks (or blows up) geometrically with distance;
the LSTM's additive cell state is the classic fix. Implement:
- `rnn_forward`: h_t = tanh(x_t @ w_xh + h_{t-1} @ w_hh + b) for every step.
- `rnn_backward`: the gradients of a loss that has a gradient at every step, through time.
- `lstm_cell` and `lstm_forward`: one LSTM step with PyTorch's gate order, then a whole sequence.
- `gradient_norms`: how large the gradient of sum(h_T) is at each earlier hidden state.

Conventions (this kit's, everywhere below):
- Time first: xs is (T, B, D), as nn.RNN's default (batch_first=False); T >= 1.
- Weights act on the right of row vectors, x @ w: w_xh is (D, H), not nn.RNN's weight_ih_l0 (H, D).
- One bias b per layer (nn.RNN and nn.LSTM carry two, bias_ih and bias_hh, that add up to it).
- The LSTM's four blocks of 4H columns are in PyTorch's order i, f, g, o (input, forget, the tanh
  candidate g, output), with no forget-gate bias added beyond b.

References:
- Elman (1990), "Finding Structure in Time" (the simple recurrent network).
- Werbos (1990), "Backpropagation Through Time: What It Does and How to Do It".
- Hochreiter and Schmidhuber (1997), "Long Short-Term Memory"; Gers et al. (2000) (the forget gate).
- Bengio, Simard and Frasconi (1994); Pascanu, Mikolov and Bengio (2013), "On the difficulty of
  training recurrent neural networks" (vanishing and exploding gradients).
- PyTorch, `torch.nn.RNN` and `torch.nn.LSTM` (the gate order i, f, g, o).
"""

from __future__ import annotations

import numpy as np


def rnn_forward(
    xs: np.ndarray, h0: np.ndarray, w_xh: np.ndarray, w_hh: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """A vanilla (Elman) RNN over a whole sequence: h_t = tanh(x_t @ w_xh + h_{t-1} @ w_hh + b).

    xs: (T, B, D), time first, T >= 1. h0: (B, H), the state before the first step.
    w_xh: (D, H), w_hh: (H, H), b: (H,), one bias (nn.RNN's bias_ih + bias_hh).
    Returns hs (T, B, H): hs[t - 1] = h_t for t = 1..T, so hs[0] is the state after the first
    input and hs[-1] is h_T; h0 itself is not in hs. Does not modify its inputs.
    """
    # TODO(recurrent): h = h0; for each x_t in xs: h = tanh(x_t @ w_xh + h @ w_hh + b);
    # keep every new h and return them stacked, (T, B, H), h0 not included.
    raise NotImplementedError


def rnn_backward(
    xs: np.ndarray,
    h0: np.ndarray,
    w_xh: np.ndarray,
    w_hh: np.ndarray,
    b: np.ndarray,
    dhs: np.ndarray,
) -> dict[str, np.ndarray]:
    """Backpropagation through time: the gradients of sum(dhs * rnn_forward(xs, h0, w_xh, w_hh, b)).

    Arguments as rnn_forward's; dhs (T, B, H) is the loss gradient at EVERY step (dhs[t - 1] for
    h_t), not only at the last. The gradient reaching h_t is dhs[t - 1] plus what flows back from
    h_{t+1}; the derivative of tanh is 1 - h_t**2.
    Returns a dict with exactly the keys "xs" (T, B, D), "h0" (B, H), "w_xh" (D, H), "w_hh" (H, H)
    and "b" (H,), each the shape of its argument; the weights' gradients are sums over every step
    and every example of the batch.
    """
    # TODO(recurrent): run the forward pass and keep hs; walk t from T down to 1
    # carrying dL/dh_t: add that step's dhs, go through tanh (1 - h_t**2), accumulate
    # the weights' gradients, pass the rest back to h_{t-1} (after step 1: h0).
    raise NotImplementedError


def lstm_cell(
    x: np.ndarray,
    h: np.ndarray,
    c: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """One LSTM step: returns (h_new, c_new), each (B, H).

    x: (B, D), h and c: (B, H), w_ih: (D, 4H), w_hh: (H, 4H), b: (4H,).
    z = x @ w_ih + h @ w_hh + b, split along its columns into four (B, H) blocks in PyTorch's
    order i, f, g, o: i = sigmoid(z[:, :H]) (input gate), f = sigmoid(z[:, H:2H]) (forget gate),
    g = tanh(z[:, 2H:3H]) (candidate), o = sigmoid(z[:, 3H:]) (output gate).
    c_new = f * c + i * g; h_new = o * tanh(c_new). No extra forget bias (TensorFlow 1 adds 1.0).
    Keras's i, f, c, o (c the candidate) is this order; CS231n's i, f, o, g is not.
    """
    # TODO(recurrent): z = x @ w_ih + h @ w_hh + b; its columns are i, f, g, o;
    # sigmoid for i, f, o, tanh for g; c_new = f * c + i * g; h_new = o * tanh(c_new).
    raise NotImplementedError


def lstm_forward(
    xs: np.ndarray,
    h0: np.ndarray,
    c0: np.ndarray,
    w_ih: np.ndarray,
    w_hh: np.ndarray,
    b: np.ndarray,
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """lstm_cell over a sequence: returns (hs, (h_T, c_T)).

    xs: (T, B, D), time first, T >= 1; h0, c0: (B, H); w_ih, w_hh, b as in lstm_cell.
    hs (T, B, H) holds h_1 .. h_T (not h0); h_T and c_T are (B, H), the last step's states
    (not nn.LSTM's (num_layers, B, H) = (1, B, H)).
    """
    # TODO(recurrent): lstm_cell once per step, keep each h; return (hs, (h_T, c_T)).
    raise NotImplementedError


def gradient_norms(
    xs: np.ndarray, h0: np.ndarray, w_xh: np.ndarray, w_hh: np.ndarray, b: np.ndarray
) -> np.ndarray:
    """How the gradient fades (or explodes) going back in time, for rnn_forward's network.

    The loss is sum(h_T) (every entry of the last state, nothing from other steps). For t = 1..T,
    g_t = dL/dh_t is the TOTAL derivative through every later step (B, H); entry t - 1 of the
    result is its Frobenius norm over the whole batch, sqrt(sum(g_t ** 2)) (one number per step,
    not one per example; w.r.t. h_t, not the pre-activation). Entry T - 1 is the norm of
    dL/dh_T = ones, sqrt(B * H). Returns a (T,) array.
    """
    # TODO(recurrent): g = ones (B, H) is dL/dh_T; walk back: record the norm
    # of g, then g = (g * (1 - h_t**2)) @ w_hh.T is dL/dh_{t-1}.
    raise NotImplementedError
