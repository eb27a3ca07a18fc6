"""The live feed: a district office's SSE client sees the city office's action, and resumes after a drop."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx

from tests.e2e.conftest import System, act
from tests.toolkit.waiting import wait_until
from tests.unit.lifecycle import create_body

CITY, DISTRICT = "tu-hcm", "qu-3"


async def _read_events(resp: httpx.Response, want: int, within: float = 30) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []

    async def read() -> None:
        async for e in _events(resp):
            events.append(e)
            if len(events) >= want:
                return

    await asyncio.wait_for(read(), timeout=within)
    return events


async def _issue_to_district(system: System, http: httpx.AsyncClient, summary: str) -> dict[str, Any]:
    specialist, leader, clerk = (system.token(CITY, r) for r in ("specialist", "leader", "clerk"))
    body = create_body("outgoing", CITY, document_type="TB", summary=summary)
    doc = (await http.post("/v1/documents", json=body, headers=specialist)).json()
    doc = await act(http, specialist, doc, "submit_review")
    doc = await act(http, leader, doc, "review", approve=True, comments="")
    doc = await act(http, leader, doc, "sign", signer_name="Nguyễn Văn A", signer_position="Bí thư")
    return await act(http, clerk, doc, "issue", recipients=[DISTRICT])


async def _copy_of(system: System, http: httpx.AsyncClient, issued: dict[str, Any]) -> str:
    """The id of the district's incoming copy of a city document (once the saga created it)."""
    city = system.token(CITY, "clerk")

    async def copy() -> str | None:
        doc = (await http.get(f"/v1/documents/{issued['id']}", headers=city)).json()
        return next((d["document_id"] for d in doc.get("deliveries", []) if d["document_id"]), None)

    found: str = await wait_until(copy, what="the district's copy")
    return found


async def test_a_district_sees_its_copy_of_the_city_issue_and_resumes_with_last_event_id(
    system: System, http: httpx.AsyncClient
) -> None:
    district = system.token(DISTRICT, "clerk")
    async with http.stream("GET", f"/v1/offices/{DISTRICT}/feed", headers=district) as resp:
        assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/event-stream")
        issued = await _issue_to_district(system, http, "Thông báo lịch tiếp công dân tháng 12")
        events = await _read_events(resp, want=1)  # the copy created in the district
    copy = await _copy_of(system, http, issued)
    about = {e["data"]["document_id"] for e in events}
    assert about == {copy}  # its copy only: never the city's original (issue 12)
    assert all(e["data"]["office_id"] == DISTRICT for e in events)
    last_id = events[-1]["id"]

    # while nobody listens, the city issues another; a client resuming from the last id gets its copy
    second = await _copy_of(
        system, http, await _issue_to_district(system, http, "Thông báo kết luận giao ban")
    )
    headers = {**district, "Last-Event-ID": str(last_id)}
    async with http.stream("GET", f"/v1/offices/{DISTRICT}/feed", headers=headers) as resp:
        resumed = await _read_events(resp, want=1)
    assert resumed[0]["id"] == last_id + 1 and resumed[0]["data"]["document_id"] == second

    # another office's token may not read this office's feed
    other = system.token("qu-1", "clerk")
    assert (await http.get(f"/v1/offices/{DISTRICT}/feed", headers=other)).status_code == 403


async def test_a_burst_of_changes_arrives_once_each_in_order(system: System, http: httpx.AsyncClient) -> None:
    """Changes queued while the stream is busy go out together (one write): none lost, none twice."""
    clerk = system.token(CITY, "clerk")
    doc = await _issue_to_district(system, http, "Thông báo đính chính nhiều lần")
    async with http.stream("GET", f"/v1/offices/{CITY}/feed", headers=clerk) as resp:
        for n in range(30):
            doc = await act(http, clerk, doc, "correct", note=f"đính chính {n}")
        wanted = doc["version"]
        seen: list[dict[str, Any]] = []

        async def until_last() -> None:
            async for e in _events(resp):
                seen.append(e)
                if e["data"]["document_id"] == doc["id"] and e["data"]["version"] == wanted:
                    return

        await asyncio.wait_for(until_last(), timeout=30)
    ids = [e["id"] for e in seen]
    assert ids == list(range(ids[0], ids[0] + len(ids)))  # consecutive: no gap, no repeat
    versions = [e["data"]["version"] for e in seen if e["data"]["document_id"] == doc["id"]]
    assert versions[-30:] == list(range(wanted - 29, wanted + 1))


async def _events(resp: httpx.Response) -> Any:
    """The server-sent events of `resp`, each {"id": ..., "data": ...}."""
    current: dict[str, Any] = {}
    async for line in resp.aiter_lines():
        if line.startswith("id: "):
            current["id"] = int(line[4:])
        elif line.startswith("data: "):
            current["data"] = json.loads(line[6:])
        elif line == "" and "data" in current:
            yield dict(current)
            current.clear()
