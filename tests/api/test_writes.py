"""Writing through the API as a client does: create, act with If-Match, conflicts, idempotency, errors."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx

CITY = "tu-hcm"

INCOMING = {
    "kind": "incoming",
    "office_id": CITY,
    "issuing_body": "Ban Tổ chức Trung ương",
    "number_code": "45-CV/BTCTW",
    "document_date": "2026-11-20",
    "document_type": "CV",
    "summary": "Về việc rà soát, bổ sung quy hoạch cán bộ nhiệm kỳ 2025-2030",
    "urgency": "khan",
    "secrecy": "thuong",
    "attachments": [],
}

Token = Callable[..., dict[str, str]]


def _problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["status"] == status and body["type"].startswith("/problems/") and body["detail"]
    return body


async def test_create_then_register_with_if_match(client: httpx.AsyncClient, token: Token) -> None:
    clerk = token(CITY, "clerk")
    created = await client.post("/v1/documents", json=INCOMING, headers=clerk)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["state"] == "received" and doc["version"] == 1 and created.headers["etag"] == '"1"'
    assert int(created.headers["x-vanthu-position"]) >= 1
    registered = await client.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": "register"},
        headers={**clerk, "If-Match": '"1"'},
    )
    assert registered.status_code == 200, registered.text
    assert registered.json()["state"] == "registered" and registered.json()["incoming_number"] == 1
    assert registered.headers["etag"] == '"2"'


async def test_conflict_missing_and_bad_if_match(client: httpx.AsyncClient, token: Token) -> None:
    clerk = token(CITY, "clerk")
    doc = (await client.post("/v1/documents", json=INCOMING, headers=clerk)).json()
    url = f"/v1/documents/{doc['id']}/actions"
    assert (
        await client.post(url, json={"action": "register"}, headers={**clerk, "If-Match": '"1"'})
    ).is_success
    stale = await client.post(url, json={"action": "submit"}, headers={**clerk, "If-Match": '"1"'})
    body = _problem(stale, 409)
    assert body["current_version"] == 2 and body["document"]["state"] == "registered"
    _problem(await client.post(url, json={"action": "submit"}, headers=clerk), 428)
    _problem(await client.post(url, json={"action": "submit"}, headers={**clerk, "If-Match": "two"}), 400)


async def test_action_not_allowed_names_state_and_allowed(client: httpx.AsyncClient, token: Token) -> None:
    clerk = token(CITY, "clerk")
    doc = (await client.post("/v1/documents", json=INCOMING, headers=clerk)).json()
    resp = await client.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": "file", "dossier": "HS-01"},
        headers={**clerk, "If-Match": '"1"'},
    )
    body = _problem(resp, 422)
    assert body["state"] == "received" and "register" in body["allowed_actions"]


async def test_idempotent_create_and_reused_key(client: httpx.AsyncClient, token: Token) -> None:
    clerk = {**token(CITY, "clerk"), "Idempotency-Key": "intake-0001"}
    first = await client.post("/v1/documents", json=INCOMING, headers=clerk)
    again = await client.post("/v1/documents", json=INCOMING, headers=clerk)
    assert first.status_code == again.status_code == 201
    assert first.json()["id"] == again.json()["id"] and again.json()["version"] == 1
    history = await client.get(f"/v1/documents/{first.json()['id']}/events", headers=clerk)
    assert len(history.json()["items"]) == 1
    other = await client.post("/v1/documents", json={**INCOMING, "summary": "Khác"}, headers=clerk)
    _problem(other, 422)


async def test_validation_errors_name_fields(client: httpx.AsyncClient, token: Token) -> None:
    clerk = token(CITY, "clerk")
    bad = {**INCOMING, "urgency": "very", "document_date": "20/11/2026"}
    body = _problem(await client.post("/v1/documents", json=bad, headers=clerk), 422)
    fields = {e["field"] for e in body["errors"]}
    assert {"urgency", "document_date"} <= fields
    body = _problem(await client.post("/v1/documents", content=b"{not json", headers=clerk), 422)


async def test_auth_errors(client: httpx.AsyncClient, token: Token) -> None:
    _problem(await client.post("/v1/documents", json=INCOMING), 401)
    _problem(
        await client.post("/v1/documents", json=INCOMING, headers={"Authorization": "Bearer x.y.z"}), 401
    )
    other_office = token("qu-1", "clerk")
    _problem(await client.post("/v1/documents", json=INCOMING, headers=other_office), 403)
    specialist = token(CITY, "specialist")
    _problem(await client.post("/v1/documents", json=INCOMING, headers=specialist), 403)


async def test_offices_are_public(client: httpx.AsyncClient) -> None:
    resp = await client.get("/v1/offices")
    assert resp.status_code == 200
    items = resp.json()["items"]
    assert len(items) == 23 and sum(1 for o in items if o["parent_id"] is None) == 1
