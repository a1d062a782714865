"""Known-wrong and correct-but-different versions of each exercise, built from its solution.

Each `tests/catalogue/<exercise>.py` defines `VARIANTS`, a list of `Variant`. A variant's source is
the reference solution with `replace` applied (each `old` must occur exactly once), followed by
`code`, which may redefine functions. tests/test_catalogue.py grades every variant through the
real engine: wrong ones must fail (and, when `message` is set, the report must contain it), right
ones must pass.
"""

from __future__ import annotations

import textwrap
from dataclasses import dataclass


@dataclass(frozen=True)
class Variant:
    name: str
    passes: bool
    code: str = ""
    replace: tuple[tuple[str, str], ...] = ()
    message: str = ""

    def source(self, solution: str) -> str:
        """The variant's module text, from the reference solution's text."""
        for old, new in self.replace:
            count = solution.count(old)
            if count != 1:
                raise ValueError(f"{self.name}: {old!r} occurs {count} times in the solution")
            solution = solution.replace(old, new)
        return solution + "\n\n" + textwrap.dedent(self.code)
