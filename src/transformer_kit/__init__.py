"""transformer-kit: autograded exercises for transformer internals."""

__version__ = "0.1.0"
