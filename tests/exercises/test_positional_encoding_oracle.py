"""solutions/positional_encoding.py against independent oracles.

- sinusoidal_encoding: the formula evaluated element by element with math.sin / math.cos.
- add_learned_positions: torch.nn.Embedding looked up at positions 0..L-1.
- apply_rope: complex rotation as in Meta's LLaMA (torch.view_as_complex of the interleaved
  pairs times torch.polar(1, p * theta_i)), and the RoPE properties (scores depend only on
  m - n, each pair keeps its length).
- The hand fixtures of graders/fixtures/positional_encoding.py against these oracles.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from transformer_kit.graders.fixtures import positional_encoding as fixtures
from transformer_kit.solutions import positional_encoding as solution


def sinusoid_oracle(seq_len: int, d_model: int, base: float) -> list[list[float]]:
    """PE[n][j] straight from the formula, one float at a time."""
    table = []
    for n in range(seq_len):
        row = []
        for j in range(d_model):
            k = j // 2
            angle = n / base ** (2 * k / d_model)
            row.append(math.sin(angle) if j % 2 == 0 else math.cos(angle))
        table.append(row)
    return table


def rope_oracle(x: np.ndarray, positions: list[int] | None, base: float) -> np.ndarray:
    """Pairs (x[2i], x[2i+1]) as complex numbers x[2i] + i x[2i+1], times e^(i p theta_i)."""
    xt = torch.tensor(x, dtype=torch.float64)
    seq_len, dim = xt.shape[-2], xt.shape[-1]
    p = torch.arange(seq_len) if positions is None else torch.tensor(positions)
    theta = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)  # (D/2,)
    angles = torch.outer(p.to(torch.float64), theta)  # (L, D/2)
    rotation = torch.polar(torch.ones_like(angles), angles)  # e^(i p theta), (L, D/2)
    pairs = torch.view_as_complex(xt.reshape(*xt.shape[:-1], dim // 2, 2).contiguous())
    return torch.view_as_real(pairs * rotation).reshape(xt.shape).numpy()


def rope_split_half_oracle(x: np.ndarray, base: float) -> np.ndarray:
    """The other convention (GPT-NeoX / Hugging Face rotate_half), for the fixture that shows it."""
    xt = torch.tensor(x, dtype=torch.float64)
    seq_len, dim = xt.shape[-2], xt.shape[-1]
    theta = 1.0 / base ** (torch.arange(0, dim, 2, dtype=torch.float64) / dim)
    angles = torch.outer(torch.arange(seq_len, dtype=torch.float64), theta)
    emb = torch.cat([angles, angles], dim=-1)  # (L, D)
    first, second = xt[..., : dim // 2], xt[..., dim // 2 :]
    rotate_half = torch.cat([-second, first], dim=-1)
    return (xt * emb.cos() + rotate_half * emb.sin()).numpy()


# --- sinusoidal_encoding ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seq_len", "d_model", "base"),
    [(1, 2, 10000.0), (7, 8, 10000.0), (16, 12, 10000.0), (5, 6, 64.0), (9, 10, 500.0)],
)
def test_sinusoid_matches_formula(seq_len: int, d_model: int, base: float) -> None:
    got = solution.sinusoidal_encoding(seq_len, d_model, base=base)
    assert got.shape == (seq_len, d_model)
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, sinusoid_oracle(seq_len, d_model, base), rtol=1e-12, atol=1e-12)


def test_sinusoid_default_base_is_10000() -> None:
    np.testing.assert_allclose(
        solution.sinusoidal_encoding(4, 6), solution.sinusoidal_encoding(4, 6, base=10000.0)
    )


@pytest.mark.parametrize("d_model", [1, 3, 7])
def test_sinusoid_odd_raises(d_model: int) -> None:
    with pytest.raises(ValueError, match="even"):
        solution.sinusoidal_encoding(3, d_model)


def test_sinusoid_fixtures() -> None:
    for table, seq_len, d_model, base in [
        (fixtures.SINUSOID, fixtures.SINUSOID_SEQ_LEN, fixtures.SINUSOID_D_MODEL, 10000.0),
        (
            fixtures.SINUSOID_BASE64,
            fixtures.SINUSOID_BASE64_SEQ_LEN,
            fixtures.SINUSOID_BASE64_D_MODEL,
            fixtures.SINUSOID_BASE64_BASE,
        ),
    ]:
        assert fixtures.SINUSOID_BASE == 10000.0
        np.testing.assert_allclose(table, sinusoid_oracle(seq_len, d_model, base), atol=1e-10)
        np.testing.assert_allclose(
            table, solution.sinusoidal_encoding(seq_len, d_model, base=base), atol=1e-10
        )


# --- add_learned_positions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "batch", "seq_len", "dim", "max_len"),
    [(0, 2, 3, 4, 5), (1, 1, 6, 3, 6), (2, 3, 1, 2, 4), (3, 4, 7, 8, 16)],
)
def test_learned_matches_embedding(
    seed: int, batch: int, seq_len: int, dim: int, max_len: int
) -> None:
    rng = np.random.default_rng(seed)
    x, table = rng.standard_normal((batch, seq_len, dim)), rng.standard_normal((max_len, dim))
    embedding = torch.nn.Embedding(max_len, dim, dtype=torch.float64)
    with torch.no_grad():
        embedding.weight.copy_(torch.tensor(table))
        expected = torch.tensor(x) + embedding(torch.arange(seq_len))[None]
    got = solution.add_learned_positions(x, table)
    assert got.shape == (batch, seq_len, dim)
    np.testing.assert_allclose(got, expected.numpy(), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize(("seq_len", "max_len"), [(5, 4), (3, 1), (2, 0)])
def test_learned_too_short_raises(seq_len: int, max_len: int) -> None:
    x, table = np.zeros((1, seq_len, 2)), np.zeros((max_len, 2))
    with pytest.raises(ValueError, match="max_len"):
        solution.add_learned_positions(x, table)


def test_learned_fixture() -> None:
    x, table = np.array(fixtures.LEARNED_X), np.array(fixtures.LEARNED_TABLE)
    np.testing.assert_array_equal(solution.add_learned_positions(x, table), fixtures.LEARNED)


# --- apply_rope ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("seed", "shape", "positions", "base"),
    [
        (0, (5, 4), None, 10000.0),
        (1, (2, 3, 6), None, 10000.0),
        (2, (2, 2, 4, 8), None, 10000.0),
        (3, (6, 8), None, 500.0),
        (4, (2, 3, 4), [5, 2, 9], 10000.0),
        (5, (3, 4, 16), [0, 7, 7, 3], 10.0),
        (6, (1, 2), [100], 10000.0),
        (7, (2, 4, 64), None, 10000.0),
    ],
)
def test_rope_matches_complex_rotation(
    seed: int, shape: tuple[int, ...], positions: list[int] | None, base: float
) -> None:
    x = np.random.default_rng(seed).standard_normal(shape)
    where = None if positions is None else np.array(positions)
    got = solution.apply_rope(x, positions=where, base=base)
    assert got.shape == shape
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, rope_oracle(x, positions, base), rtol=1e-12, atol=1e-12)


def test_rope_default_positions_are_0_to_L() -> None:
    x = np.random.default_rng(8).standard_normal((2, 5, 6))
    np.testing.assert_array_equal(
        solution.apply_rope(x), solution.apply_rope(x, positions=np.arange(5))
    )


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_rope_scores_depend_only_on_distance(seed: int) -> None:
    rng = np.random.default_rng(seed)
    dim = 16
    q, k = rng.standard_normal(dim), rng.standard_normal(dim)
    scores: dict[int, list[float]] = {}
    for m in range(0, 12, 3):
        for n in range(0, 12, 2):
            rq = solution.apply_rope(q[None], positions=np.array([m]))[0]
            rk = solution.apply_rope(k[None], positions=np.array([n]))[0]
            scores.setdefault(m - n, []).append(float(rq @ rk))
    for distance, values in scores.items():
        np.testing.assert_allclose(values, values[0], rtol=1e-10, atol=1e-10, err_msg=f"{distance}")
    assert np.isclose(scores[0][0], q @ k)  # m == n: no rotation is left between them


def test_rope_keeps_pair_lengths() -> None:
    x = np.random.default_rng(9).standard_normal((3, 7, 10))
    out = solution.apply_rope(x, positions=np.array([0, 3, 1, 50, 9, 2, 1000]))
    np.testing.assert_allclose(
        np.hypot(out[..., 0::2], out[..., 1::2]), np.hypot(x[..., 0::2], x[..., 1::2]), rtol=1e-12
    )


@pytest.mark.parametrize("shape", [(3, 5), (2, 4, 1), (1, 2, 3, 7)])
def test_rope_odd_raises(shape: tuple[int, ...]) -> None:
    with pytest.raises(ValueError, match="even"):
        solution.apply_rope(np.zeros(shape))


def test_rope_fixtures() -> None:
    x = np.array(fixtures.ROPE_X)
    np.testing.assert_allclose(fixtures.ROPE, rope_oracle(x, None, 10000.0), atol=1e-10)
    np.testing.assert_allclose(fixtures.ROPE, solution.apply_rope(x), atol=1e-10)

    x = np.array(fixtures.ROPE_PAIRS_X)
    np.testing.assert_allclose(fixtures.ROPE_PAIRS, rope_oracle(x, None, 10000.0), atol=1e-10)
    np.testing.assert_allclose(fixtures.ROPE_PAIRS, solution.apply_rope(x), atol=1e-10)
    np.testing.assert_allclose(
        fixtures.ROPE_PAIRS_SPLIT_HALF, rope_split_half_oracle(x, 10000.0), atol=1e-10
    )
    assert not np.allclose(fixtures.ROPE_PAIRS, fixtures.ROPE_PAIRS_SPLIT_HALF)

    x, positions = np.array(fixtures.ROPE_POSITIONS_X), fixtures.ROPE_POSITIONS
    np.testing.assert_allclose(
        fixtures.ROPE_POSITIONED, rope_oracle(x, positions, 10000.0), atol=1e-10
    )
    np.testing.assert_allclose(
        fixtures.ROPE_POSITIONED,
        solution.apply_rope(x, positions=np.array(positions)),
        atol=1e-10,
    )


# --- all -------------------------------------------------------------------------------------


def test_inputs_not_modified() -> None:
    rng = np.random.default_rng(10)
    x, table, positions = rng.standard_normal((2, 3, 4)), rng.standard_normal((5, 4)), np.arange(3)
    copies = [x.copy(), table.copy(), positions.copy()]
    solution.add_learned_positions(x, table)
    solution.apply_rope(x, positions=positions)
    for before, after in zip(copies, [x, table, positions], strict=True):
        np.testing.assert_array_equal(before, after)
