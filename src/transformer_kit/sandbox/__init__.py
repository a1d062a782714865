"""Everything near untrusted code: the isolation levels, bubblewrap, the worker's process and its
limits (its control group, its system-call filter), the channel to it (frames under one deadline
per call, the watchdog), the wire format (frames of plain values), the worker itself, the remote
student handle the graders talk to, and the diagnosis of a worker that died.

May import: `grader/` (failures, call snapshots, memory use), `catalog`, `results`, `untrusted`.
Never `learner/`, `batch/`, `classroom/`, `cli/`.
"""
