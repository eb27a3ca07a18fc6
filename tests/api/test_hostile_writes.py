"""What a hostile client names or sends on the write side: forged sources, unknown offices and units,
lowered secrecy, oversized bodies, someone else's idempotency key, and /metrics with a silent broker."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Callable
from typing import Any

import httpx

from api.app import create_app
from deploy.config.db import create_pool
from deploy.config.settings import Settings
from tests.api.test_writes import CITY, INCOMING, _problem
from tests.toolkit.waiting import wait_until

Token = Callable[..., dict[str, str]]
OUTGOING = {"kind": "outgoing", "office_id": CITY, "document_type": "CV", "summary": "Về việc báo cáo"}


async def _act(
    client: httpx.AsyncClient, headers: dict[str, str], doc: dict[str, Any], action: str, **params: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": action, **params},
        headers={**headers, "If-Match": f'"{doc["version"]}"'},
    )


def _accepted(server: socket.socket) -> bool:
    try:
        server.accept()
    except BlockingIOError:
        return False
    return True


async def _ok(resp: httpx.Response) -> dict[str, Any]:
    assert resp.status_code in (200, 201), resp.text
    body: dict[str, Any] = resp.json()
    return body


async def test_source_is_never_taken_from_a_client(client: httpx.AsyncClient, token: Token) -> None:
    forged = {**INCOMING, "source": {"office_id": "qu-1", "document_id": "x-1"}}
    body = _problem(await client.post("/v1/documents", json=forged, headers=token(CITY, "clerk")), 422)
    assert [e["field"] for e in body["errors"]] == ["source"]


async def test_issue_recipients_must_be_configured_offices(client: httpx.AsyncClient, token: Token) -> None:
    drafter, leader, clerk = token(CITY, "specialist"), token(CITY, "leader"), token(CITY, "clerk")
    doc = await _ok(await client.post("/v1/documents", json=OUTGOING, headers=drafter))
    doc = await _ok(await _act(client, drafter, doc, "submit_review"))
    doc = await _ok(await _act(client, leader, doc, "review", approve=True))
    signer = {"signer_name": "Nguyễn Văn A", "signer_position": "Phó Bí thư"}
    doc = await _ok(await _act(client, leader, doc, "sign", **signer))
    for recipients, field in ((["qu-1", "nowhere"], "recipients.1"), ([CITY], "recipients.0")):
        body = _problem(await _act(client, clerk, doc, "issue", recipients=recipients), 422)
        assert [e["field"] for e in body["errors"]] == [field], body
    assert (await _ok(await _act(client, clerk, doc, "issue", recipients=["qu-1"])))["state"] == "issued"


async def test_lead_and_cooperating_units_must_be_the_offices(
    client: httpx.AsyncClient, token: Token
) -> None:
    clerk, leader = token(CITY, "clerk"), token(CITY, "leader")
    doc = await _ok(await client.post("/v1/documents", json=INCOMING, headers=clerk))
    doc = await _ok(await _act(client, clerk, doc, "register"))
    deadline = {"working_days": 3}
    for lead, cooperating, field in (
        ({"unit": "qu-1.tong-hop"}, [], "lead.unit"),  # another office's unit
        ({"unit": "tu-hcm.tong-hop"}, ["made-up"], "cooperating.0"),
    ):
        resp = await _act(
            client, leader, doc, "assign", lead=lead, cooperating=cooperating, deadline=deadline
        )
        assert [e["field"] for e in _problem(resp, 422)["errors"]] == [field]
    ok = await _act(client, leader, doc, "assign", lead={"unit": "tu-hcm.tong-hop"}, deadline=deadline)
    assert (await _ok(ok))["state"] == "assigned"


async def test_revise_never_lowers_secrecy_and_declassify_is_a_cleared_leaders(
    client: httpx.AsyncClient, token: Token
) -> None:
    drafter = token(CITY, "specialist", user="cv.drafter")
    doc = await _ok(
        await client.post("/v1/documents", json={**OUTGOING, "secrecy": "toi_mat"}, headers=drafter)
    )
    _problem(await _act(client, drafter, doc, "revise", secrecy="thuong"), 422)
    raised = await _ok(await _act(client, drafter, doc, "revise", secrecy="tuyet_mat"))
    assert raised["secrecy"] == "tuyet_mat"
    basis = {"secrecy": "mat", "basis": "Quyết định giảm độ mật số 12"}
    _problem(await _act(client, drafter, raised, "declassify", **basis), 403)  # not a leader
    cleared_less = token(CITY, "leader", user="ld.mat", clearance="toi_mat")
    _problem(await _act(client, cleared_less, raised, "declassify", **basis), 404)  # may not even see it
    granted_less = token(CITY, "leader", user="cv.drafter", clearance="toi_mat")  # sees it as its creator
    _problem(await _act(client, granted_less, raised, "declassify", **basis), 403)
    leader = token(CITY, "leader", user="ld.top", clearance="tuyet_mat")
    _problem(await _act(client, leader, raised, "declassify", secrecy="tuyet_mat", basis="x"), 422)
    lowered = await _ok(await _act(client, leader, raised, "declassify", **basis))
    assert lowered["secrecy"] == "mat"
    history = await client.get(f"/v1/documents/{doc['id']}/events", headers=leader)
    assert history.json()["items"][-1]["data"] == {"secrecy": "mat", "basis": basis["basis"]}


async def test_a_body_over_the_limit_is_413_before_it_is_read(
    client: httpx.AsyncClient, token: Token
) -> None:
    clerk = token(CITY, "clerk")
    big = {**INCOMING, "summary": "x" * (2 * 1024 * 1024)}
    _problem(await client.post("/v1/documents", json=big, headers=clerk), 413)

    async def chunks() -> Any:  # no Content-Length: counted as it arrives
        yield b'{"kind": "incoming", "summary": "'
        for _ in range(64):
            yield b"y" * 16384
        yield b'"}'

    headers = {**clerk, "Content-Type": "application/json"}
    _problem(await client.post("/v1/documents", content=chunks(), headers=headers), 413)


async def test_another_users_idempotency_key_gets_neither_the_answer_nor_the_document(
    client: httpx.AsyncClient, token: Token
) -> None:
    key = {"Idempotency-Key": "tao-van-ban-1"}
    alice, mallory = token(CITY, "clerk", user="vt.alice"), token(CITY, "clerk", user="vt.mallory")
    first = await _ok(await client.post("/v1/documents", json=INCOMING, headers={**alice, **key}))
    again = await _ok(await client.post("/v1/documents", json=INCOMING, headers={**alice, **key}))
    assert again["id"] == first["id"]
    theirs = await _ok(await client.post("/v1/documents", json=INCOMING, headers={**mallory, **key}))
    assert theirs["id"] != first["id"] and theirs["created_by"] == "vt.mallory"
    registered = await _ok(await _act(client, alice, first, "register", **{}))
    replay = await client.post(
        f"/v1/documents/{first['id']}/actions",
        json={"action": "register"},
        headers={**mallory, "If-Match": f'"{first["version"]}"', "Idempotency-Key": "dang-ky"},
    )
    assert replay.status_code != 200 or replay.json()["incoming_number"] != registered["incoming_number"]


async def test_metrics_holds_no_pool_connection_while_it_waits_for_kafka(
    api_settings: Settings, token: Token
) -> None:
    """A broker that accepts and never answers: /metrics waits on it, and the one pool connection stays
    free for everyone else meanwhile."""
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(16)
    silent.setblocking(False)
    settings = api_settings.with_(kafka_bootstrap=f"127.0.0.1:{silent.getsockname()[1]}")
    app = create_app(settings)
    app.state.pool = await create_pool(settings.app_dsn, min_size=1, max_size=1)
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://vanthu.test", timeout=60) as c:
            metrics = asyncio.create_task(c.get("/metrics"))
            await wait_until(lambda: _accepted(silent), what="/metrics calling the broker")
            listed = await c.get(f"/v1/offices/{CITY}/documents", headers=token(CITY, "clerk"))
            assert not metrics.done()  # still waiting for the broker, and the pool answered meanwhile
            assert listed.status_code == 200
            assert (await metrics).status_code == 200
    finally:
        await app.state.pool.close()
        silent.close()
