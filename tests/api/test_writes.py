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
    # today's city (the city office, 4 agencies' committees, 168 commune-level ones) and the 22 former
    # district offices, none closed in this database
    assert len(items) == 195 and sum(1 for o in items if o["parent_id"] is None) == 1


async def test_as_of_over_events_stamped_out_of_time_order_answers_the_version_prefix(
    client: httpx.AsyncClient, token: Token, database: str
) -> None:
    """A store written before `handle` took the later time: v2 says it happened before v1."""
    import dataclasses
    from datetime import UTC, datetime, timedelta

    from deploy.config.db import connect
    from tests.producers.bulk import Streams

    owner = await connect(database)
    try:
        streams = Streams(1)
        [doc] = streams.versions
        envelopes = streams.envelopes(doc, 3)
        base = datetime(2026, 3, 2, 2, 0, tzinfo=UTC)
        at = [base, base - timedelta(hours=5), base + timedelta(hours=1)]  # v2 skewed back
        envelopes = [dataclasses.replace(e, occurred_at=t) for e, t in zip(envelopes, at, strict=True)]
        async with owner.transaction():
            from producers.store import append

            await append(owner, envelopes, streams.hashes[doc])
    finally:
        await owner.close()
    clerk = token(CITY, "clerk")
    for moment, version in ((base - timedelta(hours=1), None), (base, 2), (base + timedelta(hours=2), 3)):
        resp = await client.get(f"/v1/documents/{doc}", params={"as_of": moment.isoformat()}, headers=clerk)
        if version is None:
            assert resp.status_code == 404, resp.text
        else:
            assert resp.status_code == 200, resp.text
            assert resp.json()["version"] == version
    far = await client.get(
        f"/v1/documents/{doc}", params={"as_of": "0001-01-01T00:00:00+14:00"}, headers=clerk
    )
    assert far.status_code in (404, 422), far.text


async def test_an_action_body_is_answered_alike_however_it_is_sent(
    client: httpx.AsyncClient, token: Token
) -> None:
    """The action route reads a JSON object body itself (api.documents._ActionRoute) and leaves every
    other body to FastAPI: the answers are those FastAPI gives, and a charset parameter changes nothing."""
    clerk = token(CITY, "clerk")
    doc = (await client.post("/v1/documents", json=INCOMING, headers=clerk)).json()
    url = f"/v1/documents/{doc['id']}/actions"
    at_1 = {**clerk, "If-Match": '"1"', "Content-Type": "application/json"}
    _problem(await client.post(url, content=b"{not json", headers=at_1), 422)
    _problem(await client.post(url, content=b'[{"action": "register"}]', headers=at_1), 422)
    _problem(await client.post(url, content=b'{"action": NaN}', headers=at_1), 422)
    as_text = {**at_1, "Content-Type": "text/plain"}
    _problem(await client.post(url, content=b'{"action": "register"}', headers=as_text), 422)
    _problem(await client.post(url, content=b'{"action": "register"}', headers={"If-Match": '"1"'}), 401)
    _problem(await client.post(url, content=b"{}", headers=at_1), 422)
    utf8 = {**at_1, "Content-Type": "application/json; charset=utf-8"}
    registered = await client.post(url, content=b'{"action": "register"}', headers=utf8)
    assert registered.status_code == 200, registered.text
    assert registered.json()["version"] == 2 and registered.headers["etag"] == '"2"'
    assert registered.headers["content-type"] == "application/json"
