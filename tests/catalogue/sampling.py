"""Known-wrong and correct-but-different versions of solutions/sampling.py."""

from __future__ import annotations

from catalogue import Variant

DIVIDE = "    return np.asarray(logits, dtype=np.float64) / temperature\n"
T_CHECK = "    if not temperature > 0:\n"
KTH = (
    "    kth = np.sort(logits, axis=-1)[..., vocab - k, None]"
    "  # (..., 1) the k-th largest per row\n"
)
K_WHERE = "    return np.where(logits >= kth, logits, -np.inf)\n"
K_CLAMP = "    if k >= vocab:\n        return logits.copy()\n"
BEFORE = (
    "    before = np.concatenate([np.zeros_like(totals[..., :1]), totals[..., :-1]], axis=-1)\n"
)
P_SPECIAL = "    if p == 1:\n        return logits.copy()\n"
P_ORDER = '    order = np.argsort(-probs, axis=-1, kind="stable")  # most likely first\n'
P_RETURN = "    return np.where(keep, logits, -np.inf)\n"
P_MESSAGE = '        raise ValueError(f"p must be in (0, 1], got p={p!r}")\n'
M_CHECK = (
    "    if not 0 <= min_p <= 1:\n"
    '        raise ValueError(f"min_p must be in [0, 1], got min_p={min_p!r}")\n'
)
M_THRESHOLD = "    threshold = min_p * probs.max(axis=-1, keepdims=True)  # (..., 1)\n"
M_WHERE = "    return np.where(probs >= threshold, logits, -np.inf)\n"
SHIFT = "    shifted = logits - logits.max(axis=-1, keepdims=True)  # the row's max becomes 0\n"
S_ABOVE = "    above = np.flatnonzero(totals > u)\n"
S_FALLBACK = "    return int(np.flatnonzero(probs > 0)[-1])  # rounding left every total <= u\n"
S_FIRST = "        return int(above[0])\n"

VARIANTS: list[Variant] = [
    # --- wrong ----------------------------------------------------------------------------------
    Variant(
        "temperature multiplied",
        passes=False,
        replace=((DIVIDE, "    return np.asarray(logits, dtype=np.float64) * temperature\n"),),
        message="multiplied by the temperature",
    ),
    Variant(
        "temperature 0 accepted (only negative rejected)",
        passes=False,
        replace=((T_CHECK, "    if temperature < 0:\n"),),
        message="temperature <= 0 must raise ValueError",
    ),
    Variant(
        "temperature returns probabilities",
        passes=False,
        replace=(
            (DIVIDE, "    return _softmax(np.asarray(logits, dtype=np.float64) / temperature)\n"),
        ),
        message="returned probabilities (softmax(logits / T))",
    ),
    Variant(
        "top-k keeps k + 1 (threshold one index too low)",
        passes=False,
        replace=((KTH, "    kth = np.sort(logits, axis=-1)[..., vocab - k - 1, None]\n"),),
        message="kept k + 1 tokens",
    ),
    Variant(
        "top-k drops the k-th itself (strict >)",
        passes=False,
        replace=((K_WHERE, "    return np.where(logits > kth, logits, -np.inf)\n"),),
        message="the k-th largest logit itself was dropped",
    ),
    Variant(
        "top-k breaks ties (argsort keeps exactly k)",
        passes=False,
        replace=(
            (
                K_WHERE,
                "    top = np.argsort(-logits, axis=-1, kind='stable')[..., :k]\n"
                "    keep = np.zeros(logits.shape, dtype=bool)\n"
                "    np.put_along_axis(keep, top, True, axis=-1)\n"
                "    return np.where(keep, logits, -np.inf)\n",
            ),
        ),
        message="ties at the k-th value were broken",
    ),
    Variant(
        "top-k with torch.topk's indices (ties broken)",
        passes=False,
        code="""
        import torch


        def top_k_logits(logits, k):
            if k < 1:
                raise ValueError(f"k must be at least 1, got k={k}")
            x = torch.as_tensor(logits)
            k = min(k, x.shape[-1])
            indices = torch.topk(x, k, dim=-1).indices
            out = torch.full_like(x, float("-inf"))
            return out.scatter(-1, indices, x.gather(-1, indices))
        """,
        message="ties at the k-th value were broken",
    ),
    Variant(
        "top-k without clamping k > V (negative index wraps)",
        passes=False,
        replace=((K_CLAMP, "    if k == vocab:\n        return logits.copy()\n"),),
        message="k > V wrapped around",
    ),
    Variant(
        "top-k raises for k > V (np.partition out of bounds)",
        passes=False,
        replace=(
            (K_CLAMP, ""),
            (KTH, "    kth = np.partition(logits, -k, axis=-1)[..., -k, None]\n"),
        ),
        message="k >= V must keep every logit (not raise)",
    ),
    Variant(
        "top-k with one threshold for the whole array",
        passes=False,
        replace=((KTH, "    kth = np.sort(logits, axis=None)[logits.size - k]\n"),),
        message="one threshold (or one softmax) for the whole array",
    ),
    Variant(
        "top-k fills -1e9 instead of -inf",
        passes=False,
        replace=((K_WHERE, "    return np.where(logits >= kth, logits, -1e9)\n"),),
        message="dropped tokens must be exactly -np.inf",
    ),
    Variant(
        "top-k fills the dtype's minimum (masked_fill with finfo.min)",
        passes=False,
        replace=(
            (K_WHERE, "    return np.where(logits >= kth, logits, np.finfo(logits.dtype).min)\n"),
        ),
        message="dropped tokens were set to -1.79769e+308",
    ),
    Variant(
        "top-k modifies its input in place",
        passes=False,
        replace=(
            (
                "    logits = np.asarray(logits, dtype=np.float64)\n    vocab = logits.shape[-1]\n",
                "    vocab = logits.shape[-1]\n",
            ),
            (K_WHERE, "    logits[logits < kth] = -np.inf\n    return logits\n"),
        ),
        message="in place",
    ),
    Variant(
        "top-p drops the token that crosses p (inclusive totals)",
        passes=False,
        replace=((BEFORE, "    before = totals\n"),),
        message="the token that crosses p was dropped",
    ),
    Variant(
        "top-p keeps while the total including the token is <= p",
        passes=False,
        replace=((P_SPECIAL, ""), (BEFORE, "    before = totals - 1e-12\n")),
        message="the token that crosses p was dropped",
    ),
    Variant(
        "top-p sorts least likely first",
        passes=False,
        replace=((P_ORDER, '    order = np.argsort(probs, axis=-1, kind="stable")\n'),),
        message="sorted least likely first",
    ),
    Variant(
        "top-p totals in vocabulary order (no sort)",
        passes=False,
        replace=(
            (P_ORDER, "    order = np.broadcast_to(np.arange(probs.shape[-1]), probs.shape)\n"),
        ),
        message="the running totals were taken in vocabulary order",
    ),
    Variant(
        "top-p returns the filtered logits in sorted order",
        passes=False,
        replace=(
            (
                P_RETURN,
                "    return np.take_along_axis(np.where(keep, logits, -np.inf), order, -1)\n",
            ),
        ),
        message="the result is in sorted order",
    ),
    Variant(
        "top-p filters probabilities instead of logits",
        passes=False,
        replace=(
            (
                P_RETURN,
                "    kept = np.where(keep, probs, 0.0)\n"
                "    return kept / kept.sum(axis=-1, keepdims=True)\n",
            ),
        ),
        message="returned probabilities instead of logits",
    ),
    Variant(
        "softmax without subtracting the max",
        passes=False,
        replace=((SHIFT, "    shifted = logits\n"),),
        message="the softmax overflows for logits above 709",
    ),
    Variant(
        "top-p error message does not name the value",
        passes=False,
        replace=((P_MESSAGE, '        raise ValueError("p must be in (0, 1]")\n'),),
        message="does not name the offending value",
    ),
    Variant(
        "min-p as an absolute threshold",
        passes=False,
        replace=((M_THRESHOLD, "    threshold = min_p\n"),),
        message="min_p used as an absolute threshold",
    ),
    Variant(
        "min-p compares logits",
        passes=False,
        replace=(
            (
                M_WHERE,
                "    bar = min_p * logits.max(-1, keepdims=True)\n"
                "    return np.where(logits >= bar, logits, -np.inf)\n",
            ),
        ),
        message="compared logits, not probabilities",
    ),
    Variant(
        "min-p returns the kept probabilities, 0 elsewhere",
        passes=False,
        replace=((M_WHERE, "    return np.where(probs >= threshold, probs, 0.0)\n"),),
        message="(here the kept tokens' probabilities, 0 for the others)",
    ),
    Variant(
        "min-p without its argument check",
        passes=False,
        replace=((M_CHECK, ""),),
        message="should raise ValueError, but returned normally",
    ),
    Variant(
        "sample_token with >= (the left side of the boundary)",
        passes=False,
        replace=((S_ABOVE, "    above = np.flatnonzero(totals >= u)\n"),),
        message="'>=' instead of '>'",
    ),
    Variant(
        "sample_token in sorted order",
        passes=False,
        replace=(
            (
                "    totals = np.cumsum(probs)\n",
                "    order = np.argsort(-probs, kind='stable')\n"
                "    totals = np.cumsum(probs[order])\n",
            ),
            (S_FIRST, "        return int(order[above[0]])\n"),
        ),
        message="sampled in sorted order",
    ),
    Variant(
        "sample_token without the rounding fallback (IndexError)",
        passes=False,
        replace=(
            ("    if above.size:\n", ""),
            (S_FIRST, "    return int(above[0])\n"),
            (S_FALLBACK, ""),
        ),
        message="no fallback when rounding leaves every total <= u",
    ),
    Variant(
        "sample_token with searchsorted and no fallback (returns V)",
        passes=False,
        replace=((S_ABOVE, "    return int(np.searchsorted(totals, u, side='right'))\n"),),
        message="returned len(logits) when every total is <= u",
    ),
    Variant(
        "sample_token falls back to the last index",
        passes=False,
        replace=((S_FALLBACK, "    return len(probs) - 1\n"),),
        message="fell back to the last index, a token at -inf",
    ),
    Variant(
        "sample_token returns an array of shape (1,)",
        passes=False,
        replace=((S_FIRST, "        return above[:1]\n"),),
        message="return one token id as a scalar",
    ),
    # --- wrong: found in public code (issue 26) -------------------------------------------------
    Variant(
        "convai's top-p: the dropped ids index the batch's rows",
        passes=False,
        code="""
        def top_p_logits(logits, p):
            if not 0 < p <= 1:
                raise ValueError(f"p must be in (0, 1], got p={p!r}")
            logits = np.array(logits, dtype=np.float64)
            order = np.argsort(-logits, axis=-1, kind="stable")
            probs = np.exp(logits - logits.max(axis=-1, keepdims=True))
            probs = probs / probs.sum(axis=-1, keepdims=True)
            totals = np.cumsum(np.take_along_axis(probs, order, axis=-1), axis=-1)
            remove = totals > p
            remove[..., 1:] = remove[..., :-1].copy()
            remove[..., 0] = False
            logits[order[remove]] = -np.inf
            return logits
        """,
        message="the dropped token ids were used to index the batch's first axis",
    ),
    # --- right ----------------------------------------------------------------------------------
    Variant(
        "plain-Python loops, one token at a time",
        passes=True,
        code="""
        import math


        def _row_probs(row):
            top = max(row)
            exps = [math.exp(x - top) for x in row]
            total = sum(exps)
            return [e / total for e in exps]


        def _rows(logits):
            logits = np.asarray(logits, dtype=np.float64)
            return logits, logits.reshape(-1, logits.shape[-1])


        def top_k_logits(logits, k):
            if k < 1:
                raise ValueError(f"k must be >= 1, got {k}")
            logits, rows = _rows(logits)
            out = []
            for row in rows.tolist():
                kth = sorted(row, reverse=True)[min(k, len(row)) - 1]
                out.append([x if x >= kth else -math.inf for x in row])
            return np.array(out).reshape(logits.shape)


        def top_p_logits(logits, p):
            if not 0 < p <= 1:
                raise ValueError(f"p = {p} is not in (0, 1]")
            logits, rows = _rows(logits)
            out = []
            for row in rows.tolist():
                probs = _row_probs(row)
                ids = sorted(range(len(row)), key=lambda i: -probs[i])
                kept, total = set(), 0.0
                for i in ids:
                    if total < p or p == 1:
                        kept.add(i)
                    total += probs[i]
                out.append([x if i in kept else -math.inf for i, x in enumerate(row)])
            return np.array(out).reshape(logits.shape)


        def min_p_logits(logits, min_p):
            if not 0 <= min_p <= 1:
                raise ValueError(f"min_p = {min_p} is not in [0, 1]")
            logits, rows = _rows(logits)
            out = []
            for row in rows.tolist():
                probs = _row_probs(row)
                bar = min_p * max(probs)
                out.append([x if q >= bar else -math.inf for x, q in zip(row, probs)])
            return np.array(out).reshape(logits.shape)


        def sample_token(logits, u):
            probs = _row_probs(list(np.asarray(logits, dtype=np.float64)))
            total, last = 0.0, 0
            for i, q in enumerate(probs):
                total += q
                if q > 0:
                    last = i
                if total > u:
                    return i
            return last
        """,
    ),
    Variant(
        "torch inside (torch.topk threshold, torch.sort, torch.cumsum)",
        passes=True,
        code="""
        import torch


        def apply_temperature(logits, temperature):
            if temperature <= 0:
                raise ValueError(f"temperature {temperature} <= 0")
            return torch.as_tensor(logits) / temperature


        def top_k_logits(logits, k):
            if k < 1:
                raise ValueError(f"k={k} < 1")
            x = torch.as_tensor(logits)
            k = min(k, x.shape[-1])
            kth = torch.topk(x, k, dim=-1).values[..., -1:]
            return x.masked_fill(x < kth, float("-inf"))


        def top_p_logits(logits, p):
            # Hugging Face's TopPLogitsWarper: sort ascending, drop the tokens whose ascending
            # total is <= 1 - p, always keep the most likely one
            if not 0 < p <= 1:
                raise ValueError(f"p={p} is outside (0, 1]")
            x = torch.as_tensor(logits)
            if p == 1:
                return x.clone()
            sorted_logits, order = torch.sort(x, descending=False, dim=-1)
            totals = sorted_logits.softmax(dim=-1).cumsum(dim=-1)
            remove = totals <= 1 - p
            remove[..., -1:] = False
            return x.masked_fill(remove.scatter(-1, order, remove), float("-inf"))


        def min_p_logits(logits, min_p):
            if not 0 <= min_p <= 1:
                raise ValueError(f"min_p={min_p} is outside [0, 1]")
            x = torch.as_tensor(logits)
            probs = torch.softmax(x, dim=-1)
            bar = min_p * probs.amax(dim=-1, keepdim=True)
            return x.masked_fill(probs < bar, float("-inf"))


        def sample_token(logits, u):
            probs = torch.softmax(torch.as_tensor(logits), dim=-1)
            totals = torch.cumsum(probs, dim=0)
            above = torch.nonzero(totals > u).flatten()
            if len(above):
                return int(above[0])
            return int(torch.nonzero(probs > 0).flatten()[-1])
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        def _softmax(logits):
            x = np.asarray(logits, dtype=np.float32)
            exp = np.exp(x - x.max(axis=-1, keepdims=True))
            return exp / exp.sum(axis=-1, keepdims=True)


        def apply_temperature(logits, temperature):
            if not temperature > 0:
                raise ValueError(f"temperature must be > 0, got {temperature}")
            return np.asarray(logits, dtype=np.float32) / np.float32(temperature)


        def min_p_logits(logits, min_p):
            if not 0 <= min_p <= 1:
                raise ValueError(f"min_p must be in [0, 1], got {min_p}")
            x = np.asarray(logits, dtype=np.float32)
            probs = _softmax(x)
            keep = probs >= np.float32(min_p) * probs.max(axis=-1, keepdims=True)
            return np.where(keep, x, np.float32(-np.inf))
        """,
    ),
    Variant(
        "other algorithms: pairwise nucleus, log-space min-p, searchsorted, partition",
        passes=True,
        code="""
        def top_k_logits(logits, k):
            if k < 1:
                raise ValueError(f"top-k needs k >= 1, not {k}")
            logits = np.asarray(logits, dtype=np.float64)
            vocab = logits.shape[-1]
            kth = np.partition(logits, vocab - min(k, vocab), axis=-1)
            kth = kth[..., vocab - min(k, vocab), None]
            return np.where(logits >= kth, logits, -np.inf)


        def top_p_logits(logits, p):
            # no sort: the mass of the tokens strictly more likely than each token
            if not 0 < p <= 1:
                raise ValueError(f"top-p needs 0 < p <= 1, not {p}")
            logits = np.asarray(logits, dtype=np.float64)
            if p == 1:
                return logits.copy()
            probs = _softmax(logits)
            more_likely = probs[..., None, :] > probs[..., :, None]  # (..., token, other)
            before = np.einsum("...ij,...j->...i", more_likely, probs)
            return np.where(before < p, logits, -np.inf)


        def min_p_logits(logits, min_p):
            if not 0 <= min_p <= 1:
                raise ValueError(f"min-p needs 0 <= min_p <= 1, not {min_p}")
            logits = np.asarray(logits, dtype=np.float64)
            gap = logits - logits.max(axis=-1, keepdims=True)  # log(q / max q)
            with np.errstate(divide="ignore"):
                return np.where(gap >= np.log(min_p), logits, -np.inf)


        def sample_token(logits, u):
            probs = _softmax(np.asarray(logits, dtype=np.float64))
            index = int(np.searchsorted(np.cumsum(probs), u, side="right"))
            if index < len(probs):
                return index
            return int(np.nonzero(probs)[0][-1])
        """,
    ),
    Variant(
        "min_p with a strict > (keeps nothing at min_p = 1)",
        passes=False,
        replace=(
            (
                "    return np.where(probs >= threshold, logits, -np.inf)\n",
                "    return np.where(probs > threshold, logits, -np.inf)\n",
            ),
        ),
        message="a strict > against the threshold",
    ),
    Variant(
        "llama2.c's top-p: candidates above (1 - p) / (V - 1) first (none when V = 1)",
        passes=False,
        code="""
        def top_p_logits(logits, p):
            if not 0 < p <= 1:
                raise ValueError(f"p must be in (0, 1], got p={p!r}")
            logits = np.asarray(logits, dtype=np.float64)
            if p == 1:
                return logits.copy()
            probs = _softmax(logits)
            rows = probs.reshape(-1, probs.shape[-1])
            keep = np.zeros(rows.shape, dtype=bool)
            n = rows.shape[-1]
            with np.errstate(divide="ignore"):
                cutoff = np.float64(1 - p) / np.float64(n - 1)  # inf when V = 1
            for r, row in enumerate(rows):
                above = [i for i in range(n) if row[i] >= cutoff]
                candidates = sorted(above, key=lambda i: -row[i])
                total = 0.0
                for i in candidates:
                    keep[r, i] = True
                    total += row[i]
                    if total > p:
                        break
            return np.where(keep.reshape(probs.shape), logits, -np.inf)
        """,
        message="a vocabulary of one token lost it",
    ),
]
