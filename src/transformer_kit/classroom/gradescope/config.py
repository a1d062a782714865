"""What a Gradescope autograder grades and shows (`kit-autograder.json`, written into the zip by
`kit gradescope build`, read by each run)."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from transformer_kit.classroom import HIDDEN_VISIBILITY, VISIBILITIES

CONFIG_NAME = "kit-autograder.json"  # in ROOT/source: what `kit gradescope build` chose


class ConfigError(ValueError):
    """ROOT/source/kit-autograder.json is missing or not what `kit gradescope build` writes."""


@dataclass(frozen=True)
class AutograderConfig:
    """What the autograder grades and shows: written into the zip by `kit gradescope build`."""

    kit_version: str
    exercises: tuple[str, ...]
    visible_tests: Mapping[str, tuple[str, ...]]  # exercise -> names of its visible tests
    hidden_visibility: str = HIDDEN_VISIBILITY
    allow_basic_isolation: bool = False

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["exercises"] = list(self.exercises)
        data["visible_tests"] = {name: list(tests) for name, tests in self.visible_tests.items()}
        return data

    @classmethod
    def from_json(cls, data: Any) -> AutograderConfig:
        try:
            config = cls(
                kit_version=str(data["kit_version"]),
                exercises=tuple(str(n) for n in data["exercises"]),
                visible_tests={
                    str(name): tuple(str(t) for t in tests)
                    for name, tests in data["visible_tests"].items()
                },
                hidden_visibility=str(data["hidden_visibility"]),
                allow_basic_isolation=bool(data["allow_basic_isolation"]),
            )
        except (KeyError, TypeError, AttributeError) as error:
            raise ConfigError(f"{CONFIG_NAME} lacks or misspells {error}") from None
        if config.hidden_visibility not in VISIBILITIES:
            raise ConfigError(f"{CONFIG_NAME}: hidden_visibility must be one of {VISIBILITIES}")
        return config

    def visibility(self, exercise: str, test: str) -> str:
        return "visible" if test in self.visible_tests.get(exercise, ()) else self.hidden_visibility


def load_config(path: Path) -> AutograderConfig:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as error:
        raise ConfigError(f"{path} cannot be read: {error}") from None
    return AutograderConfig.from_json(data)
