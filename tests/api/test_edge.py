"""The request edge (plain ASGI): request ids on every answer, NUL refusal, and the metrics it records."""

from __future__ import annotations

from collections.abc import Callable

import httpx

from tests.api.test_writes import INCOMING

Token = Callable[..., dict[str, str]]


async def test_every_answer_carries_a_request_id(client: httpx.AsyncClient, token: Token) -> None:
    ok = await client.get("/healthz")
    assert len(ok.headers["x-request-id"]) == 32
    given = await client.get("/v1/offices/tu-hcm/documents", headers={"X-Request-ID": "r" * 80})
    assert given.status_code == 401 and given.headers["x-request-id"] == "r" * 64
    assert given.json()["request_id"] == "r" * 64  # problem bodies name the same id


async def test_a_nul_in_the_url_is_a_400_with_its_request_id(client: httpx.AsyncClient, token: Token) -> None:
    resp = await client.get("/v1/documents/a%00b/events", headers=token("tu-hcm", "clerk"))
    assert resp.status_code == 400
    assert resp.headers["content-type"].startswith("application/problem+json")
    assert resp.json()["request_id"] == resp.headers["x-request-id"]


async def test_metrics_count_commands_by_route_and_action(client: httpx.AsyncClient, token: Token) -> None:
    clerk = token("tu-hcm", "clerk")
    created = await client.post("/v1/documents", json=INCOMING, headers=clerk)
    assert created.status_code == 201
    doc = created.json()
    acted = await client.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": "register"},
        headers={**clerk, "If-Match": created.headers["etag"]},
    )
    assert acted.status_code == 200
    stale = await client.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": "submit"},
        headers={**clerk, "If-Match": created.headers["etag"]},
    )
    assert stale.status_code == 409
    text = (await client.get("/metrics")).text
    assert 'vanthu_commands_total{action="create",outcome="ok"} 1.0' in text
    assert 'vanthu_commands_total{action="register",outcome="ok"} 1.0' in text
    assert 'vanthu_commands_total{action="submit",outcome="conflict"} 1.0' in text
    route = 'route="/v1/documents/{document_id}/actions",status="200"'
    assert any(route in line and "_count" in line for line in text.splitlines())


async def test_readyz_and_metrics_show_blocked_documents_and_failed_tasks(
    client: httpx.AsyncClient, database: str
) -> None:
    from deploy.config.db import connect

    owner = await connect(database)
    try:
        for offset, (doc, reason) in enumerate([("d1", "unappliable"), ("d1", "blocked"), ("d2", "gap"),
                                                 ("d3", "undecodable"), ("d4", "conflict")]):  # fmt: skip
            await owner.execute(
                """INSERT INTO rm.dead_letters (topic, partition, "offset", document_id, reason, error,
                       headers) VALUES ('t', 0, $1, $2, $3, 'x', '{}')""",
                offset,
                doc,
                reason,
            )
        await owner.execute(
            "INSERT INTO public.processor_tasks (key, kind, payload, status) "
            "VALUES ('k', 'deliver', '{}', 'failed')"
        )
    finally:
        await owner.close()
    ready = (await client.get("/readyz")).json()
    assert ready["attention"] == {"blocked_documents": 2, "failed_tasks": 1}
    text = (await client.get("/metrics")).text
    assert "vanthu_documents_blocked 2.0" in text and "vanthu_processor_tasks_failed 1.0" in text
