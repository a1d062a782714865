"""Units of the engine: the wire format, the comparisons and their messages, the metadata."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import numpy as np
import pytest

from transformer_kit import catalog as meta
from transformer_kit.grader.compare import Mismatch, assert_close, assert_equal, unpack
from transformer_kit.grader.warned import assert_stable
from transformer_kit.sandbox import protocol, values


def _no_handles(value: object) -> dict:
    raise AssertionError(f"unexpected handle for {value!r}")


def _roundtrip(value: object) -> object:
    tree = json.loads(json.dumps(values.encode(value, _no_handles)))
    return values.decode(tree, lambda tag, payload: (tag, payload))


@pytest.mark.parametrize("dtype", ["float64", "float32", "int64", "bool", "uint8"])
def test_arrays_cross_the_wire_unchanged(dtype: str) -> None:
    array = (np.arange(24).reshape(2, 3, 4) % 3).astype(dtype)
    back = _roundtrip(array)
    assert isinstance(back, np.ndarray) and type(back) is np.ndarray
    assert back.dtype == array.dtype and back.shape == array.shape
    assert np.array_equal(back, array)


def test_containers_keep_their_kind() -> None:
    value = {"w1": [1, 2.5, None, True], "pair": (np.zeros(2), "x"), "nan": float("nan")}
    back = _roundtrip(value)
    assert isinstance(back, dict) and isinstance(back["pair"], tuple)
    assert back["w1"] == [1, 2.5, None, True]
    assert np.isnan(back["nan"])


@pytest.mark.parametrize(
    "tree",
    [
        {"a": ["|O8", [1], base64.b64encode(b"\0" * 8).decode()]},  # object dtype: pickles
        {"a": ["<f8", [2], base64.b64encode(b"\0" * 8).decode()]},  # data shorter than shape
        {"a": ["<f8", [-1], ""]},
        {"a": ["<f8", [1], "not base64!"]},
        {"x": 1},
        {"t": [1], "d": {}},
        {"a": "<f8"},
    ],
)
def test_malformed_values_are_rejected(tree: object) -> None:
    with pytest.raises(protocol.ProtocolError):
        values.decode(tree, lambda tag, payload: None)


@pytest.mark.parametrize("body", [b"\xff\xfe", b"[1, 2]", b'{"no": "op"}', b"[" * 100000])
def test_malformed_frames_are_rejected(body: bytes) -> None:
    with pytest.raises(protocol.ProtocolError):
        protocol.unpack_body(body)


def test_a_frame_is_refused_on_its_op_and_its_count_of_lists_before_it_is_decoded() -> None:
    """A callback's size is known from its first bytes (the op comes first), and a frame of a
    million empty lists, 3 MB of JSON that would take over 60 MB once decoded, is refused
    unparsed; one list fewer than the limit is read."""
    assert protocol.op_of(protocol.pack({"value": 1, "op": "callback"})[4:]) == "callback"
    assert protocol.limit("callback") < protocol.limit("reply")
    many = b'{"op":"reply","value":[' + b"[]," * protocol.MAX_CONTAINERS + b"[]]}"
    with pytest.raises(protocol.ProtocolError, match="lists and objects"):
        protocol.unpack_body(many)
    fewer = b'{"op":"reply","value":[' + b"[]," * (protocol.MAX_CONTAINERS - 3) + b"[]]}"
    assert len(protocol.unpack_body(fewer)["value"]) == protocol.MAX_CONTAINERS - 2


def test_the_results_read_the_label_the_graders_write() -> None:
    from transformer_kit import results
    from transformer_kit.grader import failures

    assert results.LIKELY_MISTAKE == failures.LIKELY_MISTAKE
    labelled = Mismatch("wrong", diagnosis="no 1/sqrt(d_k) scaling").fields()
    test = results.TestResult("t", False, 0.0, 1.0, "wrong", tuple(labelled))
    assert test.likely_mistakes == ("no 1/sqrt(d_k) scaling",)


def _failure(function, *args, **kwargs) -> Mismatch:
    with pytest.raises(Mismatch) as caught:
        function(*args, **kwargs)
    return caught.value


def test_shape_is_compared_before_values_and_broadcasting_fails() -> None:
    failure = _failure(assert_close, np.float64(1.0), np.ones((1,)), call="f()")
    assert "wrong shape" in failure.summary
    failure = _failure(assert_close, np.ones((3, 2)), np.ones((2, 3)), call="f()")
    assert "reverse order" in failure.diagnosis
    failure = _failure(assert_close, np.ones(3), np.ones((3, 1)), call="f()")
    assert "squeezed" in failure.diagnosis


def test_value_failure_names_the_worst_index_and_the_mistake() -> None:
    expected = np.array([[1.0, 2.0], [3.0, 4.0]])
    got = expected * 2  # "forgot to halve"
    got[1, 1] = 100.0
    failure = _failure(assert_close, got, expected, call="f(x)", mistakes={"no halving": got})
    assert "4 of 4 values wrong" in failure.summary
    assert "index (1, 1): expected 4, got 100" in failure.where
    assert failure.diagnosis == "no halving"
    assert "called: f(x)" in failure.message


def test_nan_where_finite_expected_fails_even_within_tolerance() -> None:
    failure = _failure(assert_close, np.array([np.nan, 1.0]), np.array([0.0, 1.0]), call="f()")
    assert "nan or inf" in failure.summary and "index (0,)" in failure.where


def test_float32_arithmetic_passes_the_contract_tolerance() -> None:
    expected = np.random.default_rng(0).normal(size=(4, 5))
    assert_close(expected.astype(np.float32), expected, call="f()")


def test_exact_comparisons_and_unpacking() -> None:
    assert_equal([1, 2, 3], (1, 2, 3), call="f()")
    assert "wrong" in _failure(assert_equal, [1, 2], [1, 3], call="f()").summary
    assert "tuple of 2" in _failure(unpack, np.zeros(2), 2, call="f()").summary
    assert "None" in _failure(assert_close, None, [1.0], call="f()").summary


def _metadata(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "exercises.toml"
    path.write_text(text)
    return path


ENTRY = """
[[exercises]]
name = "demo"
title = "Demo"
topic = "t"
points = 1
time_limit = 1.0
interview_minutes = 30
hints = ["a", "b", "c"]
"""


@pytest.mark.parametrize(
    ("text", "phrase"),
    [
        (ENTRY, "format_version = 1"),
        ("format_version = 1\n", "add at least one [[exercises]]"),
        ("format_version = 1\n" + ENTRY.replace('hints = ["a", "b", "c"]', ""), "set `hints`"),
        ("format_version = 1\n" + ENTRY.replace('"a", ', ""), "3 non-empty strings"),
        ("format_version = 1\n" + ENTRY + ENTRY, "unique: demo"),
        ("format_version = 1\n" + ENTRY + "colour = 1\n", "unknown keys ['colour']"),
        ("format_version = 1\n" + ENTRY.replace("points = 1", "points = 0"), "positive"),
        ("format_version = 1\n" + ENTRY.replace("minutes = 30", "minutes = 0"), "positive whole"),
        ("format_version = 1\n" + ENTRY.replace("minutes = 30", "minutes = true"), "whole number"),
        ("format_version = 1\n" + ENTRY.replace("minutes = 30", "minutes = 2.5"), "whole number"),
        ("format_version = [", "cannot be read"),
    ],
)
def test_metadata_errors_name_the_entry_and_the_fix(tmp_path: Path, text: str, phrase: str) -> None:
    with pytest.raises(meta.MetadataError) as caught:
        meta.load(_metadata(tmp_path, text))
    assert phrase in str(caught.value)
    assert str(tmp_path) in str(caught.value)


def test_the_kits_metadata_covers_every_exercise_file() -> None:
    for exercise in meta.load():
        assert exercise.stub.is_file() and exercise.solution.is_file() and exercise.grader.is_file()
        assert len(exercise.hints) == 3


def test_names_resolve_by_prefix_in_file_order() -> None:
    exercises = meta.load()
    chosen = meta.resolve(["param", "att", "attention"], exercises)
    assert [e.name for e in chosen] == ["attention", "param_count"]


def test_untrusted_text_is_bounded_valid_and_printable() -> None:
    from transformer_kit.untrusted import clean

    hostile = "a\ud800b\x1b[2J\x1b]0;title\x07c\r\x9b31md\u202eé\tend\nnext"
    assert clean(hostile) == "a\ufffdbc31mdé\tend\nnext"
    assert clean("x" * 10_000, limit=100) == "x" * 100 + " … (9,900 more characters)"
    assert clean(ValueError("not a str")) == "not a str"
    assert len(clean("\x1b[" * 1_000_000)) <= 4096 + 40


def test_changes_inside_list_and_dict_arguments_are_seen() -> None:
    from transformer_kit.grader.student import mutated_arguments, snapshot

    grads, state, counts = [np.ones(2), np.zeros(3)], {"m": np.ones(2)}, {"ab": 2}
    taken = snapshot((grads, 0.5), {"state": state, "counts": counts})
    assert mutated_arguments(taken) == []
    grads[1] *= 2.0  # zeros stay zeros: not a change
    assert mutated_arguments(taken) == []
    grads[0] *= 2.0
    state["m"] = state["m"] - 1
    counts["ab"] = 3
    assert mutated_arguments(taken) == ["argument 1", "state", "counts"]
    nan = snapshot((np.array([np.nan]),), {})
    assert mutated_arguments(nan) == []


def test_a_floating_point_warning_fails_a_stable_call_and_names_the_mistake() -> None:
    """exp(1000) overflows (a warning, the value inf); log(0) divides by zero; 0/0 is invalid:
    each fails with the grader's mistake. An underflow (exp(-1000) rounding to 0) is no mistake."""
    for run, text in (
        (lambda: np.exp(np.array([1000.0])), "overflow"),
        (lambda: np.log(np.array([0.0])), "divide by zero"),
        (lambda: np.array([0.0]) / np.array([0.0]), "invalid value"),
    ):
        with pytest.raises(Mismatch) as failure:
            assert_stable(run, call="f(z)", mistake="shift by the max")
        assert text in failure.value.got
        assert "shift by the max" in failure.value.message
    with np.errstate(all="ignore"):  # assert_stable turns warnings on (as the worker does)
        value = assert_stable(lambda: np.exp(np.array([-1000.0])), call="f(z)", mistake="")
    assert value.tolist() == [0.0]
