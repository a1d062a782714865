"""Gradescope: the autograder zip (build) and, inside it, a submission graded by `kit grade` and
its results in Gradescope's format (results)."""
