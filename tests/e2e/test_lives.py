"""Outgoing documents to three offices, a task with an extension, as_of, and read-your-writes."""

from __future__ import annotations

from datetime import UTC, datetime

import httpx

from tests.e2e.conftest import System, act
from tests.toolkit.waiting import wait_until
from tests.unit.lifecycle import create_body

CITY = "tu-hcm"
RECIPIENTS = ["qu-1", "qu-3", "hu-cu-chi"]


async def test_an_outgoing_document_issued_to_three_offices_and_handled_there(
    system: System, http: httpx.AsyncClient
) -> None:
    specialist = system.token(CITY, "specialist", user="cv.an")
    leader = system.token(CITY, "leader", user="ld.binh")
    clerk = system.token(CITY, "clerk", user="vt.chi")
    body = create_body(
        "outgoing",
        CITY,
        document_type="CT",  # chỉ thị: the number reads 01-CT/TU
        summary="Chỉ thị về tăng cường công tác phòng, chống tham nhũng, tiêu cực",
        urgency="khan",
    )
    draft = await http.post("/v1/documents", json=body, headers=specialist)
    assert draft.status_code == 201, draft.text
    doc = await act(http, specialist, draft.json(), "submit_review")
    doc = await act(http, leader, doc, "review", approve=False, comments="Bổ sung căn cứ pháp lý.")
    assert doc["state"] == "draft"
    doc = await act(
        http, specialist, doc, "revise", summary="Chỉ thị về tăng cường phòng, chống tham nhũng, tiêu cực"
    )
    doc = await act(http, specialist, doc, "submit_review")
    doc = await act(http, leader, doc, "review", approve=True, comments="")
    doc = await act(http, leader, doc, "sign", signer_name="Nguyễn Văn A", signer_position="Bí thư")
    doc = await act(http, clerk, doc, "issue", recipients=RECIPIENTS)
    assert doc["state"] == "issued" and doc["number_code"] == "01-CT/TU" and doc["outgoing_number"] == 1

    async def copies() -> dict[str, str] | None:
        got = (await http.get(f"/v1/documents/{doc['id']}", headers=clerk)).json()
        found = {d["office_id"]: d["document_id"] for d in got.get("deliveries", []) if d["document_id"]}
        return found if sorted(found) == sorted(RECIPIENTS) else None

    delivered = await wait_until(copies, what="an incoming copy in each recipient office")

    # each district handles its copy; the sender sees each status
    for office in RECIPIENTS:
        d_clerk = system.token(office, "clerk")
        d_leader = system.token(office, "leader")
        copy = await wait_until(
            lambda o=office, h=d_clerk: _get(http, f"/v1/documents/{delivered[o]}", h),
            what=f"copy in {office}",
        )
        assert copy["kind"] == "incoming" and copy["source"]["document_id"] == doc["id"]
        assert copy["number_code"] == "01-CT/TU"
        assert copy["issuing_body"] == "Văn phòng Thành ủy Thành phố Hồ Chí Minh"  # tác giả
        copy = await act(http, d_clerk, copy, "register")
        if office == "qu-1":
            copy = await act(http, d_clerk, copy, "submit")
            unit = f"{office}.tong-hop"
            await act(
                http,
                d_leader,
                copy,
                "assign",
                lead={"unit": unit},
                directive="",
                deadline={"working_days": 3},
            )

    async def statuses() -> dict[str, str] | None:
        got = (await http.get(f"/v1/documents/{doc['id']}", headers=clerk)).json()
        seen = {d["office_id"]: d["state"] for d in got["deliveries"]}
        want = {"qu-1": "assigned", "qu-3": "registered", "hu-cu-chi": "registered"}
        return seen if seen == want else None

    await wait_until(statuses, what="each recipient's status back at the sender")
    # the issuing office's outgoing register holds the document
    reg = (await http.get(f"/v1/offices/{CITY}/registers/outgoing", headers=clerk)).json()["items"]
    assert [(r["number"], r["document_id"]) for r in reg] == [(1, doc["id"])]


async def _get(http: httpx.AsyncClient, url: str, headers: dict[str, str]) -> dict | None:
    resp = await http.get(url, headers=headers)
    return resp.json() if resp.status_code == 200 else None


async def test_a_task_with_an_extension_granted(system: System, http: httpx.AsyncClient) -> None:
    leader = system.token(CITY, "leader", user="ld.task")
    specialist = system.token(CITY, "specialist", user="cv.task")
    body = create_body("task", CITY, title="Tổng hợp báo cáo quý IV", description="Theo kế hoạch")
    created = await http.post("/v1/documents", json=body, headers=leader)
    assert created.status_code == 201, created.text
    task = await act(
        http, leader, created.json(), "assign", lead={"user": "cv.task"}, deadline={"working_days": 3}
    )
    first_due = task["assignments"][0]["due_date"]
    task = await act(http, specialist, task, "report_progress", percent=30, note="Đang thu thập số liệu")
    task = await act(
        http, specialist, task, "request_extension", deadline={"working_days": 10}, reason="Chờ số liệu"
    )
    task = await act(http, leader, task, "decide_extension", approve=True, note="Đồng ý")
    assignment = task["assignments"][0]
    assert assignment["due_date"] > first_due
    assert [e["approved"] for e in assignment["extensions"]] == [True]
    task = await act(http, specialist, task, "complete", result="Đã gửi báo cáo")
    assert task["state"] == "completed" and task["assignments"][0]["status"] == "completed_on_time"


async def test_as_of_three_moments(system: System, http: httpx.AsyncClient) -> None:
    clerk = system.token(CITY, "clerk")
    leader = system.token(CITY, "leader")
    body = create_body(
        "incoming",
        CITY,
        issuing_body="Ban Bí thư",
        number_code="77-TB/TW",
        document_type="TB",
        summary="Thông báo kết luận của Ban Bí thư",
    )
    created = await http.post("/v1/documents", json=body, headers=clerk)
    doc = created.json()
    moments = [datetime.now(UTC)]
    doc = await act(http, clerk, doc, "register")
    moments.append(datetime.now(UTC))
    doc = await act(http, clerk, doc, "submit")
    doc = await act(http, leader, doc, "mark_for_info")
    moments.append(datetime.now(UTC))
    seen = []
    for m in moments:
        resp = await http.get(f"/v1/documents/{doc['id']}", params={"as_of": m.isoformat()}, headers=clerk)
        assert resp.status_code == 200, resp.text
        seen.append((resp.json()["state"], resp.json()["version"]))
    assert seen == [("received", 1), ("registered", 2), ("for_info", 4)]
    before = await http.get(
        f"/v1/documents/{doc['id']}", params={"as_of": "2000-01-01T00:00:00Z"}, headers=clerk
    )
    assert before.status_code == 404


async def test_read_your_writes_a_thousand_times(system: System, http: httpx.AsyncClient) -> None:
    specialist = system.token(CITY, "specialist", user="cv.ryw")
    leader = system.token(CITY, "leader", user="ld.ryw")
    body = create_body("task", CITY, title="Theo dõi tiến độ")
    task = (await http.post("/v1/documents", json=body, headers=leader)).json()
    task = await act(http, leader, task, "assign", lead={"user": "cv.ryw"}, deadline={"working_days": 30})
    misses = 0
    for i in range(1000):
        percent = i % 100
        task = await act(http, specialist, task, "report_progress", percent=percent, note=f"lần {i}")
        resp = await http.get(
            f"/v1/documents/{task['id']}", params={"after": task["_position"]}, headers=specialist
        )
        assert resp.status_code == 200, resp.text
        got = resp.json()
        if got["version"] < task["version"] or got["assignments"][0]["progress_percent"] != percent:
            misses += 1
    assert misses == 0
