"""Known-wrong and correct-but-different versions of solutions/adamw.py."""

from __future__ import annotations

from catalogue import Variant

G_LINE = "    g = grad + weight_decay * w  # L2 penalty: its gradient joins the loss's\n"
M_LINE = "    m_new = beta1 * m + (1 - beta1) * g\n"
V_LINE = "    v_new = beta2 * v + (1 - beta2) * g**2\n"
HAT_LINES = "    m_hat = m_new / (1 - beta1**t)\n    v_hat = v_new / (1 - beta2**t)\n"
STEP_LINE = "    w_new = w - lr * m_hat / (np.sqrt(v_hat) + eps)\n"
RETURN_LINE = "    return w_new, m_new, v_new\n"
DECAY_LINE = (
    "    decayed = w * (1 - lr * weight_decay)  # decoupled decay, before the Adam update\n"
)
ADAMW_RETURN = (
    "    return adam_step(decayed, grad, m, v, t, lr, beta1, beta2, eps, weight_decay=0.0)\n"
)
WARMUP_LINE = "        return max_lr * step / warmup_steps\n"
AFTER_LINES = "    if step > cosine_steps:\n        return float(min_lr)\n"
RATIO_LINE = (
    "    ratio = (step - warmup_steps) / (cosine_steps - warmup_steps)  # 0 -> 1 over the decay\n"
)
COSINE_LINE = "    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * (max_lr - min_lr)\n"
SCALE_LINE = "    scale = max_norm / (total_norm + 1e-6) if total_norm > max_norm else 1.0\n"
CLIPPED_LINE = (
    "    clipped = [np.asarray(g) * scale for g in grads]  # new arrays, the same direction\n"
)
CLIP_RETURN = "    return clipped, total_norm\n"

VARIANTS: list[Variant] = [
    # --- wrong: Adam ----------------------------------------------------------------------------
    Variant(
        "no bias correction",
        passes=False,
        replace=((HAT_LINES, "    m_hat = m_new\n    v_hat = v_new\n"),),
        message="no bias correction",
    ),
    Variant(
        "t counted from 0 (beta**(t + 1))",
        passes=False,
        replace=(
            (
                HAT_LINES,
                "    m_hat = m_new / (1 - beta1 ** (t + 1))\n"
                "    v_hat = v_new / (1 - beta2 ** (t + 1))\n",
            ),
        ),
        message="t counted from 0",
    ),
    Variant(
        "beta**(t - 1) in the bias correction",
        passes=False,
        replace=(
            (
                HAT_LINES,
                "    m_hat = m_new / (1 - beta1 ** (t - 1))\n"
                "    v_hat = v_new / (1 - beta2 ** (t - 1))\n",
            ),
        ),
        message="beta**(t - 1)",
    ),
    Variant(
        "eps inside the square root",
        passes=False,
        replace=((STEP_LINE, "    w_new = w - lr * m_hat / np.sqrt(v_hat + eps)\n"),),
        message="eps inside the square root",
    ),
    Variant(
        "Keras's epsilon-hat (eps added before the bias correction)",
        passes=False,
        replace=(
            (
                STEP_LINE,
                "    lr_t = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)\n"
                "    w_new = w - lr_t * m_new / (np.sqrt(v_new) + eps)\n",
            ),
        ),
        message="epsilon-hat",
    ),
    Variant(
        "moments without the (1 - beta) factor",
        passes=False,
        replace=(
            (M_LINE, "    m_new = beta1 * m + g\n"),
            (V_LINE, "    v_new = beta2 * v + g**2\n"),
        ),
        message="lost their (1 - beta) factor",
    ),
    Variant(
        "returns m_hat and v_hat as the new state",
        passes=False,
        replace=((RETURN_LINE, "    return w_new, m_hat, v_hat\n"),),
        message="returned the bias-corrected m_hat",
    ),
    Variant(
        "m and v swapped in the result",
        passes=False,
        replace=((RETURN_LINE, "    return w_new, v_new, m_new\n"),),
        message="m and v are swapped",
    ),
    Variant(
        "moments updated in place (m *= beta1)",
        passes=False,
        replace=(
            (M_LINE, "    m *= beta1\n    m += (1 - beta1) * g\n    m_new = m\n"),
            (V_LINE, "    v *= beta2\n    v += (1 - beta2) * g**2\n    v_new = v\n"),
        ),
        message="in place",
    ),
    Variant(
        "adam_step ignores weight_decay",
        passes=False,
        replace=((G_LINE, "    g = grad\n"),),
        message="weight_decay was ignored: adam_step",
    ),
    Variant(
        "adam_step with decoupled decay (AdamW's)",
        passes=False,
        replace=((G_LINE, "    g = grad\n    w = w * (1 - lr * weight_decay)\n"),),
        message="adam_step decayed the weights directly",
    ),
    Variant(
        "sign error (a step up the gradient)",
        passes=False,
        replace=((STEP_LINE, "    w_new = w + lr * m_hat / (np.sqrt(v_hat) + eps)\n"),),
        message="a sign error",
    ),
    Variant(
        "divides by v_hat, not its square root",
        passes=False,
        replace=((STEP_LINE, "    w_new = w - lr * m_hat / (v_hat + eps)\n"),),
        message="divided by v_hat, not by its square root",
    ),
    Variant(
        "returns the old moments",
        passes=False,
        replace=((RETURN_LINE, "    return w_new, m, v\n"),),
        message="returned the old moments",
    ),
    # --- wrong: AdamW ---------------------------------------------------------------------------
    Variant(
        "AdamW as an L2 penalty (torch.optim.Adam's weight_decay)",
        passes=False,
        replace=(
            (DECAY_LINE, ""),
            (
                ADAMW_RETURN,
                "    return adam_step(w, grad, m, v, t, lr, beta1, beta2, eps, weight_decay)\n",
            ),
        ),
        message="AdamW as an L2 penalty",
    ),
    Variant(
        "decay after the Adam update",
        passes=False,
        code="""
        def adamw_step(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
            w_new, m_new, v_new = adam_step(w, grad, m, v, t, lr, beta1, beta2, eps)
            return w_new * (1 - lr * weight_decay), m_new, v_new
        """,
        message="the decay was applied after the Adam update",
    ),
    Variant(
        "decay not scaled by lr (the paper's schedule multiplier 1)",
        passes=False,
        replace=((DECAY_LINE, "    decayed = w * (1 - weight_decay)\n"),),
        message="the decay is not scaled by lr",
    ),
    Variant(
        "adamw_step's default weight_decay 0",
        passes=False,
        replace=(("    weight_decay: float = 0.01,\n", "    weight_decay: float = 0.0,\n"),),
        message="adamw_step's default weight_decay is 0.01",
    ),
    Variant(
        "adamw_step ignores weight_decay",
        passes=False,
        replace=((DECAY_LINE, "    decayed = w\n"),),
        message="weight_decay was ignored: AdamW",
    ),
    Variant(
        "decay applied twice (decoupled and as L2)",
        passes=False,
        replace=(
            (
                ADAMW_RETURN,
                "    return adam_step(decayed, grad + weight_decay * w, m, v, t, lr, beta1, beta2, "
                "eps)\n",
            ),
        ),
        message="the decay was applied twice",
    ),
    # --- wrong: cosine_lr -----------------------------------------------------------------------
    Variant(
        "warm-up off by one ((step + 1) / warmup_steps)",
        passes=False,
        replace=((WARMUP_LINE, "        return max_lr * (step + 1) / warmup_steps\n"),),
        message="the warm-up is off by one",
    ),
    Variant(
        "nanoGPT's newer warm-up ((step + 1) / (warmup_steps + 1))",
        passes=False,
        replace=((WARMUP_LINE, "        return max_lr * (step + 1) / (warmup_steps + 1)\n"),),
        message="nanoGPT's newer",
    ),
    Variant(
        "cosine down to 0 (min_lr ignored)",
        passes=False,
        replace=((COSINE_LINE, "    return 0.5 * (1.0 + math.cos(math.pi * ratio)) * max_lr\n"),),
        message="decays to 0 instead of min_lr",
    ),
    Variant(
        "cosine_steps counted after the warm-up",
        passes=False,
        replace=(
            (AFTER_LINES, "    if step > warmup_steps + cosine_steps:\n        return min_lr\n"),
            (RATIO_LINE, "    ratio = (step - warmup_steps) / cosine_steps\n"),
        ),
        message="cosine_steps counted after the warm-up",
    ),
    Variant(
        "decay progress counted from step 0",
        passes=False,
        replace=((RATIO_LINE, "    ratio = step / cosine_steps\n"),),
        message="the decay's progress counts from step 0",
    ),
    Variant(
        "cosine goes on after cosine_steps",
        passes=False,
        replace=((AFTER_LINES, ""),),
        message="the cosine goes on",
    ),
    Variant(
        "cosine amplitude max_lr instead of max_lr - min_lr",
        passes=False,
        replace=(
            (COSINE_LINE, "    return min_lr + 0.5 * (1.0 + math.cos(math.pi * ratio)) * max_lr\n"),
        ),
        message="the cosine's amplitude is max_lr",
    ),
    Variant(
        "rate 0 after cosine_steps",
        passes=False,
        replace=((AFTER_LINES, "    if step > cosine_steps:\n        return 0.0\n"),),
        message="after cosine_steps the rate drops to 0",
    ),
    # --- wrong: clip_grad_norm ------------------------------------------------------------------
    Variant(
        "each array clipped on its own (Keras's clipnorm)",
        passes=False,
        code="""
        def clip_grad_norm(grads, max_norm):
            total = math.sqrt(sum(float(np.sum(g**2)) for g in grads))
            clipped = []
            for g in grads:
                norm = float(np.sqrt(np.sum(g**2)))
                clipped.append(g * (max_norm / (norm + 1e-6)) if norm > max_norm else g.copy())
            return clipped, total
        """,
        message="each array clipped by its own norm",
    ),
    Variant(
        "clipping also when the norm is below max_norm",
        passes=False,
        replace=((SCALE_LINE, "    scale = max_norm / (total_norm + 1e-6)\n"),),
        message="although their norm is not above max_norm",
    ),
    Variant(
        "returns the norm after clipping",
        passes=False,
        replace=((CLIP_RETURN, "    return clipped, total_norm * scale\n"),),
        message="returned the norm after clipping",
    ),
    Variant(
        "clipping by value (clip_grad_value_)",
        passes=False,
        replace=(
            (CLIPPED_LINE, "    clipped = [np.clip(g, -max_norm, max_norm) for g in grads]\n"),
        ),
        message="clip_grad_value_",
    ),
    Variant(
        "total norm as the sum of the arrays' norms",
        passes=False,
        replace=(
            (
                "    total_norm = math.sqrt(sum(float(np.sum(np.square(g))) for g in grads))\n",
                "    total_norm = sum(float(np.linalg.norm(np.ravel(g))) for g in grads)\n",
            ),
        ),
        message="the sum of the arrays' own norms",
    ),
    Variant(
        "total norm without the square root",
        passes=False,
        replace=(
            (
                "    total_norm = math.sqrt(sum(float(np.sum(np.square(g))) for g in grads))\n",
                "    total_norm = sum(float(np.sum(np.square(g))) for g in grads)\n",
            ),
        ),
        message="total_norm is the sum of squares",
    ),
    # --- wrong: found in public code (issue 26) -------------------------------------------------
    Variant(
        "HF transformers' legacy AdamW: epsilon-hat, and the decay after the update",
        passes=False,
        code="""
        def adamw_step(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
            m_new = beta1 * m + (1 - beta1) * grad
            v_new = beta2 * v + (1 - beta2) * grad**2
            step_size = lr * np.sqrt(1 - beta2**t) / (1 - beta1**t)
            w_new = w - step_size * m_new / (np.sqrt(v_new) + eps)
            w_new = w_new - lr * weight_decay * w_new
            return w_new, m_new, v_new
        """,
        message="add eps to sqrt(v_hat); and also the decay was applied after the Adam update",
    ),
    # --- right ----------------------------------------------------------------------------------
    Variant(
        "torch inside (torch.optim.Adam / AdamW with injected state, clip_grad_norm_)",
        passes=True,
        code="""
        import torch


        def _torch_step(cls, w, grad, m, v, t, lr, beta1, beta2, eps, weight_decay):
            param = torch.nn.Parameter(torch.tensor(w, dtype=torch.float64))
            optimizer = cls(
                [param], lr=lr, betas=(beta1, beta2), eps=eps, weight_decay=weight_decay,
                foreach=False,
            )
            optimizer.state[param] = {
                "step": torch.tensor(float(t - 1)),
                "exp_avg": torch.tensor(m, dtype=torch.float64),
                "exp_avg_sq": torch.tensor(v, dtype=torch.float64),
            }
            param.grad = torch.tensor(grad, dtype=torch.float64)
            optimizer.step()
            state = optimizer.state[param]
            return param.detach(), state["exp_avg"], state["exp_avg_sq"]


        def adam_step(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
            args = (w, grad, m, v, t, lr, beta1, beta2, eps, weight_decay)
            return _torch_step(torch.optim.Adam, *args)


        def adamw_step(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
            args = (w, grad, m, v, t, lr, beta1, beta2, eps, weight_decay)
            return _torch_step(torch.optim.AdamW, *args)


        def clip_grad_norm(grads, max_norm):
            zeros = [torch.zeros(np.shape(g), dtype=torch.float64) for g in grads]
            params = [torch.nn.Parameter(z) for z in zeros]
            for param, g in zip(params, grads):
                param.grad = torch.tensor(g, dtype=torch.float64)
            total = torch.nn.utils.clip_grad_norm_(params, max_norm)
            return [param.grad for param in params], total
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        def adam_step(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
            f = np.float32
            w, grad, m, v = (np.asarray(a, f) for a in (w, grad, m, v))
            g = grad + f(weight_decay) * w
            m = f(beta1) * m + f(1 - beta1) * g
            v = f(beta2) * v + f(1 - beta2) * g * g
            m_hat = m / f(1 - beta1**t)
            v_hat = v / f(1 - beta2**t)
            return w - f(lr) * m_hat / (np.sqrt(v_hat) + f(eps)), m, v


        def cosine_lr(step, max_lr, min_lr, warmup_steps, cosine_steps):
            f = np.float32
            if step < warmup_steps:
                return f(max_lr) * f(step) / f(warmup_steps)
            if step > cosine_steps:
                return f(min_lr)
            ratio = f(step - warmup_steps) / f(cosine_steps - warmup_steps)
            return f(min_lr) + f(0.5) * (f(1) + np.cos(f(np.pi) * ratio)) * f(max_lr - min_lr)


        def clip_grad_norm(grads, max_norm):
            grads = [np.asarray(g, np.float32) for g in grads]
            total = np.sqrt(sum(np.sum(g * g) for g in grads))
            scale = np.float32(max_norm) / (total + np.float32(1e-6))
            return [g * scale if total > max_norm else g for g in grads], total
        """,
    ),
    Variant(
        "Python loops over the elements",
        passes=True,
        code="""
        def adam_step(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
            w_new, m_new, v_new = np.empty_like(w), np.empty_like(m), np.empty_like(v)
            for i in np.ndindex(np.shape(w)):
                g = grad[i] + weight_decay * w[i]
                m_new[i] = beta1 * m[i] + (1 - beta1) * g
                v_new[i] = beta2 * v[i] + (1 - beta2) * g * g
                m_hat = m_new[i] / (1 - beta1**t)
                v_hat = v_new[i] / (1 - beta2**t)
                w_new[i] = w[i] - lr * m_hat / (math.sqrt(v_hat) + eps)
            return w_new, m_new, v_new


        def clip_grad_norm(grads, max_norm):
            squares = 0.0
            for g in grads:
                for x in np.ravel(g):
                    squares += float(x) * float(x)
            total = math.sqrt(squares)
            out = []
            for g in grads:
                new = np.array(g, dtype=np.float64)
                if total > max_norm:
                    for i in np.ndindex(new.shape):
                        new[i] = new[i] * max_norm / (total + 1e-6)
                out.append(new)
            return tuple(out), total
        """,
    ),
    Variant(
        "the paper's efficient form (lr_t and eps_hat), optax's decay order",
        passes=True,
        code="""
        def adam_step(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
            # Kingma & Ba, section 2, with eps rescaled so it sits where PyTorch puts it
            g = grad + weight_decay * w
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g**2
            c2 = math.sqrt(1 - beta2**t)
            lr_t = lr * c2 / (1 - beta1**t)
            return w - lr_t * m / (np.sqrt(v) + eps * c2), m, v


        def adamw_step(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.01):
            # optax.adamw: w - lr * (adam direction + weight_decay * w), the same numbers
            w_adam, m, v = adam_step(w, grad, m, v, t, 1.0, beta1, beta2, eps)
            direction = w - w_adam
            return w - lr * (direction + weight_decay * w), m, v
        """,
    ),
    Variant(
        "TF's clip_by_global_norm formula, the schedule by interpolation",
        passes=True,
        code="""
        def clip_grad_norm(grads, max_norm):
            # tf.clip_by_global_norm: g * max_norm / max(global_norm, max_norm); no 1e-6, which
            # differs from PyTorch's far below the tolerance
            total = float(np.sqrt(np.sum(np.concatenate([np.ravel(g) ** 2 for g in grads]))))
            return [np.asarray(g) * max_norm / max(total, max_norm) for g in grads], total


        def cosine_lr(step, max_lr, min_lr, warmup_steps, cosine_steps):
            if step <= warmup_steps:
                return float(np.interp(step, [0, max(warmup_steps, 1)], [0.0, max_lr]))
            ratio = min(step, cosine_steps) - warmup_steps
            ratio = ratio / (cosine_steps - warmup_steps)
            return float(min_lr + (max_lr - min_lr) * (math.cos(math.pi * ratio) + 1) / 2)
        """,
    ),
    Variant(
        "clip_grad_norm scales the arrays of the list in place",
        passes=False,
        code="""
        def clip_grad_norm(grads, max_norm):
            total = float(np.sqrt(sum(np.vdot(g, g) for g in grads)))
            if total > max_norm:
                for g in grads:
                    g *= max_norm / (total + 1e-6)
            return grads, total
        """,
        message="modified its input `grads` in place",
    ),
    Variant(
        "in place, on copies",
        passes=True,
        code="""
        def adam_step(w, grad, m, v, t, lr, beta1=0.9, beta2=0.999, eps=1e-8, weight_decay=0.0):
            g = np.array(grad, dtype=np.float64)
            g += weight_decay * w
            m_new, v_new, w_new = np.array(m, dtype=float), np.array(v, dtype=float), np.array(w)
            m_new *= beta1
            m_new += (1 - beta1) * g
            v_new *= beta2
            v_new += (1 - beta2) * g**2
            w_new -= lr * (m_new / (1 - beta1**t)) / (np.sqrt(v_new / (1 - beta2**t)) + eps)
            return w_new, m_new, v_new


        def clip_grad_norm(grads, max_norm):
            grads = [np.array(g, dtype=np.float64) for g in grads]  # copies
            total = float(np.sqrt(sum(np.vdot(g, g) for g in grads)))
            if total > max_norm:
                for g in grads:
                    g *= max_norm / (total + 1e-6)
            return grads, total
        """,
    ),
]
