"""Files the kit writes whole: never half-written (`atomic_write`), and the small versioned JSON
stores of a workspace (`save_versioned`, `load_versioned`; a damaged one is `set_aside`)."""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

VERSION_KEY = "format_version"


def save_versioned(path: Path, version: int, content: dict[str, Any]) -> None:
    """`content` as JSON with `format_version` first, written whole."""
    data = {VERSION_KEY: version, **content}
    atomic_write(path, (json.dumps(data, indent=2) + "\n").encode("utf-8"))


def load_versioned(path: Path, version: int) -> dict[str, Any]:
    """The store at `path` (without its version); ValueError when it is not JSON, not an object
    or of another version, OSError when it cannot be read."""
    data = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(data, dict) or data.get(VERSION_KEY) != version:
        raise ValueError("unknown format")
    return {key: value for key, value in data.items() if key != VERSION_KEY}


def set_aside(path: Path) -> Path:
    """Move a damaged store out of the way, dated, beside it (so nothing is lost); its new
    path."""
    aside = path.with_name(f"{path.stem}.damaged-{time.strftime('%Y%m%d-%H%M%S')}{path.suffix}")
    with contextlib.suppress(OSError):
        path.replace(aside)
    return aside


def atomic_write(path: Path, data: bytes) -> None:
    """Write via a temporary file in the same folder and rename: never a half-written file,
    even if the kit is killed mid-write. (No fsync: it costs a fifth of a second on some disks,
    and only a power cut between write and rename could then lose the newest progress.)"""
    fd, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as stream:
            stream.write(data)
        os.chmod(temporary, 0o644)
        os.replace(temporary, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(temporary)
        raise
