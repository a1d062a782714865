"""The nbgrader export: one source notebook per exercise (notebooks.py), written into a course
folder's source/<assignment>/, with an nbgrader_config.py when the course has none.

The package's modules, from the inside out: sources.py (Python sources as statements),
answers.py (the solution cells), grader_source.py (the grader's tests, visible and hidden, and its
source split accordingly), notebooks.py (the notebook), runtime.py (what runs inside it).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from transformer_kit import __version__
from transformer_kit import catalog as meta
from transformer_kit.classroom.nbgrader.grader_source import (
    HAND,
    GradedTest,
    Visibility,
    graded_tests,
)
from transformer_kit.classroom.nbgrader.notebooks import notebook, notebook_text

INSTALL = (
    "pip install 'transformer-kit[classroom]'  (in a clone of the kit: pip install '.[classroom]')"
)
CONFIG_FILE = "nbgrader_config.py"
ASSIGNMENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]*")

CONFIG_TEXT = f'''"""nbgrader configuration of this course.

Written by `kit nbgrader export` (transformer-kit {__version__}) because the course had none; it is
yours to edit: the export never overwrites it. The notebooks' test cells need the kit installed
where nbgrader runs them:
    {INSTALL}
"""

c = get_config()  # noqa: F821 (nbgrader defines get_config when it reads this file)
'''


class CourseError(Exception):
    """The course folder or the assignment name does not allow the export; the message says why."""


@dataclass(frozen=True)
class Exported:
    """What `export` wrote: each notebook with its tests, and the course's config file."""

    notebooks: tuple[tuple[Path, tuple[GradedTest, ...]], ...]
    config: Path
    config_created: bool


def export(
    course: Path,
    exercises: Sequence[meta.Exercise],
    assignment: str,
    force: bool = False,
    visibility: Visibility = HAND,
) -> Exported:
    """Write source/<assignment>/<name>.ipynb for each exercise, and nbgrader_config.py if the
    course has none. A notebook that exists and differs is only replaced with `force`. The
    released notebooks carry the tests `visibility` chooses (grader_source.visible_tests)."""
    if not ASSIGNMENT_ID.fullmatch(assignment):
        raise CourseError(
            f"'{assignment}' cannot be an assignment name: use letters, digits, '_', '-' and '.'"
        )
    tests = graded_tests(exercises, visibility)
    folder = course / "source" / assignment
    texts = {e.name: notebook_text(notebook(e, tests[e.name])) for e in exercises}
    paths = {e.name: folder / f"{e.name}.ipynb" for e in exercises}
    changed = [
        str(path)
        for name, path in paths.items()
        if path.exists() and path.read_text(encoding="utf-8") != texts[name]
    ]
    if changed and not force:
        raise CourseError(
            "these notebooks exist and differ from the export (an instructor's edits?): "
            f"{', '.join(changed)}; pass --force to overwrite them"
        )
    folder.mkdir(parents=True, exist_ok=True)
    for name, path in paths.items():
        path.write_text(texts[name], encoding="utf-8")
    config = course / CONFIG_FILE
    created = not config.exists()
    if created:
        config.write_text(CONFIG_TEXT, encoding="utf-8")
    notebooks = tuple((paths[e.name], tests[e.name]) for e in exercises)
    return Exported(notebooks, config, created)
