"""The `position_bias` reference against independent oracles: Hugging Face's
`T5Attention._relative_position_bucket` and `compute_bias` transcribed into torch (transformers
4.x, src/transformers/models/t5/modeling_t5.py; the logarithm in float32 as there) and into
plain Python (float64), the ALiBi authors' `get_slopes`
(github.com/ofirpress/attention_with_linear_biases, fairseq/models/transformer.py), loops for
the ALiBi bias, and `torch.nn.functional.scaled_dot_product_attention` with an additive float
mask. It also checks that every setting the grader uses is one where Hugging Face's float32
buckets equal numpy's."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from transformer_kit.graders import test_position_bias as grader
from transformer_kit.graders.fixtures import position_bias as fixtures
from transformer_kit.solutions import position_bias as solution


def hf_relative_position_bucket(
    relative_position: torch.Tensor, bidirectional=True, num_buckets=32, max_distance=128
) -> torch.Tensor:
    """T5Attention._relative_position_bucket, as transformers writes it."""
    relative_buckets = 0
    if bidirectional:
        num_buckets //= 2
        relative_buckets += (relative_position > 0).to(torch.long) * num_buckets
        relative_position = torch.abs(relative_position)
    else:
        relative_position = -torch.min(relative_position, torch.zeros_like(relative_position))
    # now relative_position is in the range [0, inf)

    # half of the buckets are for exact increments in positions
    max_exact = num_buckets // 2
    is_small = relative_position < max_exact

    # The other half of the buckets are for logarithmically bigger bins in positions up to
    # max_distance
    relative_position_if_large = max_exact + (
        torch.log(relative_position.float() / max_exact)
        / math.log(max_distance / max_exact)
        * (num_buckets - max_exact)
    ).to(torch.long)
    relative_position_if_large = torch.min(
        relative_position_if_large, torch.full_like(relative_position_if_large, num_buckets - 1)
    )

    relative_buckets += torch.where(is_small, relative_position, relative_position_if_large)
    return relative_buckets


def python_bucket(relative: int, bidirectional: bool, num_buckets: int, max_distance: int) -> int:
    """The same formula, one offset at a time in Python floats (float64)."""
    bucket = 0
    if bidirectional:
        num_buckets //= 2
        bucket += num_buckets if relative > 0 else 0
        n = abs(relative)
    else:
        n = -min(relative, 0)
    max_exact = num_buckets // 2
    if n < max_exact:
        return bucket + n
    large = max_exact + int(
        math.log(n / max_exact) / math.log(max_distance / max_exact) * (num_buckets - max_exact)
    )
    return bucket + min(large, num_buckets - 1)


def get_slopes(n: int) -> list[float]:
    """The ALiBi authors' get_slopes, verbatim but for formatting."""

    def get_slopes_power_of_2(n: int) -> list[float]:
        start = 2 ** (-(2 ** -(math.log2(n) - 3)))
        ratio = start
        return [start * ratio**i for i in range(n)]

    if math.log2(n).is_integer():
        return get_slopes_power_of_2(n)
    closest_power_of_2 = 2 ** math.floor(math.log2(n))
    return (
        get_slopes_power_of_2(closest_power_of_2)
        + get_slopes(2 * closest_power_of_2)[0::2][: n - closest_power_of_2]
    )


# every (bidirectional, num_buckets, max_distance) the grader and its fixtures use
GRADED_SETTINGS = sorted(
    {(True, 32, 128), (False, 32, 128), (True, 8, 8)}
    | {(b, n, d) for _, _, b, n, d in grader.BUCKET_CASES}
    | {(b, n, d) for _, _, _, n, _, b, d in grader.BIAS_CASES}
    | {(True, 32, 128), (False, 32, 128)}  # test_attention_random's t5_bias
)
OFFSETS = np.arange(-2000, 2001)


@pytest.mark.parametrize("settings", GRADED_SETTINGS, ids=str)
def test_graded_settings_agree_with_hugging_face_float32(settings) -> None:
    got = solution.t5_bucket(OFFSETS, *settings)
    assert got.dtype == np.int64 and got.shape == OFFSETS.shape
    hf = hf_relative_position_bucket(torch.tensor(OFFSETS), *settings).numpy()
    np.testing.assert_array_equal(got, hf)
    plain = [python_bucket(int(r), *settings) for r in OFFSETS]
    np.testing.assert_array_equal(got, plain)


def test_the_contracts_caveat_is_real() -> None:
    """Elsewhere float32 and float64 truncate differently, which is why only agreeing settings are
    graded: with 18 buckets, max_distance 128, offset -64 (found by a search over settings), the
    ratio log(64 / 4) / log(128 / 4) * (9 - 4) is 4 in exact arithmetic; Hugging Face's float32
    gives bucket 8, float64 (the reference, in T5's order of operations) 7."""
    offset = np.array([-64])
    assert solution.t5_bucket(offset, True, 18, 128).tolist() == [7]
    assert python_bucket(-64, True, 18, 128) == 7
    assert hf_relative_position_bucket(torch.tensor(offset), True, 18, 128).tolist() == [8]


def hf_compute_bias(
    query_length: int, key_length: int, table: np.ndarray, bidirectional: bool, max_distance: int
) -> np.ndarray:
    """T5Attention.compute_bias with relative_attention_bias = nn.Embedding(num_buckets, H)."""
    context_position = torch.arange(query_length, dtype=torch.long)[:, None]
    memory_position = torch.arange(key_length, dtype=torch.long)[None, :]
    relative_position = memory_position - context_position  # shape (query_length, key_length)
    relative_position_bucket = hf_relative_position_bucket(
        relative_position,
        bidirectional=bidirectional,
        num_buckets=table.shape[0],
        max_distance=max_distance,
    )
    embedding = torch.nn.Embedding.from_pretrained(torch.tensor(table))
    values = embedding(relative_position_bucket)  # (query_length, key_length, n_heads)
    return values.permute([2, 0, 1]).numpy()  # (n_heads, query_length, key_length)


@pytest.mark.parametrize(
    "seed, query_len, key_len, num_buckets, heads, bidirectional, max_distance", grader.BIAS_CASES
)
def test_bias_matches_compute_bias(
    seed, query_len, key_len, num_buckets, heads, bidirectional, max_distance
) -> None:
    table = np.random.default_rng(seed).standard_normal((num_buckets, heads))
    got = solution.t5_bias(query_len, key_len, table, bidirectional, max_distance)
    want = hf_compute_bias(query_len, key_len, table, bidirectional, max_distance)
    assert got.shape == (heads, query_len, key_len)
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("num_heads", range(1, 65))
def test_slopes_match_get_slopes(num_heads: int) -> None:
    got = solution.alibi_slopes(num_heads)
    assert got.shape == (num_heads,)
    np.testing.assert_allclose(got, get_slopes(num_heads), rtol=1e-14)


@pytest.mark.parametrize("seq_len, num_heads", [(5, 6), (4, 12), (3, 20), (7, 8), (1, 1)])
def test_alibi_bias_by_loops_and_bloom_attends_the_same(seq_len: int, num_heads: int) -> None:
    slopes = get_slopes(num_heads)
    got = solution.alibi_bias(seq_len, num_heads)
    for h in range(num_heads):
        for i in range(seq_len):
            for j in range(seq_len):
                assert got[h, i, j] == pytest.approx(slopes[h] * (j - i), rel=1e-14, abs=0)
    # Bloom's and fairseq's slopes * j: another bias, the same causal attention
    rng = np.random.default_rng(seq_len)
    q, k, v = (rng.standard_normal((num_heads, seq_len, 4)) for _ in range(3))
    bloom = np.array(slopes)[:, None, None] * np.arange(seq_len)
    np.testing.assert_allclose(
        solution.attention_with_bias(q, k, v, got, causal=True),
        solution.attention_with_bias(q, k, v, bloom, causal=True),
        rtol=1e-12,
        atol=1e-12,
    )


@pytest.mark.parametrize(
    "seed, heads, length, keys, d, d_v, causal",
    [
        (0, 6, 5, 5, 4, 3, True),
        (1, 2, 3, 6, 8, 8, False),
        (2, 12, 6, 6, 4, 4, True),
        (3, 3, 4, 7, 2, 5, False),
        (4, 1, 1, 1, 3, 2, True),
    ],
)
def test_attention_matches_scaled_dot_product_attention(
    seed, heads, length, keys, d, d_v, causal
) -> None:
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((heads, length, d))
    k = rng.standard_normal((heads, keys, d))
    v = rng.standard_normal((heads, keys, d_v))
    bias = rng.standard_normal((heads, length, keys))
    got = solution.attention_with_bias(q, k, v, bias, causal=causal)
    mask = torch.tensor(bias)
    if causal:
        future = torch.ones(length, keys, dtype=torch.bool).triu(1)
        mask = mask.masked_fill(future, float("-inf"))
    want = torch.nn.functional.scaled_dot_product_attention(
        torch.tensor(q), torch.tensor(k), torch.tensor(v), attn_mask=mask
    )
    np.testing.assert_allclose(got, want.numpy(), rtol=1e-12, atol=1e-12)


def test_hand_fixtures_are_the_solutions_values() -> None:
    for offsets, buckets, settings in (
        (fixtures.BIDIRECTIONAL_OFFSETS, fixtures.BIDIRECTIONAL_BUCKETS, (True, 32, 128)),
        (fixtures.CAUSAL_OFFSETS, fixtures.CAUSAL_BUCKETS, (False, 32, 128)),
    ):
        np.testing.assert_array_equal(solution.t5_bucket(np.array(offsets), *settings), buckets)
        hf = hf_relative_position_bucket(torch.tensor(offsets), *settings)
        np.testing.assert_array_equal(hf.numpy(), buckets)
    bias = solution.t5_bias(
        fixtures.BIAS_QUERY_LEN,
        fixtures.BIAS_KEY_LEN,
        np.array(fixtures.BIAS_TABLE),
        True,
        fixtures.BIAS_MAX_DISTANCE,
    )
    np.testing.assert_array_equal(bias, fixtures.BIAS)
    for num_heads, slopes in fixtures.SLOPES:
        np.testing.assert_array_equal(solution.alibi_slopes(num_heads), slopes)
    got = solution.alibi_bias(fixtures.ALIBI_LEN, fixtures.ALIBI_HEADS)
    np.testing.assert_array_equal(got, fixtures.ALIBI)
    q, k, v, b = (
        np.array(a) for a in (fixtures.ATTN_Q, fixtures.ATTN_K, fixtures.ATTN_V, fixtures.ATTN_BIAS)
    )
    for causal, want in ((False, fixtures.ATTN_OUT), (True, fixtures.ATTN_OUT_CAUSAL)):
        got = solution.attention_with_bias(q, k, v, b, causal=causal)
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)


def test_errors_name_the_values() -> None:
    with pytest.raises(ValueError, match="num_heads=0"):
        solution.alibi_slopes(0)
    with pytest.raises(ValueError, match="num_heads=0"):
        solution.alibi_bias(3, 0)
    q = np.zeros((1, 3, 2))
    with pytest.raises(ValueError, match="L=3, S=4"):
        solution.attention_with_bias(q, np.zeros((1, 4, 2)), np.zeros((1, 4, 2)), 0.0, causal=True)
