"""`python -m transformer_kit.cli ...`: the `kit` command (Gradescope's run_autograder uses it)."""

from transformer_kit.cli import main

main()
