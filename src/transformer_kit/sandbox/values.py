"""Values inside frames: plain data only, so decoding can never run code (no pickle, no eval).

  None, bool, int, float, str        as JSON
  list                               as a JSON array
  tuple  {"t": [...]}                dict {"d": {str: ...}}
  ndarray {"a": [dtype, shape, base64 bytes]}   (numeric and bool dtypes only)
  object handle {"r": [id, callable, type name]}   (an object living in the worker)
  callback {"c": id}                 (a grader function the worker may call back)
Anything else from a worker is rejected as malformed.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import numpy as np

from transformer_kit.sandbox.protocol import MAX_FRAME, ProtocolError, too_large

DTYPES = frozenset(
    np.dtype(t).str for t in ("?", "i1", "i2", "i4", "i8", "u1", "u2", "u4", "u8", "f2", "f4", "f8")
)


def encode(value: Any, handle: Callable[[Any], dict[str, Any]]) -> Any:
    """`value` as a JSON-ready tree; `handle` encodes what is not plain data."""
    if value is None or isinstance(value, (bool, int, float, str)):
        return value
    if isinstance(value, np.ndarray) and np.dtype(value.dtype).str in DTYPES:
        if value.nbytes * 4 // 3 > MAX_FRAME:  # base64's size: refuse before encoding it
            raise too_large(value.nbytes * 4 // 3)
        data = base64.b64encode(np.ascontiguousarray(value).tobytes()).decode("ascii")
        return {"a": [value.dtype.str, list(value.shape), data]}
    if isinstance(value, tuple):
        return {"t": [encode(v, handle) for v in value]}
    if isinstance(value, list):
        return [encode(v, handle) for v in value]
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"d": {k: encode(v, handle) for k, v in value.items()}}
    return handle(value)


def decode(tree: Any, handle: Callable[[str, Any], Any]) -> Any:
    """The value a tree from `encode` stands for; `handle(tag, payload)` resolves "r"/"c"."""
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    if isinstance(tree, list):
        return [decode(v, handle) for v in tree]
    if not isinstance(tree, dict) or len(tree) != 1:
        raise ProtocolError("malformed value")
    ((tag, payload),) = tree.items()
    if tag == "t" and isinstance(payload, list):
        return tuple(decode(v, handle) for v in payload)
    if tag == "d" and isinstance(payload, dict):
        return {str(k): decode(v, handle) for k, v in payload.items()}
    if tag == "a":
        return _decode_array(payload)
    if tag in ("r", "c"):
        return handle(tag, payload)
    raise ProtocolError(f"unknown tag {tag!r}")


def _decode_array(payload: Any) -> np.ndarray:
    try:
        dtype_text, shape, data = payload
        dtype = np.dtype(dtype_text) if dtype_text in DTYPES else None
        shape = tuple(int(n) for n in shape)
        raw = base64.b64decode(data, validate=True)
    except (TypeError, ValueError) as error:
        raise ProtocolError("malformed array") from error
    if dtype is None or any(n < 0 for n in shape):
        raise ProtocolError("array of a type the kit does not accept")
    if len(raw) != dtype.itemsize * int(np.prod(shape, dtype=np.int64)):
        raise ProtocolError("array data does not match its shape")
    return np.frombuffer(raw, dtype=dtype).reshape(shape).copy()
