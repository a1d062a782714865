"""Grader for debug_training: a PyTorch training loop that keeps the wrong weights, fixed.

The model, data, optimizer and loss live in the worker (made by the learner's make_* functions,
kept there as object handles); their weights come back as numpy arrays through state_dict(), and
this process recomputes them with torch from the same seeds. Each planted bug has a test of its
own that fails while it is there (the test's `bugs` marker names it, and the report counts those
still failing), whatever else is still broken:
- the softmax fed to CrossEntropyLoss: one epoch over a single batch (where stale gradients cannot
  matter) against the reference;
- no zero_grad: one epoch over four batches against the reference, with or without the softmax;
- the loss accumulated as a tensor: train_epoch's result must come back a Python float;
- dropout on in evaluation: evaluate of a fresh model against the reference;
- the mode not restored: evaluate of a model in eval mode, then in train mode;
- the best weights kept by reference (state_dict() is a view): fit with early stopping must end
  with the weights a second fit, stopped at the first one's best epoch, ends with.
Then the scenario: fit on make_model(0) and make_loaders(0) as the reference does it.
Without torch in this process, every test says "not graded here: install torch" and scores 0.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from types import ModuleType
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.checks import assert_cured
from transformer_kit.grader.compare import Mismatch, describe, unpack

SOFTMAX = (
    "CrossEntropyLoss was fed softmax probabilities: it applies log_softmax itself, so a softmax "
    "before it squashes the gradients and the loss stalls; pass the logits, loss_fn(model(xb), yb)"
)
NO_ZERO_GRAD = (
    "the gradients are never zeroed: backward() adds to .grad, so each step uses the sum of every "
    "batch's gradient so far; call optimizer.zero_grad() before each backward()"
)
TENSOR_LOSS = (
    "the loss was accumulated as a tensor (total += loss): that keeps every batch's autograd graph "
    "alive, so memory grows with each batch; add loss.item() and return a float"
)
DROPOUT_ON = (
    "dropout is on during evaluation (the model was not put in eval mode), so the validation "
    "loss is noisy and too high; call model.eval() before evaluating"
)
MODE_NOT_RESTORED = (
    "evaluate does not restore the mode it found: remember was_training = model.training and end "
    "with model.train(was_training)"
)
BEST_BY_REFERENCE = (
    "the best weights were kept by reference: state_dict() returns views of the live tensors, "
    "which training keeps changing, so loading them back restores the last weights; keep "
    "copy.deepcopy(model.state_dict()) (or clone each tensor)"
)
NOT_RESTORED = "fit ends with the last weights: load the best epoch's state back after the loop"
EPOCH_WRONG = (
    "train_epoch's update is not the reference's: zero_grad, forward, loss, backward, step"
)


def torch_reference() -> ModuleType:
    """The reference solution (which imports torch), or the test is not graded here."""
    try:
        importlib.import_module("torch")
    except ImportError:
        pytest.skip("install torch (pip install torch) to grade this exercise")
    return importlib.import_module("transformer_kit.solutions.debug_training")


PLAIN = (bool, int, float, str, np.ndarray, list, tuple, dict)  # what comes back as data


def learner_setup(student: Any, seed: int, train_size: int = 64) -> tuple[Any, ...]:
    """(model, train batches, validation batches, optimizer, loss) made in the worker."""
    call = f"make_loaders({seed}, {train_size})"
    model = torch_object(student.make_model(seed), "an nn.Module", call=f"make_model({seed})")
    train, val = unpack(student.make_loaders(seed, train_size), 2, call=call)
    train, val = (torch_object(batches, "a DataLoader", call=call) for batches in (train, val))
    optimizer = torch_object(student.make_optimizer(model), "an optimizer", call="make_optimizer")
    return model, train, val, optimizer, torch_object(student.make_loss(), "a loss", "make_loss")


def torch_object(value: Any, what: str, call: str) -> Any:
    """`value` when it is an object living with the learner's code (not plain data)."""
    if value is None or isinstance(value, PLAIN):
        raise Mismatch(
            f"{call} should return {what}",
            call=call,
            expected=what,
            got=describe(value),
            diagnosis="keep the make_* functions as they are",
        )
    return value


def weights(model: Any, *, call: str) -> dict[str, np.ndarray]:
    """The model's state_dict as numpy arrays."""
    state = model.state_dict()
    if not isinstance(state, dict):
        raise Mismatch("state_dict() is not a dict of tensors", call=call, got=describe(state))
    return {name: np.asarray(value, dtype=np.float64) for name, value in state.items()}


def reference_state(model: Any) -> dict[str, np.ndarray]:
    return {name: value.detach().numpy().copy() for name, value in model.state_dict().items()}


def reference_epoch(
    seed: int, train_size: int, *, zero_grad: bool = True, softmax: bool = False
) -> dict[str, np.ndarray]:
    """The weights after one epoch of a fresh reference model, made with or without two of the
    planted bugs."""
    reference = torch_reference()
    model = reference.make_model(seed)
    train, _ = reference.make_loaders(seed, train_size)
    optimizer, loss_fn = reference.make_optimizer(model), reference.make_loss()
    model.train()
    for xb, yb in train:
        if zero_grad:
            optimizer.zero_grad()
        logits = model(xb)
        loss_fn(logits.softmax(dim=-1) if softmax else logits, yb).backward()
        optimizer.step()
    return reference_state(model)


def same(got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray]) -> bool:
    return list(got) == list(want) and all(
        got[k].shape == want[k].shape and np.allclose(got[k], want[k], rtol=1e-6, atol=1e-9)
        for k in want
    )


def assert_weights(
    got: Mapping[str, np.ndarray], want: Mapping[str, np.ndarray], *, call: str, symptom: str,
    mistakes: Mapping[str, Mapping[str, np.ndarray]], otherwise: str = "",
) -> None:  # fmt: skip
    """The state dicts agree, or the failure names the variant `got` matches."""
    if same(got, want):
        return
    if list(got) != list(want):
        raise Mismatch(f"{symptom}: the model's parameters are not the reference's", call=call,
                       expected=f"state_dict keys {list(want)}", got=f"keys {list(got)}",
                       diagnosis="keep make_model as it is")  # fmt: skip
    named = [text for text, variant in mistakes.items() if same(got, variant)]
    for name in want:
        assert_cured(got[name], want[name], call=call, what=f"parameter {name!r}",
                     symptom=symptom, otherwise=named[0] if named else otherwise)  # fmt: skip


# --- train_epoch ---------------------------------------------------------------------------------


@pytest.mark.bugs("train_epoch: softmax fed to CrossEntropyLoss")
def test_one_batch_step(student: Any) -> None:
    """train_epoch's step on a single batch is the reference's"""
    torch_reference()
    model, train, _, optimizer, loss_fn = learner_setup(student, 1, train_size=16)
    call = "train_epoch(make_model(1), one batch of make_loaders(1, 16), SGD, CE)"
    student.train_epoch(model, train, optimizer, loss_fn)
    assert_weights(weights(model, call=call), reference_epoch(1, 16), call=call,
                   symptom="the training loss will not go down",
                   mistakes={SOFTMAX: reference_epoch(1, 16, softmax=True)},
                   otherwise=EPOCH_WRONG)  # fmt: skip


@pytest.mark.bugs("train_epoch: no zero_grad")
def test_gradients_are_zeroed(student: Any) -> None:
    """train_epoch zeroes the gradients before each backward"""
    torch_reference()
    model, train, _, optimizer, loss_fn = learner_setup(student, 2)
    call = "train_epoch(make_model(2), 4 batches of make_loaders(2), SGD, CE)"
    student.train_epoch(model, train, optimizer, loss_fn)
    got = weights(model, call=call)
    if same(got, reference_epoch(2, 64, softmax=True)):
        return  # the softmax is another test's bug; the gradients were zeroed
    assert_weights(got, reference_epoch(2, 64), call=call,
                   symptom="the steps grow from batch to batch",
                   mistakes={NO_ZERO_GRAD: reference_epoch(2, 64, zero_grad=False),
                             f"{NO_ZERO_GRAD} (and a softmax before the loss)":
                             reference_epoch(2, 64, zero_grad=False, softmax=True)},
                   otherwise=EPOCH_WRONG)  # fmt: skip


@pytest.mark.bugs("train_epoch: loss accumulated as a tensor")
def test_epoch_loss_is_a_float(student: Any) -> None:
    """train_epoch returns its mean loss as a Python float"""
    torch_reference()
    model, train, _, optimizer, loss_fn = learner_setup(student, 3)
    call = "train_epoch(make_model(3), make_loaders(3)[0], SGD, CE)"
    got = student.train_epoch(model, train, optimizer, loss_fn)
    if not isinstance(got, float) or not np.isfinite(got):
        tensor = isinstance(got, np.ndarray) and got.shape == ()
        raise Mismatch("memory grows with every batch: the epoch's loss is not a float",
                       call=call, expected="a Python float (the mean batch loss)",
                       got=f"a tensor, {describe(got)}" if tensor else describe(got),
                       diagnosis=TENSOR_LOSS if tensor else "")  # fmt: skip


# --- evaluate -----------------------------------------------------------------------------------


@pytest.mark.bugs("evaluate: dropout left on")
def test_evaluation_has_no_dropout(student: Any) -> None:
    """evaluate's loss and accuracy are the reference's (no dropout)"""
    reference = torch_reference()
    model, _, val, _, loss_fn = learner_setup(student, 4)
    call = "evaluate(make_model(4), make_loaders(4)[1], CE)"
    loss, accuracy = unpack(student.evaluate(model, val, loss_fn), 2, call=call)
    fresh = reference.make_model(4)
    want = reference.evaluate(fresh, reference.make_loaders(4)[1], reference.make_loss())
    symptom = "the validation loss is noisy and too high"
    assert_cured(loss, want[0], call=call, what="loss", symptom=symptom, otherwise=DROPOUT_ON)
    assert_cured(accuracy, want[1], call=call, what="accuracy", symptom=symptom,
                 otherwise=DROPOUT_ON)  # fmt: skip


@pytest.mark.bugs("evaluate: mode not restored")
def test_evaluation_changes_nothing(student: Any) -> None:
    """evaluate leaves the model's weights and its train/eval mode as it found them"""
    torch_reference()
    model, _, val, _, loss_fn = learner_setup(student, 5)
    before = weights(model, call="make_model(5).state_dict()")
    for mode in (False, True):
        model.train(mode)
        call = f"evaluate(make_model(5) in {'train' if mode else 'eval'} mode, ..., CE)"
        student.evaluate(model, val, loss_fn)
        if model.training is not mode:
            raise Mismatch("training goes on without dropout, or evaluation with it",
                           call=call, expected=f"model.training == {mode} afterwards",
                           got=f"model.training == {model.training}",
                           diagnosis=MODE_NOT_RESTORED)  # fmt: skip
        if not same(weights(model, call=call), before):
            raise Mismatch(
                "evaluation changed the weights",
                call=call,
                diagnosis="evaluate must not train: no backward, no optimizer step",
            )


# --- fit ------------------------------------------------------------------------------------------


@pytest.mark.bugs("fit: best weights kept by reference")
def test_fit_restores_its_best_epoch(student: Any) -> None:
    """fit ends with the weights of its best epoch"""
    torch_reference()
    model, train, val, optimizer, loss_fn = learner_setup(student, 6)
    call = "fit(make_model(6), *make_loaders(6), SGD, CE, epochs=30, patience=3)"
    history = student.fit(model, train, val, optimizer, loss_fn, 30, 3)
    best, count = _best_epoch(history, call)
    stopped = weights(model, call=call)
    again, train, val, optimizer, loss_fn = learner_setup(student, 6)
    student.fit(again, train, val, optimizer, loss_fn, best + 1, 30)
    call_again = f"fit(make_model(6), ..., epochs={best + 1}, patience=30)"
    if best < count - 1 and not same(stopped, weights(again, call=call_again)):
        raise Mismatch(
            "validation loss rose, and fit kept the weights of its last epoch",
            call=f"{call}, then {call_again}",
            expected=f"the weights after epoch {best} (its best), as the second fit ends",
            got=f"other weights, after {count} epochs",
            diagnosis=BEST_BY_REFERENCE,
        )


def _best_epoch(history: Any, call: str) -> tuple[int, int]:
    """(best_epoch, number of epochs run) from fit's history, checked for consistency."""
    keys = {"train_losses", "val_losses", "best_epoch"}
    if not isinstance(history, dict) or set(history) != keys:
        raise Mismatch("fit should return a dict", call=call, expected=f"keys {sorted(keys)}",
                       got=describe(history))  # fmt: skip
    val = np.asarray(history["val_losses"], dtype=np.float64)
    best = history["best_epoch"]
    if val.ndim != 1 or not val.size or best != int(np.argmin(val)):
        raise Mismatch("best_epoch is not the epoch of the lowest validation loss", call=call,
                       expected=f"best_epoch == argmin(val_losses) of {describe(val)}",
                       got=describe(best))  # fmt: skip
    return int(best), int(val.size)


@pytest.mark.weight(3)
def test_scenario(student: Any) -> None:
    """the scenario: fit stops early and keeps the weights of its best epoch"""
    reference = torch_reference()
    model, train, val, optimizer, loss_fn = learner_setup(student, 0)
    call = "fit(make_model(0), *make_loaders(0), SGD, CE, epochs=60, patience=5)"
    history = student.fit(model, train, val, optimizer, loss_fn, 60, 5)
    best, _ = _best_epoch(history, call)
    want_model = reference.make_model(0)
    want_train, want_val = reference.make_loaders(0)
    want = reference.fit(want_model, want_train, want_val, reference.make_optimizer(want_model),
                         reference.make_loss(), 60, 5)  # fmt: skip
    assert_cured(history["val_losses"], want["val_losses"], call=call, what="validation losses",
                 symptom="validation loss increases while training loss decreases")  # fmt: skip
    assert_weights(weights(model, call=call), reference_state(want_model), call=call,
                   symptom=f"fit did not keep the weights of its best epoch ({best})",
                   mistakes={}, otherwise=NOT_RESTORED)  # fmt: skip
