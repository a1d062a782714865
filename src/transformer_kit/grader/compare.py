"""Comparisons for graders: each failure names the call, what was expected, what came back and
where the two differ most, and names a classic mistake when the result matches one.

Graders only ever see plain data decoded from the worker (numpy arrays, Python scalars, lists),
so nothing here can be fooled by objects the learner built.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from transformer_kit.grader.failures import Mismatch, StudentRaised

RTOL = 1e-4
ATOL = 1e-6
SMALL_ARRAY = 16  # arrays with at most this many elements are shown whole


def describe(value: Any) -> str:
    """A short description of a value: type, dtype and shape for arrays."""
    if isinstance(value, np.ndarray):
        return f"array of {value.dtype}, shape {tuple(value.shape)}"
    if isinstance(value, (list, tuple)):
        kind = type(value).__name__
        return f"{kind} of length {len(value)}"
    if value is None:
        return "None"
    if isinstance(value, (bool, int, float, np.number)):
        return f"{type(value).__name__} {value!r}"
    return type(value).__name__


def show(value: Any) -> str:
    """A value as the report prints it: whole if small, else its description."""
    array = np.asarray(value) if _numeric_like(value) else None
    if array is not None and array.size <= SMALL_ARRAY:
        with np.printoptions(precision=6, suppress=True, floatmode="maxprec"):
            return np.array2string(array, separator=", ").replace("\n", "")
    return describe(value)


def _numeric_like(value: Any) -> bool:
    try:
        array = np.asarray(value)
    except Exception:
        return False
    return array.dtype.kind in "biuf"


def as_array(got: Any, *, call: str, what: str = "result") -> np.ndarray:
    """`got` as a float64 array, or a Mismatch saying why it cannot be one."""
    if got is None:
        raise Mismatch(
            f"the {what} is None: did the function forget to `return`?",
            call=call,
            got="None",
        )
    try:
        array = np.asarray(got)
    except Exception:
        array = None
    if array is None or array.dtype.kind not in "biuf":
        raise Mismatch(f"the {what} is not an array of numbers", call=call, got=describe(got))
    return array.astype(np.float64)


def assert_shape(
    got: Any,
    shape: Sequence[int],
    *,
    call: str,
    what: str = "result",
    mistakes: Mapping[str, Any] | None = None,
) -> None:
    """The exact shape: a result that would only match by broadcasting fails. A mistake whose
    value has the learner's shape and values is named before the generic shape diagnosis."""
    array = as_array(got, call=call, what=what)
    expected = tuple(int(n) for n in shape)
    if array.shape != expected:
        raise Mismatch(
            f"the {what} {_has(what)} the wrong shape",
            call=call,
            expected=f"shape {expected}",
            got=f"shape {array.shape}",
            diagnosis=_diagnose(array, mistakes, RTOL, ATOL)
            or _shape_diagnosis(array.shape, expected),
        )


def _shape_diagnosis(got: tuple[int, ...], expected: tuple[int, ...]) -> str:
    if got == expected[::-1] and got != expected:
        return "the axes are in reverse order (a transpose too many or too few)"
    if sorted(got) == sorted(expected):
        return "the right sizes in the wrong order: check which axes you transpose or reshape"
    if _with_ones(expected, got):
        return "an axis of length 1 was squeezed away: keep it (keepdims=True, or index with None)"
    if _with_ones(got, expected):
        return "an extra axis of length 1 (keepdims=True, or a [None] too many?)"
    if int(np.prod(got)) == int(np.prod(expected)):
        return "the right number of elements in another layout: check your reshape"
    return ""


def _with_ones(longer: tuple[int, ...], shorter: tuple[int, ...]) -> bool:
    """`longer` is `shorter` with axes of length 1 inserted ((1, 1, 1) is (1, 1) with one)."""
    if len(longer) <= len(shorter):
        return False
    rest = list(shorter)
    for n in longer:
        if rest and n == rest[0]:
            rest.pop(0)
        elif n != 1:
            return False
    return not rest


def assert_close(
    got: Any,
    expected: Any,
    *,
    call: str,
    what: str = "result",
    rtol: float = RTOL,
    atol: float = ATOL,
    mistakes: Mapping[str, Any] | None = None,
) -> None:
    """Shape first, then finiteness, then values within `atol + rtol * |expected|`.

    `mistakes` maps a description of a classic mistake to the value that mistake produces; when
    the learner's result matches one, the failure names it.
    """
    want = np.asarray(expected, dtype=np.float64)
    assert_shape(got, want.shape, call=call, what=what, mistakes=mistakes)
    array = as_array(got, call=call, what=what)
    bad_finite = ~np.isfinite(array) & np.isfinite(want)
    if bad_finite.any():
        index = _first_index(bad_finite)
        raise Mismatch(
            f"the {what} {_has(what)} nan or inf where a finite number was expected",
            call=call,
            expected=show(want),
            got=show(array),
            where=_where(index, want, array),
            diagnosis=_diagnose(array, mistakes, rtol, atol)
            or "an overflow (exp of a large number?) or a division by zero",
        )
    close = np.isclose(array, want, rtol=rtol, atol=atol, equal_nan=True)
    if close.all():
        return
    error = np.abs(array - want) - (atol + rtol * np.abs(want))
    error = np.where(np.isnan(error), np.inf, error)
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(error)), want.shape))
    count = int((~close).sum())
    details = _pictures(want, array, close, what)
    small = want.size <= SMALL_ARRAY and not details
    raise Mismatch(
        f"the {what} is wrong"
        if want.size == 1
        else f"the {what} {_has(what)} {count} of {want.size} values wrong",
        call=call,
        expected=show(want) if small else "",  # a large one's shapes match: nothing to say
        got=show(array) if small else "",
        where=_where(tuple(int(i) for i in index), want, array),
        diagnosis=_diagnose(array, mistakes, rtol, atol),
        details=details or _worst(error, want, array),
    )


def _matrix(array: np.ndarray) -> np.ndarray:
    """The first matrix of an array with leading axes ((..., R, C) -> (R, C))."""
    return array.reshape(-1, *array.shape[-2:])[0] if array.ndim > 2 else array


def _pictures(want: np.ndarray, got: np.ndarray, close: np.ndarray, what: str) -> list[str]:
    """Small matrices side by side (wrong entries starred); attention weights as a heatmap."""
    if want.ndim < 2:
        return []
    expected, actual, ok = _matrix(want), _matrix(got), _matrix(close)
    rows, columns = expected.shape
    lines = []
    if rows <= 8 and columns <= 6 and want.size <= 4 * SMALL_ARRAY:
        prefix = "first matrix, " if want.ndim > 2 else ""
        lines.append(f"{prefix}expected | got (* = wrong):")
        for r in range(rows):
            left = " ".join(f"{v:9.4f}" for v in expected[r])
            right = " ".join(
                f"{v:9.4f}{' ' if good else '*'}" for v, good in zip(actual[r], ok[r], strict=True)
            )
            lines.append(f"  {left}  |  {right}")
    if "weight" in what and rows <= 12 and columns <= 24 and _probabilities(expected):
        top = float(np.nanmax([expected.max(), np.nanmax(actual), 1e-12]))
        lines.append("heatmap of the weights (darker = larger), expected | got:")
        lines += [
            f"  {_shade(e / top)}  |  {_shade(a / top)}"
            for e, a in zip(expected, actual, strict=True)
        ]
    return lines


def _probabilities(matrix: np.ndarray) -> bool:
    return bool(np.all((matrix >= 0) & (matrix <= 1)))


def _shade(row: np.ndarray) -> str:
    cells = " ░▒▓█"
    clipped = np.clip(np.nan_to_num(row, nan=0.0), 0.0, 1.0)
    levels = np.rint(clipped * (len(cells) - 1)).astype(int)
    return "".join(cells[level] * 2 for level in levels)


def _worst(error: np.ndarray, want: np.ndarray, got: np.ndarray, count: int = 3) -> list[str]:
    """For large arrays: the next-worst positions after the one in `where`."""
    if want.size <= SMALL_ARRAY:
        return []
    order = np.argsort(error, axis=None)[::-1][1:count]
    places = [tuple(int(i) for i in np.unravel_index(int(k), want.shape)) for k in order]
    wrong = [p for p in places if error[p] > 0]
    return [f"also wrong: {_where(p, want, got)}" for p in wrong]


def _has(what: str) -> str:
    """ "has" or "have", after the head noun: "the loss has", "the weights have", "the list of
    weights has"."""
    head = what.split(" of ", 1)[0]
    return "have" if head.endswith("s") and not head.endswith("ss") else "has"


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    return tuple(int(i) for i in np.argwhere(mask)[0]) if mask.ndim else ()


def _where(index: tuple[int, ...], want: np.ndarray, got: np.ndarray) -> str:
    expected, actual = float(want[index]), float(got[index])
    abs_err = abs(actual - expected)
    rel = f"{abs_err / abs(expected):.3g}" if expected != 0 else "inf"
    place = f"index {index}" if index else "the value"
    return (
        f"{place}: expected {expected:.6g}, got {actual:.6g} "
        f"(abs error {abs_err:.3g}, rel error {rel})"
    )


def _diagnose(
    array: np.ndarray, mistakes: Mapping[str, Any] | None, rtol: float, atol: float
) -> str:
    for description, value in (mistakes or {}).items():
        wrong = np.asarray(value, dtype=np.float64)
        if wrong.shape == array.shape and np.allclose(
            array, wrong, rtol=rtol, atol=atol, equal_nan=True
        ):
            return description
    return ""


def two_at_once(
    mistakes: Iterable[tuple[str, Mapping[str, Any]]],
) -> list[tuple[str, dict[str, Any]]]:
    """Every two mistakes made together, for a result that no single mistake explains.

    A mistake is named by its description and made by its options: the keyword arguments with
    which a grader's reference makes it on purpose. Two mistakes combine when they set different
    options; the pair's description names both ("two mistakes at once: A; and also B").
    """
    pairs = []
    for (first, options), (second, more) in itertools.combinations(list(mistakes), 2):
        if first != second and not options.keys() & more.keys():
            pairs.append((f"two mistakes at once: {first}; and also {second}", {**options, **more}))
    return pairs


def assert_equal(got: Any, expected: Any, *, call: str, what: str = "result") -> None:
    """Exact equality of plain data (ints, token lists, bool masks), type-lenient for arrays."""
    if isinstance(expected, np.ndarray) or isinstance(got, np.ndarray):
        want = np.asarray(expected)
        assert_shape(got, want.shape, call=call, what=what)
        array = np.asarray(got)
        differ = array != want
        if differ.any():
            index = _first_index(differ)
            raise Mismatch(
                f"the {what} {_has(what)} {int(differ.sum())} of {want.size} entries wrong",
                call=call,
                expected=show(want),
                got=show(array),
                where=f"index {index}: expected {want[index]!r}, got {array[index]!r}",
            )
        return
    if _plain(got) != _plain(expected):
        raise Mismatch(
            f"the {what} is wrong", call=call, expected=repr(expected), got=_short_repr(got)
        )


def _plain(value: Any) -> Any:
    """Lists and tuples compared alike; numpy scalars as Python numbers."""
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _short_repr(value: Any, limit: int = 200) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + " ..."


def unpack(got: Any, count: int, *, call: str, what: str = "result") -> tuple[Any, ...]:
    """A tuple (or list) of exactly `count` items, e.g. `(output, weights)`."""
    if not isinstance(got, (tuple, list)) or len(got) != count:
        raise Mismatch(
            f"the {what} should be a tuple of {count} items",
            call=call,
            expected=f"tuple of length {count}",
            got=describe(got),
        )
    return tuple(got)


def assert_raises(
    exception: str, function: Callable[..., Any], *args: Any, call: str, **kwargs: Any
) -> str:
    """The call raises `exception` (by class name) with a non-empty message; returns it."""
    try:
        result = function(*args, **kwargs)
    except StudentRaised as error:
        if error.not_implemented:
            raise
        if exception not in error.type_names:
            raise Mismatch(
                f"raised the wrong exception: expected {exception}",
                call=call,
                expected=exception,
                got=f"{error.type_name}: {error.text}",
            ) from None
        if error.from_numpy:  # the grader may add its own diagnosis: what to check
            raise Mismatch(
                f"raised {exception}, but numpy raised it, not a check of yours",
                call=call,
                expected=f"{exception}('...what was wrong...'), raised by your function",
                got=f"{error.type_name}: {error.text}",
                details=[
                    "check the inputs yourself before computing (their shapes and sizes "
                    f"first) and raise {exception} with a message that says what is wrong"
                ],
            ) from None
        if not error.text.strip():
            raise Mismatch(
                f"raised {exception} without a message: say what was wrong",
                call=call,
                expected=f"{exception}('...what was wrong...')",
                got=f"{error.type_name}()",
            ) from None
        return error.text
    raise Mismatch(
        f"should raise {exception}, but returned normally",
        call=call,
        expected=f"raise {exception}",
        got=describe(result),
    )


def assert_raises_naming(
    function: Callable[..., Any], *args: Any, call: str, name: str, value: Any = None
) -> None:
    """The call raises ValueError whose message names the argument `name` and its `value` (any
    of its usual spellings, spaces ignored; the name alone when `value` is None: an array's
    value may be printed in many ways), as the third wave's contract asks."""
    text = assert_raises("ValueError", function, *args, call=call)
    forms = {repr(value), str(value)} | ({f"{value:g}"} if isinstance(value, float) else set())
    compact = text.replace(" ", "")
    valued = value is None or any(form.replace(" ", "") in compact for form in forms)
    if name not in text or not valued:
        its = "" if value is None else f" and its value {value!r}"
        raise Mismatch(
            f"raised ValueError, but the message does not name {name}{its}",
            call=call,
            expected=f"a message like '{name} must be ..., got {name}={value!r}'",
            got=f"ValueError: {text}",
            diagnosis="say what was wrong: the argument's name and the value you were given",
        )
