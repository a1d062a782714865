"""Known-wrong and correct-but-different versions of solutions/beam_search.py."""

from __future__ import annotations

from catalogue import Variant

BUDGET = "budget = beam_width - len(finished)"
FINAL_SORT = "return sorted(normalized, key=lambda hyp: hyp[1], reverse=True)[:beam_width]"
GREEDY_STOP = "        tokens.append(next_id)\n        if next_id == eos_id:\n            break\n"
KEEP = "finished += [hyp for hyp in kept if hyp[0][-1] == eos_id]\n"
SEARCH_STEP = """        budget = beam_width - len(finished)
        kept = sorted(expansions, key=lambda hyp: hyp[1], reverse=True)[:budget]
        finished += [hyp for hyp in kept if hyp[0][-1] == eos_id]
        live = [hyp for hyp in kept if hyp[0][-1] != eos_id]
"""
# whisper's BeamSearchDecoder.update: finished ones set aside, the beam refilled to beam_width
WHISPER_STEP = """        live = []
        for tokens, score in sorted(expansions, key=lambda hyp: hyp[1], reverse=True):
            if tokens[-1] == eos_id:
                finished.append((tokens, score))
            else:
                live.append((tokens, score))
            if len(live) == beam_width:
                break
"""
# HF's and fairseq's: of the 2 * beam_width best, an eos among the first beam_width finishes
HF_STEP = """        live = []
        ranked = sorted(expansions, key=lambda hyp: hyp[1], reverse=True)[: 2 * beam_width]
        for rank, (tokens, score) in enumerate(ranked):
            if tokens[-1] != eos_id:
                live.append((tokens, score))
            elif rank < beam_width:
                finished.append((tokens, score))
            if len(live) == beam_width:
                break
"""
NORMALIZE = "return float(score / generated_length**length_penalty)"
GNMT = "return float(score / ((5 + generated_length) / 6) ** length_penalty)"
WHISPER_NORMALIZE = (
    "penalty = generated_length if length_penalty == 0 else "
    "((5 + generated_length) / 6) ** length_penalty\n    return float(score / penalty)"
)
KEEP_LIVE = "        live = [hyp for hyp in kept if hyp[0][-1] != eos_id]\n"

WRONG = [
    # ---- greedy_decode
    Variant(
        "greedy returns without bos",
        passes=False,
        replace=(("    return tokens\n", "    return tokens[1:]\n"),),
        message="the result must start with bos_id",
    ),
    Variant(
        "greedy calls the model without bos",
        passes=False,
        code="""
        def greedy_decode(log_prob_fn, bos_id, eos_id, max_len):
            generated = []
            for _ in range(max_len):
                next_id = int(np.argmax(log_prob_fn(list(generated))))
                generated.append(next_id)
                if next_id == eos_id:
                    break
            return [bos_id, *generated]
        """,
        message="does not start with bos_id",
    ),
    Variant(
        "greedy does not stop at eos",
        passes=False,
        replace=((GREEDY_STOP, "        tokens.append(next_id)\n"),),
        message="greedy did not stop at eos_id",
    ),
    Variant(
        "greedy stops at eos but leaves it out",
        passes=False,
        replace=(
            (
                GREEDY_STOP,
                "        if next_id == eos_id:\n"
                "            break\n"
                "        tokens.append(next_id)\n",
            ),
        ),
        message="eos_id was left out",
    ),
    Variant(
        "greedy picks the highest id on a tie",
        passes=False,
        replace=(
            (
                "next_id = int(np.argmax(log_probs))",
                "next_id = len(log_probs) - 1 - int(np.argmax(log_probs[::-1]))",
            ),
        ),
        message="on a tie greedy must pick the lowest token id",
    ),
    Variant(
        "greedy generates max_len - 1 tokens",
        passes=False,
        replace=(("    for _ in range(max_len):\n", "    for _ in range(max_len - 1):\n"),),
        message="one token too few",
    ),
    Variant(
        "greedy generates max_len + 1 tokens",
        passes=False,
        replace=(("    for _ in range(max_len):\n", "    for _ in range(max_len + 1):\n"),),
        message="one token too many",
    ),
    # ---- beam_search: the search
    Variant(
        "beam budget not reduced by finished hypotheses",
        passes=False,
        replace=((BUDGET, "budget = beam_width"),),
        message="finished hypotheses did not shrink the beam",
    ),
    Variant(
        "beam budget not reduced, result not cut to beam_width",
        passes=False,
        replace=(
            (BUDGET, "budget = beam_width"),
            (FINAL_SORT, "return sorted(normalized, key=lambda hyp: hyp[1], reverse=True)"),
        ),
        message="finished hypotheses did not shrink the beam",
    ),
    Variant(
        "whisper's beam: kept full, finished hypotheses set aside and replaced",
        passes=False,
        replace=((SEARCH_STEP, WHISPER_STEP),),
        message="the beam was kept full",
    ),
    Variant(
        "HF's and fairseq's beam: kept full, an eos among the first beam_width finishes",
        passes=False,
        replace=((SEARCH_STEP, HF_STEP),),
        message="the beam was kept full",
    ),
    Variant(
        "HF's beam with its length counting the decoder start token (two mistakes at once)",
        passes=False,
        replace=(
            (SEARCH_STEP, HF_STEP),
            ("generated_length = len(tokens) - 1", "generated_length = len(tokens)"),
        ),
        message="two mistakes at once: the beam was kept full",
    ),
    Variant(
        "whisper's search and scores: a full beam, GNMT's penalty, normalised at 0 too",
        passes=False,
        replace=((SEARCH_STEP, WHISPER_STEP), (NORMALIZE, WHISPER_NORMALIZE)),
        message="two mistakes at once: the beam was kept full",
    ),
    Variant(
        "top-k of each hypothesis, no pruning over all expansions",
        passes=False,
        code="""
        def beam_search(log_prob_fn, bos_id, eos_id, beam_width, max_len, length_penalty=0.0):
            live, finished = [([bos_id], 0.0)], []
            for _ in range(max_len):
                if not live or len(finished) >= beam_width:
                    break
                budget = beam_width - len(finished)
                kept = []
                for hyp in live:
                    own = _expand(log_prob_fn, [hyp])
                    kept += sorted(own, key=lambda h: h[1], reverse=True)[:budget]
                finished += [h for h in kept if h[0][-1] == eos_id]
                live = [h for h in kept if h[0][-1] != eos_id]
            finished += live
            normalized = [(t, _normalize(s, t, length_penalty)) for t, s in finished]
            return sorted(normalized, key=lambda h: h[1], reverse=True)[:beam_width]
        """,
        message="kept the best expansions of each hypothesis separately",
    ),
    Variant(
        "beam_width parallel greedy searches",
        passes=False,
        code="""
        def beam_search(log_prob_fn, bos_id, eos_id, beam_width, max_len, length_penalty=0.0):
            first = sorted(_expand(log_prob_fn, [([bos_id], 0.0)]), key=lambda h: -h[1])
            kept = first[:beam_width] if max_len > 0 else [([bos_id], 0.0)]
            finished = [h for h in kept if h[0][-1] == eos_id and len(h[0]) > 1]
            live = [h for h in kept if h not in finished]
            for _ in range(max_len - 1):
                if not live:
                    break
                kept = [max(_expand(log_prob_fn, [h]), key=lambda h: h[1]) for h in live]
                finished += [h for h in kept if h[0][-1] == eos_id]
                live = [h for h in kept if h[0][-1] != eos_id]
            finished += live
            normalized = [(t, _normalize(s, t, length_penalty)) for t, s in finished]
            return sorted(normalized, key=lambda h: h[1], reverse=True)[:beam_width]
        """,
        message="extended by its own best token only",
    ),
    Variant(
        "hypotheses ending in eos are expanded further",
        passes=False,
        replace=((KEEP + KEEP_LIVE, "live = kept\n"),),
        message="expanded further",
    ),
    Variant(
        "live hypotheses dropped at the end",
        passes=False,
        replace=(("    finished += live\n", ""),),
        message="still live when the search stops were dropped",
    ),
    Variant(
        "beam search runs max_len + 1 steps",
        passes=False,
        replace=(("generated < max_len", "generated <= max_len"),),
        message="one step too many",
    ),
    Variant(
        "beam search runs max_len - 1 steps",
        passes=False,
        replace=(("generated < max_len", "generated < max_len - 1"),),
        message="one step too few",
    ),
    Variant(
        "scores are products of probabilities",
        passes=False,
        replace=(
            ("= [([bos_id], 0.0)]", "= [([bos_id], 1.0)]"),
            ("score + log_prob))", "score * float(np.exp(log_prob))))"),
        ),
        message="the scores are products of probabilities",
    ),
    # ---- beam_search: normalization and order
    Variant(
        "length penalty not applied",
        passes=False,
        replace=(
            ("return float(score / generated_length**length_penalty)", "return float(score)"),
        ),
        message="the length penalty is not applied",
    ),
    Variant(
        "GNMT's length penalty ((5 + L) / 6) ** alpha",
        passes=False,
        replace=((NORMALIZE, GNMT),),
        message="a GNMT length penalty",
    ),
    Variant(
        "score normalised by the length even at length_penalty 0 (whisper's default)",
        passes=False,
        replace=(
            (
                NORMALIZE,
                "return float(score / generated_length ** (length_penalty or 1))",
            ),
        ),
        message="normalised by the length although length_penalty=0",
    ),
    Variant(
        "length penalty counts bos",
        passes=False,
        replace=(("generated_length = len(tokens) - 1", "generated_length = len(tokens)"),),
        message="generated_length counted bos_id",
    ),
    Variant(
        "length penalty leaves out eos",
        passes=False,
        replace=(
            (
                "_normalize(score, tokens, length_penalty)",
                "_normalize(\n"
                "            score,\n"
                "            tokens[:-1] if tokens[-1] == eos_id else tokens,\n"
                "            length_penalty,\n"
                "        )",
            ),
        ),
        message="a generated_length of 0",
    ),
    Variant(
        "length penalty leaves out eos, numpy division",
        passes=False,
        replace=(
            (
                "return float(score / generated_length**length_penalty)",
                "length = generated_length - (tokens[-1] == EOS[0])\n"
                '    with np.errstate(divide="ignore"):\n'
                "        return float(np.float64(score) / np.float64(length) ** length_penalty)",
            ),
            ("    live: list", "    EOS[0] = eos_id\n    live: list"),
        ),
        code="EOS = [None]",
        message="generated_length left out eos_id",
    ),
    Variant(
        "finished sorted by raw score",
        passes=False,
        replace=(
            (
                "    finished += live\n",
                "    finished += live\n    finished.sort(key=lambda hyp: -hyp[1])\n",
            ),
            (FINAL_SORT, "return normalized[:beam_width]"),
        ),
        message="sorted by the raw score",
    ),
    Variant(
        "finished not sorted",
        passes=False,
        replace=((FINAL_SORT, "return normalized[:beam_width]"),),
        message="not sorted",
    ),
]

RIGHT = [
    Variant(
        "sorted with a negative-score key",
        passes=True,
        replace=(
            (
                "sorted(expansions, key=lambda hyp: hyp[1], reverse=True)[:budget]",
                "sorted(expansions, key=lambda hyp: -hyp[1])[:budget]",
            ),
            (FINAL_SORT, "return sorted(normalized, key=lambda hyp: -hyp[1])[:beam_width]"),
        ),
    ),
    Variant(
        "heapq.nlargest and a dict of tuples",
        passes=True,
        code="""
        import heapq

        def beam_search(log_prob_fn, bos_id, eos_id, beam_width, max_len, length_penalty=0.0):
            live = {(bos_id,): 0.0}
            finished = {}
            for _ in range(max_len):
                if not live or len(finished) >= beam_width:
                    break
                expansions = (
                    (score + float(lp), (*prefix, token))
                    for prefix, score in live.items()
                    for token, lp in enumerate(log_prob_fn(list(prefix)))
                )
                best = heapq.nlargest(beam_width - len(finished), expansions)
                live = {}
                for score, tokens in best:
                    (finished if tokens[-1] == eos_id else live)[tokens] = score
            finished.update(live)
            scored = [
                (list(t), s / (len(t) - 1) ** length_penalty) for t, s in finished.items()
            ]
            return heapq.nlargest(beam_width, scored, key=lambda h: h[1])
        """,
    ),
    Variant(
        "numpy argsort over the flattened (beam, vocab) matrix",
        passes=True,
        code="""
        def beam_search(log_prob_fn, bos_id, eos_id, beam_width, max_len, length_penalty=0.0):
            beams = np.array([[bos_id]])  # (n, t)
            scores = np.zeros(1)  # (n,)
            done_tokens, done_scores = [], []
            for _ in range(max_len):
                if len(beams) == 0 or len(done_tokens) >= beam_width:
                    break
                table = np.stack([log_prob_fn(b.tolist()) for b in beams])  # (n, V)
                total = scores[:, None] + table  # (n, V)
                budget = beam_width - len(done_tokens)
                flat = np.argsort(-total, axis=None, kind="stable")[:budget]
                rows, cols = np.unravel_index(flat, total.shape)
                beams = np.concatenate([beams[rows], cols[:, None]], axis=1)  # (k, t + 1)
                scores = total[rows, cols]  # (k,)
                ended = cols == eos_id
                done_tokens += list(beams[ended])
                done_scores += list(scores[ended])
                beams, scores = beams[~ended], scores[~ended]
            done_tokens += list(beams)
            done_scores += list(scores)
            lengths = np.array([len(t) - 1 for t in done_tokens], dtype=np.float64)
            normalized = np.array(done_scores, dtype=np.float64) / lengths**length_penalty
            order = np.argsort(-normalized, kind="stable")[:beam_width]
            return [(done_tokens[i].tolist(), float(normalized[i])) for i in order]
        """,
    ),
    Variant(
        "torch topk inside",
        passes=True,
        code="""
        import torch

        def beam_search(log_prob_fn, bos_id, eos_id, beam_width, max_len, length_penalty=0.0):
            live = [[bos_id]]
            scores = torch.zeros(1, dtype=torch.float64)
            finished = []
            for _ in range(max_len):
                if not live or len(finished) >= beam_width:
                    break
                table = torch.stack(
                    [torch.as_tensor(np.asarray(log_prob_fn(list(h)))) for h in live]
                )  # (n, V)
                total = (scores[:, None] + table).flatten()  # (n * V,)
                k = min(beam_width - len(finished), total.numel())
                top = torch.topk(total, k)
                vocab = table.shape[1]
                new_live, new_scores = [], []
                for value, index in zip(top.values.tolist(), top.indices.tolist()):
                    hyp = [*live[index // vocab], index % vocab]
                    if hyp[-1] == eos_id:
                        finished.append((hyp, value))
                    else:
                        new_live.append(hyp)
                        new_scores.append(value)
                live, scores = new_live, torch.tensor(new_scores, dtype=torch.float64)
            finished += list(zip(live, scores.tolist()))
            out = [(h, s / (len(h) - 1) ** length_penalty) for h, s in finished]
            out.sort(key=lambda h: h[1], reverse=True)
            return out[:beam_width]
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        replace=(
            (
                "log_probs = np.asarray(log_prob_fn(list(tokens)), dtype=np.float64)  # (vocab,)\n"
                "        for token",
                "log_probs = np.asarray(log_prob_fn(list(tokens)), dtype=np.float32)  # (vocab,)\n"
                "        for token",
            ),
            ("score + log_prob))", "np.float32(score) + np.float32(log_prob)))"),
        ),
    ),
    Variant(
        "top budget of each hypothesis, then top budget of all",
        passes=True,
        replace=(
            (
                "kept = sorted(expansions, key=lambda hyp: hyp[1], reverse=True)[:budget]",
                "kept = []\n"
                "        for parent in live:\n"
                "            own = [h for h in expansions if h[0][:-1] == parent[0]]\n"
                "            kept += sorted(own, key=lambda hyp: hyp[1], reverse=True)[:budget]\n"
                "        kept = sorted(kept, key=lambda hyp: hyp[1], reverse=True)[:budget]",
            ),
        ),
    ),
    Variant(
        "normalizes during the selection too (one length per step)",
        passes=True,
        replace=(
            (
                "kept = sorted(expansions, key=lambda hyp: hyp[1], reverse=True)[:budget]",
                "kept = sorted(\n"
                "            expansions,\n"
                "            key=lambda hyp: _normalize(hyp[1], hyp[0], length_penalty),\n"
                "            reverse=True,\n"
                "        )[:budget]",
            ),
        ),
    ),
    Variant(
        "greedy with max(range) and recursion",
        passes=True,
        code="""
        def greedy_decode(log_prob_fn, bos_id, eos_id, max_len):
            def step(tokens, left):
                if left == 0 or (len(tokens) > 1 and tokens[-1] == eos_id):
                    return tokens
                log_probs = list(log_prob_fn(list(tokens)))
                best = max(range(len(log_probs)), key=lambda i: log_probs[i])
                return step([*tokens, best], left - 1)

            return step([bos_id], max_len)
        """,
    ),
    Variant(
        "greedy with torch.argmax, numpy results",
        passes=True,
        code="""
        import torch

        _beam = beam_search

        def greedy_decode(log_prob_fn, bos_id, eos_id, max_len):
            tokens = np.array([bos_id])
            while len(tokens) - 1 < max_len and (len(tokens) == 1 or tokens[-1] != eos_id):
                log_probs = torch.as_tensor(np.asarray(log_prob_fn(tokens.tolist())))
                tokens = np.append(tokens, int(torch.argmax(log_probs)))
            return tokens

        def beam_search(log_prob_fn, bos_id, eos_id, beam_width, max_len, length_penalty=0.0):
            found = _beam(log_prob_fn, bos_id, eos_id, beam_width, max_len, length_penalty)
            return [(np.array(t), np.float64(s)) for t, s in found]
        """,
    ),
]

VARIANTS: list[Variant] = WRONG + RIGHT
