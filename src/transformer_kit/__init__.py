"""transformer-kit: autograded exercises for transformer internals.

The packages, from the inside out (each `__init__` says what it owns and may import;
tests/engine/test_layers.py holds the rules):
- `catalog`, `results`, `untrusted`, `storage`: the exercises' declarations, results as data,
  text from the learner's side made safe, files written whole. Import nothing else of the kit.
- `grader/`: what graders import (comparisons and their messages, the student handle, call
  snapshots, the pytest plugin). numpy and pytest only: the nbgrader export inlines it.
- `sandbox/`: everything near untrusted code (isolation levels, bubblewrap, process limits, the
  wire format, the worker, the remote student handle, diagnosis of a dead worker).
- `check`: grade one workspace's exercises (grader/ + sandbox/).
- `learner/`: one learner's workspace (store, watch, interview). `batch/`: many submissions
  (finding them, the engine, tables, executors). `classroom/`: nbgrader and Gradescope.
- `cli/`: the `kit` command; the only package that imports click; nothing imports it.

Where exercises/, solutions/ and graders/ are (`CONTENT`): inside this package in a wheel, or at
the top of a source checkout (`pip install -e .`), added to this package's search path so that
`transformer_kit.graders` and friends resolve the same way in both. Everything else asks `CONTENT`.
"""

from pathlib import Path

__version__ = "0.1.0"


def _content_root() -> Path:
    here = Path(__file__).resolve().parent
    checkout = here.parents[1]
    if not (here / "graders").is_dir() and (checkout / "graders").is_dir():
        return checkout
    return here


CONTENT = _content_root()
if str(CONTENT) not in __path__:
    __path__.append(str(CONTENT))
