"""Known-wrong and correct-but-different versions of solutions/lora.py."""

from __future__ import annotations

from catalogue import Variant

SCALE_LINE = "    scale = alpha / r\n"
FORWARD_RETURN = (
    "    return x @ w + scale * ((x @ a) @ b)  # (..., d_out); (x @ a) is (..., r), "
    "the cheap path\n"
)
MERGE_RETURN = "    return w + (alpha / r) * (a @ b)  # (d_in, d_out)\n"
BACKWARD_SCALE = "    scale = alpha / a.shape[1]\n"
GRAD_A_LINE = "    grad_a = scale * (x.T @ (dy @ b.T))  # (d_in, r)\n"
BACKWARD_RETURN = '    return {"a": grad_a, "b": grad_b}\n'
FRACTION_RETURN = "    return r * (d_in + d_out) / (d_in * d_out)\n"
INIT_RETURN = "    return rng.normal(0.0, 1.0 / rank, size=(d_in, rank))\n"
FIT_START = "    a = lora_init(w.shape[0], rank)\n    b = np.zeros((rank, w.shape[1]))\n"
FIT_LOSS = "        losses.append(float(np.mean((pred - y) ** 2)))\n"
FIT_DY = "        dy = 2.0 * (pred - y) / pred.size  # d mean / d pred\n"
FIT_UPDATE = (
    '        grads = lora_backward(x, dy, a, b, alpha)\n        a, b = a - lr * grads["a"], '
    'b - lr * grads["b"]\n'
)

VARIANTS: list[Variant] = [
    # --- wrong: the scale -----------------------------------------------------------------------
    Variant(
        "scaled by alpha",
        passes=False,
        replace=((SCALE_LINE, "    scale = alpha\n"),),
        message="scaled by alpha instead of alpha / r",
    ),
    Variant(
        "scaled by r / alpha",
        passes=False,
        replace=((SCALE_LINE, "    scale = r / alpha\n"),),
        message="scaled by r / alpha",
    ),
    Variant(
        "rsLoRA's alpha / sqrt(r)",
        passes=False,
        replace=((SCALE_LINE, "    scale = alpha / np.sqrt(r)\n"),),
        message="rsLoRA's scale",
    ),
    Variant(
        "r taken from a.shape[0] (PEFT's lora_A.weight layout)",
        passes=False,
        replace=(("    r = a.shape[1]\n    scale", "    r = a.shape[0]\n    scale"),),
        message="r taken from a.shape[0]",
    ),
    Variant(
        "no frozen term",
        passes=False,
        replace=((FORWARD_RETURN, "    return scale * ((x @ a) @ b)\n"),),
        message="the frozen term x @ w is missing",
    ),
    Variant(
        "x @ w.T (nn.Linear's layout)",
        passes=False,
        replace=((FORWARD_RETURN, "    return x @ w.T + scale * ((x @ a) @ b)\n"),),
        message="nn.Linear's (d_out, d_in) layout",
    ),
    # --- wrong: merge ---------------------------------------------------------------------------
    Variant(
        "merge without the scale",
        passes=False,
        replace=((MERGE_RETURN, "    return w + a @ b\n"),),
        message="merged without the scale",
    ),
    Variant(
        "merge with the update transposed (the paper's B A)",
        passes=False,
        replace=((MERGE_RETURN, "    return w + (alpha / r) * (a @ b).T\n"),),
        message="the update is transposed",
    ),
    Variant(
        "merge in place (w += ...)",
        passes=False,
        replace=((MERGE_RETURN, "    w += (alpha / r) * (a @ b)\n    return w\n"),),
        message="modified its input `w` in place",
    ),
    Variant(
        "merge subtracts the update",
        passes=False,
        replace=((MERGE_RETURN, "    return w - (alpha / r) * (a @ b)\n"),),
        message="that unmerges",
    ),
    # --- wrong: backward ------------------------------------------------------------------------
    Variant(
        "a gradient for w too",
        passes=False,
        replace=((BACKWARD_RETURN, '    return {"a": grad_a, "b": grad_b, "w": x.T @ dy}\n'),),
        message="a gradient for w",
    ),
    Variant(
        "gradients without the scale",
        passes=False,
        replace=((BACKWARD_SCALE, "    scale = 1.0\n"),),
        message="the low-rank path is not scaled",
    ),
    Variant(
        "gradients divided by N",
        passes=False,
        replace=((BACKWARD_SCALE, "    scale = alpha / a.shape[1] / x.shape[0]\n"),),
        message="divided by N",
    ),
    Variant(
        "gradient for a in PEFT's lora_A.weight layout (r, d_in)",
        passes=False,
        replace=((BACKWARD_RETURN, '    return {"a": grad_a.T, "b": grad_b}\n'),),
        message="PEFT's lora_A.weight layout",
    ),
    # --- wrong: fraction ------------------------------------------------------------------------
    Variant(
        "PEFT's trainable fraction (over frozen + adapter)",
        passes=False,
        replace=(
            (
                FRACTION_RETURN,
                "    return r * (d_in + d_out) / (d_in * d_out + r * (d_in + d_out))\n",
            ),
        ),
        message="print_trainable_parameters",
    ),
    Variant(
        "a percentage",
        passes=False,
        replace=((FRACTION_RETURN, "    return 100 * r * (d_in + d_out) / (d_in * d_out)\n"),),
        message="a percentage",
    ),
    # --- wrong: init ----------------------------------------------------------------------------
    Variant(
        "init std 1 / sqrt(rank)",
        passes=False,
        replace=(
            (INIT_RETURN, "    return rng.normal(0.0, 1.0 / np.sqrt(rank), size=(d_in, rank))\n"),
        ),
        message="reading 1 / rank as the variance",
    ),
    Variant(
        "init drawn (rank, d_in) and transposed",
        passes=False,
        replace=((INIT_RETURN, "    return rng.normal(0.0, 1.0 / rank, size=(rank, d_in)).T\n"),),
        message="drawn as (rank, d_in) and transposed",
    ),
    Variant(
        "init from the legacy global generator",
        passes=False,
        replace=(
            (
                INIT_RETURN,
                "    np.random.seed(0)\n"
                "    return np.random.normal(0.0, 1.0 / rank, (d_in, rank))\n",
            ),
        ),
        message="legacy global generator",
    ),
    # --- wrong: fit -----------------------------------------------------------------------------
    Variant(
        "b initialised randomly (the same generator as a)",
        passes=False,
        replace=(
            (
                FIT_START,
                "    a = lora_init(w.shape[0], rank)\n"
                "    b = np.random.default_rng(0).normal(0, 1 / rank, size=(rank, w.shape[1]))\n",
            ),
        ),
        message="b initialised randomly",
    ),
    Variant(
        "b initialised randomly (another generator)",
        passes=False,
        replace=(
            (
                FIT_START,
                "    a = lora_init(w.shape[0], rank)\n"
                "    b = 0.01 * np.random.default_rng(7).standard_normal((rank, w.shape[1]))\n",
            ),
        ),
        message="the adapter must start as a no-op",
    ),
    Variant(
        "a = 0 and b random (the initialisation swapped)",
        passes=False,
        replace=(
            (
                FIT_START,
                "    a = np.zeros((w.shape[0], rank))\n"
                "    b = np.random.default_rng(0).normal(0, 1 / rank, size=(rank, w.shape[1]))\n",
            ),
        ),
        message="initialised the other way round",
    ),
    Variant(
        "a and b both zero",
        passes=False,
        replace=(
            (
                FIT_START,
                "    a = np.zeros((w.shape[0], rank))\n    b = np.zeros((rank, w.shape[1]))\n",
            ),
        ),
        message="both start at zeros",
    ),
    Variant(
        "losses recorded after each step",
        passes=False,
        replace=(
            (FIT_LOSS, ""),
            (
                FIT_UPDATE,
                FIT_UPDATE
                + "        after = lora_forward(x, w, a, b, alpha)\n"
                + "        losses.append(float(np.mean((after - y) ** 2)))\n",
            ),
        ),
        message="recorded after each step",
    ),
    Variant(
        "the loss after the last step appended",
        passes=False,
        replace=(
            (
                "    return a, b, losses\n",
                "    losses.append(float(np.mean((lora_forward(x, w, a, b, alpha) - y) ** 2)))\n"
                "    return a, b, losses\n",
            ),
        ),
        message="one loss too many",
    ),
    Variant(
        "a sum of squares as the loss",
        passes=False,
        replace=(
            (FIT_LOSS, "        losses.append(float(np.sum((pred - y) ** 2)))\n"),
            (FIT_DY, "        dy = 2.0 * (pred - y)\n"),
        ),
        message="the loss is a sum",
    ),
    Variant(
        "the gradient of the sum with the mean as the loss",
        passes=False,
        replace=((FIT_DY, "        dy = 2.0 * (pred - y)\n"),),
        message="the gradient is that of the sum",
    ),
    Variant(
        "no factor 2 in the loss's gradient",
        passes=False,
        replace=((FIT_DY, "        dy = (pred - y) / pred.size\n"),),
        message="missing its factor 2",
    ),
    Variant(
        "b updated before a's gradient is computed",
        passes=False,
        replace=(
            (
                FIT_UPDATE,
                '        b = b - lr * lora_backward(x, dy, a, b, alpha)["b"]\n'
                "        dy = 2.0 * (lora_forward(x, w, a, b, alpha) - y) / pred.size\n"
                '        a = a - lr * lora_backward(x, dy, a, b, alpha)["a"]\n',
            ),
        ),
        message="one matrix was updated before the other's gradient",
    ),
    # --- wrong: found in public code (issue 26) -------------------------------------------------
    Variant(
        "the layer not scaled at all (forward and merge)",
        passes=False,
        replace=((SCALE_LINE, "    scale = 1.0\n"), (MERGE_RETURN, "    return w + a @ b\n")),
        message="the low-rank path is not scaled",
    ),
    Variant(
        "the MSE gradient divided by N (the rows) instead of N * d_out",
        passes=False,
        replace=((FIT_DY, "        dy = 2.0 * (pred - y) / pred.shape[0]\n"),),
        message="the gradient is divided by N, the rows, only",
    ),
    # --- right ----------------------------------------------------------------------------------
    Variant(
        "einsum everywhere",
        passes=True,
        code="""
        def lora_forward(x, w, a, b, alpha):
            s = alpha / a.shape[1]
            h = np.einsum("...i,ir->...r", x, a)
            return np.einsum("...i,io->...o", x, w) + s * np.einsum("...r,ro->...o", h, b)

        def merge_lora(w, a, b, alpha):
            return w + (alpha / a.shape[1]) * np.einsum("ir,ro->io", a, b)

        def lora_backward(x, dy, a, b, alpha):
            s = alpha / a.shape[1]
            return {
                "a": s * np.einsum("ni,no,ro->ir", x, dy, b),
                "b": s * np.einsum("ni,ir,no->ro", x, a, dy),
            }
        """,
    ),
    Variant(
        "plain Python loops",
        passes=True,
        code="""
        def _matmul(p, q):
            rows, inner, cols = p.shape[0], p.shape[1], q.shape[1]
            out = np.zeros((rows, cols))
            for i in range(rows):
                for j in range(cols):
                    total = 0.0
                    for k in range(inner):
                        total += p[i, k] * q[k, j]
                    out[i, j] = total
            return out

        def lora_forward(x, w, a, b, alpha):
            flat = np.asarray(x, dtype=float).reshape(-1, w.shape[0])
            s = alpha / a.shape[1]
            out = _matmul(flat, w) + s * _matmul(_matmul(flat, a), b)
            return out.reshape(*np.shape(x)[:-1], w.shape[1])

        def merge_lora(w, a, b, alpha):
            return w + (alpha / a.shape[1]) * _matmul(a, b)

        def lora_backward(x, dy, a, b, alpha):
            s = alpha / a.shape[1]
            return {
                "a": s * _matmul(x.T, _matmul(dy, b.T)),
                "b": s * _matmul(_matmul(x, a).T, dy),
            }

        def lora_parameter_fraction(d_in, d_out, r):
            adapter = sum(1 for _ in range(d_in * r)) + sum(1 for _ in range(r * d_out))
            return adapter / (d_in * d_out)
        """,
    ),
    Variant(
        "torch inside: autograd for the gradients, torch.optim.SGD for the fit",
        passes=True,
        code="""
        import torch

        def _t(v):
            return torch.as_tensor(np.asarray(v), dtype=torch.float64)

        def lora_forward(x, w, a, b, alpha):
            s = alpha / a.shape[1]
            return _t(x) @ _t(w) + s * (_t(x) @ _t(a)) @ _t(b)

        def merge_lora(w, a, b, alpha):
            return torch.addmm(_t(w), _t(a), _t(b), alpha=alpha / a.shape[1])

        def lora_backward(x, dy, a, b, alpha):
            ta = _t(a).requires_grad_(True)
            tb = _t(b).requires_grad_(True)
            out = (_t(x) @ ta) @ tb * (alpha / a.shape[1])
            (out * _t(dy)).sum().backward()
            return {"a": ta.grad, "b": tb.grad}

        def lora_fit(x, y, w, rank, alpha, lr, steps):
            ta = _t(lora_init(w.shape[0], rank)).requires_grad_(True)
            tb = torch.zeros(rank, w.shape[1], dtype=torch.float64, requires_grad=True)
            optimizer = torch.optim.SGD([ta, tb], lr=lr)
            losses = []
            for _ in range(steps):
                optimizer.zero_grad()
                pred = _t(x) @ _t(w) + (alpha / rank) * (_t(x) @ ta) @ tb
                loss = torch.nn.functional.mse_loss(pred, _t(y))
                losses.append(loss.item())
                loss.backward()
                optimizer.step()
            return ta.detach(), tb.detach(), losses
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        _f = np.float32

        def lora_forward(x, w, a, b, alpha):
            x32, w32, a32, b32 = (np.asarray(v, _f) for v in (x, w, a, b))
            return x32 @ w32 + _f(alpha / a.shape[1]) * ((x32 @ a32) @ b32)

        def merge_lora(w, a, b, alpha):
            a32, b32 = np.asarray(a, _f), np.asarray(b, _f)
            return np.asarray(w, _f) + _f(alpha / a.shape[1]) * (a32 @ b32)

        def lora_backward(x, dy, a, b, alpha):
            x32, dy32, a32, b32 = (np.asarray(v, _f) for v in (x, dy, a, b))
            s = _f(alpha / a.shape[1])
            return {"a": s * (x32.T @ (dy32 @ b32.T)), "b": s * ((x32 @ a32).T @ dy32)}
        """,
    ),
    Variant(
        "another algorithm: forward through the merged weight, init by standard_normal / rank, "
        "fit with the gradient written out",
        passes=True,
        code="""
        def lora_forward(x, w, a, b, alpha):
            return x @ merge_lora(w, a, b, alpha)

        def lora_init(d_in, rank):
            return np.random.default_rng(0).standard_normal((d_in, rank)) / rank

        def lora_parameter_fraction(d_in, d_out, r):
            return r / d_out + r / d_in

        def lora_fit(x, y, w, rank, alpha, lr, steps):
            a, b, s = lora_init(w.shape[0], rank), np.zeros((rank, w.shape[1])), alpha / rank
            losses = []
            for _ in range(steps):
                residual = x @ w + s * x @ a @ b - y
                losses.append(float((residual**2).sum() / residual.size))
                g = 2 * residual / residual.size
                grad_a, grad_b = s * x.T @ g @ b.T, s * a.T @ x.T @ g
                a, b = a - lr * grad_a, b - lr * grad_b
            return a, b, losses
        """,
    ),
]
