"""Many submissions (`kit grade`): finding and reading a class's submissions (submissions.py),
the engine that grades what changed and writes the results as they come (engine.py), and the
executors (a local pool, Dask; executors.py).

May import: `catalog`, `results`, `storage`, `untrusted`, `check`, `grader/`, `sandbox/`.
Never `learner/`, `classroom/`, `cli/`.
"""
