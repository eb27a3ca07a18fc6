"""Registers and reports as printed (NĐ 30 Phụ lục IV): receipt date, signer, ký nhận, Vietnamese only."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
from openpyxl import load_workbook

from schemas.deadlines import local_date
from schemas.enums import State
from tests.e2e.conftest import System, act

CITY = "tu-hcm"
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ENGLISH_STATES = {s.value for s in State}


def _cells(resp: httpx.Response) -> list[list[str]]:
    if resp.headers["content-type"].startswith("text/csv"):
        return [row for row in csv.reader(io.StringIO(resp.text.lstrip("\ufeff")))]
    sheet = load_workbook(io.BytesIO(resp.content)).active
    assert sheet is not None
    return [["" if c is None else str(c) for c in row] for row in sheet.iter_rows(values_only=True)]


async def test_registers_and_reports_print_what_the_rules_ask(
    system: System, http: httpx.AsyncClient
) -> None:
    admin = system.token(CITY, "admin")
    today = local_date(datetime.now(UTC))
    received_on = (today - timedelta(days=2)).isoformat()
    incoming = {
        "kind": "incoming",
        "office_id": CITY,
        "issuing_body": "Ủy ban nhân dân Thành phố",
        "number_code": "12/CĐ-UBND",
        "document_date": received_on,
        "received_on": received_on,
        "document_type": "Công điện",
        "summary": "Về việc ứng phó bão",
    }
    created = await http.post("/v1/documents", json=incoming, headers=admin)
    assert created.status_code == 201, created.text
    doc_in = await act(http, admin, created.json(), "register")

    draft = {"kind": "outgoing", "office_id": CITY, "document_type": "CV", "summary": "Về việc báo cáo"}
    created = await http.post("/v1/documents", json=draft, headers=admin)
    doc = await act(http, admin, created.json(), "submit_review")
    doc = await act(http, admin, doc, "review", approve=True, comments="")
    doc = await act(
        http, admin, doc, "sign", signer_name="Nguyễn Văn A", signer_position="Phó Bí thư", authority="T/M"
    )
    doc = await act(http, admin, doc, "issue", recipients=["qu-1"], copies=5, retained_by="Lưu Văn phòng")

    # `after` waits for the one document at that position: each document's own, as they may be applied
    # from different partitions in either order.
    for after in (doc_in["_position"], doc["_position"]):
        await http.get(f"/v1/offices/{CITY}/documents", params={"after": after}, headers=admin)
    registers: dict[str, list[dict[str, Any]]] = {}
    for which in ("incoming", "outgoing"):
        resp = await http.get(f"/v1/offices/{CITY}/registers/{which}", headers=admin)
        assert resp.status_code == 200, resp.text
        registers[which] = resp.json()["items"]
    (row_in,) = [r for r in registers["incoming"] if r["document_id"] == doc_in["id"]]
    assert row_in["received_on"] == received_on != today.isoformat()  # ngày đến: the day of receipt
    assert row_in["document_type_name"] == "Công điện" and row_in["progress_name"] == "Đã đăng ký"
    assert row_in["signature"] == ""
    (row_out,) = [r for r in registers["outgoing"] if r["document_id"] == doc["id"]]
    assert row_out["signed_by"] == "T/M Phó Bí thư Nguyễn Văn A"
    assert (row_out["copies"], row_out["archive_holder_name"]) == (5, "Lưu Văn phòng")
    assert row_out["document_type_name"] == "Công văn" and row_out["recipient_names"] != ["qu-1"]

    for path in (
        f"/v1/offices/{CITY}/registers/incoming",
        f"/v1/offices/{CITY}/registers/outgoing",
        f"/v1/offices/{CITY}/reports/incoming",
        f"/v1/offices/{CITY}/reports/outgoing",
    ):
        for media in ("text/csv", XLSX):
            resp = await http.get(path, headers={**admin, "Accept": media})
            assert resp.status_code == 200, (path, media, resp.text)
            cells = _cells(resp)
            if "registers" in path:
                assert "Ký nhận" in cells[0], (path, cells[0])
            english = {c for row in cells for c in row} & ENGLISH_STATES
            assert not english, (path, media, english)
    report = (await http.get(f"/v1/offices/{CITY}/reports/outgoing", headers=admin)).json()
    (cv,) = [t for t in report["types"] if t["document_type"] == "CV"]
    assert cv["document_type_name"] == "Công văn" and cv["issued"] >= 1 and cv["deliveries"] >= 1
