"""Benchmarks (`make bench`, `python -m tests.bench`): never collected by pytest (see conftest.py)."""
