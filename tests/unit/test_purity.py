"""schemas/ is the pure core: no network or database library, no clock."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

SCHEMAS = Path(__file__).resolve().parents[2] / "schemas"
SOURCES = sorted(SCHEMAS.rglob("*.py"))

FORBIDDEN_MODULES = {
    "socket",
    "ssl",
    "http",
    "urllib",
    "requests",
    "httpx",
    "aiohttp",
    "asyncio",
    "asyncpg",
    "psycopg",
    "psycopg2",
    "sqlalchemy",
    "sqlite3",
    "kafka",
    "aiokafka",
    "faust",
    "fastapi",
    "uvicorn",
    "subprocess",
    "time",
    "random",
}
CLOCK = re.compile(
    r"\b(?:datetime\.now|datetime\.utcnow|datetime\.today|date\.today|time\.time|time\.monotonic"
    r"|time\.perf_counter|time_ns|\.now\(\)|\.today\(\)|utcnow\(\))"
)


def imported_roots(path: Path) -> set[str]:
    roots = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            roots.add(node.module.split(".")[0])
    return roots


def test_there_is_something_to_scan() -> None:
    assert len(SOURCES) > 10


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_network_database_or_clock_imports(path: Path) -> None:
    assert not imported_roots(path) & FORBIDDEN_MODULES


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: p.name)
def test_no_clock_reads(path: Path) -> None:
    assert not CLOCK.findall(path.read_text(encoding="utf-8"))


def test_the_scanner_catches_a_clock_read() -> None:
    assert CLOCK.search("today = date.today()") and CLOCK.search("datetime.now(UTC)")
