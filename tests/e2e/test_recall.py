"""Recall reaches the recipients: each copy learns of it, answers it, and the sender sees each answer."""

from __future__ import annotations

from typing import Any

import httpx

from tests.e2e.conftest import System, act
from tests.toolkit.waiting import wait_until

CITY = "tu-hcm"
RECIPIENTS = ["qu-1", "qu-3"]


async def test_a_recalled_document_is_confirmed_by_one_recipient_and_refused_by_another(
    system: System, http: httpx.AsyncClient
) -> None:
    admin = system.token(CITY, "admin")
    body = {"kind": "outgoing", "office_id": CITY, "document_type": "KH", "summary": "Kế hoạch bị thu hồi"}
    created = await http.post("/v1/documents", json=body, headers=admin)
    assert created.status_code == 201, created.text
    doc = await act(http, admin, created.json(), "submit_review")
    doc = await act(http, admin, doc, "review", approve=True, comments="")
    doc = await act(http, admin, doc, "sign", signer_name="Trần Văn B", signer_position="Chánh Văn phòng")
    doc = await act(http, admin, doc, "issue", recipients=RECIPIENTS)

    async def copies() -> Any:
        got = (await http.get(f"/v1/documents/{doc['id']}", headers=admin)).json()
        found = {d["office_id"]: d["document_id"] for d in got.get("deliveries", []) if d["document_id"]}
        return found if sorted(found) == RECIPIENTS else None

    copy_of = await wait_until(copies, what="both copies")
    await act(http, admin, doc, "recall", reason="Ban hành nhầm đối tượng")

    async def told(office: str) -> Any:
        who = system.token(office, "clerk")
        got = (await http.get(f"/v1/documents/{copy_of[office]}", headers=who)).json()
        return got if got.get("recall_request") else None

    for office in RECIPIENTS:
        shown = await wait_until(lambda o=office: told(o), what=f"the recall at {office}")
        assert shown["recall_request"]["reason"] == "Ban hành nhầm đối tượng"
        assert shown["recall_request"]["answer"] is None
    q1 = system.token("qu-1", "clerk")
    confirmed = await act(http, q1, await told("qu-1"), "confirm_recall")
    assert confirmed["state"] == "recalled"
    q3 = system.token("qu-3", "leader")
    refused = await act(http, q3, await told("qu-3"), "refuse_recall", reason="Đã triển khai thực hiện")
    assert refused["state"] != "recalled" and refused["recall_request"]["answer"] == "refused"
    # an answer is given once
    again = await http.post(
        f"/v1/documents/{refused['id']}/actions",
        json={"action": "confirm_recall"},
        headers={**q3, "If-Match": f'"{refused["version"]}"'},
    )
    assert again.status_code == 422

    async def answers() -> Any:
        got = (await http.get(f"/v1/documents/{doc['id']}", headers=admin)).json()
        by_office = {d["office_id"]: d for d in got["deliveries"]}
        done = (
            all(d["recall_answer"] for d in by_office.values()) and by_office["qu-1"]["state"] == "recalled"
        )
        return by_office if done else None

    by_office = await wait_until(answers, what="both answers at the sender")
    assert (by_office["qu-1"]["recall_answer"], by_office["qu-1"]["state"]) == ("confirmed", "recalled")
    assert (by_office["qu-3"]["recall_answer"], by_office["qu-3"]["recall_reason"]) == (
        "refused",
        "Đã triển khai thực hiện",
    )
    # the sender's history shows each answer
    events = (await http.get(f"/v1/documents/{doc['id']}/events", headers=admin)).json()["items"]
    answered = [e["data"] for e in events if e["type"] == "RecipientRecallAnswered"]
    assert sorted((a["office_id"], a["answer"]) for a in answered) == [
        ("qu-1", "confirmed"),
        ("qu-3", "refused"),
    ]
