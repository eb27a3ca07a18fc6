"""Files end to end: signatures verified on receipt, PDF text searchable, files delivered with copies."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from deploy.samples import SampleCA, append_update, make_pdf
from tests.e2e.conftest import System, act
from tests.toolkit.waiting import wait_until
from tests.unit.lifecycle import create_body

CITY, DISTRICT = "tu-hcm", "qu-1"
TRUSTED = SampleCA.create("Trusted Test Root", signer="Nguyen Van A")
STRANGER = SampleCA.create("Unknown Root", signer="Tran Thi B")


@pytest.fixture(scope="module")
def system_env(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    roots = TRUSTED.write_root(Path(tmp_path_factory.mktemp("roots")) / "roots.pem")
    yield {"VANTHU_TRUST_ROOTS": str(roots)}


async def upload(http: httpx.AsyncClient, auth: dict[str, str], data: bytes, name: str) -> str:
    headers = {**auth, "Content-Type": "application/pdf", "X-File-Name": name}
    resp = await http.post("/v1/files", content=data, headers=headers)
    assert resp.status_code in (200, 201), resp.text
    sha: str = resp.json()["sha256"]
    return sha


async def checked(http: httpx.AsyncClient, auth: dict[str, str], doc_id: str) -> dict[str, Any]:
    """The document once every attachment's signature check is shown."""

    async def done() -> dict[str, Any] | None:
        got = await http.get(f"/v1/documents/{doc_id}", headers=auth)
        body: dict[str, Any] = got.json()
        ok = got.status_code == 200 and all(a["signature"] for a in body["attachments"])
        return body if ok else None

    result: dict[str, Any] = await wait_until(done, what=f"the signature checks of {doc_id}")
    return result


async def test_signatures_are_verified_on_receipt(system: System, http: httpx.AsyncClient) -> None:
    clerk = system.token(CITY, "clerk")
    plain = make_pdf("Quyet dinh ve viec khen thuong")
    signed = await asyncio.to_thread(TRUSTED.sign, plain)  # pyHanko signs on its own event loop
    tampered = bytearray(signed)
    tampered[signed.index(b"khen")] ^= 0x20  # one byte inside the signed range
    files = {
        "valid": signed,
        "untrusted": await asyncio.to_thread(STRANGER.sign, plain),
        "invalid": bytes(tampered),
        "unsigned": plain,
        "updated": await asyncio.to_thread(append_update, signed),
    }
    shas = {k: await upload(http, clerk, v, f"{k}.pdf") for k, v in files.items()}
    body = create_body(
        "incoming", CITY, attachments=[{"sha256": s, "role": "original"} for s in shas.values()]
    )
    created = await http.post("/v1/documents", json=body, headers=clerk)
    assert created.status_code == 201, created.text
    doc = await checked(http, clerk, created.json()["id"])
    by_sha = {a["sha256"]: a["signature"] for a in doc["attachments"]}
    result = {k: by_sha[s] for k, s in shas.items()}
    assert result["valid"]["status"] == "valid"
    (signer,) = result["valid"]["signers"]
    assert "Nguyen Van A" in signer["subject"] and "Trusted Test Root" in signer["issuer"]
    assert signer["covers_whole_file"] is True and signer["signed_at"]
    assert result["untrusted"]["status"] == "untrusted"
    assert result["invalid"]["status"] == "invalid"
    assert result["unsigned"] == {"status": "unsigned", "signers": []}
    # an incremental update after the signature: the signature no longer covers the file, and says so
    assert [s["covers_whole_file"] for s in result["updated"]["signers"]] == [False]
    assert result["updated"]["status"] == "invalid"
    events = (await http.get(f"/v1/documents/{doc['id']}/events", headers=clerk)).json()["items"]
    assert "SignaturesVerified" in [e["type"] for e in events]
    # refusing stays the clerk's decision, prompted by the result
    returned = await act(http, clerk, doc, "return", reason="Chữ ký số không hợp lệ")
    assert returned["state"] == "returned"


async def test_a_word_only_inside_a_pdf_is_found(system: System, http: httpx.AsyncClient) -> None:
    clerk = system.token(CITY, "clerk")
    sha = await upload(http, clerk, make_pdf("Bao cao ve cong tac", "xylophonist hippocampus"), "bc.pdf")
    created = await http.post(
        "/v1/documents", json=create_body("incoming", CITY, attachments=[{"sha256": sha}]), headers=clerk
    )
    assert created.status_code == 201, created.text

    async def found() -> bool:
        listed = await http.get(f"/v1/offices/{CITY}/documents", params={"q": "hippocampus"}, headers=clerk)
        return created.json()["id"] in [d["id"] for d in listed.json()["items"]]

    await wait_until(found, what="the PDF's word in the search")
    got = (await http.get(f"/v1/documents/{created.json()['id']}", headers=clerk)).json()
    assert got["attachments"][0]["text_indexed"] is True
    scan = await upload(http, clerk, make_pdf(), "scan.pdf")  # a page with no text layer, like a scan
    created_scan = await http.post(
        "/v1/documents", json=create_body("incoming", CITY, attachments=[{"sha256": scan}]), headers=clerk
    )

    async def scanned() -> bool:
        got = await http.get(f"/v1/documents/{created_scan.json()['id']}", headers=clerk)
        return got.status_code == 200 and got.json()["attachments"][0]["text_indexed"] is False

    await wait_until(scanned, what="the scan marked as having no text")
    listed = await http.get(f"/v1/offices/{CITY}/documents", params={"q": "kangaroo"}, headers=clerk)
    assert created.json()["id"] not in [d["id"] for d in listed.json()["items"]]


async def test_an_issued_document_delivers_its_file(system: System, http: httpx.AsyncClient) -> None:
    specialist = system.token(CITY, "specialist")
    leader = system.token(CITY, "leader")
    clerk = system.token(CITY, "clerk")
    original = await asyncio.to_thread(TRUSTED.sign, make_pdf("Thong bao ket luan"))
    sha = await upload(http, specialist, original, "tb.pdf")
    draft_sha = await upload(http, specialist, make_pdf("du thao noi bo"), "draft.pdf")
    attachments = [{"sha256": sha, "role": "original"}, {"sha256": draft_sha, "role": "draft"}]
    doc = (
        await http.post(
            "/v1/documents", json=create_body("outgoing", CITY, attachments=attachments), headers=specialist
        )
    ).json()
    doc = await act(http, specialist, doc, "submit_review")
    doc = await act(http, leader, doc, "review", approve=True, comments="")
    doc = await act(http, leader, doc, "sign", signer_name="Nguyễn Văn A", signer_position="Phó Bí thư")
    doc = await act(http, clerk, doc, "issue", recipients=[DISTRICT])

    district = system.token(DISTRICT, "clerk")

    async def delivered() -> str | None:
        got = (await http.get(f"/v1/documents/{doc['id']}", headers=clerk)).json()
        copies = [d["document_id"] for d in got.get("deliveries", []) if d["document_id"]]
        return copies[0] if copies else None

    copy_id = await wait_until(delivered, what="the district's copy")
    copy = await checked(http, district, copy_id)
    # the signed original goes with the copy, the draft does not; the bytes are the ones stored once
    assert [(a["sha256"], a["role"]) for a in copy["attachments"]] == [(sha, "original")]
    assert copy["attachments"][0]["signature"]["status"] == "valid"
    got = await http.get(f"/v1/documents/{copy_id}/files/{sha}", headers=district)
    assert got.status_code == 200 and got.content == original
    assert (await http.get(f"/v1/documents/{copy_id}/files/{draft_sha}", headers=district)).status_code == 404
    # the city's own document, and its files, stay the city's (a recipient sees its copy only)
    for path in (f"/v1/documents/{doc['id']}", f"/v1/documents/{doc['id']}/files/{sha}"):
        assert (await http.get(path, headers=district)).status_code == 404
    city = await http.get(f"/v1/documents/{doc['id']}", headers=clerk)
    assert [a["sha256"] for a in city.json()["attachments"]] == [sha, draft_sha]
