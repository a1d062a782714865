"""Many submissions (`kit grade`): finding a class's submissions, the engine that grades what
changed and writes the results as they come, and the executors (a local pool, Dask).

May import: `catalog`, `results`, `storage`, `untrusted`, `check`, `grader/`, `sandbox/`.
Never `learner/`, `classroom/`, `cli/`.
"""
