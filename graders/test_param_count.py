"""Grader for param_count: parameter_breakdown and count_parameters of a GPT-2-style model.

Counts are compared exactly. When a count is wrong, the value is checked against what each classic
mistake gives for the same sizes (final LayerNorm forgotten, biases forgotten, a tied lm_head
counted, ...) and the failure names the ones that match.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pytest

from transformer_kit.grader.compare import Mismatch, assert_raises, describe
from transformer_kit.grader.failures import StudentRaised
from transformer_kit.graders.fixtures import param_count as fixtures
from transformer_kit.solutions import param_count as reference

KEYS: list[str] = fixtures.KEYS
POSITIONS_WHEN_ZERO = (
    "position embeddings counted although max_seq_len=0 (0 means no learned positions, e.g. RoPE)"
)
Mistakes = list[tuple[str, dict[str, int]]]


# ---------------------------------------------------------------------------------------------
# What a call looks like, and what the classic mistakes give


def call_text(name: str, args: Sequence[int], kwargs: dict[str, Any], note: str = "") -> str:
    parts = [str(a) for a in args] + [f"{k}={v!r}" for k, v in kwargs.items()]
    return f"{name}({', '.join(parts)}){note}"


def settings(args: Sequence[int], kwargs: dict[str, Any]) -> dict[str, Any]:
    """All eight arguments by name, defaults filled in."""
    vocab, d_model, n_layers, n_heads, d_ff = args
    return {
        "vocab_size": vocab,
        "d_model": d_model,
        "n_layers": n_layers,
        "n_heads": n_heads,
        "d_ff": d_ff,
        "max_seq_len": kwargs.get("max_seq_len", 0),
        "bias": kwargs.get("bias", True),
        "tied_embeddings": kwargs.get("tied_embeddings", True),
    }


def mistakes(args: Sequence[int], kwargs: dict[str, Any]) -> Mistakes:
    """Classic mistakes, each with the breakdown entries it produces for these arguments."""
    s = settings(args, kwargs)
    vocab, d, layers, heads, d_ff = args
    positions, bias, tied = s["max_seq_len"], s["bias"], s["tied_embeddings"]

    def ref(**change: Any) -> dict[str, int]:  # the reference with one argument changed
        return reference.parameter_breakdown(**{**s, **change})

    found: Mistakes = []
    # attention
    if bias:
        found.append(
            (
                "attention biases forgotten: bias=True adds 4 bias vectors of d_model per layer "
                "(for W_q, W_k, W_v and W_o)",
                {"attention": ref(bias=False)["attention"]},
            )
        )
        found.append(
            (
                "the output projection's bias forgotten: 4 attention bias vectors per layer, not 3",
                {"attention": layers * (4 * d * d + 3 * d)},
            )
        )
    else:
        found.append(
            (
                "attention biases counted although bias=False",
                {"attention": ref(bias=True)["attention"]},
            )
        )
    w_o = (
        "3 attention matrices instead of 4: W_o (the d_model x d_model output projection) forgotten"
    )
    found.append((w_o, {"attention": layers * (3 * d * d + (3 * d if bias else 0))}))
    found.append((w_o, {"attention": layers * (3 * d * d + (4 * d if bias else 0))}))
    per_head = (
        "each head given full d_model x d_model matrices: the heads split d_model "
        "(d_k = d_model // n_heads), so n_heads does not change the count"
    )
    found.append((per_head, {"attention": layers * (4 * heads * d * d + (4 * d if bias else 0))}))
    found.append((per_head, {"attention": layers * heads * (4 * d * d + (4 * d if bias else 0))}))
    # mlp
    if bias:
        found.append(
            (
                "MLP biases forgotten: bias=True adds a d_ff and a d_model bias vector per layer",
                {"mlp": ref(bias=False)["mlp"]},
            )
        )
        found.append(
            (
                "only the first MLP bias (d_ff) counted: the second linear layer's bias "
                "(d_model) is missing",
                {"mlp": layers * (2 * d * d_ff + d_ff)},
            )
        )
        found.append(
            (
                "only the second MLP bias (d_model) counted: the first linear layer's bias "
                "(d_ff) is missing",
                {"mlp": layers * (2 * d * d_ff + d)},
            )
        )
        found.append(
            (
                "all biases forgotten: with bias=True attention and MLP linear layers have them",
                {"attention": ref(bias=False)["attention"], "mlp": ref(bias=False)["mlp"]},
            )
        )
    else:
        found.append(("MLP biases counted although bias=False", {"mlp": ref(bias=True)["mlp"]}))
        found.append(
            (
                "biases counted although bias=False",
                {"attention": ref(bias=True)["attention"], "mlp": ref(bias=True)["mlp"]},
            )
        )
    if d_ff != 4 * d:
        found.append(
            (
                "d_ff assumed to be 4 * d_model instead of the d_ff argument",
                {"mlp": ref(d_ff=4 * d)["mlp"]},
            )
        )
    found.append(
        (
            "only one MLP weight matrix counted: there are two (d_model -> d_ff -> d_model)",
            {"mlp": layers * (d * d_ff + ((d_ff + d) if bias else 0))},
        )
    )
    # layernorm
    shift = "LayerNorm counted with its scale only: each also has a shift vector of d_model"
    if not bias:
        shift += " (bias=False removes the linear layers' biases, not LayerNorm's shift)"
    final = "final LayerNorm forgotten: there is one after the last block, 2 * n_layers + 1 in all"
    found.append((final, {"layernorm": 2 * layers * 2 * d}))
    found.append((shift, {"layernorm": (2 * layers + 1) * d}))
    found.append((f"{final}; and {shift}", {"layernorm": 2 * layers * d}))
    found.append(
        (
            "one LayerNorm per layer instead of two (one before attention, one before the MLP)",
            {"layernorm": (layers + 1) * 2 * d},
        )
    )
    # lm_head
    if tied:
        tied_text = (
            "lm_head counted although tied_embeddings=True: it shares the token embedding's "
            "weight, so it adds 0"
        )
        found.append((tied_text, {"lm_head": vocab * d}))
        found.append((tied_text, {"lm_head": vocab * d + vocab}))
    else:
        found.append(
            (
                "lm_head not counted although tied_embeddings=False: an untied head has its own "
                "vocab_size x d_model weight",
                {"lm_head": 0},
            )
        )
        found.append(
            (
                "lm_head given a bias: the lm_head never has one (vocab_size x d_model only)",
                {"lm_head": vocab * d + vocab},
            )
        )
    # position embedding
    if positions:
        found.append(
            (
                f"position embeddings forgotten: max_seq_len={positions} learned position "
                "vectors of d_model each",
                {"position_embedding": 0},
            )
        )
    if positions != 1024:
        found.append(
            (
                POSITIONS_WHEN_ZERO
                if positions == 0
                else "a fixed 1024 positions (GPT-2's context) instead of max_seq_len",
                {"position_embedding": 1024 * d},
            )
        )
    # n_layers
    if layers > 1:
        one = ref(n_layers=1)
        found.append(
            (
                "per-layer counts not multiplied by n_layers",
                {key: one[key] for key in ("attention", "mlp", "layernorm")},
            )
        )
    return found


def key_diagnosis(key: str, got: int, expected: int, found: Mistakes, zero_positions: bool) -> str:
    """The mistakes that give `got` for `key`."""
    names = unique(name for name, values in found if values.get(key, expected) == got != expected)
    if not names and key == "position_embedding" and zero_positions and got != 0:
        names = [POSITIONS_WHEN_ZERO]
    return alternatives(names)


def total_diagnosis(got: int, right: dict[str, int], found: Mistakes) -> str:
    """The mistakes (whole, or in one part only) that give `got` as the total."""
    total = sum(right.values())
    singles = {next(iter(values.items())) for _, values in found if len(values) == 1}
    options = []
    for name, values in found:
        options.append((name, values))
        if len(values) > 1:  # the mistake made in one part only
            options += [
                (f"{name} (in {key})", {key: v})
                for key, v in values.items()
                if (key, v) not in singles
            ]
    names = [
        name
        for name, changed in options
        if total + sum(v - right[k] for k, v in changed.items()) == got != total
    ]
    return alternatives(unique(names))


def alternatives(names: list[str]) -> str:
    """One mistake as it is; several that give the same number as "either A; or B"."""
    return names[0] if len(names) == 1 else "either " + "; or ".join(names) if names else ""


def unique(names: Any) -> list[str]:
    return list(dict.fromkeys(names))


# ---------------------------------------------------------------------------------------------
# Checks


def count_of(got: Any, expected: int, *, call: str, what: str) -> int:
    """`got` as an int, or a Mismatch saying why a count must be one."""
    if got is None:
        raise Mismatch(f"the {what} is None: did the function forget to `return`?", call=call)
    if isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind in "iu":
        return int(got)  # a 0-d integer array (a torch integer tensor comes back as one)
    if isinstance(got, (int, np.integer)) and not isinstance(got, (bool, np.bool_)):
        return int(got)
    is_float = isinstance(got, (float, np.floating)) or (
        isinstance(got, np.ndarray) and got.shape == () and got.dtype.kind == "f"
    )
    if is_float:
        value = float(got)
        right = value == expected
        raise Mismatch(
            f"the {what} is a float, not an int",
            call=call,
            expected=f"int {expected:,}",
            got=f"{describe(got)}" + (" (the right value, as a float)" if right else ""),
            diagnosis="a parameter count is a whole number: keep the arithmetic in integers "
            "(`/` always makes a float in Python 3, even 768 / 12 is 64.0: use `//`), "
            "or return int(...)",
        )
    raise Mismatch(f"the {what} is not an int", call=call, expected="an int", got=describe(got))


def check_count(
    got: Any,
    args: Sequence[int],
    kwargs: dict[str, Any],
    *,
    call: str,
    what: str,
    student: Any = None,
) -> None:
    """count_parameters's result equals the reference's exactly. With `student`, a wrong total
    is explained by the learner's own breakdown when that shows mistakes the total hides."""
    right = reference.parameter_breakdown(*args, **kwargs)
    expected = sum(right.values())
    value = count_of(got, expected, call=call, what=what)
    if value != expected:
        found = mistakes(args, kwargs)
        parts = learner_parts(student, args, kwargs) if student is not None else None
        raise Mismatch(
            f"the {what} is wrong",
            call=call,
            expected=f"{expected:,}",
            got=f"{value:,}",
            where=f"off by {value - expected:+,}",
            diagnosis=cancelling_diagnosis(parts, value, right, found)
            or total_diagnosis(value, right, found),
        )


def learner_parts(
    student: Any, args: Sequence[int], kwargs: dict[str, Any]
) -> dict[str, int] | None:
    """The learner's parameter_breakdown for the same arguments, if it is a dict of six ints."""
    try:
        parts = student.parameter_breakdown(*args, **kwargs)
    except (Mismatch, StudentRaised):
        return None
    if not isinstance(parts, dict) or set(parts) != set(KEYS):
        return None
    if not all(isinstance(parts[k], (int, np.integer)) for k in KEYS):
        return None
    return {key: int(parts[key]) for key in KEYS}


def cancelling_diagnosis(
    parts: dict[str, int] | None, total: int, right: dict[str, int], found: Mistakes
) -> str:
    """When the learner's breakdown adds up to `total` but is wrong in parts that no single
    mistake explains, the mistakes it shows (their errors partly cancel in the total)."""
    if parts is None or sum(parts.values()) != total:
        return ""
    wrong = [key for key in KEYS if parts[key] != right[key]]
    for _, values in found:
        if set(wrong) <= set(values) and all(parts[k] == v for k, v in values.items()):
            return ""  # one mistake explains the breakdown: the total's diagnosis is the same
    named = []
    for key in wrong:
        text = key_diagnosis(key, parts[key], right[key], found, False)
        named.append(f"{key}: {text or f'{parts[key]:,} instead of {right[key]:,}'}")
    return (
        "parameter_breakdown with the same arguments shows mistakes that partly cancel in the "
        "total: " + "; ".join(named)
    )


def check_breakdown(got: Any, args: Sequence[int], kwargs: dict[str, Any], *, call: str) -> None:
    """parameter_breakdown's dict has the six keys and the reference's values exactly."""
    expected = reference.parameter_breakdown(*args, **kwargs)
    check_keys(got, call=call)
    counts = {
        key: count_of(got[key], expected[key], call=call, what=f"value of {key!r}") for key in KEYS
    }
    wrong = [key for key in KEYS if counts[key] != expected[key]]
    if not wrong:
        return
    found = mistakes(args, kwargs)
    zero_positions = settings(args, kwargs)["max_seq_len"] == 0
    texts = {
        key: key_diagnosis(key, counts[key], expected[key], found, zero_positions) for key in wrong
    }
    shared = [name for name, values in found if all(values.get(k) == counts[k] for k in wrong)]
    if len(wrong) > 1 and shared:  # one mistake explains every wrong part
        diagnoses = [f"{alternatives(unique(shared))} ({', '.join(wrong)})"]
    else:
        diagnoses = [f"{key}: {text}" for key, text in texts.items() if text]
    first = wrong[0]
    table = ["the parts:"] + [
        f"  {key:<19} expected {expected[key]:>13,}   got {counts[key]:>13,}"
        + ("   <- wrong" if key in wrong else "")
        for key in KEYS
    ]
    raise Mismatch(
        f"{len(wrong)} of the 6 parts wrong: {', '.join(wrong)}",
        call=call,
        expected=f"{first} {expected[first]:,}",
        got=f"{first} {counts[first]:,}",
        where=f"{first} off by {counts[first] - expected[first]:+,}",
        details=table,
        diagnosis="; ".join(diagnoses),
    )


def check_keys(got: Any, *, call: str) -> None:
    """A dict with exactly the six keys of the contract."""
    if not isinstance(got, dict):
        summary = (
            "the result is None: did the function forget to `return`?"
            if got is None
            else "the result should be a dict of six counts"
        )
        raise Mismatch(summary, call=call, expected=f"dict with keys {KEYS}", got=describe(got))
    missing = [key for key in KEYS if key not in got]
    extra = [key for key in got if key not in KEYS]
    if not missing and not extra:
        return
    details = []
    if missing:
        details.append(f"missing key(s): {missing}")
    if extra:
        details.append(f"extra key(s): {[str(k) for k in extra]}")
    if any(str(key).lower() in ("total", "sum", "all") for key in extra):
        hint = "the breakdown has exactly the six parts: the total is count_parameters's job"
    else:
        hint = "use exactly these six key names (lowercase, with underscores), no others"
    raise Mismatch(
        "the dict does not have exactly the six keys of the contract",
        call=call,
        expected=f"keys {KEYS}",
        got=f"keys {[str(k) for k in got]}",
        details=details,
        diagnosis=hint,
    )


def check_both(student: Any, args: Sequence[int], kwargs: dict[str, Any], note: str = "") -> None:
    """The breakdown (for its per-part message), then the total."""
    call = call_text("parameter_breakdown", args, kwargs, note)
    check_breakdown(student.parameter_breakdown(*args, **kwargs), args, kwargs, call=call)
    call = call_text("count_parameters", args, kwargs, note)
    got = student.count_parameters(*args, **kwargs)
    check_count(got, args, kwargs, call=call, what="parameter count")


def expect_value_error(function: Callable[..., Any], args: Sequence[int], call: str) -> None:
    try:
        assert_raises("ValueError", function, *args, call=call)
    except Mismatch as failure:
        if "returned normally" in failure.summary:
            failure.diagnosis = (
                "the count does not depend on n_heads, but a d_model that does not split into "
                "n_heads equal heads is not a valid model: check d_model % n_heads"
            )
        elif "AssertionError" in failure.got:
            failure.diagnosis = (
                "use `raise ValueError(...)`, not `assert` (asserts vanish under -O)"
            )
        raise


# ---------------------------------------------------------------------------------------------
# Level 1: hand-counted fixtures


@pytest.mark.weight(2)
def test_gpt2_small_total(student: Any) -> None:
    """gpt-2 small has 124,439,808 parameters"""
    args, kwargs = fixtures.GPT2_SMALL_ARGS, fixtures.GPT2_SMALL_KWARGS
    assert sum(fixtures.GPT2_SMALL_BREAKDOWN.values()) == fixtures.GPT2_SMALL_TOTAL
    call = call_text("count_parameters", args, kwargs)
    got = student.count_parameters(*args, **kwargs)
    check_count(got, args, kwargs, call=call, what="parameter count", student=student)


def test_gpt2_small_breakdown(student: Any) -> None:
    """gpt-2 small breakdown matches the hand count"""
    args, kwargs = fixtures.GPT2_SMALL_ARGS, fixtures.GPT2_SMALL_KWARGS
    assert reference.parameter_breakdown(*args, **kwargs) == fixtures.GPT2_SMALL_BREAKDOWN
    call = call_text("parameter_breakdown", args, kwargs)
    check_breakdown(student.parameter_breakdown(*args, **kwargs), args, kwargs, call=call)


def test_breakdown_keys(student: Any) -> None:
    """the breakdown has exactly the six keys"""
    args = fixtures.TINY_CASES[0]["args"]
    check_keys(student.parameter_breakdown(*args), call=call_text("parameter_breakdown", args, {}))


@pytest.mark.parametrize("case", fixtures.TINY_CASES, ids=lambda case: case["id"])
def test_tiny_by_hand(student: Any, case: dict[str, Any]) -> None:
    """tiny model counted by hand"""
    args, kwargs = case["args"], case["kwargs"]
    assert reference.parameter_breakdown(*args, **kwargs) == case["breakdown"]
    assert reference.count_parameters(*args, **kwargs) == case["total"]
    check_both(student, args, kwargs)


def test_gpt2_small_untied(student: Any) -> None:
    """an untied lm_head adds vocab_size x d_model"""
    args = fixtures.GPT2_SMALL_ARGS
    kwargs = {**fixtures.GPT2_SMALL_KWARGS, "tied_embeddings": False}
    assert reference.count_parameters(*args, **kwargs) == fixtures.GPT2_SMALL_UNTIED_TOTAL
    check_both(student, args, kwargs)


def test_gpt2_small_no_bias(student: Any) -> None:
    """bias=False drops the linear biases, not layernorm's shift"""
    args = fixtures.GPT2_SMALL_ARGS
    kwargs = {**fixtures.GPT2_SMALL_KWARGS, "bias": False}
    assert reference.count_parameters(*args, **kwargs) == fixtures.GPT2_SMALL_NO_BIAS_TOTAL
    check_both(student, args, kwargs)


def test_gpt2_small_no_positions(student: Any) -> None:
    """max_seq_len=0 means no position embeddings"""
    args = fixtures.GPT2_SMALL_ARGS
    kwargs = {**fixtures.GPT2_SMALL_KWARGS, "max_seq_len": 0}
    assert reference.count_parameters(*args, **kwargs) == fixtures.GPT2_SMALL_NO_POSITIONS_TOTAL
    check_both(student, args, kwargs)


@pytest.mark.visible
def test_not_divisible(student: Any) -> None:
    """d_model not divisible by n_heads raises ValueError"""
    for d_model, n_heads in fixtures.NOT_DIVISIBLE:
        args = [50, d_model, 2, n_heads, 4 * d_model]
        for name in ("parameter_breakdown", "count_parameters"):
            expect_value_error(getattr(student, name), args, call_text(name, args, {}))


# ---------------------------------------------------------------------------------------------
# Level 2: the reference on other sizes

RANDOM_FLAGS = {
    0: {"max_seq_len": 0, "bias": True, "tied_embeddings": False},
    1: {"max_seq_len": 24, "bias": False, "tied_embeddings": True},
    2: {"max_seq_len": 40, "bias": True, "tied_embeddings": False},
}


def random_args(seed: int) -> list[int]:
    """(vocab_size, d_model, n_layers, n_heads, d_ff) drawn with this seed."""
    rng = np.random.default_rng(seed)
    n_heads = int(rng.integers(1, 5))
    d_model = n_heads * int(rng.integers(1, 9))
    return [
        int(rng.integers(5, 300)),
        d_model,
        int(rng.integers(2, 7)),
        n_heads,
        int(rng.integers(1, 65)),
    ]


@pytest.mark.parametrize("seed", sorted(RANDOM_FLAGS))
def test_random_sizes(student: Any, seed: int) -> None:
    """matches the reference on other sizes"""
    check_both(
        student, random_args(seed), RANDOM_FLAGS[seed], note=f", sizes drawn with seed={seed}"
    )


def test_d_ff_argument(student: Any) -> None:
    """d_ff comes from the argument, not 4 * d_model"""
    for args in ([1000, 64, 3, 4, 96], [1000, 64, 3, 4, 172]):  # 4 * 64 = 256
        check_both(student, args, {"max_seq_len": 32, "bias": False})


# ---------------------------------------------------------------------------------------------
# Level 3: properties


def test_n_layers(student: Any) -> None:
    """per-layer parts scale with n_layers"""
    for n_layers in (1, 3, 5):  # n_layers = 2 would make 3 LayerNorms look like 2 + 1
        check_both(student, [50, 8, n_layers, 2, 20], {"max_seq_len": 16})


def test_heads_do_not_change_count(student: Any) -> None:
    """n_heads does not change the count"""
    for n_heads in (1, 2, 3, 4, 6, 12):
        args = [30, 12, 2, n_heads, 40]
        call = call_text("count_parameters", args, {})
        got = student.count_parameters(*args)
        check_count(got, args, {}, call=call, what="parameter count", student=student)


@pytest.mark.visible
def test_adds_up(student: Any) -> None:
    """the breakdown adds up to count_parameters"""
    configs = [(fixtures.GPT2_SMALL_ARGS, fixtures.GPT2_SMALL_KWARGS)] + [
        (random_args(seed), flags) for seed, flags in RANDOM_FLAGS.items()
    ]
    for args, kwargs in configs:
        parts = student.parameter_breakdown(*args, **kwargs)
        check_keys(parts, call=call_text("parameter_breakdown", args, kwargs))
        call = call_text("count_parameters", args, kwargs)
        total = student.count_parameters(*args, **kwargs)
        values = {key: count_of(parts[key], 0, call=call, what=f"value of {key!r}") for key in KEYS}
        value = count_of(total, sum(values.values()), call=call, what="parameter count")
        if value != sum(values.values()):
            difference = value - sum(values.values())
            left_out = [key for key in KEYS if values[key] and -difference == values[key]]
            twice = [key for key in KEYS if values[key] and difference == values[key]]
            diagnosis = "return sum(parameter_breakdown(...).values()) with the same arguments"
            if left_out:
                diagnosis = f"{' or '.join(left_out)} left out of the total; " + diagnosis
            elif twice:
                diagnosis = f"{' or '.join(twice)} counted twice in the total; " + diagnosis
            raise Mismatch(
                "count_parameters is not the sum of parameter_breakdown's values",
                call=call,
                expected=f"{sum(values.values()):,} (the sum of the breakdown)",
                got=f"{value:,}",
                where=f"off by {difference:+,}",
                diagnosis=diagnosis,
            )
