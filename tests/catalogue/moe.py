"""Known-wrong and correct-but-different versions of solutions/moe.py."""

from __future__ import annotations

from catalogue import Variant

ROUTER_RETURN = "    return top / top.sum(axis=-1, keepdims=True), experts\n"
ARGSORT = (
    '    experts = np.argsort(-probs, axis=-1, kind="stable")[:, :k]  # (T, k), most probable '
    "first\n"
)
EXPERT_OUT = (
    '            out = np.maximum(x[tokens] @ expert["w1"], 0.0) @ expert["w2"]  # (n, D)\n'
)
ADD_AT = "            np.add.at(y, tokens, weights[tokens, slots, None] * out)\n"
FRACTION = "    fraction = counts / num_tokens  # f_e\n"
LOSS_RETURN = "    return float(num_experts * np.sum(fraction * mean_prob))\n"
CAPACITY = "    return math.ceil(capacity_factor * num_tokens * k / num_experts)\n"
SLOT_LOOP = (
    "    for slot in range(k):  # slot-major: all first choices before any second choice\n"
    "        for token in range(num_tokens):\n"
)
ACCEPT = "            if load[expert] < capacity:\n"
CHECK_K = "    _check_k(k, num_experts)\n    probs"

WRONG: list[Variant] = [
    # --- the router ---------------------------------------------------------------------------
    Variant(
        "no renormalisation of the top-k weights (Switch, DeepSeek-V3)",
        passes=False,
        replace=((ROUTER_RETURN, "    return top, experts\n"),),
        message="were not renormalised",
    ),
    Variant(
        "a softmax over the k top probabilities",
        passes=False,
        replace=((ROUTER_RETURN, "    return _softmax(top), experts\n"),),
        message="a second softmax",
    ),
    Variant(
        "np.argsort ascending: the k least probable experts",
        passes=False,
        replace=((ARGSORT, '    experts = np.argsort(probs, axis=-1, kind="stable")[:, :k]\n'),),
        message="LEAST probable",
    ),
    Variant(
        "softmax over the tokens (axis 0)",
        passes=False,
        code="""
        def router_top_k(logits, k):
            _check_k(k, logits.shape[-1])
            e = np.exp(logits - logits.max(axis=0, keepdims=True))
            probs = e / e.sum(axis=0, keepdims=True)
            experts = np.argsort(-probs, axis=-1)[:, :k]
            top = np.take_along_axis(probs, experts, axis=-1)
            return top / top.sum(axis=-1, keepdims=True), experts
        """,
        message="softmax over the tokens",
    ),
    Variant(
        "expert ids as floats",
        passes=False,
        replace=((ROUTER_RETURN, ROUTER_RETURN.replace("experts\n", "experts.astype(float)\n")),),
        message="not an integer array",
    ),
    Variant(
        "k not checked",
        passes=False,
        replace=((CHECK_K, "    probs"),),
        message="should raise ValueError",
    ),
    Variant(
        "a ValueError that does not say k's value",
        passes=False,
        code="""
        def _check_k(k, num_experts):
            if not 1 <= k <= num_experts:
                raise ValueError("too many or too few experts per token")
        """,
        message="does not name k",
    ),
    # --- the layer ------------------------------------------------------------------------------
    Variant(
        "linear experts (no relu)",
        passes=False,
        replace=((EXPERT_OUT, '            out = x[tokens] @ expert["w1"] @ expert["w2"]\n'),),
        message="the experts are linear",
    ),
    Variant(
        "outputs added without the router weights",
        passes=False,
        replace=((ADD_AT, "            np.add.at(y, tokens, out)\n"),),
        message="without the router's weights",
    ),
    Variant(
        "a dense mixture of every expert",
        passes=False,
        code="""
        def moe_forward(x, w_router, experts, k):
            _check_k(k, w_router.shape[1])
            probs = _softmax(x @ w_router)
            return sum(
                probs[:, [e]] * (np.maximum(x @ ex["w1"], 0.0) @ ex["w2"])
                for e, ex in enumerate(experts)
            )
        """,
        message="a dense mixture",
    ),
    # --- the loss -------------------------------------------------------------------------------
    Variant(
        "f counted per token, not per (token, slot)",
        passes=False,
        replace=(
            (
                FRACTION,
                "    listed = [(np.asarray(experts) == e).any(axis=1).sum() for e in "
                "range(num_experts)]\n    fraction = np.array(listed) / num_tokens\n",
            ),
        ),
        message="f counted per token",
    ),
    Variant(
        "f divided by T * k",
        passes=False,
        replace=((FRACTION, "    fraction = counts / counts.sum()\n"),),
        message="f divided by T * k",
    ),
    Variant(
        "the loss without the factor E",
        passes=False,
        replace=((LOSS_RETURN, "    return float(np.sum(fraction * mean_prob))\n"),),
        message="the factor E",
    ),
    # --- capacity and dispatch ------------------------------------------------------------------
    Variant(
        "capacity rounded down",
        passes=False,
        replace=((CAPACITY, CAPACITY.replace("math.ceil", "math.floor")),),
        message="rounded down",
    ),
    Variant(
        "capacity as np.ceil's float",
        passes=False,
        replace=((CAPACITY, CAPACITY.replace("math.ceil", "np.ceil")),),
        message="not an integer type",
    ),
    Variant(
        "token-major dispatch",
        passes=False,
        replace=(
            (
                SLOT_LOOP,
                "    for token in range(num_tokens):\n        for slot in range(k):\n",
            ),
        ),
        message="token by token",
    ),
    Variant(
        "an expert accepts capacity + 1",
        passes=False,
        replace=((ACCEPT, "            if load[expert] <= capacity:\n"),),
        message="capacity + 1",
    ),
    Variant(
        "the mask as 0/1 integers",
        passes=False,
        replace=(("    return kept\n", "    return kept.astype(int)\n"),),
        message="not a boolean array",
    ),
]

RIGHT: list[Variant] = [
    Variant(
        "Mistral's order: top-k on the logits, then a softmax over those k",
        passes=True,
        code="""
        def router_top_k(logits, k):
            _check_k(k, logits.shape[-1])
            experts = np.argsort(-logits, axis=-1)[:, :k]
            return _softmax(np.take_along_axis(logits, experts, axis=-1)), experts
        """,
    ),
    Variant(
        "torch inside: Mixtral's router and expert loop, Hugging Face's loss, a cumsum dispatch",
        passes=True,
        code="""
        import torch
        import torch.nn.functional as F

        def router_top_k(logits, k):
            _check_k(k, logits.shape[-1])
            probs = F.softmax(torch.as_tensor(logits), dim=-1)
            weights, experts = torch.topk(probs, k, dim=-1)
            return weights / weights.sum(dim=-1, keepdim=True), experts

        def moe_forward(x, w_router, experts, k):
            tx = torch.as_tensor(x)
            weights, chosen = router_top_k(x @ w_router, k)
            out = torch.zeros_like(tx)
            mask = F.one_hot(chosen, num_classes=len(experts)).permute(2, 1, 0)
            for e, ex in enumerate(experts):
                slot, token = torch.where(mask[e])
                h = torch.relu(tx[token] @ torch.as_tensor(ex["w1"])) @ torch.as_tensor(ex["w2"])
                out.index_add_(0, token, h * weights[token, slot, None])
            return out

        def load_balancing_loss(logits, experts):
            probs = F.softmax(torch.as_tensor(logits), dim=-1)
            mask = F.one_hot(torch.as_tensor(experts), probs.shape[-1]).double()
            tokens_per_expert = mask.mean(dim=0)
            return (tokens_per_expert * probs.mean(dim=0)).sum() * probs.shape[-1]

        def dispatch_mask(experts, num_experts, capacity):
            mask = F.one_hot(torch.as_tensor(experts).T, num_experts)  # (k, T, E) slot-major
            place = mask.reshape(-1, num_experts).cumsum(dim=0).reshape(mask.shape)
            kept = ((place <= capacity) & (mask == 1)).any(dim=-1)  # (k, T)
            return kept.T
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        _solution_softmax = _softmax

        def _softmax(logits):
            return _solution_softmax(np.asarray(logits, dtype=np.float32))

        _solution_forward = moe_forward

        def moe_forward(x, w_router, experts, k):
            small = [{n: np.asarray(w, np.float32) for n, w in e.items()} for e in experts]
            return _solution_forward(np.asarray(x, np.float32), w_router, small, k)
        """,
    ),
    Variant(
        "loops over tokens and slots, every expert evaluated on every token",
        passes=True,
        code="""
        def moe_forward(x, w_router, experts, k):
            weights, chosen = router_top_k(x @ w_router, k)
            outs = np.stack([np.maximum(x @ e["w1"], 0) @ e["w2"] for e in experts])  # (E, T, D)
            y = np.zeros(x.shape)
            for t in range(x.shape[0]):
                for j in range(k):
                    y[t] += weights[t, j] * outs[chosen[t, j], t]
            return y

        def load_balancing_loss(logits, experts):
            probs = _softmax(logits)
            t, e = probs.shape
            total = 0.0
            for expert in range(e):
                f = sum(1 for row in experts for chosen in row if chosen == expert) / t
                total += f * probs[:, expert].mean()
            return e * total
        """,
    ),
]

VARIANTS: list[Variant] = WRONG + RIGHT
