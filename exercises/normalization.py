"""Normalization layers: LayerNorm, RMSNorm, LayerNorm's backward pass, and BatchNorm.

Implement five functions (numpy; computing with torch inside is fine too):
- `layer_norm(x, gamma, beta, eps=1e-5)`: normalize each row (the last axis) of `x`.
- `rms_norm(x, gamma, eps=1e-6)`: rescale each row by its root mean square (no centring).
- `layer_norm_backward(x, dy, gamma, eps=1e-5)`: the gradients of LayerNorm, by hand.
- `batch_norm_train(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5)`:
  normalize each channel (column) over the batch, and update the running statistics.
- `batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5)`: normalize with the
  running statistics instead.

Conventions, everywhere in this file:
- Inputs are float64 numpy arrays. Never modify an input in place: not `x`, and not
  `running_mean` or `running_var` either (PyTorch updates its buffers in place; here the new
  running statistics are returned as new arrays).
- "The variance" is the biased one, the mean of the squared deviations (divide by D or N, as
  np.var does by default). The one exception: the variance that enters BatchNorm's running
  statistic is the unbiased one (divide by N - 1), as PyTorch does.
- eps goes inside the square root: (x - mean) / sqrt(var + eps), not / (sqrt(var) + eps). It
  matters only for rows (or channels) whose variance is tiny, and there it matters a lot.
- gamma scales and beta shifts, after normalizing: x_hat * gamma + beta.
- Shapes: `...` = any leading axes (batch, sequence), D = features (the last axis) for
  LayerNorm and RMSNorm, N = batch size and C = channels for BatchNorm (x is (N, C)).

References:
- Ba, Kiros, Hinton, "Layer Normalization" (2016), https://arxiv.org/abs/1607.06450
- Zhang, Sennrich, "Root Mean Square Layer Normalization" (2019), https://arxiv.org/abs/1910.07467
- Ioffe, Szegedy, "Batch Normalization" (2015), https://arxiv.org/abs/1502.03167
- A. Karpathy, llm.c, "layernorm" (the forward and backward pass in numpy and C),
  https://github.com/karpathy/llm.c/blob/master/doc/layernorm/layernorm.md
- PyTorch: `torch.nn.functional.layer_norm`, `torch.nn.RMSNorm`, `torch.nn.BatchNorm1d`.
"""

from __future__ import annotations

import numpy as np


def layer_norm(x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5) -> np.ndarray:
    """LayerNorm over the last axis: (x - mean) / sqrt(var + eps) * gamma + beta.

    x (..., D), gamma (D,), beta (D,). mean and var are taken over the last axis of each row on
    its own (never across the batch); var is the biased variance (divide by D); eps is inside
    the square root. Returns an array of the shape of x, (..., D).
    """
    # TODO(normalization): mean and biased variance of each row, normalize, scale, shift
    raise NotImplementedError


def rms_norm(x: np.ndarray, gamma: np.ndarray, eps: float = 1e-6) -> np.ndarray:
    """RMSNorm over the last axis: x / sqrt(mean(x**2) + eps) * gamma.

    x (..., D), gamma (D,). The mean of the squares is over the last axis of each row; no mean
    is subtracted and there is no beta. eps is inside the square root; its default 1e-6 is
    Llama's (torch.nn.RMSNorm's own default, machine epsilon, is a different value). Returns an
    array of the shape of x, (..., D).
    """
    # TODO(normalization): divide each row by sqrt(mean(x**2) + eps), then scale by gamma
    raise NotImplementedError


def layer_norm_backward(
    x: np.ndarray, dy: np.ndarray, gamma: np.ndarray, eps: float = 1e-5
) -> dict[str, np.ndarray]:
    """Gradients of sum(dy * layer_norm(x, gamma, beta, eps)) with respect to x, gamma and beta.

    x (..., D), dy (..., D) (the upstream gradient dL/dy, the shape of x), gamma (D,).
    Returns {"x": dL/dx, "gamma": dL/dgamma, "beta": dL/dbeta}, exactly these three keys:
    "x" has the shape of x, (..., D); "gamma" and "beta" are (D,), summed over every leading
    axis (each row uses the same gamma and beta). The mean and the variance depend on x too, so
    dL/dx has a term through each of them. beta changes no gradient, so it is not an argument.
    """
    # TODO(normalization): the forward pass, then the chain rule via x_hat, var and mean
    raise NotImplementedError


def batch_norm_train(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """BatchNorm in training mode: normalize each channel over the batch, update the statistics.

    x (N, C), gamma, beta, running_mean, running_var (C,). Per channel (column), over the batch
    axis: y = (x - mean) / sqrt(var + eps) * gamma + beta, with the batch's mean and biased
    variance (divide by N). Then, PyTorch's convention:
        new_running_mean = (1 - momentum) * running_mean + momentum * mean
        new_running_var  = (1 - momentum) * running_var  + momentum * unbiased_var
    where unbiased_var divides by N - 1. (momentum is the weight of the NEW batch: Keras's
    momentum=0.99 is momentum=0.01 here.) Returns (y (N, C), new_running_mean (C,),
    new_running_var (C,)), as new arrays: running_mean and running_var are not modified.
    N = 1 raises ValueError (one example has no variance; PyTorch refuses it in training
    mode too), with a message that names N.
    """
    # TODO(normalization): check N, normalize with the batch stats, return updated running stats
    raise NotImplementedError


def batch_norm_eval(
    x: np.ndarray,
    gamma: np.ndarray,
    beta: np.ndarray,
    running_mean: np.ndarray,
    running_var: np.ndarray,
    eps: float = 1e-5,
) -> np.ndarray:
    """BatchNorm in evaluation mode: (x - running_mean) / sqrt(running_var + eps) * gamma + beta.

    x (N, C), gamma, beta, running_mean, running_var (C,). The running statistics replace the
    batch's (nothing is computed from the batch, so any N works, N = 1 too) and nothing is
    updated. Returns y (N, C).
    """
    # TODO(normalization): normalize each column with the running statistics
    raise NotImplementedError
