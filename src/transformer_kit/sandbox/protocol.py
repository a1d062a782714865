"""Frames between the grading process and a worker: a 4-byte length, then a JSON object with
an "op". Standard library only, so the grading process can start workers before importing numpy.
What the values inside mean is values.py.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024


class ProtocolError(Exception):
    """A frame that is not what the protocol allows."""


def pack(message: dict[str, Any]) -> bytes:
    body = json.dumps(message, allow_nan=True, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise too_large(len(body))
    return HEADER.pack(len(body)) + body


def too_large(size: int) -> ProtocolError:
    """The error for a frame of `size` bytes (known, or foreseen before encoding)."""
    return ProtocolError(
        f"the result takes {size / 2**20:.0f} MiB, over the kit's limit of "
        f"{MAX_FRAME / 2**20:.0f} MiB: return arrays of the size the exercise asks for"
    )


def unpack_body(body: bytes) -> dict[str, Any]:
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError("a frame that is not JSON") from error
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError("a frame without an op")
    return message


def write_frame(fd: int, message: dict[str, Any]) -> None:
    """Blocking write of one frame (the worker's side, and requests to a worker)."""
    view = memoryview(pack(message))
    while view:
        written = os.write(fd, view)
        view = view[written:]


def read_exact(fd: int, count: int) -> bytes:
    """Blocking read of exactly `count` bytes (the worker's side); b"" at end of file."""
    chunks = []
    while count:
        chunk = os.read(fd, min(count, 1 << 20))
        if not chunk:
            return b""
        chunks.append(chunk)
        count -= len(chunk)
    return b"".join(chunks)
