"""solutions/debug_nan.py against torch (cross_entropy, autograd, clip_grad_norm_, a torch training
loop), the hand fixtures, and the broken program: it prints nan, and its untouched stub scores 0
with every planted bug reported as remaining."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from catalogue.debug_nan import VARIANTS
from rich.console import Console
from support import EXERCISES, REPO

from transformer_kit import check as grading
from transformer_kit.cli.render import check_report
from transformer_kit.graders.fixtures import debug_nan as fixtures
from transformer_kit.results import CheckResult
from transformer_kit.solutions import debug_nan as solution

PLANTED = 6  # the bugs planted in exercises/debug_nan.py
ALONE = VARIANTS[:PLANTED]  # the catalogue opens with each bug put back alone
(EXERCISE,) = [e for e in EXERCISES if e.name == "debug_nan"]


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"debug_nan_{path.parent.name}", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_loss(params: dict[str, torch.Tensor], x: np.ndarray, y: np.ndarray) -> torch.Tensor:
    """The mean cross-entropy of the two-layer network, in torch."""
    h = torch.relu(torch.tensor(x) @ params["w1"] + params["b1"])
    logits = h @ params["w2"] + params["b2"]
    return torch.nn.functional.cross_entropy(logits, torch.tensor(y))


def leaves(params: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.tensor(v, requires_grad=True) for k, v in params.items()}


def test_hand_fixtures_are_the_references() -> None:
    normalized = solution.normalize(np.array(fixtures.NORMALIZE_X))
    np.testing.assert_allclose(normalized, fixtures.NORMALIZE_EXPECTED, rtol=1e-6)
    large = solution.cross_entropy(
        np.array(fixtures.LARGE_LOGITS), np.array(fixtures.LARGE_TARGETS)
    )
    tiny = solution.cross_entropy(np.array(fixtures.TINY_LOGITS), np.array(fixtures.TINY_TARGETS))
    assert large[0] == pytest.approx(fixtures.LARGE_LOSS, rel=1e-6)
    assert tiny[0] == pytest.approx(fixtures.TINY_LOSS, rel=1e-9)
    grads = {k: np.array(v) for k, v in fixtures.CLIP_GRADS.items()}
    tight = solution.clip_by_global_norm(grads, fixtures.CLIP_TIGHT)
    for name, value in fixtures.CLIP_TIGHT_EXPECTED.items():
        np.testing.assert_allclose(tight[name], value, rtol=1e-5)
    loose = solution.clip_by_global_norm(grads, fixtures.CLIP_LOOSE)
    assert all(np.array_equal(loose[k], grads[k]) for k in grads)


@pytest.mark.parametrize("scale", [1.0, 1e3, 1e4])
def test_cross_entropy_matches_torch(scale: float) -> None:
    rng = np.random.default_rng(int(scale))
    logits, y = scale * rng.normal(size=(7, 5)), rng.integers(0, 5, size=7)
    t = torch.tensor(logits, requires_grad=True)
    want = torch.nn.functional.cross_entropy(t, torch.tensor(y))
    want.backward()
    assert t.grad is not None
    loss, dlogits = solution.cross_entropy(logits, y)
    assert loss == pytest.approx(want.item(), rel=1e-9)
    np.testing.assert_allclose(dlogits, t.grad.numpy(), rtol=1e-9, atol=1e-12)


def test_backward_matches_autograd() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(9, 4)), rng.integers(0, 3, size=9)
    params = solution.init_params(4, seed=3)
    params = {k: v + 0.1 * rng.normal(size=v.shape) for k, v in params.items()}
    logits, cache = solution.forward(params, x)
    grads = solution.backward(params, cache, solution.cross_entropy(logits, y)[1])
    tensors = leaves(params)
    torch_loss(tensors, x, y).backward()
    for name, tensor in tensors.items():
        assert tensor.grad is not None
        np.testing.assert_allclose(grads[name], tensor.grad.numpy(), rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("max_norm", [0.5, 3.0, 100.0])
def test_clipping_matches_clip_grad_norm(max_norm: float) -> None:
    rng = np.random.default_rng(1)
    grads = {"a": rng.normal(size=(3, 2)), "b": 2 * rng.normal(size=4)}
    tensors = [
        torch.zeros(g.shape, dtype=torch.float64, requires_grad=True) for g in grads.values()
    ]
    for tensor, g in zip(tensors, grads.values(), strict=True):
        tensor.grad = torch.tensor(g)
    torch.nn.utils.clip_grad_norm_(tensors, max_norm)
    clipped = solution.clip_by_global_norm(grads, max_norm)
    for tensor, name in zip(tensors, grads, strict=True):
        assert tensor.grad is not None
        np.testing.assert_allclose(clipped[name], tensor.grad.numpy(), rtol=1e-9)


def test_training_matches_a_torch_loop() -> None:
    """train's losses and weights equal torch.optim.SGD with clip_grad_norm_ on the same data."""
    x, y = solution.make_data(0)
    params, losses = solution.train(x, y, steps=30)
    tensors = leaves(solution.init_params(x.shape[1], 0))
    optimizer = torch.optim.SGD(list(tensors.values()), lr=0.5)
    standardized = (x - x.mean(0)) / np.sqrt(x.var(0) + 1e-5)
    want = []
    for _ in range(30):
        optimizer.zero_grad()
        loss = torch_loss(tensors, standardized, y)
        want.append(loss.item())
        loss.backward()
        torch.nn.utils.clip_grad_norm_(list(tensors.values()), solution.MAX_NORM)
        optimizer.step()
    np.testing.assert_allclose(losses, want, rtol=1e-7)
    for name, tensor in tensors.items():
        np.testing.assert_allclose(params[name], tensor.detach().numpy(), rtol=1e-6, atol=1e-9)


def test_the_fixed_program_meets_its_threshold_and_the_broken_one_prints_nan() -> None:
    x, y = solution.make_data(0)
    losses = solution.train(x, y)[1]
    assert len(losses) == 200 and np.all(np.isfinite(losses))
    assert losses[-1] < solution.LOSS_THRESHOLD < losses[0]
    broken = load(REPO / "exercises" / "debug_nan.py")
    with np.errstate(all="ignore"):
        assert np.isnan(broken.train(x, y)[1][-1])


def test_the_untouched_stub_scores_0_with_every_bug_remaining(make_workspace) -> None:
    stub = (REPO / "exercises" / "debug_nan.py").read_text(encoding="utf-8")
    checked = grading.check(make_workspace({"debug_nan": stub}), [EXERCISE])
    (result,) = checked.exercises
    assert result.score == 0 and not any(t.passed for t in result.tests)
    assert result.planted_bugs == (PLANTED, PLANTED)
    document = checked.to_json()
    assert document["exercises"][0]["planted_bugs"] == {"remaining": PLANTED, "total": PLANTED}
    assert CheckResult.from_json(document).exercises[0].planted_bugs == (PLANTED, PLANTED)
    out = Console(record=True, width=100)
    check_report(out, checked)
    assert f"{PLANTED} of {PLANTED} planted bugs remain" in out.export_text()


@pytest.mark.parametrize("variant", ALONE, ids=[v.name for v in ALONE])
def test_one_bug_put_back_is_counted_as_one(variant, make_workspace) -> None:
    """Each planted bug fails only tests that declare it: the count is exact bug by bug."""
    source = variant.source((REPO / "solutions" / "debug_nan.py").read_text(encoding="utf-8"))
    (result,) = grading.check(make_workspace({"debug_nan": source}), [EXERCISE]).exercises
    assert result.planted_bugs == (1, PLANTED)
