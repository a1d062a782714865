"""Checks a grader composes from comparisons: no future leakage under a causal mask, a dict of
gradients keyed by parameter name, a debug exercise's comparison that leads with the symptom."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from transformer_kit.grader.compare import as_array, assert_close, assert_shape, describe
from transformer_kit.grader.failures import Mismatch

MASK_NOT_APPLIED = (
    "the mask is not applied to the scores, is inverted (True means 'may attend'), or is "
    "transposed (queries are the rows, keys the columns)"
)


def assert_no_future(
    run: Callable[[np.ndarray, str], Any],
    x: np.ndarray,
    base: np.ndarray,
    *,
    call: str,
    seed: int,
    lasts: Sequence[int],
    diagnosis: str = MASK_NOT_APPLIED,
) -> None:
    """A causal function of tokens x (B, L, ...) does not see the future: for each `last`, new
    tokens in x[:, last + 1:] leave the output up to `last` as it was (`base`).

    `run(changed_x, changed_call)` calls the learner's function on the changed tokens.
    """
    rng = np.random.default_rng(seed)
    for last in lasts:
        changed_x = x.copy()
        changed_x[:, last + 1 :] = rng.normal(size=changed_x[:, last + 1 :].shape)
        changed_call = f"{call}, then again with x[:, {last + 1}:] replaced by new tokens"
        changed = as_array(run(changed_x, changed_call), call=changed_call)
        assert_shape(changed, x.shape, call=changed_call)
        same = np.isclose(changed[:, : last + 1], base[:, : last + 1], rtol=1e-6, atol=1e-9)
        if not same.all():
            b, position, column = (int(i) for i in np.argwhere(~same)[0])
            raise Mismatch(
                f"the output at position {position} changed when only tokens after position "
                f"{last} changed: position {position} sees the future",
                call=changed_call,
                expected=f"output[:, :{last + 1}] unchanged",
                got=f"output[{b}, {position}, {column}] went from "
                f"{base[b, position, column]:.6g} to {changed[b, position, column]:.6g}",
                diagnosis=diagnosis,
            )


def gradient_dict(
    got: Any,
    keys: Sequence[str],
    *,
    function: str,
    call: str,
    misnamed: Callable[[list[Any]], str],
) -> Mapping[str, Any]:
    """`got` as a dict with exactly the gradients `keys`, or a Mismatch saying why not.

    `misnamed(unexpected_keys)` names the mistake behind keys that are not `keys`, or is "".
    """
    expected = "a dict {" + ", ".join(f'"{key}": ...' for key in keys) + "}"
    if got is None:
        raise Mismatch(
            f"{function} returned None: did it forget to `return` the dict of gradients?",
            call=call,
            expected=expected,
            got="None",
        )
    if not isinstance(got, dict):
        by_name = ", ".join(f'"{key}": d_{key}' for key in keys)
        sequence = isinstance(got, (tuple, list))
        raise Mismatch(
            f"{function} should return a dict of gradients",
            call=call,
            expected=expected,
            got=describe(got),
            diagnosis=f"the gradients returned in a sequence: return them by name, {{{by_name}}}"
            if sequence
            else "",
        )
    if set(got) == set(keys):
        return got
    missing = [key for key in keys if key not in got]
    extra = [key for key in got if key not in keys]
    details = []
    if missing:
        details.append("missing keys: " + ", ".join(repr(k) for k in missing))
    if extra:
        details.append("unexpected keys: " + ", ".join(repr(k) for k in extra))
    raise Mismatch(
        "the dict of gradients has the wrong keys",
        call=call,
        expected="keys " + ", ".join(f'"{key}"' for key in keys),
        got="keys " + (", ".join(repr(k) for k in got) or "(none)"),
        details=details,
        diagnosis=misnamed(extra),
    )


def bare_name(key: Any, keys: Sequence[str]) -> str:
    """The parameter a gradient's key names once its prefix is dropped (`dW1`, `grad_w1`, `d_w1`,
    `dL/dw1` -> `w1`), or the key in lower case."""
    name = str(key).lower()
    for prefix in ("dl/d", "grad_", "grad", "d_", "d"):
        if name.startswith(prefix) and name[len(prefix) :] in keys:
            return name[len(prefix) :]
    return name


def assert_cured(
    got: Any,
    expected: Any,
    *,
    call: str,
    what: str,
    symptom: str,
    mistakes: Mapping[str, Any] | None = None,
    nonfinite: str = "",
    otherwise: str = "",
) -> None:
    """assert_close for a debug exercise: a failure's summary starts with the program's `symptom`,
    and unless a listed mistake explains it, its diagnosis is `nonfinite` (the bug that makes
    nan or inf) when the result is not finite, else `otherwise` (when given)."""
    try:
        assert_close(got, expected, call=call, what=what, mistakes=mistakes)
    except Mismatch as failure:
        failure.summary = f"{symptom}: {failure.summary}"
        if failure.diagnosis not in (mistakes or {}):
            try:
                finite = bool(np.all(np.isfinite(np.asarray(got, dtype=np.float64))))
            except (TypeError, ValueError):
                finite = True
            failure.diagnosis = (otherwise if finite else nonfinite) or failure.diagnosis
        raise
