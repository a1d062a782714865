"""Backpropagation through a two-layer MLP, by hand.

Implement, with numpy and without autograd, the forward pass, the loss and the gradients of
    y_hat = relu(x @ w1 + b1) @ w2 + b2,    L = mean((y_hat - y) ** 2)
with respect to the four parameters w1, b1, w2, b2. Rows are examples: x is (N, D_in), and a
bias is added to every row. Work backwards from dL/dy_hat with the chain rule, one layer at a
time; every gradient has exactly the shape of its parameter.

It is the 2-layer problem of the notes (x = [1, 2], target 1), written for a batch of N rows.

References:
- CS231n, "Backpropagation, Intuitions": https://cs231n.github.io/optimization-2/
- Goodfellow, Bengio, Courville, "Deep Learning", section 6.5 (back-propagation):
  https://www.deeplearningbook.org/contents/mlp.html
- Karpathy, micrograd (a tiny autograd engine): https://github.com/karpathy/micrograd
"""

from __future__ import annotations

import numpy as np


def relu(z: np.ndarray) -> np.ndarray:
    """max(z, 0) elementwise; any shape, returns a new array of the same shape as `z`."""
    return np.maximum(z, 0.0)


def mlp_forward(
    x: np.ndarray, w1: np.ndarray, b1: np.ndarray, w2: np.ndarray, b2: np.ndarray
) -> np.ndarray:
    """The network's prediction y_hat = relu(x @ w1 + b1) @ w2 + b2.

    x (N, D_in), w1 (D_in, H), b1 (H,), w2 (H, D_out), b2 (D_out,).
    Returns y_hat (N, D_out), also when D_out == 1 (keep the axis).
    """
    h = relu(x @ w1 + b1)  # (N, H)
    return h @ w2 + b2  # (N, D_out)


def mse_loss(y_hat: np.ndarray, y: np.ndarray) -> float:
    """Mean squared error: the mean of (y_hat - y) ** 2 over all N * D_out elements.

    y_hat, y (N, D_out). Returns a single float.
    """
    return float(np.mean((y_hat - y) ** 2))


def mlp_backward(
    x: np.ndarray,
    y: np.ndarray,
    w1: np.ndarray,
    b1: np.ndarray,
    w2: np.ndarray,
    b2: np.ndarray,
) -> dict[str, np.ndarray]:
    """Gradients of L = mse_loss(mlp_forward(x, w1, b1, w2, b2), y) with respect to each parameter.

    x (N, D_in), y (N, D_out), w1 (D_in, H), b1 (H,), w2 (H, D_out), b2 (D_out,).
    Returns {"w1": dL/dw1, "b1": dL/db1, "w2": dL/dw2, "b2": dL/db2}, exactly these four keys,
    each gradient with the shape of its parameter: (D_in, H), (H,), (H, D_out), (D_out,).
    The loss is the mean over all N * D_out elements. The derivative of relu at exactly 0 is
    taken to be 0 (as in PyTorch).
    """
    # forward, keeping what the backward pass needs
    z = x @ w1 + b1  # (N, H)
    h = relu(z)  # (N, H)
    y_hat = h @ w2 + b2  # (N, D_out)
    # backward: L = sum((y_hat - y) ** 2) / (N * D_out)
    d_y_hat = 2.0 * (y_hat - y) / y_hat.size  # (N, D_out)
    d_w2 = h.T @ d_y_hat  # (H, D_out)
    d_b2 = d_y_hat.sum(axis=0)  # (D_out,): b2 is added to every row
    d_h = d_y_hat @ w2.T  # (N, H)
    d_z = d_h * (z > 0)  # (N, H): relu'(z) is 1 where z > 0, else 0 (also at exactly 0)
    d_w1 = x.T @ d_z  # (D_in, H)
    d_b1 = d_z.sum(axis=0)  # (H,)
    return {"w1": d_w1, "b1": d_b1, "w2": d_w2, "b2": d_b2}
