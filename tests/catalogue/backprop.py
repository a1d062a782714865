"""Known-wrong and correct-but-different versions of `backprop`."""

from __future__ import annotations

from catalogue import Variant

VARIANTS: list[Variant] = [
    # --- known wrong: the scale of dL/dy_hat --------------------------------------------------
    Variant(
        "loss gradient not averaged",
        passes=False,
        replace=(("2.0 * (y_hat - y) / y_hat.size", "2.0 * (y_hat - y)"),),
        message="dL/dy_hat not averaged",
    ),
    Variant(
        "loss gradient averaged over N only",
        passes=False,
        replace=(("2.0 * (y_hat - y) / y_hat.size", "2.0 * (y_hat - y) / x.shape[0]"),),
        message="dL/dy_hat averaged over N only",
    ),
    Variant(
        "missing factor 2",
        passes=False,
        replace=(("2.0 * (y_hat - y) / y_hat.size", "(y_hat - y) / y_hat.size"),),
        message="missing the factor 2",
    ),
    # --- known wrong: the relu mask -----------------------------------------------------------
    Variant(
        "relu mask forgotten",
        passes=False,
        replace=(("d_z = d_h * (z > 0)", "d_z = d_h"),),
        message="relu mask forgotten",
    ),
    Variant(
        "relu mask h >= 0 (always true)",
        passes=False,
        replace=(("d_z = d_h * (z > 0)", "d_z = d_h * (h >= 0)"),),
        message="relu mask forgotten",
    ),
    Variant(
        "relu mask z >= 0 (derivative 1 at 0)",
        passes=False,
        replace=(("d_z = d_h * (z > 0)", "d_z = d_h * (z >= 0)"),),
        message="relu derivative taken as 1 at z = 0",
    ),
    Variant(
        "multiplied by relu(z) instead of the mask",
        passes=False,
        replace=(("d_z = d_h * (z > 0)", "d_z = d_h * h"),),
        message="multiplied by relu(z)",
    ),
    # --- known wrong: bias gradients ----------------------------------------------------------
    Variant(
        "bias gradient mean instead of sum",
        passes=False,
        replace=(("d_b2 = d_y_hat.sum(axis=0)", "d_b2 = d_y_hat.mean(axis=0)"),),
        message="bias gradient averaged over the batch",
    ),
    Variant(
        "bias gradient from the first row only",
        passes=False,
        replace=(("d_b1 = d_z.sum(axis=0)", "d_b1 = d_z[0]"),),
        message="bias gradient from the first example only",
    ),
    Variant(
        "bias gradient not summed at all",
        passes=False,
        replace=(("d_b1 = d_z.sum(axis=0)", "d_b1 = d_z"),),
        message="bias gradient not summed over the batch",
    ),
    Variant(
        "bias gradient with keepdims",
        passes=False,
        replace=(("d_b2 = d_y_hat.sum(axis=0)", "d_b2 = d_y_hat.sum(axis=0, keepdims=True)"),),
        message="an extra leading axis of length 1",
    ),
    # --- known wrong: weight gradients --------------------------------------------------------
    Variant(
        "transposed w1 gradient",
        passes=False,
        replace=(("d_w1 = x.T @ d_z", "d_w1 = d_z.T @ x"),),
        message="transposed weight gradient",
    ),
    Variant(
        "transposed w2 gradient",
        passes=False,
        replace=(("d_w2 = h.T @ d_y_hat", "d_w2 = d_y_hat.T @ h"),),
        message="transposed weight gradient",
    ),
    Variant(
        "w2 gradient squeezed for one output",
        passes=False,
        code="""
        _mlp_backward = mlp_backward

        def mlp_backward(x, y, w1, b1, w2, b2):
            grads = _mlp_backward(x, y, w1, b1, w2, b2)
            return {**grads, "w2": np.squeeze(grads["w2"])}
        """,
        message="an axis of length 1 was squeezed away",
    ),
    # --- known wrong: the returned dict -------------------------------------------------------
    Variant(
        "gradients keyed dw1, db1, ...",
        passes=False,
        replace=(
            (
                'return {"w1": d_w1, "b1": d_b1, "w2": d_w2, "b2": d_b2}',
                'return {"dw1": d_w1, "db1": d_b1, "dw2": d_w2, "db2": d_b2}',
            ),
        ),
        message="name each gradient exactly after its parameter",
    ),
    Variant(
        "gradients returned as a tuple",
        passes=False,
        replace=(
            (
                'return {"w1": d_w1, "b1": d_b1, "w2": d_w2, "b2": d_b2}',
                "return d_w1, d_b1, d_w2, d_b2",
            ),
        ),
        message="return them by name",
    ),
    # --- known wrong: forward and loss --------------------------------------------------------
    Variant(
        "mse_loss with sum instead of mean",
        passes=False,
        replace=(
            ("return float(np.mean((y_hat - y) ** 2))", "return float(np.sum((y_hat - y) ** 2))"),
        ),
        message="sum instead of mean",
    ),
    Variant(
        "mse_loss averaged over N only",
        passes=False,
        replace=(
            (
                "return float(np.mean((y_hat - y) ** 2))",
                "return float(np.sum((y_hat - y) ** 2) / len(y))",
            ),
        ),
        message="averaged over N only",
    ),
    Variant(
        "mse_loss mean over axis 0 only",
        passes=False,
        replace=(
            ("return float(np.mean((y_hat - y) ** 2))", "return np.mean((y_hat - y) ** 2, axis=0)"),
        ),
        message="mse_loss should return one number",
    ),
    Variant(
        "mlp_forward without relu",
        passes=False,
        replace=(("h = relu(x @ w1 + b1)  # (N, H)", "h = x @ w1 + b1  # (N, H)"),),
        message="relu missing",
    ),
    Variant(
        "relu in place",
        passes=False,
        code="""
        def relu(z):
            z[z < 0] = 0.0
            return z
        """,
        message="modified its input",
    ),
    # --- correct but different ----------------------------------------------------------------
    Variant(
        "torch autograd inside, numpy out",
        passes=True,
        code="""
        import torch


        def mlp_backward(x, y, w1, b1, w2, b2):
            t = {k: torch.tensor(v, requires_grad=True) for k, v in
                 {"w1": w1, "b1": b1, "w2": w2, "b2": b2}.items()}
            h = torch.relu(torch.tensor(x) @ t["w1"] + t["b1"])
            loss = ((h @ t["w2"] + t["b2"] - torch.tensor(y)) ** 2).mean()
            loss.backward()
            return {k: v.grad.numpy() for k, v in t.items()}
        """,
    ),
    Variant(
        "torch autograd returning tensors, loss as a tensor",
        passes=True,
        code="""
        import torch


        def mse_loss(y_hat, y):
            return ((torch.as_tensor(y_hat) - torch.as_tensor(y)) ** 2).mean()


        def mlp_backward(x, y, w1, b1, w2, b2):
            params = [torch.tensor(p, requires_grad=True) for p in (w1, b1, w2, b2)]
            h = torch.nn.functional.relu(torch.tensor(x) @ params[0] + params[1])
            loss = torch.nn.functional.mse_loss(h @ params[2] + params[3], torch.tensor(y))
            grads = torch.autograd.grad(loss, params)
            return dict(zip(("w1", "b1", "w2", "b2"), grads))
        """,
    ),
    Variant(
        "einsum",
        passes=True,
        code="""
        def mlp_forward(x, w1, b1, w2, b2):
            h = relu(np.einsum("ni,ih->nh", x, w1) + b1)
            return np.einsum("nh,ho->no", h, w2) + b2


        def mlp_backward(x, y, w1, b1, w2, b2):
            z = np.einsum("ni,ih->nh", x, w1) + b1
            h = relu(z)
            delta = 2.0 * (np.einsum("nh,ho->no", h, w2) + b2 - y) / y.size
            d_z = np.einsum("no,ho->nh", delta, w2) * np.heaviside(z, 0.0)
            return {
                "w1": np.einsum("ni,nh->ih", x, d_z),
                "b1": np.einsum("nh->h", d_z),
                "w2": np.einsum("nh,no->ho", h, delta),
                "b2": np.einsum("no->o", delta),
            }
        """,
    ),
    Variant(
        "loops over the batch",
        passes=True,
        code="""
        def mse_loss(y_hat, y):
            total = 0.0
            for row_hat, row in zip(y_hat, y):
                for a, b in zip(row_hat, row):
                    total += (a - b) ** 2
            return total / (len(y) * len(y[0]))


        def mlp_backward(x, y, w1, b1, w2, b2):
            n, d_out = y.shape
            params = {"w1": w1, "b1": b1, "w2": w2, "b2": b2}
            grads = {k: np.zeros_like(v) for k, v in params.items()}
            for i in range(n):
                z = x[i] @ w1 + b1
                h = np.where(z > 0, z, 0.0)
                delta = 2.0 * (h @ w2 + b2 - y[i]) / (n * d_out)
                d_z = (w2 @ delta) * (h > 0)
                grads["w2"] += np.outer(h, delta)
                grads["b2"] += delta
                grads["w1"] += np.outer(x[i], d_z)
                grads["b1"] += d_z
            return grads
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        _mlp_forward, _mlp_backward = mlp_forward, mlp_backward


        def _f32(*arrays):
            return [np.asarray(a, dtype=np.float32) for a in arrays]


        def mlp_forward(x, w1, b1, w2, b2):
            return _mlp_forward(*_f32(x, w1, b1, w2, b2))


        def mse_loss(y_hat, y):
            y_hat, y = _f32(y_hat, y)
            return np.mean((y_hat - y) ** 2)


        def mlp_backward(x, y, w1, b1, w2, b2):
            return _mlp_backward(*_f32(x, y, w1, b1, w2, b2))
        """,
    ),
    Variant(
        "relu with np.where, mask from h > 0",
        passes=True,
        replace=(
            ("return np.maximum(z, 0.0)", "return np.where(z > 0, z, 0.0)"),
            ("d_z = d_h * (z > 0)", "d_z = np.where(h > 0, d_h, 0.0)"),
        ),
    ),
]
