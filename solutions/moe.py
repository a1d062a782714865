"""Mixture of experts: a router, sparse experts, a balancing loss and a capacity.

A mixture-of-experts layer (Mixtral, Switch Transformer, GShard) replaces one feed-forward network
by E of them, the experts, and a router that sends each token to only k of them. The layer holds
E times the parameters but each token pays for k experts. Two problems come with it: a router left
alone sends most tokens to a few experts (an auxiliary loss pushes it to balance), and an expert
can only take so many tokens per batch (its capacity; the rest are dropped). Implement:
- `router_top_k`: each token's k experts and their weights.
- `moe_forward`: the layer, the weighted sum of each token's chosen experts.
- `load_balancing_loss`: the Switch/Mixtral auxiliary loss E * sum_e f_e * P_e.
- `expert_capacity` and `dispatch_mask`: how many assignments an expert accepts, and which.

Conventions (this kit's, everywhere below):
- T tokens, E experts, model width D, expert width F; weights act on the right, x @ w.
- probs = softmax(logits) over the E experts of each token (along the last axis).
- experts (T, k) holds integers (expert ids 0..E-1), most probable first; weights (T, k) are
  their probabilities renormalised to sum to 1 per token (Mixtral's; Switch and DeepSeek-V3 skip
  the renormalisation: that fails here).
- A (token, slot) pair is one assignment: token t's j-th choice is experts[t, j].

References:
- Shazeer et al. (2017), "Outrageously Large Neural Networks: The Sparsely-Gated
  Mixture-of-Experts Layer", arXiv:1701.06538.
- Lepikhin et al. (2020), "GShard", arXiv:2006.16668 (capacity, first choices dispatched first).
- Fedus et al. (2021), "Switch Transformers", arXiv:2101.03961, section 2.2 (the loss
  N * sum_i f_i * P_i) and 2.2's capacity factor.
- Jiang et al. (2024), "Mixtral of Experts", arXiv:2401.04088; Hugging Face transformers,
  `MixtralSparseMoeBlock` and `load_balancing_loss_func` (softmax, top-k, renormalise).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence

import numpy as np


def router_top_k(logits: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Each token's k most probable experts and their renormalised weights.

    logits: (T, E), the router's logits for T tokens over E experts. k: an int, 1 <= k <= E.
    probs = softmax(logits) over the E experts of each token.
    Returns (weights, experts):
    - experts (T, k), an integer array: each token's k most probable experts, most probable
      first (the order among exactly tied logits is not graded).
    - weights (T, k), floats: probs of those experts divided by their sum, so each row sums to 1
      (softmax, top-k, renormalise, as Mixtral; a softmax over the k largest logits gives the
      same numbers).
    k < 1 or k > E raises ValueError naming k and E (e.g. "k=5 but E=4").
    """
    num_experts = logits.shape[-1]
    _check_k(k, num_experts)
    probs = _softmax(logits)  # (T, E)
    experts = np.argsort(-probs, axis=-1, kind="stable")[:, :k]  # (T, k), most probable first
    top = np.take_along_axis(probs, experts, axis=-1)  # (T, k)
    return top / top.sum(axis=-1, keepdims=True), experts


def moe_forward(
    x: np.ndarray, w_router: np.ndarray, experts: Sequence[Mapping[str, np.ndarray]], k: int
) -> np.ndarray:
    """A sparse mixture-of-experts layer: each token through its k experts, weighted.

    x: (T, D) tokens. w_router: (D, E), so the router's logits are x @ w_router (T, E).
    experts: a list of E dicts {"w1": (D, F), "w2": (F, D)}; expert e maps a token x_t to
    relu(x_t @ w1) @ w2 (no biases). With weights, chosen = router_top_k(x @ w_router, k):
    y_t = sum over j of weights[t, j] * expert_{chosen[t, j]}(x_t).
    Returns y (T, D). Only the chosen experts need be evaluated (the result is the same either
    way). k < 1 or k > E raises ValueError naming k and E, as router_top_k.
    """
    weights, chosen = router_top_k(x @ w_router, k)  # (T, k), (T, k)
    y = np.zeros(x.shape)  # (T, D)
    for e, expert in enumerate(experts):
        tokens, slots = np.nonzero(chosen == e)  # the assignments routed to expert e
        if tokens.size:
            out = np.maximum(x[tokens] @ expert["w1"], 0.0) @ expert["w2"]  # (n, D)
            np.add.at(y, tokens, weights[tokens, slots, None] * out)
    return y


def load_balancing_loss(logits: np.ndarray, experts: np.ndarray) -> float:
    """The auxiliary load-balancing loss of one layer: E * sum_e f_e * P_e.

    logits: (T, E), the router's logits. experts: (T, k) integers, the experts each token was
    sent to (router_top_k's second result).
    f_e = (number of (token, slot) pairs with experts[t, j] == e) / T: counted per assignment, so
    a token that lists e twice counts twice and f sums to k.
    P_e = the mean over the T tokens of softmax(logits)[:, e].
    Returns a float. It is 1 for k = 1 when routing is uniform (k in general); Hugging Face's
    load_balancing_loss_func (transformers >= 4.38, no attention mask) gives the same number.
    """
    probs = _softmax(logits)  # (T, E), every expert's probability
    num_tokens, num_experts = probs.shape
    counts = np.bincount(np.asarray(experts).reshape(-1), minlength=num_experts)  # (E,)
    fraction = counts / num_tokens  # f_e
    mean_prob = probs.mean(axis=0)  # P_e
    return float(num_experts * np.sum(fraction * mean_prob))


def expert_capacity(num_tokens: int, num_experts: int, k: int, capacity_factor: float) -> int:
    """How many assignments each expert accepts: ceil(capacity_factor * num_tokens * k / E).

    num_tokens T, num_experts E, k choices per token, capacity_factor (1.0 = exactly the average
    load T * k / E; 1.25 leaves a quarter spare). Rounded UP, returned as an int.
    num_experts < 1 raises ValueError naming num_experts and its value.
    Example: expert_capacity(8, 4, 2, 1.25) == ceil(1.25 * 8 * 2 / 4) == 5.
    """
    if num_experts < 1:
        raise ValueError(f"num_experts must be at least 1, got num_experts={num_experts}")
    return math.ceil(capacity_factor * num_tokens * k / num_experts)


def dispatch_mask(experts: np.ndarray, num_experts: int, capacity: int) -> np.ndarray:
    """Which assignments the experts accept when each has room for `capacity` of them.

    experts: (T, k) integers, token t's j-th choice is experts[t, j]. num_experts E, capacity an
    int (expert_capacity's result).
    Assignments are taken slot by slot: every token's FIRST choice in token order (t = 0, 1, ...),
    then every token's second choice, and so on (GShard's priority: a first choice is never
    dropped to make room for a second). An assignment is kept while its expert has accepted fewer
    than `capacity`; later ones to a full expert are dropped.
    Returns a boolean array (T, k): True where the assignment is kept.
    """
    experts = np.asarray(experts)
    num_tokens, k = experts.shape
    load = np.zeros(num_experts, dtype=np.int64)  # assignments each expert has accepted
    kept = np.zeros((num_tokens, k), dtype=bool)
    for slot in range(k):  # slot-major: all first choices before any second choice
        for token in range(num_tokens):
            expert = experts[token, slot]
            if load[expert] < capacity:
                kept[token, slot] = True
                load[expert] += 1
    return kept


def _check_k(k: int, num_experts: int) -> None:
    if not 1 <= k <= num_experts:
        raise ValueError(
            f"k must be between 1 and E, the number of experts: k={k}, E={num_experts}"
        )


def _softmax(logits: np.ndarray) -> np.ndarray:
    shifted = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return shifted / shifted.sum(axis=-1, keepdims=True)
