"""A correction or a replacement of an issued document reaches the recipients' copies (DOMAIN.md)."""

from __future__ import annotations

from typing import Any

import httpx

from processors.saga import copy_id
from tests.e2e.conftest import System, act
from tests.toolkit.waiting import wait_until

CITY = "tu-hcm"
OFFICE = "qu-5"


async def _issued(system: System, http: httpx.AsyncClient, summary: str) -> dict[str, Any]:
    admin = system.token(CITY, "admin")
    body = {"kind": "outgoing", "office_id": CITY, "document_type": "HD", "summary": summary}
    created = await http.post("/v1/documents", json=body, headers=admin)
    assert created.status_code == 201, created.text
    doc = await act(http, admin, created.json(), "submit_review")
    doc = await act(http, admin, doc, "review", approve=True, comments="")
    doc = await act(http, admin, doc, "sign", signer_name="Lê Thị C", signer_position="Phó Chánh Văn phòng")
    doc = await act(http, admin, doc, "issue", recipients=[OFFICE])
    clerk = system.token(OFFICE, "clerk")

    async def arrived() -> Any:
        resp = await http.get(f"/v1/documents/{copy_id(doc['id'], OFFICE)}", headers=clerk)
        return resp.status_code == 200

    await wait_until(arrived, what=f"the copy of {summary} in {OFFICE}")
    return doc


async def test_a_correction_arrives_as_a_linked_notice_and_a_replacement_is_named_on_the_copy(
    system: System, http: httpx.AsyncClient
) -> None:
    admin = system.token(CITY, "admin")
    clerk = system.token(OFFICE, "clerk")
    original = await _issued(system, http, "Hướng dẫn cần đính chính")
    copy = copy_id(original["id"], OFFICE)
    corrected = await act(http, admin, original, "correct", note="Sửa ngày hiệu lực tại mục 3")

    async def notice() -> Any:
        listed = (
            await http.get(f"/v1/offices/{OFFICE}/documents", headers=clerk, params={"kind": "incoming"})
        ).json()
        for item in listed["items"]:
            doc = (await http.get(f"/v1/documents/{item['id']}", headers=clerk)).json()
            if doc.get("linked_copy") == copy:
                return doc
        return None

    found = await wait_until(notice, what="the correction notice in the recipient office")
    assert found["link"] == "corrects" and found["state"] == "received" and found["id"] != copy
    assert "Sửa ngày hiệu lực tại mục 3" in found["summary"]

    replacement = await _issued(system, http, "Hướng dẫn thay thế")
    await act(http, admin, corrected, "replace", replacement_id=replacement["id"])

    async def named() -> Any:
        doc = (await http.get(f"/v1/documents/{copy}", headers=clerk)).json()
        return doc if doc.get("replaced_by") else None

    old_copy = await wait_until(named, what="the replacement named on the old copy")
    assert old_copy["replaced_by"] == copy_id(replacement["id"], OFFICE)
    assert (await http.get(f"/v1/documents/{old_copy['replaced_by']}", headers=clerk)).status_code == 200
