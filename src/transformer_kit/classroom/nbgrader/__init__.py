"""nbgrader: the exercises as source notebooks (export), the runtime inlined in them, and their
submissions graded in the kit's sandbox (grading)."""
