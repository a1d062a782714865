"""One learner's workspace: finding and making it, the progress store, `kit watch`'s loop,
`kit interview`'s attempts, what an exercise asks for (`outline`) and `kit repro`'s scripts.

May import: `catalog`, `results`, `storage`, `check`, `sandbox/` (watch starts a worker ahead),
`grader/` (repro runs a grader against the reference, in this process).
Never `batch/`, `classroom/`, `cli/` (drawing is handed in).
"""
