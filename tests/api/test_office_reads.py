"""The office lists over HTTP: paged answers, and cursors a client made up or edited answer a 422."""

from __future__ import annotations

import gc
import inspect
import json
import uuid
from collections.abc import Callable
from datetime import UTC, date, datetime
from typing import Annotated

import httpx
import pytest
from fastapi import FastAPI, Query
from fastapi.encoders import jsonable_encoder

from api import deps
from api.app import GC_THRESHOLDS, create_app
from api.auth import issue_token
from api.deps import READ_POOL_SIZE, open_pool
from api.office_reads import DeadlinesQuery, DocumentsQuery, LeanReads, StatsQuery, json_answer
from api.params import QueryModel, documented
from deploy.config.settings import Settings
from processors import cursors

Token = Callable[..., dict[str, str]]


async def test_the_deadlines_answer_is_a_page(client: httpx.AsyncClient, token: Token) -> None:
    resp = await client.get(
        "/v1/offices/tu-hcm/deadlines",
        params={"due_within": 10, "limit": 500, "status": "overdue", "unit": "van-phong"},
        headers=token("tu-hcm", "leader"),
    )
    assert resp.status_code == 200
    assert resp.json() == {"items": [], "next_cursor": None}


@pytest.mark.parametrize("route", ["deadlines", "documents"])
@pytest.mark.parametrize(
    "cursor",
    [
        "garbage",
        cursors.encode("deadlines", ["2026-13-45", "d1", "a1"]),
        cursors.encode("documents", ["yesterday", "d1"]),
        cursors.encode("documents", ["2026-03-02T09:00:00", "d1"]),  # no time zone
        cursors.encode("documents", ["2026-03-02T09:00:00+07:00", "\ud800"]),
    ],
)
async def test_a_made_up_cursor_is_a_422_with_a_message(
    client: httpx.AsyncClient, token: Token, route: str, cursor: str
) -> None:
    resp = await client.get(
        f"/v1/offices/tu-hcm/{route}", params={"cursor": cursor}, headers=token("tu-hcm", "leader")
    )
    assert resp.status_code == 422, resp.text
    assert "cursor" in resp.json()["detail"]


@pytest.mark.parametrize("params", [{"limit": 0}, {"limit": 501}, {"status": "late"}, {"cursor": "x" * 501}])
async def test_deadline_parameters_out_of_range_are_a_422(
    client: httpx.AsyncClient, token: Token, params: dict[str, object]
) -> None:
    resp = await client.get("/v1/offices/tu-hcm/deadlines", params=params, headers=token("tu-hcm", "leader"))
    assert resp.status_code == 422


def test_lists_are_encoded_once_in_the_form_fastapi_would_give() -> None:
    content = {
        "items": [
            {
                "id": uuid.UUID(int=7),
                "created_at": datetime(2026, 3, 2, 2, 0, tzinfo=UTC),
                "due_date": date(2026, 3, 9),
                "summary": "Quyết định về việc thành lập tổ công tác",
                "lead": {"unit": None},
            }
        ],
        "next_cursor": None,
    }
    answer = json_answer(content)
    assert answer.media_type == "application/json"
    assert json.loads(answer.body) == jsonable_encoder(content)


async def test_the_api_pool_releases_connections_without_a_reset_round_trip(api_settings: Settings) -> None:
    pool = await open_pool(api_settings.app_dsn, min_size=1, max_size=1)
    try:
        async with pool.acquire() as conn:
            await conn.execute("SET application_name = 'vanthu-probe'")
        async with pool.acquire() as conn:  # the same connection: no RESET ALL was sent on release
            assert await conn.fetchval("SHOW application_name") == "vanthu-probe"
    finally:
        await pool.close()


async def test_searches_and_only_searches_run_on_connections_planned_for_their_words(
    api_settings: Settings, token: Token
) -> None:
    """A search's best plan depends on how common its words are: its statements are planned for their own
    values on connections of their own, and the other lists keep their generic plans on the API's pool."""
    app = create_app(api_settings)
    app.state.pool = await open_pool(api_settings.app_dsn, min_size=1, max_size=2)
    search_pool = app.state.search_pool = await open_pool(
        api_settings.app_dsn, min_size=0, max_size=1, custom_plans=True
    )
    headers = token("tu-hcm", "leader")
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            for params in ({"kind": "incoming"}, {"q": "  "}):
                resp = await c.get("/v1/offices/tu-hcm/documents", params=params, headers=headers)
                assert resp.status_code == 200, resp.text
            assert search_pool.get_size() == 0
            resp = await c.get("/v1/offices/tu-hcm/documents", params={"q": "quyết định"}, headers=headers)
            assert resp.status_code == 200, resp.text
            assert search_pool.get_size() == 1
        async with search_pool.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
        async with app.state.pool.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
    finally:
        await search_pool.close()
        await app.state.pool.close()


async def test_plain_lists_deadlines_and_stats_run_on_connections_that_plan_each_statement_once(
    api_settings: Settings, token: Token
) -> None:
    """An inbox page, the deadlines and the statistics have the same best plan for every office and
    viewer: they run on a few connections of their own that keep one generic plan per statement; a search
    and a list filtered by its deadlines do not."""
    app = create_app(api_settings)
    app.state.pool = await open_pool(api_settings.app_dsn, min_size=0, max_size=2)
    app.state.search_pool = await open_pool(api_settings.app_dsn, min_size=0, max_size=1, custom_plans=True)
    read_pool = app.state.read_pool = await open_pool(
        api_settings.app_dsn, min_size=0, max_size=1, generic_plans=True
    )
    headers = token("tu-hcm", "leader")
    home = "/v1/offices/tu-hcm"
    try:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://t") as c:
            for path, params in [
                ("documents", {"q": "quyết định"}),
                ("documents", {"overdue": "true"}),
                ("documents", {"due_within": 3}),
            ]:
                resp = await c.get(f"{home}/{path}", params=params, headers=headers)
                assert resp.status_code == 200, resp.text
            assert read_pool.get_size() == 0
            for path, params in [
                ("documents", {"kind": "incoming", "limit": 20}),
                ("deadlines", {"due_within": 3}),
                ("stats", {"from": "2026-01-01", "to": "2026-12-31"}),
            ]:
                resp = await c.get(f"{home}/{path}", params=params, headers=headers)
                assert resp.status_code == 200, resp.text
            assert read_pool.get_size() == 1
        async with read_pool.acquire() as conn:
            assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
            run = [r[0] for r in await conn.fetch("SELECT statement FROM pg_prepared_statements")]
            for marker in ("ORDER BY l.created_at", "FROM rm.assignments", "FROM rm.stat_counts"):
                assert sum(marker in statement for statement in run) == 1, marker  # inbox, deadlines, stats
    finally:
        for pool in (read_pool, app.state.search_pool, app.state.pool):
            await pool.close()


async def test_the_app_opens_its_read_pool_with_generic_plans(api_settings: Settings) -> None:
    app = create_app(api_settings)
    thresholds = gc.get_threshold()
    try:
        async with app.router.lifespan_context(app):
            async with app.state.read_pool.acquire() as conn:
                assert await conn.fetchval("SHOW plan_cache_mode") == "force_generic_plan"
            assert app.state.read_pool.get_max_size() == READ_POOL_SIZE
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


async def test_the_app_opens_its_search_pool_with_its_own_plans_and_collects_less_often(
    api_settings: Settings,
) -> None:
    app = create_app(api_settings)
    thresholds = gc.get_threshold()
    try:
        async with app.router.lifespan_context(app):
            async with app.state.search_pool.acquire() as conn:
                assert await conn.fetchval("SHOW plan_cache_mode") == "force_custom_plan"
            async with app.state.pool.acquire() as conn:
                assert await conn.fetchval("SHOW plan_cache_mode") == "auto"
            assert gc.get_threshold() == GC_THRESHOLDS  # a serving process collects less often
    finally:
        gc.set_threshold(*thresholds)
        gc.unfreeze()


@pytest.mark.parametrize(
    ("route", "params", "field"),
    [
        ("documents", {"limit": "x"}, "query.limit"),
        ("documents", {"overdue": "maybe", "kind": "incoming"}, "query.overdue"),
        ("documents", {"q": "x" * 201}, "query.q"),
        ("deadlines", {"status": "late", "due_within": 3}, "query.status"),
        ("stats", {"from": "2026-13-01"}, "query.from"),
    ],
)
async def test_a_bad_query_parameter_is_a_422_naming_it(
    client: httpx.AsyncClient, token: Token, route: str, params: dict[str, object], field: str
) -> None:
    resp = await client.get(f"/v1/offices/tu-hcm/{route}", params=params, headers=token("tu-hcm", "leader"))
    assert resp.status_code == 422, resp.text
    assert resp.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in resp.json()["errors"]] == [field]


@pytest.mark.parametrize("model", [DocumentsQuery, DeadlinesQuery, StatsQuery])
def test_query_models_are_documented_as_fastapi_documents_query_parameters(model: type[QueryModel]) -> None:
    """The routes validate their query in one call (api/params.py); OpenAPI still lists each parameter,
    exactly as FastAPI would for the same model declared as the route's query."""

    async def declared(**_: object) -> None:
        """FastAPI's own declaration of the model as query parameters."""

    query = inspect.Parameter("p", inspect.Parameter.KEYWORD_ONLY, annotation=Annotated[model, Query()])
    declared.__signature__ = inspect.Signature([query])  # type: ignore[attr-defined]
    probe = FastAPI()
    probe.add_api_route("/probe", declared, methods=["GET"])
    theirs = probe.openapi()["paths"]["/probe"]["get"]["parameters"]
    assert documented(model)["parameters"] == theirs


async def test_office_reads_are_answered_alike_by_lean_reads_and_by_fastapi(
    api_settings: Settings, token: Token
) -> None:
    """The office's documents, deadlines and stats are served by `LeanReads` (api/office_reads.py) without
    FastAPI's router and dependency solving, and anything it does not take goes on to FastAPI: every
    answer, good or bad, is the one FastAPI's own handler gives (here: the same app without LeanReads)."""
    lean, plain = create_app(api_settings), create_app(api_settings)
    plain.user_middleware = [m for m in plain.user_middleware if m.cls is not LeanReads]
    pool = await open_pool(api_settings.app_dsn, min_size=1, max_size=4)
    lean.state.pool = plain.state.pool = pool
    leader = token("tu-hcm", "leader")
    expired = issue_token(api_settings, office="tu-hcm", roles=["leader"], ttl_seconds=-3600)
    home = "/v1/offices/tu-hcm"
    cases: list[tuple[str, str, object, dict[str, str]]] = [
        ("GET", f"{home}/documents", {"kind": "incoming", "limit": 20}, leader),
        ("GET", f"{home}/documents", {"q": "quyết định", "limit": 20}, leader),
        ("GET", f"{home}/documents", {"overdue": "true", "due_within": 3, "state": "registered"}, leader),
        ("GET", f"{home}/deadlines", {"due_within": 3}, leader),
        ("GET", f"{home}/deadlines", {"status": "overdue", "unit": "van-phong", "limit": 500}, leader),
        ("GET", f"{home}/stats", {"from": "2026-01-01", "to": "2026-12-31"}, leader),
        ("GET", f"{home}/stats", {}, leader),
        # bad input
        ("GET", f"{home}/documents", {"limit": 0}, leader),
        ("GET", f"{home}/documents", [("limit", "5"), ("limit", "x")], leader),  # the last one counts
        ("GET", f"{home}/documents", {"kind": "memo", "overdue": "maybe", "q": "x" * 201}, leader),
        ("GET", f"{home}/documents", {"cursor": "garbage"}, leader),
        ("GET", f"{home}/documents", {"after": -1}, leader),
        ("GET", f"{home}/documents", {"after": 2**62}, leader),  # no event has that position
        ("GET", f"{home}/deadlines", {"status": "late", "due_within": 366}, leader),
        ("GET", f"{home}/deadlines", {"cursor": cursors.encode("documents", ["2026-03-02", "d1"])}, leader),
        ("GET", f"{home}/stats", {"from": "2026-13-01"}, leader),
        ("GET", f"{home}/stats", {"from": "2026-12-31", "to": "2026-01-01"}, leader),
        # who asks
        ("GET", f"{home}/documents", {}, {}),
        ("GET", f"{home}/deadlines", {}, {"Authorization": ""}),
        ("GET", f"{home}/stats", {}, {"Authorization": "Basic dXNlcjpwdw=="}),
        ("GET", f"{home}/documents", {}, {"Authorization": "Bearer not-a-token"}),
        ("GET", f"{home}/documents", {}, {"Authorization": f"Bearer {expired}"}),
        ("GET", f"{home}/documents", {"limit": 0}, {"Authorization": "Bearer not-a-token"}),
        ("GET", f"{home}/deadlines", {}, token("hu-cu-chi", "leader")),  # another office's token
        ("GET", "/v1/offices/nowhere/stats", {}, token("nowhere", "leader")),
        ("GET", f"/v1/offices/{'x' * 101}/documents", {}, leader),  # longer than an office id
        ("GET", f"/v1/offices/{'x' * 101}/documents", {}, {}),
        # not one of its routes
        ("GET", f"{home}/documents/", {}, leader),
        ("GET", f"{home}/registers/incoming", {"year": 2026}, leader),
        ("GET", "/v1/offices//documents", {}, leader),
        ("POST", f"{home}/documents", {}, leader),
        ("HEAD", f"{home}/stats", {}, leader),
    ]
    try:
        async with (
            httpx.AsyncClient(transport=httpx.ASGITransport(app=lean), base_url="http://t") as a,
            httpx.AsyncClient(transport=httpx.ASGITransport(app=plain), base_url="http://t") as b,
        ):
            for method, url, params, headers in cases:
                answers = [
                    await c.request(method, url, params=params, headers={**headers, "X-Request-ID": "r1"})  # type: ignore[arg-type]
                    for c in (a, b)
                ]
                seen = [
                    (
                        r.status_code,
                        r.headers.get("content-type"),
                        r.headers.get("www-authenticate"),
                        r.headers.get("x-request-id"),
                        r.headers.get("location"),
                        r.content,
                    )
                    for r in answers
                ]
                assert seen[0] == seen[1], (method, url, params)
            # the lean path served the reads: FastAPI's dependency, made to fail, is not asked
            lean.dependency_overrides[deps.reader] = _refuse
            for route in ("documents", "deadlines", "stats"):
                assert (await a.get(f"{home}/{route}", headers=leader)).status_code == 200
            # and the metrics name the route's template, as the router sets it
            sample = lean.state.metrics.registry.get_sample_value(
                "vanthu_http_request_duration_seconds_count",
                {"method": "GET", "route": "/v1/offices/{office}/documents", "status": "200"},
            )
            assert sample is not None and sample >= 4
    finally:
        await pool.close()


async def _refuse() -> None:
    raise AssertionError("FastAPI's dependency solving ran for a lean read")
