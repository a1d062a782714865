"""nbgrader: the exercises as source notebooks (export, built by notebooks, answers and
grader_source from sources), the runtime inlined in them, and their submissions graded in the
kit's sandbox: the course and its gradebook (course), one student's submission read (submitted),
the grades written back (grading)."""
