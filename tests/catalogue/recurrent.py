"""Known-wrong and correct-but-different versions of solutions/recurrent.py."""

from __future__ import annotations

from catalogue import Variant

FORWARD_STEP = "        h = np.tanh(x @ w_xh + h @ w_hh + b)  # (B, H)\n"
FORWARD_START = "    h = h0\n    states = []\n    for x in xs:  # x (B, D)\n"
DA = "        da = (dhs[t] + carried) * (1.0 - hs[t] ** 2)  # through tanh, (B, H)\n"
CARRY = "        carried = da @ w_hh.T\n"
H0_GRAD = '    grads["h0"] = carried\n'
GATES = "    i, f, g, o = (z[:, k * hidden : (k + 1) * hidden] for k in range(4))\n"
CELL_STATE = "    c_new = _sigmoid(f) * c + _sigmoid(i) * np.tanh(g)\n"
CELL_RETURN = "    return _sigmoid(o) * np.tanh(c_new), c_new\n"
LSTM_RETURN = "    return np.stack(states), (h, c)\n"
NORM_STEP = (
    "        norms[t] = np.linalg.norm(grad)\n"
    "        grad = (grad * (1.0 - hs[t] ** 2)) @ w_hh.T  # dL/dh_{t-1}\n"
)

VARIANTS: list[Variant] = [
    # --- wrong: rnn_forward ---------------------------------------------------------------------
    Variant(
        "hs holds h_0 .. h_{T-1} (stored before the update)",
        passes=False,
        replace=(
            (
                FORWARD_STEP + "        states.append(h)\n",
                "        states.append(h)\n" + FORWARD_STEP,
            ),
        ),
        message="hs holds h_0 .. h_{T-1}",
    ),
    Variant(
        "hs starts with h0 (T + 1 states)",
        passes=False,
        replace=((FORWARD_START, "    h = h0\n    states = [h0]\n    for x in xs:  # x (B, D)\n"),),
        message="hs includes h0",
    ),
    Variant(
        "h @ w_hh.T (nn.RNN's weight_hh layout)",
        passes=False,
        replace=((FORWARD_STEP, "        h = np.tanh(x @ w_xh + h @ w_hh.T + b)\n"),),
        message="nn.RNN's weight_hh layout",
    ),
    Variant(
        "b loaded into both of nn.RNN's biases (counted twice)",
        passes=False,
        replace=((FORWARD_STEP, "        h = np.tanh(x @ w_xh + h @ w_hh + b + b)\n"),),
        message="b added twice",
    ),
    # --- wrong: rnn_backward --------------------------------------------------------------------
    Variant(
        "gradients only from the last step",
        passes=False,
        replace=(
            (
                DA,
                "        step = dhs[t] if t == xs.shape[0] - 1 else 0.0\n"
                "        da = (step + carried) * (1.0 - hs[t] ** 2)\n",
            ),
        ),
        message="gradients only from the last step",
    ),
    Variant(
        "no gradient for h0",
        passes=False,
        replace=((H0_GRAD, ""),),
        message="the gradient for h0 is missing",
    ),
    Variant(
        "h0's gradient left at zero",
        passes=False,
        replace=((H0_GRAD, '    grads["h0"] = np.zeros_like(h0)\n'),),
        message="the gradient for h0 is zero",
    ),
    Variant(
        "the tanh's derivative missing",
        passes=False,
        replace=((DA, "        da = dhs[t] + carried\n"),),
        message="the tanh's derivative is missing",
    ),
    Variant(
        "the tanh's derivative at h_{t-1}",
        passes=False,
        replace=((DA, "        da = (dhs[t] + carried) * (1.0 - previous[t] ** 2)\n"),),
        message="the tanh's derivative taken at the wrong step",
    ),
    Variant(
        "truncated BPTT (nothing carried back)",
        passes=False,
        replace=(
            (CARRY, "        carried = 0.0 * carried\n"),
            (H0_GRAD, '    grads["h0"] = da @ w_hh.T\n'),
        ),
        message="no gradient flows through time",
    ),
    Variant(
        "carried back through w_hh, not w_hh.T",
        passes=False,
        replace=((CARRY, "        carried = da @ w_hh\n"),),
        message="instead of w_hh.T",
    ),
    Variant(
        "gradients averaged over the batch",
        passes=False,
        replace=(
            (H0_GRAD, H0_GRAD + "    grads = {k: v / h0.shape[0] for k, v in grads.items()}\n"),
        ),
        message="divided by B",
    ),
    # --- wrong: the LSTM ------------------------------------------------------------------------
    Variant(
        "CS231n's gate order i, f, o, g",
        passes=False,
        replace=((GATES, GATES.replace("i, f, g, o", "i, f, o, g")),),
        message="CS231n's order",
    ),
    Variant(
        "TensorFlow 1's LSTMCell: order i, j, f, o and forget_bias 1.0",
        passes=False,
        replace=((GATES, GATES.replace("i, f, g, o", "i, g, f, o") + "    f = f + 1.0\n"),),
        message="TensorFlow 1's LSTMCell",
    ),
    Variant(
        "a forget bias of 1.0 (Keras's unit_forget_bias read as an extra bias)",
        passes=False,
        replace=((GATES, GATES + "    f = f + 1.0\n"),),
        message="a forget bias of 1.0",
    ),
    Variant(
        "h_new = o * c_new (no tanh)",
        passes=False,
        replace=((CELL_RETURN, "    return _sigmoid(o) * c_new, c_new\n"),),
        message="h_new = o * c_new",
    ),
    Variant(
        "the candidate through sigmoid",
        passes=False,
        replace=((CELL_STATE, "    c_new = _sigmoid(f) * c + _sigmoid(i) * _sigmoid(g)\n"),),
        message="the candidate g went through sigmoid",
    ),
    Variant(
        "nn.LSTM's (1, B, H) final states",
        passes=False,
        replace=((LSTM_RETURN, "    return np.stack(states), (h[None], c[None])\n"),),
        message="nn.LSTM's (num_layers, B, H)",
    ),
    # --- wrong: gradient_norms ------------------------------------------------------------------
    Variant(
        "one norm per example",
        passes=False,
        replace=(
            ("    norms = np.zeros(hs.shape[0])\n", "    norms = np.zeros(hs.shape[:2])\n"),
            (
                "        norms[t] = np.linalg.norm(grad)\n",
                "        norms[t] = np.linalg.norm(grad, axis=-1)\n",
            ),
        ),
        message="one norm per example",
    ),
    Variant(
        "norms of the pre-activation's gradient",
        passes=False,
        replace=(
            (
                NORM_STEP,
                "        grad = grad * (1.0 - hs[t] ** 2)\n"
                "        norms[t] = np.linalg.norm(grad)\n"
                "        grad = grad @ w_hh.T\n",
            ),
        ),
        message="w.r.t. the pre-activation",
    ),
    Variant(
        "norms in reverse order",
        passes=False,
        replace=(("    return norms\n", "    return norms[::-1]\n"),),
        message="the norms are in reverse order",
    ),
    Variant(
        "loss taken as mean(h_T)",
        passes=False,
        replace=(
            (
                "    grad = np.ones(hs.shape[1:])  # dL/dh_T, (B, H)\n",
                "    grad = np.ones(hs.shape[1:]) / hs[-1].size\n",
            ),
        ),
        message="mean(h_T)",
    ),
    # --- right ----------------------------------------------------------------------------------
    Variant(
        "torch inside: nn.RNN and nn.LSTM with one bias, autograd for BPTT and the norms",
        passes=True,
        code="""
        import torch

        def _t(v, grad=False):
            return torch.tensor(np.asarray(v), dtype=torch.float64, requires_grad=grad)

        def _rnn(xs, h0, w_xh, w_hh, b):
            layer = torch.nn.RNN(w_xh.shape[0], w_xh.shape[1], dtype=torch.float64)
            with torch.no_grad():
                layer.weight_ih_l0.copy_(_t(w_xh).T)
                layer.weight_hh_l0.copy_(_t(w_hh).T)
                layer.bias_ih_l0.copy_(_t(b))
                layer.bias_hh_l0.zero_()
            return layer

        def rnn_forward(xs, h0, w_xh, w_hh, b):
            with torch.no_grad():
                return _rnn(xs, h0, w_xh, w_hh, b)(_t(xs), _t(h0)[None])[0]

        def rnn_backward(xs, h0, w_xh, w_hh, b, dhs):
            leaves = {k: _t(v, True) for k, v in zip(("xs", "h0", "w_xh", "w_hh", "b"),
                                                    (xs, h0, w_xh, w_hh, b))}
            h, states = leaves["h0"], []
            for x in leaves["xs"]:
                h = torch.tanh(x @ leaves["w_xh"] + h @ leaves["w_hh"] + leaves["b"])
                states.append(h)
            (torch.stack(states) * _t(dhs)).sum().backward()
            return {k: v.grad for k, v in leaves.items()}

        def lstm_forward(xs, h0, c0, w_ih, w_hh, b):
            layer = torch.nn.LSTM(w_ih.shape[0], w_hh.shape[0], dtype=torch.float64)
            with torch.no_grad():
                layer.weight_ih_l0.copy_(_t(w_ih).T)
                layer.weight_hh_l0.copy_(_t(w_hh).T)
                layer.bias_ih_l0.copy_(_t(b))
                layer.bias_hh_l0.zero_()
                hs, (h, c) = layer(_t(xs), (_t(h0)[None], _t(c0)[None]))
            return hs, (h[0], c[0])

        def gradient_norms(xs, h0, w_xh, w_hh, b):
            w_xh_t, w_hh_t, b_t = _t(w_xh), _t(w_hh, True), _t(b)
            h, states = _t(h0), []
            for x in _t(xs):
                h = torch.tanh(x @ w_xh_t + h @ w_hh_t + b_t)
                h.retain_grad()
                states.append(h)
            states[-1].sum().backward()
            return [float(s.grad.norm()) for s in states]
        """,
    ),
    Variant(
        "float32 arithmetic and the naive sigmoid 1 / (1 + exp(-z))",
        passes=True,
        code="""
        def _sigmoid(z):
            return 1.0 / (1.0 + np.exp(-z))

        _rnn_forward64, _lstm_cell64 = rnn_forward, lstm_cell

        def rnn_forward(xs, h0, w_xh, w_hh, b):
            return _rnn_forward64(*(np.asarray(v, np.float32) for v in (xs, h0, w_xh, w_hh, b)))

        def lstm_cell(x, h, c, w_ih, w_hh, b):
            return _lstm_cell64(*(np.asarray(v, np.float32) for v in (x, h, c, w_ih, w_hh, b)))
        """,
    ),
    Variant(
        "another algorithm: Keras's names i, f, c, o with np.split, BPTT with einsum and the "
        "pre-activations kept, norms from rnn_backward itself",
        passes=True,
        code="""
        def lstm_cell(x, h, c, w_ih, w_hh, b):
            i, f, c_bar, o = np.split(x @ w_ih + h @ w_hh + b, 4, axis=1)
            c_new = c / (1 + np.exp(-f)) + np.tanh(c_bar) / (1 + np.exp(-i))
            return np.tanh(c_new) / (1 + np.exp(-o)), c_new

        def rnn_backward(xs, h0, w_xh, w_hh, b, dhs):
            hs = rnn_forward(xs, h0, w_xh, w_hh, b)
            das = np.zeros_like(hs)
            future = np.zeros_like(h0)
            for t in range(len(xs) - 1, -1, -1):
                das[t] = (dhs[t] + future) * (1 - hs[t] * hs[t])
                future = np.einsum("bj,ij->bi", das[t], w_hh)
            before = np.concatenate([h0[None], hs[:-1]])
            return {
                "xs": np.einsum("tbj,ij->tbi", das, w_xh),
                "h0": future,
                "w_xh": np.einsum("tbi,tbj->ij", xs, das),
                "w_hh": np.einsum("tbi,tbj->ij", before, das),
                "b": das.sum(axis=(0, 1)),
            }

        def gradient_norms(xs, h0, w_xh, w_hh, b):
            # dL/dh_t is h0's gradient of the same network run from h_t over the later inputs
            hs = rnn_forward(xs, h0, w_xh, w_hh, b)
            norms = [np.sqrt(h0.size)]
            for t in range(len(xs) - 2, -1, -1):
                later = xs[t + 1 :]
                dhs = np.zeros((len(later), *h0.shape))
                dhs[-1] = 1.0
                norms.append(np.linalg.norm(rnn_backward(later, hs[t], w_xh, w_hh, b, dhs)["h0"]))
            return np.array(norms[::-1])
        """,
    ),
]
