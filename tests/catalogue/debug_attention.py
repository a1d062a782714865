"""Known-wrong and correct-but-different versions of solutions/debug_attention.py: each planted
bug put back alone, pairs of them, fixes that hide a symptom, and fixes written differently."""

from __future__ import annotations

from catalogue import Variant

PROJECT = "    return x @ w_q, x @ w_k, x @ w_v\n"
SCORES = "    scores = q @ k.T / np.sqrt(q.shape[-1])  # (L, S)\n"
MASK = "        scores = np.where(mask, scores, -np.inf)\n"
SHIFT = "    scores = scores - scores.max(axis=-1, keepdims=True)\n"
NORMALISE = "    return weights / weights.sum(axis=-1, keepdims=True)\n"
QUERY_AXIS = (
    (SHIFT, "    scores = scores - scores.max(axis=0, keepdims=True)\n"),
    (NORMALISE, "    return weights / weights.sum(axis=0, keepdims=True)\n"),
)
ENTROPY = (
    "    safe = np.where(weights > 0, weights, 1.0)\n"
    "    return -np.sum(weights * np.log(safe), axis=-1)\n"
)

VARIANTS: list[Variant] = [
    # --- wrong: each planted bug put back alone -------------------------------------------------
    Variant(
        "keys projected with w_q",
        passes=False,
        replace=((PROJECT, "    return x @ w_q, x @ w_q, x @ w_v\n"),),
        message="the keys were projected with w_q",
    ),
    Variant(
        "layer-normalised queries",
        passes=False,
        replace=(
            (
                PROJECT,
                "    q = x @ w_q\n"
                "    q = (q - q.mean(axis=-1, keepdims=True)) / (q.std(axis=-1, keepdims=True)"
                " + 1e-5)\n"
                "    return q, x @ w_k, x @ w_v\n",
            ),
        ),
        message="the queries were layer-normalised",
    ),
    Variant(
        "scores divided by d_k",
        passes=False,
        replace=((SCORES, "    scores = q @ k.T / q.shape[-1]\n"),),
        message="instead of 1/sqrt(d_k)",
    ),
    Variant(
        "softmax over the query axis",
        passes=False,
        replace=QUERY_AXIS,
        message="softmax over the wrong axis (-2, the queries)",
    ),
    Variant(
        "the mask multiplies the scores",
        passes=False,
        replace=((MASK, "        scores = scores * mask\n"),),
        message="the mask multiplies the scores",
    ),
    Variant(
        "0 * log 0 in the entropy",
        passes=False,
        replace=((ENTROPY, "    return -np.sum(weights * np.log(weights), axis=-1)\n"),),
        message="0 * log(0) is nan",
    ),
    # --- wrong: two bugs at once ---------------------------------------------------------------
    Variant(
        "divided by d_k and normalised over the queries",
        passes=False,
        replace=((SCORES, "    scores = q @ k.T / q.shape[-1]\n"), *QUERY_AXIS),
        message="softmax over the wrong axis",
    ),
    Variant(
        "keys with w_q and a multiplying mask",
        passes=False,
        replace=(
            (PROJECT, "    return x @ w_q, x @ w_q, x @ w_v\n"),
            (MASK, "        scores = scores * mask\n"),
        ),
        message="the mask multiplies the scores",
    ),
    # --- wrong: a symptom hidden, not cured ----------------------------------------------------
    Variant(
        "an inverted mask",
        passes=False,
        replace=((MASK, "        scores = np.where(mask, -np.inf, scores)\n"),),
        message="inverted mask",
    ),
    Variant(
        "weights zeroed after the softmax without renormalising",
        passes=False,
        replace=(
            (MASK, "        pass\n"),
            (
                NORMALISE,
                "    weights = weights / weights.sum(axis=-1, keepdims=True)\n"
                "    return weights if mask is None else weights * mask\n",
            ),
        ),
    ),
    Variant(
        "nan entropies replaced by 0 afterwards",
        passes=False,
        replace=(
            (ENTROPY, "    return np.nan_to_num(-np.sum(weights * np.log(weights), axis=-1))\n"),
        ),
    ),
    Variant(
        "entropy in bits",
        passes=False,
        replace=((ENTROPY, ENTROPY.replace("np.log(safe)", "np.log2(safe)")),),
        message="the entropy is in bits",
    ),
    # --- right: fixes written differently ------------------------------------------------------
    Variant(
        "the mask as a large negative number",
        passes=True,
        replace=((MASK, "        scores = np.where(mask, scores, -1e30)\n"),),
    ),
    Variant(
        "the scale folded into the queries",
        passes=True,
        replace=((SCORES, "    scores = (q / np.sqrt(q.shape[-1])) @ k.T\n"),),
    ),
    Variant(
        "entropy with np.errstate and np.nansum",
        passes=True,
        replace=(
            (
                ENTROPY,
                "    with np.errstate(divide='ignore', invalid='ignore'):\n"
                "        terms = weights * np.log(weights)\n"
                "    return -np.nansum(terms, axis=-1)\n",
            ),
        ),
    ),
    Variant(
        "a softmax through torch",
        passes=True,
        code="""
        def attention_weights(q, k, mask=None):
            import torch

            scores = torch.tensor(q) @ torch.tensor(k).T / q.shape[-1] ** 0.5
            if mask is not None:
                scores = scores.masked_fill(~torch.tensor(np.asarray(mask)), float("-inf"))
            return torch.softmax(scores, dim=-1).numpy()
        """,
    ),
]
