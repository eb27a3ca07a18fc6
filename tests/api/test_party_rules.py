"""Party rules through the API: số đi per (office, type, term), terms and calendars as recorded acts."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import uuid4

import httpx

from deploy.config.db import connect
from deploy.config.settings import Settings
from producers import store
from schemas.calendar import default_calendar
from schemas.deadlines import local_date
from schemas.envelope import Actor, Envelope
from tests.unit.lifecycle import body, create_body

Token = Callable[..., dict[str, str]]
CITY = "tu-hcm"
TERM = {"starts_on": "2025-10-16", "label": "Nhiệm kỳ 2025–2030"}


def _admin(token: Token, office: str = CITY) -> dict[str, str]:
    return token(office, "admin", clearance="tuyet_mat")


async def _act(
    client: httpx.AsyncClient, who: dict[str, str], doc: dict[str, Any], **b: Any
) -> dict[str, Any]:
    resp = await client.post(
        f"/v1/documents/{doc['id']}/actions", json=b, headers={**who, "If-Match": f'"{doc["version"]}"'}
    )
    assert resp.status_code == 200, resp.text
    answer: dict[str, Any] = resp.json()
    return answer


async def _signed(client: httpx.AsyncClient, who: dict[str, str], **fields: Any) -> dict[str, Any]:
    created = await client.post("/v1/documents", json=create_body("outgoing", CITY, **fields), headers=who)
    assert created.status_code == 201, created.text
    doc: dict[str, Any] = created.json()
    for action in ("submit_review", "review", "sign"):
        doc = await _act(client, who, doc, **body(action))
    return doc


async def _issued(client: httpx.AsyncClient, who: dict[str, str], **fields: Any) -> str:
    doc = await _act(client, who, await _signed(client, who, **fields), action="issue", recipients=[])
    assert doc["state"] == "issued"
    code: str = doc["number_code"]
    return code


async def _set_term(client: httpx.AsyncClient, who: dict[str, str], term: dict[str, str]) -> httpx.Response:
    return await client.put(f"/v1/offices/{CITY}/term", json=term, headers=who)


async def test_each_type_numbers_from_01_in_a_term_secret_ones_on_the_same_series(
    client: httpx.AsyncClient, token: Token
) -> None:
    admin = _admin(token)
    set_term = await _set_term(client, admin, TERM)
    assert set_term.status_code == 200, set_term.text
    assert set_term.json()["terms"] == [TERM] and int(set_term.headers["x-vanthu-position"]) >= 1

    assert await _issued(client, admin, document_type="CV") == "01-CV/TU"
    assert await _issued(client, admin, document_type="TB") == "01-TB/TU"
    assert await _issued(client, admin, document_type="CV", secrecy="mat") == "02-CV/TU"
    assert await _issued(client, admin, document_type="QDi") == "01-QĐi/TU"
    assert await _issued(client, admin, document_type="CTr") == "01-CTr/TU"
    assert await _issued(client, admin, document_type="CV") == "03-CV/TU"

    # A new term (its first day today) starts each type at 01 again.
    today = local_date(datetime.now(UTC)).isoformat()
    assert (await _set_term(client, admin, {"starts_on": today, "label": "Nhiệm kỳ mới"})).status_code == 200
    assert await _issued(client, admin, document_type="CV") == "01-CV/TU"
    assert await _issued(client, admin, document_type="TB", secrecy="toi_mat") == "01-TB/TU"


async def test_setting_a_term_is_an_admin_act_of_that_office(client: httpx.AsyncClient, token: Token) -> None:
    assert (await _set_term(client, token(CITY, "clerk"), TERM)).status_code == 403
    assert (await _set_term(client, token("qu-1", "admin"), TERM)).status_code == 403
    assert (await client.put("/v1/offices/no-such/term", json=TERM, headers=_admin(token))).status_code == 404
    bad = await _set_term(client, _admin(token), {"starts_on": "not a date", "label": ""})
    assert bad.status_code == 422 and {e["field"] for e in bad.json()["errors"]} == {"starts_on", "label"}
    # a term is no document: its stream is not readable as one
    assert (await client.get(f"/v1/documents/office:{CITY}/events", headers=_admin(token))).status_code == 404


async def test_numbers_stay_gap_free_under_20_concurrent_issues(
    client: httpx.AsyncClient, token: Token
) -> None:
    admin = _admin(token)
    assert (await _set_term(client, admin, TERM)).status_code == 200
    signed = [await _signed(client, admin, document_type="KH") for _ in range(20)]
    issued = await asyncio.gather(*(_act(client, admin, d, action="issue", recipients=[]) for d in signed))
    assert sorted(d["outgoing_number"] for d in issued) == list(range(1, 21))
    assert {d["number_code"] for d in issued} == {f"{n:02d}-KH/TU" for n in range(1, 21)}


async def test_stored_documents_keep_their_numbers(
    client: httpx.AsyncClient, token: Token, api_settings: Settings
) -> None:
    admin = _admin(token)
    signed = await _signed(client, admin, document_type="CV", secrecy="mat")
    # What the code before numbering per term stored: number 3 of 2024's secret series.
    old = Envelope(
        event_id=uuid4(),
        stream_id=signed["id"],
        version=signed["version"] + 1,
        type="DocumentIssued",
        schema_version=1,
        occurred_at=datetime.now(UTC),
        actor=Actor(user="u-old", office=CITY, roles=("clerk",)),
        data={
            "outgoing_number": 3,
            "number_code": "03-CV/TU",
            "series": "mat",
            "year": 2024,
            "recipients": [],
            "issued_on": "2024-04-26",
        },
    )
    conn = await connect(api_settings.app_dsn)
    try:
        async with conn.transaction():
            last = (await store.history(conn, signed["id"]))[-1]
            await store.append(conn, [old], last.hash)
    finally:
        await conn.close()
    as_of = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    resp = await client.get(f"/v1/documents/{signed['id']}", params={"as_of": as_of}, headers=admin)
    assert resp.status_code == 200, resp.text
    doc = resp.json()
    assert (doc["outgoing_number"], doc["number_code"], doc["numbering"]) == (3, "03-CV/TU", "year")
    # and the new per-term series is not disturbed by it
    assert await _issued(client, admin, document_type="CV") == "01-CV/TU"


async def test_every_party_type_can_be_drafted_and_incoming_types_are_the_authors(
    client: httpx.AsyncClient, token: Token
) -> None:
    admin = _admin(token)
    for code in ("QC", "TT", "CTr", "BB", "PA", "DC", "GM"):
        resp = await client.post(
            "/v1/documents", json=create_body("outgoing", CITY, document_type=code), headers=admin
        )
        assert resp.status_code == 201, (code, resp.text)
    unknown = await client.post(
        "/v1/documents", json=create_body("outgoing", CITY, document_type="XX"), headers=admin
    )
    assert unknown.status_code == 422
    for author_type in ("Công điện", "Giấy mời", "Thông tư"):
        incoming = create_body("incoming", CITY, document_type=author_type)
        resp = await client.post("/v1/documents", json=incoming, headers=admin)
        assert resp.status_code == 201, resp.text
        assert resp.json()["document_type"] == author_type


# --- the calendar ----------------------------------------------------------------------------------------


async def test_2026_is_published_with_the_new_year_swap_and_without_24_11(
    client: httpx.AsyncClient, token: Token
) -> None:
    resp = await client.get("/v1/calendar/2026", headers=token(CITY, "clerk"))
    assert resp.status_code == 200, resp.text
    year = resp.json()
    off = {d["date"] for d in year["days_off"]}
    assert year["published"] and "2026-01-02" in off and "2026-11-24" not in off
    assert "2026-01-10" in {d["date"] for d in year["working_days"]}
    assert "12729/VPCP-KGVX" in year["basis"] and year["history"] == []
    fallback = (await client.get("/v1/calendar/2031", headers=token(CITY, "clerk"))).json()
    assert fallback["published"] is False and fallback["days_off"]


async def _assigned_due(client: httpx.AsyncClient, who: dict[str, str], days: int) -> str:
    created = await client.post("/v1/documents", json=create_body("incoming", CITY), headers=who)
    doc = created.json()
    doc = await _act(client, who, doc, action="register")
    doc = await _act(client, who, doc, action="submit")
    deadline = {"working_days": days}
    doc = await _act(
        client,
        who,
        doc,
        **body("assign", lead={"unit": "tu-hcm.tong-hop"}, cooperating=[], deadline=deadline),
    )
    due: str = doc["assignments"][0]["due_date"]
    return due


async def test_a_published_year_moves_deadlines_computed_afterwards(
    client: httpx.AsyncClient, token: Token
) -> None:
    admin = _admin(token)
    today = local_date(datetime.now(UTC))
    before = await _assigned_due(client, admin, 3)
    # The government announces a day off on the next working day.
    cal = default_calendar()
    day_off = cal.add_working_days(today, 1)
    current = (await client.get(f"/v1/calendar/{day_off.year}", headers=admin)).json()
    publication = {
        "days_off": [*current["days_off"], {"date": day_off.isoformat(), "name": "Nghỉ đột xuất"}],
        "working_days": current["working_days"],
        "basis": "Thông báo 99/TB-VPCP ngày 30/11/2026",
    }
    leader_elsewhere = await client.put(
        f"/v1/calendar/{day_off.year}", json=publication, headers=token("qu-1", "admin")
    )
    assert leader_elsewhere.status_code == 403
    published = await client.put(f"/v1/calendar/{day_off.year}", json=publication, headers=admin)
    assert published.status_code == 200, published.text
    after = await _assigned_due(client, admin, 3)
    assert after > before
    assert after == cal.add_working_days(today, 4).isoformat()  # one working day later than before
    shown = (await client.get(f"/v1/calendar/{day_off.year}", headers=admin)).json()
    assert {d["date"]: d["basis"] for d in shown["days_off"]}[day_off.isoformat()] == publication["basis"]
    (entry,) = shown["history"]
    assert entry["type"] == "CalendarPublished" and entry["basis"] == publication["basis"]
    assert entry["actor"]["office"] == CITY
    bad = await client.put(
        "/v1/calendar/2026", json={"working_days": [{"date": "2026-01-05"}], "basis": "x"}, headers=admin
    )
    assert bad.status_code == 422 and "weekday" in bad.json()["detail"]


async def test_declassify_is_a_cleared_leaders_recorded_action(
    client: httpx.AsyncClient, token: Token
) -> None:
    admin = _admin(token)
    created = await client.post(
        "/v1/documents", json=create_body("outgoing", CITY, secrecy="mat"), headers=admin
    )
    doc = created.json()
    basis = "Quyết định giải mật số 5-QĐ/TU"
    clerk = token(CITY, "clerk", clearance="mat")
    refused = await client.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": "declassify", "secrecy": "thuong", "basis": basis},
        headers={**clerk, "If-Match": '"1"'},
    )
    assert refused.status_code == 403
    leader = token(CITY, "leader", clearance="mat")
    lowered = await _act(client, leader, doc, action="declassify", secrecy="thuong", basis=basis)
    assert lowered["secrecy"] == "thuong"
    events = (await client.get(f"/v1/documents/{doc['id']}/events", headers=admin)).json()["items"]
    assert events[-1]["type"] == "DocumentDeclassified" and events[-1]["data"]["basis"] == basis
    raised = await client.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": "declassify", "secrecy": "mat", "basis": basis},
        headers={**leader, "If-Match": f'"{lowered["version"]}"'},
    )
    assert raised.status_code == 422


async def test_bad_terms_and_calendars_are_refused_with_a_4xx(
    client: httpx.AsyncClient, token: Token
) -> None:
    admin = _admin(token)
    nul = await _set_term(client, admin, {"starts_on": "2025-10-16", "label": "Nhiệm kỳ\x00"})
    assert nul.status_code == 422
    for year, sent in (
        (2026, {"days_off": "x", "basis": "b"}),
        (2026, {"days_off": []}),
        (2026, {"days_off": [{"date": "2027-01-01"}], "basis": "b"}),
        (2026, {"days_off": [{"date": "2026-01-05", "name": "\x00"}], "basis": "b"}),
        (1999, {"basis": "b"}),
    ):
        resp = await client.put(f"/v1/calendar/{year}", json=sent, headers=admin)
        assert resp.status_code == 422, (year, sent, resp.text)
        assert resp.headers["content-type"].startswith("application/problem+json")
    assert (await client.get("/v1/calendar/2026")).status_code == 401


async def test_a_client_cannot_claim_a_source(client: httpx.AsyncClient, token: Token) -> None:
    # API.md: `source` is set only by delivery; otherwise a clerk could link any document to a sender's.
    sent = create_body("incoming", "qu-1", source={"office_id": CITY, "document_id": "d-anything"})
    resp = await client.post("/v1/documents", json=sent, headers=token("qu-1", "clerk"))
    assert resp.status_code == 422 and resp.json()["errors"][0]["field"] == "source"
    linked = create_body("incoming", "qu-1", linked_copy="d-anything", link="corrects")
    resp = await client.post("/v1/documents", json=linked, headers=token("qu-1", "clerk"))
    assert resp.status_code == 422
