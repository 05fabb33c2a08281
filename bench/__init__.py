"""Benchmarks of the reconciler as a whole process against the sandbox (`python -m bench`)."""
