"""solutions/adamw.py against independent oracles: torch.optim.Adam and torch.optim.AdamW over
several steps, torch.nn.utils.clip_grad_norm_, nanoGPT's get_lr written out in plain Python and
torch's CosineAnnealingLR for the decay; the hand fixtures against the same oracles."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from transformer_kit.graders.fixtures import adamw as fixtures
from transformer_kit.solutions import adamw as solution

TIGHT = {"rtol": 1e-10, "atol": 1e-14}


def torch_optimizer_run(
    cls: type[torch.optim.Optimizer],
    w0: np.ndarray,
    grads: list[np.ndarray],
    state: tuple[np.ndarray, np.ndarray, int] | None = None,
    **options: float,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """(w, exp_avg, exp_avg_sq) after each step of a torch optimizer fed the given gradients.
    `state` = (m, v, steps taken) starts it mid-run (torch's own buffers, set by hand)."""
    param = torch.nn.Parameter(torch.tensor(w0, dtype=torch.float64))
    lr = options.pop("lr")
    betas = (options.pop("beta1", 0.9), options.pop("beta2", 0.999))
    optimizer = cls([param], lr=lr, betas=betas, foreach=False, **options)
    if state is not None:
        m, v, taken = state
        optimizer.state[param] = {
            "step": torch.tensor(float(taken)),
            "exp_avg": torch.tensor(m, dtype=torch.float64),
            "exp_avg_sq": torch.tensor(v, dtype=torch.float64),
        }
    out = []
    for grad in grads:
        param.grad = torch.tensor(grad, dtype=torch.float64)
        optimizer.step()
        buffers = optimizer.state[param]
        out.append(
            (
                param.detach().numpy().copy(),
                buffers["exp_avg"].numpy().copy(),
                buffers["exp_avg_sq"].numpy().copy(),
            )
        )
    return out


RUNS = [
    # seed, shape, steps, scale, options
    (0, (5,), 6, 1.0, {"lr": 0.1}),
    (1, (2, 3), 8, 0.5, {"lr": 0.01, "weight_decay": 0.1}),
    (2, (2, 3, 4), 5, 1e-6, {"lr": 0.1, "eps": 1e-8}),  # eps as large as sqrt(v_hat)
    (3, (4,), 10, 1e-3, {"lr": 0.3, "beta1": 0.8, "beta2": 0.99, "eps": 1e-3, "weight_decay": 1.0}),
    (4, (3, 1), 4, 2.0, {"lr": 0.5, "beta1": 0.5, "beta2": 0.5, "eps": 0.5, "weight_decay": 0.5}),
]


@pytest.mark.parametrize("kind", ["adam", "adamw"])
@pytest.mark.parametrize("seed, shape, steps, scale, options", RUNS)
def test_steps_match_torch(
    kind: str, seed: int, shape: tuple[int, ...], steps: int, scale: float, options: dict
) -> None:
    rng = np.random.default_rng(seed)
    w0 = rng.standard_normal(shape)
    grads = [scale * rng.standard_normal(shape) for _ in range(steps)]
    cls = torch.optim.Adam if kind == "adam" else torch.optim.AdamW
    step = solution.adam_step if kind == "adam" else solution.adamw_step
    defaults = {"beta1": 0.9, "beta2": 0.999, "eps": 1e-8}
    defaults["weight_decay"] = 0.0 if kind == "adam" else 0.01
    chosen = defaults | options
    expected = torch_optimizer_run(cls, w0, grads, **dict(chosen))
    lr = chosen.pop("lr")
    w, m, v = w0, np.zeros(shape), np.zeros(shape)
    for t, (grad, (w_torch, m_torch, v_torch)) in enumerate(zip(grads, expected, strict=True), 1):
        w, m, v = step(w, grad, m, v, t, lr, **chosen)
        np.testing.assert_allclose(w, w_torch, **TIGHT)
        np.testing.assert_allclose(m, m_torch, **TIGHT)
        np.testing.assert_allclose(v, v_torch, **TIGHT)


def test_defaults_are_torchs() -> None:
    """Called without the optional arguments, the steps are torch's Adam() and AdamW()."""
    rng = np.random.default_rng(7)
    w0, grads = rng.standard_normal(6), [rng.standard_normal(6) for _ in range(3)]
    for cls, step in (
        (torch.optim.Adam, solution.adam_step),
        (torch.optim.AdamW, solution.adamw_step),
    ):
        param = torch.nn.Parameter(torch.tensor(w0))
        optimizer = cls([param], lr=0.5)  # lr large so that AdamW's 0.01 decay shows
        w, m, v = w0, np.zeros(6), np.zeros(6)
        for t, grad in enumerate(grads, 1):
            param.grad = torch.tensor(grad)
            optimizer.step()
            w, m, v = step(w, grad, m, v, t, 0.5)
            np.testing.assert_allclose(w, param.detach().numpy(), **TIGHT)


def test_adamw_without_decay_is_adam() -> None:
    rng = np.random.default_rng(8)
    args = [rng.standard_normal((2, 2)) for _ in range(3)] + [rng.random((2, 2))]
    for got, want in zip(
        solution.adamw_step(*args, 4, 0.1, weight_decay=0.0),
        solution.adam_step(*args, 4, 0.1),
        strict=True,
    ):
        np.testing.assert_array_equal(got, want)


def _hand_state(prefix: str) -> tuple[np.ndarray, ...]:
    return tuple(np.array(getattr(fixtures, f"{prefix}_{n}")) for n in ("W", "GRAD", "M", "V"))


def test_hand_fixtures() -> None:
    w, grad, m, v = _hand_state("FIRST")
    got = solution.adam_step(w, grad, m, v, fixtures.FIRST_T, fixtures.FIRST_LR)
    for value, want in zip(got, ("FIRST_W_NEW", "FIRST_M_NEW", "FIRST_V_NEW"), strict=True):
        np.testing.assert_allclose(value, getattr(fixtures, want), rtol=1e-12)

    options = {"beta1": 0.5, "beta2": 0.5, "eps": 0.5, "weight_decay": 0.5}
    for prefix, step in (("L2", solution.adam_step), ("W", solution.adamw_step)):
        for name, value in options.items():
            assert getattr(fixtures, f"{prefix}_{name.upper()}") == value
        w, grad, m, v = _hand_state(prefix)
        t, lr = getattr(fixtures, f"{prefix}_T"), getattr(fixtures, f"{prefix}_LR")
        got = step(w, grad, m, v, t, lr, **options)
        for value, name in zip(got, ("W", "M", "V"), strict=True):
            np.testing.assert_allclose(value, getattr(fixtures, f"{prefix}_{name}_NEW"), rtol=1e-12)

    steps = fixtures.COSINE_STEPS
    got = [solution.cosine_lr(s, *fixtures.COSINE_ARGS) for s in steps]
    np.testing.assert_allclose(got, fixtures.COSINE_EXPECTED, rtol=1e-6)

    grads = [np.array(g) for g in fixtures.CLIP_GRADS]
    clipped, total = solution.clip_grad_norm(grads, fixtures.CLIP_MAX_NORM)
    assert total == pytest.approx(fixtures.CLIP_NORM, rel=1e-12)
    for value, want in zip(clipped, fixtures.CLIP_EXPECTED, strict=True):
        np.testing.assert_allclose(value, want, rtol=1e-6)
    clipped, total = solution.clip_grad_norm(grads, fixtures.CLIP_LARGE_MAX_NORM)
    for value, want in zip(clipped, grads, strict=True):
        np.testing.assert_array_equal(value, want)


def test_hand_fixtures_match_torch() -> None:
    """The hand-computed numbers agree with torch too (not only with the solution)."""
    w, grad, _, _ = _hand_state("FIRST")
    ((w_new, m_new, v_new),) = torch_optimizer_run(torch.optim.Adam, w, [grad], lr=0.1)
    np.testing.assert_allclose(w_new, fixtures.FIRST_W_NEW, rtol=1e-12)
    np.testing.assert_allclose(m_new, fixtures.FIRST_M_NEW, rtol=1e-12)
    np.testing.assert_allclose(v_new, fixtures.FIRST_V_NEW, rtol=1e-12)

    options = {"lr": 0.1, "beta1": 0.5, "beta2": 0.5, "eps": 0.5, "weight_decay": 0.5}
    for prefix, cls in (("L2", torch.optim.Adam), ("W", torch.optim.AdamW)):
        w, grad, m, v = _hand_state(prefix)
        # the fixture's state is that of one step taken already (t = 2 is the second step)
        ((w_new, m_new, v_new),) = torch_optimizer_run(cls, w, [grad], (m, v, 1), **options)
        np.testing.assert_allclose(w_new, getattr(fixtures, f"{prefix}_W_NEW"), rtol=1e-12)
        np.testing.assert_allclose(m_new, getattr(fixtures, f"{prefix}_M_NEW"), rtol=1e-12)
        np.testing.assert_allclose(v_new, getattr(fixtures, f"{prefix}_V_NEW"), rtol=1e-12)

    expected = [nanogpt_get_lr(s, *fixtures.COSINE_ARGS) for s in fixtures.COSINE_STEPS]
    np.testing.assert_allclose(expected, fixtures.COSINE_EXPECTED, rtol=1e-6)

    grads = [np.array(g) for g in fixtures.CLIP_GRADS]
    clipped, total = torch_clip(grads, fixtures.CLIP_MAX_NORM)
    assert total == pytest.approx(fixtures.CLIP_NORM, rel=1e-12)
    for value, want in zip(clipped, fixtures.CLIP_EXPECTED, strict=True):
        np.testing.assert_allclose(value, want, rtol=1e-6)


# --- the schedule ---------------------------------------------------------------------------------


def nanogpt_get_lr(it: int, learning_rate: float, min_lr: float, warmup: int, decay: int) -> float:
    """karpathy/nanoGPT train.py's get_lr (the version with `learning_rate * it / warmup_iters`),
    as written there."""
    if it < warmup:
        return learning_rate * it / warmup
    if it > decay:
        return min_lr
    decay_ratio = (it - warmup) / (decay - warmup)
    assert 0 <= decay_ratio <= 1
    coeff = 0.5 * (1.0 + math.cos(math.pi * decay_ratio))
    return min_lr + coeff * (learning_rate - min_lr)


SCHEDULES = [
    (1.0, 0.1, 2, 6),
    (6e-4, 6e-5, 2000, 600000),  # nanoGPT's GPT-2 defaults
    (2.0, 0.5, 1, 5),
    (1.0, 0.0, 0, 10),
    (0.5, 0.05, 10, 100),
]


@pytest.mark.parametrize("args", SCHEDULES)
def test_cosine_matches_nanogpt(args: tuple[float, float, int, int]) -> None:
    end = args[3]
    steps = sorted({*range(0, min(end, 50)), *np.linspace(0, 2 * end, 101).astype(int).tolist()})
    for step in steps:
        got = solution.cosine_lr(step, *args)
        assert isinstance(got, float)
        assert got == pytest.approx(nanogpt_get_lr(step, *args), rel=1e-12, abs=1e-15), step


@pytest.mark.parametrize("args", [(1.0, 0.1, 2, 6), (0.5, 0.05, 10, 100), (2.0, 0.5, 1, 41)])
def test_cosine_decay_matches_torch_cosine_annealing(args: tuple[float, float, int, int]) -> None:
    """From warmup_steps to cosine_steps the rate is CosineAnnealingLR(T_max = cosine_steps -
    warmup_steps, eta_min = min_lr) started at max_lr."""
    max_lr, min_lr, warmup, end = args
    param = torch.nn.Parameter(torch.zeros(1))
    optimizer = torch.optim.SGD([param], lr=max_lr)
    scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(
        optimizer, T_max=end - warmup, eta_min=min_lr
    )
    for step in range(warmup, end + 1):
        torch_lr = optimizer.param_groups[0]["lr"]
        assert solution.cosine_lr(step, *args) == pytest.approx(torch_lr, rel=1e-9, abs=1e-12)
        optimizer.step()
        scheduler.step()


# --- clipping -------------------------------------------------------------------------------------


def torch_clip(grads: list[np.ndarray], max_norm: float) -> tuple[list[np.ndarray], float]:
    params = [torch.nn.Parameter(torch.zeros(g.shape, dtype=torch.float64)) for g in grads]
    for param, grad in zip(params, grads, strict=True):
        param.grad = torch.tensor(grad, dtype=torch.float64)
    total = torch.nn.utils.clip_grad_norm_(params, max_norm)
    return [p.grad.numpy().copy() for p in params], float(total)


@pytest.mark.parametrize(
    "seed, shapes, scale, max_norm",
    [
        (0, [(3,), (2, 3)], 1.0, 1.0),
        (1, [(4,), (), (2, 2, 2)], 1.0, 50.0),  # below max_norm: unchanged
        (2, [(7,)], 1.0, 0.1),
        (3, [(2, 3), (3,), (1,)], 100.0, 1.0),
        (4, [(5, 5), (5,)], 1e-3, 1e-3),
    ],
)
def test_clip_matches_torch(
    seed: int, shapes: list[tuple[int, ...]], scale: float, max_norm: float
) -> None:
    rng = np.random.default_rng(seed)
    grads = [np.asarray(scale * rng.standard_normal(shape)) for shape in shapes]
    copies = [g.copy() for g in grads]
    clipped, total = solution.clip_grad_norm(grads, max_norm)
    want, want_total = torch_clip(grads, max_norm)
    assert isinstance(total, float)
    assert total == pytest.approx(want_total, rel=1e-12)
    assert len(clipped) == len(grads)
    for value, target, original, copy in zip(clipped, want, grads, copies, strict=True):
        assert value.shape == target.shape
        np.testing.assert_allclose(value, target, rtol=1e-12, atol=1e-15)
        np.testing.assert_array_equal(original, copy)  # inputs untouched


def test_solution_does_not_modify_inputs() -> None:
    rng = np.random.default_rng(5)
    w, grad, m, v = (rng.standard_normal(4) for _ in range(4))
    v = v**2
    copies = [a.copy() for a in (w, grad, m, v)]
    solution.adam_step(w, grad, m, v, 3, 0.1, weight_decay=0.1)
    solution.adamw_step(w, grad, m, v, 3, 0.1)
    for original, copy in zip((w, grad, m, v), copies, strict=True):
        np.testing.assert_array_equal(original, copy)
    grads = [w, grad]
    clipped, _ = solution.clip_grad_norm(grads, 0.1)
    assert grads[0] is w and grads[1] is grad and clipped[0] is not w
