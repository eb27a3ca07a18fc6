"""Offices that close (DOMAIN.md, "Offices open and close") through the API, on the write side: the act
and its refusals, deliveries to a closed office or one not open yet, and a new committee numbering from
01. The read side of a hand-over (history, registers, lists) is in tests/e2e/test_offices_close.py."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx

from deploy.config.settings import Settings
from schemas.deadlines import local_date
from tests.api.conftest import app_client
from tests.unit.lifecycle import body, create_body

Token = Callable[..., dict[str, str]]
CITY = "tu-hcm"
CLOSING = {"closed_on": "2025-06-30", "basis": "Nghị quyết 1685/NQ-UBTVQH15"}


def _admin(token: Token, office: str = CITY) -> dict[str, str]:
    return token(office, "admin", user=f"admin@{office}", clearance="tuyet_mat")


async def _close(
    client: httpx.AsyncClient, who: dict[str, str], office: str, *successors: str, **fields: Any
) -> httpx.Response:
    return await client.post(
        f"/v1/offices/{office}/close", json={**CLOSING, "successors": list(successors), **fields}, headers=who
    )


async def _act(
    client: httpx.AsyncClient, who: dict[str, str], doc: dict[str, Any], **b: Any
) -> dict[str, Any]:
    resp = await client.post(
        f"/v1/documents/{doc['id']}/actions", json=b, headers={**who, "If-Match": f'"{doc["version"]}"'}
    )
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


async def _signed(client: httpx.AsyncClient, office: str, token: Token, **fields: Any) -> dict[str, Any]:
    who = _admin(token, office)
    created = await client.post("/v1/documents", json=create_body("outgoing", office, **fields), headers=who)
    assert created.status_code == 201, created.text
    doc: dict[str, Any] = created.json()
    for action in ("submit_review", "review", "sign"):
        doc = await _act(client, who, doc, **body(action))
    return doc


async def test_closing_is_an_act_of_an_admin_of_the_top_office(
    client: httpx.AsyncClient, token: Token
) -> None:
    assert (await _close(client, token(CITY, "clerk"), "qu-1", "phuong-tan-dinh")).status_code == 403
    # an admin of another office, even of the office itself, may not close it
    assert (await _close(client, _admin(token, "qu-1"), "qu-1", "phuong-tan-dinh")).status_code == 403
    assert (await _close(client, {}, "qu-1", "phuong-tan-dinh")).status_code == 401
    missing = await _close(client, _admin(token), "no-such-office", "phuong-tan-dinh")
    assert missing.status_code == 404

    closed = await _close(client, _admin(token), "qu-1", "phuong-tan-dinh", "phuong-sai-gon")
    assert closed.status_code == 200, closed.text
    assert closed.json() == {
        "office_id": "qu-1",
        "successors": ["phuong-tan-dinh", "phuong-sai-gon"],
        "handed_over": [],
        **CLOSING,
    }
    assert int(closed.headers["x-vanthu-position"]) >= 1

    listed = (await client.get("/v1/offices")).json()["items"]
    assert "qu-1" not in {o["id"] for o in listed}
    assert {o["id"]: o["opened_on"] for o in listed}["phuong-tan-dinh"] == "2025-07-01"
    history = (await client.get("/v1/offices", params={"include_closed": "true"})).json()["items"]
    qu1 = next(o for o in history if o["id"] == "qu-1")
    assert qu1["closed_on"] == "2025-06-30" and qu1["successors"] == ["phuong-tan-dinh", "phuong-sai-gon"]
    assert qu1["basis"] == CLOSING["basis"]

    twice = await _close(client, _admin(token), "qu-1", "phuong-tan-dinh")
    assert twice.status_code == 409 and "already closed on 2025-06-30" in twice.json()["detail"]


async def test_a_closing_that_cannot_be_is_refused_with_a_4xx(
    client: httpx.AsyncClient, token: Token
) -> None:
    admin = _admin(token)
    assert (await _close(client, admin, "qu-3", "phuong-ban-co")).status_code == 200
    cases = [
        (("qu-4", "no-such-office"), {}, "'no-such-office' is not a configured office"),
        (("qu-4", "qu-3"), {}, "office qu-3 closed on 2025-06-30; name its successor phuong-ban-co instead"),
        (("qu-4", "qu-4"), {}, "cannot succeed itself"),
        (("qu-4", "phuong-xom-chieu", "phuong-xom-chieu"), {}, "must not repeat"),
        (("qu-4",), {}, "successors"),
        (("qu-4", "phuong-xom-chieu"), {"closed_on": "2999-01-01"}, "is after today"),
        (("qu-4", "phuong-xom-chieu"), {"closed_on": "30/6/2025"}, "closed_on"),
        (("qu-4", "phuong-xom-chieu"), {"basis": ""}, "basis"),
        (("phuong-xom-chieu", "phuong-khanh-hoi"), {"closed_on": "2025-06-01"}, "before it opened"),
        ((CITY, "phuong-xom-chieu"), {}, "top office"),
    ]
    for (office, *successors), fields, message in cases:
        resp = await _close(client, admin, office, *successors, **fields)
        assert resp.status_code == 422, (office, successors, fields, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
        assert message in resp.text, resp.text
    # none of them closed anything
    open_ids = {o["id"] for o in (await client.get("/v1/offices")).json()["items"]}
    assert {"qu-4", "phuong-xom-chieu", CITY} <= open_ids and "qu-3" not in open_ids


async def test_a_delivery_to_a_closed_office_is_refused_naming_its_successor(
    client: httpx.AsyncClient, token: Token
) -> None:
    assert (
        await _close(client, _admin(token), "qu-5", "phuong-cho-quan", "phuong-an-dong")
    ).status_code == 200
    doc = await _signed(client, CITY, token)
    refused = await client.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": "issue", "recipients": ["phuong-sai-gon", "qu-5"]},
        headers={**_admin(token), "If-Match": f'"{doc["version"]}"'},
    )
    assert refused.status_code == 422, refused.text
    problem = refused.json()
    assert problem["type"] == "/problems/office-closed"
    assert problem["office_id"] == "qu-5" and problem["successors"] == ["phuong-cho-quan", "phuong-an-dong"]
    assert "office qu-5 closed on 2025-06-30" in problem["detail"]
    assert "address phuong-cho-quan instead" in problem["detail"]
    # nothing was issued or numbered: the same document goes out to the successor, as number 01
    issued = await _act(
        client, _admin(token), doc, action="issue", recipients=["phuong-sai-gon", "phuong-cho-quan"]
    )
    assert issued["state"] == "issued" and issued["number_code"] == "01-CV/TU"
    # and nothing new is created in the closed office
    created = await client.post(
        "/v1/documents", json=create_body("incoming", "qu-5"), headers=_admin(token, "qu-5")
    )
    assert created.status_code == 422 and created.json()["type"] == "/problems/office-closed"


async def test_a_new_committees_first_outgoing_cv_is_numbered_01(
    client: httpx.AsyncClient, token: Token
) -> None:
    for office in ("phuong-sai-gon", "dac-khu-con-dao"):
        doc = await _signed(client, office, token, document_type="CV")
        issued = await _act(client, _admin(token, office), doc, action="issue", recipients=[CITY])
        assert issued["outgoing_number"] == 1 and issued["number_code"] == "01-CV/ĐU"
    doc = await _signed(client, "phuong-sai-gon", token, document_type="CV")
    issued = await _act(client, _admin(token, "phuong-sai-gon"), doc, action="issue", recipients=[CITY])
    assert issued["number_code"] == "02-CV/ĐU"


async def test_nothing_is_delivered_to_or_created_in_an_office_before_it_opens(
    api_settings: Settings, token: Token, tmp_path: Path
) -> None:
    opens = local_date(datetime.now(UTC)) + timedelta(days=30)
    raw = json.loads(api_settings.offices_file.read_text(encoding="utf-8"))
    raw["offices"].append(
        {
            "id": "phuong-moi",
            "name": "Văn phòng Đảng ủy phường Mới",
            "code": "ĐU",
            "parent_id": CITY,
            "units": [{"id": "phuong-moi.van-phong", "name": "Văn phòng Đảng ủy"}],
            "opened_on": opens.isoformat(),
        }
    )
    offices_file = tmp_path / "offices.json"
    offices_file.write_text(json.dumps(raw, ensure_ascii=False), encoding="utf-8")
    async for client in app_client(api_settings.with_(offices_file=offices_file)):
        doc = await _signed(client, CITY, token)
        refused = await client.post(
            f"/v1/documents/{doc['id']}/actions",
            json={"action": "issue", "recipients": ["phuong-sai-gon", "phuong-moi"]},
            headers={**_admin(token), "If-Match": f'"{doc["version"]}"'},
        )
        assert refused.status_code == 422, refused.text
        problem = refused.json()
        assert problem["type"] == "/problems/office-not-open"
        assert problem["office_id"] == "phuong-moi" and problem["opened_on"] == opens.isoformat()
        assert f"office phuong-moi opens on {opens.isoformat()}" in problem["detail"]
        # nothing was issued or numbered: issued to open offices only, it is number 01
        issued = await _act(client, _admin(token), doc, action="issue", recipients=["phuong-sai-gon"])
        assert issued["state"] == "issued" and issued["number_code"] == "01-CV/TU"
        # and nothing is created in it before it opens, by anyone of any kind
        for kind in ("incoming", "outgoing", "task"):
            created = await client.post(
                "/v1/documents", json=create_body(kind, "phuong-moi"), headers=_admin(token, "phuong-moi")
            )
            assert created.status_code == 422, (kind, created.text)
            assert created.json()["type"] == "/problems/office-not-open", kind
        # an office that has opened (today's committees, since 1 July 2025) takes documents as before
        opened = create_body("incoming", "phuong-sai-gon")
        created = await client.post("/v1/documents", json=opened, headers=_admin(token, "phuong-sai-gon"))
        assert created.status_code == 201, created.text
