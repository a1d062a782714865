"""solutions/debug_training.py against a training loop written here from torch's parts (manual
zero_grad, forward, loss, backward and step; early stopping by hand), the broken program keeping
the wrong weights, its untouched stub scoring 0 with every planted bug remaining, each bug alone
counted as one, and a grading process without torch saying so."""

from __future__ import annotations

import copy
import importlib.util
import json
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest
import torch
from catalogue.debug_training import VARIANTS
from support import EXERCISES, REPO

from transformer_kit import check as grading
from transformer_kit.graders.fixtures import debug_training as fixtures
from transformer_kit.solutions import debug_training as solution

PLANTED = 6  # the bugs planted in exercises/debug_training.py
ALONE = VARIANTS[:PLANTED]  # the catalogue opens with each bug put back alone
(EXERCISE,) = [e for e in EXERCISES if e.name == "debug_training"]


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("debug_training_stub", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def val_loss(model: torch.nn.Module, seed: int) -> float:
    """Mean batch cross-entropy over the validation batches, dropout off."""
    model.eval()
    with torch.no_grad():
        losses = [
            torch.nn.functional.cross_entropy(model(xb), yb).item()
            for xb, yb in solution.make_loaders(seed)[1]
        ]
    return sum(losses) / len(losses)


def manual_fit(seed: int, epochs: int, patience: int) -> tuple[list[float], int, torch.nn.Module]:
    """Early stopping by hand: (validation losses, best epoch, the model with the best weights)."""
    model = solution.make_model(seed)
    train = solution.make_loaders(seed)[0]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
    history: list[float] = []
    snapshots = []
    for _ in range(epochs):
        model.train()
        for xb, yb in train:
            for p in model.parameters():
                p.grad = None
            torch.nn.functional.cross_entropy(model(xb), yb).backward()
            optimizer.step()
        history.append(val_loss(model, seed))
        snapshots.append(copy.deepcopy(model.state_dict()))
        best = min(range(len(history)), key=history.__getitem__)
        if len(history) - 1 - best >= patience:
            break
    model.load_state_dict(snapshots[best])
    return history, best, model


def test_the_hand_fixture_is_torchs_cross_entropy() -> None:
    logits, targets = torch.tensor(fixtures.LOGITS), torch.tensor(fixtures.TARGETS)
    loss_fn = solution.make_loss()
    assert loss_fn(logits, targets).item() == pytest.approx(fixtures.LOSS_OF_LOGITS, abs=1e-6)
    squashed = loss_fn(logits.softmax(dim=-1), targets).item()
    assert squashed == pytest.approx(fixtures.LOSS_OF_PROBABILITIES, abs=1e-6)
    certain = torch.tensor([[1.0, 0.0]])  # the most confident probabilities there are
    floor = loss_fn(certain, targets).item()
    assert floor == pytest.approx(fixtures.FLOOR_OF_PROBABILITIES, abs=1e-6)


def test_fit_matches_early_stopping_by_hand() -> None:
    model = solution.make_model(0)
    train, val = solution.make_loaders(0)
    loss_fn = solution.make_loss()
    history = solution.fit(model, train, val, solution.make_optimizer(model), loss_fn, 60, 5)
    want, best, want_model = manual_fit(0, 60, 5)
    assert history["val_losses"] == pytest.approx(want, rel=1e-9)
    assert history["best_epoch"] == best < len(want) - 1  # it stopped early, after its best
    assert history["train_losses"][-1] < history["train_losses"][0]
    assert history["val_losses"][-1] > history["val_losses"][best]  # the scenario's symptom
    for name, value in want_model.state_dict().items():
        torch.testing.assert_close(model.state_dict()[name], value, rtol=1e-9, atol=1e-12)
    assert val_loss(model, 0) < solution.VAL_THRESHOLD


def test_evaluate_is_deterministic_and_restores_the_mode() -> None:
    model = solution.make_model(1)
    val = solution.make_loaders(1)[1]
    model.eval()
    first = solution.evaluate(model, val, solution.make_loss())
    model.train()
    second = solution.evaluate(model, val, solution.make_loss())
    assert first == second and model.training
    assert first[0] == pytest.approx(val_loss(model, 1), rel=1e-12)


def test_the_broken_program_keeps_worse_weights() -> None:
    broken = load(REPO / "exercises" / "debug_training.py")
    model = broken.make_model(0)
    train, val = broken.make_loaders(0)
    optimizer = broken.make_optimizer(model)
    broken.fit(model, train, val, optimizer, broken.make_loss(), 60, 5)
    assert val_loss(model, 0) > solution.VAL_THRESHOLD


def test_the_untouched_stub_scores_0_with_every_bug_remaining(make_workspace) -> None:
    stub = (REPO / "exercises" / "debug_training.py").read_text(encoding="utf-8")
    (result,) = grading.check(make_workspace({"debug_training": stub}), [EXERCISE]).exercises
    assert result.score == 0 and not any(t.passed for t in result.tests)
    assert result.planted_bugs == (PLANTED, PLANTED)


@pytest.mark.parametrize("variant", ALONE, ids=[v.name for v in ALONE])
def test_one_bug_put_back_is_counted_as_one(variant, make_workspace) -> None:
    """Each planted bug fails only tests that declare it: the count is exact bug by bug."""
    source = variant.source((REPO / "solutions" / "debug_training.py").read_text("utf-8"))
    (result,) = grading.check(make_workspace({"debug_training": source}), [EXERCISE]).exercises
    assert result.planted_bugs == (1, PLANTED)


BLOCK_TORCH = """
import importlib.abc, json, sys
from pathlib import Path

class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError(f"No module named {name!r}")
        return None

sys.meta_path.insert(0, NoTorch())
from transformer_kit import catalog, check
(exercise,) = [e for e in catalog.load() if e.name == "debug_training"]
(result,) = check.check(Path(sys.argv[1]), [exercise]).exercises
print(json.dumps(result.to_json()))
"""


def test_a_grading_process_without_torch_says_so(make_workspace) -> None:
    """Where this process cannot import torch, every test is not graded here and scores 0."""
    source = (REPO / "solutions" / "debug_training.py").read_text(encoding="utf-8")
    root = make_workspace({"debug_training": source})
    done = subprocess.run(
        [sys.executable, "-c", BLOCK_TORCH, str(root)], capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["score"] == 0
    assert all(
        t["summary"].startswith("not graded here: install torch") for t in result["tests"]
    ), result["tests"]
