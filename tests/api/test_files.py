"""Files through the API, against the directory store and against S3Proxy: upload, attach, download."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from deploy.config.settings import Settings
from deploy.samples import make_pdf
from tests.unit.lifecycle import create_body

CITY, DISTRICT = "tu-hcm", "qu-1"
Token = Callable[..., dict[str, str]]


@pytest.fixture
def api_settings(files_settings: Settings, database: str) -> Settings:
    return files_settings.with_(pg_dsn=database, files_max_bytes=4 * 1024 * 1024)


async def upload(
    client: httpx.AsyncClient, auth: dict[str, str], data: bytes, media_type: str, name: str = "công văn.pdf"
) -> httpx.Response:
    headers = {**auth, "Content-Type": media_type, "X-File-Name": quote(name)}
    return await client.post("/v1/files", content=data, headers=headers)


def problem(resp: httpx.Response, status: int) -> dict[str, Any]:
    assert resp.status_code == status, resp.text
    assert resp.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = resp.json()
    assert body["detail"]
    return body


async def test_upload_attach_download_identical_and_stored_once(
    client: httpx.AsyncClient, token: Token, api_settings: Settings
) -> None:
    clerk = token(CITY, "clerk")
    pdf = make_pdf("Cong van so 45", *(f"line {i}" for i in range(2000)))
    first = await upload(client, clerk, pdf, "application/pdf")
    assert first.status_code == 201, first.text
    sha = hashlib.sha256(pdf).hexdigest()
    assert first.json() == {
        "sha256": sha,
        "size": len(pdf),
        "media_type": "application/pdf",
        "name": "công văn.pdf",
    }
    again = await upload(client, clerk, pdf, "application/octet-stream", name="copy.pdf")
    assert again.status_code == 200 and again.json()["sha256"] == sha  # the same bytes: stored once
    assert again.json()["media_type"] == "application/pdf"  # judged by content

    body = create_body(
        "incoming", CITY, attachments=[{"sha256": sha, "name": "cv45.pdf", "role": "original"}]
    )
    created = await client.post("/v1/documents", json=body, headers=clerk)
    assert created.status_code == 201, created.text
    doc = created.json()
    assert doc["attachments"] == [
        {
            "name": "cv45.pdf",
            "media_type": "application/pdf",
            "sha256": sha,
            "size": len(pdf),
            "role": "original",
            "signature": None,
        }
    ]
    url = f"/v1/documents/{doc['id']}/files/{sha}"
    got = await client.get(url, headers=clerk)
    assert got.status_code == 200 and got.content == pdf
    assert got.headers["etag"] == f'"{sha}"' and got.headers["content-type"] == "application/pdf"
    assert got.headers["accept-ranges"] == "bytes"

    part = await client.get(url, headers={**clerk, "Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == pdf[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(pdf)}"
    tail = await client.get(url, headers={**clerk, "Range": "bytes=-10"})
    assert tail.status_code == 206 and tail.content == pdf[-10:]
    problem(await client.get(url, headers={**clerk, "Range": f"bytes={len(pdf)}-"}), 416)
    cached = await client.get(url, headers={**clerk, "If-None-Match": f'"{sha}"'})
    assert cached.status_code == 304 and cached.content == b""


async def test_unknown_sha_and_mismatches_are_422(client: httpx.AsyncClient, token: Token) -> None:
    clerk = token(CITY, "clerk")
    unknown = create_body("incoming", CITY, attachments=[{"sha256": "a" * 64, "name": "x.pdf"}])
    body = problem(await client.post("/v1/documents", json=unknown, headers=clerk), 422)
    assert body["errors"][0]["field"] == "attachments.0.sha256"

    png = b"\x89PNG\r\n\x1a\n" + os.urandom(100)
    sha = (await upload(client, clerk, png, "image/png", "scan.png")).json()["sha256"]
    wrong = create_body("incoming", CITY, attachments=[{"sha256": sha, "size": 5, "media_type": "image/png"}])
    assert (
        problem(await client.post("/v1/documents", json=wrong, headers=clerk), 422)["errors"][0]["field"]
        == "attachments.0.size"
    )
    # another office that never uploaded these bytes cannot attach them by their hash
    other = create_body("incoming", DISTRICT, attachments=[{"sha256": sha}])
    problem(await client.post("/v1/documents", json=other, headers=token(DISTRICT, "clerk")), 422)
    ok = create_body("incoming", CITY, attachments=[{"sha256": sha}])
    created = await client.post("/v1/documents", json=ok, headers=clerk)
    assert created.status_code == 201, created.text
    assert (
        created.json()["attachments"][0]["role"] == "scan"
        and created.json()["attachments"][0]["name"] == "scan.png"
    )


async def test_content_decides_the_media_type(client: httpx.AsyncClient, token: Token) -> None:
    clerk = token(CITY, "clerk")
    problem(await upload(client, clerk, b"plain words, not a PDF", "application/pdf"), 415)
    problem(await upload(client, clerk, b"MZ\x90\x00" + os.urandom(64), "application/octet-stream"), 415)
    problem(await upload(client, clerk, make_pdf("x"), "image/png"), 415)
    text = await upload(client, clerk, "Ghi chú".encode(), "", name="note.txt")
    assert text.status_code == 201 and text.json()["media_type"] == "text/plain"


async def test_over_the_limit_is_413(client: httpx.AsyncClient, token: Token, api_settings: Settings) -> None:
    clerk = token(CITY, "clerk")
    big = os.urandom(api_settings.files_max_bytes + 1)
    problem(await upload(client, clerk, big, "application/octet-stream"), 413)

    async def chunked() -> Any:  # no Content-Length: refused once the limit is passed
        for i in range(0, len(big), 1 << 20):
            yield big[i : i + (1 << 20)]

    headers = {**clerk, "Content-Type": "application/octet-stream"}
    problem(await client.post("/v1/files", content=chunked(), headers=headers), 413)
    assert list(api_settings.files_spool_dir.iterdir()) == []
    assert (await upload(client, clerk, big[:1000], "application/octet-stream")).status_code == 201


async def test_another_office_gets_404_and_secret_reads_are_logged(
    client: httpx.AsyncClient, token: Token, api_settings: Settings
) -> None:
    clerk = token(CITY, "clerk", clearance="mat")
    pdf = make_pdf("mat")
    sha = (await upload(client, clerk, pdf, "application/pdf")).json()["sha256"]
    body = create_body("incoming", CITY, secrecy="mat", attachments=[{"sha256": sha}])
    doc = (await client.post("/v1/documents", json=body, headers=clerk)).json()
    url = f"/v1/documents/{doc['id']}/files/{sha}"
    problem(await client.get(url, headers=token(DISTRICT, "clerk", clearance="tuyet_mat")), 404)
    problem(await client.get(url, headers=token(CITY, "specialist")), 404)  # not cleared
    problem(await client.get(f"/v1/documents/{doc['id']}/files/{'b' * 64}", headers=clerk), 404)
    assert (await client.get(url, headers=clerk)).content == pdf
    from deploy.config.db import connect

    conn = await connect(api_settings.dsn)
    try:
        routes = await conn.fetch("SELECT route FROM secret_reads WHERE document_id = $1", doc["id"])
    finally:
        await conn.close()
    assert [r["route"] for r in routes] == [url]


async def test_outgoing_drafts_and_revisions_carry_files(client: httpx.AsyncClient, token: Token) -> None:
    specialist = token(CITY, "specialist")
    one = (await upload(client, specialist, make_pdf("du thao 1"), "application/pdf")).json()["sha256"]
    two = (await upload(client, specialist, make_pdf("du thao 2"), "application/pdf")).json()["sha256"]
    body = create_body("outgoing", CITY, attachments=[{"sha256": one}])
    doc = (await client.post("/v1/documents", json=body, headers=specialist)).json()
    assert [(a["sha256"], a["role"]) for a in doc["attachments"]] == [(one, "draft")]
    revised = await client.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": "revise", "attachments": [{"sha256": two, "role": "original"}, {"sha256": "c" * 64}]},
        headers={**specialist, "If-Match": '"1"'},
    )
    problem(revised, 422)
    revised = await client.post(
        f"/v1/documents/{doc['id']}/actions",
        json={"action": "revise", "attachments": [{"sha256": two, "role": "original"}]},
        headers={**specialist, "If-Match": '"1"'},
    )
    assert revised.status_code == 200, revised.text
    assert [(a["sha256"], a["role"]) for a in revised.json()["attachments"]] == [(two, "original")]
