"""Cross-entropy: log-softmax, the loss of a classifier or language model, its gradient, perplexity.

Implement four functions (numpy; computing with torch inside is fine too):
- `log_softmax(x, axis=-1)`: log of the softmax, computed stably (not as log(softmax(x))).
- `cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0)`: the mean negative
  log-probability of the targets, as torch.nn.functional.cross_entropy computes it.
- `cross_entropy_grad(logits, targets, ignore_index=-100)`: its gradient w.r.t. the logits.
- `perplexity(logits, targets, ignore_index=-100)`: exp of the mean cross-entropy.

Conventions, everywhere in this file:
- logits (N, C) float64: one row of C unnormalised scores per example (per token of a language
  model), C = number of classes (the vocabulary size). p = softmax(logits) over the last axis.
- targets (N,) int64: the correct class of each row, in [0, C), or `ignore_index` for a row that
  does not count (padding). `ignore_index` may be any int, a valid class id too: a row is ignored
  when its target equals `ignore_index`, whatever that value is. Ignored rows are left out of the
  mean altogether: the mean is over the n_kept rows that are not ignored, not over all N rows.
  (Inputs where every target is ignored are not graded.)
- Logarithms are natural (nats), as in PyTorch. Logits can be large (np.exp overflows to inf
  above 709): subtract the max of each row before exponentiating.
- cross_entropy and perplexity return one real number (a float, a numpy scalar, a 0-d array or
  a 0-d tensor; shape (1,) fails). Never modify an input in place.

References:
- Goodfellow, Bengio, Courville, "Deep Learning" (2016), sections 3.13 and 6.2.2:
  https://www.deeplearningbook.org/
- Szegedy et al., "Rethinking the Inception Architecture for Computer Vision" (2016), section 7
  (label smoothing): https://arxiv.org/abs/1512.00567
- PyTorch: torch.nn.functional.cross_entropy (ignore_index, label_smoothing) and
  torch.nn.functional.log_softmax.
- Jurafsky and Martin, "Speech and Language Processing", chapter 3 (perplexity):
  https://web.stanford.edu/~jurafsky/slp3/
"""

from __future__ import annotations

import numpy as np


def log_softmax(x: np.ndarray, axis: int = -1) -> np.ndarray:
    """log(softmax(x)) along `axis`, computed stably; same shape as `x`.

    log_softmax(x) = x - logsumexp(x), and logsumexp(x) = m + log(sum(exp(x - m))) with m the max
    along `axis` (keepdims=True). Then nothing overflows and nothing underflows to log(0):
    log_softmax([1000, 0]) = [0, -1000], finite. Do not modify `x` in place.
    """
    # TODO(cross_entropy): subtract the max along `axis`, then subtract the log of the sum of exps
    raise NotImplementedError


def cross_entropy(
    logits: np.ndarray,
    targets: np.ndarray,
    ignore_index: int = -100,
    label_smoothing: float = 0.0,
) -> float:
    """The mean cross-entropy of `targets` under softmax(`logits`), as F.cross_entropy.

    logits (N, C), targets (N,) ints in [0, C) or equal to `ignore_index`.
    With e = label_smoothing (0 <= e <= 1) and log p = log_softmax(logits) over the classes, the
    loss of a kept row is
        -(1 - e) * log p[target] - e * (mean over all C classes of log p[c])
    i.e. the target distribution puts 1 - e + e / C on the target and e / C on every other class
    (PyTorch's convention; fairseq's e / (C - 1) on the other classes is a different one and
    fails). Returns the mean of that over the rows whose target is not `ignore_index`.
    """
    # TODO(cross_entropy): log_softmax over the classes; on the rows whose target is not
    # ignore_index, mix -log p[target] and -mean(log p) by label_smoothing; average those rows
    raise NotImplementedError


def cross_entropy_grad(
    logits: np.ndarray, targets: np.ndarray, ignore_index: int = -100
) -> np.ndarray:
    """The gradient of cross_entropy(logits, targets, ignore_index) (no smoothing) w.r.t. logits.

    logits (N, C), targets (N,). Returns (N, C): (softmax(logits) - one_hot(targets)) / n_kept on
    every kept row, and exactly 0 on every ignored row, n_kept = number of kept rows.
    """
    # TODO(cross_entropy): (softmax - one_hot) / n_kept on the kept rows, 0 on the ignored rows
    raise NotImplementedError


def perplexity(logits: np.ndarray, targets: np.ndarray, ignore_index: int = -100) -> float:
    """exp(cross_entropy(logits, targets, ignore_index)), without label smoothing.

    The exponential of the mean loss over the kept rows (not the mean of the per-row
    exponentials). A model that spreads its probability uniformly over C classes has
    perplexity C.
    """
    # TODO(cross_entropy): exp of the mean cross-entropy over the kept rows
    raise NotImplementedError
