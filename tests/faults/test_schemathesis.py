"""schemathesis over every operation of the OpenAPI document, against the running system: no answer is a
5xx or breaks the document (status, media type, schema), every error is a problem+json that says what is
wrong, and a refused write stores nothing."""

from __future__ import annotations

import asyncio
import os
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tests.e2e.conftest import System
from tests.faults.test_bad_input import _event_count, assert_problem

EXAMPLES = 100 if os.environ.get("VANTHU_FAULTS") else 10
# no 5xx, and every answer is one the OpenAPI document declares, in its media type and schema
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@pytest.fixture(scope="module")
def api_schema(system: System) -> Any:
    # the feed is a stream that never ends; tests/faults/test_bad_input.py probes it on its own
    return schemathesis.openapi.from_url(f"{system.base_url}/openapi.json").exclude(path_regex="/feed$")


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE], ids=str)
def test_every_operation(api_schema: Any, system: System, mode: GenerationMode) -> None:
    headers = system.token("tu-hcm", "clerk", "specialist", "leader", user="schemathesis")
    operations = {
        f"{op.method.upper()} {op.path}" for op in (r.ok() for r in api_schema.get_all_operations())
    }
    assert len(operations) >= 10, operations
    seen: set[str] = set()

    @settings(
        max_examples=EXAMPLES * len(operations),
        deadline=None,
        suppress_health_check=list(HealthCheck),
        derandomize=True,
        database=None,
    )
    @given(api_schema.as_strategy(generation_mode=mode))
    def check(case: Any) -> None:
        seen.add(f"{case.method.upper()} {case.operation.path}")
        write = case.method.upper() == "POST"
        before = asyncio.run(_event_count(system.settings.dsn)) if write else 0
        response = case.call(headers={**headers, **(case.headers or {})})
        case.validate_response(response, checks=CHECKS)
        if response.status_code >= 400:
            assert_problem(response, response.status_code)  # type: ignore[arg-type]
            if write:
                assert asyncio.run(_event_count(system.settings.dsn)) == before

    check()
    if mode == GenerationMode.POSITIVE:
        assert seen == operations
    else:  # an operation without parameters or body has no invalid request to make
        assert len(seen) >= 8 and seen <= operations, seen
