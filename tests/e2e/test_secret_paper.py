"""Tối mật and Tuyệt mật travel on paper (337-QĐ/TW): no electronic copy, paper deliveries, linked copies."""

from __future__ import annotations

from typing import Any

import httpx

from processors.saga import copy_id
from tests.e2e.conftest import System, act
from tests.toolkit.waiting import wait_until

CITY = "tu-hcm"
SIGN = {"signer_name": "Nguyễn Văn A", "signer_position": "Phó Bí thư Thường trực"}


async def _issue(
    system: System, http: httpx.AsyncClient, secrecy: str, recipients: list[str], summary: str
) -> dict[str, Any]:
    admin = system.token(CITY, "admin", clearance="tuyet_mat")
    body = {
        "kind": "outgoing",
        "office_id": CITY,
        "document_type": "TB",
        "summary": summary,
        "secrecy": secrecy,
    }
    created = await http.post("/v1/documents", json=body, headers=admin)
    assert created.status_code == 201, created.text
    doc = await act(http, admin, created.json(), "submit_review")
    doc = await act(http, admin, doc, "review", approve=True, comments="")
    doc = await act(http, admin, doc, "sign", **SIGN)
    return await act(http, admin, doc, "issue", recipients=recipients, copies=3, retained_by="Lưu VT")


async def test_a_toi_mat_document_goes_on_paper_and_its_registered_copy_reports_back(
    system: System, http: httpx.AsyncClient
) -> None:
    sender = system.token(CITY, "admin", clearance="tuyet_mat")
    secret = await _issue(system, http, "toi_mat", ["qu-1", "qu-3"], "Thông báo tối mật về công tác nhân sự")
    assert [(d["office_id"], d["channel"], d["document_id"]) for d in secret["deliveries"]] == [
        ("qu-1", "paper", None),
        ("qu-3", "paper", None),
    ]
    # A Thường document issued after it, to the same office, is delivered electronically: once its copy
    # is there, the saga has passed the secret one, which must have created nothing.
    plain = await _issue(system, http, "thuong", ["qu-1"], "Thông báo thường")
    clerk_q1 = system.token("qu-1", "clerk", clearance="tuyet_mat")

    async def plain_copy() -> Any:
        resp = await http.get(f"/v1/documents/{copy_id(plain['id'], 'qu-1')}", headers=clerk_q1)
        return resp.status_code == 200

    await wait_until(plain_copy, what="the Thường document's copy in qu-1")
    for office in ("qu-1", "qu-3"):
        who = system.token(office, "clerk", clearance="tuyet_mat")
        resp = await http.get(f"/v1/documents/{copy_id(secret['id'], office)}", headers=who)
        assert resp.status_code == 404
        listed = (await http.get(f"/v1/offices/{office}/documents", headers=who)).json()["items"]
        copies = [i for i in listed if i["kind"] == "incoming" and i["summary"] == secret["summary"]]
        assert copies == []  # (the sender's own document is listed there as "addressed", as any is)

    async def sender_view() -> Any:
        resp = await http.get(f"/v1/documents/{secret['id']}", headers=sender)
        doc = resp.json()
        return doc if resp.status_code == 200 and len(doc.get("deliveries", [])) == 2 else None

    shown = await wait_until(sender_view, what="the sender's deliveries")
    assert {(d["channel"], d["document_id"], d["state"]) for d in shown["deliveries"]} == {
        ("paper", None, "pending")
    }

    # The paper arrives in qu-1: its clerk registers it, naming the sender's document.
    paper_copy = {
        "kind": "incoming",
        "office_id": "qu-1",
        "issuing_body": "Thành ủy Thành phố Hồ Chí Minh",
        "number_code": secret["number_code"],
        "document_date": secret["issued_on"],
        "document_type": "TB",
        "summary": secret["summary"],
        "secrecy": "toi_mat",
        "paper_delivery_of": secret["id"],
    }
    wrong = await http.post(
        "/v1/documents", json={**paper_copy, "paper_delivery_of": plain["id"]}, headers=clerk_q1
    )
    assert wrong.status_code == 422 and "paper_delivery_of" in wrong.text
    created = await http.post("/v1/documents", json=paper_copy, headers=clerk_q1)
    assert created.status_code == 201, created.text
    copy = created.json()
    assert copy["source"] == {"office_id": CITY, "document_id": secret["id"], "channel": "paper"}
    await act(http, clerk_q1, copy, "register")

    async def linked() -> Any:
        doc = (await http.get(f"/v1/documents/{secret['id']}", headers=sender)).json()
        by_office = {d["office_id"]: d for d in doc["deliveries"]}
        return by_office if by_office["qu-1"]["state"] == "registered" else None

    by_office = await wait_until(linked, what="the registered paper copy's state at the sender")
    assert (by_office["qu-1"]["document_id"], by_office["qu-1"]["channel"]) == (copy["id"], "paper")
    assert (by_office["qu-3"]["document_id"], by_office["qu-3"]["state"]) == (None, "pending")
    # the same paper copy cannot be registered twice
    again = await http.post("/v1/documents", json=paper_copy, headers=clerk_q1)
    assert again.status_code == 422


async def test_a_mat_document_is_delivered_electronically_and_says_so(
    system: System, http: httpx.AsyncClient
) -> None:
    sender = system.token(CITY, "admin", clearance="tuyet_mat")
    issued = await _issue(system, http, "mat", ["qu-4"], "Công văn mật")

    async def delivered() -> Any:
        doc = (await http.get(f"/v1/documents/{issued['id']}", headers=sender)).json()
        found = doc.get("deliveries", [])
        return found if found and found[0]["document_id"] else None

    (delivery,) = await wait_until(delivered, what="the Mật document's electronic copy")
    assert delivery["channel"] == "electronic" and delivery["document_id"] == copy_id(issued["id"], "qu-4")
