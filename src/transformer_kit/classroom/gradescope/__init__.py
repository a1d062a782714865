"""Gradescope: the autograder zip (build) and, inside it, one run per submission (run): its files
gathered (gather), graded by `kit grade` as the configuration says (config), its results in
Gradescope's format (results)."""
