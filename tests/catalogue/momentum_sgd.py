"""Known-wrong and correct-but-different versions of solutions/momentum_sgd.py."""

from __future__ import annotations

from catalogue import Variant

V_LINE = "    v_new = momentum * velocity + grad  # running sum of gradients\n"
W_LINE = "    w_new = w - lr * v_new\n    return w_new, v_new\n"
GRAD_LINE = "        grad = 2.0 * x * (w * x - y)  # dL/dw at the current w\n"
STEP_LINE = "        w, velocity = sgd_momentum_step(w, grad, velocity, lr, momentum)\n"

VARIANTS: list[Variant] = [
    # --- wrong ----------------------------------------------------------------------------------
    Variant(
        "ema form of momentum",
        passes=False,
        replace=((V_LINE, "    v_new = momentum * velocity + (1 - momentum) * grad\n"),),
        message="the EMA form",
    ),
    Variant(
        "lr folded into the velocity",
        passes=False,
        replace=(
            (V_LINE, "    v_new = momentum * velocity + lr * grad\n"),
            (W_LINE, "    w_new = w - v_new\n    return w_new, v_new\n"),
        ),
        message="lr folded into the velocity",
    ),
    Variant(
        "sutskever's form: v = momentum * v - lr * grad, w + v",
        passes=False,
        replace=(
            (V_LINE, "    v_new = momentum * velocity - lr * grad\n"),
            (W_LINE, "    w_new = w + v_new\n    return w_new, v_new\n"),
        ),
        message="Sutskever's form",
    ),
    Variant(
        "update uses the old velocity",
        passes=False,
        replace=((W_LINE, "    w_new = w - lr * velocity\n    return w_new, v_new\n"),),
        message="the step used the old velocity",
    ),
    Variant(
        "sign error in the momentum step",
        passes=False,
        replace=((W_LINE, "    w_new = w + lr * v_new\n    return w_new, v_new\n"),),
        message="a sign error",
    ),
    Variant(
        "sign error in sgd_step",
        passes=False,
        replace=(("    return w - lr * grad  # same shape as w\n", "    return w + lr * grad\n"),),
        message="a sign error",
    ),
    Variant(
        "results swapped",
        passes=False,
        replace=(("    return w_new, v_new\n", "    return v_new, w_new\n"),),
        message="swapped",
    ),
    Variant(
        "returns the old velocity",
        passes=False,
        replace=(("    return w_new, v_new\n", "    return w_new, velocity\n"),),
        message="returned the old velocity",
    ),
    Variant(
        "sgd_step modifies w in place",
        passes=False,
        replace=(
            (
                "    return w - lr * grad  # same shape as w\n",
                "    w -= lr * grad\n    return w\n",
            ),
        ),
        message="in place",
    ),
    Variant(
        "gradient without the factor 2",
        passes=False,
        replace=((GRAD_LINE, "        grad = x * (w * x - y)\n"),),
        message="missing its factor 2",
    ),
    Variant(
        "gradient without the factor x",
        passes=False,
        replace=((GRAD_LINE, "        grad = 2.0 * (w * x - y)\n"),),
        message="missing its factor x",
    ),
    Variant(
        "fit_line includes w0 (steps + 1 values)",
        passes=False,
        replace=(("    weights = []\n", "    weights = [float(w0)]\n"),),
        message="the list starts with w0",
    ),
    Variant(
        "fit_line includes w0 and stops one step early",
        passes=False,
        replace=(
            ("    weights = []\n", "    weights = [float(w0)]\n"),
            ("    for _ in range(steps):\n", "    for _ in range(steps - 1):\n"),
        ),
        message="the list starts with w0",
    ),
    Variant(
        "velocity not carried between steps",
        passes=False,
        replace=((STEP_LINE, "        w, _ = sgd_momentum_step(w, grad, 0.0, lr, momentum)\n"),),
        message="not carried between steps",
    ),
    # --- right ----------------------------------------------------------------------------------
    Variant(
        "torch inside (torch.optim.SGD and autograd)",
        passes=True,
        code="""
        import torch


        def sgd_step(w, grad, lr):
            return (torch.as_tensor(w) - lr * torch.as_tensor(grad)).numpy()


        def sgd_momentum_step(w, grad, velocity, lr, momentum):
            v_new = momentum * torch.as_tensor(velocity) + torch.as_tensor(grad)
            return torch.as_tensor(w) - lr * v_new, v_new


        def fit_line(w0, x, y, lr, steps, momentum=0.0):
            w = torch.tensor(float(w0), dtype=torch.float64, requires_grad=True)
            optimizer = torch.optim.SGD([w], lr=lr, momentum=momentum)
            weights = []
            for _ in range(steps):
                optimizer.zero_grad()
                loss = (w * x - y) ** 2
                loss.backward()
                optimizer.step()
                weights.append(w.item())
            return weights
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        def sgd_step(w, grad, lr):
            return np.float32(w) - np.float32(lr) * np.float32(grad)


        def sgd_momentum_step(w, grad, velocity, lr, momentum):
            f32 = np.float32
            v_new = f32(momentum) * np.asarray(velocity, f32) + np.asarray(grad, f32)
            return np.asarray(w, f32) - f32(lr) * v_new, v_new


        def fit_line(w0, x, y, lr, steps, momentum=0.0):
            w, v, x, y, out = np.float32(w0), np.float32(0), np.float32(x), np.float32(y), []
            for _ in range(steps):
                w, v = sgd_momentum_step(w, 2 * x * (w * x - y), v, lr, momentum)
                out.append(w)
            return out
        """,
    ),
    Variant(
        "heavy-ball recurrence on the weights (no velocity variable)",
        passes=True,
        code="""
        def fit_line(w0, x, y, lr, steps, momentum=0.0):
            # w_{t+1} = w_t - lr * g_t + momentum * (w_t - w_{t-1}): same iterates for a fixed lr
            previous, current, out = float(w0), float(w0), []
            while len(out) < steps:
                step = -lr * 2 * x * (current * x - y) + momentum * (current - previous)
                previous, current = current, current + step
                out.append(current)
            return np.array(out)
        """,
    ),
    Variant(
        "in place, on copies",
        passes=True,
        code="""
        def sgd_step(w, grad, lr):
            w_new = np.array(w, dtype=np.float64)  # a copy
            w_new -= lr * np.asarray(grad)
            return w_new


        def sgd_momentum_step(w, grad, velocity, lr, momentum):
            v_new = np.array(velocity, dtype=np.float64)  # a copy
            v_new *= momentum
            v_new += grad
            w_new = np.array(w, dtype=np.float64)
            w_new -= lr * v_new
            return w_new, v_new
        """,
    ),
]
