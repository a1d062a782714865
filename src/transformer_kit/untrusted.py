"""Text that came from the learner's side, made safe to keep, to serialise and to print.

Whatever a worker sends (exception names and messages, tracebacks, its output) and every message
built from it is bounded in size, valid Unicode (a lone surrogate would make `--json` invalid
UTF-8 and the terminal report crash), and free of terminal control: escape sequences, carriage
returns, bells, C1 controls and the bidirectional overrides that make text display in an order
other than it reads.
"""

from __future__ import annotations

import re

ESCAPE_SEQUENCES = re.compile(
    r"\x1b\[[0-?]*[ -/]*[@-~]"  # CSI: colours, cursor movement, screen clearing
    r"|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?"  # OSC: window titles, hyperlinks
    r"|\x1b[@-_]?"  # other two-character escapes, and a lone ESC
)
CONTROLS = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2066-\u2069]")
SURROGATES = re.compile(r"[\ud800-\udfff]")
TEXT_LIMIT = 4096  # characters of one message or field


def clean(text: object, limit: int = TEXT_LIMIT) -> str:
    """`text` as at most `limit` characters of printable text (newlines and tabs kept)."""
    text = text if isinstance(text, str) else str(text)
    size = len(text)
    text = text[: 2 * limit]  # the expressions below never see more than this
    text = CONTROLS.sub("", ESCAPE_SEQUENCES.sub("", SURROGATES.sub("\ufffd", text)))
    if size > limit or len(text) > limit:
        text = f"{text[:limit]} … ({size - min(size, limit):,} more characters)"
    return text
