"""Likely-mistake lines that several graders give (one place for each)."""
