"""Known-wrong and correct-but-different versions of solutions/regression.py."""

from __future__ import annotations

from catalogue import Variant

SOLVE = "    w = np.linalg.solve(xc.T @ xc + l2 * np.eye(x.shape[1]), xc.T @ yc)  # (D,)\n"
BCE = "    return float(np.mean(-(y * _log_sigmoid(z) + (1.0 - y) * _log_sigmoid(-z))))\n"
GRAD = "    return x.T @ residual / x.shape[0] + 2.0 * l2 * w, float(residual.mean())\n"
MASK = "    return (u >= p) / (1.0 - p)\n"
P_CHECK = "    if not 0 <= p < 1:\n"

WRONG: list[Variant] = [
    Variant(
        "the intercept penalised (a column of ones, ridge on all of it)",
        passes=False,
        code="""
        def linear_fit(x, y, l2=0.0):
            _check_l2(l2)
            ones = np.hstack([x, np.ones((x.shape[0], 1))])
            theta = np.linalg.solve(ones.T @ ones + l2 * np.eye(ones.shape[1]), ones.T @ y)
            return theta[:-1], float(theta[-1])
        """,
        message="the intercept is penalised",
    ),
    Variant(
        "the penalty scaled for a mean loss",
        passes=False,
        replace=(
            (
                SOLVE,
                "    w = np.linalg.solve(xc.T @ xc / len(x) + l2 * np.eye(x.shape[1]), "
                "xc.T @ yc / len(x))\n",
            ),
        ),
        message="as if the loss were a mean",
    ),
    Variant(
        "the penalty l2 / 2",
        passes=False,
        replace=(
            (
                SOLVE,
                "    w = np.linalg.solve(xc.T @ xc + l2 / 2 * np.eye(x.shape[1]), xc.T @ yc)\n",
            ),
        ),
        message="l2 / 2 * sum(w**2)",
    ),
    Variant(
        "the normal equations without centring",
        passes=False,
        replace=((SOLVE, "    w = np.linalg.solve(x.T @ x + l2 * np.eye(x.shape[1]), x.T @ y)\n"),),
        message="without centring",
    ),
    Variant(
        "sigmoid as exp(z) / (1 + exp(z))",
        passes=False,
        code="""
        def sigmoid(z):
            return np.exp(z) / (1.0 + np.exp(z))
        """,
        message="an overflow",
    ),
    Variant(
        "BCE from probabilities clipped to [1e-7, 1 - 1e-7] (Keras's epsilon)",
        passes=False,
        replace=(
            (
                BCE,
                "    q = np.clip(sigmoid(z), 1e-7, 1 - 1e-7)\n"
                "    return float(np.mean(-(y * np.log(q) + (1 - y) * np.log(1 - q))))\n",
            ),
        ),
        message="the loss is capped at |z| = 1000",
    ),
    Variant(
        "BCE with log(sigmoid + eps)",
        passes=False,
        replace=(
            (
                BCE,
                "    q, eps = sigmoid(z), 1e-12\n"
                "    loss = -(y * np.log(q + eps) + (1 - y) * np.log(1 - q + eps))\n"
                "    return float(np.mean(loss))\n",
            ),
        ),
        message="the loss is capped",
    ),
    Variant(
        "BCE summed, not averaged",
        passes=False,
        replace=((BCE, BCE.replace("np.mean(", "np.sum(")),),
        message="the losses were summed",
    ),
    Variant(
        "the logistic gradient of a sum (no / N)",
        passes=False,
        replace=((GRAD, "    return x.T @ residual + 2.0 * l2 * w, float(residual.sum())\n"),),
        message="the gradient of a SUM",
    ),
    Variant(
        "the penalty's gradient l2 * w",
        passes=False,
        replace=((GRAD, GRAD.replace("2.0 * l2 * w", "l2 * w")),),
        message="d/dw l2 * sum(w**2) = 2 * l2 * w",
    ),
    Variant(
        "b penalised in the logistic gradient",
        passes=False,
        replace=(
            (GRAD, GRAD.replace("float(residual.mean())", "float(residual.mean() + 2 * l2 * b)")),
        ),
        message="b is penalised too",
    ),
    Variant(
        "logistic_fit records the loss after each step",
        passes=False,
        replace=(
            (
                "        losses.append(bce_with_logits(x @ w + b, y) + l2 * float(np.sum(w**2)))\n"
                "        dw, db = logistic_grad(x, y, w, b, l2)\n"
                "        w, b = w - lr * dw, b - lr * db\n",
                "        dw, db = logistic_grad(x, y, w, b, l2)\n"
                "        w, b = w - lr * dw, b - lr * db\n"
                "        losses.append(bce_with_logits(x @ w + b, y) + l2 * float(np.sum(w**2)))\n",
            ),
        ),
        message="recorded after each step",
    ),
    Variant(
        "dropout scaled by 1 / p",
        passes=False,
        replace=((MASK, "    return (u >= p) / p if p else (u >= p) * 1.0\n"),),
        message="scaled by 1 / p",
    ),
    Variant(
        "dropout without the scale",
        passes=False,
        replace=((MASK, "    return (u >= p) * 1.0\n"),),
        message="kept elements are not scaled",
    ),
    Variant(
        "dropout kept where u > p",
        passes=False,
        replace=((MASK, "    return (u > p) / (1.0 - p)\n"),),
        message="u == p is kept too",
    ),
    Variant(
        "dropout active at evaluation",
        passes=False,
        replace=(
            (
                "    return x * mask if training else np.array(x, copy=True)\n",
                "    return x * mask\n",
            ),
        ),
        message="active at evaluation",
    ),
    Variant(
        "dropout accepts p = 1 (as torch's F.dropout)",
        passes=False,
        replace=(
            (P_CHECK, "    if not 0 <= p <= 1:\n"),
            (MASK, "    return (u >= p) / max(1.0 - p, 1e-300)\n"),
        ),
        message="should raise ValueError",
    ),
    Variant(
        "a ValueError that does not name p",
        passes=False,
        replace=(
            (
                '        raise ValueError(f"p must be in [0, 1), got p={p}")\n',
                '        raise ValueError("bad dropout probability")\n',
            ),
        ),
        message="does not name p",
    ),
    Variant(
        "the naive sigmoid 1 / (1 + exp(-z)): right values, after an overflow warning",
        passes=False,
        code="""
        def sigmoid(z):
            return 1.0 / (1.0 + np.exp(-np.asarray(z, dtype=float)))
        """,
        message="raised numpy's warning",
    ),
]

RIGHT: list[Variant] = [
    Variant(
        "lstsq on the augmented system, logaddexp, np.where and an array of losses",
        passes=True,
        code="""
        def linear_fit(x, y, l2=0.0):
            if l2 < 0:
                raise ValueError(f"negative l2: l2={l2}")
            mx, my = x.mean(axis=0), y.mean()
            a = np.vstack([x - mx, np.sqrt(l2) * np.eye(x.shape[1])])
            t = np.concatenate([y - my, np.zeros(x.shape[1])])
            w = np.linalg.lstsq(a, t, rcond=None)[0]
            return w, my - mx @ w

        def sigmoid(z):
            return 0.5 * (1.0 + np.tanh(0.5 * z))

        def bce_with_logits(z, y):
            return np.mean(y * np.logaddexp(0.0, -z) + (1 - y) * np.logaddexp(0.0, z))

        def logistic_fit(x, y, lr, steps, l2=0.0):
            _check_l2(l2)
            w, b, losses = np.zeros(x.shape[1]), 0.0, np.zeros(steps)
            for i in range(steps):
                losses[i] = bce_with_logits(x @ w + b, y) + l2 * w @ w
                dw, db = logistic_grad(x, y, w, b, l2)
                w, b = w - lr * dw, b - lr * db
            return w, np.float64(b), losses

        def dropout(x, p, u, training=True):
            _dropout_mask(np.shape(x), p, u)
            return np.where(u >= p, x / (1 - p), 0.0) if training else x.copy()
        """,
    ),
    Variant(
        "torch inside (autograd for the gradients, F.binary_cross_entropy_with_logits)",
        passes=True,
        code="""
        import torch
        import torch.nn.functional as F

        def _t(v, grad=False):
            return torch.tensor(np.asarray(v), dtype=torch.float64, requires_grad=grad)

        def sigmoid(z):
            return torch.sigmoid(_t(z))

        def bce_with_logits(z, y):
            return F.binary_cross_entropy_with_logits(_t(z), _t(y)).item()

        def logistic_grad(x, y, w, b, l2=0.0):
            _check_l2(l2)
            tw, tb = _t(w, True), _t(b, True)
            loss = F.binary_cross_entropy_with_logits(_t(x) @ tw + tb, _t(y)) + l2 * (tw**2).sum()
            loss.backward()
            return tw.grad.numpy(), float(tb.grad)  # logistic_fit steps with numpy

        def dropout_backward(dy, p, u):
            _dropout_mask(np.shape(dy), p, u)
            x = torch.zeros(np.shape(dy), dtype=torch.float64, requires_grad=True)
            (_t(dy) * (x * _t(u >= p) / (1 - p))).sum().backward()
            return x.grad
        """,
    ),
    Variant(
        "sklearn's form: one system for [w, b] with the intercept left out of the penalty",
        passes=True,
        code="""
        def linear_fit(x, y, l2=0.0):
            if l2 < 0:
                raise ValueError(f"l2 = {l2} is negative")
            n, d = x.shape
            ones = np.hstack([x - x.mean(0), np.ones((n, 1))])
            penalty = np.diag([float(l2)] * d + [0.0])
            theta = np.linalg.solve(ones.T @ ones + penalty, ones.T @ y)
            return theta[:d], float(theta[d] - x.mean(0) @ theta[:d])
        """,
    ),
    Variant(
        "float32 inside sigmoid and dropout, loops in logistic_grad",
        passes=True,
        code="""
        def sigmoid(z):
            z32 = np.asarray(z, np.float32)
            e = np.exp(-np.abs(z32))
            return np.where(z32 >= 0, 1 / (1 + e), e / (1 + e))

        def dropout(x, p, u, training=True):
            mask = _dropout_mask(np.shape(x), p, u).astype(np.float32)
            return np.asarray(x, np.float32) * mask if training else np.array(x, np.float32)

        def logistic_grad(x, y, w, b, l2=0.0):
            _check_l2(l2)
            n, d = x.shape
            dw, db = [2 * l2 * w[j] for j in range(d)], 0.0
            for i in range(n):
                r = float(sigmoid(np.array(x[i] @ w + b))) - y[i]
                db += r / n
                for j in range(d):
                    dw[j] += x[i, j] * r / n
            return np.array(dw), db
        """,
    ),
]

VARIANTS: list[Variant] = WRONG + RIGHT
