"""Classroom formats: each turns its layout into the kit's submissions and its results back.

`nbgrader_export`: the exercises as nbgrader source notebooks.
"""
