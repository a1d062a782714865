"""Known-wrong and correct-but-different versions of `cross_entropy`."""

from __future__ import annotations

from catalogue import Variant

LOSS = "    return float(losses.mean())"
UNIFORM = "    uniform = -rows.mean(axis=-1)  # (n_kept,): -mean_c log p[c]"
GRAD = "    return np.where(kept[:, None], (probs - one_hot) / rows.size, 0.0)  # (N, C)"
PPL = "    return float(np.exp(cross_entropy(logits, targets, ignore_index=ignore_index)))"


def _loss_with(kept: str = "targets != ignore_index", log_p: str = "log_softmax(logits)") -> str:
    """cross_entropy with the kept rows or the log-probabilities computed another way."""
    return f"""
    def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
        log_p = {log_p}
        kept = {kept}
        rows = log_p[kept]
        nll = -rows[np.arange(rows.shape[0]), targets[kept]]
        e = label_smoothing
        return float(((1 - e) * nll - e * rows.mean(axis=-1)).mean())
    """


VARIANTS: list[Variant] = [
    # --- known wrong: log_softmax -------------------------------------------------------------
    Variant(
        "log of a (stable) softmax",
        passes=False,
        code="""
        def log_softmax(x, axis=-1):
            e = np.exp(x - x.max(axis=axis, keepdims=True))
            return np.log(e / e.sum(axis=axis, keepdims=True))
        """,
        message="log(softmax(x)): a probability that underflows to 0",
    ),
    Variant(
        "no max subtracted",
        passes=False,
        replace=(
            (
                "shifted = x - np.max(x, axis=axis, keepdims=True)  # the largest entry becomes 0",
                "shifted = x",
            ),
        ),
        message="np.exp overflowed",
    ),
    Variant(
        "max subtracted but not added back",
        passes=False,
        replace=(
            (
                "return shifted - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))",
                "return x - np.log(np.sum(np.exp(shifted), axis=axis, keepdims=True))",
            ),
        ),
        message="the max was subtracted inside the exp but not added back",
    ),
    Variant(
        "log_softmax always over the last axis",
        passes=False,
        code="""
        _log_softmax = log_softmax

        def log_softmax(x, axis=-1):
            return _log_softmax(x, axis=-1)
        """,
        message="log_softmax ignores its `axis` argument",
    ),
    Variant(
        "base-2 logarithms",
        passes=False,
        code="""
        _log_softmax = log_softmax

        def log_softmax(x, axis=-1):
            return _log_softmax(x, axis=axis) / np.log(2.0)
        """,
        message="a base-2 logarithm (bits)",
    ),
    Variant(
        "log_softmax in place",
        passes=False,
        code="""
        def log_softmax(x, axis=-1):
            x -= x.max(axis=axis, keepdims=True)
            x -= np.log(np.exp(x).sum(axis=axis, keepdims=True))
            return x
        """,
        message="modified its input",
    ),
    # --- known wrong: ignored rows ------------------------------------------------------------
    Variant(
        "the mean over all N rows",
        passes=False,
        replace=((LOSS, "    return float(losses.sum() / len(targets))"),),
        message="the mean over all N rows, ignored rows included",
    ),
    Variant(
        "ignore_index hard-coded as -100",
        passes=False,
        code=_loss_with(kept="targets != -100"),
        message="the ignore_index argument is not used",
    ),
    Variant(
        "negative targets taken as ignored",
        passes=False,
        code=_loss_with(kept="targets >= 0"),
        message="the ignore_index argument is not used",
    ),
    Variant(
        "ignored targets used as class ids (no masking)",
        passes=False,
        code="""
        def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
            log_p = log_softmax(logits)
            nll = -log_p[np.arange(len(targets)), targets]
            e = label_smoothing
            return float(((1 - e) * nll - e * log_p.mean(axis=-1)).mean())
        """,
        message="ignored rows were not ignored",
    ),
    # --- known wrong: label smoothing ---------------------------------------------------------
    Variant(
        "fairseq's smoothing, e / (C - 1)",
        passes=False,
        code="""
        def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
            log_p = log_softmax(logits)
            kept = targets != ignore_index
            rows, t = log_p[kept], targets[kept]
            nll = -rows[np.arange(len(t)), t]
            eps_i = label_smoothing / (logits.shape[-1] - 1)
            smooth = -rows.sum(axis=-1)
            # fairseq's label_smoothed_nll_loss
            return float(((1.0 - label_smoothing - eps_i) * nll + eps_i * smooth).mean())
        """,
        message="label smoothing over C - 1 classes",
    ),
    Variant(
        "smoothing with the sum over classes",
        passes=False,
        replace=((UNIFORM, "    uniform = -rows.sum(axis=-1)"),),
        message="e times the SUM of log p",
    ),
    Variant(
        "smoothing without the target class",
        passes=False,
        code="""
        def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
            log_p = log_softmax(logits)
            kept = targets != ignore_index
            rows, t = log_p[kept], targets[kept]
            e, c = label_smoothing, logits.shape[-1]
            q = np.full(rows.shape, e / c)
            q[np.arange(len(t)), t] = 1 - e
            return float(-(q * rows).sum(axis=-1).mean())
        """,
        message="left the target out of the uniform part",
    ),
    Variant(
        "smoothing the predicted probabilities",
        passes=False,
        code="""
        def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
            kept = targets != ignore_index
            p = np.exp(log_softmax(logits))[kept]
            picked = p[np.arange(p.shape[0]), targets[kept]]
            e = label_smoothing
            return float(-np.log((1 - e) * picked + e / logits.shape[-1]).mean())
        """,
        message="applied to the predicted probabilities",
    ),
    Variant(
        "label_smoothing ignored",
        passes=False,
        replace=((UNIFORM, "    uniform = -rows.mean(axis=-1)\n    label_smoothing = 0.0"),),
        message="label_smoothing was ignored",
    ),
    # --- known wrong: the loss itself ---------------------------------------------------------
    Variant(
        "sum instead of mean",
        passes=False,
        replace=((LOSS, "    return float(losses.sum())"),),
        message="the sum over the kept rows instead of their mean",
    ),
    Variant(
        "logits used as log-probabilities",
        passes=False,
        code=_loss_with(log_p="logits"),
        message="the logits were used as log-probabilities",
    ),
    Variant(
        "per-row losses returned",
        passes=False,
        replace=((LOSS, "    return losses"),),
        message="returned the per-row losses",
    ),
    Variant(
        "loss with the wrong sign",
        passes=False,
        replace=((LOSS, "    return -float(losses.mean())"),),
        message="a sign error: the loss is -log p[target]",
    ),
    # --- known wrong: the gradient ------------------------------------------------------------
    Variant(
        "gradient not averaged",
        passes=False,
        replace=((GRAD, "    return np.where(kept[:, None], probs - one_hot, 0.0)"),),
        message="the gradient of the SUM of the row losses",
    ),
    Variant(
        "gradient divided by N",
        passes=False,
        replace=(
            (GRAD, "    return np.where(kept[:, None], (probs - one_hot) / len(targets), 0.0)"),
        ),
        message="the gradient divided by N",
    ),
    Variant(
        "gradient of ignored rows not zeroed",
        passes=False,
        replace=((GRAD, "    return (probs - one_hot) / rows.size"),),
        message="ignored rows not zeroed",
    ),
    Variant(
        "gradient with the wrong sign",
        passes=False,
        replace=((GRAD, "    return np.where(kept[:, None], (one_hot - probs) / rows.size, 0.0)"),),
        message="a sign error: the gradient is softmax - one_hot",
    ),
    Variant(
        "gradient without the one-hot",
        passes=False,
        replace=((GRAD, "    return np.where(kept[:, None], probs / rows.size, 0.0)"),),
        message="the one-hot target was not subtracted",
    ),
    Variant(
        "gradient with ignore_index hard-coded",
        passes=False,
        code="""
        _cross_entropy_grad = cross_entropy_grad

        def cross_entropy_grad(logits, targets, ignore_index=-100):
            return _cross_entropy_grad(logits, targets)
        """,
        message="the ignore_index argument is not used",
    ),
    # --- known wrong: perplexity --------------------------------------------------------------
    Variant(
        "perplexity as a mean of exponentials",
        passes=False,
        code="""
        def perplexity(logits, targets, ignore_index=-100):
            kept = targets != ignore_index
            log_p = log_softmax(logits)[kept]
            losses = -log_p[np.arange(log_p.shape[0]), targets[kept]]
            return float(np.mean(np.exp(losses)))
        """,
        message="the mean of the per-row exponentials",
    ),
    Variant(
        "perplexity as 2 ** loss in nats",
        passes=False,
        replace=((PPL, "    return 2.0 ** cross_entropy(logits, targets, ignore_index)"),),
        message="2 ** (cross-entropy in nats)",
    ),
    Variant(
        "perplexity without the exp",
        passes=False,
        replace=((PPL, "    return cross_entropy(logits, targets, ignore_index)"),),
        message="returned the cross-entropy itself",
    ),
    Variant(
        "perplexity as exp(-loss)",
        passes=False,
        replace=((PPL, "    return float(np.exp(-cross_entropy(logits, targets, ignore_index)))"),),
        message="exp(-cross_entropy)",
    ),
    Variant(
        "perplexity over all N rows",
        passes=False,
        code="""
        def perplexity(logits, targets, ignore_index=-100):
            n_kept = np.sum(targets != ignore_index)
            loss = cross_entropy(logits, targets, ignore_index)
            return float(np.exp(loss * n_kept / len(targets)))
        """,
        message="the mean over all N rows, ignored rows included",
    ),
    # --- known wrong: found in public code (issue 26) ------------------------------------------
    Variant(
        "the ignored target -100 used as a class index (IndexError)",
        passes=False,
        code="""
        def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
            log_p = log_softmax(logits, axis=-1)
            nll = -log_p[np.arange(len(targets)), targets]
            uniform = -log_p.mean(axis=-1)
            losses = (1.0 - label_smoothing) * nll + label_smoothing * uniform
            return float(losses[targets != ignore_index].mean())
        """,
        message="ignored rows were not ignored: a target of ignore_index was used as an index",
    ),
    Variant(
        "fairseq's perplexity, rounded to 2 decimals",
        passes=False,
        replace=(
            (
                PPL,
                "    loss = cross_entropy(logits, targets, ignore_index=ignore_index)\n"
                "    return round(float(np.exp(loss)), 2)",
            ),
        ),
        message="rounded to 2 decimals",
    ),
    # --- correct but different ----------------------------------------------------------------
    Variant(
        "plain-Python loops with math",
        passes=True,
        code="""
        import math


        def log_softmax(x, axis=-1):
            moved = np.moveaxis(np.asarray(x, dtype=float), axis, -1)
            out = np.empty(moved.shape)
            for index in np.ndindex(*moved.shape[:-1]):
                row = [float(v) for v in moved[index]]
                top = max(row)
                lse = top + math.log(sum(math.exp(v - top) for v in row))
                out[index] = [v - lse for v in row]
            return np.moveaxis(out, -1, axis)


        def _row_loss(row, target, e):
            top = max(row)
            lse = top + math.log(sum(math.exp(v - top) for v in row))
            log_p = [v - lse for v in row]
            return -(1 - e) * log_p[target] - e * sum(log_p) / len(log_p)


        def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
            total, count = 0.0, 0
            for row, target in zip(logits.tolist(), targets.tolist()):
                if target != ignore_index:
                    total += _row_loss(row, target, label_smoothing)
                    count += 1
            return total / count


        def cross_entropy_grad(logits, targets, ignore_index=-100):
            count = sum(1 for t in targets.tolist() if t != ignore_index)
            grad = []
            for row, target in zip(logits.tolist(), targets.tolist()):
                if target == ignore_index:
                    grad.append([0.0] * len(row))
                    continue
                top = max(row)
                exps = [math.exp(v - top) for v in row]
                total = sum(exps)
                grad.append(
                    [(e / total - (c == target)) / count for c, e in enumerate(exps)]
                )
            return grad


        def perplexity(logits, targets, ignore_index=-100):
            return math.exp(cross_entropy(logits, targets, ignore_index))
        """,
    ),
    Variant(
        "torch inside, tensors out",
        passes=True,
        code="""
        import torch
        import torch.nn.functional as F


        def log_softmax(x, axis=-1):
            return F.log_softmax(torch.as_tensor(x), dim=axis)


        def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
            return F.cross_entropy(
                torch.as_tensor(logits),
                torch.as_tensor(targets),
                ignore_index=ignore_index,
                label_smoothing=label_smoothing,
            )


        def cross_entropy_grad(logits, targets, ignore_index=-100):
            z = torch.tensor(logits, requires_grad=True)
            F.cross_entropy(z, torch.as_tensor(targets), ignore_index=ignore_index).backward()
            return z.grad


        def perplexity(logits, targets, ignore_index=-100):
            return torch.exp(cross_entropy(logits, targets, ignore_index))
        """,
    ),
    Variant(
        "float32 arithmetic",
        passes=True,
        code="""
        _log_softmax, _cross_entropy = log_softmax, cross_entropy
        _cross_entropy_grad = cross_entropy_grad


        def log_softmax(x, axis=-1):
            return _log_softmax(np.asarray(x, dtype=np.float32), axis=axis)


        def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
            logits = np.asarray(logits, dtype=np.float32)
            return _cross_entropy(logits, targets, ignore_index, np.float32(label_smoothing))


        def cross_entropy_grad(logits, targets, ignore_index=-100):
            return _cross_entropy_grad(np.asarray(logits, dtype=np.float32), targets, ignore_index)


        def perplexity(logits, targets, ignore_index=-100):
            return np.exp(np.float32(cross_entropy(logits, targets, ignore_index)))
        """,
    ),
    Variant(
        "einsum with a target-distribution matrix",
        passes=True,
        code="""
        def _weights(targets, ignore_index, num_classes):
            kept = (targets != ignore_index).astype(float)
            one_hot = np.eye(num_classes)[np.where(targets != ignore_index, targets, 0)]
            return one_hot * kept[:, None], kept / kept.sum()


        def cross_entropy(logits, targets, ignore_index=-100, label_smoothing=0.0):
            c = logits.shape[-1]
            one_hot, row_weight = _weights(targets, ignore_index, c)
            q = (1 - label_smoothing) * one_hot + label_smoothing / c  # (N, C)
            return float(-np.einsum("n,nc,nc->", row_weight, q, log_softmax(logits)))


        def cross_entropy_grad(logits, targets, ignore_index=-100):
            one_hot, row_weight = _weights(targets, ignore_index, logits.shape[-1])
            return np.einsum("n,nc->nc", row_weight, np.exp(log_softmax(logits)) - one_hot)
        """,
    ),
    Variant(
        "logaddexp.reduce, perplexity in bits",
        passes=True,
        code="""
        def log_softmax(x, axis=-1):
            return x - np.logaddexp.reduce(x, axis=axis, keepdims=True)


        def perplexity(logits, targets, ignore_index=-100):
            bits = cross_entropy(logits, targets, ignore_index) / np.log(2.0)
            return 2.0**bits
        """,
    ),
]
