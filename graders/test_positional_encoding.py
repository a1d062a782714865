"""Grader for positional_encoding: the sinusoidal table, learned positions and RoPE.

Levels: hand fixtures (graders/fixtures/positional_encoding.py), the reference on random inputs
with fixed seeds, and properties (RoPE scores depend only on m - n, each pair keeps its length).
Every comparison names the classic mistake it recognizes.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import (
    Mismatch,
    assert_close,
    assert_raises,
    assert_shape,
    two_at_once,
)
from transformer_kit.graders.fixtures import positional_encoding as fixtures
from transformer_kit.solutions import positional_encoding as reference

SPLIT_HALF = (
    "your RoPE rotates split halves (i, i + D/2); this kit pairs interleaved dimensions (2i, 2i+1)"
)
TILED_CACHE = (
    "the cos/sin cache is tiled (theta_0, theta_1, ..., theta_0, theta_1, ...) as for split "
    "halves; interleaved pairs need each angle twice in a row (theta_0, theta_0, theta_1, "
    "theta_1, ...): use np.repeat, not np.tile"
)
POSITIONS_IGNORED = "positions ignored: row j must be rotated by positions[j], not by j"
BASE_IGNORED = "the base argument is ignored (10000 used)"


# --- the classic mistakes, made on purpose --------------------------------------------------


def _sinusoid(
    seq_len: int,
    d_model: int,
    base: float,
    *,
    swap: bool = False,
    concat: bool = False,
    scale: float = 1.0,
    own: bool = False,
    over: int | None = None,
    sign: float = -1.0,
    start: int = 0,
) -> np.ndarray:
    """The sinusoidal table with mistakes switched on (the defaults give the right answer).

    Column c's angle is n * base**(sign * scale * i / over), i = c if `own` (a frequency per
    column) else 2k (the pair's even column), over = d_model unless given; columns 2k hold the
    sin, 2k+1 the cos (`swap`: the other way round), interleaved or (`concat`) as two halves.
    """
    n = start + np.arange(seq_len, dtype=np.float64)[:, None]  # (L, 1)
    column = np.arange(d_model)
    index = column if own else column - column % 2  # (D,)
    angles = n * base ** (sign * scale * index / (over or d_model))  # (L, D)
    first, second = np.sin(angles[:, 0::2]), np.cos(angles[:, 1::2])  # (L, D/2) each
    if swap:
        first, second = np.cos(angles[:, 0::2]), np.sin(angles[:, 1::2])
    if concat:
        return np.concatenate([first, second], axis=-1)  # (L, D): sin..., cos...
    return np.stack([first, second], axis=-1).reshape(seq_len, d_model)  # (L, D)


def sinusoid_mistakes(seq_len: int, d_model: int, base: float) -> dict[str, np.ndarray]:
    """Each classic mistake's table, then each two made together (fairseq's halves with its
    frequencies over half_dim - 1; a blog's 4k/d exponent with a frequency per column)."""
    options: dict[str, dict[str, Any]] = {
        "sin and cos swapped: PE[n, 2k] is the sin, PE[n, 2k+1] the cos": {"swap": True},
        "frequency exponent k/d_model instead of 2k/d_model (k is the pair index)": {"scale": 0.5},
        "frequency exponent 4k/d_model: 2k is already the even column's index, do not double it": {
            "scale": 2.0
        },
        "each column got its own frequency: columns 2k and 2k+1 share base**(2k/d_model)": {
            "own": True
        },
        "the exponent's sign is flipped: use n / base**(2k/d_model), not n * base**(2k/d_model)": {
            "sign": 1.0
        },
        "[sin..., cos...] concatenated halves: interleave them, sin in column 2k, cos in 2k+1": {
            "concat": True
        },
        "positions start at 1: the first row is position 0 (sin 0 = 0, cos 0 = 1)": {"start": 1},
    }
    if d_model > 2:
        options[
            "frequencies spread over half_dim - 1 (exponent k / (d_model/2 - 1), as fairseq and "
            "tensor2tensor): this kit's exponent is 2k/d_model, k the pair index"
        ] = {"over": d_model - 2}
    if base != 10000.0:
        options[BASE_IGNORED] = {"base": 10000.0}
    made = [*options.items(), *two_at_once(options.items())]
    return {name: _sinusoid(seq_len, d_model, **{"base": base, **option}) for name, option in made}


def _rope(
    x: np.ndarray,
    positions: np.ndarray,
    base: float,
    *,
    exponent: float = 2.0,
    sign: float = -1.0,
    direction: float = 1.0,
    swap: bool = False,
    layout: str = "interleaved",
) -> np.ndarray:
    """RoPE with a mistake switched on (the defaults give the right answer)."""
    dim = x.shape[-1]
    i = np.arange(dim // 2, dtype=np.float64)  # (D/2,) the pair index
    angles = np.asarray(positions, dtype=np.float64)[:, None] * base ** (sign * exponent * i / dim)
    cos, sin = np.cos(angles), direction * np.sin(angles)  # (L, D/2)
    if swap:
        cos, sin = sin, cos
    if layout == "split":
        first, second = x[..., : dim // 2], x[..., dim // 2 :]
        return np.concatenate([first * cos - second * sin, first * sin + second * cos], axis=-1)
    if layout == "tiled":
        cos_full, sin_full = np.tile(cos, 2), np.tile(sin, 2)  # (L, D)
        partner = np.stack([-x[..., 1::2], x[..., 0::2]], axis=-1).reshape(x.shape)
        return x * cos_full + partner * sin_full
    even, odd = x[..., 0::2], x[..., 1::2]
    return np.stack([even * cos - odd * sin, even * sin + odd * cos], axis=-1).reshape(x.shape)


def rope_mistakes(
    x: np.ndarray, positions: np.ndarray | None, base: float
) -> dict[str, np.ndarray]:
    default = np.arange(x.shape[-2])
    used = default if positions is None else positions
    mistakes = {
        SPLIT_HALF: _rope(x, used, base, layout="split"),
        "rotation direction reversed: out[2i] = x[2i] cos - x[2i+1] sin, "
        "out[2i+1] = x[2i] sin + x[2i+1] cos": _rope(x, used, base, direction=-1.0),
        "frequency exponent i/D instead of 2i/D (i is the pair index)": _rope(
            x, used, base, exponent=1.0
        ),
        "frequency exponent 4i/D: 2i is already the even dimension's index, do not double it": (
            _rope(x, used, base, exponent=4.0)
        ),
        "the exponent's sign is flipped: the angle is p * base**(-2i/D), not p * base**(2i/D)": (
            _rope(x, used, base, sign=1.0)
        ),
        "sin and cos swapped in the rotation": _rope(x, used, base, swap=True),
        TILED_CACHE: _rope(x, used, base, layout="tiled"),
    }
    if positions is not None:
        mistakes[POSITIONS_IGNORED] = _rope(x, default, base)
    if base != 10000.0:
        mistakes[BASE_IGNORED] = _rope(x, used, 10000.0)
    return mistakes


def learned_mistakes(x: np.ndarray, table: np.ndarray) -> dict[str, np.ndarray]:
    seq_len = x.shape[-2]
    if seq_len >= table.shape[0]:
        return {}  # table[1:L+1] would be short, and table[-L:] is table[:L]
    return {
        "off by one: row n of the table belongs to position n, use table[:L], not table[1:L+1]": (
            x + table[1 : seq_len + 1]
        ),
        "the table's last L rows were used: use its first L rows, table[:L]": x + table[-seq_len:],
    }


def _random(seed: int, *shapes: tuple[int, ...]) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(shape) for shape in shapes]


# --- sinusoidal_encoding ---------------------------------------------------------------------


@pytest.mark.weight(2)
def test_sinusoid_hand(student) -> None:
    """sinusoidal table by hand (seq_len 3, d_model 4)"""
    seq_len, d_model = fixtures.SINUSOID_SEQ_LEN, fixtures.SINUSOID_D_MODEL
    got = student.sinusoidal_encoding(seq_len, d_model)
    assert_close(
        got,
        fixtures.SINUSOID,
        call=f"sinusoidal_encoding({seq_len}, {d_model})",
        mistakes=sinusoid_mistakes(seq_len, d_model, fixtures.SINUSOID_BASE),
    )


def test_sinusoid_base(student) -> None:
    """sinusoidal table by hand with base 64"""
    seq_len, d_model = fixtures.SINUSOID_BASE64_SEQ_LEN, fixtures.SINUSOID_BASE64_D_MODEL
    base = fixtures.SINUSOID_BASE64_BASE
    got = student.sinusoidal_encoding(seq_len, d_model, base=base)
    assert_close(
        got,
        fixtures.SINUSOID_BASE64,
        call=f"sinusoidal_encoding({seq_len}, {d_model}, base={base})",
        mistakes=sinusoid_mistakes(seq_len, d_model, base),
    )


@pytest.mark.parametrize(
    ("seq_len", "d_model", "base"),
    [(6, 8, 10000.0), (5, 10, 500.0), (1, 2, 10000.0), (9, 6, 10.0)],
    ids=["6x8", "5x10-base500", "1x2", "9x6-base10"],
)
def test_sinusoid_reference(student, seq_len: int, d_model: int, base: float) -> None:
    """sinusoidal table matches the reference"""
    got = student.sinusoidal_encoding(seq_len, d_model, base=base)
    assert_close(
        got,
        reference.sinusoidal_encoding(seq_len, d_model, base=base),
        call=f"sinusoidal_encoding({seq_len}, {d_model}, base={base})",
        mistakes=sinusoid_mistakes(seq_len, d_model, base),
    )


@pytest.mark.visible
def test_sinusoid_odd(student) -> None:
    """sinusoidal table: odd d_model raises ValueError"""
    assert_raises("ValueError", student.sinusoidal_encoding, 4, 5, call="sinusoidal_encoding(4, 5)")


# --- add_learned_positions -------------------------------------------------------------------


def test_learned_hand(student) -> None:
    """learned positions by hand"""
    x, table = np.array(fixtures.LEARNED_X), np.array(fixtures.LEARNED_TABLE)
    got = student.add_learned_positions(x, table)
    assert_close(
        got,
        fixtures.LEARNED,
        call=f"add_learned_positions(x {x.tolist()}, table {table.tolist()})",
        mistakes=learned_mistakes(x, table),
    )


@pytest.mark.parametrize(
    ("seed", "shape", "max_len"),
    [(0, (2, 3, 4), 5), (1, (3, 1, 2), 4), (2, (1, 6, 3), 6)],
    ids=["L3-max5", "L1-max4", "L6-max6"],
)
def test_learned_reference(student, seed: int, shape: tuple[int, ...], max_len: int) -> None:
    """learned positions match the reference"""
    x, table = _random(seed, shape, (max_len, shape[-1]))
    got = student.add_learned_positions(x, table)
    assert_close(
        got,
        reference.add_learned_positions(x, table),
        call=f"add_learned_positions(x {shape}, table {table.shape}), "
        f"both from np.random.default_rng({seed})",
        mistakes=learned_mistakes(x, table),
    )


def test_learned_exact_length(student) -> None:
    """a table of exactly max_len rows is long enough"""
    x, table = _random(3, (2, 4, 3), (4, 3))
    call = "add_learned_positions(x (2, 4, 3), table (4, 3)), from np.random.default_rng(3)"
    got = student.add_learned_positions(x, table)  # raising here is the mistake (L == max_len)
    assert_close(got, reference.add_learned_positions(x, table), call=call)


@pytest.mark.parametrize(("seq_len", "max_len"), [(5, 4), (3, 1)], ids=["L5-max4", "L3-max1"])
@pytest.mark.visible
def test_learned_too_short(student, seq_len: int, max_len: int) -> None:
    """learned positions: a too short table raises ValueError"""
    x, table = _random(4, (2, seq_len, 2), (max_len, 2))
    assert_raises(
        "ValueError",
        student.add_learned_positions,
        x,
        table,
        call=f"add_learned_positions(x {x.shape}, table {table.shape})",
    )


# --- apply_rope ------------------------------------------------------------------------------


@pytest.mark.weight(2)
def test_rope_hand(student) -> None:
    """rope by hand (x (2, 4), positions 0 and 1)"""
    x = np.array(fixtures.ROPE_X)
    got = student.apply_rope(x)
    assert_close(
        got,
        fixtures.ROPE,
        call=f"apply_rope(x {x.tolist()})",
        mistakes=rope_mistakes(x, None, 10000.0),
    )


@pytest.mark.weight(2)
def test_rope_pairs(student) -> None:
    """rope pairs interleaved dimensions (2i, 2i+1)"""
    x = np.array(fixtures.ROPE_PAIRS_X)
    got = student.apply_rope(x)
    assert_close(
        got,
        fixtures.ROPE_PAIRS,
        call=f"apply_rope(x {x.tolist()})",
        mistakes={SPLIT_HALF: fixtures.ROPE_PAIRS_SPLIT_HALF, **rope_mistakes(x, None, 10000.0)},
    )


def test_rope_positions_hand(student) -> None:
    """rope by hand with positions [5, 2, 9]"""
    x, positions = np.array(fixtures.ROPE_POSITIONS_X), np.array(fixtures.ROPE_POSITIONS)
    got = student.apply_rope(x, positions=positions)
    assert_close(
        got,
        fixtures.ROPE_POSITIONED,
        call=f"apply_rope(x {x.tolist()}, positions={positions.tolist()})",
        mistakes=rope_mistakes(x, positions, 10000.0),
    )


@pytest.mark.parametrize(
    ("seed", "shape", "base"),
    [(0, (5, 4), 10000.0), (1, (2, 3, 6), 10000.0), (2, (2, 2, 4, 8), 10000.0), (3, (6, 8), 500.0)],
    ids=["5x4", "2x3x6", "2x2x4x8", "6x8-base500"],
)
def test_rope_reference(student, seed: int, shape: tuple[int, ...], base: float) -> None:
    """rope matches the reference"""
    (x,) = _random(seed, shape)
    got = student.apply_rope(x, base=base)
    assert_close(
        got,
        reference.apply_rope(x, base=base),
        call=f"apply_rope(x {shape}, base={base}), x from np.random.default_rng({seed})",
        mistakes=rope_mistakes(x, None, base),
    )


@pytest.mark.parametrize(
    ("seed", "shape", "positions"),
    [(4, (2, 3, 4), [5, 2, 9]), (5, (4, 6), [0, 7, 7, 3])],
    ids=["5-2-9", "0-7-7-3"],
)
def test_rope_positions(student, seed: int, shape: tuple[int, ...], positions: list[int]) -> None:
    """rope uses the given positions"""
    (x,) = _random(seed, shape)
    where = np.array(positions)
    got = student.apply_rope(x, positions=where)
    assert_close(
        got,
        reference.apply_rope(x, positions=where),
        call=f"apply_rope(x {shape}, positions={positions}), x from np.random.default_rng({seed})",
        mistakes=rope_mistakes(x, where, 10000.0),
    )


def test_rope_leading_axes(student) -> None:
    """rope on (batch, heads, L, D)"""
    (x,) = _random(6, (2, 3, 5, 4))
    positions = np.array([1, 4, 0, 8, 2])
    call = f"apply_rope(x (2, 3, 5, 4), positions={positions.tolist()}), np.random.default_rng(6)"
    got = student.apply_rope(x, positions=positions)
    assert_close(
        got,
        reference.apply_rope(x, positions=positions),
        call=call,
        mistakes=rope_mistakes(x, positions, 10000.0),
    )


@pytest.mark.weight(2)
def test_rope_relative(student) -> None:
    """rope scores depend only on m - n"""
    dim = 8
    q, k = _random(7, (dim,), (dim,))
    for m, n, shift in [(3, 1, 4), (0, 6, 5), (2, 2, 7), (4, 4, -4), (9, 4, -4)]:
        call = (
            f"apply_rope(q, positions=[{m}, {m + shift}]) and "
            f"apply_rope(k, positions=[{n}, {n + shift}]), q and k (2, {dim}) "
            "(one vector twice) from np.random.default_rng(7)"
        )
        rotated_q = student.apply_rope(np.stack([q, q]), positions=np.array([m, m + shift]))
        rotated_k = student.apply_rope(np.stack([k, k]), positions=np.array([n, n + shift]))
        assert_shape(rotated_q, (2, dim), call=call)
        assert_shape(rotated_k, (2, dim), call=call)
        rotated_q, rotated_k = np.asarray(rotated_q, float), np.asarray(rotated_k, float)
        first = float(rotated_q[0] @ rotated_k[0])
        second = float(rotated_q[1] @ rotated_k[1])
        scale = float(np.linalg.norm(q) * np.linalg.norm(k))  # |q . k| <= |q| |k|
        if not np.isclose(second, first, rtol=1e-4, atol=1e-6 * scale):
            raise Mismatch(
                "q . k after RoPE should depend only on the distance m - n",
                call=call,
                expected=f"score(m={m + shift}, n={n + shift}) = score(m={m}, n={n}) = {first:.6g}",
                got=f"score(m={m + shift}, n={n + shift}) = {second:.6g}",
                diagnosis="the angle must be position * theta_i, the same rotation for q and k, "
                "so that only the angle difference (m - n) * theta_i is left in q . k",
            )


def test_rope_norms(student) -> None:
    """rope keeps the length of each pair"""
    (x,) = _random(8, (2, 5, 8))
    positions = np.array([3, 0, 7, 1, 12])
    call = f"apply_rope(x (2, 5, 8), positions={positions.tolist()}), np.random.default_rng(8)"
    got = student.apply_rope(x, positions=positions)
    assert_shape(got, x.shape, call=call)
    got = np.asarray(got, dtype=np.float64)
    split = _rope(x, positions, 10000.0, layout="split")
    assert_close(
        np.hypot(got[..., 0::2], got[..., 1::2]),
        np.hypot(x[..., 0::2], x[..., 1::2]),
        call=call,
        what="length of each pair (out[2i], out[2i+1])",
        mistakes={SPLIT_HALF: np.hypot(split[..., 0::2], split[..., 1::2])},
    )


@pytest.mark.visible
def test_rope_odd(student) -> None:
    """rope: odd D raises ValueError"""
    (x,) = _random(9, (3, 5))
    assert_raises("ValueError", student.apply_rope, x, call="apply_rope(x (3, 5))")


# --- all -------------------------------------------------------------------------------------


def test_inputs_unchanged(student) -> None:
    """inputs are not modified"""
    x, table = _random(10, (2, 3, 4), (5, 4))
    positions = np.array([4, 1, 6])
    arguments = {"x": x, "table": table, "positions": positions}
    copies = {name: value.copy() for name, value in arguments.items()}
    student.add_learned_positions(x, table)  # the handle also fails a call that writes its input
    student.apply_rope(x, positions=positions)
    for name, value in arguments.items():
        if not np.array_equal(value, copies[name]):
            raise Mismatch(
                f"{name} was modified in place",
                call="add_learned_positions(x, table), apply_rope(x, positions=positions)",
                diagnosis="work on new arrays (`out = x + ...`), not `x[...] = ...` or `x += ...`",
            )
