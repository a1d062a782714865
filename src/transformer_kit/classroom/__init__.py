"""Classroom formats: each turns its layout into the kit's submissions and its results back
(`nbgrader/`, `gradescope/`).

May import: `batch/`, `grader/`, `catalog`, `results`, `storage`, `untrusted`. Never `learner/`,
`cli/`.

Gradescope's visibility values live here, not in `gradescope`, so that `kit --help` and every
other command can offer them without importing the format's module.
"""

VISIBILITIES = ("hidden", "after_due_date", "after_published", "visible")  # Gradescope's
HIDDEN_VISIBILITY = "after_published"  # when students see the hidden tests, by default
