"""Grader for scaling: FLOPs, compute-optimal sizes, wall-clock days, MFU, KV cache and ZeRO memory.

Every result is one real scalar. Floats are compared with rtol=1e-6 (the contract's tolerance for
this exercise), kv_cache_bytes exactly. When a value is wrong, it is compared with what each classic
mistake gives for the same arguments (2ND for training, D = N / 20, days as hours, a KV cache
without its factor 2, ZeRO stages mixed up, ...) and the failure names every mistake that matches.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import (
    Mismatch,
    as_array,
    assert_close,
    assert_raises,
    assert_shape,
    describe,
    unpack,
)
from transformer_kit.graders.fixtures import scaling as fixtures
from transformer_kit.solutions import scaling as reference

RTOL = 1e-6  # the contract's tolerance for scaling's floats
ATOL = 0.0  # no result here is near zero; an absolute tolerance would only hide small fractions
SECONDS_PER_DAY = 86400

# ----------------------------------------------------------------------------------------------
# The classic mistakes, by name (the names are what the learner reads after "likely mistake:").

FORWARD_ONLY = (
    "2 * N * D counts only the forward pass: training adds the backward pass (4ND, gradients for "
    "the activations and for the weights), 6 * N * D in all"
)
BACKWARD_ONLY = "4 * N * D is the backward pass alone: add the forward pass's 2ND, 6 * N * D in all"
RECOMPUTE = (
    "8 * N * D adds a recomputed forward pass (activation checkpointing): the training cost here "
    "is the model's 6 * N * D"
)
NO_SIX = "the 6 of 6 * N * D forgotten (2 FLOPs per multiply-add, forward 2ND + backward 4ND)"
HALF_FLOPS = (
    "a multiply-add counted as 1 FLOP (3 * N * D): it is 2 FLOPs, so forward 2ND + backward 4ND"
)

INVERTED_OR_SWAPPED = (
    "either D = N / tokens_per_param (it is D = tokens_per_param * N: 20 tokens for every "
    "parameter by default, far more tokens than parameters) or the two results swapped (return "
    "(n_params, n_tokens) in that order)"
)
CHIN_NO_SIX = "the 6 of compute = 6 * N * D forgotten: N = sqrt(compute / (6 * tokens_per_param))"
CHIN_TWO = (
    "compute = 2 * N * D used (the forward pass only): training costs 6 * N * D, so "
    "N = sqrt(compute / (6 * tokens_per_param))"
)
NO_SQRT = (
    "N = compute / (6 * tokens_per_param) without the square root: 6 * N * (tokens_per_param * N) "
    "= compute is quadratic in N"
)
TPP_IGNORED = "tokens_per_param ignored (20 hard-coded): use the argument"
TPP_OUTSIDE = (
    "N = sqrt(compute / 6) ignores that D = tokens_per_param * N: solve "
    "6 * tokens_per_param * N**2 = compute"
)

NO_ATTENTION_TERM = (
    "the attention term 2 * n_layers * context_len * d_model left out: the forward cost per "
    "token is 2 * N + 2 * n_layers * context_len * d_model"
)
ONE_FLOP_PER_PARAM = (
    "one FLOP per parameter (N): a multiply-add is 2 FLOPs, so the weights cost 2 * N per token"
)
ATTENTION_NO_2 = "the attention term without its factor 2: 2 * n_layers * context_len * d_model"
ATTENTION_DOUBLED = (
    "the attention term doubled (4 * n_layers * context_len * d_model): Kaplan's term is "
    "2 * n_layers * context_len * d_model"
)
ATTENTION_ONE_LAYER = (
    "the attention term counted for one layer: every one of the n_layers layers attends, "
    "2 * n_layers * context_len * d_model"
)
CONTEXT_SQUARED = (
    "context_len squared: per token, attention is linear in the context (one query against "
    "context_len keys), 2 * n_layers * context_len * d_model"
)
TRAINING_PER_TOKEN = (
    "6 * N is the training cost per token (forward and backward): the forward pass alone is 2 * N"
)

HALF_ATTENTION = (
    "2 * seq_len**2 * d_model is half: either only one of the two products (q @ k^T and "
    "weights @ v cost 2 * L * L * d each), or a causal halving (the contract counts the masked "
    "half too), or a multiply-add counted as 1 FLOP"
)
QUARTER_ATTENTION = (
    "seq_len**2 * d_model: one product with a multiply-add counted as 1 FLOP; count both "
    "products, 2 * m * k * n each: 4 * seq_len**2 * d_model"
)
L_D_SWAPPED = "seq_len and d_model swapped: 4 * seq_len**2 * d_model, not 4 * seq_len * d_model**2"
WITH_PROJECTIONS = (
    "the projections W_q, W_k, W_v, W_o (8 * seq_len * d_model**2) included: count only "
    "q @ k^T and weights @ v"
)
PER_QUERY = (
    "4 * seq_len * d_model is the cost for one query: a sequence has seq_len queries, "
    "4 * seq_len**2 * d_model"
)

AS_HOURS = "days computed as hours: divide the seconds by 86400 (24 * 3600), not by 3600"
AS_SECONDS = "returned seconds: divide them by 86400 for days"
AS_MINUTES = "returned minutes: divide the seconds by 86400 for days, not by 60"
MFU_WRONG_WAY = (
    "divided by mfu the wrong way (the peak divided by mfu): the GPUs achieve "
    "n_gpus * peak_flops_per_gpu * mfu FLOP/s"
)
MFU_LEFT_OUT = "mfu left out: the GPUs achieve only mfu * peak_flops_per_gpu FLOP/s each"
DAYS_TWO_ND = "2 * N * D is the forward pass only: training costs 6 * N * D FLOPs"
GPUS_LEFT_OUT = (
    "n_gpus left out (these are GPU-days): the cluster achieves n_gpus * peak * mfu FLOP/s"
)

PERCENT = "returned a percentage: MFU is a fraction (0.5 means 50%)"
MFU_TWO_N = (
    "2 * N * tokens_per_second counts only the forward pass: training does 6 * N FLOPs per token"
)
MFU_EIGHT_N = (
    "8 * N per token counts a recomputed forward pass (that is hardware FLOPs utilization): MFU "
    "counts the model's 6 * N"
)
MFU_NO_GPUS = (
    "n_gpus left out: tokens_per_second is the whole cluster's, so divide by the cluster's peak, "
    "n_gpus * peak_flops_per_gpu"
)
MFU_INVERTED = "inverted: MFU is achieved over peak, 6 * N * tokens_per_second / (n_gpus * peak)"

KV_NO_2 = "a KV cache without the factor 2: every layer stores keys AND values"
KV_VALUES = "counted values, not bytes: multiply by bytes_per_value"
KV_BYTES_IGNORED = "bytes_per_value ignored (2 hard-coded): use the argument"
KV_DEFAULT_4 = "bytes_per_value's default is 2 (fp16 or bf16), not 4"
KV_NO_LAYERS = "one layer only: every one of the n_layers layers has its own keys and values"
KV_NO_BATCH = "batch left out: every sequence of the batch has its own cache"
KV_GB = "returned GB (bytes / 1e9): the contract counts bytes"
KV_GIB = "returned GiB (bytes / 2**30): the contract counts bytes"
KV_MB = "returned MB (bytes / 1e6): the contract counts bytes"
KV_MIB = "returned MiB (bytes / 2**20): the contract counts bytes"

ZERO_PARTS = {
    0: "stage 0 is plain data parallelism and partitions nothing: every GPU holds all 16 * N",
    1: "stage 1 partitions only the 12 bytes of optimizer state: 4 * N + 12 * N / n_gpus",
    2: "stage 2 partitions the optimizer state and the 2 bytes of gradients: "
    "2 * N + 14 * N / n_gpus",
    3: "stage 3 partitions the weights too: 16 * N / n_gpus",
}
ZERO_EIGHT = (
    "the optimizer state counted as 8 bytes (Adam's m and v): mixed precision also keeps an "
    "fp32 master copy of the weights, 4 + 4 + 4 = 12 bytes (16 per parameter in all)"
)
ZERO_GB = "returned GB (bytes / 1e9): the contract counts bytes"
ZERO_GIB = "returned GiB (bytes / 2**30): the contract counts bytes"


def zero_swapped(stage: int, other: int) -> str:
    return f"ZeRO stages mixed up: stage {stage} computed as stage {other}; {ZERO_PARTS[stage]}"


ONE_NUMBER = (
    "return one number (a Python float or int, a numpy scalar, a 0-d array or tensor), not an "
    "array: np.array([x]) or keepdims=True makes shape (1,)"
)


# ----------------------------------------------------------------------------------------------
# What each classic mistake gives


def flops_mistakes(n: float, d: float) -> dict[str, float]:
    return {
        FORWARD_ONLY: 2 * n * d,
        BACKWARD_ONLY: 4 * n * d,
        RECOMPUTE: 8 * n * d,
        NO_SIX: n * d,
        HALF_FLOPS: 3 * n * d,
    }


def chinchilla_mistakes(compute: float, tpp: float) -> dict[str, tuple[float, float]]:
    def pair(n: float, tokens_per_param: float = tpp) -> tuple[float, float]:
        return n, tokens_per_param * n

    n = math.sqrt(compute / (6 * tpp))
    found = {
        INVERTED_OR_SWAPPED: (tpp * n, n),
        CHIN_NO_SIX: pair(math.sqrt(compute / tpp)),
        CHIN_TWO: pair(math.sqrt(compute / (2 * tpp))),
        NO_SQRT: pair(compute / (6 * tpp)),
        TPP_OUTSIDE: pair(math.sqrt(compute / 6)),
    }
    if tpp != 20:
        found[TPP_IGNORED] = pair(math.sqrt(compute / 120), 20.0)
    found[D_IS_N] = (n, n)
    found[D_IS_TPP] = (n, tpp)
    return found


def forward_mistakes(n: float, layers: int, context: int, d: int) -> dict[str, float]:
    attention = 2 * layers * context * d
    return {
        NO_ATTENTION_TERM: 2 * n,
        ONE_FLOP_PER_PARAM: n + attention,
        ONE_FLOP_PER_PARAM + " (and in the attention term too)": n + attention / 2,
        ATTENTION_NO_2: 2 * n + attention / 2,
        ATTENTION_DOUBLED: 2 * n + 2 * attention,
        ATTENTION_ONE_LAYER: 2 * n + 2 * context * d,
        CONTEXT_SQUARED: 2 * n + attention * context,
        TRAINING_PER_TOKEN: 6 * n + attention,
        TRAINING_PER_TOKEN + " (and 3 times the attention term)": 6 * n + 3 * attention,
    }


def attention_mistakes(seq_len: int, d: int) -> dict[str, float]:
    return {
        HALF_ATTENTION: 2 * seq_len**2 * d,
        QUARTER_ATTENTION: seq_len**2 * d,
        L_D_SWAPPED: 4 * seq_len * d**2,
        WITH_PROJECTIONS: 4 * seq_len**2 * d + 8 * seq_len * d**2,
        PER_QUERY: 4 * seq_len * d,
    }


def days_mistakes(n: float, d: float, gpus: int, peak: float, mfu: float) -> dict[str, float]:
    seconds = 6 * n * d / (gpus * peak * mfu)
    return {
        AS_HOURS: seconds / 3600,
        AS_SECONDS: seconds,
        AS_MINUTES: seconds / 60,
        MFU_WRONG_WAY: seconds * mfu**2 / SECONDS_PER_DAY,
        MFU_LEFT_OUT: seconds * mfu / SECONDS_PER_DAY,
        DAYS_TWO_ND: seconds / 3 / SECONDS_PER_DAY,
        GPUS_LEFT_OUT: seconds * gpus / SECONDS_PER_DAY,
        DAYS_EIGHT_N: seconds * 4 / 3 / SECONDS_PER_DAY,
    }


def mfu_mistakes(n: float, tps: float, gpus: int, peak: float) -> dict[str, float]:
    mfu = 6 * n * tps / (gpus * peak)
    return {
        PERCENT: 100 * mfu,
        MFU_TWO_N: mfu / 3,
        MFU_EIGHT_N: mfu * 4 / 3,
        MFU_NO_GPUS: mfu * gpus,
        MFU_INVERTED: 1 / mfu,
    }


def kv_mistakes(
    batch: int, seq_len: int, layers: int, heads: int, head_dim: int, per_value: int, default: bool
) -> dict[str, float]:
    exact = 2 * batch * seq_len * layers * heads * head_dim * per_value
    found: dict[str, float] = {KV_NO_2: exact / 2}
    if per_value != 1:
        found[KV_VALUES] = exact / per_value
    if default:
        found[KV_DEFAULT_4] = exact * 2
    elif per_value != 2:
        found[KV_BYTES_IGNORED] = exact / per_value * 2
    found[KV_NO_LAYERS] = exact / layers
    found[KV_NO_BATCH] = exact / batch
    for name, unit in ((KV_GB, 1e9), (KV_GIB, 2**30), (KV_MB, 1e6), (KV_MIB, 2**20)):
        found[name] = exact / unit
    return found


def zero_formulas(n: float, gpus: int, optimizer_bytes: float = 12) -> dict[int, float]:
    total = 4 + optimizer_bytes  # 2 bytes of weights, 2 of gradients, then the optimizer state
    return {
        0: total * n,
        1: 4 * n + optimizer_bytes * n / gpus,
        2: 2 * n + (optimizer_bytes + 2) * n / gpus,
        3: total * n / gpus,
    }


def zero_mistakes(n: float, gpus: int, stage: int) -> dict[str, float]:
    right = zero_formulas(n, gpus)
    found = {zero_swapped(stage, other): value for other, value in right.items() if other != stage}
    found[ZERO_EIGHT] = zero_formulas(n, gpus, optimizer_bytes=8)[stage]
    found[ZERO_GB] = right[stage] / 1e9
    found[ZERO_GIB] = right[stage] / 2**30
    if stage == 2:
        found[ZERO2_FP32_GRADS] = 2 * n + 18 * n / gpus
    return found


# ----------------------------------------------------------------------------------------------
# Checks


def number_text(value: Any) -> str:
    """1_000_000 for an int, 1.75e+11 or 0.5 or 5.0 for a float: how arguments are shown."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, int):
        return f"{value:_}" if abs(value) >= 10_000 else str(value)
    if value and (abs(value) >= 1e6 or abs(value) < 1e-4):
        mantissa, exponent = f"{value:.10e}".split("e")
        return f"{mantissa.rstrip('0').rstrip('.')}e{int(exponent):+03d}"
    text = f"{value:.10g}"
    return text if any(c in text for c in ".en") else text + ".0"


def call_text(name: str, args: Sequence[Any], kwargs: Mapping[str, Any], note: str = "") -> str:
    parts = [number_text(a) for a in args] + [f"{k}={number_text(v)}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)}){note}"


def matching(value: Any, mistakes: Mapping[str, float]) -> str:
    """Every mistake whose value `value` matches, "either A; or B" when several do."""
    try:
        got = float(np.asarray(value, dtype=np.float64))
    except (TypeError, ValueError):
        return ""
    names = [
        name
        for name, wrong in mistakes.items()
        if math.isfinite(got) and math.isclose(got, wrong, rel_tol=RTOL, abs_tol=ATOL)
    ]
    names = list(dict.fromkeys(names))
    return names[0] if len(names) == 1 else "either " + "; or ".join(names) if names else ""


def ratio_text(got: Any, expected: float) -> str:
    try:
        value = float(np.asarray(got, dtype=np.float64))
    except (TypeError, ValueError):
        return ""
    if not (math.isfinite(value) and expected and value):
        return ""
    return f"got / expected = {value / expected:.6g}"


def not_a_bool(got: Any, *, call: str, what: str) -> None:
    if isinstance(got, (bool, np.bool_)) or (isinstance(got, np.ndarray) and got.dtype.kind == "b"):
        raise Mismatch(f"the {what} is a bool, not a number", call=call, got=describe(got))


def wrong_shape(got: Any, *, call: str, what: str) -> None:
    """The Mismatch for a result that is an array, not one number."""
    try:
        assert_shape(got, (), call=call, what=what)
    except Mismatch as failure:
        failure.diagnosis = ONE_NUMBER
        raise


def check_real(
    got: Any,
    expected: float,
    *,
    call: str,
    what: str = "result",
    mistakes: Mapping[str, float] | None = None,
    diagnosis: str = "",
) -> float:
    """One real scalar within rtol=1e-6 of `expected`; returns it as a float."""
    not_a_bool(got, call=call, what=what)
    try:
        assert_close(got, expected, call=call, what=what, rtol=RTOL, atol=ATOL)
    except Mismatch as failure:
        failure.diagnosis = diagnosis or matching(got, mistakes or {}) or failure.diagnosis
        if "wrong shape" in failure.summary:
            failure.diagnosis = ONE_NUMBER
        if failure.summary.endswith("is wrong"):  # a finite scalar, off: show it in full
            failure.expected = number_text(float(expected))
            failure.got = number_text(float(np.asarray(got, dtype=np.float64)))
            failure.details = [text for text in (ratio_text(got, expected),) if text]
        raise
    return float(as_array(got, call=call, what=what))


def check_count(
    got: Any, expected: int, *, call: str, what: str, mistakes: Mapping[str, float]
) -> None:
    """A whole number equal to `expected` exactly (an int, or a float that is that int)."""
    if got is None:
        raise Mismatch(f"the {what} is None: did the function forget to `return`?", call=call)
    not_a_bool(got, call=call, what=what)
    array = as_array(got, call=call, what=what)  # a number or a Mismatch saying why not
    if array.shape != ():
        wrong_shape(got, call=call, what=what)
    raw = np.asarray(got)
    value = int(raw) if raw.dtype.kind in "iu" else float(raw)
    if isinstance(value, float) and not (math.isfinite(value) and value.is_integer()):
        raise Mismatch(
            f"the {what} is not a whole number",
            call=call,
            expected=f"int {expected:,}",
            got=describe(got),
            details=[text for text in (ratio_text(got, expected),) if text],
            diagnosis=matching(value, mistakes)
            or "a byte count is a whole number: keep the arithmetic in integers",
        )
    if int(value) != expected:
        raise Mismatch(
            f"the {what} is wrong",
            call=call,
            expected=f"{expected:,}",
            got=f"{int(value):,}",
            where=f"off by {int(value) - expected:+,}",
            details=[text for text in (ratio_text(got, expected),) if text],
            diagnosis=matching(value, mistakes),
        )


def expect_training_flops(student: Any, args: Sequence[Any], note: str = "") -> None:
    call = call_text("training_flops", args, {}, note)
    got = student.training_flops(*args)
    check_real(got, reference.training_flops(*args), call=call, mistakes=flops_mistakes(*args))


def expect_chinchilla(
    student: Any, args: Sequence[Any], kwargs: Mapping[str, Any], note: str = ""
) -> tuple[float, float]:
    call = call_text("chinchilla_optimal", args, kwargs, note)
    n_ref, d_ref = reference.chinchilla_optimal(*args, **kwargs)
    compute = args[0]
    tpp = args[1] if len(args) > 1 else kwargs.get("tokens_per_param", 20.0)
    mistakes = chinchilla_mistakes(compute, tpp)
    n, d = unpack(student.chinchilla_optimal(*args, **kwargs), 2, call=call)
    both = {  # the mistakes that give both results
        name: wrong_n
        for name, (wrong_n, wrong_d) in mistakes.items()
        if matching(n, {name: wrong_n}) and matching(d, {name: wrong_d})
    }
    diagnosis = matching(n, both)
    first = check_real(
        n,
        n_ref,
        call=call,
        what="n_params (first result)",
        mistakes={name: pair[0] for name, pair in mistakes.items()},
        diagnosis=diagnosis,
    )
    second = check_real(
        d,
        d_ref,
        call=call,
        what="n_tokens (second result)",
        mistakes={name: pair[1] for name, pair in mistakes.items()},
    )
    return first, second


def expect_forward(student: Any, args: Sequence[Any], note: str = "") -> None:
    call = call_text("forward_flops_per_token", args, {}, note)
    got = student.forward_flops_per_token(*args)
    check_real(
        got,
        reference.forward_flops_per_token(*args),
        call=call,
        mistakes=forward_mistakes(*args),
    )


def expect_attention(student: Any, args: Sequence[Any], note: str = "") -> None:
    call = call_text("attention_flops", args, {}, note)
    got = student.attention_flops(*args)
    check_real(got, reference.attention_flops(*args), call=call, mistakes=attention_mistakes(*args))


def expect_days(student: Any, args: Sequence[Any], note: str = "") -> float:
    call = call_text("training_days", args, {}, note)
    got = student.training_days(*args)
    return check_real(
        got,
        reference.training_days(*args),
        call=call,
        what="day count",
        mistakes=days_mistakes(*args),
    )


def expect_mfu(student: Any, args: Sequence[Any], note: str = "") -> float:
    call = call_text("model_flops_utilization", args, {}, note)
    got = student.model_flops_utilization(*args)
    return check_real(
        got,
        reference.model_flops_utilization(*args),
        call=call,
        what="MFU",
        mistakes=mfu_mistakes(*args),
    )


def expect_kv(student: Any, args: Sequence[Any], kwargs: Mapping[str, Any], note: str = "") -> None:
    call = call_text("kv_cache_bytes", args, kwargs, note)
    sizes = list(args) + [kwargs.get("bytes_per_value", 2)] * (len(args) == 5)
    default = len(args) == 5 and "bytes_per_value" not in kwargs
    got = student.kv_cache_bytes(*args, **kwargs)
    check_count(
        got,
        reference.kv_cache_bytes(*args, **kwargs),
        call=call,
        what="byte count",
        mistakes=kv_mistakes(*sizes, default=default),
    )


def expect_zero(student: Any, args: Sequence[Any], note: str = "") -> None:
    call = call_text("zero_memory_per_gpu", args, {}, note)
    got = student.zero_memory_per_gpu(*args)
    check_real(
        got,
        reference.zero_memory_per_gpu(*args),
        call=call,
        what="memory per GPU",
        mistakes=zero_mistakes(*args),
    )


def expect_bad_stage(student: Any, n_params: float, n_gpus: int, stage: int) -> None:
    call = call_text("zero_memory_per_gpu", (n_params, n_gpus, stage), {})
    try:
        text = assert_raises(
            "ValueError", student.zero_memory_per_gpu, n_params, n_gpus, stage, call=call
        )
    except Mismatch as failure:
        if "returned normally" in failure.summary:
            failure.diagnosis = (
                "only stages 0, 1, 2 and 3 exist: check the stage and raise ValueError for any "
                "other (an `else:` that returns a formula turns a typo into a number)"
            )
            if stage < 0:
                failure.diagnosis += "; a list indexed by stage takes -1 as its last item"
        elif "AssertionError" in failure.got:
            failure.diagnosis = (
                "use `raise ValueError(...)`, not `assert` (asserts vanish under -O)"
            )
        elif "KeyError" in failure.got or "IndexError" in failure.got:
            failure.diagnosis = (
                "a dict or list lookup failed on its own: check the stage yourself and raise "
                "ValueError naming it"
            )
        raise
    if str(stage) not in text:
        raise Mismatch(
            "raised ValueError, but the message does not name the offending stage",
            call=call,
            expected=f"a message like 'stage must be 0, 1, 2 or 3, got {stage}'",
            got=f"ValueError: {text}",
            diagnosis="put the stage you were given into the message (an f-string)",
        )


def log_uniform(rng: np.random.Generator, low: float, high: float) -> float:
    return float(np.exp(rng.uniform(np.log(low), np.log(high))))


SEEDS = [0, 1, 2]


def seed_note(seed: int) -> str:
    return f", drawn with seed={seed}"


def scalar_of(got: Any, *, call: str, what: str = "result") -> float:
    """One real scalar as a float, or a Mismatch saying why not (None, a bool, shape (1,), ...)."""
    if got is None:
        raise Mismatch(f"the {what} is None: did the function forget to `return`?", call=call)
    not_a_bool(got, call=call, what=what)
    array = as_array(got, call=call, what=what)
    if array.shape != ():
        wrong_shape(got, call=call, what=what)
    return float(array)


def check_law(
    name: str,
    calls: Sequence[tuple[tuple[Any, ...], dict[str, Any]]],
    factors: Sequence[float],
    law: str,
    student: Any,
    mistakes: Callable[..., Mapping[str, float]],
) -> None:
    """A property of one function: the result of each call is `factor` times the first call's.

    Checked on the learner's own results, before any comparison with the reference, so that a
    result of the wrong form (linear instead of quadratic, say) is named for the law it breaks."""
    results = []
    for args, kwargs in calls:
        call = call_text(name, args, kwargs)
        results.append((call, scalar_of(getattr(student, name)(*args, **kwargs), call=call)))
    (first_call, first), rest = results[0], results[1:]
    for (call, value), factor, (args, kwargs) in zip(rest, factors, calls[1:], strict=True):
        ratio = value / first if first else math.inf
        if not math.isclose(ratio, factor, rel_tol=RTOL):
            raise Mismatch(
                f"{law} does not hold",
                call=f"{first_call}, then {call}",
                expected=f"the second {factor:g} times the first",
                got=f"{ratio:.6g} times ({number_text(first)}, then {number_text(value)})",
                diagnosis=matching(value, mistakes(*args, **kwargs))
                or matching(first, mistakes(*calls[0][0], **calls[0][1])),
            )


# ----------------------------------------------------------------------------------------------
# training_flops


@pytest.mark.weight(2)
@pytest.mark.parametrize("case", fixtures.TRAINING_FLOPS, ids=["small", "gpt3", "chinchilla"])
def test_training_flops_hand(student: Any, case: fixtures.Case) -> None:
    """training_flops on hand examples (GPT-3: 3.15e23)"""
    args, _, expected = case
    call = call_text("training_flops", args, {})
    got = student.training_flops(*args)
    check_real(got, expected, call=call, mistakes=flops_mistakes(*args))


@pytest.mark.parametrize("seed", SEEDS)
def test_training_flops_random(student: Any, seed: int) -> None:
    """training_flops matches the reference at other sizes"""
    rng = np.random.default_rng(seed)
    args = (log_uniform(rng, 1e6, 1e12), log_uniform(rng, 1e8, 1e13))
    expect_training_flops(student, args, seed_note(seed))


def test_training_flops_linear(student: Any) -> None:
    """training_flops doubles with N and with D"""
    calls = [((3e9, 5e10), {}), ((6e9, 5e10), {}), ((3e9, 1e11), {}), ((6e9, 1e11), {})]
    law = "training_flops proportional to N and to D"
    check_law("training_flops", calls, [2, 2, 4], law, student, flops_mistakes)
    for args, _ in calls:
        expect_training_flops(student, args)


# ----------------------------------------------------------------------------------------------
# chinchilla_optimal


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "case", fixtures.CHINCHILLA, ids=["default", "tpp5", "tpp30-positional", "chinchilla"]
)
def test_chinchilla_hand(student: Any, case: fixtures.Case) -> None:
    """chinchilla_optimal on hand examples (5.76e23 FLOPs: about 70B and 1.4T)"""
    args, kwargs, (n_ref, d_ref) = case
    assert np.allclose(reference.chinchilla_optimal(*args, **kwargs), (n_ref, d_ref), rtol=1e-12)
    expect_chinchilla(student, args, kwargs)


@pytest.mark.parametrize("seed", SEEDS)
def test_chinchilla_random(student: Any, seed: int) -> None:
    """chinchilla_optimal matches the reference for other budgets"""
    rng = np.random.default_rng(seed)
    compute = log_uniform(rng, 1e18, 1e26)
    tpp = float(rng.uniform(2.0, 60.0))
    expect_chinchilla(student, (compute,), {"tokens_per_param": tpp}, seed_note(seed))


def test_chinchilla_spends_the_budget(student: Any) -> None:
    """chinchilla_optimal: 6 * N * D = compute and D / N = tokens_per_param"""
    for compute, tpp in [(3e21, 20.0), (1e24, 12.5), (8e19, 40.0)]:
        args, kwargs = (compute,), {"tokens_per_param": tpp}
        call = call_text("chinchilla_optimal", args, kwargs)
        n, d = unpack(student.chinchilla_optimal(*args, **kwargs), 2, call=call)
        n_value = as_array(n, call=call, what="n_params (first result)")
        d_value = as_array(d, call=call, what="n_tokens (second result)")
        if n_value.shape == d_value.shape == ():
            spent, ratio = 6 * float(n_value) * float(d_value), float(d_value) / float(n_value)
            if not math.isclose(spent, compute, rel_tol=1e-6) or not math.isclose(
                ratio, tpp, rel_tol=1e-6
            ):
                problems = (
                    []
                    if math.isclose(spent, compute, rel_tol=1e-6)
                    else [f"6 * N * D = {spent:.6g}, not the budget {compute:.6g}"]
                )
                if not math.isclose(ratio, tpp, rel_tol=1e-6):
                    problems.append(f"D / N = {ratio:.6g}, not tokens_per_param = {tpp:g}")
                raise Mismatch(
                    "the model and data do not spend the budget as the contract says",
                    call=call,
                    expected=f"6 * N * D = {compute:.6g} and D / N = {tpp:g}",
                    got=f"N = {float(n_value):.6g}, D = {float(d_value):.6g}",
                    details=problems,
                    diagnosis=matching(
                        n, {k: v[0] for k, v in chinchilla_mistakes(compute, tpp).items()}
                    )
                    or matching(d, {k: v[1] for k, v in chinchilla_mistakes(compute, tpp).items()}),
                )
        expect_chinchilla(student, args, kwargs)


def test_chinchilla_square_root(student: Any) -> None:
    """chinchilla_optimal: 4 times the compute gives 2 times N and D"""
    computes = (1e21, 4e21, 1.6e22)
    pairs = []
    for compute in computes:
        call = call_text("chinchilla_optimal", (compute,), {})
        n, d = unpack(student.chinchilla_optimal(compute), 2, call=call)
        pairs.append((scalar_of(n, call=call, what="n_params"), scalar_of(d, call=call)))
    for which, what in enumerate(("n_params", "n_tokens")):
        ratios = [pair[which] / pairs[0][which] if pairs[0][which] else 0.0 for pair in pairs]
        if not all(
            math.isclose(r, f, rel_tol=RTOL) for r, f in zip(ratios, (1, 2, 4), strict=True)
        ):
            raise Mismatch(
                f"{what} does not grow as the square root of the compute",
                call=", then ".join(call_text("chinchilla_optimal", (c,), {}) for c in computes),
                expected="2 and 4 times the first (compute = 6 * tokens_per_param * N**2)",
                got=" and ".join(f"{r:.6g}" for r in ratios[1:]) + " times the first",
                diagnosis=NO_SQRT if math.isclose(ratios[1], 4, rel_tol=RTOL) else "",
            )
    for compute in computes:
        expect_chinchilla(student, (compute,), {})


# ----------------------------------------------------------------------------------------------
# forward_flops_per_token


@pytest.mark.weight(2)
@pytest.mark.parametrize("case", fixtures.FORWARD, ids=["small", "gpt3", "context1"])
def test_forward_hand(student: Any, case: fixtures.Case) -> None:
    """forward_flops_per_token on hand examples"""
    args, _, expected = case
    call = call_text("forward_flops_per_token", args, {})
    got = student.forward_flops_per_token(*args)
    check_real(got, expected, call=call, mistakes=forward_mistakes(*args))


@pytest.mark.parametrize("seed", SEEDS)
def test_forward_random(student: Any, seed: int) -> None:
    """forward_flops_per_token matches the reference at other sizes"""
    rng = np.random.default_rng(seed)
    layers, d = int(rng.integers(2, 97)), 64 * int(rng.integers(1, 65))
    context = int(rng.integers(3, 8193))
    n = 12 * layers * d * d * float(rng.uniform(0.5, 2.0))  # about a transformer's N
    expect_forward(student, (n, layers, context, d), seed_note(seed))


def test_forward_long_context(student: Any) -> None:
    """forward_flops_per_token: the attention term grows linearly with the context"""
    n, layers, d = 85e6, 12, 768  # GPT-2 small's non-embedding N: attention dominates at 128k
    contexts = (1024, 2048, 3072, 131072)
    values = []
    for context in contexts:
        call = call_text("forward_flops_per_token", (n, layers, context, d), {})
        values.append(scalar_of(student.forward_flops_per_token(n, layers, context, d), call=call))
    step, next_step = values[1] - values[0], values[2] - values[1]
    if not math.isclose(step, next_step, rel_tol=1e-6) or not step:
        raise Mismatch(
            "each 1024 more positions of context should add the same FLOPs",
            call=", ".join(
                f"forward_flops_per_token({n:g}, {layers}, {c}, {d})" for c in contexts[:3]
            ),
            expected=f"equal steps of 2 * {layers} * 1024 * {d} = {2 * layers * 1024 * d:,}",
            got=f"steps of {step:.6g} and {next_step:.6g}",
            diagnosis=matching(values[1], forward_mistakes(n, layers, contexts[1], d)),
        )
    for context in contexts:
        expect_forward(student, (n, layers, context, d))


# ----------------------------------------------------------------------------------------------
# attention_flops


@pytest.mark.weight(2)
@pytest.mark.parametrize("case", fixtures.ATTENTION, ids=["3x2", "5x8", "gpt2"])
def test_attention_hand(student: Any, case: fixtures.Case) -> None:
    """attention_flops on hand examples (L=3, d=2: 72)"""
    args, _, expected = case
    call = call_text("attention_flops", args, {})
    got = student.attention_flops(*args)
    check_real(got, expected, call=call, mistakes=attention_mistakes(*args))


@pytest.mark.parametrize("seed", SEEDS)
def test_attention_random(student: Any, seed: int) -> None:
    """attention_flops matches the reference at other sizes"""
    rng = np.random.default_rng(seed)
    args = (int(rng.integers(2, 32769)), int(rng.integers(2, 16385)))
    expect_attention(student, args, seed_note(seed))


def test_attention_quadratic(student: Any) -> None:
    """attention_flops: twice the length costs 4 times, twice the width 2 times"""
    calls = [((7, 3), {}), ((14, 3), {}), ((28, 3), {}), ((7, 6), {})]
    law = "attention_flops quadratic in seq_len and linear in d_model"
    check_law("attention_flops", calls, [4, 16, 2], law, student, attention_mistakes)
    for args, _ in calls:
        expect_attention(student, args)


# ----------------------------------------------------------------------------------------------
# training_days


@pytest.mark.weight(2)
@pytest.mark.parametrize("case", fixtures.TRAINING_DAYS, ids=["two-days", "gpt3-a100"])
def test_training_days_hand(student: Any, case: fixtures.Case) -> None:
    """training_days on hand examples (8.64e19 FLOPs at 5e14 FLOP/s: 2 days)"""
    args, _, expected = case
    call = call_text("training_days", args, {})
    got = student.training_days(*args)
    check_real(got, expected, call=call, what="day count", mistakes=days_mistakes(*args))


@pytest.mark.parametrize("seed", SEEDS)
def test_training_days_random(student: Any, seed: int) -> None:
    """training_days matches the reference for other runs"""
    rng = np.random.default_rng(seed)
    args = (
        log_uniform(rng, 1e8, 1e12),
        log_uniform(rng, 1e10, 1e13),
        int(rng.integers(2, 4097)),
        float(rng.choice([125e12, 312e12, 989e12])),
        float(rng.uniform(0.2, 0.7)),
    )
    expect_days(student, args, seed_note(seed))


def test_training_days_more_gpus(student: Any) -> None:
    """training_days: twice the GPUs, half the days"""
    calls = [((13e9, 1e12, gpus, 312e12, 0.45), {}) for gpus in (64, 128, 256)]
    law = "training_days inversely proportional to n_gpus"
    check_law("training_days", calls, [0.5, 0.25], law, student, days_mistakes)
    for args, _ in calls:
        expect_days(student, args)


def test_days_agree_with_mfu(student: Any) -> None:
    """training_days at the MFU of a run equals its tokens / throughput"""
    n, tokens, gpus, peak, tps = 7e9, 2e12, 512, 312e12, 3.2e6
    mfu = expect_mfu(student, (n, tps, gpus, peak))
    args = (n, tokens, gpus, peak, mfu)
    call = call_text("training_days", args, {}, f" (mfu from {tps:g} tokens/s)")
    got = student.training_days(*args)
    days = tokens / tps / SECONDS_PER_DAY  # 2e12 tokens at 3.2e6 tokens/s: 7.2338 days
    check_real(got, days, call=call, what="day count", mistakes=days_mistakes(*args))


# ----------------------------------------------------------------------------------------------
# model_flops_utilization


@pytest.mark.weight(2)
@pytest.mark.parametrize("case", fixtures.MFU, ids=["half", "a100-cluster"])
def test_mfu_hand(student: Any, case: fixtures.Case) -> None:
    """model_flops_utilization on hand examples (0.5)"""
    args, _, expected = case
    call = call_text("model_flops_utilization", args, {})
    got = student.model_flops_utilization(*args)
    check_real(got, expected, call=call, what="MFU", mistakes=mfu_mistakes(*args))


@pytest.mark.parametrize("seed", SEEDS)
def test_mfu_random(student: Any, seed: int) -> None:
    """model_flops_utilization matches the reference for other runs"""
    rng = np.random.default_rng(seed)
    n, gpus, peak = log_uniform(rng, 1e8, 1e12), int(rng.integers(2, 4097)), 312e12
    tps = float(rng.uniform(0.2, 0.7)) * gpus * peak / (6 * n)  # an MFU between 20% and 70%
    expect_mfu(student, (n, tps, gpus, peak), seed_note(seed))


# ----------------------------------------------------------------------------------------------
# kv_cache_bytes


@pytest.mark.weight(2)
@pytest.mark.parametrize("case", fixtures.KV_CACHE, ids=["default", "int8", "fp32", "llama2-70b"])
def test_kv_cache_hand(student: Any, case: fixtures.Case) -> None:
    """kv_cache_bytes on hand examples (Llama-2-70B at 4k: 1,342,177,280)"""
    args, kwargs, expected = case
    assert reference.kv_cache_bytes(*args, **kwargs) == expected
    expect_kv(student, args, kwargs)


@pytest.mark.parametrize("seed", SEEDS)
def test_kv_cache_random(student: Any, seed: int) -> None:
    """kv_cache_bytes matches the reference at other sizes"""
    rng = np.random.default_rng(seed)
    args = (
        int(rng.integers(2, 65)),
        int(rng.integers(2, 32769)),
        int(rng.integers(2, 97)),
        int(rng.integers(2, 17)),
        int(rng.choice([64, 80, 96, 128, 256])),
    )
    expect_kv(student, args, {"bytes_per_value": int(rng.choice([1, 4]))}, seed_note(seed))


def test_kv_cache_grouped_query(student: Any) -> None:
    """kv_cache_bytes: fewer KV heads, a proportionally smaller cache"""
    calls = [((4, 2048, 80, heads, 128), {}) for heads in (64, 8, 1)]  # MHA, GQA, MQA

    def mistakes(*sizes: int) -> dict[str, float]:
        return kv_mistakes(*sizes, 2, default=True)

    law = "kv_cache_bytes proportional to num_kv_heads"
    check_law("kv_cache_bytes", calls, [1 / 8, 1 / 64], law, student, mistakes)
    for args, kwargs in calls:
        expect_kv(student, args, kwargs)


# ----------------------------------------------------------------------------------------------
# zero_memory_per_gpu


@pytest.mark.weight(2)
@pytest.mark.parametrize(
    "case",
    fixtures.ZERO,
    ids=[f"{'small' if c[0][0] == 1000 else 'zero-paper'}-stage{c[0][2]}" for c in fixtures.ZERO],
)
def test_zero_hand(student: Any, case: fixtures.Case) -> None:
    """zero_memory_per_gpu on hand examples (7.5B on 64 GPUs: 120 / 31.4 / 16.6 / 1.9 GB)"""
    args, _, expected = case
    call = call_text("zero_memory_per_gpu", args, {})
    got = student.zero_memory_per_gpu(*args)
    check_real(got, expected, call=call, what="memory per GPU", mistakes=zero_mistakes(*args))


@pytest.mark.parametrize("seed", SEEDS)
def test_zero_random(student: Any, seed: int) -> None:
    """zero_memory_per_gpu matches the reference for other sizes, every stage"""
    rng = np.random.default_rng(seed)
    n, gpus = log_uniform(rng, 1e8, 1e12), int(rng.integers(2, 1025))
    for stage in range(4):
        expect_zero(student, (n, gpus, stage), seed_note(seed))


def test_zero_one_gpu(student: Any) -> None:
    """zero_memory_per_gpu: on one GPU every stage holds 16 bytes per parameter"""
    for stage in range(4):
        expect_zero(student, (3e9, 1, stage))


def test_zero_stage_3_splits_everything(student: Any) -> None:
    """zero_memory_per_gpu: stage 3 on n GPUs is stage 0 divided by n"""
    for gpus in (2, 16, 1000):
        calls = [((5e9, gpus, 0), {}), ((5e9, gpus, 3), {})]
        law = "stage 3 = stage 0 / n_gpus"
        check_law("zero_memory_per_gpu", calls, [1 / gpus], law, student, zero_mistakes)
        for args, _ in calls:
            expect_zero(student, args)


@pytest.mark.weight(2)
def test_zero_bad_stage(student: Any) -> None:
    """zero_memory_per_gpu: stages other than 0 to 3 raise ValueError naming the stage"""
    for stage in fixtures.ZERO_BAD_STAGES:
        expect_bad_stage(student, 1e9, 8, stage)


# ----------------------------------------------------------------------------------------------
# Conventions of public code that are mistakes here (issue 26)

DAYS_EIGHT_N = (
    "8 * N * D counts a recomputed forward pass (activation checkpointing, hardware FLOPs): the "
    "training cost here is the model's 6 * N * D, training_flops(n_params, n_tokens)"
)
ZERO2_FP32_GRADS = (
    "DeepSpeed's count with fp32 gradients kept (2 + 4 more bytes partitioned, 2 * N + 18 * N / "
    "n_gpus): this kit's stage 2 holds fp16 gradients, 2 * N + 14 * N / n_gpus"
)
D_IS_N = "the second result is N again: the number of tokens is D = tokens_per_param * N"
D_IS_TPP = (
    "the second result is tokens_per_param itself: the number of tokens is D = tokens_per_param * N"
)
