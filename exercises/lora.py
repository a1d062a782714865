"""LoRA: low-rank adaptation of a frozen linear layer.

Fine-tuning every weight of a large model is expensive. LoRA freezes a pretrained weight w and
learns a low-rank correction instead: two thin matrices whose product has rank at most r. Only the
thin matrices are trained, and after training their product can be merged into w, so the adapted
layer costs nothing extra at inference. Implement:
- `lora_forward`: the adapted layer, x @ w + (alpha / r) * (x @ a) @ b.
- `merge_lora`: the single matrix that layer is equivalent to, w + (alpha / r) * a @ b.
- `lora_backward`: the gradients for the two trainable matrices (none for the frozen w).
- `lora_parameter_fraction`: how few parameters the adapter trains, relative to w.
- `lora_init` and `lora_fit`: the paper's start (b = 0, so the adapter starts as a no-op) and
  plain gradient descent on the mean squared error.

Conventions (this kit's, everywhere below):
- Weights act on the right of row vectors, x @ w: w is (d_in, d_out), not nn.Linear's (d_out, d_in).
- a is the paper's A stored transposed, shape (d_in, r), applied first (PEFT's lora_A.weight.T);
  b is the paper's B transposed, shape (r, d_out). The rank r is a.shape[1].
- The scale is alpha / r (the paper's and PEFT's default; not rsLoRA's alpha / sqrt(r), not alpha
  alone). No dropout.

References:
- Hu et al. (2021), "LoRA: Low-Rank Adaptation of Large Language Models", arXiv:2106.09685,
  section 4.1 (h = W0 x + B A x, scaled by alpha / r; A Gaussian, B zero at the start).
- Kalajdzievski (2023), "A Rank Stabilization Scaling Factor for Fine-Tuning with LoRA" (rsLoRA's
  alpha / sqrt(r), another convention that fails here).
- Hugging Face PEFT, `peft.tuners.lora.layer.Linear` (lora_A, lora_B, scaling = lora_alpha / r).
"""

from __future__ import annotations

import numpy as np


def lora_forward(
    x: np.ndarray, w: np.ndarray, a: np.ndarray, b: np.ndarray, alpha: float
) -> np.ndarray:
    """The LoRA-adapted linear layer: x @ w + (alpha / r) * (x @ a) @ b, with r = a.shape[1].

    x: (..., d_in), any number of leading axes (a single vector (d_in,) too).
    w: (d_in, d_out), the frozen pretrained weight. a: (d_in, r), applied first (the paper's A
    transposed). b: (r, d_out) (the paper's B transposed). alpha: the LoRA alpha, a float.
    The scale is alpha / r, r = a.shape[1] (not alpha, not alpha / sqrt(r)); no dropout.
    Returns (..., d_out), a new array. Does not modify its inputs.
    """
    # TODO(lora): compute x @ w plus the scaled low-rank path (x @ a) @ b; r = a.shape[1].
    raise NotImplementedError


def merge_lora(w: np.ndarray, a: np.ndarray, b: np.ndarray, alpha: float) -> np.ndarray:
    """The merged weight w + (alpha / r) * a @ b, r = a.shape[1]: x @ merge_lora(w, a, b, alpha)
    equals lora_forward(x, w, a, b, alpha).

    w: (d_in, d_out), a: (d_in, r), b: (r, d_out). Returns a NEW (d_in, d_out) array: w itself is
    left unchanged (no `w += ...`).
    """
    # TODO(lora): return a new array w + (alpha / r) * a @ b.
    raise NotImplementedError


def lora_backward(
    x: np.ndarray, dy: np.ndarray, a: np.ndarray, b: np.ndarray, alpha: float
) -> dict[str, np.ndarray]:
    """Gradients of sum(dy * lora_forward(x, w, a, b, alpha)) with respect to a and b.

    x: (N, d_in), the layer's input; dy: (N, d_out), the upstream gradient dL/dy (a sum, not a
    mean: do not divide by N). a: (d_in, r), b: (r, d_out), alpha as in lora_forward, scale
    s = alpha / r. w is frozen: it gets no gradient, and the result does not depend on it (which is
    why it is not an argument).
    Returns a dict with exactly the keys "a" and "b": {"a": (d_in, r), "b": (r, d_out)}, each the
    shape of its parameter.
    """
    # TODO(lora): return {"a": ..., "b": ...}, the gradients of sum(dy * y) (chain rule).
    raise NotImplementedError


def lora_parameter_fraction(d_in: int, d_out: int, r: int) -> float:
    """Trainable adapter parameters over the frozen matrix's: r * (d_in + d_out) / (d_in * d_out).

    a has d_in * r entries and b has r * d_out; w has d_in * d_out. Returns a float (a fraction,
    not a percentage). PEFT's print_trainable_parameters divides by frozen + adapter instead: that
    is not this function.
    Example: lora_parameter_fraction(4096, 4096, 8) == 0.00390625.
    """
    # TODO(lora): count the adapter's parameters and divide by the frozen matrix's.
    raise NotImplementedError


def lora_init(d_in: int, rank: int) -> np.ndarray:
    """The deterministic start for a, shape (d_in, rank):
    np.random.default_rng(0).normal(0, 1 / rank, size=(d_in, rank)).

    A fresh generator seeded 0 on every call, numpy's normal with loc 0 and scale (the standard
    deviation) 1 / rank, drawn directly in the shape (d_in, rank), so every learner starts alike.
    """
    # TODO(lora): draw a from a fresh np.random.default_rng(0), exactly as the docstring says.
    raise NotImplementedError


def lora_fit(
    x: np.ndarray,
    y: np.ndarray,
    w: np.ndarray,
    rank: int,
    alpha: float,
    lr: float,
    steps: int,
) -> tuple[np.ndarray, np.ndarray, list[float]]:
    """Fit an adapter to a target by plain gradient descent on the mean squared error.

    x: (N, d_in), y: (N, d_out), w: (d_in, d_out) frozen; rank r, alpha, learning rate lr, steps.
    Start from a = lora_init(d_in, rank) and b = zeros (rank, d_out), so the adapter starts as a
    no-op. Loss: mse_loss(lora_forward(x, w, a, b, alpha), y), the mean over all N * d_out
    elements (its gradient with respect to the prediction is 2 * (pred - y) / (N * d_out)).
    Each step computes BOTH gradients at the current (a, b) (lora_backward), then updates both:
    a - lr * grad_a, b - lr * grad_b. w never changes.
    Returns (a, b, losses): a (d_in, rank) and b (rank, d_out) after `steps` steps, and losses, a
    list of `steps` floats where losses[i] is the loss BEFORE step i (losses[0] is the loss of
    x @ w alone).
    """
    # TODO(lora): start from lora_init and zeros; each step record the loss, then update a and b.
    raise NotImplementedError
