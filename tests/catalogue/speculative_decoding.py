"""Known-wrong and correct-but-different versions of solutions/speculative_decoding.py."""

from __future__ import annotations

from catalogue import Variant

MIN_SUM = (
    "    return float(np.minimum(np.asarray(p, dtype=np.float64), np.asarray(q, dtype=np.float64))"
    ".sum())\n"
)
EXCESS = "    excess = np.maximum(p - np.asarray(q, dtype=np.float64), 0.0)\n"
NO_MASS = "    if mass == 0:\n        return p.copy()\n"
NORMALISE = "    return excess / mass\n"
RATIO = "        ratio = p[i, token] / q[i, token]\n"
TEST = "        if not u[i] < min(1.0, ratio):\n"
REJECT = "            return i, _inverse_cdf(residual_distribution(p[i], q[i]), u_next)\n"
BONUS = "    return len(tokens), _inverse_cdf(p[len(tokens)], u_next)\n"
ABOVE = "    above = np.flatnonzero(np.cumsum(dist) > u)\n"
GEOMETRIC = "    return float((1 - alpha ** (k + 1)) / (1 - alpha))\n"
ALPHA_ONE = "    if alpha == 1:\n        return float(k + 1)\n"
ALPHA_CHECK = (
    "    if not 0 <= alpha <= 1:\n"
    '        raise ValueError(f"alpha must be in [0, 1], got alpha={alpha!r}")\n'
)

WRONG: list[Variant] = [
    Variant(
        "acceptance as 1 - sum |p - q| (the total variation distance without its 1/2)",
        passes=False,
        replace=((MIN_SUM, "    return float(1 - np.abs(p - q).sum())\n"),),
        message="forgets the 1/2 of the total variation distance",
    ),
    Variant(
        "acceptance as the expectation over q of min(1, p / q), 0 / 0 where q = 0",
        passes=False,
        replace=(
            (
                MIN_SUM,
                "    with np.errstate(all='ignore'):\n"
                "        return float((q * np.minimum(1.0, p / q)).sum())\n",
            ),
        ),
        message="divides 0 by 0 where q = 0",
    ),
    Variant(
        "residual max(0, q - p)",
        passes=False,
        replace=((EXCESS, "    excess = np.maximum(np.asarray(q, dtype=np.float64) - p, 0.0)\n"),),
        message="the residual is max(0, q - p)",
    ),
    Variant(
        "residual not normalised",
        passes=False,
        replace=((NORMALISE, "    return excess\n"),),
        message="the residual was not normalised",
    ),
    Variant(
        "residual 0 / 0 when it has no mass",
        passes=False,
        replace=(
            (NO_MASS, ""),
            (NORMALISE, "    with np.errstate(all='ignore'):\n        return excess / mass\n"),
        ),
        message="divided 0 by 0 when max(0, p - q) has no mass",
    ),
    Variant(
        "accepting when u < q / p (the ratio upside down)",
        passes=False,
        replace=(
            (RATIO, "        ratio = q[i, token] / p[i, token] if p[i, token] else np.inf\n"),
        ),
        message="the ratio upside down",
    ),
    Variant(
        "accepting when u < p[x] (not divided by q[x])",
        passes=False,
        replace=((RATIO, "        ratio = p[i, token]\n"),),
        message="without dividing by q_i[x_i]",
    ),
    Variant(
        "resampling from p instead of the residual",
        passes=False,
        replace=((REJECT, "            return i, _inverse_cdf(p[i], u_next)\n"),),
        message="resampled from p_n, the target itself",
    ),
    Variant(
        "no bonus token (the last proposal's target row instead of p_k)",
        passes=False,
        replace=(
            (BONUS, "    return len(tokens), _inverse_cdf(p[max(len(tokens) - 1, 0)], u_next)\n"),
        ),
        message="no bonus token",
    ),
    Variant(
        "not stopping at the first rejection (every accepted proposal counted)",
        passes=False,
        replace=(
            (
                "    for i, token in enumerate(tokens):\n",
                "    rejected = None\n    count = 0\n    for i, token in enumerate(tokens):\n",
            ),
            (
                TEST,
                "        if u[i] < min(1.0, ratio):\n            count += 1\n"
                "        elif rejected is None:\n            rejected = i\n",
            ),
            (
                REJECT,
                "    if rejected is not None:\n"
                "        dist = residual_distribution(p[rejected], q[rejected])\n"
                "        return count, _inverse_cdf(dist, u_next)\n",
            ),
        ),
        message="kept going after a rejection",
    ),
    Variant(
        "inverse CDF with >= (the left side of the boundary)",
        passes=False,
        replace=((ABOVE, "    above = np.flatnonzero(np.cumsum(dist) >= u)\n"),),
        message="'>=' instead of '>'",
    ),
    Variant(
        "accepted returned as a float",
        passes=False,
        replace=(
            (
                REJECT,
                REJECT.replace("return i,", "return float(i),"),
            ),
        ),
        message="return Python ints",
    ),
    Variant(
        "expected tokens off by one (alpha ** k)",
        passes=False,
        replace=((GEOMETRIC, "    return float((1 - alpha**k) / (1 - alpha))\n"),),
        message="one term short",
    ),
    Variant(
        "expected tokens k at alpha = 1",
        passes=False,
        replace=((ALPHA_ONE, "    if alpha == 1:\n        return float(k)\n"),),
        message="alpha = 1 gives k + 1",
    ),
    Variant(
        "alpha not checked",
        passes=False,
        replace=((ALPHA_CHECK, ""),),
        message="should raise ValueError, but returned normally",
    ),
    Variant(
        "the ValueError does not name the argument's value",
        passes=False,
        replace=((ALPHA_CHECK, ALPHA_CHECK.replace(", got alpha={alpha!r}", "")),),
        message="does not name alpha and its value",
    ),
]

RIGHT: list[Variant] = [
    Variant(
        "Leviathan et al.'s comparison (accept at equality), plain-Python loops",
        passes=True,
        code="""
        def acceptance_probability(p, q):
            return sum(min(a, b) for a, b in zip(p.tolist(), q.tolist()))


        def residual_distribution(p, q):
            excess = [max(0.0, a - b) for a, b in zip(p.tolist(), q.tolist())]
            mass = sum(excess)
            return np.array(p.tolist() if mass == 0 else [e / mass for e in excess])


        def _draw(dist, u):
            total, last = 0.0, 0
            for i, d in enumerate(dist):
                total += d
                if d > 0:
                    last = i
                if total > u:
                    return i
            return last


        def speculative_step(draft_tokens, draft_probs, target_probs, u, u_next):
            for i, x in enumerate(draft_tokens.tolist()):
                if u[i] > target_probs[i][x] / draft_probs[i][x]:  # reject only above the ratio
                    return i, _draw(residual_distribution(target_probs[i], draft_probs[i]), u_next)
            k = len(draft_tokens)
            return k, _draw(target_probs[k].tolist(), u_next)


        def expected_tokens_per_step(alpha, k):
            if not 0 <= alpha <= 1 or k < 0:
                raise ValueError(f"need 0 <= alpha <= 1 and k >= 0: alpha={alpha}, k={k}")
            return sum(alpha**i for i in range(k + 1))
        """,
    ),
    Variant(
        "torch inside, vectorised as Hugging Face's _speculative_sampling",
        passes=True,
        code="""
        import torch


        def acceptance_probability(p, q):
            return torch.minimum(torch.as_tensor(p), torch.as_tensor(q)).sum()


        def residual_distribution(p, q):
            p = torch.as_tensor(p)
            excess = torch.clamp(p - torch.as_tensor(q), min=0)
            return p.clone() if excess.sum() == 0 else excess / excess.sum()


        def speculative_step(draft_tokens, draft_probs, target_probs, u, u_next):
            tokens = torch.as_tensor(draft_tokens)
            q, p = torch.as_tensor(draft_probs), torch.as_tensor(target_probs)
            k = len(tokens)
            positions = torch.arange(k)
            ratio = p[positions, tokens] / q[positions, tokens]
            accepted = torch.as_tensor(u) < torch.clamp(ratio, max=1.0)
            n = int(((~accepted).cumsum(dim=-1) < 1).sum())
            dist = p[k] if n == k else residual_distribution(p[n], q[n])
            totals = torch.cumsum(dist, dim=0)
            index = int(torch.searchsorted(totals, torch.tensor(float(u_next)), right=True))
            if index == len(dist):
                index = int(torch.nonzero(dist > 0).flatten()[-1])
            return torch.tensor(n), torch.tensor(index)
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        def acceptance_probability(p, q):
            return np.minimum(p.astype(np.float32), q.astype(np.float32)).sum()


        def residual_distribution(p, q):
            p = p.astype(np.float32)
            excess = np.maximum(p - q.astype(np.float32), np.float32(0))
            return p.copy() if excess.sum() == 0 else excess / excess.sum()


        def speculative_step(draft_tokens, draft_probs, target_probs, u, u_next):
            q, p = draft_probs.astype(np.float32), target_probs.astype(np.float32)
            for i, token in enumerate(draft_tokens):
                if not np.float32(u[i]) < min(np.float32(1), p[i, token] / q[i, token]):
                    return i, _inverse_cdf(residual_distribution(p[i], q[i]), u_next)
            return len(draft_tokens), _inverse_cdf(p[len(draft_tokens)], np.float32(u_next))
        """,
    ),
    Variant(
        "no division (u * q < p) and the geometric sum term by term",
        passes=True,
        replace=(
            (RATIO, ""),
            (TEST, "        if not u[i] * q[i, token] < p[i, token]:\n"),
            (ALPHA_ONE, ""),
            (GEOMETRIC, "    return float(sum(alpha**i for i in range(k + 1)))\n"),
        ),
    ),
]

VARIANTS: list[Variant] = WRONG + RIGHT
