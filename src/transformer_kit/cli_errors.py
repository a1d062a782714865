"""The error every `kit` command raises when the kit itself is broken (not the learner's code)."""

from __future__ import annotations

import click


class KitBroken(click.ClickException):
    """The kit's own files cannot be used: exit status 3, a broken installation."""

    exit_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}\nReinstalling the kit (`pip install .`) usually fixes this.")
