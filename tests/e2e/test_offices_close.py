"""A district office closes and hands its open documents over (DOMAIN.md, "Offices open and close"):
through the HTTP API of the whole system, read back from the read models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx

from processors.saga import copy_id
from schemas.deadlines import local_date
from tests.e2e.conftest import System, act
from tests.toolkit.waiting import wait_until
from tests.unit.lifecycle import body, create_body

CITY = "tu-hcm"
SUCCESSOR = "phuong-hoa-hung"
UNIT = "phuong-hoa-hung.van-phong"  # a unit of the successor
CLOSING = {"closed_on": "2025-06-30", "basis": "Nghị quyết 1685/NQ-UBTVQH15"}


def _staff(system: System, office: str) -> dict[str, dict[str, str]]:
    return {
        role: system.token(office, role, user=f"{role}@{office}", clearance="tuyet_mat")
        for role in ("clerk", "leader", "specialist", "admin")
    }


async def _create(
    http: httpx.AsyncClient, who: dict[str, str], kind: str, office: str, **f: Any
) -> dict[str, Any]:
    created = await http.post("/v1/documents", json=create_body(kind, office, **f), headers=who)
    assert created.status_code == 201, created.text
    doc: dict[str, Any] = created.json()
    return doc


async def _read(
    http: httpx.AsyncClient, who: dict[str, str], document_id: str, after: int = 0
) -> httpx.Response:
    params = {"after": after} if after else {}
    return await http.get(f"/v1/documents/{document_id}", params=params, headers=who)


async def test_closing_hands_each_open_document_to_the_successor(
    system: System, http: httpx.AsyncClient
) -> None:
    district, successor = _staff(system, "qu-10"), _staff(system, "phuong-hoa-hung")
    city = _staff(system, CITY)
    today = local_date(datetime.now(UTC)).isoformat()
    year = local_date(datetime.now(UTC)).year

    # an incoming document in handling, a finished one, a draft, and a city document delivered to the district
    handling = await _create(http, district["clerk"], "incoming", "qu-10", number_code="15-CV/VPTW")
    handling = await act(http, district["clerk"], handling, "register")
    handling = await act(http, district["clerk"], handling, "submit")
    handling = await act(
        http,
        district["leader"],
        handling,
        **body("assign", lead={"unit": "qu-10.tong-hop"}, cooperating=[], deadline={"working_days": 5}),
    )
    handling = await act(http, district["specialist"], handling, "start")
    finished = await _create(http, district["clerk"], "incoming", "qu-10", number_code="16-CV/VPTW")
    finished = await act(http, district["clerk"], finished, "register")
    finished = await act(http, district["clerk"], finished, "submit")
    finished = await act(http, district["leader"], finished, "mark_for_info")
    draft = await _create(http, district["specialist"], "outgoing", "qu-10", document_type="CV")
    sent = await _create(http, city["specialist"], "outgoing", CITY)
    for action in ("submit_review", "review", "sign"):
        sent = await act(http, city["admin"], sent, **body(action))
    sent = await act(http, city["clerk"], sent, "issue", recipients=["qu-10"])
    copy = copy_id(sent["id"], "qu-10")
    await wait_until(
        lambda: _ok(_read(http, district["clerk"], copy)), what="the city's copy in the district office"
    )

    closed = await http.post(
        "/v1/offices/qu-10/close",
        json={**CLOSING, "successors": ["phuong-hoa-hung", "phuong-dien-hong"]},
        headers=city["admin"],
    )
    assert closed.status_code == 200, closed.text
    assert sorted(closed.json()["handed_over"]) == sorted([handling["id"], draft["id"], copy])
    after = int(closed.headers["x-vanthu-position"])

    # the position answered is the closing's last event: the other documents' hand-overs, on other
    # partitions, may reach the read models after it
    async def all_listed() -> set[str] | None:
        listed = await http.get("/v1/offices/phuong-hoa-hung/documents", headers=successor["clerk"])
        ids = {d["id"] for d in listed.json()["items"]}
        return ids if {handling["id"], draft["id"], copy} <= ids else None

    await wait_until(all_listed, what="the handed-over documents in the successor's list")

    # the successor holds them: its list, the document, its history with both holders. The handling
    # document is entered in its register under its own số đến, and the work the district's unit held
    # waits for the successor's leader to assign it
    got = await _read(http, successor["clerk"], handling["id"], after)
    assert got.status_code == 200, got.text
    doc = got.json()
    assert (
        doc["office_id"] == "phuong-hoa-hung"
        and doc["held_by"] == ["qu-10"]
        and doc["state"] == "submitted"
        and doc["incoming_number"] == 1
    )
    (ended,) = doc["assignments"]
    assert ended["lead"]["unit"] == "qu-10.tong-hop" and ended["ended_at"] is not None
    events = (await http.get(f"/v1/documents/{handling['id']}/events", headers=successor["clerk"])).json()[
        "items"
    ]
    assert {e["office"] for e in events[:-1]} == {"qu-10"}
    last = events[-1]
    assert last["type"] == "DocumentHandedOver" and last["actor"]["user"] == f"admin@{CITY}"
    assert last["data"] == {
        "from_office": "qu-10",
        "to_office": "phuong-hoa-hung",
        **CLOSING,
        "incoming_number": 1,
        "register_name": "chung",
        "registered_on": today,
        "assignment_ended": "A1",
    }
    # the district sees it no more; what it finished stays with it, readable
    assert (await _read(http, district["clerk"], handling["id"])).status_code == 404
    assert (await _read(http, district["clerk"], finished["id"])).json()["office_id"] == "qu-10"

    # the successor's deadlines do not show the district unit's assignment; once its leader assigns the
    # document to one of its own units, they show that
    deadlines = f"/v1/offices/{SUCCESSOR}/deadlines"
    due = await http.get(deadlines, params={"due_within": 60, "after": after}, headers=successor["leader"])
    assert handling["id"] not in {d["document_id"] for d in due.json()["items"]}
    doc = await act(
        http,
        successor["leader"],
        doc,
        **body("assign", lead={"unit": UNIT}, cooperating=[], deadline={"working_days": 5}),
    )
    due = await http.get(
        deadlines, params={"due_within": 60, "after": doc["_position"]}, headers=successor["leader"]
    )
    (item,) = [d for d in due.json()["items"] if d["document_id"] == handling["id"]]
    assert item["lead"] == {"unit": UNIT} and item["assignment_id"] == "A2"

    # the successor acts on them: finishes the handling, and issues the district's draft as its own 01
    doc = await act(http, successor["specialist"], doc, "start")
    doc = await act(http, successor["specialist"], doc, "complete", result="Đã báo cáo Thường trực Đảng ủy")
    assert doc["state"] == "completed"
    # its statistics count its own unit's work; the district unit's assignment stays the district's
    for office, staff, unit in ((SUCCESSOR, successor, UNIT), ("qu-10", district, "qu-10.tong-hop")):
        stats = await http.get(
            f"/v1/offices/{office}/stats", params={"after": doc["_position"]}, headers=staff["leader"]
        )
        assert stats.status_code == 200, stats.text
        assert [u["unit_id"] for u in stats.json()["units"]] == [unit], (office, stats.json())
    draft = (await _read(http, successor["specialist"], draft["id"], after)).json()
    for action in ("submit_review", "review", "sign"):
        draft = await act(http, successor["admin"], draft, **body(action))
    draft = await act(http, successor["clerk"], draft, "issue", recipients=[CITY])
    assert draft["number_code"] == "01-CV/ĐU"

    # the successor registers the city's copy: the city sees it under the office it addressed
    taken = (await _read(http, successor["clerk"], copy, after)).json()
    taken = await act(http, successor["clerk"], taken, "register")
    assert taken["incoming_number"] == 2  # after the one it took over

    async def reported() -> bool:
        got = (await _read(http, city["clerk"], sent["id"])).json()
        return any(d["office_id"] == "qu-10" and d["state"] == "registered" for d in got["deliveries"])

    await wait_until(reported, what="the copy's registration on the city's deliveries")

    # the closed office's register still reads, with both of its entries
    register = await http.get(
        "/v1/offices/qu-10/registers/incoming",
        params={"year": year, "after": doc["_position"]},
        headers=district["clerk"],
    )
    assert register.status_code == 200, register.text
    rows = {r["document_id"]: r for r in register.json()["items"]}
    assert {handling["id"], finished["id"]} <= set(rows)
    kept = rows[handling["id"]]
    assert kept["number"] == handling["incoming_number"] and kept["recipient"] == "qu-10.tong-hop"
    assert kept["progress"] == "handed_over" and kept["progress_name"] == "Đã bàn giao"
    assert kept["handed_to"] == SUCCESSOR
    assert kept["note_printed"] == "Đã bàn giao cho Văn phòng Đảng ủy phường Hòa Hưng"
    assert rows[finished["id"]]["progress"] == "for_info" and rows[finished["id"]]["handed_to"] is None

    # the successor's register has it under its own number, with its own lead, beside the copy it registered
    register = await http.get(
        f"/v1/offices/{SUCCESSOR}/registers/incoming",
        params={"year": year, "after": taken["_position"]},
        headers=successor["clerk"],
    )
    assert register.status_code == 200, register.text
    rows = {r["document_id"]: r for r in register.json()["items"]}
    assert [rows[handling["id"]]["number"], rows[copy]["number"]] == [1, 2]
    taken_over = rows[handling["id"]]
    assert taken_over["handed_from"] == "qu-10" and taken_over["recipient"] == UNIT
    assert taken_over["progress"] == "completed" and taken_over["received_on"] == today
    assert taken_over["note_printed"] == "Nhận bàn giao từ Văn phòng Quận ủy Quận 10"
    printed = await http.get(
        f"/v1/offices/{SUCCESSOR}/registers/incoming",
        params={"year": year},
        headers={**successor["clerk"], "Accept": "text/csv"},
    )
    assert "Nhận bàn giao từ Văn phòng Quận ủy Quận 10" in printed.text
    printed = await http.get(
        "/v1/offices/qu-10/registers/incoming",
        params={"year": year},
        headers={**district["clerk"], "Accept": "text/csv"},
    )
    assert "Đã bàn giao cho Văn phòng Đảng ủy phường Hòa Hưng" in printed.text

    # and a delivery to it is refused, naming the successor
    again = await _create(http, city["specialist"], "outgoing", CITY)
    for action in ("submit_review", "review", "sign"):
        again = await act(http, city["admin"], again, **body(action))
    refused = await http.post(
        f"/v1/documents/{again['id']}/actions",
        json={"action": "issue", "recipients": ["qu-10"]},
        headers={**city["clerk"], "If-Match": f'"{again["version"]}"'},
    )
    assert refused.status_code == 422 and refused.json()["successors"] == [
        "phuong-hoa-hung",
        "phuong-dien-hong",
    ]


async def test_a_copy_issued_before_the_closing_and_delivered_after_goes_to_the_successor(
    system: System, http: httpx.AsyncClient
) -> None:
    city = _staff(system, CITY)
    system.services.stop("processor")  # the saga is not running: the copy has not arrived
    try:
        sent = await _create(http, city["specialist"], "outgoing", CITY)
        for action in ("submit_review", "review", "sign"):
            sent = await act(http, city["admin"], sent, **body(action))
        sent = await act(http, city["clerk"], sent, "issue", recipients=["qu-11"])
        closed = await http.post(
            "/v1/offices/qu-11/close",
            json={**CLOSING, "successors": ["phuong-hoa-binh"]},
            headers=city["admin"],
        )
        assert closed.status_code == 200 and closed.json()["handed_over"] == []
    finally:
        system.services.start("processor")
    copy = copy_id(sent["id"], "qu-11")
    successor = system.token("phuong-hoa-binh", "clerk")
    got = await wait_until(lambda: _ok(_read(http, successor, copy)), what="the copy in the successor office")
    assert got["office_id"] == "phuong-hoa-binh" and got["held_by"] == ["qu-11"]
    assert got["source"]["document_id"] == sent["id"]


async def _ok(response: Any) -> dict[str, Any] | None:
    resp = await response
    if resp.status_code != 200:
        return None
    doc: dict[str, Any] = resp.json()
    return doc
