"""Gradient descent with momentum.

Training a transformer is gradient descent on its weights. Implement the two update rules and use
them on the smallest possible model, a line through the origin with one weight:
- `sgd_step`: plain gradient descent, w - lr * grad.
- `sgd_momentum_step`: heavy-ball momentum in PyTorch's form. The velocity is a running sum of
  past gradients, each step's weighted by `momentum` once more:
      v_new = momentum * velocity + grad
      w_new = w - lr * v_new
  (The "EMA form" v = momentum * v + (1 - momentum) * grad of some notes is another convention
  and fails here, and so does folding lr into the velocity.)
- `fit_line`: minimise L(w) = (w * x - y)**2 from w0 with `steps` momentum steps.

References:
- Polyak (1964), "Some methods of speeding up the convergence of iteration methods".
- Sutskever et al. (2013), "On the importance of initialization and momentum in deep
  learning", ICML, section 2.
- PyTorch's torch.optim.SGD documentation (the update with momentum and dampening 0).
"""

from __future__ import annotations

import numpy as np


def sgd_step(w: np.ndarray | float, grad: np.ndarray | float, lr: float) -> np.ndarray | float:
    """One step of plain gradient descent: returns w - lr * grad.

    w and grad: arrays of the same shape, or scalars. Returns the new weights, the shape of w.
    Does not modify w.
    """
    # TODO(momentum_sgd): return the weights after one plain gradient-descent step.
    raise NotImplementedError


def sgd_momentum_step(
    w: np.ndarray | float,
    grad: np.ndarray | float,
    velocity: np.ndarray | float,
    lr: float,
    momentum: float,
) -> tuple[np.ndarray | float, np.ndarray | float]:
    """One step of SGD with momentum (PyTorch's form, dampening 0): returns (w_new, v_new).

    w, grad, velocity: arrays of the same shape, or scalars. velocity is the v returned by the
    previous step (zeros before the first step).
        v_new = momentum * velocity + grad
        w_new = w - lr * v_new          (the NEW velocity, not the old one)
    Returns the tuple (w_new, v_new), each the shape of w. Does not modify its inputs.
    """
    # TODO(momentum_sgd): compute v_new first, then step w with it; return (w_new, v_new).
    raise NotImplementedError


def fit_line(
    w0: float, x: float, y: float, lr: float, steps: int, momentum: float = 0.0
) -> list[float]:
    """Fit y_hat = w * x to one point (x, y) by gradient descent with momentum.

    Loss L(w) = (w * x - y)**2 for scalars w, x, y; work out dL/dw yourself (chain rule).
    Start at w = w0 with velocity 0 and take `steps` steps of `sgd_momentum_step` (momentum = 0
    is plain gradient descent), carrying the velocity from one step to the next.
    Returns the weight after each step as a list of `steps` floats (w0 itself is not included).
    Example: fit_line(5, 2, 2, 0.1, 3) == [1.8, 1.16, 1.032].
    """
    # TODO(momentum_sgd): loop `steps` times: gradient at the current w, one momentum step,
    # record the new w. Carry the velocity between steps.
    raise NotImplementedError
