"""Known-wrong and correct-but-different versions of solutions/warmups.py (constants redefined)."""

from __future__ import annotations

from catalogue import Variant

VARIANTS: list[Variant] = [
    # --- wrong ----------------------------------------------------------------------------------
    Variant(
        "losses after each step instead of before",
        passes=False,
        code="GD_LOSSES = [2.56, 0.1024, 0.004096]",
        message="the losses after each step",
    ),
    Variant(
        "weights list starts with w0",
        passes=False,
        code="GD_WEIGHTS = [5.0, 1.8, 1.16]",
        message="the list starts with w0",
    ),
    Variant(
        "dL/dW1 transposed (row layout)",
        passes=False,
        code="MLP_GRAD_W1 = [[0.0, 1.0], [0.0, 2.0]]",
        message="dL/dW1 is transposed",
    ),
    Variant(
        "dL/dW2 transposed (a column)",
        passes=False,
        code="MLP_GRAD_W2 = [[0.0], [1.5]]",
        message="dL/dW2 is transposed",
    ),
    Variant(
        "MLP output as a one-element list",
        passes=False,
        code="MLP_OUTPUT = [1.5]",
        message="write the single number itself",
    ),
    Variant(
        "momentum in the EMA form",
        passes=False,
        code="""
        MOMENTUM_VELOCITY = 0.9 * 0.1 + 0.1 * 0.2  # 0.11
        MOMENTUM_WEIGHT = 0.5 - 0.1 * 0.11  # 0.489
        """,
        message="the EMA form",
    ),
    Variant(
        "attention without 1/sqrt(d_k)",
        passes=False,
        code="""
        ATTENTION_WEIGHTS = [[0.7310586, 0.2689414], [0.2689414, 0.7310586]]
        ATTENTION_OUTPUT = [[1.5378828, 2.5378828], [2.4621172, 3.4621172]]
        """,
        message="no 1/sqrt(d_k) scaling",
    ),
    Variant(
        "softmax not normalised",
        passes=False,
        code="SOFTMAX_1_2_3 = [2.7182818, 7.3890561, 20.0855369]",
        message="softmax not normalised",
    ),
    Variant(
        "softmax([10, 20, 30]) taken equal to softmax([1, 2, 3])",
        passes=False,
        code="SOFTMAX_10_20_30 = [0.09, 0.2447, 0.6652]",
        message="not scale-invariant",
    ),
    Variant(
        "entropy in bits",
        passes=False,
        code="ENTROPY_07_02_01 = 1.1568",
        message="entropy in bits",
    ),
    Variant(
        "Bayes: base-rate neglect",
        passes=False,
        code="BAYES_POSTERIOR = 0.9",
        message="base-rate neglect",
    ),
    Variant(
        "GPT-2 with an untied head",
        passes=False,
        code="GPT2_SMALL_PARAMS = 163_037_184",
        message="untied lm_head",
    ),
    Variant(
        "GPT-2 without the final layer norm",
        passes=False,
        code="GPT2_SMALL_PARAMS = 124_438_272",
        message="final layer norm",
    ),
    Variant(
        "one answer left as None",
        passes=False,
        code="MLP_LOSS = None",
        message="not answered yet",
    ),
    # --- right ----------------------------------------------------------------------------------
    Variant(
        "answers written as expressions",
        passes=True,
        code="""
        import math

        _e = math.exp(1 / math.sqrt(2))
        _a = _e / (_e + 1)
        ATTENTION_WEIGHTS = [[_a, 1 - _a], [1 - _a, _a]]
        ATTENTION_OUTPUT = [[_a + 3 * (1 - _a), 2 * _a + 4 * (1 - _a)],
                            [(1 - _a) + 3 * _a, 2 * (1 - _a) + 4 * _a]]
        SOFTMAX_1_2_3 = [math.exp(k) / (math.exp(1) + math.exp(2) + math.exp(3)) for k in (1, 2, 3)]
        SOFTMAX_10_20_30 = [math.exp(k - 30) / sum(math.exp(j - 30) for j in (10, 20, 30))
                            for k in (10, 20, 30)]
        ENTROPY_07_02_01 = -sum(p * math.log(p) for p in (0.7, 0.2, 0.1))
        BAYES_POSTERIOR = 0.01 * 0.9 / (0.01 * 0.9 + 0.99 * 0.05)
        GD_LOSSES = [(5 * 2 - 2) ** 2, (1.8 * 2 - 2) ** 2, (1.16 * 2 - 2) ** 2]
        GPT2_SMALL_PARAMS = 50257 * 768 + 1024 * 768 + 12 * (
            4 * 768 * 768 + 4 * 768 + 2 * 768 * 3072 + 3072 + 768 + 4 * 768
        ) + 2 * 768
        """,
    ),
    Variant(
        "numpy arrays, tuples and ints",
        passes=True,
        code="""
        import numpy as np

        GD_WEIGHTS = np.array([1.8, 1.16, 1.032])
        MLP_HIDDEN = (0, 1.5)
        MLP_GRAD_W1 = ((0, 0), (1, 2))
        MLP_GRAD_W2 = np.array([[0, 1.5]], dtype=np.float32)
        MOMENTUM_VELOCITY = np.float64(0.29)
        GPT2_SMALL_PARAMS = np.int64(124439808)
        """,
    ),
    Variant(
        "rounded by hand to three decimals",
        passes=True,
        code="""
        ATTENTION_WEIGHTS = [[0.67, 0.33], [0.33, 0.67]]
        ATTENTION_OUTPUT = [[1.66, 2.66], [2.34, 3.34]]
        SOFTMAX_1_2_3 = [0.09, 0.245, 0.665]
        SOFTMAX_10_20_30 = [0.0, 0.0, 1.0]
        ENTROPY_07_02_01 = 0.802
        BAYES_POSTERIOR = 0.154
        """,
    ),
]
