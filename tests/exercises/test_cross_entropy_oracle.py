"""The `cross_entropy` reference against independent oracles: torch.nn.functional.log_softmax and
cross_entropy (ignore_index, label_smoothing) in float64, torch autograd for the gradient,
plain-Python `math` evaluation of the formulas, central finite differences, fairseq's published
label-smoothing formula (to show that the contract's convention is PyTorch's, not fairseq's), and
the hand-computed fixtures."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from transformer_kit.graders import test_cross_entropy as grader
from transformer_kit.graders.fixtures import cross_entropy as fixtures
from transformer_kit.solutions import cross_entropy as solution

# (seed, N, C, ignored rows, ignore_index, label_smoothing): C below and above 100, ignore_index
# -100, -1 and a valid class id, smoothing 0, small and 1, N = 1.
CASES = [
    (0, 6, 5, (1, 4), -100, 0.0),
    (1, 5, 7, (0,), -100, 0.2),
    (2, 8, 128, (2, 3, 7), -100, 0.0),
    (3, 4, 150, (1,), -100, 0.1),
    (4, 6, 3, (0, 5), -1, 0.3),
    (5, 7, 6, (2, 3), 4, 0.05),
    (6, 1, 4, (), -100, 0.0),
    (7, 16, 1000, (0, 5, 9), -100, 0.1),
    (8, 5, 2, (3,), 0, 1.0),
    (9, 9, 101, (), -100, 0.5),
]


def _random(seed: int, n: int, c: int, ignored: tuple[int, ...], index: int, scale: float = 2.0):
    """The grader's draw: logits = scale * standard normal, targets uniform, then ignored rows."""
    rng = np.random.default_rng(seed)
    logits = scale * rng.standard_normal((n, c))
    targets = rng.integers(0, c, n)
    targets[list(ignored)] = index
    return logits, targets


def _torch_loss(logits, targets, index=-100, smoothing=0.0) -> float:
    return F.cross_entropy(
        torch.tensor(logits, dtype=torch.float64),
        torch.tensor(targets),
        ignore_index=index,
        label_smoothing=smoothing,
    ).item()


def _torch_grad(logits, targets, index=-100) -> np.ndarray:
    z = torch.tensor(logits, dtype=torch.float64, requires_grad=True)
    F.cross_entropy(z, torch.tensor(targets), ignore_index=index).backward()
    return z.grad.numpy()


def _python_loss(logits, targets, index=-100, smoothing=0.0) -> float:
    """The contract's formula in plain Python, row by row with `math`."""
    total, count = 0.0, 0
    for row, target in zip(np.asarray(logits).tolist(), np.asarray(targets).tolist(), strict=True):
        if target == index:
            continue
        top = max(row)
        lse = top + math.log(math.fsum(math.exp(v - top) for v in row))
        log_p = [v - lse for v in row]
        total += -(1 - smoothing) * log_p[target] - smoothing * math.fsum(log_p) / len(row)
        count += 1
    return total / count


def _fairseq_loss(logits, targets, index, smoothing) -> float:
    """fairseq's label_smoothed_nll_loss (criterions/label_smoothed_cross_entropy.py), mean over
    the kept rows: eps_i = e / (C - 1); loss = (1 - e - eps_i) * nll + eps_i * smooth_loss."""
    lprobs = torch.log_softmax(torch.tensor(logits, dtype=torch.float64), dim=-1)
    target = torch.tensor(targets)
    pad = target.eq(index)
    safe = target.masked_fill(pad, 0).unsqueeze(-1)
    nll = -lprobs.gather(dim=-1, index=safe).squeeze(-1).masked_fill(pad, 0.0)
    smooth = -lprobs.sum(dim=-1).masked_fill(pad, 0.0)
    eps_i = smoothing / (lprobs.size(-1) - 1)
    loss = (1.0 - smoothing - eps_i) * nll + eps_i * smooth
    return (loss.sum() / (~pad).sum()).item()


# --- log_softmax ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("shape", "axis", "scale"),
    [((5,), -1, 3.0), ((3, 4), -1, 3.0), ((4, 4), 0, 3.0), ((2, 3, 4), 1, 3.0), ((3, 7), -1, 900)],
    ids=str,
)
def test_log_softmax_matches_torch(shape, axis, scale) -> None:
    x = scale * np.random.default_rng(len(shape)).standard_normal(shape)
    want = F.log_softmax(torch.tensor(x), dim=axis).numpy()
    got = solution.log_softmax(x, axis=axis)
    assert got.shape == x.shape and got.dtype == np.float64
    np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(
    ("values", "expected"),
    [
        (fixtures.LOG_SOFTMAX_INPUT, fixtures.LOG_SOFTMAX_OUTPUT),
        (fixtures.LOG_SOFTMAX_LARGE_INPUT, fixtures.LOG_SOFTMAX_LARGE_OUTPUT),
        (fixtures.LOG_SOFTMAX_NEGATIVE_INPUT, fixtures.LOG_SOFTMAX_NEGATIVE_OUTPUT),
    ],
    ids=["1-2-3", "1000-0", "negative"],
)
def test_log_softmax_fixtures(values, expected) -> None:
    x = np.array(values)
    lse = max(values) + math.log(math.fsum(math.exp(v - max(values)) for v in values))
    np.testing.assert_allclose([v - lse for v in values], expected, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(F.log_softmax(torch.tensor(x), dim=-1), expected, rtol=1e-9)
    np.testing.assert_allclose(solution.log_softmax(x), expected, rtol=1e-9, atol=1e-9)


def test_contract_example_is_finite() -> None:
    """log_softmax([1000, 0]) is finite (the contract), where np.exp(1000) is not."""
    with np.errstate(over="ignore"):
        assert not np.isfinite(np.exp(1000.0))
    assert np.isfinite(solution.log_softmax(np.array([1000.0, 0.0]))).all()


# --- cross_entropy, its gradient, perplexity: torch and plain Python ---------------------------


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c[0]}-C{c[2]}-index{c[4]}-e{c[5]}")
def test_cross_entropy_matches_torch_and_python(case) -> None:
    seed, n, c, ignored, index, e = case
    logits, targets = _random(seed, n, c, ignored, index)
    got = solution.cross_entropy(logits, targets, ignore_index=index, label_smoothing=e)
    assert isinstance(got, float)
    assert got == pytest.approx(_torch_loss(logits, targets, index, e), rel=1e-12, abs=1e-12)
    assert got == pytest.approx(_python_loss(logits, targets, index, e), rel=1e-12, abs=1e-12)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c[0]}-C{c[2]}-index{c[4]}")
def test_grad_matches_autograd(case) -> None:
    seed, n, c, ignored, index, _ = case
    logits, targets = _random(seed, n, c, ignored, index)
    got = solution.cross_entropy_grad(logits, targets, ignore_index=index)
    assert got.shape == (n, c) and got.dtype == np.float64
    np.testing.assert_allclose(got, _torch_grad(logits, targets, index), rtol=1e-10, atol=1e-14)
    assert np.all(got[targets == index] == 0.0)


@pytest.mark.parametrize("case", CASES, ids=lambda c: f"seed{c[0]}-C{c[2]}-index{c[4]}")
def test_perplexity_matches_torch(case) -> None:
    seed, n, c, ignored, index, _ = case
    logits, targets = _random(seed, n, c, ignored, index)
    want = math.exp(_torch_loss(logits, targets, index))
    assert solution.perplexity(logits, targets, ignore_index=index) == pytest.approx(
        want, rel=1e-12
    )


def test_large_logits_match_torch() -> None:
    """Logits above 709: torch stays finite, and so does the reference."""
    logits, targets = _random(11, 6, 5, (2,), -100, scale=800.0)
    assert np.abs(logits).max() > 709
    assert solution.cross_entropy(logits, targets) == pytest.approx(
        _torch_loss(logits, targets), rel=1e-12
    )
    np.testing.assert_allclose(
        solution.cross_entropy_grad(logits, targets), _torch_grad(logits, targets), atol=1e-14
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_grad_matches_central_differences(seed: int) -> None:
    logits, targets = _random(seed, 4, 5, (1,), -100)
    grad = solution.cross_entropy_grad(logits, targets)
    step = 1e-6
    numeric = np.zeros_like(logits)
    for pos in np.ndindex(logits.shape):
        plus, minus = logits.copy(), logits.copy()
        plus[pos] += step
        minus[pos] -= step
        numeric[pos] = (
            solution.cross_entropy(plus, targets) - solution.cross_entropy(minus, targets)
        ) / (2 * step)
    np.testing.assert_allclose(grad, numeric, rtol=1e-6, atol=1e-9)


def test_torch_spreads_smoothing_over_all_c_classes() -> None:
    """The contract's convention is PyTorch's: e / C to every class, the target included. The
    same loss as the cross-entropy against that explicit target distribution, and not
    fairseq's e / (C - 1)."""
    logits, targets = _random(12, 5, 4, (), -100)
    e, c = 0.3, 4
    q = np.full((5, c), e / c)
    q[np.arange(5), targets] += 1 - e
    soft = F.cross_entropy(torch.tensor(logits), torch.tensor(q)).item()  # probability targets
    assert _torch_loss(logits, targets, -100, e) == pytest.approx(soft, rel=1e-12)
    assert solution.cross_entropy(logits, targets, label_smoothing=e) == pytest.approx(soft)
    assert abs(_fairseq_loss(logits, targets, -100, e) - soft) > 1e-3


def test_uniform_logits() -> None:
    """Uniform logits: loss ln C whatever the smoothing, perplexity C."""
    for c in (4, 200):
        logits, targets = np.zeros((3, c)), np.array([0, 1, -100])
        for e in (0.0, 0.4):
            assert solution.cross_entropy(logits, targets, label_smoothing=e) == pytest.approx(
                math.log(c)
            )
        assert solution.perplexity(logits, targets) == pytest.approx(c)


# --- the hand fixtures against the oracles ----------------------------------------------------


def _fixture(prefix: str) -> tuple[np.ndarray, np.ndarray]:
    return (
        np.array(getattr(fixtures, f"{prefix}_LOGITS")),
        np.array(getattr(fixtures, f"{prefix}_TARGETS")),
    )


@pytest.mark.parametrize(
    ("prefix", "index", "smoothing", "loss"),
    [
        ("NOTES", -100, 0.0, fixtures.NOTES_LOSS),
        ("HAND", -100, 0.0, fixtures.HAND_LOSS),
        ("HAND", -100, fixtures.HAND_SMOOTHING, fixtures.HAND_SMOOTH_LOSS),
        ("LARGE", -100, 0.0, fixtures.LARGE_LOSS),
    ],
    ids=["notes", "hand", "hand-smoothed", "large"],
)
def test_fixture_losses(prefix, index, smoothing, loss) -> None:
    logits, targets = _fixture(prefix)
    for oracle in (_torch_loss, _python_loss):
        assert oracle(logits, targets, index, smoothing) == pytest.approx(loss, rel=1e-9)
    assert solution.cross_entropy(logits, targets, index, smoothing) == pytest.approx(loss, 1e-9)


def test_ignore_class_fixture() -> None:
    logits = np.array(fixtures.HAND_LOGITS)
    targets = np.array(fixtures.IGNORE_CLASS_TARGETS)
    index = fixtures.IGNORE_CLASS_INDEX
    want = fixtures.IGNORE_CLASS_LOSS
    assert _torch_loss(logits, targets, index) == pytest.approx(want, rel=1e-9)
    assert _python_loss(logits, targets, index) == pytest.approx(want, rel=1e-9)
    assert solution.cross_entropy(logits, targets, index) == pytest.approx(want, rel=1e-9)
    assert _torch_loss(logits, targets) == pytest.approx(
        fixtures.IGNORE_CLASS_HARD_CODED_LOSS, rel=1e-9
    )
    np.testing.assert_allclose(
        _torch_grad(logits, targets, index), fixtures.IGNORE_CLASS_GRAD, rtol=1e-9, atol=1e-12
    )
    assert math.exp(_torch_loss(logits, targets, index)) == pytest.approx(
        fixtures.IGNORE_CLASS_PERPLEXITY, rel=1e-9
    )


@pytest.mark.parametrize("prefix", ["NOTES", "HAND", "LARGE"])
def test_fixture_gradients(prefix: str) -> None:
    logits, targets = _fixture(prefix)
    want = getattr(fixtures, f"{prefix}_GRAD")
    np.testing.assert_allclose(_torch_grad(logits, targets), want, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(
        solution.cross_entropy_grad(logits, targets), want, rtol=1e-9, atol=1e-12
    )


@pytest.mark.parametrize("prefix", ["NOTES", "HAND", "PPL_LARGE"])
def test_fixture_perplexities(prefix: str) -> None:
    logits, targets = _fixture(prefix)
    want = getattr(fixtures, f"{prefix}_PERPLEXITY")
    assert math.exp(_torch_loss(logits, targets)) == pytest.approx(want, rel=1e-9)
    assert solution.perplexity(logits, targets) == pytest.approx(want, rel=1e-9)


def test_fixture_side_figures() -> None:
    """The numbers the fixture file quotes for mistakes, and the notes' example."""
    logits, targets = _fixture("HAND")
    kept = targets != -100
    assert kept.sum() == fixtures.HAND_N_KEPT
    assert _python_loss(logits, targets) * 3 / 4 == pytest.approx(fixtures.HAND_LOSS_OVER_N)
    assert _fairseq_loss(logits, targets, -100, fixtures.HAND_SMOOTHING) == pytest.approx(
        fixtures.HAND_FAIRSEQ_LOSS, rel=1e-9
    )
    assert pytest.approx(-math.log(0.7), rel=1e-10) == fixtures.NOTES_LOSS
    assert pytest.approx(1 / 0.7, rel=1e-10) == fixtures.NOTES_PERPLEXITY
    np.testing.assert_allclose(np.exp(fixtures.NOTES_LOGITS), [[0.7, 0.2, 0.1]], rtol=1e-12)


# --- the grader's mistake models against independent formulas --------------------------------


def test_grader_fairseq_mistake_is_fairseq() -> None:
    """The value the grader names as fairseq's convention is fairseq's formula."""
    for seed, n, c, ignored, index, e in CASES:
        if not e or c < 2:
            continue
        logits, targets = _random(seed, n, c, ignored, index)
        mistakes = grader._loss_mistakes(logits, targets, index, e)
        assert mistakes[grader.FAIRSEQ] == pytest.approx(
            _fairseq_loss(logits, targets, index, e), rel=1e-10
        )


def test_grader_wrapped_index_mistake_is_what_numpy_does() -> None:
    """With C >= 100, numpy reads target -100 as class C - 100: what the grader calls NOT_IGNORED
    is torch's loss with that class as the target and nothing ignored."""
    logits, targets = _random(2, 8, 128, (2, 3, 7), -100)
    wrapped = np.where(targets == -100, 128 - 100, targets)
    mistakes = grader._loss_mistakes(logits, targets)
    assert mistakes[grader.NOT_IGNORED] == pytest.approx(_torch_loss(logits, wrapped), rel=1e-12)


def test_inputs_are_not_modified() -> None:
    logits, targets = _random(13, 5, 6, (0,), -100, scale=50.0)
    copies = logits.copy(), targets.copy()
    solution.log_softmax(logits)
    solution.cross_entropy(logits, targets, label_smoothing=0.2)
    solution.cross_entropy_grad(logits, targets)
    solution.perplexity(logits, targets)
    np.testing.assert_array_equal(copies[0], logits)
    np.testing.assert_array_equal(copies[1], targets)
