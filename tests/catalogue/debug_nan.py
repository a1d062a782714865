"""Known-wrong and correct-but-different versions of solutions/debug_nan.py: each planted bug put
back alone, pairs of them, fixes that hide a symptom, and fixes written differently."""

from __future__ import annotations

from catalogue import Variant

NORMALIZE = "    return (x - mean) / np.sqrt(var + eps)\n"
NO_EPS = "    return (x - mean) / np.sqrt(var)\n"
LOG_PROBS = "    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))\n"
SHIFT = "    shifted = logits - logits.max(axis=1, keepdims=True)\n"
NO_SHIFT = "    shifted = logits\n"
LOSS = "    loss = -log_probs[rows, y].mean()\n"
LOG_OF_SOFTMAX = "    loss = -np.log(np.exp(log_probs)[rows, y]).mean()\n"
MEAN_GRAD = "    return float(loss), dlogits / n\n"
SUM_GRAD = "    return float(loss), dlogits\n"
CLIP = "    return {name: g * scale for name, g in grads.items()}\n"
NEVER_CLIPS = "    for g in grads.values():\n        g = g * scale\n    return dict(grads)\n"
UPDATE = "params[name] - lr * grads[name]"

VARIANTS: list[Variant] = [
    # --- wrong: each planted bug put back alone ------------------------------------------
    Variant(
        "x.std() for a constant feature",
        passes=False,
        replace=((NORMALIZE, "    return (x - mean) / x.std(axis=0)\n"),),
        message="zero variance",
    ),
    Variant(
        "softmax without the max shift",
        passes=False,
        replace=((SHIFT, NO_SHIFT),),
        message="softmax overflows for logits above 709",
    ),
    Variant(
        "log of the softmax",
        passes=False,
        replace=((LOSS, LOG_OF_SOFTMAX),),
        message="log of a probability that underflowed",
    ),
    Variant(
        "gradient summed over the batch",
        passes=False,
        replace=((MEAN_GRAD, SUM_GRAD),),
        message="the gradient is summed over the batch",
    ),
    Variant(
        "clipping that never clips",
        passes=False,
        replace=((CLIP, NEVER_CLIPS),),
        message="clipping never clips",
    ),
    Variant(
        "the update climbs the gradient",
        passes=False,
        replace=((UPDATE, "params[name] + lr * grads[name]"),),
        message="the update climbs the gradient",
    ),
    # --- wrong: two bugs at once --------------------------------------------------------------
    Variant(
        "no max shift and log of the softmax",
        passes=False,
        replace=((SHIFT, NO_SHIFT), (LOSS, LOG_OF_SOFTMAX)),
        message="log of a probability that underflowed",
    ),
    Variant(
        "a summed gradient under clipping that never clips",
        passes=False,
        replace=((MEAN_GRAD, SUM_GRAD), (CLIP, NEVER_CLIPS)),
        message="clipping never clips",
    ),
    # --- wrong: a symptom hidden, not cured ---------------------------------------------------
    Variant(
        "eps dropped from the root (var = 0 gives 0 / 0)",
        passes=False,
        replace=((NORMALIZE, NO_EPS),),
        message="zero variance",
    ),
    Variant(
        "log(p + 1e-12): the -inf clamped away",
        passes=False,
        replace=((LOSS, "    loss = -np.log(np.exp(log_probs)[rows, y] + 1e-12).mean()\n"),),
        message="the log's argument was clamped",
    ),
    Variant(
        "a summed gradient tamed by clipping",
        passes=False,
        replace=((MEAN_GRAD, SUM_GRAD),),
        message="the gradient is summed over the batch",
    ),
    Variant(
        "nan steps skipped instead of cured",
        passes=False,
        replace=(
            (NORMALIZE, "    return (x - mean) / x.std(axis=0)\n"),
            (
                "        losses.append(loss)\n",
                "        if not np.isfinite(loss):\n            continue\n"
                "        losses.append(loss)\n",
            ),
        ),
        message="a step whose loss is nan was skipped",
    ),
    Variant(
        "nan_to_num over the normalized features",
        passes=False,
        replace=((NORMALIZE, "    return np.nan_to_num((x - mean) / x.std(axis=0), nan=1.0)\n"),),
        message="a constant feature must become 0",
    ),
    # --- right: fixes written differently -----------------------------------------------------
    Variant(
        "log-sum-exp with np.logaddexp.reduce",
        passes=True,
        replace=(
            (SHIFT, "    shifted = logits\n"),
            (
                LOG_PROBS,
                "    log_probs = logits - np.logaddexp.reduce(logits, axis=1, keepdims=True)\n",
            ),
        ),
    ),
    Variant(
        "clipping with min(1, max_norm / norm)",
        passes=True,
        replace=(
            (
                "    scale = max_norm / (total + 1e-6) if total > max_norm else 1.0\n",
                "    scale = min(1.0, max_norm / (total + 1e-6))\n",
            ),
        ),
    ),
    Variant(
        "a constant feature's spread replaced by 1",
        passes=True,
        replace=(
            (
                NORMALIZE,
                "    std = x.std(axis=0)\n    return (x - mean) / np.where(std > 0, std, 1.0)\n",
            ),
        ),
    ),
    Variant(
        "cross-entropy one row at a time with math",
        passes=True,
        code="""
        def cross_entropy(logits, y):
            import math

            n = len(logits)
            loss, dlogits = 0.0, np.zeros(np.shape(logits))
            for i, row in enumerate(logits):
                top = max(row)
                total = sum(math.exp(v - top) for v in row)
                loss -= (row[y[i]] - top - math.log(total)) / n
                for j, v in enumerate(row):
                    dlogits[i, j] = (math.exp(v - top) / total - (j == y[i])) / n
            return loss, dlogits
        """,
    ),
]
