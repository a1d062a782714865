"""Known-wrong and correct-but-different versions of solutions/word2vec.py."""

from __future__ import annotations

from catalogue import Variant

J_LOOP = "        if j != i\n"
SGNS_LOSS = "    loss = -_log_sigmoid(s_context) - np.sum(_log_sigmoid(-s_negatives))\n"
SHIFT = "    shifted = scores - scores.max()\n"
ORDER = (
    "    order = np.lexsort((np.arange(len(similarity)), -similarity))"
    "  # by -similarity, then index\n"
)
KEEP_OTHERS = "    return [int(i) for i in order if i != index][:k]\n"

WRONG: list[Variant] = [
    Variant(
        "a window that shrinks at random (word2vec.c's b = next_random % window)",
        passes=False,
        code="""
        def skipgram_pairs(tokens, window):
            if window < 1:
                raise ValueError(f"window must be >= 1, got window={window}")
            rng, n, pairs = np.random.default_rng(0), len(tokens), []
            for i in range(n):
                reach = window - int(rng.integers(window))  # 1 ..= window
                for j in range(max(0, i - reach), min(n, i + reach + 1)):
                    if j != i:
                        pairs.append((tokens[i], tokens[j]))
            return pairs
        """,
        message="the window shrinks",
    ),
    Variant(
        "the centre paired with itself",
        passes=False,
        replace=((J_LOOP, "        if True\n"),),
        message="paired with itself",
    ),
    Variant(
        "an exclusive window (|i - j| < window)",
        passes=False,
        replace=(
            (
                "for j in range(max(0, i - window), min(n, i + window + 1))",
                "for j in range(max(0, i - window + 1), min(n, i + window))",
            ),
        ),
        message="the window is exclusive",
    ),
    Variant(
        "pairs as (context, centre)",
        passes=False,
        replace=(("        (tokens[i], tokens[j])\n", "        (tokens[j], tokens[i])\n"),),
        message="the pairs are (context, centre)",
    ),
    Variant(
        "counts not raised to the power",
        passes=False,
        replace=(("    weights = counts**power  # (V,)\n", "    weights = counts  # (V,)\n"),),
        message="counts not raised to the power",
    ),
    Variant(
        "power <= 0 accepted",
        passes=False,
        replace=(("    if power <= 0:\n", "    if power < -1e9:\n"),),
        message="should raise ValueError",
    ),
    Variant(
        "log(sigmoid(s) + eps)",
        passes=False,
        replace=(
            (
                SGNS_LOSS,
                "    eps = 1e-10\n    loss = -np.log(_sigmoid(s_context) + eps) - np.sum(\n"
                "        np.log(_sigmoid(-s_negatives) + eps)\n    )\n",
            ),
        ),
        message="log(sigmoid(s) + eps)",
    ),
    Variant(
        "the negatives' term with +u_k . v",
        passes=False,
        replace=(
            (
                SGNS_LOSS,
                SGNS_LOSS.replace("_log_sigmoid(-s_negatives)", "_log_sigmoid(s_negatives)"),
            ),
        ),
        message="log sigmoid(+u_k . v)",
    ),
    Variant(
        "a repeated negative's gradients summed into its rows (np.add.at by word)",
        passes=False,
        code="""
        _right_sgns = sgns_loss

        def sgns_loss(v_center, u_context, u_negatives):
            loss, grads = _right_sgns(v_center, u_context, u_negatives)
            rows = grads["u_negatives"]
            same = (u_negatives[:, None, :] == u_negatives[None, :, :]).all(-1)  # (K, K)
            grads["u_negatives"] = same.astype(float) @ rows
            return loss, grads
        """,
        message="summed into its rows",
    ),
    Variant(
        "softmax without the max shift",
        passes=False,
        replace=((SHIFT, "    shifted = scores\n"),),
        message="an overflow",
    ),
    Variant(
        "only the context's row of u_all differentiated",
        passes=False,
        code="""
        _right_softmax = softmax_loss

        def softmax_loss(v_center, context, u_all):
            loss, grads = _right_softmax(v_center, context, u_all)
            only = np.zeros_like(u_all)
            only[context] = grads["u_all"][context]
            return loss, {"v_center": grads["v_center"], "u_all": only}
        """,
        message="only the context's row",
    ),
    Variant(
        "the word itself not excluded",
        passes=False,
        replace=((KEEP_OTHERS, "    return [int(i) for i in order][:k]\n"),),
        message="the word itself was not excluded",
    ),
    Variant(
        "ranked by the dot product",
        passes=False,
        replace=((ORDER, ORDER.replace("-similarity))", "-dots))")),),
        message="ranked by the dot product",
    ),
    Variant(
        "ties to the higher index (a reversed argsort)",
        passes=False,
        replace=((ORDER, "    order = np.argsort(similarity, kind='stable')[::-1]\n"),),
        message="ties went to the higher index",
    ),
    Variant(
        "log sigmoid by np.where over both branches: right values, the discarded one overflows",
        passes=False,
        code="""
        def _log_sigmoid(s):
            s = np.asarray(s, dtype=float)
            return np.where(s >= 0, -np.log1p(np.exp(-s)), s - np.log1p(np.exp(s)))
        """,
        message="raised numpy's warning",
    ),
]

RIGHT: list[Variant] = [
    Variant(
        "torch autograd for both losses (F.logsigmoid, log_softmax)",
        passes=True,
        code="""
        import torch
        import torch.nn.functional as F

        def _t(v, grad=False):
            return torch.tensor(np.asarray(v), dtype=torch.float64, requires_grad=grad)

        def sgns_loss(v_center, u_context, u_negatives):
            v, c, n = _t(v_center, True), _t(u_context, True), _t(u_negatives, True)
            loss = -F.logsigmoid(c @ v) - F.logsigmoid(-(n @ v)).sum()
            loss.backward()
            return loss.detach(), {"v_center": v.grad, "u_context": c.grad, "u_negatives": n.grad}

        def softmax_loss(v_center, context, u_all):
            v, u = _t(v_center, True), _t(u_all, True)
            loss = -torch.log_softmax(u @ v, dim=0)[context]
            loss.backward()
            return loss.item(), {"v_center": v.grad.numpy(), "u_all": u.grad}
        """,
    ),
    Variant(
        "plain Python loops and sorted(key=...)",
        passes=True,
        code="""
        import math

        def skipgram_pairs(tokens, window):
            if window < 1:
                raise ValueError(f"window={window} is below 1")
            pairs = []
            for i, centre in enumerate(tokens):
                for j, context in enumerate(tokens):
                    if 1 <= abs(i - j) <= window:
                        pairs.append([centre, context])
            return pairs

        def noise_distribution(counts, power=0.75):
            if power <= 0 or len(counts) == 0 or min(counts) < 0 or max(counts) == 0:
                raise ValueError(f"bad input: counts={list(counts)}, power={power}")
            weights = [c**power for c in counts]
            return [w / sum(weights) for w in weights]

        def most_similar(embeddings, index, k):
            if k < 0:
                raise ValueError(f"k={k} < 0")
            rows = [list(map(float, row)) for row in embeddings]
            norm = [math.sqrt(sum(a * a for a in row)) for row in rows]

            def cos(j):
                if norm[j] == 0 or norm[index] == 0:
                    return 0.0
                return sum(a * b for a, b in zip(rows[j], rows[index])) / (norm[j] * norm[index])

            others = [j for j in range(len(rows)) if j != index]
            return sorted(others, key=lambda j: (-cos(j), j))[:k]
        """,
    ),
    Variant(
        "logaddexp for log-sigmoid, float32 inside, an int64 array of neighbours",
        passes=True,
        code="""
        def sgns_loss(v_center, u_context, u_negatives):
            v, c, n = (np.asarray(a, np.float32) for a in (v_center, u_context, u_negatives))
            s_c, s_n = c @ v, n @ v
            loss = np.logaddexp(0, -s_c) + np.logaddexp(0, s_n).sum()
            g_c = -np.exp(-np.logaddexp(0, s_c))  # sigmoid(s_c) - 1 = -sigmoid(-s_c)
            g_n = np.exp(-np.logaddexp(0, -s_n))  # sigmoid(s_n)
            grads = {"v_center": g_c * c + g_n @ n, "u_context": g_c * v}
            return loss, grads | {"u_negatives": np.outer(g_n, v)}

        _right_similar = most_similar

        def most_similar(embeddings, index, k):
            return np.array(_right_similar(embeddings, index, k), dtype=np.int64)
        """,
    ),
]

VARIANTS: list[Variant] = WRONG + RIGHT
