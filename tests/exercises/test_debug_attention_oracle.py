"""solutions/debug_attention.py against an independent attention (torch's
scaled_dot_product_attention) and entropy (torch.distributions.Categorical), the hand fixtures,
and the broken program: its weights come out flat, and its untouched stub scores 0 with every
planted bug reported as remaining, each bug alone as one."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import torch
from catalogue.debug_attention import VARIANTS
from support import EXERCISES, REPO

from transformer_kit import check as grading
from transformer_kit.graders.fixtures import debug_attention as fixtures
from transformer_kit.solutions import debug_attention as solution

PLANTED = 6  # the bugs planted in exercises/debug_attention.py
ALONE = VARIANTS[:PLANTED]  # the catalogue opens with each bug put back alone
(EXERCISE,) = [e for e in EXERCISES if e.name == "debug_attention"]


def load(path: Path) -> ModuleType:
    spec = importlib.util.spec_from_file_location("debug_attention_stub", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def torch_attention(
    x: np.ndarray, w_q: np.ndarray, w_k: np.ndarray, w_v: np.ndarray, mask: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray]:
    """(output, weights) from torch: the weights are attention applied to the identity."""
    q, k, v = (torch.tensor(x @ w) for w in (w_q, w_k, w_v))
    given = None if mask is None else torch.tensor(mask)
    output = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=given)
    eye = torch.eye(k.shape[0], dtype=torch.float64)
    weights = torch.nn.functional.scaled_dot_product_attention(q, k, eye, attn_mask=given)
    return output.numpy(), weights.numpy()


def test_hand_fixtures_are_the_references() -> None:
    eye = np.array(fixtures.IDENTITY)
    weights = solution.attention_weights(eye, eye)
    np.testing.assert_allclose(weights, fixtures.IDENTITY_WEIGHTS, atol=1e-6)
    entropy = solution.weights_entropy(np.array(fixtures.ENTROPY_WEIGHTS))
    np.testing.assert_allclose(entropy, fixtures.ENTROPY_EXPECTED, rtol=1e-6, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_attend_matches_torch(seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(5, 6))
    w_q, w_k, w_v = rng.normal(size=(6, 4)), rng.normal(size=(6, 4)), rng.normal(size=(6, 3))
    mask = rng.random((5, 5)) < 0.6
    mask[:, 2] = True
    for given in (None, mask):
        output, weights = solution.attend(x, w_q, w_k, w_v, given)
        want_output, want_weights = torch_attention(x, w_q, w_k, w_v, given)
        np.testing.assert_allclose(output, want_output, rtol=1e-9, atol=1e-12)
        np.testing.assert_allclose(weights, want_weights, rtol=1e-9, atol=1e-12)


def test_entropy_matches_torch() -> None:
    rng = np.random.default_rng(3)
    weights = rng.random((4, 6))
    weights[:, :2] = 0.0
    weights /= weights.sum(axis=-1, keepdims=True)
    want = torch.distributions.Categorical(probs=torch.tensor(weights)).entropy().numpy()
    np.testing.assert_allclose(solution.weights_entropy(weights), want, rtol=1e-9)


def test_the_fixed_head_is_sharp_and_the_broken_one_is_flat() -> None:
    inputs = solution.make_inputs(0)
    _, weights = solution.attend(*inputs, solution.PADDING_MASK)
    assert np.all(weights[:, 5] == 0.0)
    assert weights.argmax(axis=-1).tolist() == list(solution.TARGETS)
    assert solution.weights_entropy(weights).mean() < solution.ENTROPY_THRESHOLD
    broken = load(REPO / "exercises" / "debug_attention.py")
    _, flat = broken.attend(*inputs, solution.PADDING_MASK)
    assert solution.weights_entropy(flat).mean() > 5 * solution.ENTROPY_THRESHOLD


def test_the_untouched_stub_scores_0_with_every_bug_remaining(make_workspace) -> None:
    stub = (REPO / "exercises" / "debug_attention.py").read_text(encoding="utf-8")
    (result,) = grading.check(make_workspace({"debug_attention": stub}), [EXERCISE]).exercises
    assert result.score == 0 and not any(t.passed for t in result.tests)
    assert result.planted_bugs == (PLANTED, PLANTED)


@pytest.mark.parametrize("variant", ALONE, ids=[v.name for v in ALONE])
def test_one_bug_put_back_is_counted_as_one(variant, make_workspace) -> None:
    """Each planted bug fails only tests that declare it: the count is exact bug by bug."""
    source = variant.source((REPO / "solutions" / "debug_attention.py").read_text("utf-8"))
    (result,) = grading.check(make_workspace({"debug_attention": source}), [EXERCISE]).exercises
    assert result.planted_bugs == (1, PLANTED)
