"""What graders import: comparisons and the failures they raise, the student handle's local form,
call snapshots and memory use, and the pytest plugin that runs graders and collects results.

May import: numpy, pytest, and of the kit only `catalog`, `results` and `untrusted`. Never
`sandbox/` (the plugin is handed the student handles), `learner/`, `batch/`, `classroom/`, `cli/`.
`compare`, `failures` and `student` need numpy alone: the nbgrader export inlines them.
"""
