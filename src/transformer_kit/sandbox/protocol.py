"""Frames between the grading process and a worker: a 4-byte length, then a JSON object whose
first key is its "op" (`pack` writes it first), so a frame's kind, and the size allowed for it,
is known from its first bytes, before the rest has come or been decoded. Standard library only, so
the grading process can start workers before importing numpy. What the values inside mean is
values.py.
"""

from __future__ import annotations

import json
import os
import struct
from typing import Any

HEADER = struct.Struct(">I")
MAX_FRAME = 64 * 1024 * 1024
MAX_CALLBACK = 64 * 1024  # a worker's call of a grader's function: its arguments are small data
OP_START = b'{"op":"'
OP_LONGEST = 32  # characters of an op's name
OP_PEEK = len(OP_START) + OP_LONGEST + 1  # a frame's first bytes that name its op
# lists and objects in one frame at most: decoded, each costs ~20 times its 3 bytes of JSON, so a
# 64 MiB frame of `[[],[],...]` would take 1.4 GB of the grading process before any check
MAX_CONTAINERS = 1_000_000


class ProtocolError(Exception):
    """A frame that is not what the protocol allows."""


class FrameTooLarge(ProtocolError):
    """A frame whose length is over the limit for its op, seen before it has all come."""

    def __init__(self, op: str, size: int) -> None:
        super().__init__(f"a {op} frame of {size} bytes is over its limit of {limit(op)}")
        self.op = op
        self.size = size


def pack(message: dict[str, Any]) -> bytes:
    first = {"op": message["op"], **message}  # the op first: see the module's docstring
    body = json.dumps(first, allow_nan=True, separators=(",", ":")).encode("utf-8")
    if len(body) > MAX_FRAME:
        raise too_large(len(body))
    return HEADER.pack(len(body)) + body


def too_large(size: int) -> ProtocolError:
    """The error for a frame of `size` bytes (known, or foreseen before encoding)."""
    return ProtocolError(
        f"the result takes {size / 2**20:.0f} MiB, over the kit's limit of "
        f"{MAX_FRAME / 2**20:.0f} MiB: return arrays of the size the exercise asks for"
    )


def limit(op: str) -> int:
    """The most bytes a frame with this op may take."""
    return MAX_CALLBACK if op == "callback" else MAX_FRAME


def op_of(start: bytes) -> str:
    """The op named by a frame's first bytes (OP_PEEK of them, or the whole frame if shorter);
    "" when they do not start with one."""
    end = start.find(b'"', len(OP_START))
    if not start.startswith(OP_START) or end < 0:
        return ""
    return start[len(OP_START) : end].decode("ascii", "replace")


def unpack_body(body: bytes) -> dict[str, Any]:
    if body.count(b"[") + body.count(b"{") > MAX_CONTAINERS:  # counted before any is made
        raise ProtocolError(f"a frame of more than {MAX_CONTAINERS} lists and objects")
    try:
        message = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as error:
        raise ProtocolError("a frame that is not JSON") from error
    if not isinstance(message, dict) or not isinstance(message.get("op"), str):
        raise ProtocolError("a frame without an op")
    if message["op"] != op_of(body[:OP_PEEK]):
        raise ProtocolError("a frame whose op is not its first key")
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
