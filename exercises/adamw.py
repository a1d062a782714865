"""Adam, AdamW, a warm-up + cosine learning-rate schedule and gradient clipping.

The optimizer that trains nearly every transformer, and the two things wrapped around it:
- `adam_step`: one step of Adam as torch.optim.Adam computes it. Two running averages per weight,
  m of the gradient and v of its square, both started at 0 and so biased towards 0 early on;
  dividing by (1 - beta**t) undoes that bias. The step is lr * m_hat / (sqrt(v_hat) + eps): eps is
  added AFTER the square root, to the bias-corrected v. Its weight_decay is an L2 penalty folded
  into the gradient (g = grad + weight_decay * w), so it is rescaled by 1 / sqrt(v_hat) like the
  rest of the gradient.
- `adamw_step`: AdamW as torch.optim.AdamW, the decay decoupled from the gradient: first
  w = w * (1 - lr * weight_decay), then the Adam step with g = grad. Every weight shrinks by the
  same fraction, however large its gradients.
- `cosine_lr`: linear warm-up from 0, then a half cosine from max_lr down to min_lr (nanoGPT).
- `clip_grad_norm`: one norm over all the gradients together, as torch.nn.utils.clip_grad_norm_.

References:
- Kingma and Ba (2015), "Adam: A method for stochastic optimization", ICLR, algorithm 1.
- Loshchilov and Hutter (2019), "Decoupled weight decay regularization", ICLR, algorithm 2.
- Loshchilov and Hutter (2017), "SGDR: Stochastic gradient descent with warm restarts", ICLR.
- Pascanu, Mikolov and Bengio (2013), "On the difficulty of training recurrent neural networks".
- PyTorch's torch.optim.Adam, torch.optim.AdamW and torch.nn.utils.clip_grad_norm_ documentation;
  karpathy/nanoGPT train.py (get_lr).
"""

from __future__ import annotations

import numpy as np


def adam_step(
    w: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.0,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Adam step, as torch.optim.Adam: returns the new (w, m, v).

    w, grad, m, v: float64 arrays of one shape. m and v are the moments returned by the previous
    step (zeros before the first step); t is the number of this step, t >= 1 (1 for the first).
    weight_decay is an L2 penalty folded into the gradient (torch.optim.Adam's, not AdamW's):
        g     = grad + weight_decay * w
        m     = beta1 * m + (1 - beta1) * g
        v     = beta2 * v + (1 - beta2) * g**2
        m_hat = m / (1 - beta1**t);   v_hat = v / (1 - beta2**t)      (bias correction)
        w     = w - lr * m_hat / (sqrt(v_hat) + eps)                   (eps outside the sqrt)
    Returns (w, m, v), each the shape of w: the new m and v (not m_hat, v_hat), to be passed to the
    next step with t + 1. Does not modify its inputs.
    """
    # TODO(adamw): g with the L2 term, the two moments, their bias correction, then the
    # step with eps outside the square root; return (w, m, v).
    raise NotImplementedError


def adamw_step(
    w: np.ndarray,
    grad: np.ndarray,
    m: np.ndarray,
    v: np.ndarray,
    t: int,
    lr: float,
    beta1: float = 0.9,
    beta2: float = 0.999,
    eps: float = 1e-8,
    weight_decay: float = 0.01,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One AdamW step, as torch.optim.AdamW (decoupled weight decay): returns the new (w, m, v).

    The same arguments as adam_step (default weight_decay 0.01, as torch.optim.AdamW). The decay
    does not go through the gradient or the moments:
        w = w * (1 - lr * weight_decay)          first, on the weights before the step
    then the adam_step update above with g = grad (no weight_decay * w added to it):
        m = beta1 * m + (1 - beta1) * grad;  v = beta2 * v + (1 - beta2) * grad**2
        w = w - lr * m_hat / (sqrt(v_hat) + eps)
    Returns (w, m, v), each the shape of w. Does not modify its inputs.
    """
    # TODO(adamw): decay the weights first, w * (1 - lr * weight_decay), then an Adam step
    # with the plain gradient; return (w, m, v).
    raise NotImplementedError


def cosine_lr(
    step: int, max_lr: float, min_lr: float, warmup_steps: int, cosine_steps: int
) -> float:
    """The learning rate at `step` (counted from 0): linear warm-up, then cosine decay.

    cosine_steps is the step at which the decay ends, counted from step 0 with the warm-up
    included (nanoGPT's lr_decay_iters), 0 <= warmup_steps < cosine_steps:
        step < warmup_steps:                   max_lr * step / warmup_steps   (0 at step 0)
        warmup_steps <= step <= cosine_steps:  min_lr + 0.5 * (1 + cos(pi * r)) * (max_lr - min_lr)
                                               with r = (step - warmup_steps)
                                                        / (cosine_steps - warmup_steps)
        step > cosine_steps:                   min_lr
    So the rate is max_lr at step warmup_steps and min_lr at step cosine_steps. Returns a float.
    (With warmup_steps = 0 there is no warm-up; step 0 then is not graded.)
    """
    # TODO(adamw): three cases: warm-up, cosine decay, after the decay.
    raise NotImplementedError


def clip_grad_norm(grads: list[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    """Clip a list of gradients by their global norm, as torch.nn.utils.clip_grad_norm_.

    grads: a list of float64 arrays of any shapes (one per parameter); max_norm > 0.
        total_norm = sqrt(sum of g**2 over every element of every array)   (ONE norm for all)
        if total_norm > max_norm: every array is multiplied by max_norm / (total_norm + 1e-6)
        otherwise the arrays are returned unchanged (small gradients are never scaled up)
    Returns (clipped, total_norm): a list of new arrays, one per input in the same order and
    shapes, and total_norm, the norm BEFORE clipping, as a float. Does not modify the arrays or
    the list.
    """
    # TODO(adamw): one norm over every element of every array; scale only when it is
    # above max_norm; return (list of new arrays, norm before clipping).
    raise NotImplementedError
