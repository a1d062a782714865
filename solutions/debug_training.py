"""Debug: "validation loss increases while training loss decreases", and a loss that will not go
down (PyTorch).

This is a complete program: a small MLP with dropout, trained on a noisy synthetic data set with
early stopping on the validation loss. Run it (`python exercises/debug_training.py`, with torch
installed) and it trains badly and keeps the wrong weights. Several mistakes hide in it, each one
people really make; find and fix them all. Keep every name, signature and docstring: the grader
builds the model, data and optimizer with make_model, make_loaders and make_optimizer, calls the
functions one by one, then runs fit.

Fixed, `fit` on make_model(0) and make_loaders(0) stops early (the model overfits the small
training set) with the weights of its best epoch, whose validation loss is below VAL_THRESHOLD.

What each function must do:
- `train_epoch(model, batches, optimizer, loss_fn)`: model.train(); for each (xb, yb): zero the
  gradients, forward, loss of the logits, backward, step. Returns the mean of the batch losses as
  a Python float (no autograd graph kept alive).
- `evaluate(model, batches, loss_fn)`: in eval mode (no dropout) under torch.no_grad(): the mean
  of the batch losses and the accuracy, as Python floats. Leaves the model's parameters and its
  train/eval mode as it found them; never calls backward.
- `fit(model, train_batches, val_batches, optimizer, loss_fn, epochs, patience)`: per epoch
  train_epoch then evaluate on the validation batches; stops after `patience` epochs without a
  new best (lowest) validation loss and loads the best epoch's weights back into the model.
  Returns {"train_losses": [...], "val_losses": [...], "best_epoch": index of the best, from 0}.

References: the notes' debugging scenario "Validation loss increases while training loss
decreases"; the PyTorch tutorial "Optimizing model parameters"; torch.nn.CrossEntropyLoss's
documentation (it takes unnormalised logits).
"""

from __future__ import annotations

import copy
from typing import Any

import torch
from torch import nn
from torch.utils.data import DataLoader, TensorDataset

VAL_THRESHOLD = 0.55  # the validation loss of the restored weights of fit on make_*(0)
FEATURES = 10
BATCH = 16


def make_model(seed: int = 0) -> nn.Module:
    """An MLP in float64, 10 -> 64 -> 64 -> 2 with ReLU and dropout 0.3, its weights from
    torch.manual_seed(seed) (which also seeds the dropout masks that follow)."""
    torch.manual_seed(seed)
    return nn.Sequential(
        nn.Linear(FEATURES, 64),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(64, 64),
        nn.ReLU(),
        nn.Dropout(0.3),
        nn.Linear(64, 2),
    ).double()


def make_loaders(seed: int = 0, train_size: int = 64) -> tuple[DataLoader[Any], DataLoader[Any]]:
    """(train, validation) batches of 16 in a fixed order: x standard normal (float64), y = 1 when
    x[:, 0] + x[:, 1] > 0, with 20% of the training labels flipped; 256 validation examples."""
    generator = torch.Generator().manual_seed(seed)
    x = torch.randn(train_size + 256, FEATURES, generator=generator, dtype=torch.float64)
    y = (x[:, 0] + x[:, 1] > 0).long()
    flip = torch.rand(train_size, generator=generator) < 0.2
    y[:train_size] = torch.where(flip, 1 - y[:train_size], y[:train_size])
    train = TensorDataset(x[:train_size], y[:train_size])
    val = TensorDataset(x[train_size:], y[train_size:])
    return DataLoader(train, batch_size=BATCH), DataLoader(val, batch_size=BATCH)


def make_optimizer(model: nn.Module, lr: float = 0.1) -> torch.optim.Optimizer:
    """SGD with momentum 0.9 over the model's parameters."""
    return torch.optim.SGD(model.parameters(), lr=lr, momentum=0.9)


def make_loss() -> nn.Module:
    """Cross-entropy of logits against class indices."""
    return nn.CrossEntropyLoss()


def train_epoch(
    model: nn.Module, batches: Any, optimizer: torch.optim.Optimizer, loss_fn: nn.Module
) -> float:
    """One pass over the training batches in train mode; the mean batch loss as a float."""
    model.train()
    total, count = 0.0, 0
    for xb, yb in batches:
        optimizer.zero_grad()
        loss = loss_fn(model(xb), yb)
        loss.backward()
        optimizer.step()
        total += loss.item()
        count += 1
    return total / count


def evaluate(model: nn.Module, batches: Any, loss_fn: nn.Module) -> tuple[float, float]:
    """(mean batch loss, accuracy) in eval mode without gradients; the mode is restored."""
    was_training = model.training
    model.eval()
    total, correct, seen, count = 0.0, 0, 0, 0
    with torch.no_grad():
        for xb, yb in batches:
            logits = model(xb)
            total += loss_fn(logits, yb).item()
            correct += int((logits.argmax(dim=-1) == yb).sum())
            seen += len(yb)
            count += 1
    model.train(was_training)
    return total / count, correct / seen


def fit(
    model: nn.Module,
    train_batches: Any,
    val_batches: Any,
    optimizer: torch.optim.Optimizer,
    loss_fn: nn.Module,
    epochs: int,
    patience: int,
) -> dict[str, Any]:
    """Train with early stopping on the validation loss; the best epoch's weights are restored."""
    history: dict[str, Any] = {"train_losses": [], "val_losses": [], "best_epoch": 0}
    best_loss, best_state = float("inf"), copy.deepcopy(model.state_dict())
    for epoch in range(epochs):
        history["train_losses"].append(train_epoch(model, train_batches, optimizer, loss_fn))
        val_loss, _ = evaluate(model, val_batches, loss_fn)
        history["val_losses"].append(val_loss)
        if val_loss < best_loss:
            best_loss, best_state = val_loss, copy.deepcopy(model.state_dict())
            history["best_epoch"] = epoch
        elif epoch - history["best_epoch"] >= patience:
            break
    model.load_state_dict(best_state)
    return history


if __name__ == "__main__":
    net = make_model(0)
    train_loader, val_loader = make_loaders(0)
    result = fit(net, train_loader, val_loader, make_optimizer(net), make_loss(), 60, 5)
    restored, accuracy = evaluate(net, val_loader, make_loss())
    for number, (t, v) in enumerate(zip(result["train_losses"], result["val_losses"], strict=True)):
        print(f"epoch {number:2d}: train {t:.4f}  val {v:.4f}")
    print(
        f"best epoch {result['best_epoch']}; restored val loss {restored:.4f} (target < "
        f"{VAL_THRESHOLD}), accuracy {accuracy:.3f}"
    )
