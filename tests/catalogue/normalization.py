"""Known-wrong and correct-but-different versions of `normalization`."""

from __future__ import annotations

from catalogue import Variant

LN_X_HAT = "x_hat = (x - mean) / np.sqrt(var + eps)  # (..., D)"
LN_VAR = "var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)  # (..., 1), biased"
RMS_RETURN = "return x / np.sqrt(mean_square + eps) * gamma"
RMS_MEAN_SQUARE = "mean_square = (x**2).mean(axis=-1, keepdims=True)  # (..., 1)"
BACK_RETURN = 'return {"x": d_x, "gamma": d_gamma, "beta": d_beta}'
BN_Y = "y = (x - mean) / np.sqrt(var + eps) * gamma + beta  # (N, C)"
BN_NEW_MEAN = "\n    new_running_mean = (1 - momentum) * running_mean + momentum * mean"
BN_NEW_VAR = "new_running_var = (1 - momentum) * running_var + momentum * unbiased_var"
BN_CHECK = """    if n < 2:
        raise ValueError(
            f"batch_norm_train needs more than one example per channel, got N = {n} "
            f"(x of shape {x.shape})"
        )
"""
EVAL_RETURN = "return (x - running_mean) / np.sqrt(running_var + eps) * gamma + beta"

VARIANTS: list[Variant] = [
    # --- known wrong: layer_norm --------------------------------------------------------------
    Variant(
        "layer_norm with eps outside the square root",
        passes=False,
        replace=((LN_X_HAT, "x_hat = (x - mean) / (np.sqrt(var) + eps)"),),
        message="eps outside the square root: divide by sqrt(var + eps)",
    ),
    Variant(
        "layer_norm with the unbiased variance",
        passes=False,
        replace=((LN_VAR, "var = x.var(axis=-1, ddof=1, keepdims=True)"),),
        message="the unbiased variance (divide by D - 1",
    ),
    Variant(
        "layer_norm over the batch axis",
        passes=False,
        replace=(
            (
                "mean = x.mean(axis=-1, keepdims=True)  # (..., 1)\n    var = ((x - mean) ** 2)"
                ".mean(axis=-1, keepdims=True)  # (..., 1), biased",
                "mean = x.mean(axis=0, keepdims=True)\n    var = x.var(axis=0, keepdims=True)",
            ),
        ),
        message="normalized over the batch axis (axis 0)",
    ),
    Variant(
        "layer_norm over axis 1 (right for 2-D x only)",
        passes=False,
        replace=(
            (
                "mean = x.mean(axis=-1, keepdims=True)  # (..., 1)\n    var = ((x - mean) ** 2)"
                ".mean(axis=-1, keepdims=True)  # (..., 1), biased",
                "mean = x.mean(axis=1, keepdims=True)\n    var = x.var(axis=1, keepdims=True)",
            ),
        ),
        message="normalized over axis 1 (for x (B, L, D) the sequence axis",
    ),
    Variant(
        "layer_norm over the whole array",
        passes=False,
        replace=(
            (
                "mean = x.mean(axis=-1, keepdims=True)  # (..., 1)\n    var = ((x - mean) ** 2)"
                ".mean(axis=-1, keepdims=True)  # (..., 1), biased",
                "mean = x.mean()\n    var = x.var()",
            ),
        ),
        message="one mean and variance for the whole array",
    ),
    Variant(
        "layer_norm with gamma and beta swapped",
        passes=False,
        replace=(("return x_hat * gamma + beta", "return x_hat * beta + gamma"),),
        message="gamma and beta swapped",
    ),
    Variant(
        "layer_norm without eps",
        passes=False,
        replace=((LN_X_HAT, "x_hat = (x - mean) / np.sqrt(var)"),),
        message="eps left out",
    ),
    Variant(
        "layer_norm with RMSNorm's default eps 1e-6",
        passes=False,
        replace=(
            (
                "beta: np.ndarray, eps: float = 1e-5) -> np.ndarray:",
                "beta: np.ndarray, eps: float = 1e-6) -> np.ndarray:",
            ),
        ),
        message="eps = 1e-6, RMSNorm's default",
    ),
    Variant(
        "layer_norm ignores its eps argument",
        passes=False,
        replace=((LN_X_HAT, "x_hat = (x - mean) / np.sqrt(var + 1e-5)"),),
        message="the eps argument is ignored (1e-05 used instead of eps=0.5)",
    ),
    # --- known wrong: rms_norm ----------------------------------------------------------------
    Variant(
        "rms_norm subtracts the mean",
        passes=False,
        replace=(
            (
                RMS_MEAN_SQUARE + "\n    " + RMS_RETURN,
                "x = x - x.mean(axis=-1, keepdims=True)\n"
                "    return x / np.sqrt((x**2).mean(axis=-1, keepdims=True) + eps) * gamma",
            ),
        ),
        message="the mean is subtracted (that is LayerNorm)",
    ),
    Variant(
        "rms_norm with eps outside the square root",
        passes=False,
        replace=((RMS_RETURN, "return x / (np.sqrt(mean_square) + eps) * gamma"),),
        message="eps outside the square root: divide by sqrt(mean(x**2) + eps)",
    ),
    Variant(
        "rms_norm divides by the L2 norm",
        passes=False,
        replace=((RMS_MEAN_SQUARE, "mean_square = (x**2).sum(axis=-1, keepdims=True)"),),
        message="divided by the L2 norm",
    ),
    Variant(
        "rms_norm with torch.nn.RMSNorm's default eps (machine epsilon)",
        passes=False,
        replace=((RMS_RETURN, "return x / np.sqrt(mean_square + np.finfo(x.dtype).eps) * gamma"),),
        message="machine epsilon (torch.nn.RMSNorm's default when eps=None)",
    ),
    Variant(
        "rms_norm with LayerNorm's default eps 1e-5",
        passes=False,
        replace=(
            (
                "def rms_norm(x: np.ndarray, gamma: np.ndarray, eps: float = 1e-6)",
                "def rms_norm(x: np.ndarray, gamma: np.ndarray, eps: float = 1e-5)",
            ),
        ),
        message="eps = 1e-5, LayerNorm's default",
    ),
    Variant(
        "rms_norm over the batch axis",
        passes=False,
        replace=((RMS_MEAN_SQUARE, "mean_square = (x**2).mean(axis=0, keepdims=True)"),),
        message="the mean of the squares over the batch axis",
    ),
    # --- known wrong: layer_norm_backward -----------------------------------------------------
    Variant(
        "backward with the mean and variance as constants",
        passes=False,
        replace=(('return {"x": d_x,', 'return {"x": d_x_hat * inv_std,'),),
        message="the mean and the variance treated as constants",
    ),
    Variant(
        "backward without the path through the mean",
        passes=False,
        replace=(('return {"x": d_x,', 'return {"x": d_centred,'),),
        message="the path through the mean is missing",
    ),
    Variant(
        "backward without the path through the variance",
        passes=False,
        replace=(
            (
                "d_centred = d_x_hat * inv_std + d_var * 2.0 * centred / x.shape[-1]",
                "d_centred = d_x_hat * inv_std",
            ),
        ),
        message="the path through the variance is missing",
    ),
    Variant(
        "backward forgets gamma in dL/dx",
        passes=False,
        replace=(("d_x_hat = dy * gamma  # (..., D)", "d_x_hat = dy"),),
        message="gamma left out of dL/dx",
    ),
    Variant(
        "backward with sums where the means belong",
        passes=False,
        code="""
        _layer_norm_backward = layer_norm_backward

        def layer_norm_backward(x, dy, gamma, eps=1e-5):
            grads = _layer_norm_backward(x, dy, gamma, eps)
            mean = x.mean(axis=-1, keepdims=True)
            inv_std = 1.0 / np.sqrt(((x - mean) ** 2).mean(axis=-1, keepdims=True) + eps)
            x_hat = (x - mean) * inv_std
            g = dy * gamma
            d_x = inv_std * (
                g - g.sum(-1, keepdims=True) - x_hat * (g * x_hat).sum(-1, keepdims=True)
            )
            return {**grads, "x": d_x}
        """,
        message="sums where means belong",
    ),
    Variant(
        "backward: gamma gradient not summed over the rows",
        passes=False,
        replace=(("d_gamma = (dy * x_hat).sum(axis=leading)", "d_gamma = dy * x_hat"),),
        message='gradient "gamma" not summed over the rows',
    ),
    Variant(
        "backward: gamma gradient summed over axis 0 only",
        passes=False,
        replace=(
            ("d_gamma = (dy * x_hat).sum(axis=leading)", "d_gamma = (dy * x_hat).sum(axis=0)"),
        ),
        message='gradient "gamma" summed over axis 0 only',
    ),
    Variant(
        "backward: gamma gradient from x instead of x_hat",
        passes=False,
        replace=(
            ("d_gamma = (dy * x_hat).sum(axis=leading)", "d_gamma = (dy * x).sum(axis=leading)"),
        ),
        message='gradient "gamma" from x instead of x_hat',
    ),
    Variant(
        "backward: beta gradient averaged",
        passes=False,
        replace=(("d_beta = dy.sum(axis=leading)", "d_beta = dy.mean(axis=leading)"),),
        message='gradient "beta" averaged over the rows',
    ),
    Variant(
        "backward: gradients keyed dx, dgamma, dbeta",
        passes=False,
        replace=((BACK_RETURN, 'return {"dx": d_x, "dgamma": d_gamma, "dbeta": d_beta}'),),
        message="name each gradient exactly after its argument",
    ),
    Variant(
        "backward: gradients returned as a tuple",
        passes=False,
        replace=((BACK_RETURN, "return d_x, d_gamma, d_beta"),),
        message="return them by name",
    ),
    # --- known wrong: batch_norm_train --------------------------------------------------------
    Variant(
        "batch_norm_train: running variance from the biased estimate",
        passes=False,
        replace=((BN_NEW_VAR, "new_running_var = (1 - momentum) * running_var + momentum * var"),),
        message="the running variance from the biased batch variance",
    ),
    Variant(
        "batch_norm_train: Keras's momentum convention",
        passes=False,
        replace=(
            (
                BN_NEW_MEAN,
                "\n    new_running_mean = momentum * running_mean + (1 - momentum) * mean",
            ),
            (
                BN_NEW_VAR,
                "new_running_var = momentum * running_var + (1 - momentum) * unbiased_var",
            ),
        ),
        message="Keras's momentum convention",
    ),
    Variant(
        "batch_norm_train: normalizes with the unbiased variance",
        passes=False,
        code="""
        _batch_norm_train = batch_norm_train

        def batch_norm_train(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
            if x.shape[0] < 2:
                raise ValueError(f"N = {x.shape[0]}: need at least 2 examples")
            unbiased_var = x.var(axis=0, ddof=1)
            y = (x - x.mean(axis=0)) / np.sqrt(unbiased_var + eps) * gamma + beta
            rest = _batch_norm_train(x, gamma, beta, running_mean, running_var, momentum, eps)[1:]
            return (y, *rest)
        """,
        message="normalized with the unbiased batch variance",
    ),
    Variant(
        "batch_norm_train: no check for N = 1",
        passes=False,
        replace=((BN_CHECK, ""),),
        code="""
        import warnings

        warnings.filterwarnings("ignore")
        """,
        message="raise ValueError naming N",
    ),
    Variant(
        "batch_norm_train: a ValueError that does not name N",
        passes=False,
        replace=(
            (
                'f"batch_norm_train needs more than one example per channel, got N = {n} "\n'
                '            f"(x of shape {x.shape})"',
                '"the batch is too small"',
            ),
        ),
        message="the ValueError does not say what was wrong",
    ),
    Variant(
        "batch_norm_train: updates the running statistics in place (as PyTorch's buffers)",
        passes=False,
        replace=(
            (
                BN_NEW_MEAN + "\n    " + BN_NEW_VAR,
                "\n    running_mean *= 1 - momentum\n    running_mean += momentum * mean\n"
                "    running_var *= 1 - momentum\n    running_var += momentum * unbiased_var\n"
                "    new_running_mean, new_running_var = running_mean, running_var",
            ),
        ),
        message="modified its input",
    ),
    Variant(
        "batch_norm_train: running statistics returned in the wrong order",
        passes=False,
        replace=(
            (
                "return y, new_running_mean, new_running_var",
                "return y, new_running_var, new_running_mean",
            ),
        ),
        message="the running statistics in the wrong order",
    ),
    Variant(
        "batch_norm_train: normalizes each example over its channels",
        passes=False,
        code="""
        _batch_norm_train = batch_norm_train

        def batch_norm_train(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
            _, new_mean, new_var = _batch_norm_train(
                x, gamma, beta, running_mean, running_var, momentum, eps
            )
            y = layer_norm(x, gamma, beta, eps)
            return y, new_mean, new_var
        """,
        message="normalized each example over its channels (axis 1)",
    ),
    Variant(
        "batch_norm_train: normalizes with the running statistics",
        passes=False,
        replace=((BN_Y, "y = (x - running_mean) / np.sqrt(running_var + eps) * gamma + beta"),),
        message="normalized with the running statistics (that is eval mode)",
    ),
    # --- known wrong: batch_norm_eval ---------------------------------------------------------
    Variant(
        "batch_norm_eval: uses the batch's statistics",
        passes=False,
        replace=(
            (
                EVAL_RETURN,
                "return (x - x.mean(axis=0)) / np.sqrt(x.var(axis=0) + eps) * gamma + beta",
            ),
        ),
        message="normalized with the batch's own statistics",
    ),
    Variant(
        "batch_norm_eval: running_var as a standard deviation",
        passes=False,
        replace=((EVAL_RETURN, "return (x - running_mean) / (running_var + eps) * gamma + beta"),),
        message="running_var used as a standard deviation",
    ),
    Variant(
        "batch_norm_eval: refuses N = 1 as training does",
        passes=False,
        replace=(
            (
                EVAL_RETURN,
                "if x.shape[0] < 2:\n        raise ValueError(f'N = {x.shape[0]}')\n    "
                + EVAL_RETURN,
            ),
        ),
        message="raised ValueError: N = 1",
    ),
    # --- known wrong: found in public code (issue 26) ------------------------------------------
    Variant(
        "Gemma's RMSNorm, scaled by (1 + gamma)",
        passes=False,
        replace=((RMS_RETURN, "return x / np.sqrt(mean_square + eps) * (1.0 + gamma)"),),
        message="scaled by (1 + gamma), Gemma's RMSNorm",
    ),
    Variant(
        "layer_norm with torch's unbiased std and eps added to it",
        passes=False,
        replace=(
            (LN_VAR, "std = x.std(axis=-1, ddof=1, keepdims=True)"),
            (LN_X_HAT, "x_hat = (x - mean) / (std + eps)"),
        ),
        message="divide by D (np.var's default); and also eps outside the square root",
    ),
    # --- correct but different ----------------------------------------------------------------
    Variant(
        "loops in plain Python",
        passes=True,
        code="""
        import math


        def _row_norm(row, eps, centre=True):
            d = len(row)
            mean = sum(row) / d if centre else 0.0
            var = sum((v - mean) ** 2 for v in row) / d
            return [(v - mean) / math.sqrt(var + eps) for v in row]


        def _rows(x):
            return np.asarray(x, dtype=float).reshape(-1, np.shape(x)[-1]).tolist()


        def layer_norm(x, gamma, beta, eps=1e-5):
            out = []
            for row in _rows(x):
                x_hat = _row_norm(row, eps)
                out.append([h * g + b for h, g, b in zip(x_hat, gamma, beta)])
            return np.array(out).reshape(np.shape(x))


        def rms_norm(x, gamma, eps=1e-6):
            out = []
            for row in _rows(x):
                scale = math.sqrt(sum(v * v for v in row) / len(row) + eps)
                out.append([v / scale * g for v, g in zip(row, gamma)])
            return np.array(out).reshape(np.shape(x))


        def layer_norm_backward(x, dy, gamma, eps=1e-5):
            d = np.shape(x)[-1]
            d_x, d_gamma, d_beta = [], [0.0] * d, [0.0] * d
            for row, up in zip(_rows(x), _rows(dy)):
                mean = sum(row) / d
                inv_std = 1.0 / math.sqrt(sum((v - mean) ** 2 for v in row) / d + eps)
                x_hat = [(v - mean) * inv_std for v in row]
                g = [u * gm for u, gm in zip(up, gamma)]
                mean_g = sum(g) / d
                mean_gx = sum(a * b for a, b in zip(g, x_hat)) / d
                d_x.append([inv_std * (gi - mean_g - hi * mean_gx) for gi, hi in zip(g, x_hat)])
                for j in range(d):
                    d_gamma[j] += up[j] * x_hat[j]
                    d_beta[j] += up[j]
            return {
                "x": np.array(d_x).reshape(np.shape(x)),
                "gamma": np.array(d_gamma),
                "beta": np.array(d_beta),
            }


        def batch_norm_train(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
            n, c = np.shape(x)
            if n < 2:
                raise ValueError(f"N = {n}: BatchNorm needs more than 1 example in training")
            columns = np.asarray(x).T.tolist()
            y = np.zeros((n, c))
            new_mean, new_var = [], []
            for j, column in enumerate(columns):
                x_hat = _row_norm(column, eps)
                for i in range(n):
                    y[i, j] = x_hat[i] * gamma[j] + beta[j]
                mean = sum(column) / n
                unbiased = sum((v - mean) ** 2 for v in column) / (n - 1)
                new_mean.append((1 - momentum) * running_mean[j] + momentum * mean)
                new_var.append((1 - momentum) * running_var[j] + momentum * unbiased)
            return y, np.array(new_mean), np.array(new_var)


        def batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
            n, c = np.shape(x)
            y = np.zeros((n, c))
            for i in range(n):
                for j in range(c):
                    scale = math.sqrt(running_var[j] + eps)
                    y[i, j] = (x[i, j] - running_mean[j]) / scale * gamma[j] + beta[j]
            return y
        """,
    ),
    Variant(
        "torch inside, returning tensors",
        passes=True,
        code="""
        import torch
        import torch.nn.functional as F


        def _t(a):
            return torch.as_tensor(np.asarray(a), dtype=torch.float64)


        def layer_norm(x, gamma, beta, eps=1e-5):
            return F.layer_norm(_t(x), (x.shape[-1],), _t(gamma), _t(beta), eps)


        def rms_norm(x, gamma, eps=1e-6):
            norm = torch.nn.RMSNorm(x.shape[-1], eps=eps, dtype=torch.float64)
            with torch.no_grad():
                norm.weight.copy_(_t(gamma))
                return norm(_t(x))


        def layer_norm_backward(x, dy, gamma, eps=1e-5):
            xt = _t(x).requires_grad_(True)
            gt = _t(gamma).requires_grad_(True)
            bt = torch.zeros(x.shape[-1], dtype=torch.float64, requires_grad=True)
            y = F.layer_norm(xt, (x.shape[-1],), gt, bt, eps)
            (y * _t(dy)).sum().backward()
            return {"x": xt.grad, "gamma": gt.grad, "beta": bt.grad}


        def batch_norm_train(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
            mean, var = _t(running_mean).clone(), _t(running_var).clone()
            y = F.batch_norm(
                _t(x), mean, var, _t(gamma), _t(beta), training=True, momentum=momentum, eps=eps
            )
            return y, mean, var


        def batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
            return F.batch_norm(
                _t(x), _t(running_mean), _t(running_var), _t(gamma), _t(beta),
                training=False, eps=eps,
            )
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        _f64 = (layer_norm, rms_norm, layer_norm_backward, batch_norm_train, batch_norm_eval)


        def _f32(function):
            def wrapped(*args, **kwargs):
                args = [np.float32(a) if isinstance(a, float) else a for a in args]
                args = [a.astype(np.float32) if isinstance(a, np.ndarray) else a for a in args]
                kwargs = {k: np.float32(v) for k, v in kwargs.items()}
                return function(*args, **kwargs)

            return wrapped


        layer_norm, rms_norm, layer_norm_backward, batch_norm_train, batch_norm_eval = (
            _f32(f) for f in _f64
        )
        """,
    ),
    Variant(
        "einsum, E[x**2] - E[x]**2, and the compact backward formula",
        passes=True,
        code="""
        def layer_norm(x, gamma, beta, eps=1e-5):
            d = x.shape[-1]
            mean = np.einsum("...d->...", x)[..., None] / d
            centred = x - mean
            var = np.einsum("...d,...d->...", centred, centred)[..., None] / d
            return np.einsum("...d,d->...d", centred / np.sqrt(var + eps), gamma) + beta


        def rms_norm(x, gamma, eps=1e-6):
            mean_square = np.einsum("...d,...d->...", x, x)[..., None] / x.shape[-1]
            return np.einsum("...d,d->...d", x * (mean_square + eps) ** -0.5, gamma)


        def layer_norm_backward(x, dy, gamma, eps=1e-5):
            d = x.shape[-1]
            flat_x, flat_dy = x.reshape(-1, d), dy.reshape(-1, d)
            mean = flat_x.mean(axis=1, keepdims=True)
            inv_std = (np.mean((flat_x - mean) ** 2, axis=1, keepdims=True) + eps) ** -0.5
            x_hat = (flat_x - mean) * inv_std
            g = flat_dy * gamma
            d_x = inv_std / d * (
                d * g - g.sum(1, keepdims=True) - x_hat * np.einsum("nd,nd->n", g, x_hat)[:, None]
            )
            return {
                "x": d_x.reshape(x.shape),
                "gamma": np.einsum("nd,nd->d", flat_dy, x_hat),
                "beta": flat_dy.sum(axis=0),
            }


        def batch_norm_train(x, gamma, beta, running_mean, running_var, momentum=0.1, eps=1e-5):
            n = len(x)
            if n == 1:
                raise ValueError(f"expected more than 1 value per channel, got x {x.shape}")
            mean = x.mean(axis=0)
            var = (x**2).mean(axis=0) - mean**2
            y = (x - mean) / np.sqrt(var + eps) * gamma + beta
            new_mean = running_mean + momentum * (mean - running_mean)
            new_var = running_var + momentum * (x.var(axis=0, ddof=1) - running_var)
            return y, new_mean, new_var


        def batch_norm_eval(x, gamma, beta, running_mean, running_var, eps=1e-5):
            scale = gamma / np.sqrt(running_var + eps)  # folded into one affine map
            return x * scale + (beta - running_mean * scale)
        """,
    ),
    Variant(
        "backward through the full Jacobian of each row",
        passes=True,
        code="""
        def layer_norm_backward(x, dy, gamma, eps=1e-5):
            d = x.shape[-1]
            rows, ups = x.reshape(-1, d), dy.reshape(-1, d)
            d_x = np.empty_like(rows)
            d_gamma, d_beta = np.zeros(d), np.zeros(d)
            eye = np.eye(d)
            for i, (row, up) in enumerate(zip(rows, ups)):
                centred = row - row.mean()
                var = centred @ centred / d
                inv_std = 1.0 / np.sqrt(var + eps)
                x_hat = centred * inv_std
                # d x_hat_j / d x_k = inv_std * (delta_jk - 1/d - x_hat_j * x_hat_k / d)
                jacobian = inv_std * (eye - 1.0 / d - np.outer(x_hat, x_hat) / d)
                d_x[i] = jacobian.T @ (up * gamma)
                d_gamma += up * x_hat
                d_beta += up
            return {"x": d_x.reshape(x.shape), "gamma": d_gamma, "beta": d_beta}
        """,
    ),
    Variant(
        "layer_norm by torch in float32 (F.layer_norm on float32 tensors, picoGPT with torch)",
        passes=True,
        code="""
        import torch
        import torch.nn.functional as F


        def layer_norm(x, gamma, beta, eps=1e-5):
            t = torch.as_tensor(np.asarray(x, dtype=np.float32))
            g, b = (torch.as_tensor(np.asarray(a, dtype=np.float32)) for a in (gamma, beta))
            return F.layer_norm(t, t.shape[-1:], g, b, eps).numpy()
        """,
    ),
]
