"""Values inside frames: plain data only, so decoding can never run code (no pickle, no eval).

  None, bool, int, float, str        as JSON
  list                               as a JSON array
  tuple  {"t": [...]}                dict {"d": {str: ...}}
  ndarray {"a": [dtype, shape, base64 bytes]}   (numeric and bool dtypes only)
  object handle {"r": [id, callable, type name]}   (an object living in the worker)
  callback {"c": id}                 (a grader function the worker may call back)
Anything else from a worker is rejected as malformed.

The worker decodes a call's arguments with `decode_sealed`: its arrays live in sealed, read-only
memory, so a learner's in-place write fails as numpy's own error (`is_read_only_error`).
"""

from __future__ import annotations

import base64
import ctypes
import fcntl
import functools
import mmap
import os
import resource
import weakref
from collections.abc import Callable, Sequence
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


def decode(
    tree: Any,
    handle: Callable[[str, Any], Any],
    array: Callable[[Any], np.ndarray] | None = None,
) -> Any:
    """The value a tree from `encode` stands for; `handle(tag, payload)` resolves "r"/"c" and
    `array(payload)` makes the arrays, in the order they appear (default: fresh, writable)."""
    if tree is None or isinstance(tree, (bool, int, float, str)):
        return tree
    if isinstance(tree, list):
        return [decode(v, handle, array) for v in tree]
    if not isinstance(tree, dict) or len(tree) != 1:
        raise ProtocolError("malformed value")
    ((tag, payload),) = tree.items()
    if tag == "t" and isinstance(payload, list):
        return tuple(decode(v, handle, array) for v in payload)
    if tag == "d" and isinstance(payload, dict):
        return {str(k): decode(v, handle, array) for k, v in payload.items()}
    if tag == "a":
        return (array or _decode_array)(payload)
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


# ----------------------------------------------------------------------------------------------
# Sealed arguments: a call's arrays in memory no one in the worker can write

SEALS = fcntl.F_SEAL_WRITE | fcntl.F_SEAL_SHRINK | fcntl.F_SEAL_GROW | fcntl.F_SEAL_SEAL
ALIGN = 64  # bytes: every array of the block starts on a cache line, as numpy's own do
PROT_NONE, MAP_FIXED = 0, 0x10  # mman.h (Linux)
READ_ONLY_ERRORS = ("assignment destination is read-only", "output array is read-only")


def decode_sealed(tree: Any, handle: Callable[[str, Any], Any]) -> Any:
    """`decode`, with every array in one block of sealed, read-only memory (Linux: memfds
    sealed against writing, resizing and further sealing, mapped read-only side by side; else
    immutable bytes): an in-place write raises numpy's "assignment destination is read-only"
    (ValueError), and neither the array's flags, nor a view, nor mprotect make it writable."""
    decoded: list[np.ndarray] = []
    decode(tree, lambda tag, payload: None, lambda payload: _kept(decoded, payload))
    arrays = iter(_sealed(decoded))
    return decode(tree, handle, lambda payload: next(arrays))


def is_read_only_error(type_names: Sequence[str], text: str) -> bool:
    """Whether an exception (its class's and base classes' names, its text) is numpy refusing
    to write into a read-only (sealed) array."""
    return "ValueError" in type_names and any(words in text for words in READ_ONLY_ERRORS)


def _kept(decoded: list[np.ndarray], payload: Any) -> np.ndarray:
    decoded.append(_decode_array(payload))
    return decoded[-1]


def _sealed(arrays: list[np.ndarray]) -> list[np.ndarray]:
    """Read-only copies of `arrays`, all in one sealed block."""
    offsets, size = [], 0
    for array in arrays:
        size += -size % ALIGN
        offsets.append(size)
        size += array.nbytes
    staging = bytearray(size)
    flat = np.frombuffer(staging, np.uint8)
    for array, offset in zip(arrays, offsets, strict=True):
        flat[offset : offset + array.nbytes] = array.reshape(-1).view(np.uint8)
    if size == 0 or not hasattr(os, "memfd_create"):  # nothing to seal, or not Linux
        block = memoryview(bytes(staging))
    else:
        block = _sealed_block(staging)
    return [
        np.frombuffer(block, array.dtype, array.size, offset).reshape(array.shape)
        for array, offset in zip(arrays, offsets, strict=True)
    ]


def _sealed_block(data: bytearray) -> memoryview:
    """A read-only view of a copy of `data` in sealed memfds, mapped read-only side by side:
    one per RLIMIT_FSIZE bytes, which bounds the size of a memfd too. The mapping is removed
    when the last array over it is gone."""
    libc = _libc()
    page = mmap.PAGESIZE
    length = -(-len(data) // page) * page
    limit, _ = resource.getrlimit(resource.RLIMIT_FSIZE)
    chunk = length if limit == resource.RLIM_INFINITY else max(page, limit // page * page)
    private = mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS
    base = libc.mmap(None, length, PROT_NONE, private, -1, 0)  # the addresses, reserved
    if base in (None, ctypes.c_void_p(-1).value):
        raise OSError(ctypes.get_errno(), "no address space for the arguments")
    holder = (ctypes.c_char * len(data)).from_address(base)
    weakref.finalize(holder, libc.munmap, base, length)
    view = memoryview(data)
    for start in range(0, len(data), chunk):
        _map_sealed(libc, view[start : start + chunk], base + start)
    return memoryview(holder).cast("B").toreadonly()


def _map_sealed(libc: ctypes.CDLL, data: memoryview, address: int) -> None:
    """`data` in a new memfd, sealed, mapped read-only (MAP_SHARED: never writable) at
    `address`."""
    fd = os.memfd_create("kit-arguments", os.MFD_CLOEXEC | os.MFD_ALLOW_SEALING)
    try:
        os.ftruncate(fd, len(data))
        offset = 0
        while offset < len(data):
            offset += os.pwrite(fd, data[offset:], offset)
        fcntl.fcntl(fd, fcntl.F_ADD_SEALS, SEALS)
        flags = mmap.MAP_SHARED | MAP_FIXED
        if libc.mmap(address, len(data), mmap.PROT_READ, flags, fd, 0) != address:
            raise OSError(ctypes.get_errno(), "the arguments could not be mapped")
    finally:
        os.close(fd)


@functools.cache
def _libc() -> ctypes.CDLL:
    libc = ctypes.CDLL(None, use_errno=True)
    libc.mmap.restype = ctypes.c_void_p
    libc.mmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int, ctypes.c_int,
                          ctypes.c_int, ctypes.c_long]  # fmt: skip
    libc.munmap.argtypes = [ctypes.c_void_p, ctypes.c_size_t]
    return libc
