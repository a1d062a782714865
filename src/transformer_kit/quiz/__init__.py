"""Concept checks from the interview notes, graded and scheduled: `kit quiz` and `kit today`.

- `bank/`: the checks, one TOML file per topic, and `sources.toml` (the notes and their sections);
  `bank.py` loads and validates them (`schema.json`), `formulas.py` computes the answers of the
  parameterised numeric checks (a registry of named functions, never an evaluated expression).
- `answers.py`: one shown instance of a check (its numbers, its shuffled options) and grading of a
  typed answer. `schedule.py`: the store `.kit/quiz.json` and FSRS. `today.py`: the day's plan.

May import: `catalog`, `storage`, `learner/` (progress and interview history for the plan).
Never `grader/`, `sandbox/`, `check`, `batch/`, `classroom/`, `cli/`.
"""
