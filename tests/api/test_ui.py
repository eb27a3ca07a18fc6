"""The pages' rules that need no browser: who may sign in how, the cookie, CSRF on every form, and a form
that posts a command goes through the API's own checks (roles, If-Match) and appends nothing else."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator

import httpx
import pytest

from api.auth import issue_token
from api.ui.session import COOKIE
from deploy.config.settings import Settings
from tests.api.conftest import app_client
from tests.unit.lifecycle import create_body

FORM = {"content-type": "application/x-www-form-urlencoded"}
OFFICE = "tu-hcm"


@pytest.fixture
async def own_secret(api_settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """The app signing with a secret of its own, as any deployment but a laptop does."""
    async for c in app_client(api_settings.with_(jwt_secret="a-deployment-secret-that-is-long-enough-0123")):
        yield c


def _csrf(html: str) -> str:
    found = re.search(r'name="csrf" value="([0-9a-f]+)"', html)
    assert found, "the page carries no CSRF value"
    return found.group(1)


async def _signed_in(client: httpx.AsyncClient, role: str) -> None:
    answer = await client.post("/ui/signin", content=f"office={OFFICE}&role={role}&clearance=", headers=FORM)
    assert answer.status_code == 303 and answer.headers["location"] == "/ui", answer.text
    assert COOKIE in client.cookies


async def test_a_page_without_a_token_sends_the_browser_to_sign_in(client: httpx.AsyncClient) -> None:
    for path in ("/ui", "/ui/deadlines", "/ui/city", "/ui/documents/x", "/ui/feed"):
        answer = await client.get(path)
        assert answer.status_code == 303 and answer.headers["location"] == "/ui/signin", path
    client.cookies.set(COOKIE, "not-a-token", domain="vanthu.test", path="/ui")
    assert (await client.get("/ui")).status_code == 303


async def test_demo_users_sign_in_only_with_the_development_secret(
    client: httpx.AsyncClient, own_secret: httpx.AsyncClient, api_settings: Settings
) -> None:
    assert "Đăng nhập thử nghiệm" in (await client.get("/ui/signin")).text
    await _signed_in(client, "leader")
    cookie = next(c for c in client.cookies.jar if c.name == COOKIE)
    assert cookie.path == "/ui" and cookie.has_nonstandard_attr("HttpOnly")

    page = (await own_secret.get("/ui/signin")).text
    assert "Đăng nhập thử nghiệm" not in page and 'name="token"' in page
    refused = await own_secret.post("/ui/signin", content=f"office={OFFICE}&role=leader", headers=FORM)
    assert refused.status_code == 403 and COOKIE not in own_secret.cookies
    # a token from the deployment's identity provider (here: signed with its secret) signs in
    token = issue_token(
        api_settings.with_(jwt_secret="a-deployment-secret-that-is-long-enough-0123"),
        office=OFFICE,
        roles=["clerk"],
    )
    answer = await own_secret.post("/ui/signin", content=f"token={token}", headers=FORM)
    assert answer.status_code == 303 and COOKIE in own_secret.cookies
    # a development token is no token there
    dev = issue_token(api_settings, office=OFFICE, roles=["admin"])
    assert (await own_secret.post("/ui/signin", content=f"token={dev}", headers=FORM)).status_code == 401


async def test_a_form_without_its_csrf_value_changes_nothing(client: httpx.AsyncClient) -> None:
    await _signed_in(client, "clerk")
    body = "issuing_body=Ban+A&number_code=1-CV%2FA&document_date=2026-01-05&document_type=CV&summary=X"
    forged = await client.post("/ui/documents/new", content=body, headers=FORM)
    assert forged.status_code == 403
    csrf = _csrf((await client.get("/ui/documents/new")).text)
    made = await client.post("/ui/documents/new", content=f"{body}&csrf={csrf}", headers=FORM)
    assert made.status_code == 303 and made.headers["location"].startswith("/ui/documents/")


async def test_a_form_posts_the_api_command_with_its_checks(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    """Roles and If-Match are the API's: a specialist's register is refused, a stale version is a 409
    that says so, the clerk's register at the current version is taken."""
    clerk = {"Authorization": f"Bearer {issue_token(api_settings, office=OFFICE, roles=['clerk'])}"}
    created = await client.post("/v1/documents", json=create_body("incoming", OFFICE), headers=clerk)
    doc_id = created.json()["id"]
    await _signed_in(client, "specialist")
    csrf = _csrf((await client.get("/ui/deadlines")).text)
    form = f"action=register&version=1&csrf={csrf}"
    refused = await client.post(f"/ui/documents/{doc_id}/actions", content=form, headers=FORM)
    assert refused.status_code == 403, refused.text
    await _signed_in(client, "clerk")
    csrf = _csrf((await client.get("/ui/deadlines")).text)
    stale = await client.post(
        f"/ui/documents/{doc_id}/actions", content=f"action=register&version=7&csrf={csrf}", headers=FORM
    )
    assert stale.status_code == 409 and "người khác cập nhật" in stale.text
    taken = await client.post(
        f"/ui/documents/{doc_id}/actions", content=f"action=register&version=1&csrf={csrf}", headers=FORM
    )
    assert taken.status_code == 303, taken.text
    events = (await client.get(f"/v1/documents/{doc_id}/events", headers=clerk)).json()["items"]
    assert [e["type"] for e in events] == ["DocumentReceived", "DocumentRegistered"]


async def test_the_city_view_reads_every_offices_counts_at_once_and_no_secret_one(
    client: httpx.AsyncClient, api_settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The city view counts each office under the top one from one read of the counters (never one
    statistics call per office: it was one per office, 195 of them), as an uncleared viewer of that
    office: a secret document counts for none, even when the city's leader is cleared for it."""
    from datetime import UTC, datetime

    from deploy.config.db import connect
    from deploy.config.offices import load_offices
    from processors import queries
    from schemas.deadlines import local_date

    configured = load_offices(api_settings.offices_file)
    top = next(o for o in configured if o.parent_id is None)
    below = sorted(o.id for o in configured if o.parent_id == top.id)
    first, second = below[0], below[1]
    day = local_date(datetime.now(UTC))  # the page counts this year up to today
    conn = await connect(api_settings.dsn)
    try:
        await conn.executemany(
            "INSERT INTO rm.stat_counts (office_id, unit_id, day, measure, secrecy_rank, n) "
            "VALUES ($1, '', $2, 'received', $3, $4)",
            [(first, day, 0, 3), (first, day, 1, 5), (second, day, 0, 2), (second, day, 3, 7)],
        )
    finally:
        await conn.close()

    async def one_per_office(*args: object, **kwargs: object) -> object:
        raise AssertionError("the city view asked for one office's statistics")

    monkeypatch.setattr(queries, "stats", one_per_office)
    answer = await client.post(
        "/ui/signin", content=f"office={top.id}&role=leader&clearance=tuyet_mat", headers=FORM
    )
    assert answer.status_code == 303, answer.text
    page = await client.get("/ui/city")
    assert page.status_code == 200, page.text
    for office, received in ((first, 3), (second, 2)):
        row = re.search(rf'<tr data-office="{office}">.*?</tr>', page.text, re.S)
        assert row, f"no row for {office}"
        cells = re.findall(r"<td[^>]*>(\d+)</td>", row.group(0))
        assert cells[0] == str(received), (office, cells)


def test_the_document_page_has_a_form_for_every_action_a_person_posts() -> None:
    """Every action the API takes from people (API.md's list: the non-system commands) has a form and a
    Vietnamese name, and each new form appears only where it can be taken: revise on a draft, grant and
    declassify on a secret document only, replace on an issued one."""
    from api.auth import Principal
    from api.ui import words
    from api.ui.actions import FORMS, forms_for
    from schemas.commands import ACTION_COMMANDS

    people = {c.action for c in ACTION_COMMANDS if not c.system}
    assert people - set(FORMS) == set(), "actions the page cannot post"
    assert set(FORMS) - set(words.ACTIONS) == set()
    leader = Principal("leader@o1", "o1", ("leader",), clearance="mat")
    clerk = Principal("clerk@o1", "o1", ("clerk",))

    def offered(principal: Principal, **doc: object) -> set[str]:
        return {f.action for f in forms_for(principal, {"office_id": "o1", **doc})}

    draft = offered(leader, kind="outgoing", state="draft", secrecy="mat")
    assert {"revise", "grant_access", "declassify"} <= draft
    assert (
        offered(leader, kind="outgoing", state="draft", secrecy="thuong") & {"grant_access", "declassify"}
        == set()
    )
    assert "replace" in offered(clerk, kind="outgoing", state="issued")
    assert "recall" in offered(
        clerk, kind="incoming", state="registered"
    )  # a paper one, recalled by its sender
    assert "recall" not in offered(clerk, kind="incoming", state="registered", source={"office_id": "o2"})


async def test_the_new_forms_post_the_api_bodies(client: httpx.AsyncClient, api_settings: Settings) -> None:
    """Revise, grant access, declassify, sign with its authority, issue with copies and where a copy is
    kept, replace: each form posts the command API.md describes, at the version the page showed."""
    specialist = {"Authorization": f"Bearer {issue_token(api_settings, office=OFFICE, roles=['specialist'])}"}
    created = await client.post(
        "/v1/documents",
        json=create_body("outgoing", OFFICE, secrecy="mat", document_type="TB"),
        headers=specialist,
    )
    assert created.status_code == 201, created.text
    doc_id, version = created.json()["id"], created.json()["version"]
    other = (
        await client.post("/v1/documents", json=create_body("outgoing", OFFICE), headers=specialist)
    ).json()

    async def post(role: str, action: str, fields: str, clearance: str = "mat") -> None:
        nonlocal version
        signed = await client.post(
            "/ui/signin", content=f"office={OFFICE}&role={role}&clearance={clearance}", headers=FORM
        )
        assert signed.status_code == 303
        csrf = _csrf((await client.get("/ui/deadlines")).text)
        answer = await client.post(
            f"/ui/documents/{doc_id}/actions",
            content=f"action={action}&version={version}&csrf={csrf}&{fields}",
            headers=FORM,
        )
        assert answer.status_code == 303, (action, answer.text[-2000:])
        version += 1

    await post(
        "leader",
        "revise",
        "summary=Th%C3%B4ng+b%C3%A1o+m%E1%BB%9Bi&document_type=&urgency=khan&secrecy=&note=",
    )
    await post("leader", "grant_access", "user=chuyenvien%40tu-hcm")
    await post("leader", "declassify", "secrecy=thuong&basis=Quy%E1%BA%BFt+%C4%91%E1%BB%8Bnh+s%E1%BB%91+1")
    await post("specialist", "submit_review", "")
    await post("leader", "review", "approve=yes&comments=")
    await post(
        "leader",
        "sign",
        "signer_name=Nguy%E1%BB%85n+V%C4%83n+A&signer_position=B%C3%AD+th%C6%B0&authority=T%2FM",
    )
    await post("clerk", "issue", "recipients=phuong-sai-gon&copies=3&retained_by=L%C6%B0u+VT", clearance="")
    await post("clerk", "replace", f"replacement_id={other['id']}", clearance="")
    # the history of a once-secret document: for a viewer cleared for its highest level
    cleared = issue_token(api_settings, office=OFFICE, roles=["leader"], clearance="mat")
    events = (
        await client.get(f"/v1/documents/{doc_id}/events", headers={"Authorization": f"Bearer {cleared}"})
    ).json()["items"]
    data = {e["type"]: e["data"] for e in events}
    assert data["DraftRevised"]["summary"] == "Thông báo mới" and data["DraftRevised"]["urgency"] == "khan"
    assert "secrecy" not in data["DraftRevised"] or data["DraftRevised"]["secrecy"] is None
    assert data["AccessGranted"]["user"] == "chuyenvien@tu-hcm"
    assert data["DocumentDeclassified"] == {"secrecy": "thuong", "basis": "Quyết định số 1"}
    assert data["DocumentSigned"]["authority"] == "T/M"
    assert data["DocumentIssued"]["copies"] == 3 and data["DocumentIssued"]["retained_by"] == "Lưu VT"
    assert data["DocumentReplaced"]["replacement_id"] == other["id"]


async def test_the_intake_form_uploads_its_files_then_attaches_them(
    client: httpx.AsyncClient, api_settings: Settings
) -> None:
    """The clerk's intake form sends its files with the fields (multipart); each is stored as `POST
    /v1/files` stores it and attached by its sha256 to the document the form creates, byte for byte,
    with the name the browser gave (Vietnamese included) and the role chosen."""
    import hashlib

    await _signed_in(client, "clerk")
    csrf = _csrf((await client.get("/ui/documents/new")).text)
    pdf = b"%PDF-1.4\r\n" + bytes(range(256)) * 3 + b"\r\n--x\r\n\n\r%%EOF\r\n"
    png = b"\x89PNG\r\n\x1a\n" + bytes(range(255, -1, -1)) * 2
    fields = {
        "csrf": csrf,
        "issuing_body": "Ban Tuyên giáo",
        "number_code": "12-CV/BTG",
        "document_date": "2026-01-05",
        "document_type": "CV",
        "summary": "Về việc tổ chức hội nghị",
        "file_role": "original",
    }
    made = await client.post(
        "/ui/documents/new",
        data=fields,
        files=[
            ("files", ("Công văn 12.pdf", pdf, "application/pdf")),
            ("files", ("trang 2.png", png, "image/png")),
        ],
    )
    assert made.status_code == 303, made.text[-2000:]
    doc_id = made.headers["location"].split("/ui/documents/")[1].split("?")[0]
    clerk = {"Authorization": f"Bearer {issue_token(api_settings, office=OFFICE, roles=['clerk'])}"}
    events = (await client.get(f"/v1/documents/{doc_id}/events", headers=clerk)).json()["items"]
    attached = events[0]["data"]["attachments"]
    assert [(a["name"], a["sha256"], a["role"]) for a in attached] == [
        ("Công văn 12.pdf", hashlib.sha256(pdf).hexdigest(), "original"),
        ("trang 2.png", hashlib.sha256(png).hexdigest(), "original"),
    ]
    for a, data in zip(attached, (pdf, png), strict=True):
        got = await client.get(f"/v1/documents/{doc_id}/files/{a['sha256']}", headers=clerk)
        assert got.status_code == 200 and got.content == data

    # an empty file input (nothing chosen) attaches nothing; a program is refused with the page's message
    csrf = _csrf((await client.get("/ui/documents/new")).text)
    bare = await client.post(
        "/ui/documents/new",
        data={**fields, "csrf": csrf, "number_code": "13-CV/BTG"},
        files=[("files", ("", b"", "application/octet-stream"))],
    )
    assert bare.status_code == 303, bare.text[-2000:]
    csrf = _csrf((await client.get("/ui/documents/new")).text)
    program = await client.post(
        "/ui/documents/new",
        data={**fields, "csrf": csrf, "number_code": "14-CV/BTG"},
        files=[("files", ("run.exe", b"MZ\x90\x00" + bytes(100), "application/octet-stream"))],
    )
    assert program.status_code == 415 and "Hãy chọn lại tệp" in program.text
