"""Fault tests: the full run is marked `faults` and runs only with VANTHU_FAULTS set (`make faults`);
the quick parts run in every `make test`. The e2e `system` fixture is shared from tests/e2e."""

from __future__ import annotations

import os

import pytest

from tests.e2e.conftest import http, system, system_database, system_env  # noqa: F401  (fixtures, reused)


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "faults: the full fault run (`make faults`; needs VANTHU_FAULTS=1)")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if os.environ.get("VANTHU_FAULTS"):
        return
    skip = pytest.mark.skip(reason="the full fault run: `make faults` (VANTHU_FAULTS=1)")
    for item in items:
        if item.get_closest_marker("faults"):
            item.add_marker(skip)
