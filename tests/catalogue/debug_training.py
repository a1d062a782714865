"""Known-wrong and correct-but-different versions of solutions/debug_training.py: each planted
bug put back alone, pairs of them, fixes that hide a symptom, and fixes written differently."""

from __future__ import annotations

from catalogue import Variant

ZERO_GRAD = "        optimizer.zero_grad()\n"
LOSS = "        loss = loss_fn(model(xb), yb)\n"
SOFTMAX = "        loss = loss_fn(model(xb).softmax(dim=-1), yb)\n"
ITEM = "        total += loss.item()\n"
EVAL = "    was_training = model.training\n    model.eval()\n"
RESTORE = "    model.train(was_training)\n"
START = '    best_loss, best_state = float("inf"), copy.deepcopy(model.state_dict())\n'
CLONED = "{k: v.clone() for k, v in model.state_dict().items()}"
BEST = "            best_loss, best_state = val_loss, copy.deepcopy(model.state_dict())\n"

VARIANTS: list[Variant] = [
    # --- wrong: each planted bug put back alone -------------------------------------------------
    Variant(
        "softmax fed to CrossEntropyLoss",
        passes=False,
        replace=((LOSS, SOFTMAX),),
        message="CrossEntropyLoss was fed softmax probabilities",
    ),
    Variant(
        "no zero_grad",
        passes=False,
        replace=((ZERO_GRAD, ""),),
        message="the gradients are never zeroed",
    ),
    Variant(
        "the loss accumulated as a tensor",
        passes=False,
        replace=((ITEM, "        total += loss\n"),),
        message="the loss was accumulated as a tensor",
    ),
    Variant(
        "dropout left on in evaluation",
        passes=False,
        replace=((EVAL, "    was_training = model.training\n"),),
        message="dropout is on during evaluation",
    ),
    Variant(
        "evaluate leaves the model in train mode",
        passes=False,
        replace=((RESTORE, "    model.train()\n"),),
        message="evaluate does not restore the mode it found",
    ),
    Variant(
        "best weights kept as state_dict views",
        passes=False,
        replace=(
            (START, '    best_loss, best_state = float("inf"), model.state_dict()\n'),
            (BEST, "            best_loss, best_state = val_loss, model.state_dict()\n"),
        ),
        message="the best weights were kept by reference",
    ),
    # --- wrong: two bugs at once ---------------------------------------------------------------
    Variant(
        "no zero_grad and a softmax before the loss",
        passes=False,
        replace=((ZERO_GRAD, ""), (LOSS, SOFTMAX)),
        message="(and a softmax before the loss)",
    ),
    Variant(
        "no eval mode and no restore",
        passes=False,
        replace=((EVAL, "    was_training = model.training\n"), (RESTORE, "    model.train()\n")),
        message="dropout is on during evaluation",
    ),
    # --- wrong: a symptom hidden, not cured ----------------------------------------------------
    Variant(
        "dropout left off in training (eval mode in train_epoch)",
        passes=False,
        replace=(
            (
                "    model.train()\n    total, count = 0.0, 0\n",
                "    model.eval()\n    total, count = 0.0, 0\n",
            ),
        ),
        message="train_epoch's update is not the reference's",
    ),
    Variant(
        "gradients zeroed once per epoch",
        passes=False,
        replace=(
            (ZERO_GRAD, ""),
            (
                "    model.train()\n    total, count = 0.0, 0\n",
                "    model.train()\n    optimizer.zero_grad()\n    total, count = 0.0, 0\n",
            ),
        ),
        message="the gradients are never zeroed",
    ),
    Variant(
        "fit never restores",
        passes=False,
        replace=(("    model.load_state_dict(best_state)\n", ""),),
        message="fit ends with the last weights",
    ),
    Variant(
        "evaluate always back in train mode after eval()",
        passes=False,
        replace=((RESTORE, "    model.train(True)\n"),),
        message="evaluate does not restore the mode it found",
    ),
    # --- right: fixes written differently ------------------------------------------------------
    Variant(
        "best weights cloned tensor by tensor",
        passes=True,
        replace=(
            (
                START,
                START.replace("copy.deepcopy(model.state_dict())", CLONED),
            ),
            (
                BEST,
                BEST.replace("copy.deepcopy(model.state_dict())", CLONED),
            ),
        ),
    ),
    Variant(
        "zero_grad on the model, set_to_none",
        passes=True,
        replace=((ZERO_GRAD, "        model.zero_grad(set_to_none=True)\n"),),
    ),
    Variant(
        "evaluation under torch.inference_mode",
        passes=True,
        replace=(("    with torch.no_grad():\n", "    with torch.inference_mode():\n"),),
    ),
    Variant(
        "detached losses summed, made a float at the end",
        passes=True,
        replace=(
            (ITEM, "        total += loss.detach()\n"),
            (
                "    return total / count\n\n\ndef evaluate",
                "    return float(total / count)\n\n\ndef evaluate",
            ),
        ),
    ),
    Variant(
        "log_softmax and nll_loss instead of the loss object",
        passes=True,
        replace=(
            (
                LOSS,
                "        loss = torch.nn.functional.nll_loss(model(xb).log_softmax(dim=-1), yb)\n",
            ),
        ),
    ),
]
