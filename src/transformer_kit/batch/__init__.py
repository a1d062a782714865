"""Many submissions (`kit grade`): finding and reading a class's submissions (submissions.py),
the engine that grades what changed and writes the results as they come (engine.py), the
executors (a local pool, Dask; executors.py), and the class's views of the results: grades.csv and
summary.json (tables.py), report.html (report.py, its plots in plots.py, its page in templates/),
from the pass rates and likely mistakes counted in stats.py.

May import: `catalog`, `results`, `storage`, `untrusted`, `check`, `grader/`, `sandbox/`.
Never `learner/`, `classroom/`, `cli/`.
"""
