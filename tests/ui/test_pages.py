"""The web pages as people use them, in headless Chromium: a clerk takes in and registers a document, a
leader assigns it, the specialist's page and the leader's overview change without a reload, the city
sees how far a district got with what it issued; a user without clearance never sees a secret title;
/docs and every page load nothing from outside, fail no request and pass axe-core (no serious issue)."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from axe_playwright_python.async_playwright import Axe

from deploy.config.offices import Office
from deploy.samples import make_pdf
from tests.e2e.conftest import System, act
from tests.toolkit.waiting import wait_until
from tests.ui.conftest import SCREENSHOTS, Person, keep_screenshot, open_person, sign_in
from tests.unit.lifecycle import create_body

SERIOUS = ("serious", "critical")


async def check_page(person: Person, shot: str | None = None, axe: bool = True) -> None:
    """The page loaded everything from here, failed nothing, logged no error, and axe-core finds no
    serious or critical violation; with `shot`, a 1366×768 screenshot goes to tests/ui/screenshots/ when
    it looks different from the one there."""
    page = person.page
    results = await Axe().run(page) if axe else None
    serious = [v for v in results.response["violations"] if v.get("impact") in SERIOUS] if results else []
    assert not serious, [(v["id"], v["help"], [n["target"] for n in v["nodes"]][:3]) for v in serious]
    assert not person.watch.problems(), person.watch.problems()
    if shot:  # written only when it looks different from the committed one (tests/ui/conftest.py)
        await keep_screenshot(person.context.browser, SCREENSHOTS / f"{shot}.png", await page.screenshot())


async def count(page: Any, selector: str) -> int:
    return int((await page.locator(selector).first.inner_text()).strip())


async def test_docs_render_with_no_request_leaving_the_machine(browser: Any, system: System) -> None:
    person = await open_person(browser, system.base_url)
    await person.page.goto("/docs")
    await person.page.wait_for_selector(".swagger-ui .info .title")
    await person.page.wait_for_selector(".opblock-tag")  # the operations came from /openapi.json
    await check_page(person, "docs", axe=False)  # Swagger UI's own markup: its contrast is not ours
    # the guard is real: a page that names an outside address has it blocked and recorded
    await person.page.set_content('<img src="https://cdn.jsdelivr.net/x.png" alt="">')
    await person.page.wait_for_timeout(0)
    await wait_until(lambda: person.watch.blocked, what="the outside request blocked")
    await person.context.close()


async def test_an_incoming_document_from_intake_to_assignment_live_on_every_page(
    browser: Any, system: System, http: httpx.AsyncClient, offices: tuple[Office, Office]
) -> None:
    top, _ = offices
    unit = top.units[0]
    # markup in a summary is text on every page (Jinja escapes it), never an element
    summary = f"Về việc chuẩn bị hội nghị sơ kết <b>{uuid.uuid4().hex[:6]}</b>"
    clerk, leader, specialist = [await open_person(browser, system.base_url) for _ in range(3)]
    await clerk.page.goto("/ui/signin")
    await check_page(clerk, "dang-nhap")
    await sign_in(clerk, top.id, "clerk")
    await sign_in(leader, top.id, "leader")
    await sign_in(specialist, top.id, "specialist")
    await check_page(leader, "tong-quan")
    waiting_before = await count(leader.page, '[data-count="waiting"]')
    await wait_until(lambda: leader.page.evaluate("document.body.dataset.live === 'connected'"), what="feed")

    # the specialist watches the deadlines page; it will show the assignment without a reload
    await specialist.page.goto("/ui/deadlines")
    await check_page(specialist, "han-xu-ly")
    await wait_until(
        lambda: specialist.page.evaluate("document.body.dataset.live === 'connected'"), what="feed"
    )
    await specialist.page.evaluate("window.__same_page = true")

    # the clerk takes the document in and registers it
    await clerk.page.goto("/ui/documents/new")
    await check_page(clerk, "tiep-nhan")
    await clerk.page.fill("#issuing_body", "Ban Tuyên giáo Trung ương")
    await clerk.page.fill("#number_code", "45-CV/BTGTW")
    await clerk.page.fill("#summary", summary)
    await clerk.page.select_option("#urgency", "khan")
    # the document's file goes with the form: uploaded, then attached (API.md's files flow)
    scan = make_pdf("Cong van 45-CV/BTGTW", "Ve viec chuan bi hoi nghi so ket")
    await clerk.page.set_input_files(
        "#files", files=[{"name": "Công văn 45.pdf", "mimeType": "application/pdf", "buffer": scan}]
    )
    await clerk.page.click("button:has-text('Tiếp nhận')")
    await clerk.page.wait_for_selector("text=Đã tiếp nhận")
    link = await clerk.page.locator("a:has-text('Công văn 45.pdf')").get_attribute("href")
    assert link is not None
    fetched = await clerk.context.request.get(link)  # the clerk's own cookie: the bytes as uploaded
    assert fetched.status == 200 and await fetched.body() == scan
    await clerk.page.click("form[data-action='register'] button")
    await clerk.page.wait_for_selector("[data-field='state']:has-text('Đã đăng ký')")
    await check_page(clerk)

    # the leader's overview counts it as waiting, without a reload
    await wait_until(
        lambda: count(leader.page, '[data-count="waiting"]'),
        what="the overview's waiting count",
        within=30,
    )
    await wait_until(
        lambda: _changed(leader.page, '[data-count="waiting"]', waiting_before), what="waiting count +1"
    )
    await leader.page.click(f"text={summary}")
    await leader.page.wait_for_selector("form[data-action='assign']")
    await leader.page.select_option("#assign-lead_unit", unit.id)
    await leader.page.fill("#assign-directive", "Chủ trì, tham mưu kế hoạch tổ chức.")
    await leader.page.click("form[data-action='assign'] button")
    await leader.page.wait_for_selector("[data-field='state']:has-text('Đã giao xử lý')")
    await check_page(leader, "van-ban")

    # the specialist's page shows it, on the same page (no reload)
    await specialist.page.wait_for_selector(f"text={summary}", timeout=30_000)
    assert await specialist.page.evaluate("window.__same_page === true")
    # the timeline says who did what, in Vietnamese
    timeline = await leader.page.locator(".timeline").inner_text()
    assert "đăng ký văn bản đến" in timeline and "giao xử lý" in timeline
    # the overview's count for the unit moved, live
    await leader.page.goto("/ui")
    before = await count(leader.page, f'td[data-unit="{unit.id}"][data-count="open_within_deadline"] .v')
    await wait_until(lambda: leader.page.evaluate("document.body.dataset.live === 'connected'"), what="feed")
    other = create_body("incoming", top.id, summary=f"Văn bản thứ hai {uuid.uuid4().hex[:6]}")
    leader_api, clerk_api = system.token(top.id, "leader"), system.token(top.id, "clerk")
    doc = (await http.post("/v1/documents", json=other, headers=clerk_api)).json()
    doc = await act(http, clerk_api, doc, "register")
    deadline = {"working_days": 5}
    await act(
        http,
        leader_api,
        doc,
        "assign",
        lead={"unit": unit.id},
        cooperating=[],
        directive="",
        deadline=deadline,
    )
    selector = f'td[data-unit="{unit.id}"][data-count="open_within_deadline"] .v'
    await wait_until(lambda: _changed(leader.page, selector, before), what="the unit's open count +1")
    # the register comes down as a spreadsheet
    async with leader.page.expect_download() as download:
        await leader.page.click("text=Sổ đăng ký văn bản đến")
    assert (await download.value).suggested_filename.endswith(".xlsx")
    for person in (clerk, leader, specialist):
        await person.context.close()


async def test_a_document_page_opens_its_signed_file_and_shows_the_signature_result(
    browser: Any, system: System, http: httpx.AsyncClient, offices: tuple[Office, Office]
) -> None:
    top, _ = offices
    clerk = system.token(top.id, "clerk", clearance="tuyet_mat")
    listed = await http.get(
        f"/v1/offices/{top.id}/documents", params={"kind": "incoming", "limit": 100}, headers=clerk
    )
    with_file = None
    for item in listed.json()["items"]:
        doc = (await http.get(f"/v1/documents/{item['id']}", headers=clerk)).json()
        if any(a.get("signature") for a in doc["attachments"]):
            with_file = doc
            break
    assert with_file is not None, "the demo year has a signed incoming file in the top office"
    person = await open_person(browser, system.base_url)
    await sign_in(person, top.id, "clerk", clearance="tuyet_mat")
    await person.page.goto(f"/ui/documents/{with_file['id']}")
    attachment = with_file["attachments"][0]
    status = attachment["signature"]["status"]
    await person.page.wait_for_selector(f".sig-{status}")
    await check_page(person)
    async with person.page.expect_response(lambda r: attachment["sha256"] in r.url) as opened:
        await person.page.click(f"a[href$='/files/{attachment['sha256']}']")
    answer = await opened.value
    assert answer.status == 200 and answer.headers["content-type"] == "application/pdf"
    # the bytes themselves (the browser shows the PDF in its viewer), with the same user's cookie
    link = await person.page.evaluate("location.pathname")
    fetched = await person.context.request.get(link)
    assert fetched.status == 200 and (await fetched.body())[:5] == b"%PDF-"
    await person.context.close()


async def _changed(page: Any, selector: str, before: int) -> bool:
    return await count(page, selector) == before + 1


async def test_the_city_sees_each_district_register_and_handle_what_it_issued(
    browser: Any, system: System, http: httpx.AsyncClient, offices: tuple[Office, Office]
) -> None:
    top, district = offices
    specialist, leader, clerk = (system.token(top.id, r) for r in ("specialist", "leader", "clerk"))
    body = create_body("outgoing", top.id, document_type="TB", summary="Thông báo lịch tiếp công dân")
    doc = (await http.post("/v1/documents", json=body, headers=specialist)).json()
    doc = await act(http, specialist, doc, "submit_review")
    doc = await act(http, leader, doc, "review", approve=True, comments="")
    doc = await act(http, leader, doc, "sign", signer_name="Nguyễn Văn A", signer_position="Bí thư")
    doc = await act(http, clerk, doc, "issue", recipients=[district.id])

    async def copy() -> str | None:
        got = (await http.get(f"/v1/documents/{doc['id']}", headers=clerk)).json()
        return next((d["document_id"] for d in got.get("deliveries", []) if d["document_id"]), None)

    # the saga may still be delivering the demo year's directives to every committee: room to finish
    copy_id = await wait_until(copy, within=180, what="the district's copy")
    city = await open_person(browser, system.base_url)
    await sign_in(city, top.id, "leader")
    await city.page.goto("/ui/city")
    row = f'tr[data-office="{district.id}"]'

    async def cell(name: str) -> int:
        return int(await city.page.locator(f'{row} [data-count="{name}"]').inner_text())

    # the demo year issued to every committee too: the counts move by one, from wherever they stand
    waiting, handling = await cell("not_registered"), await cell("open")
    assert waiting >= 1
    await check_page(city)
    await wait_until(lambda: city.page.evaluate("document.body.dataset.live === 'connected'"), what="feed")

    # the district's clerk registers its copy in its own browser
    there = await open_person(browser, system.base_url)
    await sign_in(there, district.id, "clerk")
    await there.page.goto(f"/ui/documents/{copy_id}")
    await there.page.click("form[data-action='register'] button")
    await there.page.wait_for_selector("[data-field='state']:has-text('Đã đăng ký')")
    await check_page(there)

    # the city's page shows the new state without a reload
    async def moved() -> bool:
        return await cell("open") == handling + 1 and await cell("not_registered") == waiting - 1

    await wait_until(moved, what="the district's row: one more registered, one fewer waiting")
    await check_page(city, "toan-thanh")
    await city.page.goto(f"/ui/documents/{doc['id']}")
    await city.page.wait_for_selector(f'tr[data-recipient="{district.id}"]:has-text("Đã đăng ký")')
    await check_page(city, "van-ban-di")
    for person in (city, there):
        await person.context.close()


async def test_a_secret_title_appears_on_no_page_for_a_user_without_clearance(
    browser: Any, system: System, http: httpx.AsyncClient, offices: tuple[Office, Office]
) -> None:
    top, _ = offices
    title = f"Tuyệt mật thử nghiệm {uuid.uuid4().hex[:8]}"
    clerk, leader = (
        system.token(top.id, "clerk", user="vt.mat", clearance="mat"),
        system.token(top.id, "leader", user="ld.mat", clearance="mat"),
    )
    body = create_body("incoming", top.id, summary=title, secrecy="mat")
    secret = (await http.post("/v1/documents", json=body, headers=clerk)).json()
    secret = await act(http, clerk, secret, "register")
    unit = top.units[0].id
    deadline = {"working_days": 2}
    await act(
        http, leader, secret, "assign", lead={"unit": unit}, cooperating=[], directive="", deadline=deadline
    )
    pages = [
        "/ui",
        "/ui/deadlines",
        "/ui/deadlines?status=due_soon",
        "/ui/city",
        f"/ui/documents/{secret['id']}",
    ]

    cleared = await open_person(browser, system.base_url)
    await sign_in(cleared, top.id, "leader", clearance="mat")
    await wait_until(
        lambda: _shows(cleared, "/ui/deadlines", title),
        what="the cleared leader sees it (the check can fail)",
    )
    for role in ("leader", "clerk", "specialist"):
        uncleared = await open_person(browser, system.base_url)
        await sign_in(uncleared, top.id, role)
        for path in pages:
            assert not await _shows(uncleared, path, title), (role, path)
        # a change to the secret document reaches the feed: the live refresh shows nothing of it either
        await uncleared.page.goto("/ui/deadlines")
        await act(
            http,
            leader,
            (await http.get(f"/v1/documents/{secret['id']}", headers=leader)).json(),
            "report_progress",
            percent=10,
            note="",
        )
        assert title not in await uncleared.page.content()
        await uncleared.context.close()
    await cleared.context.close()


async def _shows(person: Person, path: str, text: str) -> bool:
    await person.page.goto(path)
    await person.page.wait_for_load_state("load")
    return text in await person.page.content()
