"""Known-wrong and correct-but-different versions of solutions/retrieval.py."""

from __future__ import annotations

from catalogue import Variant

UNIT = "    return np.divide(x, norms, out=np.zeros_like(x), where=norms > 0)\n"
ORDER = (
    '    order = np.argsort(-similarity, kind="stable")'
    "  # stable: ties keep the lower index first\n"
)
TOP_RETURN = "    return [int(i) for i in order[:k]]\n"
K_CHECK = (
    '    if k < 1:\n        raise ValueError(f"k must be >= 1, got k={k!r}")\n    similarity = '
)
SCORE = "        score = lam * relevance - (1 - lam) * redundancy\n"
REDUNDANCY = (
    "        redundancy = between[best] if not selected else np.maximum(redundancy, between[best])"
    "\n"
)
STRIDE = "    stride = size - overlap\n"
BREAK = "        if start + size >= len(text):\n            break\n"

WRONG: list[Variant] = [
    Variant(
        "dot product instead of cosine",
        passes=False,
        replace=((UNIT, "    return x\n"),),
        message="the dot product without the norms",
    ),
    Variant(
        "an eps added to the product of the norms",
        passes=False,
        code="""
        def cosine_similarity(a, b):
            norms = np.linalg.norm(a, axis=1)[:, None] * np.linalg.norm(b, axis=1)[None, :]
            return (a @ b.T) / (norms + 1e-8)
        """,
        message="an eps added to |a| |b|",
    ),
    Variant(
        "an eps added to each norm",
        passes=False,
        replace=((UNIT, "    return x / (norms + 1e-8)\n"),),
        message="an eps added to each norm",
    ),
    Variant(
        "nan for zero vectors (a plain division)",
        passes=False,
        replace=((UNIT, "    with np.errstate(all='ignore'):\n        return x / norms\n"),),
        message="0 / 0 for a zero vector",
    ),
    Variant(
        "top-k least similar first",
        passes=False,
        replace=((ORDER, '    order = np.argsort(similarity, kind="stable")\n'),),
        message="the least similar first",
    ),
    Variant(
        "top-k ties to the higher index (ascending sort reversed)",
        passes=False,
        replace=((ORDER, '    order = np.argsort(similarity, kind="stable")[::-1]\n'),),
        message="ties went to the higher index",
    ),
    Variant(
        "top-k indices as floats",
        passes=False,
        replace=((TOP_RETURN, "    return [float(i) for i in order[:k]]\n"),),
        message="return the indices as a list of Python ints",
    ),
    Variant(
        "top-k without its check of k",
        passes=False,
        replace=((K_CHECK, "    similarity = "),),
        message="should raise ValueError, but returned normally",
    ),
    Variant(
        "MMR with the sum of the similarities to the selected docs",
        passes=False,
        replace=((REDUNDANCY, "        redundancy = redundancy + between[best]\n"),),
        message="the redundancy is the sum of the similarities",
    ),
    Variant(
        "MMR with lam on the wrong term",
        passes=False,
        replace=((SCORE, "        score = (1 - lam) * relevance - lam * redundancy\n"),),
        message="lam on the wrong term",
    ),
    Variant(
        "MMR's maximum starts from zeros (np.maximum from the first pick on)",
        passes=False,
        replace=((REDUNDANCY, "        redundancy = np.maximum(redundancy, between[best])\n"),),
        message="never went below 0",
    ),
    Variant(
        "MMR's first pick by similarity alone (LangChain's maximal_marginal_relevance)",
        passes=False,
        replace=(
            (
                SCORE,
                SCORE + "        if not selected:\n            score = relevance.copy()\n",
            ),
        ),
        message="the first pick by similarity alone",
    ),
    Variant(
        "MMR's error message does not name lam's value",
        passes=False,
        replace=(
            (
                '        raise ValueError(f"lam must be in [0, 1], got lam={lam!r}")\n',
                '        raise ValueError("lam must be in [0, 1]")\n',
            ),
        ),
        message="does not name lam and its value",
    ),
    Variant(
        "chunks every size characters (the overlap ignored)",
        passes=False,
        replace=((STRIDE, "    stride = size\n"),),
        message="ignoring the overlap",
    ),
    Variant(
        "an extra tail chunk (a chunk at every start below len(text))",
        passes=False,
        replace=((BREAK, ""),),
        message="an extra tail chunk",
    ),
    Variant(
        "only whole windows (the short last chunk dropped)",
        passes=False,
        code="""
        def chunk_text(text, size, overlap):
            if size < 1 or not 0 <= overlap < size:
                raise ValueError(f"bad size={size} or overlap={overlap}")
            return [text[i : i + size] for i in range(0, len(text) - size + 1, size - overlap)]
        """,
        message="only whole windows",
    ),
]

RIGHT: list[Variant] = [
    Variant(
        "plain-Python brute force",
        passes=True,
        code="""
        import math


        def cosine_similarity(a, b):
            def unit(row):
                norm = math.sqrt(sum(x * x for x in row))
                return [x / norm for x in row] if norm > 0 else [0.0] * len(row)

            a_rows, b_rows = [unit(r) for r in a.tolist()], [unit(r) for r in b.tolist()]
            return np.array([[sum(x * y for x, y in zip(r, s)) for s in b_rows] for r in a_rows])


        def top_k(query, docs, k):
            if k < 1:
                raise ValueError(f"k = {k}: ask for at least one document")
            sims = cosine_similarity(query[None, :], docs)[0].tolist()
            return sorted(range(len(sims)), key=lambda i: (-sims[i], i))[:k]


        def mmr(query, docs, k, lam=0.5):
            if not 0 <= lam <= 1:
                raise ValueError(f"lam = {lam} is outside [0, 1]")
            if k < 1:
                raise ValueError(f"k = {k} is below 1")
            relevance = cosine_similarity(query[None, :], docs)[0].tolist()
            between = cosine_similarity(docs, docs).tolist()
            selected = []
            while len(selected) < min(k, len(docs)):
                best, best_score = None, -math.inf
                for d in range(len(docs)):
                    if d in selected:
                        continue
                    redundancy = max((between[d][s] for s in selected), default=0.0)
                    score = lam * relevance[d] - (1 - lam) * redundancy
                    if score > best_score:
                        best, best_score = d, score
                selected.append(best)
            return selected


        def chunk_text(text, size, overlap):
            if size < 1:
                raise ValueError(f"size = {size} < 1")
            if not 0 <= overlap < size:
                raise ValueError(f"overlap = {overlap} is not in [0, {size})")
            chunks, start = [], 0
            while start < len(text):
                chunks.append(text[start : start + size])
                if start + size >= len(text):
                    break
                start += size - overlap
            return chunks
        """,
    ),
    Variant(
        "torch inside (F.normalize clamps each norm at 1e-12, a stable argsort)",
        passes=True,
        code="""
        import torch


        def cosine_similarity(a, b):
            a_unit = torch.nn.functional.normalize(torch.as_tensor(a), dim=-1)
            b_unit = torch.nn.functional.normalize(torch.as_tensor(b), dim=-1)
            return a_unit @ b_unit.T


        def top_k(query, docs, k):
            if k < 1:
                raise ValueError(f"k must be positive, got k={k}")
            sims = cosine_similarity(query[None, :], docs)[0]
            return torch.argsort(-sims, stable=True)[:k]


        def mmr(query, docs, k, lam=0.5):
            if not 0 <= lam <= 1 or k < 1:
                raise ValueError(f"need lam in [0, 1] and k >= 1: lam={lam}, k={k}")
            relevance = cosine_similarity(query[None, :], docs)[0]
            between = cosine_similarity(docs, docs)
            chosen = torch.zeros(len(docs), dtype=torch.bool)
            order = []
            for _ in range(min(k, len(docs))):
                if order:
                    redundancy = between[:, order].max(dim=1).values
                else:
                    redundancy = torch.zeros(len(docs), dtype=relevance.dtype)
                score = lam * relevance - (1 - lam) * redundancy
                score = score.masked_fill(chosen, float("-inf"))
                best = int(torch.argmax(score))
                chosen[best] = True
                order.append(best)
            return order
        """,
    ),
    Variant(
        "float32 arithmetic, a chunk count worked out in advance",
        passes=True,
        code="""
        import math


        def cosine_similarity(a, b):
            a, b = np.asarray(a, np.float32), np.asarray(b, np.float32)
            a_norm = np.maximum(np.linalg.norm(a, axis=1, keepdims=True), np.float32(1e-30))
            b_norm = np.maximum(np.linalg.norm(b, axis=1, keepdims=True), np.float32(1e-30))
            return (a / a_norm) @ (b / b_norm).T


        def chunk_text(text, size, overlap):
            if size < 1 or not 0 <= overlap < size:
                raise ValueError(f"size={size}, overlap={overlap}: need 0 <= overlap < size")
            if not text:
                return []
            stride = size - overlap
            count = 1 + max(0, math.ceil((len(text) - size) / stride))
            return [text[i * stride : i * stride + size] for i in range(count)]
        """,
    ),
]

VARIANTS: list[Variant] = WRONG + RIGHT
