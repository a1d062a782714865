"""One learner's workspace: finding and making it, the progress store, `kit watch`'s loop and
`kit interview`'s attempts.

May import: `catalog`, `results`, `storage`, `check`, `sandbox/` (watch starts a worker ahead).
Never `batch/`, `classroom/`, `cli/` (drawing is handed in).
"""
