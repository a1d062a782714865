"""Regression: ridge in closed form, logistic regression by gradient descent, and dropout.

The questions an interview starts with before it reaches a transformer: the normal equations (and
why the intercept is left out of the penalty), the sigmoid and the binary cross-entropy computed
so that a logit of 1000 neither overflows nor loses the loss, the gradient of logistic regression
with an L2 penalty, and inverted dropout forward and backward. Implement:
- `linear_fit`: ridge regression with an unpenalised intercept, in closed form.
- `sigmoid` and `bce_with_logits`: stable for logits of +-1000.
- `logistic_grad` and `logistic_fit`: the gradient of the mean BCE plus l2 * sum(w**2), and plain
  gradient descent with it.
- `dropout` and `dropout_backward`: inverted dropout with the uniform draws passed in.

Conventions (this kit's, everywhere below):
- x is (N, D), one example per row; y is (N,); w is (D,) and b a float: predictions x @ w + b.
- The ridge loss is a SUM of squares plus l2 * sum(w**2); the logistic loss is a MEAN over the N
  examples plus l2 * sum(w**2). The intercept b is never penalised.
- "Stable" means no RuntimeWarning (overflow, divide, invalid) and exact values at |z| = 1000.
- l2 < 0 raises ValueError naming l2 and its value; so do a p outside [0, 1) and a u whose shape is
  not x's in dropout.

References:
- Hastie, Tibshirani, Friedman, "The Elements of Statistical Learning", section 3.4.1 (ridge: the
  intercept is estimated by the mean after centring, and not penalised).
- scikit-learn, `Ridge(alpha, fit_intercept=True)` (the same loss) and `LogisticRegression(C)`
  (a sum of losses plus 1 / (2C) * sum(w**2): l2 = 1 / (2 * C * N) here).
- PyTorch, `torch.nn.functional.binary_cross_entropy_with_logits` (the log-sum-exp form).
- Srivastava et al. (2014), "Dropout: A Simple Way to Prevent Neural Networks from Overfitting",
  JMLR 15 (dropout; the inverted form scales at training time, as torch's F.dropout does).
"""

from __future__ import annotations

import numpy as np


def linear_fit(x: np.ndarray, y: np.ndarray, l2: float = 0.0) -> tuple[np.ndarray, float]:
    """Ridge regression with an unpenalised intercept, in closed form.

    x: (N, D), y: (N,). Minimises sum((x @ w + b - y)**2) + l2 * sum(w**2), as sklearn's
    Ridge(alpha=l2, fit_intercept=True): a SUM of squares (not a mean), the penalty l2 * sum(w**2)
    (not l2 / 2), and b NOT penalised. Centre first: xc = x - mean(x, axis=0), yc = y - mean(y);
    solve (xc^T xc + l2 * I) w = xc^T yc; then b = mean(y) - mean(x, axis=0) @ w.
    Returns (w, b): w (D,), b a float. l2 < 0 raises ValueError naming l2 and its value.
    Inputs where xc^T xc + l2 * I is singular are not graded.
    """
    # TODO(regression): centre x and y, solve for w, then b from the means.
    raise NotImplementedError


def sigmoid(z: np.ndarray) -> np.ndarray:
    """1 / (1 + exp(-z)) element-wise, any shape, stable.

    sigmoid(-1000) is 0 and sigmoid(1000) is 1 (to rtol=1e-4, atol=1e-6) with no RuntimeWarning:
    the naive 1 / (1 + exp(-z)) overflows in exp(1000), and exp(z) / (1 + exp(z)) gives inf / inf =
    nan. Only ever take exp of a non-positive number. Returns a new array of z's shape.
    """
    # TODO(regression): use exp(-|z|) only; pick the form by the sign of z.
    raise NotImplementedError


def bce_with_logits(z: np.ndarray, y: np.ndarray) -> float:
    """The mean binary cross-entropy of logits z against targets y, computed stably.

    z, y: (N,); y in {0, 1} (floats in [0, 1] allowed). The mean over the N entries of
    -(y * log(sigmoid(z)) + (1 - y) * log(1 - sigmoid(z))), as PyTorch's
    F.binary_cross_entropy_with_logits(z, y) (reduction "mean"). Exact for |z| = 1000:
    bce_with_logits([1000], [0]) is 1000 and bce_with_logits([1000], [1]) is 0. Clipping the
    probabilities to [eps, 1 - eps] fails (it caps the loss near -log(eps)); so does
    log(sigmoid(z) + eps). Use log(1 - sigmoid(z)) = log(sigmoid(-z)). No RuntimeWarning.
    Returns a float.
    """
    # TODO(regression): write log(sigmoid(z)) and log(1 - sigmoid(z)) without exp of a large number.
    raise NotImplementedError


def logistic_grad(
    x: np.ndarray, y: np.ndarray, w: np.ndarray, b: float, l2: float = 0.0
) -> tuple[np.ndarray, float]:
    """Gradients of bce_with_logits(x @ w + b, y) + l2 * sum(w**2) with respect to w and b.

    x: (N, D), y: (N,), w: (D,), b a float. With r = sigmoid(x @ w + b) - y (N,):
    dw = x^T r / N + 2 * l2 * w (D,) and db = mean(r), a float (b is not penalised).
    The loss is a MEAN over N while linear_fit's is a SUM, so the same l2 weighs differently in
    the two; sklearn's LogisticRegression(C) corresponds to l2 = 1 / (2 * C * N).
    Stable for logits of +-1000. Returns (dw, db). l2 < 0 raises ValueError naming l2 and its value.
    """
    # TODO(regression): r = sigmoid(x @ w + b) - y; dw = x.T @ r / N + 2 * l2 * w; db = mean(r).
    raise NotImplementedError


def logistic_fit(
    x: np.ndarray, y: np.ndarray, lr: float, steps: int, l2: float = 0.0
) -> tuple[np.ndarray, float, list[float]]:
    """Logistic regression by plain gradient descent from w = 0 (D,), b = 0.

    x: (N, D), y: (N,). Each step: record the regularised loss
    bce_with_logits(x @ w + b, y) + l2 * sum(w**2) at the current (w, b), then take
    (dw, db) = logistic_grad(x, y, w, b, l2) and update w - lr * dw, b - lr * db.
    Returns (w, b, losses): w (D,), b a float, losses a list (or a (steps,) array) where losses[i]
    is the loss BEFORE step i; steps = 0 returns w = 0, b = 0 and an empty list.
    l2 < 0 raises ValueError naming l2 and its value.
    """
    # TODO(regression): from zeros, record the regularised loss, then step with logistic_grad.
    raise NotImplementedError


def dropout(x: np.ndarray, p: float, u: np.ndarray, training: bool = True) -> np.ndarray:
    """Inverted dropout with the uniform draws given.

    x: any shape; u: x's shape, uniform in [0, 1) (else ValueError). An element is KEPT where
    u >= p and kept elements are scaled by 1 / (1 - p), so the expectation is x; dropped ones are 0.
    training=False returns x's values unchanged (no scaling at evaluation: it happened at training
    time), in a NEW array that shares no memory with x. 0 <= p < 1, else ValueError naming p and
    its value, whatever `training` is (torch's F.dropout accepts p = 1; here it is an error).
    Returns an array of x's shape.
    """
    # TODO(regression): check p and u; keep u >= p, scale by 1 / (1 - p); a copy of x at evaluation.
    raise NotImplementedError


def dropout_backward(dy: np.ndarray, p: float, u: np.ndarray) -> np.ndarray:
    """The gradient of sum(dy * dropout(x, p, u)) with respect to x (training mode).

    dy: the upstream gradient, x's shape; u as in dropout (dy's shape, else ValueError); the same
    checks of p. Returns an array of dy's shape: dy where u >= p, scaled by 1 / (1 - p), else 0.
    """
    # TODO(regression): the same checks and mask as dropout, applied to dy.
    raise NotImplementedError
