"""Benchmarks are run by `python -m tests.bench`, never by pytest's default collection."""

collect_ignore_glob = ["*.py"]
