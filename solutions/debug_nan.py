"""Debug: "the loss is NaN after a few training steps".

This is a complete program: a two-layer classifier in numpy, trained by full-batch gradient descent
on a data set it builds itself. Run it (`python exercises/debug_nan.py`) and it prints nan. Several
mistakes hide in it, each one people really make; find and fix them all. Keep every name, signature
and docstring: the grader calls the functions one by one, then trains end to end.

Fixed, `train(*make_data(0))` gives 200 finite losses that fall below LOSS_THRESHOLD.

What each function must do:
- `normalize(x, eps)`: per feature over the batch axis, (x - mean) / sqrt(var + eps), var the
  biased variance. A constant feature becomes 0, never nan.
- `forward(params, x)`: h = relu(x @ w1 + b1); logits = h @ w2 + b2.
- `cross_entropy(logits, y)`: the mean over N of -log softmax(logits)[y], computed in log-softmax
  form (finite for logits of 1e4 and for a target probability below 1e-300), and its gradient
  w.r.t. logits, (softmax - one_hot) / N.
- `backward(params, cache, dlogits)`: gradients of the loss for "w1", "b1", "w2", "b2".
- `clip_by_global_norm(grads, max_norm)`: one norm over every element of every gradient; when it
  is above max_norm every gradient is scaled by max_norm / (norm + 1e-6), otherwise unchanged.
- `train(x, y, steps, lr, seed)`: init_params(seed), normalize(x) once, then per step: forward,
  loss (losses[i] is the loss before step i), backward, clipping at MAX_NORM, and a gradient
  descent step, params - lr * grads.

References: the notes' debugging scenario "Loss is NaN after a few training steps"; CS231n's
notes on numeric stability of the softmax; torch.nn.utils.clip_grad_norm_.
"""

from __future__ import annotations

import numpy as np

LOSS_THRESHOLD = 0.1  # the last loss of train(*make_data(0)) once the program is fixed
MAX_NORM = 5.0  # gradient clipping in train
HIDDEN = 16
CLASSES = 3

Params = dict[str, np.ndarray]


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A fixed data set: x (1200, 6), y (1200,) ints in [0, 3).

    Features 0-3 are standard normal, feature 4 is in the tens of thousands (a raw count) and
    feature 5 is constant (a column that never varies). The class is which of three linear scores
    of the varying features is largest.
    """
    rng = np.random.default_rng(seed)
    n = 1200
    x = np.empty((n, 6))
    x[:, :4] = rng.normal(size=(n, 4))
    x[:, 4] = 20000.0 + 5000.0 * rng.normal(size=n)
    x[:, 5] = 3.0
    scores = np.column_stack(
        [x[:, 0] + x[:, 1], x[:, 2] - x[:, 0], (x[:, 4] - 20000.0) / 5000.0 - x[:, 3]]
    )
    return x, scores.argmax(axis=1)


def init_params(d_in: int, seed: int = 0) -> Params:
    """He-normal weights from np.random.default_rng(seed), zero biases:
    w1 (d_in, HIDDEN) ~ N(0, 2 / d_in), w2 (HIDDEN, CLASSES) ~ N(0, 2 / HIDDEN), drawn in that
    order."""
    rng = np.random.default_rng(seed)
    return {
        "w1": rng.normal(0.0, np.sqrt(2.0 / d_in), size=(d_in, HIDDEN)),
        "b1": np.zeros(HIDDEN),
        "w2": rng.normal(0.0, np.sqrt(2.0 / HIDDEN), size=(HIDDEN, CLASSES)),
        "b2": np.zeros(CLASSES),
    }


def normalize(x: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """Per feature over the batch: (x - mean) / sqrt(var + eps). x (N, D) -> (N, D)."""
    mean = x.mean(axis=0)
    var = x.var(axis=0)
    return (x - mean) / np.sqrt(var + eps)


def forward(params: Params, x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
    """h = relu(x @ w1 + b1); logits = h @ w2 + b2. Returns logits (N, C) and the cache that
    backward needs."""
    z = x @ params["w1"] + params["b1"]  # (N, H)
    h = np.maximum(z, 0.0)
    logits = h @ params["w2"] + params["b2"]  # (N, C)
    return logits, (x, z, h)


def cross_entropy(logits: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy of logits (N, C) against int targets y (N,), and its gradient
    (softmax - one_hot) / N w.r.t. logits."""
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(n)
    loss = -log_probs[rows, y].mean()
    dlogits = np.exp(log_probs)
    dlogits[rows, y] -= 1.0
    return float(loss), dlogits / n


def backward(params: Params, cache: tuple[np.ndarray, ...], dlogits: np.ndarray) -> Params:
    """Gradients of the loss w.r.t. w1, b1, w2, b2, from forward's cache and dL/dlogits."""
    x, z, h = cache
    dh = dlogits @ params["w2"].T
    dz = dh * (z > 0)
    return {
        "w1": x.T @ dz,
        "b1": dz.sum(axis=0),
        "w2": h.T @ dlogits,
        "b2": dlogits.sum(axis=0),
    }


def clip_by_global_norm(grads: Params, max_norm: float) -> Params:
    """Every gradient scaled by max_norm / (norm + 1e-6) when the norm of all of them together is
    above max_norm; otherwise unchanged. Returns a new dict."""
    total = np.sqrt(sum(float(np.sum(g**2)) for g in grads.values()))
    scale = max_norm / (total + 1e-6) if total > max_norm else 1.0
    return {name: g * scale for name, g in grads.items()}


def train(
    x: np.ndarray, y: np.ndarray, steps: int = 200, lr: float = 0.5, seed: int = 0
) -> tuple[Params, list[float]]:
    """Full-batch gradient descent from init_params(x.shape[1], seed) on normalize(x), clipping at
    MAX_NORM. Returns the final params and the loss before each step."""
    params = init_params(x.shape[1], seed)
    x = normalize(x)
    losses = []
    for _ in range(steps):
        logits, cache = forward(params, x)
        loss, dlogits = cross_entropy(logits, y)
        losses.append(loss)
        grads = clip_by_global_norm(backward(params, cache, dlogits), MAX_NORM)
        params = {name: params[name] - lr * grads[name] for name in params}
    return params, losses


if __name__ == "__main__":
    _, history = train(*make_data(0))
    print(f"loss: first {history[0]:.4f}, last {history[-1]:.4f} (target < {LOSS_THRESHOLD})")
