"""The error every `kit` command raises when the kit itself is broken (not the learner's code),
and the one way commands read the kit's exercises, which raises it."""

from __future__ import annotations

from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from transformer_kit.meta import Exercise


class KitBroken(click.ClickException):
    """The kit's own files cannot be used: exit status 3, a broken installation."""

    exit_code = 3

    def __init__(self, message: str) -> None:
        super().__init__(f"{message}\nReinstalling the kit (`pip install .`) usually fixes this.")


def catalogue() -> tuple[Exercise, ...]:
    """Every exercise of the kit; KitBroken when the metadata cannot be read."""
    from transformer_kit.meta import MetadataError, load

    try:
        return load()
    except MetadataError as error:
        raise KitBroken(f"the kit's exercise metadata is broken: {error}") from None
